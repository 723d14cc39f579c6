//! Opening the SQLite file and laying down the schema.
//!
//! The schema is plain `CREATE … IF NOT EXISTS` run at every open: the workspace builds sqlx
//! without its macros, so `sqlx::migrate!` is not available, and a mock has no deployed
//! versions to migrate between. Money columns are signed integer minor units.

use std::path::Path;
use std::time::Duration;

use std::sync::Arc;

use scenegate_sqlite_batch::{GatedPool, InlineReads, WriteGate, WriterOptions, WriterThread};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

/// Writers wait this long for the write lock before failing: `BEGIN IMMEDIATE` blocks here
/// rather than erroring when another transfer holds the lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The ledger's connections: the writer thread that commits postings and voids in groups,
/// one pooled connection for the other writes, and some that read.
///
/// SQLite lets one writer in at a time; with several writing connections the ones that find
/// the file locked sleep in SQLite's busy handler (1, 2, 5, 10… ms) rather than queue, which
/// under concurrent postings left the lock free most of the time. So every write waits for
/// one gate first, first come first served (`scenegate-sqlite-batch`); WAL lets the readers
/// go on beside it.
#[derive(Clone, Debug)]
pub(crate) struct Db {
    /// Postings, voids, seeding and the reads that decide them, on the writer thread.
    pub(crate) batch: WriterThread,
    /// The other writes (codes, mock settings), one at a time behind the gate.
    pub(crate) writer: GatedPool,
    /// Reads only, on the caller's thread (opened read-only: a write here fails).
    pub(crate) reads: InlineReads,
    /// A core without a data folder keeps its file here, removed with the last handle.
    pub(crate) _scratch: Option<Arc<tempfile::TempDir>>,
}

/// Opens (creating when missing) `dir/corebank.sqlite`, or a private file in a temporary
/// folder of its own.
pub(crate) async fn connect(dir: Option<&Path>) -> anyhow::Result<Db> {
    let (dir, scratch) = match dir {
        Some(dir) => (dir.to_owned(), None),
        None => {
            let scratch = tempfile::Builder::new().prefix("corebank-mock-").tempdir()?;
            (scratch.path().to_owned(), Some(Arc::new(scratch)))
        }
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("corebank.sqlite");
    let opts = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL, not WAL's usual NORMAL: an acknowledged transfer must survive power loss.
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT);
    let writer =
        SqlitePoolOptions::new().max_connections(1).acquire_timeout(BUSY_TIMEOUT).connect_with(opts.clone()).await?;
    create_schema(&writer).await?;
    let reads = InlineReads::open(&path)?;
    let gate = WriteGate::default();
    let options = WriterOptions { db: "core_mock", busy_timeout: BUSY_TIMEOUT, foreign_keys: true };
    let batch = WriterThread::open(&path, options, gate.clone())?;
    Ok(Db { batch, writer: GatedPool::new(writer, gate, BUSY_TIMEOUT), reads, _scratch: scratch })
}

async fn create_schema(pool: &SqlitePool) -> anyhow::Result<()> {
    for stmt in SCHEMA {
        sqlx::query(*stmt).execute(pool).await?;
    }
    if upgrade_payment_meta(pool).await? {
        // The old table's index and triggers went with it.
        for stmt in SCHEMA {
            sqlx::query(*stmt).execute(pool).await?;
        }
    }
    Ok(())
}

/// What makes a txn a payment, a refund or an inbound credit; plain transfers have no row.
/// Kept apart from `txns` so a data file from before payments opens unchanged. `scene` is
/// optional for an inbound credit only.
const PAYMENT_META: &str = "CREATE TABLE IF NOT EXISTS payment_meta (
        txn_id       TEXT PRIMARY KEY REFERENCES txns (txn_id),
        kind         TEXT NOT NULL CHECK (kind IN ('payment', 'refund', 'inbound')),
        scene        TEXT CHECK (scene IS NOT NULL OR kind = 'inbound'),
        mcc          TEXT,
        channel      TEXT NOT NULL,
        orig_req_seq TEXT,
        cpty_bank    TEXT,
        CHECK ((kind = 'refund') = (orig_req_seq IS NOT NULL))
    )";

/// A file from before inbound credits has a `payment_meta` that refuses them: the table is
/// rebuilt once as [`PAYMENT_META`] (SQLite cannot alter a CHECK), its rows copied, in one
/// transaction. True when it was.
async fn upgrade_payment_meta(pool: &SqlitePool) -> anyhow::Result<bool> {
    let sql: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'payment_meta'")
            .fetch_one(pool)
            .await?;
    if sql.contains("'inbound'") {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let create = PAYMENT_META.replacen("payment_meta (", "payment_meta_next (", 1);
    sqlx::query(sqlx::AssertSqlSafe(create)).execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO payment_meta_next (txn_id, kind, scene, mcc, channel, orig_req_seq, cpty_bank)
         SELECT txn_id, kind, scene, mcc, channel, orig_req_seq, cpty_bank FROM payment_meta",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query("DROP TABLE payment_meta").execute(&mut *tx).await?;
    sqlx::query("ALTER TABLE payment_meta_next RENAME TO payment_meta").execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(true)
}

/// One statement per entry: SQLite prepares statements one at a time.
pub(crate) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS customers (
        cust_no       TEXT PRIMARY KEY,
        cust_name     TEXT NOT NULL,
        cust_type     TEXT NOT NULL CHECK (cust_type IN ('P', 'B')),
        id_type       TEXT NOT NULL,
        id_no         TEXT NOT NULL,
        mobile        TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS accounts (
        acct_no     TEXT PRIMARY KEY,
        cust_no     TEXT REFERENCES customers (cust_no),
        acct_name   TEXT NOT NULL,
        ccy         TEXT NOT NULL CHECK (length(ccy) = 3),
        acct_type   TEXT NOT NULL CHECK (acct_type IN ('SAV', 'CUR', 'GL')),
        acct_status TEXT NOT NULL CHECK (acct_status IN ('N', 'F', 'C')),
        open_date   TEXT NOT NULL,
        CHECK ((acct_type = 'GL') = (cust_no IS NULL))
    )",
    "CREATE INDEX IF NOT EXISTS accounts_by_cust ON accounts (cust_no, acct_no)",
    "CREATE TABLE IF NOT EXISTS products (
        prod_code TEXT PRIMARY KEY,
        prod_type TEXT NOT NULL CHECK (prod_type IN ('DEP', 'CLN', 'SLN')),
        body      TEXT NOT NULL
    )",
    // cpty_* name an outside party (employer, merchant) when the other leg is a GL account.
    "CREATE TABLE IF NOT EXISTS txns (
        txn_id      TEXT PRIMARY KEY,
        req_seq     TEXT NOT NULL UNIQUE,
        txn_time    INTEGER NOT NULL,
        memo        TEXT NOT NULL,
        cpty_name   TEXT,
        cpty_acct   TEXT,
        fingerprint TEXT NOT NULL
    )",
    "CREATE TABLE IF NOT EXISTS postings (
        posting_id INTEGER PRIMARY KEY AUTOINCREMENT,
        txn_id     TEXT NOT NULL REFERENCES txns (txn_id),
        acct_no    TEXT NOT NULL REFERENCES accounts (acct_no),
        amount_fen INTEGER NOT NULL CHECK (amount_fen <> 0),
        ccy        TEXT NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS postings_by_acct ON postings (acct_no, posting_id)",
    "CREATE INDEX IF NOT EXISTS postings_by_txn ON postings (txn_id)",
    // The running balance after each posting, as a real core keeps it: written with the
    // posting (by its trigger, below), so a balance is one index lookup and a statement page
    // carries its balances without summing the account's history. Apart from `postings` so
    // a data file from before it opens unchanged (filled below), and append-only like it;
    // `GET /core/ledger/check` recomputes every row from the postings.
    "CREATE TABLE IF NOT EXISTS posting_balances (
        posting_id    INTEGER PRIMARY KEY REFERENCES postings (posting_id),
        acct_no       TEXT NOT NULL REFERENCES accounts (acct_no),
        bal_after_fen INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS posting_balances_by_acct ON posting_balances (acct_no, posting_id)",
    "CREATE TRIGGER IF NOT EXISTS posting_balances_no_update BEFORE UPDATE ON posting_balances
     BEGIN SELECT RAISE(ABORT, 'posting balances are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS posting_balances_no_delete BEFORE DELETE ON posting_balances
     BEGIN SELECT RAISE(ABORT, 'posting balances are append-only'); END",
    // A file from before running balances: every posting gets its balance, once.
    "INSERT INTO posting_balances (posting_id, acct_no, bal_after_fen)
     SELECT posting_id, acct_no, SUM(amount_fen) OVER (PARTITION BY acct_no ORDER BY posting_id)
     FROM postings
     WHERE NOT EXISTS (SELECT 1 FROM posting_balances)",
    // Every new posting's running balance, written by the statement that writes the posting:
    // the account's last balance plus the amount. One statement per leg instead of three.
    "CREATE TRIGGER IF NOT EXISTS postings_running_balance AFTER INSERT ON postings
     BEGIN
       INSERT INTO posting_balances (posting_id, acct_no, bal_after_fen)
       VALUES (NEW.posting_id, NEW.acct_no, NEW.amount_fen + COALESCE(
         (SELECT bal_after_fen FROM posting_balances WHERE acct_no = NEW.acct_no ORDER BY posting_id DESC LIMIT 1), 0));
     END",
    // The account's statement file, as a real core keeps one: a line per posting with
    // everything a statement shows (the txn's time and memo, the counterparty, the running
    // balance), so a statement page is one range scan of this table's key instead of five
    // lookups a line (posting, balance, txn, the other leg, its account) in a five-table
    // join. Keyed by account and posting, without a rowid: a page's lines sit together in
    // key order, each line whole in the key's b-tree (no second lookup by rowid). The
    // counterparty is the other leg's account when that is a customer's, else the outside
    // party recorded on the txn (employer, merchant, another bank's account). Written in the
    // posting's transaction (by the trigger below), apart from `postings` so a data file from
    // before it opens unchanged (filled below), and append-only like it;
    // `GET /core/ledger/check` recomputes every line from the postings, txns and accounts.
    "CREATE TABLE IF NOT EXISTS statement_lines (
        acct_no       TEXT NOT NULL,
        posting_id    INTEGER NOT NULL REFERENCES postings (posting_id),
        txn_id        TEXT NOT NULL,
        txn_time      INTEGER NOT NULL,
        amount_fen    INTEGER NOT NULL,
        ccy           TEXT NOT NULL,
        memo          TEXT NOT NULL,
        cpty_name     TEXT,
        cpty_acct     TEXT,
        bal_after_fen INTEGER NOT NULL,
        PRIMARY KEY (acct_no, posting_id)
    ) WITHOUT ROWID",
    "CREATE TRIGGER IF NOT EXISTS statement_lines_no_update BEFORE UPDATE ON statement_lines
     BEGIN SELECT RAISE(ABORT, 'statement lines are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS statement_lines_no_delete BEFORE DELETE ON statement_lines
     BEGIN SELECT RAISE(ABORT, 'statement lines are append-only'); END",
    // A posting's statement line as its posting, running balance, txn and other leg make it:
    // the counterparty is the other leg's customer, or the outside party recorded on the txn
    // when that leg is a GL account. Written once, for the backfill and the trigger below.
    "CREATE VIEW IF NOT EXISTS statement_lines_made AS
     SELECT p.acct_no, p.posting_id, p.txn_id, t.txn_time, p.amount_fen, p.ccy, t.memo,
            CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_name ELSE t.cpty_name END AS cpty_name,
            CASE WHEN oa.cust_no IS NOT NULL THEN oa.acct_no ELSE t.cpty_acct END AS cpty_acct,
            b.bal_after_fen
     FROM postings p
     JOIN posting_balances b ON b.posting_id = p.posting_id
     JOIN txns t ON t.txn_id = p.txn_id
     JOIN postings o ON o.txn_id = p.txn_id AND o.posting_id <> p.posting_id
     LEFT JOIN accounts oa ON oa.acct_no = o.acct_no",
    // A file from before statement lines: every posting gets its line, once (after its
    // running balance, above).
    "INSERT INTO statement_lines
       (acct_no, posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen)
     SELECT acct_no, posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen
     FROM statement_lines_made
     WHERE NOT EXISTS (SELECT 1 FROM statement_lines)",
    // Each txn's two lines, written when its second leg's running balance is: a line names
    // the other leg, which the first leg's own insert cannot see yet (both legs are one
    // INSERT, and SQLite runs a row's AFTER triggers before inserting the next row). By the
    // second leg's balance, both legs, both balances and the txn are in place (the view's
    // inner joins make nothing before). A txn whose first leg is all there is (none is
    // posted so) has no lines, and the audit names it.
    "CREATE TRIGGER IF NOT EXISTS statement_lines_on_second_leg AFTER INSERT ON posting_balances
     BEGIN
       INSERT INTO statement_lines
         (acct_no, posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen)
       SELECT acct_no, posting_id, txn_id, txn_time, amount_fen, ccy, memo, cpty_name, cpty_acct, bal_after_fen
       FROM statement_lines_made
       WHERE txn_id = (SELECT txn_id FROM postings WHERE posting_id = NEW.posting_id);
     END",
    // The ledger is append-only: a correction is a new transaction, never an edit.
    "CREATE TRIGGER IF NOT EXISTS postings_no_update BEFORE UPDATE ON postings
     BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS postings_no_delete BEFORE DELETE ON postings
     BEGIN SELECT RAISE(ABORT, 'postings are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS postings_ccy_matches BEFORE INSERT ON postings
     WHEN NEW.ccy IS NOT (SELECT ccy FROM accounts WHERE acct_no = NEW.acct_no)
     BEGIN SELECT RAISE(ABORT, 'posting currency differs from its account'); END",
    PAYMENT_META,
    // What each customer has paid out per currency and Beijing day (`day` is the day's first
    // second): the daily limit's running total, counted in the posting's transaction instead
    // of summing the day's payments on every payment. A day with no row yet (a file written
    // before this table) is summed once from the postings.
    "CREATE TABLE IF NOT EXISTS cust_day_spend (
        cust_no  TEXT NOT NULL,
        ccy      TEXT NOT NULL,
        day      INTEGER NOT NULL,
        used_fen INTEGER NOT NULL CHECK (used_fen >= 0),
        PRIMARY KEY (cust_no, ccy, day)
    )",
    "CREATE INDEX IF NOT EXISTS payment_meta_by_orig ON payment_meta (orig_req_seq)",
    "CREATE TRIGGER IF NOT EXISTS payment_meta_no_update BEFORE UPDATE ON payment_meta
     BEGIN SELECT RAISE(ABORT, 'payment_meta is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS payment_meta_no_delete BEFORE DELETE ON payment_meta
     BEGIN SELECT RAISE(ABORT, 'payment_meta is append-only'); END",
    // A voided req_seq is burnt for good: nothing may ever be posted under it.
    "CREATE TABLE IF NOT EXISTS voided_req_seqs (
        req_seq   TEXT PRIMARY KEY,
        voided_at INTEGER NOT NULL
    )",
    "CREATE TRIGGER IF NOT EXISTS voided_req_seqs_no_delete BEFORE DELETE ON voided_req_seqs
     BEGIN SELECT RAISE(ABORT, 'voided req_seqs stay voided'); END",
    // Per customer and currency; a customer without a row for a currency cannot pay in it.
    "CREATE TABLE IF NOT EXISTS cust_limits (
        cust_no     TEXT NOT NULL REFERENCES customers (cust_no),
        ccy         TEXT NOT NULL CHECK (length(ccy) = 3),
        per_txn_fen INTEGER NOT NULL CHECK (per_txn_fen >= 0),
        daily_fen   INTEGER NOT NULL CHECK (daily_fen >= 0),
        PRIMARY KEY (cust_no, ccy)
    )",
    // Only a salted SHA-256 of the code is kept; the code itself lives in the SMS text alone.
    "CREATE TABLE IF NOT EXISTS otps (
        otp_id     TEXT PRIMARY KEY,
        cust_no    TEXT NOT NULL REFERENCES customers (cust_no),
        ref        TEXT NOT NULL,
        purpose    TEXT NOT NULL,
        code_hash  TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        failed     INTEGER NOT NULL DEFAULT 0,
        used_at    INTEGER
    )",
    // What the SMS gateway would have delivered: the demo's phone.
    "CREATE TABLE IF NOT EXISTS sms_outbox (
        msg_id  INTEGER PRIMARY KEY AUTOINCREMENT,
        mobile  TEXT NOT NULL,
        text    TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        otp_id  TEXT
    )",
];

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// A file written before inbound credits: its `payment_meta` is rebuilt once, rows kept,
    /// and then takes an inbound row without a scene.
    #[tokio::test]
    async fn an_old_payment_meta_is_upgraded_in_place() {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:").unwrap().foreign_keys(false);
        let pool = SqlitePoolOptions::new().max_connections(1).idle_timeout(None).max_lifetime(None);
        let pool = pool.connect_with(opts).await.unwrap();
        sqlx::query(
            "CREATE TABLE payment_meta (
                txn_id TEXT PRIMARY KEY REFERENCES txns (txn_id),
                kind TEXT NOT NULL CHECK (kind IN ('payment', 'refund')),
                scene TEXT NOT NULL, mcc TEXT, channel TEXT NOT NULL, orig_req_seq TEXT, cpty_bank TEXT,
                CHECK ((kind = 'refund') = (orig_req_seq IS NOT NULL)))",
        )
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO payment_meta VALUES ('T1', 'payment', 'travel', NULL, 'ptn', NULL, NULL)")
            .execute(&pool)
            .await
            .unwrap();

        create_schema(&pool).await.unwrap();
        create_schema(&pool).await.unwrap();
        let kept: Vec<(String, String)> =
            sqlx::query_as("SELECT txn_id, scene FROM payment_meta").fetch_all(&pool).await.unwrap();
        assert_eq!(kept, [("T1".to_owned(), "travel".to_owned())]);
        sqlx::query("INSERT INTO payment_meta (txn_id, kind, channel) VALUES ('T2', 'inbound', 'ptn')")
            .execute(&pool)
            .await
            .unwrap();
        let no_scene = sqlx::query("INSERT INTO payment_meta (txn_id, kind, channel) VALUES ('T3', 'payment', 'p')");
        assert!(no_scene.execute(&pool).await.is_err(), "only an inbound credit may lack a scene");
        let edit = sqlx::query("UPDATE payment_meta SET channel = 'x'").execute(&pool).await;
        assert!(edit.is_err(), "the append-only triggers are back");
    }
}
