//! Every class of error leaves as application/problem+json with the request id, and none
//! of them leaks internals.

use std::{io::Write, net::TcpListener, time::Duration};

use crate::support::{Stack, assert_problem, http};

/// A "core" that accepts connections and never answers.
fn hanging_core() -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(16) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    (url, handle)
}

/// Writes `request` as is and reads until the server closes or 5 s pass.
async fn raw_exchange(url: String, request: &'static str) -> String {
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(url.trim_start_matches("http://")).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn router_and_layer_errors_are_problems() {
    let stack = Stack::start();
    let client = http();

    let res = client.get(stack.gw.url("/v2/nothing")).send().await.unwrap();
    assert_problem(res, 404, "not_found").await;

    let res = client.delete(stack.gw.url("/v1/products")).send().await.unwrap();
    assert_problem(res, 405, "method_not_allowed").await;

    // Announced too large: refused before a byte of body is read (raw, since a client
    // still uploading would see the connection close under it).
    let raw = raw_exchange(
        stack.gw.proc.url.clone(),
        "POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 1048577\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 413"), "{raw}");
    assert!(raw.contains("application/problem+json") && raw.contains("/problems/payload_too_large"), "{raw}");

    // A caller's request id is echoed; a hostile one is replaced.
    let res = client.get(stack.gw.url("/nope")).header("x-request-id", "partner-req-42").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "partner-req-42");
    assert_eq!(assert_problem(res, 404, "not_found").await["request_id"], "partner-req-42");
    let res = client.get(stack.gw.url("/nope")).header("x-request-id", "a b\"<script>").send().await.unwrap();
    assert_ne!(res.headers()["x-request-id"], "a b\"<script>");

    // FAPI interaction id: echoed when a UUID, generated otherwise.
    let id = "c0a80101-0000-4000-8000-000000000001";
    let res = client.get(stack.gw.url("/healthz")).header("x-fapi-interaction-id", id).send().await.unwrap();
    assert_eq!(res.headers()["x-fapi-interaction-id"], id);
    let res = client.get(stack.gw.url("/healthz")).send().await.unwrap();
    assert!(uuid::Uuid::parse_str(res.headers()["x-fapi-interaction-id"].to_str().unwrap()).is_ok());
}

#[tokio::test]
async fn a_body_that_stalls_gets_408() {
    let stack = Stack::start_with(|o| o.request_timeout_ms = 1000);
    let raw = raw_exchange(
        stack.gw.proc.url.clone(),
        "POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 100\r\n\r\ngrant_type=",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 408"), "{raw}");
    assert!(raw.contains("application/problem+json") && raw.contains("/problems/request_timeout"), "{raw}");
}

#[tokio::test]
async fn core_failures_are_502_or_504_without_internals() {
    // Core down: connection refused.
    let stack = Stack::start_with(|o| o.core_url = "http://127.0.0.1:9".into());
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    let res = http().get(stack.gw.url("/v1/products")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.headers()["retry-after"], "1", "a 502 says when to retry");
    let body = assert_problem(res, 502, "core_unavailable").await;
    assert!(!body.to_string().contains("127.0.0.1"), "no upstream address in problems: {body}");
    let ready = http().get(stack.gw.url("/readyz")).send().await.unwrap();
    assert!(ready.headers().contains_key("retry-after"), "a 503 says when to retry");
    assert_problem(ready, 503, "service_unavailable").await;

    // Core hangs: the core call times out (1 s in tests).
    let (hung, _h) = hanging_core();
    let stack = Stack::start_with(|o| o.core_url = hung.clone());
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    let res = http().get(stack.gw.url("/v1/products")).bearer_auth(&token).send().await.unwrap();
    let body = assert_problem(res, 504, "core_timeout").await;
    assert!(!body.to_string().contains(&hung));

    // The whole request has a limit shorter than the core's: the gateway's own 504.
    let stack = Stack::start_with(|o| {
        o.core_url = hung.clone();
        o.request_timeout_ms = 300;
    });
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    let res = http().get(stack.gw.url("/v1/products")).bearer_auth(&token).send().await.unwrap();
    assert_problem(res, 504, "gateway_timeout").await;
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let stack = Stack::start();
    let client = http();
    assert_eq!(client.get(stack.gw.url("/healthz")).send().await.unwrap().status(), 200);
    let ready: serde_json::Value = client.get(stack.gw.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["partners"], 2);

    let token = stack.gw.partner("ptn_alpha").access_token().await;
    assert_eq!(client.get(stack.gw.url("/v1/products")).bearer_auth(&token).send().await.unwrap().status(), 200);
    let metrics = client.get(stack.gw.ops_url("/metrics")).send().await.unwrap().text().await.unwrap();
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("scenegate_http_requests_total")
                && l.contains("partner=\"ptn_alpha\"")
                && l.contains("route=\"/v1/products\"")
        })
        .unwrap_or_else(|| panic!("no request counter for ptn_alpha:\n{metrics}"));
    assert!(line.contains("status=\"200\""), "{line}");
    assert!(metrics.contains("scenegate_http_request_duration_seconds_bucket"), "gateway latency histogram");
    assert!(metrics.contains("# HELP scenegate_http_requests_total"), "metrics explain themselves");
    assert!(metrics.lines().any(|l| l.starts_with("scenegate_build_info{version=")), "build info");
    assert!(metrics.lines().any(|l| l.starts_with("process_resident_memory_bytes ")), "process metrics");
    assert!(
        metrics.lines().any(|l| l.starts_with("scenegate_token_requests_total{")
            && l.contains("client_id=\"ptn_alpha\"")
            && l.contains("outcome=\"issued\"")),
        "token traffic by client id:\n{metrics}"
    );
    assert!(metrics.contains("scenegate_core_request_duration_seconds_bucket"), "core latency histogram");
}

/// One access-log line per request, failures included: the request id a partner quotes finds
/// the partner, the route, the status and the problem type in one grep.
#[tokio::test]
async fn every_request_leaves_one_access_log_line_with_its_ids_and_outcome() {
    let stack = Stack::start();
    let alpha = stack.gw.partner("ptn_alpha");
    let token = alpha.access_token().await;
    let res = http()
        .get(stack.gw.url("/v1/products/prd_NOPE"))
        .bearer_auth(&token)
        .header("x-request-id", "quote-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let interaction = res.headers()["x-fapi-interaction-id"].to_str().unwrap().to_owned();
    let found = crate::support::eventually(std::time::Duration::from_secs(2), || async {
        stack.gw.log().lines().any(|l| l.contains("quote-me-42"))
    })
    .await;
    assert!(found, "{}", stack.gw.log());
    let log = stack.gw.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("quote-me-42") && l.contains("status=")).collect();
    assert_eq!(lines.len(), 1, "exactly one access line: {lines:?}");
    let line = lines[0];
    for needle in [
        "partner=ptn_alpha".to_owned(),
        "route=/v1/products/{product_id}".to_owned(),
        "status=404".to_owned(),
        "problem=not_found".to_owned(),
        format!("interaction_id={interaction}"),
    ] {
        assert!(line.contains(&needle), "{needle} missing from {line}");
    }
    assert!(!log.contains(&token), "the token never reaches the log");
}

#[tokio::test]
async fn every_problem_type_a_partner_receives_resolves_at_the_gateway() {
    let stack = Stack::start();
    // A problem the gateway really sends: its `type` names a page on the gateway.
    let res = http().get(stack.gw.url("/v1/nowhere")).send().await.unwrap();
    let body = assert_problem(res, 404, "not_found").await;
    let slug = body["type"].as_str().unwrap().rsplit('/').next().unwrap().to_owned();
    let page = http().get(stack.gw.url(&format!("/problems/{slug}"))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(page.headers().contains_key("content-security-policy"));
    let html = page.text().await.unwrap();
    assert!(html.contains("No such resource") && html.contains("**404.**"), "{html}");

    // Tools ask for JSON: the same text, for every type.
    let all: serde_json::Value = http()
        .get(stack.gw.url("/problems"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let all = all.as_array().unwrap();
    assert!(all.len() > 30, "the whole catalogue");
    for entry in all {
        assert!(entry["type"].as_str().unwrap().ends_with(&format!("/problems/{}", entry["slug"].as_str().unwrap())));
        assert!(!entry["description"].as_str().unwrap().is_empty(), "{entry}");
    }
    let one: serde_json::Value = http()
        .get(stack.gw.url("/problems/signature_replayed"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["type"], "https://scenegate.dev/problems/signature_replayed");
    assert_problem(http().get(stack.gw.url("/problems/no_such_type")).send().await.unwrap(), 404, "not_found").await;
}
