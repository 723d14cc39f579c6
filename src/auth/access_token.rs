//! The access tokens the gateway issues and checks on every API call: RFC 9068 JWTs signed
//! ES256 with the gateway's key, short-lived (300 s by default), carrying the partner and
//! its granted scopes.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{Arc, RwLock},
};

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{
    Clock, scope_string,
    signing::{SignError, SigningKeys},
};

/// Leeway for clocks between the gateway's nodes; tokens are short-lived, so it is small.
const SKEW_SECS: i64 = 5;
const TOKEN_TYPE: &str = "at+jwt";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    /// The partner id.
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub scope: String,
    /// Set on tokens from the customer authorisation flow: the consent the token acts under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_id: Option<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    /// Set on tokens bound to the partner's TLS client certificate (RFC 8705): only a
    /// connection presenting that certificate may use the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// What a token is bound to: a TLS client certificate (RFC 8705 §3.1, `x5t#S256`) and/or a
/// DPoP key (RFC 9449 §6, `jkt`). A bound token is refused without its certificate or proof.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confirmation {
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

impl Confirmation {
    pub fn is_empty(&self) -> bool {
        self.x5t_s256.is_none() && self.jkt.is_none()
    }
}

impl AccessClaims {
    /// What a partner authenticated by its protocol's signature may do without a customer
    /// token: the scopes of its file, no consent. Never signed, never leaves the process.
    pub fn for_partner_file(partner_id: &str, scopes: &std::collections::BTreeSet<String>) -> Self {
        Self {
            iss: String::new(),
            sub: partner_id.to_owned(),
            aud: String::new(),
            client_id: partner_id.to_owned(),
            scope: scopes.iter().map(String::as_str).collect::<Vec<_>>().join(" "),
            consent_id: None,
            iat: 0,
            nbf: 0,
            exp: 0,
            jti: String::new(),
            cnf: None,
        }
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|s| s == scope)
    }
}

/// Why a bearer token was refused. The text goes into the problem's `detail`: it helps the
/// partner's developer without saying anything about the gateway's keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token: send `Authorization: Bearer <access_token>`")]
    Missing,
    #[error("the access token is not a well-formed JWT")]
    Malformed,
    #[error("the access token was not issued by this gateway")]
    UnknownKey,
    #[error("the access token signature is invalid")]
    BadSignature,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYetValid,
    #[error("the access token was issued for another audience")]
    WrongAudience,
    #[error("the access token was issued by another issuer")]
    WrongIssuer,
    /// Revoked before it expired (its authorisation code was replayed).
    #[error("the access token has been revoked")]
    Revoked,
    /// A customer token carried in a partner protocol's request (`auth_token`) that was
    /// issued to another partner.
    #[error("the customer token was issued to another partner")]
    WrongPartner,
    /// Bound to a client certificate (`cnf.x5t#S256`) this connection did not present: a
    /// stolen or replayed token, or a client that lost its certificate.
    #[error("the access token is bound to a TLS client certificate this connection did not present")]
    SenderMismatch,
    /// Bound to a DPoP key (`cnf.jkt`) and sent without a valid proof of it, or a DPoP-scheme
    /// call with a token that is not DPoP-bound.
    #[error("the access token needs a valid DPoP proof of its key: {0}")]
    DpopMismatch(String),
    /// The partner must put the server's nonce in its DPoP proofs (RFC 9449 §9), and this
    /// proof has none, or a stale one: retry with the `DPoP-Nonce` of this answer.
    #[error("the DPoP proof must carry the server's current nonce: retry with the one in the `DPoP-Nonce` header")]
    UseDpopNonce,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub scope: String,
}

/// Issues and verifies access tokens against the live signing keys.
pub struct AccessTokens {
    keys: Arc<ArcSwap<SigningKeys>>,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    clock: Arc<dyn Clock>,
    verified: VerifiedTokens,
}

impl AccessTokens {
    pub fn new(keys: Arc<ArcSwap<SigningKeys>>, issuer: String, ttl_secs: i64, clock: Arc<dyn Clock>) -> Self {
        // The gateway is both the authorisation server and the only resource server.
        let audience = issuer.clone();
        Self { keys, issuer, audience, ttl_secs, clock, verified: VerifiedTokens::default() }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// The gateway's clock, as tokens see it.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A token for `partner_id`, bound to `consent` (id, expiration) when one is given. It
    /// never outlives the consent.
    pub fn issue(
        &self,
        partner_id: &str,
        scopes: &BTreeSet<String>,
        consent: Option<(&str, i64)>,
        bound_to: &Confirmation,
    ) -> Result<IssuedToken, SignError> {
        let now = self.clock.now();
        let exp = consent.map_or(now + self.ttl_secs, |(_, not_after)| (now + self.ttl_secs).min(not_after));
        let keys = self.keys.load();
        let (kid, signing_key) = keys.signer(now);
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        header.typ = Some(TOKEN_TYPE.into());
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: partner_id.to_owned(),
            aud: self.audience.clone(),
            client_id: partner_id.to_owned(),
            scope: scope_string(scopes),
            consent_id: consent.map(|(id, _)| id.to_owned()),
            iat: now,
            nbf: now,
            exp,
            jti: uuid::Uuid::now_v7().to_string(),
            cnf: (!bound_to.is_empty()).then(|| bound_to.clone()),
        };
        let access_token = signing_key.encode(&header, &claims)?;
        Ok(IssuedToken { access_token, expires_in: exp - now, scope: claims.scope })
    }

    /// Checks a bearer token. The signature is checked once per token: a partner's repeated
    /// calls with the same token hit [`VerifiedTokens`], while time, issuer and audience are
    /// checked on every call, and a token whose key is no longer published is refused.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let claims = match self.verified.get(&digest) {
            Some((kid, claims)) if self.keys.load().verifying(&kid).is_some() => claims,
            _ => {
                let (kid, claims) = self.verify_signature(token)?;
                self.verified.insert(digest, kid, claims.clone(), self.clock.now());
                claims
            }
        };
        self.check_claims(&claims)?;
        Ok(AccessClaims::clone(&claims))
    }

    fn verify_signature(&self, token: &str) -> Result<Verified, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::ES256 || header.typ.as_deref() != Some(TOKEN_TYPE) || header.crit.is_some() {
            return Err(TokenError::UnknownKey);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let keys = self.keys.load();
        let key = keys.verifying(&kid).ok_or(TokenError::UnknownKey)?;

        // Time, issuer and audience are checked below against the injected clock, with
        // messages a partner can act on; the library checks the signature and algorithm.
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
                _ => TokenError::Malformed,
            })?
            .claims;
        Ok((kid, Arc::new(claims)))
    }

    fn check_claims(&self, claims: &AccessClaims) -> Result<(), TokenError> {
        let now = self.clock.now();
        if claims.exp <= now - SKEW_SECS {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now + SKEW_SECS {
            return Err(TokenError::NotYetValid);
        }
        if claims.iss != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != self.audience {
            return Err(TokenError::WrongAudience);
        }
        Ok(())
    }
}

/// Tokens whose signature has been checked, by the SHA-256 of their whole text (so an
/// altered token never matches). Bounded: expired entries are swept when it fills, and it is
/// emptied if they are all still live.
#[derive(Default)]
struct VerifiedTokens {
    entries: RwLock<HashMap<[u8; 32], Verified>>,
}

/// The key id that signed a token, and its claims.
type Verified = (String, Arc<AccessClaims>);

const VERIFIED_CAPACITY: usize = 20_000;

impl VerifiedTokens {
    fn get(&self, digest: &[u8; 32]) -> Option<Verified> {
        self.entries.read().ok()?.get(digest).cloned()
    }

    fn insert(&self, digest: [u8; 32], kid: String, claims: Arc<AccessClaims>, now: i64) {
        let Ok(mut entries) = self.entries.write() else { return };
        if entries.len() >= VERIFIED_CAPACITY {
            entries.retain(|_, (_, c)| c.exp > now - SKEW_SECS);
            if entries.len() >= VERIFIED_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(digest, (kid, claims));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{ManualClock, signing};

    fn setup(dir: &std::path::Path) -> (AccessTokens, Arc<ManualClock>, Arc<ArcSwap<SigningKeys>>) {
        let clock = Arc::new(ManualClock::at(1_800_000_000));
        let keys =
            Arc::new(ArcSwap::from_pointee(SigningKeys::load_or_create(&dir.join("k.json"), clock.now()).unwrap()));
        let tokens = AccessTokens::new(keys.clone(), "https://gw.example".into(), 300, clock.clone());
        (tokens, clock, keys)
    }

    #[test]
    fn a_cached_token_is_still_checked_for_time() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, clock, _) = setup(dir.path());
        let t = tokens
            .issue("ptn_a", &BTreeSet::from(["products:read".to_owned()]), None, &Confirmation::default())
            .unwrap();
        assert_eq!(tokens.verify(&t.access_token).unwrap().sub, "ptn_a");
        assert_eq!(tokens.verify(&t.access_token).unwrap().sub, "ptn_a", "second call from the cache");
        clock.advance(300 + SKEW_SECS);
        assert_eq!(tokens.verify(&t.access_token), Err(TokenError::Expired));
    }

    #[test]
    fn a_cached_token_dies_with_its_key_and_tampering_never_hits_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let (tokens, clock, keys) = setup(dir.path());
        let t = tokens
            .issue("ptn_a", &BTreeSet::from(["products:read".to_owned()]), None, &Confirmation::default())
            .unwrap();
        tokens.verify(&t.access_token).unwrap();

        let mut tampered = t.access_token.clone();
        tampered.pop();
        assert!(tokens.verify(&tampered).is_err());

        // Emergency rotation: the old key is dropped from the published set at once.
        signing::rotate(&dir.path().join("k.json"), clock.now(), 0, 0).unwrap();
        clock.advance(1);
        keys.store(Arc::new(SigningKeys::load_or_create(&dir.path().join("k.json"), clock.now()).unwrap()));
        assert_eq!(tokens.verify(&t.access_token), Err(TokenError::UnknownKey));
    }
}
