//! Throwaway databases for tests and benchmarks on a real PostgreSQL server: each is created
//! with a unique name and dropped when its guard is dropped. Nothing else on the server is
//! touched, so it is safe on a shared development server.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// Where tests find PostgreSQL: `SCENEGATE_TEST_POSTGRES_URL`, else the local server.
pub const TEST_URL_ENV: &str = "SCENEGATE_TEST_POSTGRES_URL";
const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database this process created; dropped (connections and all) with the guard.
#[derive(Debug)]
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    url: String,
}

impl ScratchDatabase {
    /// The server tests use (see [`TEST_URL_ENV`]).
    pub fn test_server_url() -> String {
        std::env::var(TEST_URL_ENV).ok().filter(|u| !u.is_empty()).unwrap_or_else(|| DEFAULT_TEST_URL.to_owned())
    }

    /// Creates `scenegate_scratch_<uuid>` on the server at `admin_url` (a URL to any database
    /// the user may connect to, with `CREATEDB`).
    pub async fn create(admin_url: &str) -> Result<Self, sqlx::Error> {
        let name = format!("scenegate_scratch_{}", uuid::Uuid::new_v4().simple());
        let mut admin = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(admin_url))
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)??;
        // The name is ours (hex), never input: safe to splice.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
        admin.close().await.ok();
        let mut url = url::Url::parse(admin_url).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        url.set_path(&name);
        Ok(Self { admin_url: admin_url.to_owned(), name, url: url.to_string() })
    }

    /// The URL of the scratch database.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let what = format!("scratch database {}", self.name);
        // Waited for, so the database is gone when the guard is.
        crate::store::scratch::clean_up_on_drop(what, Duration::from_secs(15), move || async move {
            let mut admin = PgConnection::connect(&admin_url).await.ok()?;
            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await.ok()?;
            admin.close().await.ok()
        });
    }
}
