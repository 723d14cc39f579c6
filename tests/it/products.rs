//! The product catalogue through the gateway, normalised from the core's own format.

use std::collections::HashSet;

use serde_json::Value;

use crate::support::{Stack, assert_problem, http, partner_toml};

async fn get(stack: &Stack, token: &str, path: &str) -> reqwest::Response {
    http().get(stack.gw.url(path)).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn products_are_normalised_to_the_data_standard() {
    let stack = Stack::start();
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    let res = get(&stack, &token, "/v1/products").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().contains_key("ratelimit-remaining"));
    let body: Value = res.json().await.unwrap();
    let products = body["data"].as_array().unwrap();
    assert!(products.len() >= 10, "the demo catalogue has a dozen products");
    assert_eq!(body["meta"]["limit"], 25);
    assert!(body["links"].get("next").is_none(), "one page holds them all at the default limit");

    let mut kinds = HashSet::new();
    for p in products {
        assert!(p["product_id"].as_str().unwrap().starts_with("prd_"), "{p}");
        assert!(p["updated_at"].as_str().unwrap().ends_with('Z'), "{p}");
        kinds.insert(p["type"].as_str().unwrap().to_owned());
        let money: Vec<&Value> = match p["type"].as_str().unwrap() {
            "deposit" => {
                assert!(p.get("credit").is_none());
                assert!(p["deposit"]["annual_rate"].is_string(), "{p}");
                vec![&p["deposit"]["min_amount"]]
            }
            _ => {
                assert!(p.get("deposit").is_none());
                let c = &p["credit"];
                assert!(c["annual_rate_min"].is_string() && c["annual_rate_max"].is_string(), "{p}");
                assert!(!c["eligibility"]["customer_types"].as_array().unwrap().is_empty(), "{p}");
                vec![&c["min_amount"], &c["max_amount"]]
            }
        };
        for m in money {
            let amount = m["amount"].as_str().unwrap_or_else(|| panic!("amount must be a string: {p}"));
            let decimals = if m["currency"] == "JPY" { 0 } else { 2 };
            assert_eq!(amount.split('.').nth(1).map_or(0, str::len), decimals, "{amount} in {p}");
        }
    }
    assert_eq!(kinds, HashSet::from(["deposit".into(), "consumer_credit".into(), "sme_credit".into()]));
}

#[tokio::test]
async fn cursor_pagination_visits_every_product_once() {
    let stack = Stack::start();
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    let all: Value = get(&stack, &token, "/v1/products?limit=1000").await.json().await.unwrap();
    let expected: Vec<String> =
        all["data"].as_array().unwrap().iter().map(|p| p["product_id"].as_str().unwrap().to_owned()).collect();

    let mut seen = Vec::new();
    let mut next = Some("/v1/products?limit=5".to_owned());
    while let Some(path) = next {
        let page: Value = get(&stack, &token, &path).await.json().await.unwrap();
        assert!(page["data"].as_array().unwrap().len() <= 5);
        seen.extend(page["data"].as_array().unwrap().iter().map(|p| p["product_id"].as_str().unwrap().to_owned()));
        next = page["links"]["next"].as_str().map(str::to_owned);
        assert!(seen.len() <= expected.len(), "pagination loops");
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn filters_and_single_products() {
    let stack = Stack::start();
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    let sme: Value = get(&stack, &token, "/v1/products?type=sme_credit").await.json().await.unwrap();
    let items = sme["data"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(items.iter().all(|p| p["type"] == "sme_credit"));

    let id = items[0]["product_id"].as_str().unwrap();
    let one: Value = get(&stack, &token, &format!("/v1/products/{id}")).await.json().await.unwrap();
    assert_eq!(&one, &items[0]);

    assert_problem(get(&stack, &token, "/v1/products/prd_NOPE").await, 404, "not_found").await;
    let body = assert_problem(get(&stack, &token, "/v1/products/acc_123").await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "product_id");
    let body = assert_problem(get(&stack, &token, "/v1/products?limit=1001").await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "limit");
    let body = assert_problem(get(&stack, &token, "/v1/products?type=mortgage").await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "type");
    let body =
        assert_problem(get(&stack, &token, "/v1/products?cursor=bm90LWEtY3Vyc29y").await, 400, "invalid_request").await;
    assert_eq!(body["errors"][0]["field"], "cursor");
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after() {
    let stack = Stack::start_with(|o| {
        o.partners.push((
            "slow".into(),
            partner_toml("ptn_slow", "active", "[rate_limit]\nrequests_per_second = 1\nburst = 3\n"),
        ));
    });
    // The token request is the first call of the burst of three.
    let token = stack.gw.partner("ptn_slow").access_token().await;
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..4 {
        let res = get(&stack, &token, "/v1/products?limit=1").await;
        statuses.push(res.status().as_u16());
        if res.status() == 429 && limited.is_none() {
            limited = Some(res);
        }
    }
    assert_eq!(&statuses[..2], &[200, 200], "{statuses:?}");
    let res = limited.expect("the third call within a second is limited");
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    assert_eq!(res.headers()["ratelimit-limit"], "3");
    assert_eq!(res.headers()["ratelimit-remaining"], "0");
    let body = assert_problem(res, 429, "rate_limited").await;
    assert_eq!(body["retry_after"], retry);

    // Another partner has its own budget.
    let other = stack.gw.partner("ptn_alpha").access_token().await;
    assert_eq!(get(&stack, &other, "/v1/products?limit=1").await.status(), 200);
}
