use std::{collections::HashSet, sync::Arc};

use super::*;
use crate::events::test_support::new_event;

struct TempDb {
    store: SqliteEventStore,
    _dir: tempfile::TempDir,
}

async fn temp_db() -> TempDb {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::store::sqlite::open_migrated(&dir.path().join("gateway.sqlite")).await.unwrap();
    TempDb { store: SqliteEventStore::new(pool), _dir: dir }
}

const LEASE: i64 = 60;

async fn append_now(store: &SqliteEventStore, event: &NewEvent, now: i64) -> EventId {
    store.append(event, now).await.unwrap()
}

fn ids(claims: &[Claimed]) -> Vec<&EventId> {
    claims.iter().map(|c| &c.event.id).collect()
}

#[tokio::test]
async fn append_commits_and_rolls_back_with_the_callers_transaction() {
    let db = temp_db().await;
    sqlx::query("CREATE TABLE caller_rows (id TEXT PRIMARY KEY)").execute(db.store.db.writer.pool()).await.unwrap();
    let event = new_event("ptn_a", "pay_1", "pending");

    // The caller's write and the event, in one job of the writer's group commit; the caller
    // refuses after both, so neither is kept.
    let lost = Arc::new(std::sync::Mutex::new(None));
    let refused = db
        .store
        .db
        .batch
        .write({
            let (event, lost) = (event.clone(), lost.clone());
            move |conn| {
                conn.execute("INSERT INTO caller_rows VALUES ('pay_1')", []).unwrap();
                *lost.lock().unwrap() = Some(append(conn, &event, 100)?);
                Err::<(), _>(EventStoreError::Conflict("the caller refuses".into()))
            }
        })
        .await;
    assert!(matches!(refused, Err(EventStoreError::Conflict(_))));
    let lost = lost.lock().unwrap().clone().expect("the job ran");
    assert_eq!(db.store.get(&lost).await.unwrap_err(), EventStoreError::NotFound);
    assert!(db.store.list_for_partner("ptn_a", None, 10).await.unwrap().is_empty());
    assert!(db.store.claim_due(1_000, 10, LEASE).await.unwrap().is_empty(), "no orphan delivery row");

    let kept = db
        .store
        .db
        .batch
        .write(move |conn| {
            conn.execute("INSERT INTO caller_rows VALUES ('pay_1')", []).unwrap();
            append(conn, &event, 100)
        })
        .await
        .unwrap();
    let (event, delivery) = db.store.get(&kept).await.unwrap();
    assert_eq!((event.partner_id.as_str(), event.subject_id.as_str(), event.created_at), ("ptn_a", "pay_1", 100));
    assert_eq!(event.data, serde_json::json!({"id": "pay_1", "status": "pending"}));
    assert_eq!((delivery.state, delivery.attempts, delivery.next_at), (DeliveryState::Pending, 0, 100));
}

#[tokio::test]
async fn a_claim_is_leased_and_a_lost_lease_cannot_record_an_outcome() {
    let db = temp_db().await;
    let id = append_now(&db.store, &new_event("ptn_a", "pay_1", "pending"), 100).await;

    assert!(db.store.claim_due(99, 10, LEASE).await.unwrap().is_empty(), "not due before it was written");
    let first = db.store.claim_due(100, 10, LEASE).await.unwrap();
    assert_eq!(ids(&first), [&id]);
    assert!(db.store.claim_due(100 + LEASE - 1, 10, LEASE).await.unwrap().is_empty(), "leased");

    // The first worker stalled past its lease; a second takes the event over.
    let second = db.store.claim_due(100 + LEASE, 10, LEASE).await.unwrap();
    assert_eq!(ids(&second), [&id]);
    assert!(matches!(db.store.mark_delivered(&first[0], 200).await, Err(EventStoreError::Conflict(_))));
    db.store.mark_delivered(&second[0], 200).await.unwrap();
    let (_, delivery) = db.store.get(&id).await.unwrap();
    assert_eq!((delivery.state, delivery.attempts, delivery.finished_at), (DeliveryState::Delivered, 1, Some(200)));
    assert!(db.store.claim_due(10_000, 10, LEASE).await.unwrap().is_empty(), "delivered is done");
}

#[tokio::test]
async fn concurrent_claims_hand_each_event_to_one_worker() {
    let db = temp_db().await;
    for n in 0..40 {
        append_now(&db.store, &new_event("ptn_a", &format!("pay_{n}"), "pending"), 100).await;
    }
    let store = Arc::new(db.store.clone());
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.claim_due(100, 7, LEASE).await.unwrap() })
        })
        .collect();
    let mut seen = HashSet::new();
    for worker in workers {
        for claim in worker.await.unwrap() {
            assert!(seen.insert(claim.event.id), "an event was handed to two workers");
        }
    }
    assert_eq!(seen.len(), 40);
}

#[tokio::test]
async fn events_of_one_subject_are_claimed_in_order() {
    let db = temp_db().await;
    let first = append_now(&db.store, &new_event("ptn_a", "pay_1", "pending"), 100).await;
    let second = append_now(&db.store, &new_event("ptn_a", "pay_1", "settled"), 101).await;
    let other = append_now(&db.store, &new_event("ptn_a", "pay_2", "pending"), 102).await;

    let batch = db.store.claim_due(200, 10, LEASE).await.unwrap();
    assert_eq!(ids(&batch), [&first, &other], "one event per subject, the earliest");
    db.store.mark_delivered(&batch[1], 200).await.unwrap();

    // The first keeps failing: the second waits behind it, even when the first is not due.
    db.store.schedule_retry(&batch[0], 300, "HTTP 500", 200).await.unwrap();
    assert!(db.store.claim_due(250, 10, LEASE).await.unwrap().is_empty());
    let again = db.store.claim_due(300, 10, LEASE).await.unwrap();
    assert_eq!(ids(&again), [&first]);
    assert_eq!((again[0].attempts, again[0].first_attempt_at), (1, Some(200)));

    db.store.mark_delivered(&again[0], 300).await.unwrap();
    assert_eq!(ids(&db.store.claim_due(300, 10, LEASE).await.unwrap()), [&second]);
}

#[tokio::test]
async fn retries_count_attempts_and_keep_the_last_error() {
    let db = temp_db().await;
    let id = append_now(&db.store, &new_event("ptn_a", "pay_1", "pending"), 100).await;
    let claim = db.store.claim_due(100, 10, LEASE).await.unwrap().remove(0);
    db.store.schedule_retry(&claim, 105, "HTTP 503: busy", 101).await.unwrap();
    assert!(matches!(db.store.schedule_retry(&claim, 105, "again", 101).await, Err(EventStoreError::Conflict(_))));

    let (_, d) = db.store.get(&id).await.unwrap();
    assert_eq!(
        (d.state, d.attempts, d.next_at, d.first_attempt_at, d.last_error.as_deref()),
        (DeliveryState::Pending, 1, 105, Some(101), Some("HTTP 503: busy"))
    );
    let claim = db.store.claim_due(105, 10, LEASE).await.unwrap().remove(0);
    db.store.schedule_retry(&claim, 200, "connection refused", 106).await.unwrap();
    let (_, d) = db.store.get(&id).await.unwrap();
    assert_eq!((d.attempts, d.first_attempt_at, d.last_error.as_deref()), (2, Some(101), Some("connection refused")));
}

#[tokio::test]
async fn dead_letters_are_listed_redelivered_and_do_not_block_their_subject() {
    let db = temp_db().await;
    let doomed = append_now(&db.store, &new_event("ptn_a", "pay_1", "pending"), 100).await;
    let next = append_now(&db.store, &new_event("ptn_a", "pay_1", "settled"), 101).await;
    let elsewhere = append_now(&db.store, &new_event("ptn_b", "pay_9", "pending"), 102).await;

    let batch = db.store.claim_due(200, 10, LEASE).await.unwrap();
    assert_eq!(ids(&batch), [&doomed, &elsewhere]);
    db.store.schedule_retry(&batch[0], 200, "HTTP 500", 200).await.unwrap();
    db.store.mark_dead(&batch[1], "refused by SSRF policy", 200).await.unwrap();
    let claim = db.store.claim_due(200, 10, LEASE).await.unwrap().remove(0);
    db.store.mark_dead(&claim, "gave up after 24h: HTTP 500", 300).await.unwrap();

    let all = db.store.dead_letters(None, 10).await.unwrap();
    assert_eq!(all.iter().map(|d| &d.event.id).collect::<Vec<_>>(), [&elsewhere, &doomed], "oldest death first");
    let mine = db.store.dead_letters(Some("ptn_a"), 10).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].attempts, mine[0].dead_at), (2, 300));
    assert_eq!(mine[0].last_error.as_deref(), Some("gave up after 24h: HTTP 500"));

    // Dead is finished with, as far as ordering goes: the next status of pay_1 goes out.
    assert_eq!(ids(&db.store.claim_due(300, 10, LEASE).await.unwrap()), [&next]);

    db.store.redeliver(&doomed, 400).await.unwrap();
    let (_, d) = db.store.get(&doomed).await.unwrap();
    assert_eq!((d.state, d.attempts, d.next_at, d.first_attempt_at), (DeliveryState::Pending, 0, 400, None));
    assert!(db.store.dead_letters(Some("ptn_a"), 10).await.unwrap().is_empty());
    assert!(matches!(db.store.redeliver(&doomed, 400).await, Err(EventStoreError::Conflict(_))), "no longer dead");
    assert_eq!(db.store.redeliver(&EventId::generate(), 400).await, Err(EventStoreError::NotFound));
}

#[tokio::test]
async fn a_partner_without_a_webhook_is_skipped_and_still_polls() {
    let db = temp_db().await;
    let id = append_now(&db.store, &new_event("ptn_a", "pay_1", "pending"), 100).await;
    let claim = db.store.claim_due(100, 10, LEASE).await.unwrap().remove(0);
    db.store.mark_skipped(&[&claim], 100).await.unwrap();
    let (_, d) = db.store.get(&id).await.unwrap();
    assert_eq!((d.state, d.attempts), (DeliveryState::Skipped, 0));
    assert_eq!(db.store.list_for_partner("ptn_a", None, 10).await.unwrap()[0].id, id);
}

#[tokio::test]
async fn polling_lists_after_a_cursor_and_ack_removes_only_the_callers_event() {
    let db = temp_db().await;
    let mut mine = Vec::new();
    for n in 0..5 {
        mine.push(append_now(&db.store, &new_event("ptn_a", &format!("pay_{n}"), "pending"), 100 + n).await);
    }
    let theirs = append_now(&db.store, &new_event("ptn_b", "pay_x", "pending"), 200).await;

    let page1 = db.store.list_for_partner("ptn_a", None, 2).await.unwrap();
    assert_eq!(page1.iter().map(|e| &e.id).collect::<Vec<_>>(), [&mine[0], &mine[1]]);
    let page2 = db.store.list_for_partner("ptn_a", Some(page1[1].seq), 2).await.unwrap();
    assert_eq!(page2.iter().map(|e| &e.id).collect::<Vec<_>>(), [&mine[2], &mine[3]]);
    let page3 = db.store.list_for_partner("ptn_a", Some(page2[1].seq), 2).await.unwrap();
    assert_eq!(page3.iter().map(|e| &e.id).collect::<Vec<_>>(), [&mine[4]]);

    db.store.ack("ptn_a", &mine[0], 300).await.unwrap();
    db.store.ack("ptn_a", &mine[0], 301).await.unwrap();
    assert_eq!(db.store.ack("ptn_a", &theirs, 300).await, Err(EventStoreError::NotFound), "another partner's");
    assert_eq!(db.store.ack("ptn_a", &EventId::generate(), 300).await, Err(EventStoreError::NotFound));
    let left = db.store.list_for_partner("ptn_a", None, 10).await.unwrap();
    assert_eq!(left.iter().map(|e| &e.id).collect::<Vec<_>>(), &mine[1..].iter().collect::<Vec<_>>()[..]);
    assert_eq!(db.store.list_for_partner("ptn_b", None, 10).await.unwrap()[0].id, theirs, "untouched");
}

#[tokio::test]
async fn purge_drops_only_old_events_that_are_finished_with() {
    let db = temp_db().await;
    let old_delivered = append_now(&db.store, &new_event("ptn_a", "pay_1", "settled"), 100).await;
    let old_dead = append_now(&db.store, &new_event("ptn_a", "pay_2", "settled"), 100).await;
    let old_dead_acked = append_now(&db.store, &new_event("ptn_a", "pay_3", "settled"), 100).await;
    let old_pending = append_now(&db.store, &new_event("ptn_a", "pay_4", "settled"), 100).await;
    let new_delivered = append_now(&db.store, &new_event("ptn_a", "pay_5", "settled"), 900).await;

    let batch = db.store.claim_due(1_000, 10, LEASE).await.unwrap();
    assert_eq!(batch.len(), 5);
    for claim in &batch {
        let id = &claim.event.id;
        if *id == old_delivered || *id == new_delivered {
            db.store.mark_delivered(claim, 1_000).await.unwrap();
        } else if *id == old_dead || *id == old_dead_acked {
            db.store.mark_dead(claim, "HTTP 500", 1_000).await.unwrap();
        } else {
            db.store.schedule_retry(claim, 2_000, "HTTP 500", 1_000).await.unwrap();
        }
    }
    db.store.ack("ptn_a", &old_dead_acked, 1_000).await.unwrap();

    assert_eq!(db.store.purge(500).await.unwrap(), 2);
    for gone in [&old_delivered, &old_dead_acked] {
        assert_eq!(db.store.get(gone).await.unwrap_err(), EventStoreError::NotFound);
    }
    for kept in [&old_dead, &old_pending, &new_delivered] {
        db.store.get(kept).await.unwrap();
    }
    // The cursor of a purged event still works: seq is never reused.
    let next = append_now(&db.store, &new_event("ptn_a", "pay_6", "pending"), 1_100).await;
    let (event, _) = db.store.get(&next).await.unwrap();
    assert!(event.seq > 5);
}
