//! Every partner API call, in order. Each phase hands the call on or ends it with a problem;
//! nothing else decides what runs when.
//!
//! ```text
//! authenticate (bearer token, or the partner protocol's own signature) → admit → authorise → limit
//!   → verify signature → idempotency          (money-moving calls only)
//!   → consent → adapt in → route → respond (adapt out)
//!   → sign response → remember the answer     (money-moving calls only)
//! ```
//!
//! Partners of the standard API call its paths (`/v1/...`), which name the operation, with an
//! access token. Partners whose adapter speaks another protocol call `POST /gw/{partner_id}`
//! (or its own paths below it): their adapter reads the operation from the request and checks
//! its signature (or, for a protocol without one, the gateway checks the access token as on
//! the standard API), and answers refusals in the protocol's own envelope. From `admit` on,
//! both take the same path.
//!
//! Cross-cutting work (request ids, traces, metrics, body and time limits, panics) is done
//! by the tower layers in `app.rs` around this, not here.

use axum::{
    extract::{FromRequest, FromRequestParts, RawPathParams, Request},
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use scenegate_adapter_contract::{
    Authenticated, Authentication, CanonicalRequest, CanonicalResponse, ConsentId, Entry, ErrorView, IdempotencyRef,
    Operation, RawRequest, RawResponse,
    canonical::{BulkStage, ConsentStatus, EventQuery, EventView, Page, PaymentView, Statement},
};
use std::sync::Arc;

use crate::{
    accounts::window::Window,
    app::AppState,
    auth::{
        access_token::{AccessClaims, TokenError},
        dpop,
        jws::{self, JwsError, VerifiedSignature},
    },
    config::Partner,
    consent::{Consent, ConsentError},
    error::ApiError,
    events::EventStoreError,
    extract::BoundedBody,
    idempotency::{self, Begin, Claim, IdempotencyKey, StoredResponse},
    limit::Decision,
    payments::{PaymentError, Refused, RenderAnswer},
};

/// The partner's request, captured whole for the adapter: method, path, path parameters,
/// query, headers (without credentials) and body.
pub struct PartnerCall {
    raw: RawRequest,
    /// The access token, and whether it came with the `DPoP` scheme (else `Bearer`).
    bearer: Option<String>,
    dpop_scheme: bool,
    /// The `DPoP` proof header, if any.
    dpop: Option<String>,
    /// `x5t#S256` of the TLS client certificate the connection presented, if any.
    client_cert: Option<String>,
}

/// The partner a response belongs to, for metrics and logs (set once authenticated).
#[derive(Clone, Debug)]
pub struct PartnerTag(pub String);

impl<S: Send + Sync> FromRequest<S> for PartnerCall {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let params = RawPathParams::from_request_parts(&mut parts, state).await.map_err(IntoResponse::into_response)?;
        let path_params = params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        let (bearer, dpop_scheme) = match access_token(&parts.headers) {
            Some((token, dpop)) => (Some(token), dpop),
            None => (None, false),
        };
        let dpop = parts.headers.get("dpop").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let client_cert =
            parts.extensions.get::<scenegate_listener::tls::ClientCertificate>().map(|c| c.thumbprint().to_owned());
        // Access tokens and cookies never reach an adapter; a protocol's own `Authorization`
        // (a signature over the request, no secret) does.
        let headers = parts
            .headers
            .iter()
            .filter(|(name, value)| {
                *name != header::COOKIE && !(*name == header::AUTHORIZATION && carries_access_token(value))
            })
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let method = parts.method.as_str().to_owned();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().map(str::to_owned);
        // Too large is a 413 here, too slow a 408.
        let BoundedBody(body) = BoundedBody::from_request(Request::from_parts(parts, body), state).await?;
        Ok(Self {
            raw: RawRequest { method, path, path_params, query, headers, body, received_at: 0 },
            bearer,
            dpop_scheme,
            dpop,
            client_cert,
        })
    }
}

/// `Authorization: Bearer …` or `DPoP …` (any case), or anything unreadable.
fn carries_access_token(value: &HeaderValue) -> bool {
    let Ok(text) = value.to_str() else { return true };
    let scheme = text.split(' ').next().unwrap_or_default();
    scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("dpop")
}

/// The token of `Authorization: Bearer …` or `Authorization: DPoP …` (true for the latter).
fn access_token(headers: &HeaderMap) -> Option<(String, bool)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let dpop = scheme.eq_ignore_ascii_case("dpop");
    (dpop || scheme.eq_ignore_ascii_case("bearer")).then(|| (token.trim().to_owned(), dpop))
}

/// How a call reached the gateway.
#[derive(Clone, Copy, Debug)]
enum Via {
    /// A path of the standard API, which names the operation.
    Standard(Operation),
    /// `POST /gw/{partner_id}`: the partner's adapter reads the operation from the request.
    Adapted,
}

/// Who is calling and for what, once authenticated.
struct Caller {
    op: Operation,
    claims: AccessClaims,
    /// The partner, when the entry named it (adapted calls).
    partner: Option<Arc<Partner>>,
    /// What the partner's adapter verified (adapted calls).
    protocol: Option<Authenticated>,
}

/// A call of the standard API: its path named `op`.
pub async fn run(gw: &AppState, op: Operation, call: PartnerCall) -> Response {
    serve(gw, Via::Standard(op), call).await
}

/// A call of an adapted partner at `POST /gw/{partner_id}`.
pub async fn run_adapted(gw: &AppState, call: PartnerCall) -> Response {
    serve(gw, Via::Adapted, call).await
}

/// Runs one call through every phase and tags the response with the partner. A DPoP call
/// gets the server's current nonce with its answer, whatever the answer (RFC 9449 §8.2).
async fn serve(gw: &AppState, via: Via, mut call: PartnerCall) -> Response {
    call.raw.received_at = gw.tokens.now();
    let mut seen = Seen::default();
    let dpop_call = call.dpop.is_some();
    let answered = phases(gw, via, &call, &mut seen).await;
    let mut res = match answered {
        Ok(res) => res,
        Err(e) => match &seen.adapted {
            Some(partner) => refuse_in_protocol(partner, seen.op, &call.raw, e),
            None => e.into_response(),
        },
    };
    if let Some(partner) = seen.tag {
        res.extensions_mut().insert(PartnerTag(partner));
    }
    if dpop_call {
        dpop::offer_nonce(res.headers_mut(), &gw.dpop_nonces, gw.assertions.clock.now());
    }
    res
}

/// What the phases learnt before an answer: for tagging the response and for rendering a
/// refusal in the partner's own protocol.
#[derive(Default)]
struct Seen {
    tag: Option<String>,
    op: Option<Operation>,
    adapted: Option<Arc<Partner>>,
}

async fn phases(gw: &AppState, via: Via, call: &PartnerCall, seen: &mut Seen) -> Result<Response, ApiError> {
    let caller = match via {
        Via::Standard(op) => {
            seen.op = Some(op);
            let claims = authenticate(gw, call).await?;
            Caller { op, claims, partner: None, protocol: None }
        }
        Via::Adapted => authenticate_adapted(gw, call, seen).await?,
    };
    let op = caller.op;
    let adapted = caller.partner.is_some();
    seen.tag = Some(caller.claims.sub.clone());
    let partner = match caller.partner {
        Some(partner) if partner.is_active() => partner,
        Some(_) => return Err(ApiError::PartnerSuspended),
        None => admit(gw, &caller.claims)?,
    };
    authorise(&partner, &caller.claims, op)?;
    // The quota first: nothing below (storage, core) runs for a partner over its quota.
    let quota = limit(gw, &partner).await?;
    let signature = match &caller.protocol {
        // The protocol's own signature covered the request.
        Some(_) => None,
        None => verify_signature(gw, &partner, op, &call.raw)?,
    };
    // A retry of an answered request gets its first answer, whatever happened since (its
    // single-payment consent is consumed by then): asked first, or for a payment, whose key
    // is written with it, when its request is refused (`after_refusal`).
    let order = order_reference(&partner, op, &call.raw, caller.protocol.as_ref(), adapted)?;
    let replay_checked = signature.is_some() || caller.protocol.is_some();
    let (claim, marked) = match idempotency(gw, &partner, op, &call.raw, order.as_ref(), replay_checked).await? {
        Idempotency::NotNeeded => (None, false),
        Idempotency::Replay(stored) => return Ok(with_quota(replay(stored), quota)),
        Idempotency::Claimed(claim) => (Some(claim), false),
        Idempotency::Deferred { claim, marked } => (Some(claim), marked),
    };
    let checked = async {
        let consent = consent_gate(gw, &caller.claims, op).await?;
        if let Some(sig) = &signature {
            first_use_of_signature(gw, sig).await?;
        }
        if let Some(verified) = &caller.protocol {
            first_use_of_request(gw, verified).await?;
        }
        Ok(consent)
    }
    .await;
    // An adapted protocol signs its own responses.
    let answer = Answer { partner: &partner, op, raw: &call.raw, signs: op.moves_money() && caller.protocol.is_none() };
    let (consent, answered) = match checked {
        Ok(consent) => {
            let answered = answer.run(gw, consent.as_ref(), claim.as_ref()).await;
            (consent, answered)
        }
        Err(e) => (None, Err(e)),
    };
    let res = match &claim {
        Some(claim) => match answered {
            // A deferred key refused with its request (or taken by another): what the key's
            // record holds decides, as if the key had been claimed first.
            Err(refusal) if claim.deferred.is_some() && (400..500).contains(&refusal.problem().status) => {
                after_refusal(gw, claim, refusal, &answer, consent.as_ref()).await
            }
            answered => remember(gw, claim, answered).await,
        },
        None => answered,
    };
    if let (Err(_), Some(claim), true) = (&res, &claim, marked) {
        // Whatever this request wrote under its key now speaks for it: copies may ask.
        if let Err(e) = gw.assertions.replay.forget(&in_flight_marker(claim)).await {
            tracing::warn!(error = %e, "in-flight marker not dropped; it expires with the key's lease");
        }
    }
    Ok(with_quota(res?, quota))
}

/// A request past its checks: decoded, routed, answered and, if it moves money and no
/// protocol of its own signs it, signed.
struct Answer<'a> {
    partner: &'a Partner,
    op: Operation,
    raw: &'a RawRequest,
    signs: bool,
}

impl Answer<'_> {
    async fn run(&self, gw: &AppState, consent: Option<&Consent>, claim: Option<&Claim>) -> Result<Response, ApiError> {
        let request = adapt_in(self.partner, self.op, self.raw)?;
        // A payment's answer is rendered (respond, sign) from the payment its settlement will
        // leave, and remembered with that settlement: one write fewer per payment.
        let render = |view: &PaymentView| self.render_payment(gw, view);
        let outcome = match route(gw, self.partner, consent, request, claim, &render).await? {
            Routed::Outcome(outcome) => outcome,
            Routed::Remembered(stored) => return Ok(remembered(stored)),
        };
        let res = respond(self.partner, self.op, self.raw, outcome)?;
        if self.signs { sign_response(gw, res).await } else { Ok(res) }
    }

    /// The answer to this request for a new payment, as `respond` and `sign_response` would
    /// make it; `None` (and it is made after) if it cannot be made here.
    fn render_payment(&self, gw: &AppState, view: &PaymentView) -> Option<StoredResponse> {
        let outcome = CanonicalResponse::Payment { payment: Box::new(view.clone()), created: true };
        let rendered =
            self.partner.adapter.encode(self.op, self.raw, outcome).map_err(ApiError::from).and_then(|out| {
                let (status, mut headers, body) = raw_parts(out)?;
                if self.signs {
                    sign_into(gw, &mut headers, &body)?;
                }
                Ok(StoredResponse { status: status.as_u16(), headers: stored_headers(&headers), body: body.to_vec() })
            });
        rendered.inspect_err(|e| tracing::warn!(error = %e, "payment answer not rendered with its settlement")).ok()
    }
}

/// What `route` produced: an outcome to answer with, or the answer to a payment's request,
/// already rendered and remembered with the payment's settlement.
enum Routed {
    Outcome(CanonicalResponse),
    Remembered(StoredResponse),
}

/// Marks a response whose answer is already stored under its idempotency key.
#[derive(Clone, Copy)]
struct AlreadyRemembered;

fn remembered(stored: StoredResponse) -> Response {
    let mut res = stored_response(stored);
    res.extensions_mut().insert(AlreadyRemembered);
    res
}

fn with_quota(mut res: Response, quota: Decision) -> Response {
    write_quota(res.headers_mut(), quota);
    res
}

/// A request with a deferred key was refused: by its own checks (a retry of an answered
/// request meets its consumed consent or its used signature first), or because another
/// request had the key when its payment was to be recorded. The key's record decides: an
/// answered key replays, one in flight or used for another request is refused for that. A
/// key found free stands in the way of nothing: the request's own refusal stands, and one
/// refused only for the key (it passed every check) claims it now and goes on. A key whose
/// holder died after writing its payment is taken over when the refusal is one that payment
/// explains (`explained_by_a_recorded_payment`), and answered with that payment.
async fn after_refusal(
    gw: &AppState,
    deferred: &Claim,
    refusal: ApiError,
    answer: &Answer<'_>,
    consent: Option<&Consent>,
) -> Result<Response, ApiError> {
    let (partner_id, key, now) = (&deferred.partner_id, &deferred.key, gw.tokens.now());
    let fingerprint = deferred.deferred.as_ref().map(|d| d.fingerprint.as_str()).unwrap_or_default();
    // Read, not claimed: a request refused for its own reasons leaves the key as it found it.
    if let Some(said) = gw.idempotency.peek(partner_id, key, fingerprint, now).await? {
        return match held_or_replay(said)? {
            Idempotency::Replay(stored) => Ok(replay(stored)),
            // `peek` claims nothing: it says replay, or a refusal `held_or_replay` returned.
            _ => Err(refusal),
        };
    }
    let key_taken = matches!(refusal, ApiError::Payment(PaymentError::KeyTaken));
    if !key_taken && !explained_by_a_recorded_payment(&refusal) {
        return Err(refusal);
    }
    // No live record: free, or its holder died. Claimed, a key taken when this request's
    // payment was to be written goes on, and one a crashed request wrote a payment under is
    // resumed (the refusal came of that payment); a free key's refusal stands.
    match held_or_replay(gw.idempotency.begin(partner_id, key, fingerprint, now).await?)? {
        Idempotency::Claimed(held) if key_taken || held.resume.is_some() => {
            remember(gw, &held, answer.run(gw, consent, Some(&held)).await).await
        }
        Idempotency::Claimed(held) => remember(gw, &held, Err(refusal)).await,
        Idempotency::Replay(stored) => Ok(replay(stored)),
        _ => Err(refusal),
    }
}

/// Refusals a payment recorded under the request's own key causes its retries to meet: its
/// consent consumed (or, since, expired or revoked) and its signature used. A retry taking
/// over from a crashed request meets them and is answered with that payment instead.
fn explained_by_a_recorded_payment(refusal: &ApiError) -> bool {
    matches!(
        refusal,
        ApiError::ConsentInactive(_)
            | ApiError::SignatureReplayed
            | ApiError::Payment(PaymentError::Refused(Refused::ConsentState(_)))
    )
}

/// `POST /gw/{partner_id}`: the partner named in the path, if its adapter takes calls there;
/// then the adapter checks the request's signature with the partner's registered keys and
/// names the operation. A token-authenticated adapter at its own paths (`iso20022`) takes the
/// partner's access token instead, which must be this partner's, and names the operation
/// from the method and path. A customer token the protocol carries (`auth_token`) is checked
/// like a bearer token and must be this partner's.
async fn authenticate_adapted(gw: &AppState, call: &PartnerCall, seen: &mut Seen) -> Result<Caller, ApiError> {
    let id = call.raw.path_param("partner_id").unwrap_or_default();
    if !crate::config::is_partner_id(id) {
        return Err(ApiError::InvalidField {
            field: "partner_id".into(),
            reason: "is not a partner id: `ptn_` followed by 1 to 48 of a-z, 0-9, `_`, `-`".into(),
        });
    }
    // `/gw/{partner_id}` for single-URL protocols, `/gw/{partner_id}/…` for path-style ones.
    let entry = if call.raw.path_param("rest").is_some() { Entry::PathStyle } else { Entry::SingleUrl };
    // An unknown partner and a standard-API partner look alike: no oracle of who exists.
    let partner = gw
        .partners
        .load()
        .get(id)
        .filter(|p| p.capabilities.entry == entry)
        .cloned()
        .ok_or(ApiError::NotFound("partner endpoint"))?;
    seen.adapted = Some(partner.clone());
    if partner.capabilities.authentication == Authentication::BearerToken {
        // A token-authenticated protocol at its own paths: the access token as on the
        // standard API (sender constraints included), then the method and path name the call.
        let claims = authenticate(gw, call).await?;
        if claims.sub != partner.id {
            return Err(TokenError::WrongPartner.into());
        }
        let op = partner.adapter.operation(&call.raw)?;
        seen.op = Some(op);
        return Ok(Caller { op, claims, partner: Some(partner), protocol: None });
    }
    let verified = partner.adapter.authenticate(&call.raw, gw.tokens.now())?;
    seen.op = Some(verified.operation);
    let claims = match verified.customer_token.as_deref() {
        Some(token) => {
            let claims = gw.tokens.verify(token)?;
            if claims.sub != partner.id {
                return Err(TokenError::WrongPartner.into());
            }
            // A sender-constrained token proves its sender by a certificate or DPoP proof
            // this protocol cannot carry.
            if claims.cnf.is_some() {
                return Err(TokenError::SenderMismatch.into());
            }
            claims
        }
        None => AccessClaims::for_partner_file(&partner.id, &partner.scopes),
    };
    Ok(Caller { op: verified.operation, claims, partner: Some(partner), protocol: Some(verified) })
}

/// A refusal to an adapted partner, in its protocol's envelope when the adapter has one.
fn refuse_in_protocol(partner: &Partner, op: Option<Operation>, raw: &RawRequest, error: ApiError) -> Response {
    let problem = error.problem();
    let slug = problem.slug().to_owned();
    let view = ErrorView {
        status: problem.status,
        code: &slug,
        title: &problem.title,
        detail: &problem.detail,
        request_id: raw.header("x-request-id").unwrap_or_default(),
        retry_after: problem.retry_after,
    };
    match partner.adapter.encode_error(op, raw, &view) {
        Some(out) => {
            error.log(problem.status);
            // Envelope protocols answer refusals with a 200: this is where operators see them.
            metrics::counter!(
                "scenegate_adapted_refusals_total",
                "partner" => partner.id.clone(),
                "adapter" => partner.adapter_name.clone(),
                "problem" => slug.clone()
            )
            .increment(1);
            let mut res = raw_response(out).unwrap_or_else(|e| e.into_response());
            res.extensions_mut().insert(crate::problem::ProblemSlug(slug));
            res.extensions_mut().insert(crate::problem::ProtocolAnswer);
            res
        }
        None => error.into_response(),
    }
}

/// A bearer access token this gateway issued: signature, algorithm, `exp`, `nbf`, `iss`, `aud`.
/// A valid token, and for a sender-constrained one the proof of its sender: the connection
/// presenting the very certificate it is bound to (RFC 8705 `cnf.x5t#S256`), a fresh DPoP
/// proof of its key for this request (RFC 9449 `cnf.jkt`). A bound token copied elsewhere
/// is worthless.
async fn authenticate(gw: &AppState, call: &PartnerCall) -> Result<AccessClaims, ApiError> {
    use subtle::ConstantTimeEq as _;
    let token = call.bearer.as_deref().ok_or(TokenError::Missing)?;
    let claims = gw.tokens.verify(token)?;
    let cnf = claims.cnf.clone().unwrap_or_default();
    if let Some(bound) = &cnf.x5t_s256 {
        let presented = call.client_cert.as_deref().unwrap_or_default().as_bytes();
        if !bool::from(bound.as_bytes().ct_eq(presented)) {
            return Err(TokenError::SenderMismatch.into());
        }
    }
    match (&cnf.jkt, call.dpop_scheme) {
        (None, false) => {}
        (None, true) => {
            return Err(TokenError::DpopMismatch("the token is not DPoP-bound; send it as Bearer".into()).into());
        }
        (Some(_), false) => {
            return Err(TokenError::DpopMismatch("send the token as `Authorization: DPoP` with a proof".into()).into());
        }
        (Some(jkt), true) => {
            let proof =
                call.dpop.as_deref().ok_or_else(|| TokenError::DpopMismatch("no `DPoP` proof header".into()))?;
            let url = format!("{}{}", gw.settings.public_url, call.raw.path);
            let needs_nonce = gw.partners.load().get(&claims.sub).is_some_and(|p| p.dpop_nonce_required);
            let expected = dpop::Expected {
                method: &call.raw.method,
                url: &url,
                access_token: Some(token),
                now: gw.assertions.clock.now(),
                nonces: needs_nonce.then_some(&gw.dpop_nonces),
            };
            let proof = match dpop::verify(proof, &expected, gw.assertions.replay.as_ref()).await {
                Ok(p) => p,
                Err(dpop::DpopError::Unavailable(e)) => return Err(crate::store::StoreError::Unavailable(e).into()),
                Err(dpop::DpopError::UseNonce) => return Err(TokenError::UseDpopNonce.into()),
                Err(e) => return Err(TokenError::DpopMismatch(e.to_string()).into()),
            };
            if !bool::from(proof.jkt.as_bytes().ct_eq(jkt.as_bytes())) {
                return Err(TokenError::DpopMismatch(dpop::DpopError::WrongKey.to_string()).into());
            }
        }
    }
    Ok(claims)
}

/// The partner must still exist and be active *now*: suspension bites on the next call,
/// whatever the token's remaining lifetime.
fn admit(gw: &AppState, claims: &AccessClaims) -> Result<Arc<Partner>, ApiError> {
    let partners = gw.partners.load();
    let partner = partners.get(&claims.sub).ok_or(TokenError::UnknownKey)?;
    if !partner.is_active() {
        return Err(ApiError::PartnerSuspended);
    }
    Ok(partner.clone())
}

/// Scope in the token, security level on file, and an adapter able to carry the operation.
fn authorise(partner: &Partner, claims: &AccessClaims, op: Operation) -> Result<(), ApiError> {
    let scope = op.required_scope();
    // A scope withdrawn from the partner's file stops working before its tokens expire.
    if !claims.has_scope(scope) || !partner.scopes.contains(scope) {
        return Err(ApiError::InsufficientScope(scope));
    }
    if partner.security_level < op.security_level() {
        return Err(ApiError::SecurityLevel(op.security_level(), partner.security_level));
    }
    if !partner.capabilities.carries(op) {
        return Err(scenegate_adapter_contract::AdapterError::Unsupported(op.name()).into());
    }
    Ok(())
}

/// Customer data is read only under a consent that is in force *now*: the token names the
/// consent, and the consent is loaded on every call, so a revocation bites on the next one.
async fn consent_gate(gw: &AppState, claims: &AccessClaims, op: Operation) -> Result<Option<Consent>, ApiError> {
    if !op.needs_customer_consent() {
        return Ok(None);
    }
    let id: ConsentId =
        claims.consent_id.as_deref().ok_or(ApiError::ConsentRequired)?.parse().map_err(|_| TokenError::Malformed)?;
    // One look at the consent's change marks serves both reads (one Redis round trip in a
    // cluster): a token is revoked only under its consent's subject.
    let observed = gw.consents.observe(&id).await;
    if gw.grants.is_revoked(&claims.jti, &observed).await? {
        return Err(TokenError::Revoked.into());
    }
    let consent = match gw.consents.for_partner_as_of(&claims.sub, &id, &observed).await {
        Ok(c) => c,
        Err(ConsentError::NotFound) => return Err(ApiError::ConsentRequired),
        Err(e) => return Err(e.into()),
    };
    // A payment consent moves money and reads nothing; an account consent the reverse.
    if consent.payment.is_some() != op.spends_payment_consent() {
        return Err(ApiError::ConsentRequired);
    }
    if consent.status != ConsentStatus::Authorised {
        return Err(ApiError::ConsentInactive(consent.status));
    }
    Ok(Some(consent))
}

/// Money-moving calls carry a detached JWS over their exact body, made with one of the
/// partner's registered keys (a sandbox partner's file may waive it). Checked before the
/// body is even parsed; whether it was used before is checked once the call holds its
/// idempotency key (an exact retransmission gets the first answer, not a refusal).
fn verify_signature(
    gw: &AppState,
    partner: &Partner,
    op: Operation,
    raw: &RawRequest,
) -> Result<Option<VerifiedSignature>, ApiError> {
    if !op.moves_money() {
        return Ok(None);
    }
    let Some(value) = raw.header(jws::HEADER) else {
        return if partner.payments.require_signatures { Err(JwsError::Missing.into()) } else { Ok(None) };
    };
    let key_for = |kid: &str| partner.key(kid).map(|k| (k.algorithm, &k.key));
    Ok(Some(jws::verify_detached(value, &raw.body, key_for, gw.tokens.now())?))
}

/// An adapted request is used once: a replayed copy (same signature, same nonce) is refused
/// within its protocol's window. A money-moving retry was answered by idempotency already.
async fn first_use_of_request(gw: &AppState, verified: &Authenticated) -> Result<(), ApiError> {
    let key = format!("req:{}", verified.replay.key);
    let first = gw.assertions.replay.first_use(&key, verified.replay.until, gw.tokens.now()).await?;
    if first { Ok(()) } else { Err(ApiError::SignatureReplayed) }
}

async fn first_use_of_signature(gw: &AppState, sig: &VerifiedSignature) -> Result<(), ApiError> {
    let key = format!("jws:{}", sig.digest.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let first = gw.assertions.replay.first_use(&key, sig.replay_until(), gw.tokens.now()).await?;
    if first { Ok(()) } else { Err(ApiError::SignatureReplayed) }
}

enum Idempotency {
    NotNeeded,
    Replay(StoredResponse),
    Claimed(Claim),
    /// The key is claimed with the payment; `marked` when this request holds the key's
    /// in-flight marker (see [`in_flight_marker`]).
    Deferred {
        claim: Claim,
        marked: bool,
    },
}

/// The replay-store record that says a payment's key is in flight before its payment is
/// written. A copy of a signed request (the same signature, or the same protocol request)
/// would otherwise meet its first copy's used signature before it could find the key, and
/// be refused for the replay instead of told the first is in flight; with the marker it
/// is told so. Set for the key's lease by the request that defers the key, dropped when
/// that request fails (whatever it wrote under the key then answers copies); a shared,
/// short-lived fact, kept where the signatures' single use is (Redis in a cluster).
fn in_flight_marker(claim: &Claim) -> String {
    format!("idem:{}:{}", claim.partner_id, claim.key.as_str())
}

/// The protocol's own order or message number of a money-moving adapted call, which stands
/// in for the `Idempotency-Key` header: what a signed protocol's adapter verified, or what a
/// token-authenticated protocol's adapter reads from the request (ISO 20022's `MsgId`).
fn order_reference(
    partner: &Partner,
    op: Operation,
    raw: &RawRequest,
    protocol: Option<&Authenticated>,
    adapted: bool,
) -> Result<Option<IdempotencyRef>, ApiError> {
    if !op.moves_money() {
        return Ok(None);
    }
    match protocol {
        Some(verified) => verified
            .idempotency
            .clone()
            .map(Some)
            .ok_or_else(|| ApiError::Internal(format!("adapter gave no order reference for `{}`", op.name()))),
        None if adapted => Ok(partner.adapter.order_reference(op, raw)?),
        None => Ok(None),
    }
}

/// Money-moving calls need an idempotency key: the protocol's order reference, else the
/// `Idempotency-Key` header. The first request with a key claims it, a retry gets the first
/// answer, a reuse for another request is refused.
async fn idempotency(
    gw: &AppState,
    partner: &Partner,
    op: Operation,
    raw: &RawRequest,
    order: Option<&IdempotencyRef>,
    replay_checked: bool,
) -> Result<Idempotency, ApiError> {
    if !op.moves_money() {
        return Ok(Idempotency::NotNeeded);
    }
    let (key, fingerprint) = match order {
        None => {
            let key = IdempotencyKey::parse(raw.header(idempotency::HEADER))?;
            (key, idempotency::fingerprint(&raw.method, &raw.path, &raw.body))
        }
        // The protocol's own order number, scoped by operation; the fingerprint covers what
        // the adapter says identifies the request (not its timestamp or signature).
        Some(reference) => {
            let key = IdempotencyKey::parse(Some(&format!("{}:{}", op.name(), reference.key)))?;
            (key, idempotency::fingerprint("ADAPTED", op.name(), &reference.request))
        }
    };
    let now = gw.tokens.now();
    if op != Operation::CreatePayment {
        return held_or_replay(gw.idempotency.begin(&partner.id, &key, &fingerprint, now).await?);
    }
    // The busiest money call: its key is claimed by the transaction that records the payment
    // (a database commit fewer per payment); a refusal asks the key (`after_refusal`).
    let claim = gw.idempotency.defer(&partner.id, &key, &fingerprint, now);
    if !replay_checked {
        return Ok(Idempotency::Deferred { claim, marked: false });
    }
    let lease_until = claim.deferred.as_ref().map_or(now, |d| d.lease_until);
    if gw.assertions.replay.first_use(&in_flight_marker(&claim), lease_until, now).await? {
        return Ok(Idempotency::Deferred { claim, marked: true });
    }
    // Another request with this key is in flight, or was answered: its record says which,
    // and a key with no live record is one whose payment is not written yet (read, not
    // claimed: a claim here would stand in that payment's way).
    match gw.idempotency.peek(&partner.id, &key, &fingerprint, now).await? {
        Some(said) => held_or_replay(said),
        None => Err(ApiError::IdempotencyInFlight { retry_after: 1 }),
    }
}

/// What a key's record says to a request: it holds the key now, the first answer is
/// replayed, or it is refused (in flight, or used for another request).
fn held_or_replay(begun: Begin) -> Result<Idempotency, ApiError> {
    match begun {
        Begin::Claimed(claim) => Ok(Idempotency::Claimed(claim)),
        Begin::Replay(stored) => Ok(Idempotency::Replay(stored)),
        Begin::InFlight { retry_after } => {
            Err(ApiError::IdempotencyInFlight { retry_after: u64::try_from(retry_after).unwrap_or(1) })
        }
        Begin::Reused => Err(ApiError::IdempotencyKeyReused),
    }
}

fn replay(stored: StoredResponse) -> Response {
    let mut res = stored_response(stored);
    res.headers_mut().insert(idempotency::REPLAYED_HEADER, HeaderValue::from_static("true"));
    res
}

fn stored_response(stored: StoredResponse) -> Response {
    let mut res = Response::new(axum::body::Body::from(stored.body));
    *res.status_mut() = axum::http::StatusCode::from_u16(stored.status).unwrap_or(axum::http::StatusCode::OK);
    for (name, value) in stored.headers {
        if let (Ok(n), Ok(v)) = (axum::http::HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            res.headers_mut().insert(n, v);
        }
    }
    res
}

/// What an answer is made of at the point it is remembered: its type, its signature (JWS or
/// protocol headers). Quota headers are added after and belong to each retry.
fn stored_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .collect()
}

/// Keeps a successful answer for replays. A refusal lets go of the key instead, unless a
/// resource was already created under it (then a retry resumes that resource).
async fn remember(gw: &AppState, claim: &Claim, answered: Result<Response, ApiError>) -> Result<Response, ApiError> {
    let res = match answered {
        // Stored with the payment's settlement.
        Ok(res) if res.extensions().get::<AlreadyRemembered>().is_some() => return Ok(res),
        Ok(res) => res,
        // A deferred key is not this request's to let go: it either never wrote it, or
        // wrote it with a resource that a retry must resume.
        Err(e) if claim.deferred.is_some() => return Err(e),
        Err(e) => {
            if let Err(store) = gw.idempotency.release(claim).await {
                tracing::warn!(error = %store, "idempotency key not released");
            }
            return Err(e);
        }
    };
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    let stored =
        StoredResponse { status: parts.status.as_u16(), headers: stored_headers(&parts.headers), body: bytes.to_vec() };
    gw.idempotency.complete(claim, &stored, gw.tokens.now()).await?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Signs the response body with the gateway's key (detached JWS), so the partner holds
/// proof of what the bank answered.
async fn sign_response(gw: &AppState, res: Response) -> Result<Response, ApiError> {
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.map_err(|e| ApiError::Internal(e.to_string()))?;
    sign_into(gw, &mut parts.headers, &bytes)?;
    Ok(Response::from_parts(parts, axum::body::Body::from(bytes)))
}

/// Adds the detached JWS of `body` with the gateway's current key to `headers`.
fn sign_into(gw: &AppState, headers: &mut HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    let now = gw.tokens.now();
    let keys = gw.keys.load();
    let (kid, key) = keys.signer(now);
    let signature = jws::sign_detached(body, kid, key, now)?;
    let value = HeaderValue::from_str(&signature).map_err(|e| ApiError::Internal(e.to_string()))?;
    headers.insert(jws::HEADER, value);
    Ok(())
}

async fn limit(gw: &AppState, partner: &Partner) -> Result<Decision, ApiError> {
    match gw.limits.check(&partner.id, partner.rate_limit).await {
        allowed @ Decision::Allowed { .. } => Ok(allowed),
        Decision::Limited { limit, retry_after } => Err(ApiError::RateLimited { retry_after, limit }),
    }
}

fn adapt_in(partner: &Partner, op: Operation, raw: &RawRequest) -> Result<CanonicalRequest, ApiError> {
    Ok(partner.adapter.decode(op, raw)?)
}

/// Canonical request → the service that answers it. Account data comes back already cut
/// down to what the consent covers, so no adapter ever sees more.
async fn route(
    gw: &AppState,
    partner: &Partner,
    consent: Option<&Consent>,
    request: CanonicalRequest,
    claim: Option<&Claim>,
    render: RenderAnswer<'_>,
) -> Result<Routed, ApiError> {
    let consent = || consent.ok_or(ApiError::ConsentRequired);
    let claim = || claim.ok_or_else(|| ApiError::Internal("money-moving call without an idempotency claim".into()));
    let accounts = &gw.accounts;
    let payments = &gw.payments;
    Ok(Routed::Outcome(match request {
        CanonicalRequest::ListProducts(q) => CanonicalResponse::ProductPage(gw.core.list_products(&q).await?),
        CanonicalRequest::GetProduct(id) => CanonicalResponse::Product(Box::new(gw.core.get_product(&id).await?)),
        CanonicalRequest::CreateConsent(r) => CanonicalResponse::Consent {
            consent: Box::new(gw.consents.create(&partner.id, r).await?.view()),
            created: true,
        },
        CanonicalRequest::GetConsent(id) => CanonicalResponse::Consent {
            consent: Box::new(account_consent(gw, &partner.id, &id).await?.view()),
            created: false,
        },
        CanonicalRequest::DeleteConsent(id) => {
            account_consent(gw, &partner.id, &id).await?;
            gw.consents.revoke_by_partner(&partner.id, &id).await?;
            CanonicalResponse::ConsentDeleted
        }
        CanonicalRequest::ListAccounts => CanonicalResponse::AccountList(accounts.list(consent()?).await?),
        CanonicalRequest::GetAccount(id) => CanonicalResponse::Account(Box::new(accounts.get(consent()?, &id).await?)),
        CanonicalRequest::GetBalances(id) => CanonicalResponse::Balances(accounts.balances(consent()?, &id).await?),
        CanonicalRequest::ListTransactions(id, q) => {
            CanonicalResponse::TransactionPage(accounts.transactions(consent()?, &id, q).await?)
        }
        CanonicalRequest::Statement(id, q) => {
            let consent = consent()?;
            // The statement says which window its entries come from: the asked one cut to
            // the consent's, exactly as the transactions are.
            let asked = Window::from_query(q.from.as_deref(), q.to.as_deref())?;
            let period = Window::of_consent(consent).intersect(asked);
            let rfc3339 =
                |at: Option<i64>| at.and_then(|s| jiff::Timestamp::from_second(s).ok()).map(|t| t.to_string());
            let (from, to) = (period.and_then(|w| rfc3339(w.from)), period.and_then(|w| rfc3339(w.to)));
            let transactions = accounts.transactions(consent, &id, q).await?;
            let balances = accounts.balances(consent, &id).await?;
            CanonicalResponse::Statement(Box::new(Statement { account_id: id, balances, transactions, from, to }))
        }
        CanonicalRequest::CreatePaymentConsent(r) => CanonicalResponse::PaymentConsent {
            consent: Box::new(payments.create_consent(partner, *r).await?),
            created: true,
        },
        CanonicalRequest::GetPaymentConsent(id) => CanonicalResponse::PaymentConsent {
            consent: Box::new(payments.consent(&partner.id, &id).await?),
            created: false,
        },
        CanonicalRequest::RevokePaymentConsent(id) => {
            CanonicalResponse::PaymentConsentRevoked(Box::new(payments.revoke_consent(&partner.id, &id).await?))
        }
        CanonicalRequest::CreatePayment(r) => {
            let claim = claim()?;
            // A key taken over from a crashed request answers with the payment that request
            // recorded, whatever its consent says now (that payment consumed or drew on it).
            let booked = match payments.resume(&partner.id, claim, Some(render)).await? {
                Some(resumed) => resumed,
                None => payments.initiate(partner, consent()?, *r, claim, Some(render)).await?,
            };
            match booked.answer {
                Some(stored) => return Ok(Routed::Remembered(stored)),
                None => CanonicalResponse::Payment { payment: Box::new(booked.payment), created: true },
            }
        }
        CanonicalRequest::GetPayment(id) => {
            CanonicalResponse::Payment { payment: Box::new(payments.payment(&partner.id, &id).await?), created: false }
        }
        CanonicalRequest::CreateRefund(id, r) => {
            CanonicalResponse::Refund(Box::new(payments.refund(partner, &id, *r, claim()?).await?))
        }
        CanonicalRequest::ListRefunds(id) => CanonicalResponse::RefundList(payments.refunds(&partner.id, &id).await?),
        CanonicalRequest::InitiateBulkPayment(r) => CanonicalResponse::BulkPayment {
            bulk: Box::new(payments.create_bulk(partner, *r).await?),
            stage: BulkStage::Initiated,
        },
        CanonicalRequest::ExecuteBulkPayment(id) => CanonicalResponse::BulkPayment {
            bulk: Box::new(payments.execute_bulk(partner, consent()?, &id, claim()?).await?),
            stage: BulkStage::Executed,
        },
        CanonicalRequest::GetBulkPayment(id) => CanonicalResponse::BulkPayment {
            bulk: Box::new(payments.bulk(&partner.id, &id).await?),
            stage: BulkStage::Read,
        },
        CanonicalRequest::ListEvents(q) => CanonicalResponse::EventPage(events_page(gw, &partner.id, q).await?),
        CanonicalRequest::AckEvent(id) => {
            let id = id.parse().map_err(|_| ApiError::NotFound("event"))?;
            match gw.events.ack(&partner.id, &id, gw.tokens.now()).await {
                Ok(()) => CanonicalResponse::EventAcked,
                Err(EventStoreError::NotFound) => return Err(ApiError::NotFound("event")),
                Err(e) => return Err(e.into()),
            }
        }
    }))
}

/// A page of the partner's unacknowledged events; the cursor is the last event's sequence.
async fn events_page(gw: &AppState, partner_id: &str, q: EventQuery) -> Result<Page<EventView>, ApiError> {
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| ApiError::InvalidField {
            field: "cursor".into(),
            reason: "is not a cursor this API issued".into(),
        })?),
    };
    let mut events = gw.events.list_for_partner(partner_id, after, q.limit + 1).await?;
    let more = events.len() > q.limit as usize;
    events.truncate(q.limit as usize);
    let next_cursor = if more { events.last().map(|e| e.seq.to_string()) } else { None };
    let items = events
        .iter()
        .map(|e| {
            let body = e.body();
            EventView {
                id: body.id.to_string(),
                event_type: body.event_type.to_owned(),
                created_at: body.created_at,
                subject_id: body.subject_id.to_owned(),
                data: body.data.clone(),
            }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// An account-access consent of this partner; a payment consent is not one (404 alike).
async fn account_consent(gw: &AppState, partner_id: &str, id: &ConsentId) -> Result<Consent, ApiError> {
    let consent = gw.consents.for_partner(partner_id, id).await?;
    if consent.payment.is_some() {
        return Err(ConsentError::NotFound.into());
    }
    Ok(consent)
}

fn respond(
    partner: &Partner,
    op: Operation,
    raw: &RawRequest,
    outcome: CanonicalResponse,
) -> Result<Response, ApiError> {
    raw_response(partner.adapter.encode(op, raw, outcome)?)
}

/// An adapter's answer as an HTTP response; a protocol header that is not a valid header is
/// the adapter's defect, not the partner's.
fn raw_response(out: RawResponse) -> Result<Response, ApiError> {
    let (status, headers, body) = raw_parts(out)?;
    let mut res = Response::new(axum::body::Body::from(body));
    *res.status_mut() = status;
    *res.headers_mut() = headers;
    Ok(res)
}

fn raw_parts(out: RawResponse) -> Result<(axum::http::StatusCode, HeaderMap, axum::body::Bytes), ApiError> {
    let status = axum::http::StatusCode::from_u16(out.status).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut headers = HeaderMap::with_capacity(1 + out.headers.len());
    if !out.body.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(out.content_type));
    }
    for (name, value) in out.headers {
        let name = axum::http::HeaderName::try_from(name).map_err(|e| ApiError::Internal(e.to_string()))?;
        let value = HeaderValue::try_from(value).map_err(|e| ApiError::Internal(e.to_string()))?;
        headers.insert(name, value);
    }
    Ok((status, headers, out.body))
}

fn write_quota(headers: &mut HeaderMap, quota: Decision) {
    if let Decision::Allowed { limit, remaining } = quota {
        headers.insert("ratelimit-limit", HeaderValue::from(limit));
        headers.insert("ratelimit-remaining", HeaderValue::from(remaining));
    }
}
