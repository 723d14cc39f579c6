use scenegate_adapter_contract::{
    AdapterError, AdapterKind, BuildContext, CanonicalRequest, CanonicalResponse, Currency, Money, Operation, Rate,
    RawRequest,
    canonical::{DepositTerms, Page, Product, ProductQuery, ProductType},
};

use super::Kind;

mod round_trip;

fn list(query: &str) -> RawRequest {
    RawRequest { method: "GET".into(), path: "/v1/products".into(), query: Some(query.into()), ..Default::default() }
}

fn product(code: &str) -> Product {
    Product {
        product_id: scenegate_adapter_contract::ProductId::from_key(code).unwrap(),
        product_type: ProductType::Deposit,
        name: "Demand".into(),
        description: "d".into(),
        currency: Currency::Cny,
        deposit: Some(DepositTerms {
            annual_rate: Rate::from_basis_points(25),
            term_months: None,
            min_amount: Money::from_minor(0, Currency::Cny),
        }),
        credit: None,
        updated_at: "2026-11-01T00:00:00Z".into(),
    }
}

#[test]
fn list_query_is_decoded_with_defaults_and_filters() {
    let a = Kind.build(&BuildContext::settings_only("ptn_test", &toml::Table::new())).unwrap();
    assert_eq!(
        a.decode(Operation::ListProducts, &list("")).unwrap(),
        CanonicalRequest::ListProducts(ProductQuery { product_type: None, limit: 25, cursor: None })
    );
    assert_eq!(
        a.decode(Operation::ListProducts, &list("type=sme_credit&limit=1000&cursor=abc")).unwrap(),
        CanonicalRequest::ListProducts(ProductQuery {
            product_type: Some(ProductType::SmeCredit),
            limit: 1000,
            cursor: Some("abc".into())
        })
    );
}

#[test]
fn bad_list_parameters_name_the_field() {
    let a = Kind.build(&BuildContext::settings_only("ptn_test", &toml::Table::new())).unwrap();
    let field = |q: &str| match a.decode(Operation::ListProducts, &list(q)) {
        Err(AdapterError::InvalidField { field, .. }) => field,
        other => panic!("{q}: {other:?}"),
    };
    assert_eq!(field("limit=0"), "limit");
    assert_eq!(field("limit=1001"), "limit");
    assert_eq!(field("limit=-1"), "limit");
    assert_eq!(field("type=mortgage"), "type");
    assert_eq!(field("limt=5"), "query");
}

#[test]
fn next_link_keeps_filters_and_replaces_cursor() {
    let a = Kind.build(&BuildContext::settings_only("ptn_test", &toml::Table::new())).unwrap();
    let req = list("type=deposit&limit=1&cursor=old");
    let page = Page { items: vec![product("D1")], next_cursor: Some("new".into()) };
    let out = a.encode(Operation::ListProducts, &req, CanonicalResponse::ProductPage(page)).unwrap();
    let body: serde_json::Value = serde_json::from_slice(&out.body).unwrap();
    assert_eq!(body["links"]["next"], "/v1/products?type=deposit&limit=1&cursor=new");
    assert_eq!(body["links"]["self"], "/v1/products?type=deposit&limit=1&cursor=old");
    assert_eq!(body["meta"]["limit"], 1);
    assert_eq!(body["data"][0]["product_id"], "prd_D1");
}

#[test]
fn settings_are_refused_by_name() {
    let mut t = toml::Table::new();
    t.insert("sign_type".into(), toml::Value::String("RSA2".into()));
    assert_eq!(Kind.build(&BuildContext::settings_only("ptn_test", &t)).unwrap_err().field, "sign_type");
}

#[test]
fn json_bodies_must_be_sent_as_json() {
    use super::transform::is_json;
    for accepted in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=\"UTF-8\"",
    ] {
        assert!(is_json(accepted), "{accepted}");
    }
    for refused in [
        "",
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
        "application/jsonp",
        "application/json; charset=latin1",
        "application/json; boundary=x",
        "multipart/form-data; boundary=application/json",
    ] {
        assert!(!is_json(refused), "{refused}");
    }
    let body = br#"{"permissions": ["ReadAccountsBasic"], "purpose": "p"}"#;
    let mut req =
        RawRequest { method: "POST".into(), path: "/v1/consents".into(), body: body[..].into(), ..Default::default() };
    req.headers = vec![("content-type".into(), "text/plain".into())];
    let refused = Kind
        .build(&BuildContext::settings_only("ptn_test", &toml::Table::new()))
        .unwrap()
        .decode(Operation::CreateConsent, &req)
        .unwrap_err();
    assert!(matches!(refused, AdapterError::UnsupportedMediaType { expected: "application/json", .. }), "{refused:?}");
    req.headers = vec![("Content-Type".into(), "application/json".into())];
    assert!(
        Kind.build(&BuildContext::settings_only("ptn_test", &toml::Table::new()))
            .unwrap()
            .decode(Operation::CreateConsent, &req)
            .is_ok()
    );
}
