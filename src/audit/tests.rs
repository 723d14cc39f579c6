//! The audit trail on both engines: chains that verify, every kind of tampering found at
//! the record where it happened, appenders racing without forking, outbox events and partner
//! changes recorded exactly once, checkpoints that outlive their key, retention that keeps a
//! verifiable start.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::*;
use crate::auth::{Clock, ManualClock, signing};
use crate::config::tests::{TestDir, partner_toml};
use crate::store::test_support::{TestStores, current, on_every_engine};

fn keys(now: i64) -> Arc<ArcSwap<SigningKeys>> {
    let text = signing::new_key_set_text(now).unwrap();
    Arc::new(ArcSwap::from_pointee(SigningKeys::from_text(&text, "test", now).unwrap()))
}

fn trusted(keys: &ArcSwap<SigningKeys>) -> HashMap<String, jsonwebtoken::DecodingKey> {
    verifying_keys(&keys.load().jwks()).unwrap()
}

fn staff(n: i64) -> NewRecord {
    staff_record(1_000 + n, "staff.test", &format!("ptn_{n}"), serde_json::json!({ "n": n }))
}

async fn append(stores: &TestStores, n: i64) {
    for i in 1..=n {
        stores.audit.append(&[staff(i)]).await.unwrap();
    }
}

async fn verdict(stores: &TestStores, keys: &HashMap<String, jsonwebtoken::DecodingKey>) -> Verdict {
    verify(stores.audit.as_ref(), Chain::Records, keys).await.unwrap()
}

/// Runs raw SQL on the test's engine: the tamperer has the database's password.
async fn tamper(stores: &TestStores, sqlite: &str, postgres: &str) {
    match &stores.engine {
        crate::store::Engine::Sqlite(db) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sqlite.to_owned())).execute(db.writer.pool()).await.unwrap();
        }
        crate::store::Engine::Postgres(pool) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(postgres.to_owned())).execute(pool).await.unwrap();
        }
    }
}

async fn a_chain_links_every_record_and_verifies() {
    let stores = current().await;
    append(&stores, 5).await;
    let summary = verdict(&stores, &HashMap::new()).await.expect("an untouched chain verifies");
    assert_eq!((summary.first, summary.last, summary.records), (Some(1), Some(5), 5));
    let records = stores.audit.read(Chain::Records, 0, 100).await.unwrap();
    assert_eq!(records[0].prev_hash, chain::GENESIS);
    assert!(records.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert_eq!(stores.audit.head(Chain::Records).await.unwrap(), records[4].head());
    assert_eq!(stores.audit.head(Chain::Access).await.unwrap(), Head::genesis(), "the other chain is untouched");
}

async fn records_cannot_be_updated_in_place() {
    let stores = current().await;
    append(&stores, 2).await;
    let update = "UPDATE audit_records SET detail = '{}' WHERE seq = 1";
    let refused = match &stores.engine {
        crate::store::Engine::Sqlite(db) => sqlx::query(update).execute(db.writer.pool()).await.is_err(),
        crate::store::Engine::Postgres(pool) => sqlx::query(update).execute(pool).await.is_err(),
    };
    assert!(refused, "the append-only trigger refuses an update");
}

async fn an_altered_record_is_found_where_it_was_altered() {
    let stores = current().await;
    append(&stores, 5).await;
    tamper(
        &stores,
        "DROP TRIGGER audit_records_append_only;
         UPDATE audit_records SET detail = '{\"n\":99}' WHERE chain = 'records' AND seq = 3",
        "DROP TRIGGER audit_records_append_only ON audit_records;
         UPDATE audit_records SET detail = '{\"n\":99}' WHERE chain = 'records' AND seq = 3",
    )
    .await;
    assert_eq!(verdict(&stores, &HashMap::new()).await, Err(Break::Altered { seq: 3 }));
}

async fn a_rehashed_record_breaks_the_next_link() {
    // The tamperer recomputes the altered record's own hash; the next record still points at
    // the old one.
    let stores = current().await;
    append(&stores, 4).await;
    let mut r = stores.audit.read(Chain::Records, 1, 1).await.unwrap().remove(0);
    r.detail = "{\"n\":99}".into();
    r.hash = r.expected_hash();
    let sql = format!(
        "UPDATE audit_records SET detail = '{}', hash = '{}' WHERE chain = 'records' AND seq = 2",
        r.detail, r.hash
    );
    tamper(
        &stores,
        &format!("DROP TRIGGER audit_records_append_only; {sql}"),
        &format!("DROP TRIGGER audit_records_append_only ON audit_records; {sql}"),
    )
    .await;
    assert_eq!(verdict(&stores, &HashMap::new()).await, Err(Break::Unlinked { seq: 3, prev: 2 }));
}

async fn removed_records_are_found() {
    let stores = current().await;
    append(&stores, 5).await;
    let delete_middle = "DELETE FROM audit_records WHERE chain = 'records' AND seq = 3";
    tamper(&stores, delete_middle, delete_middle).await;
    assert_eq!(verdict(&stores, &HashMap::new()).await, Err(Break::Gap { prev: 2, found: 4 }));

    let stores = current().await;
    append(&stores, 5).await;
    let delete_tail = "DELETE FROM audit_records WHERE chain = 'records' AND seq >= 4";
    tamper(&stores, delete_tail, delete_tail).await;
    assert_eq!(verdict(&stores, &HashMap::new()).await, Err(Break::Truncated { last: 3, head: 5 }));

    let stores = current().await;
    append(&stores, 5).await;
    let delete_start = "DELETE FROM audit_records WHERE chain = 'records' AND seq <= 2";
    tamper(&stores, delete_start, delete_start).await;
    assert_eq!(verdict(&stores, &HashMap::new()).await, Err(Break::StartCut { seq: 3 }));
}

async fn concurrent_appenders_never_fork_the_chain() {
    let stores = current().await;
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let audit = stores.audit.clone();
            tokio::spawn(async move {
                for i in 0..10 {
                    audit.append(&[staff(t * 100 + i), staff(t * 100 + i + 50)]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let summary = verdict(&stores, &HashMap::new()).await.expect("one chain, no fork");
    assert_eq!((summary.first, summary.last, summary.records), (Some(1), Some(160), 160));
}

async fn outbox_events_are_chained_once_even_by_racing_instances() {
    let stores = current().await;
    for i in 0..30 {
        let event = crate::events::NewEvent {
            partner_id: "ptn_a".into(),
            event_type: crate::events::types::CONSENT_STATUS_CHANGED.into(),
            subject_id: format!("cns_{i}"),
            data: serde_json::json!({ "status": "revoked" }),
            notify: crate::events::Notify::Webhook,
        };
        stores.events.append(&event, 2_000 + i).await.unwrap();
    }
    let racers: Vec<_> = (0..4)
        .map(|_| {
            let audit = stores.audit.clone();
            tokio::spawn(async move { audit.absorb_events(7).await.unwrap() })
        })
        .collect();
    let mut absorbed = 0;
    for r in racers {
        absorbed += r.await.unwrap();
    }
    while stores.audit.absorb_events(7).await.unwrap() > 0 {}
    let records = stores.audit.read(Chain::Records, 0, 100).await.unwrap();
    assert_eq!(records.len(), 30, "every event once ({absorbed} by the racers)");
    let subjects: std::collections::BTreeSet<&str> = records.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subjects.len(), 30);
    assert!(records.iter().all(|r| r.action == "consent.status_changed"));
    let detail: serde_json::Value = serde_json::from_str(&records[0].detail).unwrap();
    assert_eq!((detail["partner_id"].as_str(), detail["data"]["status"].as_str()), (Some("ptn_a"), Some("revoked")));
    assert!(verdict(&stores, &HashMap::new()).await.is_ok());
}

fn follower(stores: &TestStores, registry: Arc<crate::config::PartnerRegistry>, clock: Arc<ManualClock>) -> Follower {
    let keys = keys(clock.now());
    Follower::new(
        stores.audit.clone(),
        registry,
        Arc::new(TokenTally::default()),
        keys,
        clock,
        AuditSettings::default(),
    )
}

async fn partner_changes_are_recorded_once_across_instances_and_restarts() {
    let stores = current().await;
    let dir = TestDir::new();
    dir.write("a.toml", &partner_toml("ptn_a"));
    dir.write("b.toml", &partner_toml("ptn_b"));
    let clock = Arc::new(ManualClock::at(10_000));
    let open = || Arc::new(crate::config::PartnerRegistry::open(dir.path().to_path_buf()).unwrap());
    let (one, two) = (follower(&stores, open(), clock.clone()), follower(&stores, open(), clock.clone()));
    let (a, b) = tokio::join!(one.partners(), two.partners());
    assert_eq!(a.unwrap() + b.unwrap(), 2, "two partners added, each recorded by one instance");

    // A restart with the same files records nothing.
    assert_eq!(follower(&stores, open(), clock.clone()).partners().await.unwrap(), 0);

    dir.write("a.toml", &partner_toml("ptn_a").replace("\"active\"", "\"suspended\""));
    std::fs::remove_file(dir.path().join("b.toml")).unwrap();
    let fresh = follower(&stores, open(), clock.clone());
    assert_eq!(fresh.partners().await.unwrap(), 2);
    let records = stores.audit.read(Chain::Records, 0, 100).await.unwrap();
    let actions: Vec<(&str, &str)> = records.iter().map(|r| (r.action.as_str(), r.subject.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("partner.added", "ptn_a"),
            ("partner.added", "ptn_b"),
            ("partner.changed", "ptn_a"),
            ("partner.removed", "ptn_b")
        ]
    );
    let changed: serde_json::Value = serde_json::from_str(&records[2].detail).unwrap();
    assert_eq!(changed["changes"], serde_json::json!(["status: active → suspended"]));
    assert_ne!(changed["digest"], changed["previous_digest"]);
    assert_eq!(changed["digest"].as_str().map(str::len), Some(64), "a SHA-256 of the file");
}

async fn checkpoints_sign_the_head_and_outlive_a_rotated_key() {
    let stores = current().await;
    let clock = Arc::new(ManualClock::at(10_000));
    let dir = TestDir::new();
    let registry = Arc::new(crate::config::PartnerRegistry::open(dir.path().to_path_buf()).unwrap());
    let f = follower(&stores, registry, clock.clone());
    let old_keys = trusted(&f.keys);
    append(&stores, 3).await;
    assert_eq!(f.checkpoints().await.unwrap(), 1, "the records chain grew: signed");
    assert_eq!(f.checkpoints().await.unwrap(), 0, "nothing new, nothing signed");
    append(&stores, 2).await;
    assert_eq!(f.checkpoints().await.unwrap(), 0, "not due yet");

    let summary = verdict(&stores, &old_keys).await.unwrap();
    assert_eq!((summary.checkpoints_verified, summary.signed_through), (1, Some(3)));

    // The key is retired and gone from the key set; a new one signs the next checkpoint.
    clock.advance(301);
    f.keys.store(keys(clock.now()).load_full());
    assert_eq!(f.checkpoints().await.unwrap(), 1);
    let new_keys = trusted(&f.keys);
    let summary = verdict(&stores, &new_keys).await.unwrap();
    assert_eq!(summary.checkpoints_verified, 2, "the old checkpoint is vouched for by the new one: {summary:?}");
    assert_eq!(summary.signed_through, Some(6));

    // A checkpoint forged with the tamperer's own key verifies only against the key it
    // carries: reported, never counted as signed.
    let forged_keys = keys(clock.now());
    clock.advance(301);
    append(&stores, 1).await;
    stores.audit.checkpoint(Chain::Records, clock.now(), 300, &key_signer(forged_keys)).await.unwrap();
    let summary = verdict(&stores, &new_keys).await.unwrap();
    assert_eq!(summary.checkpoints_unvouched.len(), 1);
    assert_eq!(summary.signed_through, Some(6));
}

async fn a_forged_signature_breaks_the_chain() {
    let stores = current().await;
    let clock = Arc::new(ManualClock::at(10_000));
    let k = keys(clock.now());
    append(&stores, 2).await;
    stores.audit.checkpoint(Chain::Records, clock.now(), 300, &key_signer(k.clone())).await.unwrap();
    // Records before the checkpoint rewritten consistently: every hash recomputed, but the
    // signature covers the old head.
    let mut records = stores.audit.read(Chain::Records, 0, 10).await.unwrap();
    records[0].detail = "{\"n\":99}".into();
    records[0].hash = records[0].expected_hash();
    records[1].prev_hash = records[0].hash.clone();
    records[1].hash = records[1].expected_hash();
    let mut sql = String::new();
    for r in &records[..2] {
        sql.push_str(&format!(
            "UPDATE audit_records SET detail = '{}', prev_hash = '{}', hash = '{}' WHERE chain = 'records' AND seq = {};",
            r.detail, r.prev_hash, r.hash, r.seq
        ));
    }
    sql.push_str(&format!(
        "UPDATE audit_records SET prev_hash = '{}', hash = 'x' WHERE chain = 'records' AND seq = 3;",
        records[1].hash
    ));
    tamper(
        &stores,
        &format!("DROP TRIGGER audit_records_append_only; {sql}"),
        &format!("DROP TRIGGER audit_records_append_only ON audit_records; {sql}"),
    )
    .await;
    // Even with the checkpoint's own hash recomputed, its signed claims name the old head.
    let mut cp = stores.audit.read(Chain::Records, 2, 1).await.unwrap().remove(0);
    cp.prev_hash = records[1].hash.clone();
    let mut detail: serde_json::Value = serde_json::from_str(&cp.detail).unwrap();
    detail["covers_hash"] = serde_json::json!(records[1].hash);
    cp.detail = detail.to_string();
    cp.hash = cp.expected_hash();
    let sql = format!(
        "UPDATE audit_records SET detail = '{}', hash = '{}' WHERE chain = 'records' AND seq = 3; \
         UPDATE audit_heads SET hash = '{}' WHERE chain = 'records'",
        cp.detail, cp.hash, cp.hash
    );
    tamper(&stores, &sql, &sql).await;
    match verdict(&stores, &trusted(&k)).await {
        Err(Break::BadCheckpoint { seq: 3, .. }) => {}
        other => panic!("a rewritten history must fail at its checkpoint, got {other:?}"),
    }
}

async fn retention_prunes_to_a_checkpoint_and_the_rest_still_verifies() {
    let stores = current().await;
    let day = 86_400;
    let clock = Arc::new(ManualClock::at(1_000));
    let k = keys(clock.now());
    let sign = key_signer(k.clone());
    let at = |t: i64, n: i64| NewRecord { at: t, ..staff(n) };
    stores.audit.append(&[at(1_000, 1), at(1_000, 2)]).await.unwrap();
    stores.audit.checkpoint(Chain::Records, 1_000, 300, &sign).await.unwrap(); // seq 3
    stores.audit.append(&[at(100 * day, 4)]).await.unwrap();
    stores.audit.checkpoint(Chain::Records, 100 * day, 300, &sign).await.unwrap(); // seq 5
    stores.audit.append(&[at(400 * day, 6)]).await.unwrap();

    let since = 400 * day - 365 * day;
    // Records 1..=3 are older than a year; 4 is not: pruning stops at the checkpoint before 4.
    assert_eq!(stores.audit.prune_point(Chain::Records, since).await.unwrap(), Some(3));
    assert_eq!(stores.audit.prune_before(Chain::Records, 3).await.unwrap(), 2);
    let summary = verdict(&stores, &trusted(&k)).await.expect("a pruned chain starts at a signed checkpoint");
    assert_eq!((summary.first, summary.last), (Some(3), Some(6)));
    assert_eq!(stores.audit.prune_point(Chain::Records, since).await.unwrap(), None, "nothing more to prune");
    // Everything expired: the last checkpoint stays as the chain's signed start.
    assert_eq!(stores.audit.prune_point(Chain::Records, 500 * day).await.unwrap(), Some(5));
}

on_every_engine!(
    a_chain_links_every_record_and_verifies,
    records_cannot_be_updated_in_place,
    an_altered_record_is_found_where_it_was_altered,
    a_rehashed_record_breaks_the_next_link,
    removed_records_are_found,
    concurrent_appenders_never_fork_the_chain,
    outbox_events_are_chained_once_even_by_racing_instances,
    partner_changes_are_recorded_once_across_instances_and_restarts,
    checkpoints_sign_the_head_and_outlive_a_rotated_key,
    a_forged_signature_breaks_the_chain,
    retention_prunes_to_a_checkpoint_and_the_rest_still_verifies,
);
