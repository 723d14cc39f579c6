use super::*;
use std::sync::Arc;

async fn store() -> (crate::store::test_support::TestStores, Arc<dyn StopStore>) {
    let stores = crate::store::test_support::current().await;
    let store = stores.stops.clone();
    (stores, store)
}

fn stop(id: &str, reason: &str) -> Stop {
    Stop { partner_id: id.into(), reason: reason.into(), actor: "ops".into(), at: 1_000 }
}

async fn a_stop_is_recorded_once_and_lifted_once() {
    let (_dir, store) = store().await;
    assert!(store.stop(&stop("ptn_a", "key leaked")).await.unwrap());
    assert!(!store.stop(&stop("ptn_a", "again")).await.unwrap(), "already stopped");
    assert_eq!(store.list().await.unwrap(), vec![stop("ptn_a", "key leaked")], "the first stop's reason stays");
    assert!(store.resume("ptn_a").await.unwrap());
    assert!(!store.resume("ptn_a").await.unwrap());
    assert!(store.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stop_written_by_another_connection_is_seen() {
    // The staff CLI is another process with its own connection to the same file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.sqlite");
    let open = || async {
        crate::store::Stores::sqlite(crate::store::sqlite::open_migrated(&path).await.unwrap(), Default::default())
    };
    let (gateway, cli) = (open().await.stops, open().await.stops);
    cli.stop(&stop("ptn_b", "fraud")).await.unwrap();
    assert_eq!(gateway.list().await.unwrap().len(), 1);
}

crate::store::test_support::on_every_engine!(a_stop_is_recorded_once_and_lifted_once,);
