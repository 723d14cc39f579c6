//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations.
//!
//! `scenegate openapi` prints it; `openapi/scenegate.v1.json` is that output committed, and
//! a test fails when the two differ. The bodies' schemas are the native adapter's wire types
//! (`scenegate_adapters::native::wire`), never the canonical ones: what partners see is
//! documented from what they are sent.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{AuthorizationCode, ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{api, app::AppState};

mod exact;

const DESCRIPTION: &str = "\
The bank's standard API for scenario partners.

**Data standard.** Money is `{\"amount\": \"12.30\", \"currency\": \"CNY\"}`: the amount is an exact decimal \
string with the currency's ISO 4217 minor units, never a JSON number. Rates are decimal strings in percent per \
annum (`\"3.45\"`). Times are RFC 3339 in UTC (`2026-11-01T00:00:00Z`). Ids are typed and prefixed \
(`prd_`, `acc_`, `cns_`, `pay_`). Lists are `{data, links, meta}` with cursor pagination: `limit` (default 25, \
max 1000) and `links.next` until it is absent.

**Security.** Get a token at `POST /oauth2/token` with the client credentials grant, authenticating with \
`private_key_jwt` (RFC 7523) signed ES256 or PS256 by the key registered for you. Send it as \
`Authorization: Bearer …`. Tokens live 300 seconds.

**Errors.** Every error is `application/problem+json` (RFC 9457) with a stable `type`, a `title`, a `detail` \
and the `request_id` (also in the `x-request-id` header). The `type` values are catalogued in \
`openapi/problems.md`.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Scenegate partner API", version = "1.0.0", description = DESCRIPTION),
    modifiers(&Security),
    components(schemas(
        crate::problem::Problem,
        scenegate_adapter_contract::Money,
        scenegate_adapters::native::wire::SortOrder
    )),
    tags(
        (name = "oauth", description = "Tokens and keys."),
        (name = "products", description = "The product catalogue (security level A1)."),
        (name = "consents", description = "Customer consents (security level A2)."),
        (name = "accounts", description = "Accounts, balances and transactions under a customer's consent (A2)."),
        (name = "payments", description = "Payment consents, payments and refunds (A2): idempotent, signed both ways."),
        (name = "events", description = "Status changes to poll, for partners without a webhook endpoint (A2)."),
        (name = "adapters", description = "Partner protocols the gateway speaks besides this API, and their single URL."),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scopes = Scopes::from_iter([
            ("products:read", "Read the product catalogue"),
            ("consents:write", "Ask customers for consent, read and withdraw consents"),
            ("payments:write", "Ask customers to authorise payments; read payments; refund"),
            ("events:read", "Poll and acknowledge events"),
        ]);
        let flow = Flow::ClientCredentials(ClientCredentials::new(api::oauth::TOKEN_PATH, scopes));
        let partner = SecurityScheme::OAuth2(OAuth2::with_description(
            [flow],
            "Client credentials with private_key_jwt client authentication (RFC 7523).",
        ));
        let code = Flow::AuthorizationCode(AuthorizationCode::new(
            "/oauth2/authorize",
            api::oauth::TOKEN_PATH,
            Scopes::from_iter([
                ("accounts:read", "Read the accounts the customer consented to"),
                ("payments:initiate", "Initiate payments under the payment consent the customer authorised"),
            ]),
        ));
        let customer = SecurityScheme::OAuth2(OAuth2::with_description(
            [code],
            "Authorization code with PAR and PKCE (S256); private_key_jwt client authentication. \
             The token is bound to the partner, the customer and one consent.",
        ));
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("partner_token", partner);
        components.add_security_scheme("customer_token", customer);
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer()));
    }
}

/// The plain bearer scheme: what `/docs` "Authorize" offers for a token pasted from
/// `POST /oauth2/token` (the OAuth2 schemes describe how to get one; Swagger UI cannot sign a
/// `private_key_jwt` assertion itself).
const BEARER: &str = "bearer_token";

fn bearer() -> utoipa::openapi::security::Http {
    utoipa::openapi::security::HttpBuilder::new()
        .scheme(utoipa::openapi::security::HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "An access token from `POST /oauth2/token` (client credentials) or the authorization code flow, \
             pasted as is. The OAuth2 schemes say which scopes each operation needs.",
        ))
        .build()
}

/// Every operation that needs a token also accepts the plain bearer scheme, so "Try it
/// out" works with a pasted token.
fn offer_bearer(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::SecurityRequirement;
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch];
        for op in operations.into_iter().flatten() {
            if let Some(security) = op.security.as_mut().filter(|s| !s.is_empty()) {
                security.push(SecurityRequirement::new(BEARER, Vec::<String>::new()));
            }
        }
    }
    doc
}

/// The documented routes and their document, built once from the same code.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi()).merge(api::routes())
}

/// The documented routes and their finished document.
pub fn split() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (routes, doc) = router().split_for_parts();
    (routes, exact::harden(offer_bearer(doc)))
}

pub fn spec() -> utoipa::openapi::OpenApi {
    split().1
}

/// The committed form: pretty JSON with a trailing newline.
pub fn spec_json() -> String {
    let mut text = spec().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_operation_that_needs_a_token_takes_a_pasted_bearer_token() {
        let doc = serde_json::to_value(super::spec()).unwrap();
        let mut secured = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(security) = op["security"].as_array().filter(|s| !s.is_empty()) else { continue };
                secured += 1;
                assert!(
                    security.iter().any(|r| r.get("bearer_token").is_some()),
                    "{method} {path} offers no bearer_token: {security:?}"
                );
            }
        }
        assert!(secured > 10, "the partner API's operations are secured ({secured})");
        assert_eq!(doc["components"]["securitySchemes"]["bearer_token"]["scheme"], "bearer");
    }
}
