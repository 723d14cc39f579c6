//! Throwaway key prefixes for tests and benchmarks on a real Redis: each is unique, and its
//! keys are deleted when its guard is dropped. Most of the gateway's keys expire, but the
//! change marks' incarnation lives as long as Redis keeps it, so without this every run on a
//! shared Redis would leave a key behind. Nothing outside the prefix is touched.

/// A key prefix this process made up; its keys are deleted with the guard.
#[derive(Debug)]
pub struct ScratchPrefix {
    server: String,
    prefix: String,
}

impl ScratchPrefix {
    /// `sgtest-<uuid>` on the Redis at `server` (a `redis://` URL).
    pub fn new(server: &str) -> Self {
        Self { server: server.to_owned(), prefix: format!("sgtest-{}", uuid::Uuid::new_v4().simple()) }
    }

    /// The prefix, for `shared.key_prefix`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Drop for ScratchPrefix {
    fn drop(&mut self) {
        let (server, pattern) = (self.server.clone(), format!("{}:*", self.prefix));
        let what = format!("the Redis keys under {}", self.prefix);
        crate::store::scratch::clean_up_on_drop(what, std::time::Duration::from_secs(10), move || async move {
            let client = redis::Client::open(server.as_str()).ok()?;
            let mut conn = client.get_multiplexed_async_connection().await.ok()?;
            let mut cursor = 0u64;
            // Bounded: a test's prefix holds a few hundred keys at most.
            for _ in 0..1_000 {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1_000)
                    .query_async(&mut conn)
                    .await
                    .ok()?;
                if !keys.is_empty() {
                    redis::cmd("DEL").arg(keys).query_async::<i64>(&mut conn).await.ok()?;
                }
                if next == 0 {
                    return Some(());
                }
                cursor = next;
            }
            None
        });
    }
}
