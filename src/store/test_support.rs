//! Stores for tests, on real engines: a SQLite file in a temp dir, and (in cluster mode's
//! tests) a scratch PostgreSQL database.

use std::ops::Deref;

use super::{StoreSettings, Stores};

/// A set of stores and what keeps their engine alive; dropping it removes the engine's
/// scratch files.
pub struct TestStores {
    pub stores: Stores,
    pub name: &'static str,
    _dir: tempfile::TempDir,
}

impl Deref for TestStores {
    type Target = Stores;
    fn deref(&self) -> &Stores {
        &self.stores
    }
}

/// Every store on a fresh SQLite file, migrated the way the gateway migrates it.
pub async fn sqlite() -> TestStores {
    let dir = tempfile::tempdir().unwrap();
    let pool = super::sqlite::open_migrated(&dir.path().join("gateway.sqlite")).await.unwrap();
    TestStores { stores: Stores::sqlite(pool, StoreSettings::default()), name: "sqlite", _dir: dir }
}

/// A migrated scratch PostgreSQL database (dropped with the guard), or `None` when no server
/// answers and this is not CI: CI (`CI` set) must never skip, so there it panics instead.
pub async fn postgres_pool() -> Option<(sqlx::PgPool, super::postgres::ScratchDatabase)> {
    let server = super::postgres::ScratchDatabase::test_server_url();
    let scratch = match super::postgres::ScratchDatabase::create(&server).await {
        Ok(db) => db,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI must test PostgreSQL, but {server} refused: {e}");
            eprintln!("SKIPPED: no PostgreSQL at {server} ({e}); set {}", super::postgres::scratch::TEST_URL_ENV);
            return None;
        }
    };
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(scratch.url()).await.unwrap();
    super::postgres::migrate(&pool).await.unwrap();
    Some((pool, scratch))
}
