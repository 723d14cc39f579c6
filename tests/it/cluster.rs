//! Cluster mode: three instances on one PostgreSQL database behave as one gateway. Writes
//! through one are seen by the others at once; single-use values are single-use across the
//! cluster; one `Idempotency-Key` makes one payment whichever instances it reaches.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{
    Gateway, assert_problem,
    cluster::{Cluster, INSTANCES},
    customer::{
        ASSERTION_TYPE, Authorised, REDIRECT_URI, a2_partners, authorise, authorise_consent, payments_partners, tokens,
    },
    http,
    payments::{authorise_payment, client_token, ledger, pay_partner_toml, sign},
};

async fn accounts(gw: &Gateway, token: &str) -> reqwest::Response {
    http().get(gw.url("/v1/accounts")).bearer_auth(token).send().await.unwrap()
}

/// Sends the same request to every instance at once; returns the statuses in instance order.
async fn to_all<F, Fut>(cluster: &Cluster, send: F) -> Vec<u16>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response> + Send + 'static,
{
    let tasks: Vec<_> = (0..INSTANCES).map(|i| tokio::spawn(send(cluster.gw(i).proc.url.clone()))).collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap().status().as_u16());
    }
    statuses
}

/// A consent of `login`'s, created and approved through instance 0, its code exchanged at
/// instance `exchange_at`: the flow and its access token.
async fn consented(cluster: &Cluster, login: &str, exchange_at: usize) -> (Authorised, String) {
    let partner = cluster.gw(0).partner("ptn_alpha");
    let consent_id = partner.create_consent().await;
    let flow = authorise_consent(&partner, &cluster.gw(0).issuer(), login, consent_id).await;
    let exchanging = cluster.gw(exchange_at).partner("ptn_alpha");
    let access = tokens(&exchanging, &flow.code, &flow.verifier).await["access_token"].as_str().unwrap().to_owned();
    (flow, access)
}

/// The next call with `access` to every instance is refused: its consent is revoked.
async fn consent_revoked_everywhere(cluster: &Cluster, access: &str) {
    for i in 0..INSTANCES {
        let body = assert_problem(accounts(cluster.gw(i), access).await, 403, "consent_inactive").await;
        assert_eq!(body["consent_status"], "revoked", "instance {i}");
    }
}

fn successes(statuses: &[u16]) -> usize {
    statuses.iter().filter(|s| (200..300).contains(*s)).count()
}

#[tokio::test]
async fn what_one_instance_writes_the_others_see_and_a_revocation_bites_on_every_instance() {
    let Some(cluster) = Cluster::start(|o| o.partners = a2_partners()).await else { return };
    // The consent is created through instance 0, pushed and approved through instance 1,
    // its code exchanged at instance 2: one flow, three instances.
    let on = |i: usize| cluster.gw(i).partner("ptn_alpha");
    let consent_id = on(0).create_consent().await;
    let flow = authorise_consent(&on(1), &cluster.gw(1).issuer(), "C0001", consent_id).await;
    let issued = tokens(&on(2), &flow.code, &flow.verifier).await;
    let access = issued["access_token"].as_str().unwrap().to_owned();
    for i in 0..INSTANCES {
        assert_eq!(accounts(cluster.gw(i), &access).await.status(), 200, "instance {i} honours the token");
        assert_eq!(on(i).read_consent(&flow.consent_id).await["status"], "authorised", "instance {i}");
    }

    // The partner revokes through instance 1; the very next call to any instance is refused.
    let token = on(1).consents_token().await;
    let res = http()
        .delete(cluster.gw(1).url(&format!("/v1/consents/{}", flow.consent_id)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    consent_revoked_everywhere(&cluster, &access).await;
}

/// Every instance keeps consents and live tokens between changes: read through all three
/// (each keeps what it read), changed through one, refused by all on the next call.
#[tokio::test]
async fn what_every_instance_keeps_never_outlives_a_change_made_through_another() {
    use crate::support::customer::csrf;
    // About thirty calls of one partner in a second or two: more than the default limit
    // (burst 20, 10 a second) when the machine is quick, and the limit is not under test.
    let unthrottled = a2_partners()
        .into_iter()
        .map(|(stem, toml)| (stem, toml + "\n[rate_limit]\nrequests_per_second = 1000\nburst = 1000\n"))
        .collect();
    let Some(cluster) = Cluster::start(|o| o.partners = unthrottled).await else { return };
    let on = |i: usize| cluster.gw(i).partner("ptn_alpha");
    let read_everywhere = |access: String| {
        let cluster = &cluster;
        async move {
            for i in 0..INSTANCES {
                for _ in 0..2 {
                    assert_eq!(accounts(cluster.gw(i), &access).await.status(), 200, "instance {i}");
                }
            }
        }
    };

    // The customer revokes on the dashboard (instance 0).
    let (flow, access) = consented(&cluster, "C0001", 1).await;
    read_everywhere(access.clone()).await;
    let (status, dashboard) = flow.customer.get(&cluster.gw(0).url("/customer/consents")).await;
    assert_eq!(status, 200);
    let token = csrf(&dashboard);
    let res = flow.customer.post(&format!("/customer/consents/{}/revoke", flow.consent_id), &[("csrf", &token)]).await;
    assert_eq!(res.status(), 303);
    consent_revoked_everywhere(&cluster, &access).await;

    // A replayed authorisation code (instance 2) revokes the tokens it gave.
    let (flow, access) = consented(&cluster, "C0002", 0).await;
    read_everywhere(access.clone()).await;
    assert_problem(on(2).exchange(&flow.code, &flow.verifier).await, 400, "invalid_grant").await;
    for i in 0..INSTANCES {
        let body = assert_problem(accounts(cluster.gw(i), &access).await, 401, "invalid_token").await;
        assert_eq!(body["detail"], "the access token has been revoked", "instance {i}");
    }
}

/// Without Redis no instance can tell the others of a change: consents are read from the
/// database (calls keep working) and a revocation is refused until Redis returns, never
/// made behind the others' backs.
#[tokio::test]
async fn without_redis_consents_are_read_from_the_database_and_a_revocation_waits_for_it() {
    use crate::support::fault_proxy::Mode;
    let Some(cluster) = Cluster::start(|o| o.partners = a2_partners()).await else { return };
    let (flow, access) = consented(&cluster, "C0001", 1).await;
    let consents_token = cluster.gw(1).partner("ptn_alpha").consents_token().await;
    let revoke = |i: usize| {
        http()
            .delete(cluster.gw(i).url(&format!("/v1/consents/{}", flow.consent_id)))
            .bearer_auth(consents_token.clone())
            .send()
    };
    for i in 0..INSTANCES {
        assert_eq!(accounts(cluster.gw(i), &access).await.status(), 200, "instance {i} keeps it");
    }

    cluster.set(&cluster.redis, Mode::Blackhole);
    for i in 0..INSTANCES {
        assert_eq!(accounts(cluster.gw(i), &access).await.status(), 200, "instance {i} reads the database");
    }
    let res = revoke(1).await.unwrap();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "service_unavailable").await;
    // Not revoked behind the others' backs (the reads go to the database now).
    assert_eq!(accounts(cluster.gw(0), &access).await.status(), 200);

    cluster.set(&cluster.redis, Mode::Pass);
    let revoked = crate::support::eventually(std::time::Duration::from_secs(30), || async {
        revoke(2).await.unwrap().status() == 204
    })
    .await;
    assert!(revoked, "the revocation is made once Redis is back");
    consent_revoked_everywhere(&cluster, &access).await;
}

#[tokio::test]
async fn a_tokens_signature_verifies_on_every_instance_and_all_publish_one_key_set() {
    let Some(cluster) = Cluster::start(|_| {}).await else { return };
    let mut sets = BTreeSet::new();
    for i in 0..INSTANCES {
        let jwks: Value =
            http().get(cluster.gw(i).url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        sets.insert(jwks.to_string());
    }
    assert_eq!(sets.len(), 1, "one key set across the cluster: {sets:?}");
    let token = cluster.gw(2).partner("ptn_alpha").access_token().await;
    for i in 0..INSTANCES {
        let res = http().get(cluster.gw(i).url("/v1/products")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(res.status(), 200, "a token from instance 2 works on instance {i}");
    }
}

#[tokio::test]
async fn single_use_values_are_single_use_across_the_cluster() {
    let Some(cluster) = Cluster::start(|o| o.partners = a2_partners()).await else { return };
    let alpha = cluster.gw(0).partner("ptn_alpha");

    // One client assertion (one `jti`) at all three token endpoints at once.
    let assertion = alpha.assertion();
    let statuses = to_all(&cluster, |base| {
        let form = [
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion.clone()),
            ("scope", "products:read".to_owned()),
        ];
        async move { http().post(format!("{base}/oauth2/token")).form(&form).send().await.unwrap() }
    })
    .await;
    assert_eq!(successes(&statuses), 1, "one assertion, one token: {statuses:?}");

    // One authorisation code redeemed at all three at once.
    let flow = authorise(&alpha, &cluster.gw(0).issuer(), "C0002").await;
    let statuses = to_all(&cluster, |base| {
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", cluster.gw(0).partner("ptn_alpha").assertion()),
            ("code", flow.code.clone()),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("code_verifier", flow.verifier.clone()),
        ];
        async move { http().post(format!("{base}/oauth2/token")).form(&form).send().await.unwrap() }
    })
    .await;
    // Redeemed at most once. A code presented again is a leak: the gateway refuses it and
    // revokes what it issued (RFC 6749 §4.1.2), so when a replay lands before the winner has
    // recorded its tokens, no one gets tokens at all; never two.
    assert!(successes(&statuses) <= 1, "one code, at most one exchange: {statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 400).count() >= INSTANCES - 1, "the replays are refused: {statuses:?}");

    // One pushed request (`request_uri`) approved at all three at once: one code comes back.
    let consent_id = alpha.create_consent().await;
    let pushed = alpha.push(consent_id).await;
    let customer = crate::support::customer::Customer::new(&cluster.gw(0).issuer());
    let page = customer.consent_page(&customer.authorize_url("ptn_alpha", &pushed.request_uri), "C0003").await;
    let accounts_on_page = crate::support::customer::selectable_accounts(&page);
    let csrf = crate::support::customer::csrf(&page);
    // The customer's session cookie is the same browser's on every instance (one host).
    let statuses = to_all(&cluster, |base| {
        let mut form = vec![
            ("csrf", csrf.clone()),
            ("client_id", "ptn_alpha".to_owned()),
            ("request_uri", pushed.request_uri.clone()),
            ("decision", "approve".to_owned()),
        ];
        form.push(("account", accounts_on_page[0].clone()));
        let browser = customer.browser.clone();
        async move { browser.post(format!("{base}/oauth2/authorize/decision")).form(&form).send().await.unwrap() }
    })
    .await;
    let redirected_with_code = statuses.iter().filter(|s| **s == 303).count();
    assert_eq!(redirected_with_code, 1, "one request_uri, one decision: {statuses:?}");
}

#[tokio::test]
async fn a_one_time_code_is_accepted_once_across_the_cluster() {
    let Some(cluster) = Cluster::start(|o| o.partners = payments_partners()).await else { return };
    let alpha = cluster.gw(0).partner("ptn_alpha");
    let consent_id = crate::support::customer::create_payment_consent(
        &alpha,
        json!({"type": "single", "instructed_amount": {"amount": "12.50", "currency": "CNY"},
               "creditor": {"merchant": "skytrip"}, "remittance_reference": "ORDER-1",
               "scenario": {"code": "ecommerce_goods"}}),
    )
    .await;
    let (_verifier, challenge) = crate::support::customer::pkce();
    let res = alpha.par_with(&consent_id, &challenge, &[("scope", "payments:initiate")]).await;
    let request_uri = res.json::<Value>().await.unwrap()["request_uri"].as_str().unwrap().to_owned();
    let customer = crate::support::customer::Customer::new(&cluster.gw(1).issuer());
    let page = customer.consent_page(&customer.authorize_url("ptn_alpha", &request_uri), "13800000001").await;
    let debtor = crate::support::customer::debtor_accounts(&page)[0].0.clone();
    let res = customer.approve_payment(&page, Some(&debtor)).await;
    assert_eq!(res.status(), 303);
    let next = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, otp_page) = customer.get(&format!("{}{next}", customer.base)).await;
    let code = crate::support::customer::latest_otp(cluster.core_url(), "13800000001").await;
    let csrf = crate::support::customer::csrf(&otp_page);
    let lang = crate::support::customer::input_value(&otp_page, "lang").unwrap();
    let tasks: Vec<_> = (0..INSTANCES)
        .map(|i| {
            let url = cluster.gw(i).url("/oauth2/authorize/otp");
            let form = [("csrf", csrf.clone()), ("lang", lang.clone()), ("otp", code.clone())];
            let browser = customer.browser.clone();
            tokio::spawn(async move {
                let res = browser.post(url).form(&form).send().await.unwrap();
                let location = res.headers().get("location").map(|l| l.to_str().unwrap().to_owned());
                (res.status().as_u16(), location.unwrap_or_default())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    let with_code = answers.iter().filter(|(s, to)| *s == 303 && to.contains("code=")).count();
    assert_eq!(with_code, 1, "one SCA code, one authorisation code for the partner: {answers:?}");
}

fn pay_cluster_partner() -> (String, String) {
    ("pay".into(), roomy(&pay_partner_toml("ptn_pay", "")))
}

/// A partner file with a quota and a daily limit that a burst of test payments never hits.
fn roomy(file: &str) -> String {
    file.replace("[keys]", "[rate_limit]\nrequests_per_second = 1000\nburst = 1000\n\n[keys]")
        .replace("per_day = \"20000.00\"", "per_day = \"1000000.00\"")
}

/// A recurring consent of ptn_pay, authorised through instance 1; returns (id, token).
async fn recurring(cluster: &Cluster) -> (String, String) {
    let partner = cluster.gw(0).partner("ptn_pay");
    let write = client_token(&partner, "payments:write").await;
    let body = json!({
        "type": "recurring", "currency": "CNY",
        "limits": {"per_payment": "10.00", "per_day": "5000.00"},
        "creditor": {"merchant": "skytrip"}, "remittance_reference": "PARKING", "scenario": {"code": "parking"}
    });
    let (status, consent) =
        crate::support::payments::signed(&cluster.gw(0).url("/v1/payment-consents"), &write, "cl-c", &body).await;
    assert_eq!(status, 201, "{consent}");
    let id = consent["consent_id"].as_str().unwrap().to_owned();
    let token = authorise_payment(&cluster.stack, &partner, &id, "13800000001").await;
    (id, token)
}

#[tokio::test]
async fn one_idempotency_key_sent_to_three_instances_makes_one_payment_and_one_posting() {
    let Some(cluster) = Cluster::start(|o| o.partners.push(pay_cluster_partner())).await else { return };
    let (consent_id, token) = recurring(&cluster).await;
    let before = ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();
    let bytes = serde_json::to_vec(
        &json!({"consent_id": consent_id, "instructed_amount": {"amount": "3.00", "currency": "CNY"}}),
    )
    .unwrap();
    let tasks: Vec<_> = (0..30)
        .map(|n| {
            let url = cluster.gw(n % INSTANCES).url("/v1/payments");
            let (token, bytes) = (token.clone(), bytes.clone());
            tokio::spawn(async move {
                let signature = sign(&bytes, crate::support::partner::now());
                let res =
                    crate::support::payments::post_money(&url, &token, &bytes, Some("same-key"), Some(&signature))
                        .await;
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert!(matches!(status, 201 | 409), "a payment or `in flight`: {status} {body}");
        if status == 201 {
            ids.insert(body["payment_id"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(ids.len(), 1, "one payment for one key: {ids:?}");
    let after = ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();
    assert_eq!(after, before + 1, "one posting");

    // 45 copies of one signed request (the same signature) on all three at once: the first
    // copy's in-flight marker (in Redis) tells the others, wherever they land, that it is in
    // flight; none is refused as a replay.
    let signature = sign(&bytes, crate::support::partner::now());
    let copies: Vec<_> = (0..45)
        .map(|n| {
            let url = cluster.gw(n % INSTANCES).url("/v1/payments");
            let (token, bytes, signature) = (token.clone(), bytes.clone(), signature.clone());
            tokio::spawn(async move {
                let res =
                    crate::support::payments::post_money(&url, &token, &bytes, Some("copied-key"), Some(&signature))
                        .await;
                let status = res.status().as_u16();
                (status, res.json::<Value>().await.unwrap_or(Value::Null))
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in copies {
        let (status, body) = t.await.unwrap();
        match status {
            201 => {
                ids.insert(body["payment_id"].as_str().unwrap().to_owned());
            }
            409 => assert_eq!(body["type"], "https://scenegate.dev/problems/idempotency_in_flight", "{body}"),
            _ => panic!("a payment or `in flight`: {status} {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "one payment for the copies: {ids:?}");
    assert_eq!(ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap(), before + 2, "one more posting");
}

/// The payment `n` under `consent_id`, sent to instance `n % 3` with its own key.
async fn pay(cluster: &Cluster, token: &str, consent_id: &str, n: usize) -> Value {
    let body = json!({"consent_id": consent_id, "instructed_amount": {"amount": "1.00", "currency": "CNY"}});
    let (status, payment) = crate::support::payments::signed(
        &cluster.gw(n % INSTANCES).url("/v1/payments"),
        token,
        &format!("hook-pay-{n}"),
        &body,
    )
    .await;
    assert_eq!(status, 201, "{payment}");
    payment
}

/// A recurring payment consent is kept by every instance that paid under it; withdrawn
/// through one, the next payment through any is refused.
#[tokio::test]
async fn a_recurring_consent_withdrawn_through_one_instance_pays_nothing_through_any() {
    let Some(cluster) = Cluster::start(|o| o.partners.push(pay_cluster_partner())).await else { return };
    let (consent_id, token) = recurring(&cluster).await;
    for n in 0..2 * INSTANCES {
        pay(&cluster, &token, &consent_id, n).await;
    }
    let write = client_token(&cluster.gw(1).partner("ptn_pay"), "payments:write").await;
    let res = http()
        .delete(cluster.gw(1).url(&format!("/v1/payment-consents/{consent_id}")))
        .bearer_auth(write)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let body = json!({"consent_id": consent_id, "instructed_amount": {"amount": "1.00", "currency": "CNY"}});
    for i in 0..INSTANCES {
        let url = cluster.gw(i).url("/v1/payments");
        let (status, problem) = crate::support::payments::signed(&url, &token, &format!("after-{i}"), &body).await;
        assert_eq!((status, problem["consent_status"].as_str()), (403, Some("revoked")), "instance {i}: {problem}");
    }
}

#[tokio::test]
async fn each_event_reaches_the_webhook_once_with_three_delivery_workers() {
    let (url, seen) = crate::support::webhooks::receiver(0).await;
    let file = roomy(&crate::support::webhooks::webhook_partner_toml(&url));
    let Some(cluster) = Cluster::start(|o| o.partners.push(("pay".into(), file))).await else { return };
    let (consent_id, token) = recurring(&cluster).await;
    for n in 0..12 {
        pay(&cluster, &token, &consent_id, n).await;
    }
    // Every event the outbox holds for the partner (none acknowledged: it uses webhooks).
    let events_token = client_token(&cluster.gw(0).partner("ptn_pay"), "events:read").await;
    let listed: Value = http()
        .get(cluster.gw(1).url("/v1/events?limit=100"))
        .bearer_auth(&events_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let expected: BTreeSet<String> =
        listed["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_owned()).collect();
    assert!(expected.len() >= 13, "a consent change and a change per payment at least: {listed}");
    let ids = || -> Vec<String> {
        seen.lock().unwrap().iter().map(|(h, _)| h["webhook-id"].to_str().unwrap().to_owned()).collect()
    };
    let all_seen = crate::support::eventually(std::time::Duration::from_secs(30), || async {
        ids().into_iter().collect::<BTreeSet<_>>().is_superset(&expected)
    })
    .await;
    assert!(
        all_seen,
        "every event delivered; missing {:?}",
        expected.difference(&ids().into_iter().collect()).collect::<Vec<_>>()
    );
    let received = ids();
    let distinct: BTreeSet<&String> = received.iter().collect();
    assert_eq!(received.len(), distinct.len(), "no event delivered twice: {received:?}");
}

#[tokio::test]
async fn an_instance_killed_mid_burst_through_all_three_leaves_every_key_one_payment() {
    use crate::payment_crashes::{
        body, burst, crash_options, delay_postings, every_key_one_settled_payment, recurring, the_rest,
        until_a_payment_is_at_the_core,
    };
    let Some(mut cluster) = Cluster::start(crash_options).await else { return };
    let (consent_id, token) = recurring(&cluster.stack).await;
    let before = ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();
    let urls = (0..INSTANCES).map(|i| cluster.gw(i).url("/v1/payments")).collect();
    // The core slow, so that the kill catches payments whose posting is under way.
    delay_postings(cluster.core_url(), 1_000).await;
    let rest = burst(urls, token.clone(), body(&consent_id), 0).await;
    until_a_payment_is_at_the_core(cluster.gw(1)).await;
    // Instance 1 dies with requests in flight; the partner retries every key on the others.
    cluster.others[0].proc.kill();
    delay_postings(cluster.core_url(), 0).await;
    let answers = the_rest(rest).await;
    let lost = answers.iter().filter(|a| a.is_none()).count();
    assert!(lost > 0, "the kill caught no payment in flight at instance 1: {answers:?}");
    every_key_one_settled_payment(&cluster.stack, &consent_id, &token, before).await;
}

#[tokio::test]
async fn a_partners_rate_limit_holds_across_the_cluster() {
    let Some(cluster) = Cluster::start(|o| {
        o.partners = vec![(
            "alpha".into(),
            crate::support::partner_toml("ptn_alpha", "active", "[rate_limit]\nrequests_per_second = 1\nburst = 10\n"),
        )];
    })
    .await
    else {
        return;
    };
    let token = cluster.gw(0).partner("ptn_alpha").access_token().await;
    let mut admitted = 0;
    let mut limited = 0;
    for n in 0..30 {
        let res = http().get(cluster.gw(n % INSTANCES).url("/v1/products")).bearer_auth(&token).send().await.unwrap();
        match res.status().as_u16() {
            200 => admitted += 1,
            429 => {
                assert!(res.headers().contains_key("retry-after"));
                limited += 1;
            }
            other => panic!("{other}"),
        }
    }
    // One burst of 10, less the token request (a call too), plus a cell per second that
    // passes: not three bursts.
    assert!((9..=12).contains(&admitted), "the cluster admits one budget: {admitted} admitted, {limited} limited");
}

#[tokio::test]
async fn without_redis_limits_fall_back_per_instance_and_assertions_are_refused_until_it_returns() {
    use crate::support::fault_proxy::Mode;
    let Some(cluster) = Cluster::start(|_| {}).await else { return };
    let partner = cluster.gw(1).partner("ptn_alpha");
    let token = partner.access_token().await;

    cluster.set(&cluster.redis, Mode::Blackhole);
    // A token request needs its `jti` checked: refused, quickly, never waved through.
    let started = std::time::Instant::now();
    let res = partner.token_with(&partner.assertion(), Some("products:read")).await;
    assert!(res.headers().contains_key("retry-after"));
    let body = assert_problem(res, 503, "service_unavailable").await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "bounded by shared.timeout_ms: {:?}",
        started.elapsed()
    );
    // Calls with a token keep working, limited by each instance alone.
    let res = http().get(cluster.gw(2).url("/v1/products")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let ready: Value = http().get(cluster.gw(2).url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["shared"]["state"], "degraded", "{ready}");
    let metrics = http().get(cluster.gw(2).ops_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("scenegate_shared_degraded 1"), "{metrics}");

    // Redis back: no restart, token requests work again.
    cluster.set(&cluster.redis, Mode::Pass);
    // The client reconnects with a backoff that grew while Redis was silent: allow for it on a
    // loaded CI machine (a deadline, not a wait).
    let recovered = crate::support::eventually(std::time::Duration::from_secs(30), || async {
        partner.token_with(&partner.assertion(), Some("products:read")).await.status() == 200
    })
    .await;
    assert!(recovered, "token requests resume when Redis returns");
    let ready: Value = http().get(cluster.gw(1).url("/readyz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["shared"]["state"], "up", "{ready}");
}

#[tokio::test]
async fn without_postgres_calls_that_need_it_get_503_fast_and_recover_without_restart() {
    use crate::support::fault_proxy::Mode;
    let Some(cluster) = Cluster::start(|o| o.partners = a2_partners()).await else { return };
    let alpha = cluster.gw(0).partner("ptn_alpha");
    let consents_token = alpha.consents_token().await;
    let products_token = alpha.access_token().await;
    let create = |i: usize| {
        let token = consents_token.clone();
        let url = cluster.gw(i).url("/v1/consents");
        async move {
            http()
                .post(url)
                .bearer_auth(token)
                .json(&json!({"permissions": ["ReadAccountsBasic"], "purpose": "budget"}))
                .send()
                .await
                .unwrap()
        }
    };

    cluster.set(&cluster.postgres, Mode::Blackhole);
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..12).map(|n| tokio::spawn(create(n % INSTANCES))).collect();
    for t in tasks {
        let res = t.await.unwrap();
        assert!(res.headers().contains_key("retry-after"));
        assert_problem(res, 503, "service_unavailable").await;
    }
    // Each waits at most storage.acquire_timeout_ms (1 s here) for a connection: no pile-up.
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "answered quickly: {:?}", started.elapsed());
    let ready = http().get(cluster.gw(1).url("/readyz")).send().await.unwrap();
    assert_problem(ready, 503, "service_unavailable").await;
    // What needs no database keeps working.
    let res = http().get(cluster.gw(2).url("/v1/products")).bearer_auth(&products_token).send().await.unwrap();
    assert_eq!(res.status(), 200);

    cluster.set(&cluster.postgres, Mode::Pass);
    let recovered =
        crate::support::eventually(std::time::Duration::from_secs(15), || async { create(1).await.status() == 201 })
            .await;
    assert!(recovered, "consents are created again once PostgreSQL is back");
    assert_eq!(http().get(cluster.gw(0).url("/readyz")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn payments_through_a_postgres_outage_each_resolve_to_one_payment() {
    use crate::payment_crashes::{BURST, body, burst, crash_options, every_key_one_settled_payment, recurring};
    use crate::support::fault_proxy::Mode;
    let Some(cluster) = Cluster::start(crash_options).await else { return };
    let (consent_id, token) = recurring(&cluster.stack).await;
    let before = ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();
    let urls = (0..INSTANCES).map(|i| cluster.gw(i).url("/v1/payments")).collect();
    burst(urls, token.clone(), body(&consent_id), BURST / 8).await;
    // The database goes away with payments in flight: some were recorded, some posted at the
    // core with their record's settlement unwritten, some never started.
    cluster.set(&cluster.postgres, Mode::Reset);
    tokio::time::sleep(std::time::Duration::from_millis(1_500)).await;
    cluster.set(&cluster.postgres, Mode::Pass);
    // Every key retried: one payment each, every payment settled, one posting per completed.
    every_key_one_settled_payment(&cluster.stack, &consent_id, &token, before).await;
}

#[tokio::test]
async fn every_instance_appends_to_one_audit_chain_without_forking_it() {
    let Some(cluster) = Cluster::start(|o| o.partners = a2_partners()).await else { return };
    // Consents created on all three instances at once: each creation appends in its own
    // transaction, racing the others for the chain's head. (Tokens first, one by one: the
    // race under test is the chain's, not the token endpoint's.)
    let token = cluster.gw(0).partner("ptn_alpha").consents_token().await;
    let body = json!({"permissions": ["ReadAccountsBasic"], "purpose": "Audit race"});
    let creations: Vec<_> = (0..12)
        .map(|n| {
            let (url, token, body) = (cluster.gw(n % INSTANCES).url("/v1/consents"), token.clone(), body.clone());
            tokio::spawn(async move {
                let res = http().post(url).bearer_auth(token).json(&body).send().await.unwrap();
                assert_eq!(res.status(), 201);
                res.json::<Value>().await.unwrap()["consent_id"].as_str().unwrap().to_owned()
            })
        })
        .collect();
    let mut consents = BTreeSet::new();
    for c in creations {
        consents.insert(c.await.unwrap());
    }
    let out = cli(cluster.gw(2), &["audit", "tail", "--limit", "1000"]).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout).into_owned();
    let created = t.lines().filter(|l| l.contains("consent.created")).count();
    assert_eq!(created, consents.len(), "{t}");
    // Each instance loaded the same partner files (in its own folder): recorded once.
    let added: Vec<&str> = t.lines().filter(|l| l.contains("partner.added")).collect();
    let partners: BTreeSet<&str> = added.iter().filter_map(|l| l.split_whitespace().nth(4)).collect();
    assert_eq!(added.len(), partners.len(), "one record per partner, not per instance:\n{t}");
    let out = cli(cluster.gw(1), &["audit", "verify"]).await;
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && said.contains("records: OK"), "{said}");
}

/// Runs a staff command against instance `gw`'s config off the runtime: the fault proxies in
/// front of PostgreSQL and Redis run on this test's runtime and must keep forwarding.
async fn cli(gw: &Gateway, args: &[&str]) -> std::process::Output {
    let config = gw.dir.path().join("gateway.toml");
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(crate::support::BIN).args(&args).arg("--config").arg(config).output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn a_dpop_nonce_from_one_instance_is_good_at_every_other() {
    let Some(cluster) = Cluster::start(|o| {
        let dpop = "[dpop]\nrequired = true\nrequire_nonce = true\n";
        o.partners = vec![("alpha".into(), crate::support::partner_toml("ptn_alpha", "active", dpop))];
    })
    .await
    else {
        return;
    };
    let token_request = |i: usize, nonce: Option<&str>| {
        let gw = cluster.gw(i);
        let partner = gw.partner("ptn_alpha");
        // The proof names the cluster's token endpoint (its `public_url`), wherever it is sent.
        let htu = partner.audience.clone().unwrap_or_else(|| gw.token_endpoint());
        let proof = crate::tokens::dpop_proof_with_nonce("test-es256", "POST", &htu, None, nonce);
        let form = vec![
            ("grant_type", "client_credentials".to_owned()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", partner.assertion()),
            ("scope", "products:read".to_owned()),
        ];
        http().post(gw.token_endpoint()).header("DPoP", proof).form(&form).send()
    };
    let res = token_request(0, None).await.unwrap();
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_problem(res, 400, "use_dpop_nonce").await;
    for i in 1..INSTANCES {
        let res = token_request(i, Some(&nonce)).await.unwrap();
        assert_eq!(res.status(), 200, "instance {i} accepts instance 0's nonce");
    }
}

/// An instance cut off from PostgreSQL in the middle of a batch, its transaction holding the
/// consent's and the partner's spend counters (which every instance's payments under them
/// lock), holds up the others' payments no longer than `storage.statement_timeout_ms`: the
/// server ends the transaction its instance left idle, though the connection still looks
/// open to it, and payments through the other instances go on while the instance is still
/// cut off. Healed, every key of the payments it held resolves to one payment and the books
/// balance. (Fails without `idle_in_transaction_session_timeout` on the gateway's
/// connections: the held counters are never let go while the partition lasts.)
#[tokio::test]
async fn an_instance_cut_off_mid_batch_holds_up_the_others_payments_no_longer_than_a_statement() {
    use crate::payment_crashes::{
        body, burst, crash_options, every_key_one_settled_payment_through, recurring, resolve,
    };
    use crate::support::fault_proxy::Mode;
    use std::time::{Duration, Instant};
    let Some(cluster) = Cluster::start(|o| {
        crash_options(o);
        o.storage_toml.push_str("statement_timeout_ms = 2000\n");
        o.request_timeout_ms = 6_000;
        o.extra_toml = o.extra_toml.replace("idempotency_lease_secs = 4", "idempotency_lease_secs = 7");
    })
    .await
    else {
        return;
    };
    let (consent_id, token) = recurring(&cluster.stack).await;
    let bytes = body(&consent_id);
    // The counters exist once a payment has counted against them.
    pay(&cluster, &token, &consent_id, 1).await;
    let before = ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();

    // Instance 0's batch is made to wait for the partner's counter, then cut off, then given
    // the counter: its transaction holds the counters, its answers swallowed by the partition.
    let db = sqlx::PgPool::connect(cluster._db.url()).await.unwrap();
    let mut holder = db.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM partner_spend WHERE partner_id = 'ptn_pay' FOR UPDATE")
        .fetch_all(&mut *holder)
        .await
        .unwrap();
    burst(vec![cluster.gw(0).url("/v1/payments")], token.clone(), bytes.clone(), 0).await;
    let sessions = |state: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid
                 WHERE a.datname = current_database() AND l.relation = 'partner_spend'::regclass
                   AND l.mode = 'RowExclusiveLock' AND l.granted AND a.state = $1 AND a.pid <> pg_backend_pid()",
            )
            .bind(state)
            .fetch_all(&db)
            .await
            .unwrap()
        }
    };
    let waiting = crate::support::eventually(Duration::from_secs(5), || async {
        !sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE 'INSERT INTO partner_spend%'",
        )
        .fetch_all(&db)
        .await
        .unwrap()
        .is_empty()
    })
    .await;
    // (Its batch's wait, not another: the audit absorbers wait for each other's chain head.)
    assert!(waiting, "instance 0's batch waits for the partner's counter");
    cluster.cut_off(0, Mode::Blackhole);
    holder.commit().await.unwrap();
    // Looked for well within the 2 s the server gives an idle transaction.
    let deadline = Instant::now() + Duration::from_millis(1_500);
    let stranded = loop {
        let found = sessions("idle in transaction").await;
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    if stranded.is_empty() {
        let seen: Vec<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT coalesce(state, ''), wait_event_type, left(query, 60) FROM pg_stat_activity WHERE datname = current_database()",
        )
        .fetch_all(&db)
        .await
        .unwrap();
        panic!("instance 0's transaction holds the counters with its instance cut off: {seen:#?}");
    }
    let cut_at = Instant::now();

    // The other instances' payments under the same counters go on, the instance still cut off:
    // retried as a partner would (a wait for the counters cut by its own statement timeout
    // answers 503).
    let other_side = resolve(&cluster.gw(1).url("/v1/payments"), &token, &bytes, "other-side").await;
    let waited = cut_at.elapsed();
    assert!(waited < Duration::from_secs(5), "held up {waited:?}, more than the statement timeout's bound");
    let gone: Vec<i32> = sessions("idle in transaction").await.into_iter().filter(|p| stranded.contains(p)).collect();
    assert!(gone.is_empty(), "the server ended the cut-off instance's transaction: {gone:?} still there");
    assert_eq!(other_side["status"], "completed", "{other_side}");
    eprintln!("instance 1 paid {waited:?} after instance 0 was cut off holding the counters");

    // Healed: every key of the burst instance 0 held resolves to one payment; the books balance.
    cluster.cut_off(0, Mode::Pass);
    every_key_one_settled_payment_through(
        &cluster.gw(0).url("/v1/payments"),
        &cluster.stack,
        &consent_id,
        &token,
        before + 1,
    )
    .await;
}
