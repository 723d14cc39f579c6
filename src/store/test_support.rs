//! Stores for tests, on real engines: a SQLite file in a temp dir, and (in cluster mode's
//! tests) a scratch PostgreSQL database.

use std::ops::Deref;

use super::{StoreSettings, Stores};

/// A set of stores and what keeps their engine alive; dropping it removes the engine's
/// scratch files.
pub struct TestStores {
    pub stores: Stores,
    pub name: &'static str,
    _dir: Option<tempfile::TempDir>,
    _db: Option<super::postgres::ScratchDatabase>,
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
    TestStores { stores: Stores::sqlite(pool, StoreSettings::default()), name: "sqlite", _dir: Some(dir), _db: None }
}

/// Every store on a fresh PostgreSQL scratch database, or `None` outside CI when no server
/// answers (see [`postgres_pool`]).
pub async fn postgres() -> Option<TestStores> {
    let (pool, db) = postgres_pool().await?;
    Some(TestStores {
        stores: Stores::postgres(pool, StoreSettings::default()),
        name: "postgres",
        _dir: None,
        _db: Some(db),
    })
}

/// The stores on every engine this machine has: SQLite always, PostgreSQL when reachable
/// (always in CI). Domain tests run their assertions against each.
pub async fn engines() -> Vec<TestStores> {
    let mut all = vec![sqlite().await];
    all.extend(postgres().await);
    all
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

tokio::task_local! {
    /// The engine the running test is on (set by [`on_every_engine!`]).
    pub static ENGINE: &'static str;
}

/// The stores of the engine the running test is on: SQLite outside [`on_every_engine!`].
pub async fn current() -> TestStores {
    match ENGINE.try_with(|e| *e).unwrap_or("sqlite") {
        "postgres" => postgres().await.expect("PostgreSQL went away during the test run"),
        _ => sqlite().await,
    }
}

/// Whether PostgreSQL tests can run here: a server answers. Outside CI a missing server
/// skips them (saying so); under `CI` it fails them.
pub async fn postgres_available() -> bool {
    let server = super::postgres::ScratchDatabase::test_server_url();
    let reachable = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        use sqlx::Connection as _;
        sqlx::PgConnection::connect(&server).await.map(drop)
    })
    .await;
    match reachable {
        Ok(Ok(())) => true,
        other => {
            assert!(std::env::var_os("CI").is_none(), "CI must test PostgreSQL, but {server} refused: {other:?}");
            eprintln!("SKIPPED: no PostgreSQL at {server}; set {}", super::postgres::scratch::TEST_URL_ENV);
            false
        }
    }
}

/// Runs each named `async fn()` test once per engine: `<name>::sqlite` and `<name>::postgres`.
/// The test gets its stores from [`current`] (through its module's helpers).
macro_rules! on_every_engine {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                $crate::store::test_support::ENGINE.scope("sqlite", super::$name()).await
            }
            #[tokio::test]
            async fn postgres() {
                if $crate::store::test_support::postgres_available().await {
                    $crate::store::test_support::ENGINE.scope("postgres", super::$name()).await
                }
            }
        }
    )*};
}
pub(crate) use on_every_engine;
