//! The access tokens the gateway issues and checks on every API call: RFC 9068 JWTs signed
//! ES256 with the gateway's key, short-lived (300 s by default), carrying the partner and
//! its granted scopes.

use std::{collections::BTreeSet, sync::Arc};

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{Clock, scope_string, signing::SigningKeys};

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
}

impl AccessClaims {
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
}

impl AccessTokens {
    pub fn new(keys: Arc<ArcSwap<SigningKeys>>, issuer: String, ttl_secs: i64, clock: Arc<dyn Clock>) -> Self {
        // The gateway is both the authorisation server and the only resource server.
        let audience = issuer.clone();
        Self { keys, issuer, audience, ttl_secs, clock }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A token for `partner_id`, bound to `consent` (id, expiration) when one is given. It
    /// never outlives the consent.
    pub fn issue(
        &self,
        partner_id: &str,
        scopes: &BTreeSet<String>,
        consent: Option<(&str, i64)>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = self.clock.now();
        let exp = consent.map_or(now + self.ttl_secs, |(_, not_after)| (now + self.ttl_secs).min(not_after));
        let keys = self.keys.load();
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(keys.active_kid.clone());
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
        };
        let access_token = jsonwebtoken::encode(&header, &claims, &keys.active)?;
        Ok(IssuedToken { access_token, expires_in: exp - now, scope: claims.scope })
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
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
        Ok(claims)
    }
}
