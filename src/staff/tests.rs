use super::*;

async fn store() -> (tempfile::TempDir, SqliteStopStore) {
    let dir = tempfile::tempdir().unwrap();
    let pool = crate::bootstrap::open_database_at(&dir.path().join("gw.sqlite")).await.unwrap();
    (dir, SqliteStopStore::new(pool))
}

fn stop(id: &str, reason: &str) -> Stop {
    Stop { partner_id: id.into(), reason: reason.into(), actor: "ops".into(), at: 1_000 }
}

#[tokio::test]
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
    let gateway = SqliteStopStore::new(crate::bootstrap::open_database_at(&path).await.unwrap());
    let cli = SqliteStopStore::new(crate::bootstrap::open_database_at(&path).await.unwrap());
    cli.stop(&stop("ptn_b", "fraud")).await.unwrap();
    assert_eq!(gateway.list().await.unwrap().len(), 1);
}
