//! A slow, hung or vanished core, through the tests' fault proxy: calls end within the core
//! timeout, then the circuit opens and calls fail at once; a probe closes it when the core
//! is back. No request waits forever and nothing piles up.

use std::time::{Duration, Instant};

use crate::support::{
    Stack, assert_problem, core_mock,
    fault_proxy::{FaultProxy, Mode},
    http,
};

/// A core mock behind a fault proxy, and a gateway that reaches the core through it with a
/// 500 ms core timeout and a circuit that opens after 3 failures for 5 s.
async fn stack() -> (Stack, FaultProxy) {
    let core_dir = tempfile::tempdir().unwrap();
    let core = tokio::task::spawn_blocking({
        let dir = core_dir.path().to_owned();
        move || core_mock(&dir)
    })
    .await
    .unwrap();
    let target: std::net::SocketAddr = core.url.trim_start_matches("http://").parse().unwrap();
    let proxy = FaultProxy::start(target).await;
    let mut opts = crate::support::GatewayOptions::new(&format!("http://{}", proxy.addr));
    let roomy = "[rate_limit]\nrequests_per_second = 1000\nburst = 1000\n";
    opts.partners = vec![("alpha".into(), crate::support::partner_toml("ptn_alpha", "active", roomy))];
    let gw = tokio::task::spawn_blocking(move || {
        let gw = crate::support::Gateway::start(opts);
        // The core section with breaker settings replaces the default one.
        let config = gw.dir.path().join("gateway.toml");
        let text = std::fs::read_to_string(&config).unwrap().replace(
            "timeout_ms = 1000\n",
            "timeout_ms = 500\nconnect_timeout_ms = 200\nbreaker_failures = 3\nbreaker_open_ms = 5000\n",
        );
        std::fs::write(&config, text).unwrap();
        let mut gw = gw;
        gw.crash_and_restart();
        gw
    })
    .await
    .unwrap();
    (Stack { gw, core, core_dir }, proxy)
}

async fn product(stack: &Stack, token: &str) -> reqwest::Response {
    http().get(stack.gw.url("/v1/products/prd_DEP-3M-CNY")).bearer_auth(token).send().await.unwrap()
}

#[tokio::test]
async fn a_blackholed_core_times_out_then_fails_fast_then_recovers() {
    let (stack, proxy) = stack().await;
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    assert_eq!(product(&stack, &token).await.status(), 200);

    proxy.set(Mode::Blackhole);
    // Until the circuit opens: each call waits out the core timeout (and its one retry), no longer.
    let mut timeouts = 0;
    let opened = loop {
        let started = Instant::now();
        let res = product(&stack, &token).await;
        let took = started.elapsed();
        match res.status().as_u16() {
            504 => {
                assert!(took < Duration::from_secs(3), "bounded by the core timeout: {took:?}");
                timeouts += 1;
                assert!(timeouts <= 3, "the circuit opens after 3 failures");
            }
            503 => break res,
            other => panic!("{other}"),
        }
    };
    assert!(opened.headers().contains_key("retry-after"));
    assert_problem(opened, 503, "core_unavailable").await;
    // Open: 200 concurrent calls all answered, none parked on the hung core. Only a probe
    // (one per open period, if the burst outlasts one) waits for the core.
    let calls: Vec<_> = (0..200)
        .map(|_| {
            let (url, token) = (stack.gw.url("/v1/products/prd_DEP-3M-CNY"), token.clone());
            tokio::spawn(async move { http().get(url).bearer_auth(token).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut probes = 0;
    for c in calls {
        match c.await.unwrap() {
            503 => {}
            504 => probes += 1,
            other => panic!("{other}"),
        }
    }
    assert!(probes <= 2, "calls fail fast while the circuit is open; {probes} waited for the core");
    let ready: serde_json::Value = http().get(stack.gw.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["status"], 503, "not ready while the core is cut off: {ready}");
    let metrics = http().get(stack.gw.ops_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("scenegate_core_breaker_state{connector=\"core\"} 2"), "{metrics}");

    // The core is back: after the open period a probe closes the circuit.
    proxy.set(Mode::Pass);
    let recovered =
        crate::support::eventually(Duration::from_secs(15), || async { product(&stack, &token).await.status() == 200 })
            .await;
    assert!(recovered, "reads succeed again once the core answers");
    let ready: serde_json::Value = http().get(stack.gw.url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["core"]["systems"][0]["circuit"], "closed", "{ready}");
}

#[tokio::test]
async fn a_core_that_resets_connections_gets_an_answer_never_a_hang() {
    let (stack, proxy) = stack().await;
    let token = stack.gw.partner("ptn_alpha").access_token().await;
    proxy.set(Mode::Reset);
    for _ in 0..6 {
        let started = Instant::now();
        let status = product(&stack, &token).await.status().as_u16();
        assert!(matches!(status, 502..=504), "{status}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }
}
