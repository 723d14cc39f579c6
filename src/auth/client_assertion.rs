//! `private_key_jwt` client authentication (RFC 7523 §3, OpenID Connect Core §9).
//!
//! The partner signs a short JWT with its registered private key; the gateway checks it
//! against the public key with the same `kid` in the partner's file. Only ES256 and PS256
//! are accepted (FAPI 2.0): `none`, HMAC (which would let a public key act as a secret) and
//! RS256 (PKCS#1 v1.5) are refused before any key is touched.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

use super::{Clock, OAuthError};
use crate::{
    config::{Partner, PartnerSet},
    store::ReplayStore,
};

/// An assertion may live at most this long (`exp` − now), so a leaked one is useless soon.
pub const MAX_ASSERTION_LIFETIME_SECS: i64 = 300;
/// `iat` and `nbf` may be this far in the future, for partners' clock drift.
pub const FUTURE_SKEW_SECS: i64 = 10;
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    sub: Option<String>,
    #[serde(default)]
    aud: Audience,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Audience {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains_any(&self, accepted: &[&str]) -> bool {
        match self {
            Self::None => false,
            Self::One(a) => accepted.contains(&a.as_str()),
            Self::Many(v) => v.iter().any(|a| accepted.contains(&a.as_str())),
        }
    }
}

pub struct AssertionVerifier {
    pub token_endpoint: String,
    pub issuer: String,
    pub replay: Arc<dyn ReplayStore>,
    pub clock: Arc<dyn Clock>,
}

fn invalid(reason: &str) -> OAuthError {
    OAuthError::InvalidClient(reason.to_owned())
}

impl AssertionVerifier {
    /// Authenticates the client, returning its partner record. `client_id`, when the form
    /// carries one, must name the same client as the assertion.
    pub async fn verify(
        &self,
        partners: &PartnerSet,
        assertion: &str,
        client_id: Option<&str>,
    ) -> Result<Arc<Partner>, OAuthError> {
        let header = jsonwebtoken::decode_header(assertion)
            .map_err(|_| invalid("client_assertion is not a JWS signed with ES256 or PS256"))?;
        if !matches!(header.alg, Algorithm::ES256 | Algorithm::PS256) {
            return Err(invalid("client_assertion must be signed with ES256 or PS256"));
        }
        if header.crit.is_some() {
            return Err(invalid("client_assertion uses critical header parameters this server does not understand"));
        }
        let kid =
            header.kid.ok_or_else(|| invalid("client_assertion header must carry the `kid` of a registered key"))?;

        // Only to find whose key to use: nothing from here is trusted until verified below.
        let unverified: AssertionClaims = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
            .map_err(|_| invalid("client_assertion claims are malformed"))?;
        let claimed = unverified.iss.as_deref().ok_or_else(|| invalid("client_assertion must carry `iss`"))?;
        if client_id.is_some_and(|c| c != claimed) {
            return Err(invalid("client_id does not match the assertion's issuer"));
        }
        let partner = partners.get(claimed).ok_or_else(|| invalid("unknown client"))?.clone();
        let key = partner.key(&kid).ok_or_else(|| invalid("no key with this `kid` is registered for the client"))?;
        if key.algorithm != header.alg {
            return Err(invalid("the assertion's `alg` does not match the registered key"));
        }

        let mut validation = Validation::new(key.algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key.key, &validation)
            .map_err(|_| invalid("client_assertion signature is invalid"))?
            .claims;
        self.check_claims(&claims, &partner.id)?;

        let jti = claims.jti.as_deref().unwrap_or_default();
        let exp = claims.exp.unwrap_or_default();
        let now = self.clock.now();
        let first = self
            .replay
            .first_use(&format!("assertion:{}:{jti}", partner.id), exp + FUTURE_SKEW_SECS, now)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "single-use check of a client assertion failed; refusing it");
                OAuthError::Unavailable(
                    "the gateway cannot check the assertion's `jti` right now; retry with a new assertion after \
                     `Retry-After`"
                        .into(),
                )
            })?;
        if !first {
            return Err(invalid("client_assertion `jti` was already used"));
        }
        if !partner.is_active() {
            return Err(OAuthError::PartnerSuspended);
        }
        Ok(partner)
    }

    fn check_claims(&self, c: &AssertionClaims, client_id: &str) -> Result<(), OAuthError> {
        let now = self.clock.now();
        if c.iss.as_deref() != Some(client_id) || c.sub.as_deref() != Some(client_id) {
            return Err(invalid("`iss` and `sub` must both be the client_id"));
        }
        if !c.aud.contains_any(&[&self.token_endpoint, &self.issuer]) {
            return Err(invalid("`aud` must be the token endpoint or the issuer"));
        }
        let exp = c.exp.ok_or_else(|| invalid("client_assertion must carry `exp`"))?;
        if exp <= now {
            return Err(invalid("client_assertion has expired"));
        }
        if exp > now + MAX_ASSERTION_LIFETIME_SECS + FUTURE_SKEW_SECS {
            return Err(invalid("client_assertion `exp` is more than 5 minutes ahead"));
        }
        if c.iat.is_some_and(|t| t > now + FUTURE_SKEW_SECS) || c.nbf.is_some_and(|t| t > now + FUTURE_SKEW_SECS) {
            return Err(invalid("client_assertion is not valid yet (`iat`/`nbf` in the future)"));
        }
        match c.jti.as_deref() {
            Some(j) if !j.is_empty() && j.len() <= 256 => Ok(()),
            _ => Err(invalid("client_assertion must carry a `jti` of 1 to 256 characters")),
        }
    }
}
