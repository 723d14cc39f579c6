use std::sync::Arc;

use super::*;

async fn store() -> (crate::store::test_support::TestStores, Arc<dyn IdempotencyStore>) {
    let stores = crate::store::test_support::current().await;
    let store = stores.idempotency.clone();
    (stores, store)
}

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::parse(Some(k)).unwrap()
}

fn answer() -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![("content-type".into(), "application/json".into())],
        body: b"{}".to_vec(),
    }
}

#[test]
fn keys_are_checked() {
    assert_eq!(IdempotencyKey::parse(None), Err(KeyError::Missing));
    for bad in ["", "has space", "é", &"x".repeat(256), "semi;colon"] {
        assert_eq!(IdempotencyKey::parse(Some(bad)), Err(KeyError::Malformed), "{bad:?}");
    }
    for good in ["a", "ord-2026.12.03:0001_x", &"x".repeat(255)] {
        assert!(IdempotencyKey::parse(Some(good)).is_ok(), "{good:?}");
    }
}

#[test]
fn the_fingerprint_covers_method_path_and_exact_body() {
    let base = fingerprint("POST", "/v1/payments", b"{\"a\":1}");
    assert_ne!(base, fingerprint("POST", "/v1/payments", b"{\"a\": 1}"));
    assert_ne!(base, fingerprint("POST", "/v1/payment-consents", b"{\"a\":1}"));
    assert_ne!(base, fingerprint("PUT", "/v1/payments", b"{\"a\":1}"));
    assert_eq!(base, fingerprint("POST", "/v1/payments", b"{\"a\":1}"));
}

async fn claim_then_replay_then_reuse_is_refused() {
    let (_dir, s) = store().await;
    let Begin::Claimed(claim) = s.begin("ptn_a", &key("k1"), "fp", 100).await.unwrap() else { panic!("fresh key") };
    assert_eq!(claim.resume, None);
    assert_eq!(s.begin("ptn_a", &key("k1"), "fp", 101).await.unwrap(), Begin::InFlight { retry_after: 29 });
    s.link(&claim, "pay_1").await.unwrap();
    s.complete(&claim, &answer(), 102).await.unwrap();
    assert_eq!(s.begin("ptn_a", &key("k1"), "fp", 103).await.unwrap(), Begin::Replay(answer()));
    assert_eq!(s.begin("ptn_a", &key("k1"), "other", 103).await.unwrap(), Begin::Reused);
    // Scoped to the partner: another partner's same key is its own.
    assert!(matches!(s.begin("ptn_b", &key("k1"), "fp", 103).await.unwrap(), Begin::Claimed(_)));
    // Forgotten after the retention: a new claim, with nothing of the old one (no resource to
    // resume, no answer to replay).
    let later = 100 + RETENTION_SECS;
    let Begin::Claimed(anew) = s.begin("ptn_a", &key("k1"), "other", later).await.unwrap() else {
        panic!("expired key")
    };
    assert_eq!(anew.resume, None);
    assert!(matches!(s.begin("ptn_a", &key("k1"), "other", later).await.unwrap(), Begin::InFlight { .. }));
}

async fn a_dead_holders_claim_is_taken_over_with_its_resource() {
    let (_dir, s) = store().await;
    let Begin::Claimed(claim) = s.begin("ptn_a", &key("k"), "fp", 100).await.unwrap() else { panic!() };
    s.link(&claim, "pay_1").await.unwrap();
    // The holder crashed: nothing completes. Until the lease lapses others wait...
    assert!(matches!(s.begin("ptn_a", &key("k"), "fp", 100 + LEASE_SECS - 1).await.unwrap(), Begin::InFlight { .. }));
    // ...then one takes it over and learns what to resume.
    let Begin::Claimed(again) = s.begin("ptn_a", &key("k"), "fp", 100 + LEASE_SECS).await.unwrap() else { panic!() };
    assert_eq!(again.resume.as_deref(), Some("pay_1"));
    assert!(matches!(s.begin("ptn_a", &key("k"), "fp", 100 + LEASE_SECS).await.unwrap(), Begin::InFlight { .. }));
}

async fn a_released_claim_frees_the_key_unless_it_created_something() {
    let (_dir, s) = store().await;
    let Begin::Claimed(claim) = s.begin("ptn_a", &key("k"), "fp", 100).await.unwrap() else { panic!() };
    s.release(&claim).await.unwrap();
    let Begin::Claimed(claim) = s.begin("ptn_a", &key("k"), "other", 101).await.unwrap() else { panic!() };
    s.link(&claim, "pay_1").await.unwrap();
    s.release(&claim).await.unwrap();
    assert!(matches!(s.begin("ptn_a", &key("k"), "other", 102).await.unwrap(), Begin::InFlight { .. }));
}

async fn fifty_concurrent_first_uses_give_one_claim() {
    let (_dir, s) = store().await;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.begin("ptn_a", &key("same"), "fp", 100).await.unwrap() })
        })
        .collect();
    let mut claimed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Begin::Claimed(_) => claimed += 1,
            Begin::InFlight { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

/// Requests of many keys at once (and the same key of two partners) each get their own
/// claim and, after answering, their own replay (a store that groups writes must not trade
/// rows between them).
async fn many_keys_claimed_and_answered_at_once_each_keep_their_own_answer() {
    let (_dir, s) = store().await;
    let requests: Vec<(String, String)> =
        (0..40).map(|i| (if i % 2 == 0 { "ptn_a" } else { "ptn_b" }.to_owned(), format!("key-{}", i / 2))).collect();
    let answer_of = |partner: &str, k: &str| StoredResponse {
        status: 201,
        headers: vec![("x-for".into(), format!("{partner}/{k}"))],
        body: format!("{{\"for\":\"{partner}/{k}\"}}").into_bytes(),
    };
    let tasks: Vec<_> = requests
        .iter()
        .cloned()
        .map(|(partner, k)| {
            let s = s.clone();
            tokio::spawn(async move {
                let Begin::Claimed(claim) = s.begin(&partner, &key(&k), "fp", 100).await.unwrap() else {
                    panic!("{partner}/{k} was not claimed")
                };
                s.complete(&claim, &answer_of(&partner, &k), 101).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for (partner, k) in &requests {
        match s.begin(partner, &key(k), "fp", 102).await.unwrap() {
            Begin::Replay(stored) => assert_eq!(stored, answer_of(partner, k), "{partner}/{k}"),
            other => panic!("{partner}/{k}: {other:?}"),
        }
    }
}

/// A look at a key claims nothing and says what `begin` would, but never takes a key over.
async fn a_peek_says_what_the_record_holds_and_claims_nothing() {
    let (_dir, s) = store().await;
    assert_eq!(s.peek("ptn_a", &key("p1"), "fp", 100).await.unwrap(), None);
    // Still free after the look: the first claim is fresh.
    let Begin::Claimed(claim) = s.begin("ptn_a", &key("p1"), "fp", 100).await.unwrap() else { panic!("fresh key") };
    assert_eq!(s.peek("ptn_a", &key("p1"), "fp", 101).await.unwrap(), Some(Begin::InFlight { retry_after: 29 }));
    assert_eq!(s.peek("ptn_a", &key("p1"), "other", 101).await.unwrap(), Some(Begin::Reused));
    // A dead holder's key is free to look at; only `begin` takes it over.
    assert_eq!(s.peek("ptn_a", &key("p1"), "fp", 100 + LEASE_SECS).await.unwrap(), None);
    s.complete(&claim, &answer(), 102).await.unwrap();
    assert_eq!(s.peek("ptn_a", &key("p1"), "fp", 103).await.unwrap(), Some(Begin::Replay(answer())));
    assert_eq!(s.peek("ptn_a", &key("p1"), "fp", 100 + RETENTION_SECS).await.unwrap(), None, "past its retention");
    assert_eq!(s.peek("ptn_b", &key("p1"), "fp", 103).await.unwrap(), None, "another partner's key is its own");
}

crate::store::test_support::on_every_engine!(
    a_peek_says_what_the_record_holds_and_claims_nothing,
    many_keys_claimed_and_answered_at_once_each_keep_their_own_answer,
    claim_then_replay_then_reuse_is_refused,
    a_dead_holders_claim_is_taken_over_with_its_resource,
    a_released_claim_frees_the_key_unless_it_created_something,
    fifty_concurrent_first_uses_give_one_claim,
);
