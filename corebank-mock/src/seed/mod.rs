//! Deterministic demo data, written once into an empty core.
//!
//! Everything is in one `BEGIN IMMEDIATE` transaction that re-checks the "seeded" marks, so a
//! crash mid-seed leaves nothing behind and two processes opening the same empty file seed it
//! once between them. The payment data (merchants, limits) has its own mark, so a file seeded
//! before payments existed gains it at its next open.

mod history;
mod merchants;
mod people;
mod products;

use std::sync::OnceLock;

use rusqlite::{Connection, params};
use scenegate_sqlite_batch::WriterThread;
use sha2::{Digest, Sha256};

use crate::{DEMO_PASSWORD, Holding, password};

pub(crate) use people::ensure_gl;
pub(crate) use people::gl as clearing_account;

/// Seeds when the core has never been seeded and holds no customers; adds the payment data
/// to a core this seed wrote before payments existed. A core holding customers it did not
/// seed is left alone. Only the demo accounts `holding` holds are written (see
/// `history` for the entries whose other side is elsewhere); every customer is. Runs on the
/// ledger's writer thread, as one job: all of it in one transaction.
pub(crate) async fn seed_once(batch: &WriterThread, holding: &Holding) -> anyhow::Result<()> {
    if batch.write(marks).await??.done() {
        return Ok(());
    }
    let hashes = tokio::task::spawn_blocking(demo_hashes).await??;
    let holding = holding.clone();
    batch.write(move |conn| seed_in(conn, &hashes, &holding)).await?
}

/// The seed inside the writer's transaction; re-checks the marks under the write lock, so two
/// processes opening the same empty file seed it once between them.
fn seed_in(conn: &Connection, hashes: &[String], holding: &Holding) -> anyhow::Result<()> {
    let marks = marks(conn)?;
    if marks.done() {
        return Ok(());
    }
    if !marks.base {
        base(conn, hashes, holding)?;
    }
    if !marks.payments {
        merchants::insert(conn, &hashes[people::CUSTOMERS.len()..], holding)?;
        conn.execute("INSERT INTO meta (key, value) VALUES ('seeded_payments', '1')", [])?;
    }
    Ok(())
}

fn base(conn: &Connection, hashes: &[String], holding: &Holding) -> anyhow::Result<()> {
    people::insert(conn, hashes, holding)?;
    products::insert(conn)?;
    history::run(conn, holding)?;
    // Frozen only now, after its history, as a real freeze would stop a live account (no
    // row to change when another core holds it).
    conn.execute(
        "UPDATE accounts SET acct_status = 'F' WHERE acct_no = ?1",
        params![people::acct_no(people::FROZEN_SERIAL)],
    )?;
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('seeded_for', ?1)",
        params![crate::clock::fmt_date(history::anchor())],
    )?;
    Ok(())
}

struct Marks {
    base: bool,
    payments: bool,
    customers: i64,
}

impl Marks {
    /// Nothing left to write: fully seeded, or holding customers this seed did not write.
    fn done(&self) -> bool {
        (self.base && self.payments) || (!self.base && self.customers > 0)
    }
}

fn marks(conn: &Connection) -> rusqlite::Result<Marks> {
    let (base, payments, customers): (i64, i64, i64) = conn.query_row(
        "SELECT (SELECT COUNT(*) FROM meta WHERE key = 'seeded_for'),
                (SELECT COUNT(*) FROM meta WHERE key = 'seeded_payments'),
                (SELECT COUNT(*) FROM customers)",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    Ok(Marks { base: base > 0, payments: payments > 0, customers })
}

/// One Argon2 hash per demo customer (the merchants after the others), salted from the customer number so the seed stays
/// deterministic. Memoised per process: tests open many seeded cores and the hashes are
/// identical every time, so paying Argon2's cost once is enough.
fn demo_hashes() -> anyhow::Result<Vec<String>> {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    if let Some(h) = HASHES.get() {
        return Ok(h.clone());
    }
    let hashes = people::CUSTOMERS
        .iter()
        .chain(&merchants::MERCHANTS)
        .map(|c| {
            let salt = Sha256::digest(format!("scenegate-corebank-mock:{}", c.cust_no).as_bytes());
            password::hash(DEMO_PASSWORD, &salt[..16])
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(HASHES.get_or_init(|| hashes).clone())
}
