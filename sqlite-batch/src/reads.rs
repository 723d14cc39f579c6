//! Short reads run on the calling task's own thread.
//!
//! A point lookup (a row by its key, a page by a range of it) on a WAL file takes tens of
//! microseconds. sqlx's SQLite driver runs each connection on a worker thread of its own and
//! hands every statement and every row across channels: two thread wake-ups or more per
//! read, which on the bench's two shared cores cost more than the lookups (`perf` during a
//! statement-page load: a fifth of the process's CPU in those worker threads, half of it
//! switching to and from them). So these reads use plain `rusqlite` connections, opened
//! read-only, taken from an idle list for the length of one closure and put back. The
//! core-bank mock reads this way; the gateway reads an idempotency record this way (a
//! partner's retry is decided by it).
//!
//! Only for reads an index bounds (a key, or a range with a small `LIMIT`): a scan would hold
//! an async worker thread for as long as it runs. Blocking an async worker for a lookup this
//! short is cheaper than the hand-off; a WAL reader does not wait for the writer, and the
//! busy timeout below bounds the rare wait (another connection recovering the WAL index). No
//! `.await` can happen while a connection is held, so there are never more connections out
//! than threads running reads; the idle list keeps at most [`MAX_IDLE`] of them.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Connections kept open between reads; more are opened when more threads read at once.
const MAX_IDLE: usize = 8;
/// How long a read waits for a lock it cannot take at once (WAL index recovery).
const BUSY_TIMEOUT: Duration = Duration::from_millis(500);

/// Read-only connections to one SQLite file. Cheap to clone; clones share the connections.
#[derive(Clone, Debug)]
pub struct InlineReads {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl InlineReads {
    /// Opens one connection at once, so a file that cannot be read fails its owner's start.
    pub fn open(path: &Path) -> rusqlite::Result<Self> {
        let first = connect(path)?;
        Ok(Self { inner: Arc::new(Inner { path: path.to_owned(), idle: Mutex::new(vec![first]) }) })
    }

    /// Runs `read` on an idle connection (or a new one) and puts the connection back.
    /// Statements should be `prepare_cached`: each connection keeps its prepared statements.
    pub fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> rusqlite::Result<T> {
        let idle = self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop();
        let conn = match idle {
            Some(conn) => conn,
            None => connect(&self.inner.path)?,
        };
        let out = read(&conn);
        let mut idle = self.inner.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        out
    }
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with_a_row() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("core.sqlite");
        let setup = Connection::open(&path).unwrap();
        setup.pragma_update(None, "journal_mode", "WAL").unwrap();
        setup.execute_batch("CREATE TABLE t (v INTEGER); INSERT INTO t VALUES (7);").unwrap();
        (dir, path)
    }

    #[test]
    fn reads_see_committed_rows_and_cannot_write() {
        let (_dir, path) = file_with_a_row();
        let reads = InlineReads::open(&path).unwrap();
        let v: i64 = reads.with(|c| c.prepare_cached("SELECT v FROM t")?.query_row([], |r| r.get(0))).unwrap();
        assert_eq!(v, 7);
        let write = reads.with(|c| c.execute("INSERT INTO t VALUES (8)", []));
        assert!(write.is_err(), "a read connection must refuse a write: {write:?}");
        Connection::open(&path).unwrap().execute("INSERT INTO t VALUES (9)", []).unwrap();
        let n: i64 = reads.with(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))).unwrap();
        assert_eq!(n, 2, "a later read sees a later commit");
    }

    #[test]
    fn concurrent_readers_each_get_a_connection_and_the_idle_list_stays_bounded() {
        let (_dir, path) = file_with_a_row();
        let reads = InlineReads::open(&path).unwrap();
        let barrier = std::sync::Barrier::new(MAX_IDLE + 4);
        std::thread::scope(|s| {
            for _ in 0..MAX_IDLE + 4 {
                s.spawn(|| {
                    reads
                        .with(|c| {
                            // Every thread holds its connection until all hold one.
                            barrier.wait();
                            c.query_row("SELECT v FROM t", [], |r| r.get::<_, i64>(0))
                        })
                        .unwrap()
                });
            }
        });
        assert_eq!(reads.inner.idle.lock().unwrap().len(), MAX_IDLE);
    }
}
