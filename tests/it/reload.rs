//! Partner files are reloaded without a restart; a broken edit keeps the last good set.

use std::time::Duration;

use crate::support::{Stack, eventually, http, partner_toml};

#[tokio::test]
async fn a_new_partner_can_get_tokens_within_two_seconds() {
    let stack = Stack::start();
    let gamma = stack.gw.partner("ptn_gamma");
    let before = gamma.token_with(&gamma.assertion(), None).await.status();
    assert_eq!(before, 401, "unknown before onboarding");

    stack.gw.write_partner("gamma", &partner_toml("ptn_gamma", "active", ""));
    let onboarded = eventually(Duration::from_secs(2), || async {
        gamma.token_with(&gamma.assertion(), None).await.status() == 200
    })
    .await;
    assert!(onboarded, "new partner not live within 2 s");
}

#[tokio::test]
async fn an_invalid_change_is_logged_precisely_and_the_last_good_set_keeps_serving() {
    let stack = Stack::start();
    let beta = stack.gw.partner("ptn_beta");
    let token = beta.access_token().await;

    // Suspending beta and breaking the file in the same edit: nothing of it may apply.
    let broken = partner_toml("ptn_beta", "suspended", "rate_limt = 5\n");
    stack.gw.write_partner("beta", &broken);
    let logged = eventually(Duration::from_secs(3), || async { stack.gw.log().contains("beta.toml:") }).await;
    assert!(logged, "the rejected reload must be logged with file:line; log was:\n{}", stack.gw.log());
    let log = stack.gw.log();
    let line = log.lines().find(|l| l.contains("beta.toml:")).unwrap();
    assert!(line.contains("rate_limt"), "the error names the field: {line}");

    let res = http().get(stack.gw.url("/v1/products?limit=1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200, "beta keeps its last good config (active)");
    assert_eq!(beta.token_with(&beta.assertion(), None).await.status(), 200);

    // Fixed, the suspension applies.
    stack.gw.write_partner("beta", &partner_toml("ptn_beta", "suspended", ""));
    let applied = eventually(Duration::from_secs(2), || async {
        http().get(stack.gw.url("/v1/products?limit=1")).bearer_auth(&token).send().await.unwrap().status() == 403
    })
    .await;
    assert!(applied);
}

#[tokio::test]
async fn secrets_never_reach_the_logs() {
    let stack = Stack::start_with(|o| o.rust_log = "debug,hyper=info,h2=info,sqlx=info");
    let alpha = stack.gw.partner("ptn_alpha");
    let assertion = alpha.assertion();
    let res = alpha.token_with(&assertion, None).await;
    let token = res.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let res = http().get(stack.gw.url("/v1/products?limit=1")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // A refused one too: error paths log more.
    let _ = http().get(stack.gw.url("/v1/products")).bearer_auth(format!("{token}x")).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let log = stack.gw.log();
    assert!(log.contains("access token issued"), "debug logging was on: {log}");
    let signature = |jwt: &str| jwt.rsplit('.').next().unwrap().to_owned();
    for secret in [signature(&assertion), signature(&token)] {
        assert!(!log.contains(&secret), "a credential reached the logs");
    }
    let keys = std::fs::read_to_string(stack.gw.signing_keys_file()).unwrap();
    let private: serde_json::Value = serde_json::from_str(&keys).unwrap();
    assert!(!log.contains(private["keys"][0]["private_pkcs8"].as_str().unwrap()));
}
