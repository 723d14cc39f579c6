//! Payments (level A2): payment consents, payments under them, refunds.
//!
//! Money-moving calls (the `POST`s) need an `Idempotency-Key` and a detached JWS over the exact
//! body in `x-jws-signature`; their responses are signed the same way with the gateway's key
//! (`/.well-known/jwks.json`).

use axum::{extract::State, response::Response};
use scenegate_adapter_contract::Operation;
use scenegate_adapters::native::wire::{
    PaymentConsentRequest, PaymentConsentView, PaymentRequest, PaymentView, RefundList, RefundRequest, RefundView,
};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{CallErrors, MoneyMovingErrors};
use crate::{app::AppState, pipeline, pipeline::PartnerCall, problem::Problem};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment_consent))
        .routes(routes!(get_payment_consent, revoke_payment_consent))
        .routes(routes!(create_payment))
        .routes(routes!(get_payment))
        .routes(routes!(create_refund, list_refunds))
}

/// Ask a customer to authorise a payment
///
/// Creates a payment consent in `awaiting_authorisation`: a `single` payment of a fixed
/// amount, or `recurring` payments to one creditor within per-payment, daily and monthly
/// limits. Then push an authorisation request to `/oauth2/par` with scope
/// `payments:initiate` and this `consent_id`; the customer approves with their password and
/// a one-time code sent to their phone.
#[utoipa::path(
    post, path = "/v1/payment-consents", tag = "payments", operation_id = "createPaymentConsent",
    security(("partner_token" = ["payments:write"])),
    params(
        ("Idempotency-Key" = String, Header, description = "1 to 255 of `[A-Za-z0-9._:-]`; a retry with the same key and body gets the first answer."),
        ("x-jws-signature" = String, Header, description = "Detached JWS (RFC 7515 appendix F) over the exact body, ES256 or PS256, `kid` of your registered key, `iat` within 5 minutes."),
    ),
    request_body(content = PaymentConsentRequest, content_type = "application/json"),
    responses(
        CallErrors,
        MoneyMovingErrors,
        (status = 201, description = "The payment consent, awaiting the customer. Signed in `x-jws-signature`.", body = PaymentConsentView),
    )
)]
pub async fn create_payment_consent(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::CreatePaymentConsent, call).await
}

/// Read a payment consent
#[utoipa::path(
    get, path = "/v1/payment-consents/{consent_id}", tag = "payments", operation_id = "getPaymentConsent",
    security(("partner_token" = ["payments:write"])),
    params(("consent_id" = String, Path, description = "Consent id, `cns_…`.")),
    responses(
        CallErrors,
        (status = 200, description = "The payment consent.", body = PaymentConsentView),
        (status = 400, description = "The id is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment consent of yours.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_payment_consent(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::GetPaymentConsent, call).await
}

/// Withdraw a payment consent
///
/// For a payment consent you no longer need: one still `awaiting_authorisation`, or
/// `authorised` and not used yet (a `recurring` one at any time before it expires, which
/// ends the agreement; payments already made stay as they are). It becomes `revoked`: the
/// customer sees it so, a token bound to it stops working on its next call, and a
/// `consent.status_changed` event follows. It moves no money, so it needs neither an
/// `Idempotency-Key` nor a signature; withdrawing it again answers 409.
#[utoipa::path(
    delete, path = "/v1/payment-consents/{consent_id}", tag = "payments", operation_id = "revokePaymentConsent",
    security(("partner_token" = ["payments:write"])),
    params(("consent_id" = String, Path, description = "Consent id, `cns_…`.")),
    responses(
        CallErrors,
        (status = 204, description = "Revoked."),
        (status = 400, description = "The id is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment consent of yours.", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The consent is `consumed`, `expired`, `revoked` or `rejected` (`consent_status` says which).", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn revoke_payment_consent(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::RevokePaymentConsent, call).await
}

/// Initiate a payment
///
/// With the customer's token for an authorised payment consent. A single consent carries
/// exactly one payment; a recurring one many, each within what remains of its limits. The
/// answer is `completed` (booked), `rejected` (with an ISO 20022 reason, no money moved) or
/// `pending` when the bank's core did not answer in time: the payment is then settled within
/// seconds and announced by webhook; it is never booked twice.
#[utoipa::path(
    post, path = "/v1/payments", tag = "payments", operation_id = "createPayment",
    security(("customer_token" = ["payments:initiate"])),
    params(
        ("Idempotency-Key" = String, Header, description = "1 to 255 of `[A-Za-z0-9._:-]`; a retry with the same key and body gets the first answer, never a second payment."),
        ("x-jws-signature" = String, Header, description = "Detached JWS over the exact body."),
    ),
    request_body(content = PaymentRequest, content_type = "application/json"),
    responses(
        CallErrors,
        MoneyMovingErrors,
        (status = 201, description = "The payment. Signed in `x-jws-signature`.", body = PaymentView),
    )
)]
pub async fn create_payment(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::CreatePayment, call).await
}

/// Read a payment
#[utoipa::path(
    get, path = "/v1/payments/{payment_id}", tag = "payments", operation_id = "getPayment",
    security(("partner_token" = ["payments:write"])),
    params(("payment_id" = String, Path, description = "Payment id, `pay_…`.")),
    responses(
        CallErrors,
        (status = 200, description = "The payment as it stands now.", body = PaymentView),
        (status = 400, description = "The id is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment of yours.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get_payment(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::GetPayment, call).await
}

/// Refund part or all of a payment
///
/// Refunds of a payment never add up to more than it. Idempotent and signed like a payment.
#[utoipa::path(
    post, path = "/v1/payments/{payment_id}/refunds", tag = "payments", operation_id = "createRefund",
    security(("partner_token" = ["payments:write"])),
    params(
        ("payment_id" = String, Path, description = "Payment id, `pay_…`."),
        ("Idempotency-Key" = String, Header, description = "1 to 255 of `[A-Za-z0-9._:-]`."),
        ("x-jws-signature" = String, Header, description = "Detached JWS over the exact body."),
    ),
    request_body(content = RefundRequest, content_type = "application/json"),
    responses(
        CallErrors,
        MoneyMovingErrors,
        (status = 201, description = "The refund. Signed in `x-jws-signature`.", body = RefundView),
    )
)]
pub async fn create_refund(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::CreateRefund, call).await
}

/// List a payment's refunds
#[utoipa::path(
    get, path = "/v1/payments/{payment_id}/refunds", tag = "payments", operation_id = "listRefunds",
    security(("partner_token" = ["payments:write"])),
    params(("payment_id" = String, Path, description = "Payment id, `pay_…`.")),
    responses(
        CallErrors,
        (status = 200, description = "Its refunds, oldest first.", body = RefundList),
        (status = 400, description = "The id is malformed.", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such payment of yours.", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list_refunds(State(gw): State<AppState>, call: PartnerCall) -> Response {
    pipeline::run(&gw, Operation::ListRefunds, call).await
}
