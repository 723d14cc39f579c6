//! What an adapter can carry, as data: the gateway checks partner files against it at load
//! time, serves it at `GET /v1/adapters`, and the docs' capability matrix is generated from
//! it. Nothing here is looked up by name on the request path.

use serde::Serialize;

use crate::Operation;

/// A signature (or MAC) suite a partner protocol signs its requests with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
pub enum SignatureSuite {
    /// SHA256withRSA, RSASSA-PKCS1-v1_5 (what open platforms call `RSA2`); keys ≥ 2048 bits.
    #[serde(rename = "RSA2")]
    Rsa2,
    /// SM3withSM2 (GB/T 32918, GB/T 32905), signature DER-encoded, distinguishing id
    /// `1234567812345678` unless the protocol says otherwise.
    #[serde(rename = "SM2")]
    Sm2,
    /// ECDSA P-256 with SHA-256 in a JWS (RFC 7515): the native API's detached signatures.
    #[serde(rename = "ES256")]
    Es256,
    /// RSASSA-PSS with SHA-256 in a JWS: the native API's detached signatures.
    #[serde(rename = "PS256")]
    Ps256,
    /// MD5 over the signing string with `&key=<shared key>` appended, upper-case hex: legacy
    /// forms only, never for account or money data.
    #[serde(rename = "MD5")]
    Md5,
    /// HMAC-SHA256 keyed with the shared key, upper-case hex (legacy forms).
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
    /// HMAC-SM3 keyed with the shared key, upper-case hex (legacy forms, SM suite).
    #[serde(rename = "HMAC-SM3")]
    HmacSm3,
}

impl SignatureSuite {
    pub const ALL: &'static [SignatureSuite] =
        &[Self::Rsa2, Self::Sm2, Self::Es256, Self::Ps256, Self::Md5, Self::HmacSha256, Self::HmacSm3];

    /// The name partner files and protocols use (`sign_type`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Rsa2 => "RSA2",
            Self::Sm2 => "SM2",
            Self::Es256 => "ES256",
            Self::Ps256 => "PS256",
            Self::Md5 => "MD5",
            Self::HmacSha256 => "HMAC-SHA256",
            Self::HmacSm3 => "HMAC-SM3",
        }
    }

    /// Whether the suite is a MAC with a key both sides hold, rather than a signature with
    /// the partner's private key: it proves nothing to a third party, so JR/T 0185 does not
    /// accept it for account and money data (A2).
    pub const fn is_shared_secret(self) -> bool {
        matches!(self, Self::Md5 | Self::HmacSha256 | Self::HmacSm3)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }
}

/// How the partner proves who it is on each call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Authentication {
    /// An OAuth access token of this gateway (`Authorization: Bearer`/`DPoP`); the gateway
    /// checks it before the adapter sees the call.
    BearerToken,
    /// The adapter checks the request's own signature with the partner's registered keys
    /// ([`crate::PartnerAdapter::authenticate`]); the token endpoint is not involved.
    SignedRequest {
        #[schema(value_type = Vec<SignatureSuite>)]
        suites: &'static [SignatureSuite],
    },
}

/// Where the partner sends its calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// The standard API's own paths (`/v1/...`): the path names the operation.
    StandardPaths,
    /// One URL per partner, `POST /gw/{partner_id}`: the adapter reads the operation from
    /// the request (a `method` parameter, a message type).
    SingleUrl,
    /// The protocol's own paths under `/gw/{partner_id}/…` (any method): the adapter reads
    /// the operation from the method and path.
    PathStyle,
}

/// How the partner hears about events (payments settled, refunds done).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notifications {
    /// Standard Webhooks JSON with an HMAC signature, acknowledged by any 2xx; and
    /// `GET /v1/events` to poll.
    StandardWebhooks,
    /// The protocol has no notification of its own yet: the partner asks (payment query).
    QueryOnly,
    /// A form post signed like the protocol's answers, acknowledged by the plain body
    /// `success` (anything else is retried).
    SignedFormSuccess,
    /// JSON whose resource is encrypted (AES-256-GCM or SM4-GCM) under the partner's API key,
    /// signed in headers, acknowledged by HTTP 200 or 204.
    EncryptedJson,
}

/// Everything an adapter kind can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Capabilities {
    #[schema(value_type = Vec<String>)]
    pub operations: &'static [Operation],
    pub authentication: Authentication,
    pub entry: Entry,
    pub notifications: Notifications,
    /// The highest security level of data the protocol may carry: a shared-secret MAC
    /// protocol stays at A1 (public product data).
    #[schema(value_type = String, example = "A2")]
    pub highest_level: crate::SecurityLevel,
}

impl Capabilities {
    pub fn carries(&self, op: Operation) -> bool {
        self.operations.contains(&op)
    }

    /// Whether some operation this adapter carries needs `scope`: a partner file granting
    /// a scope its adapter can never use is a mistake worth reporting.
    pub fn uses_scope(&self, scope: &str) -> bool {
        self.operations.iter().any(|op| op.required_scope() == scope)
    }

    /// The suites a partner of this adapter may register keys for.
    pub fn signature_suites(&self) -> &'static [SignatureSuite] {
        match self.authentication {
            Authentication::BearerToken => &[],
            Authentication::SignedRequest { suites } => suites,
        }
    }
}
