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
