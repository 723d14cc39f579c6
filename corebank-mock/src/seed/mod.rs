//! Deterministic demo data, written once into an empty core.
//!
//! Everything is in one `BEGIN IMMEDIATE` transaction that re-checks the "seeded" mark, so a
//! crash mid-seed leaves nothing behind and two processes opening the same empty file seed it
//! once between them.

mod history;
mod people;
mod products;

use std::sync::OnceLock;

use sha2::{Digest, Sha256};
use sqlx::{SqliteConnection, SqlitePool};

use crate::{DEMO_PASSWORD, password};

pub(crate) use people::ensure_gl;

/// Seeds when the core has never been seeded and holds no customers.
pub(crate) async fn seed_once(pool: &SqlitePool) -> anyhow::Result<()> {
    if already_seeded(&mut *pool.acquire().await?).await? {
        return Ok(());
    }
    let hashes = tokio::task::spawn_blocking(demo_hashes).await??;
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    if already_seeded(&mut tx).await? {
        return Ok(());
    }
    people::insert(&mut tx, &hashes).await?;
    products::insert(&mut tx).await?;
    history::run(&mut tx).await?;
    // Frozen only now, after its history, as a real freeze would stop a live account.
    sqlx::query("UPDATE accounts SET acct_status = 'F' WHERE acct_no = ?1")
        .bind(people::acct_no(people::FROZEN_SERIAL))
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO meta (key, value) VALUES ('seeded_for', ?1)")
        .bind(crate::clock::fmt_date(history::anchor()))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn already_seeded(conn: &mut SqliteConnection) -> sqlx::Result<bool> {
    let (marks, customers): (i64, i64) =
        sqlx::query_as("SELECT (SELECT COUNT(*) FROM meta WHERE key = 'seeded_for'), (SELECT COUNT(*) FROM customers)")
            .fetch_one(conn)
            .await?;
    Ok(marks > 0 || customers > 0)
}

/// One Argon2 hash per demo customer, salted from the customer number so the seed stays
/// deterministic. Memoised per process: tests open many seeded cores and the hashes are
/// identical every time, so paying Argon2's cost once is enough.
fn demo_hashes() -> anyhow::Result<Vec<String>> {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(h) = HASHES.get() {
        return Ok(h.clone());
    }
    let hashes = people::CUSTOMERS
        .iter()
        .map(|c| {
            let salt = Sha256::digest(format!("scenegate-corebank-mock:{}", c.cust_no).as_bytes());
            password::hash(DEMO_PASSWORD, &salt[..16])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(HASHES.get_or_init(|| hashes).clone())
}
