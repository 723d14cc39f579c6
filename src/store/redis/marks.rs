//! Change marks on Redis: how a cluster's instances tell each other that a consent or the
//! tokens changed, so each may keep what it read between changes (see [`crate::kept`]).
//!
//! Each subject has a hash `{pending, v}`: `pending` counts changes under way, `v` is a random
//! value replaced by every change's end. A subject's stamp is `v` (or `-` if it never changed)
//! behind the *incarnation*, a random value set once when missing, so a Redis that restarted
//! empty (it keeps nothing on disk) gives every subject a stamp no value was kept under. A
//! subject with a change under way has no stamp.
//!
//! The hashes expire [`MARK_TTL`] after their last change, long after anything kept under
//! their previous stamp has aged out (`kept::MAX_AGE`), so a subject whose mark expired and
//! reads `-` again cannot bring back a value kept before its change. A change's instance
//! that dies between its two steps leaves `pending` behind until then: that subject is read
//! from the database meanwhile, never served stale. Redis must not evict keys
//! (`maxmemory-policy noeviction`), as for the rate limits.

use async_trait::async_trait;

use super::Redis;
use crate::{
    kept::{ChangeMarks, MAX_AGE, Stamp},
    store::StoreError,
};

/// How long a subject's mark outlives its last change.
pub const MARK_TTL: std::time::Duration = std::time::Duration::from_secs(3600);
const _: () = assert!(MARK_TTL.as_secs() > 10 * MAX_AGE.as_secs(), "marks must outlive kept values");

/// KEYS: incarnation, subject. ARGV: a fresh incarnation, used only if there is none.
const OBSERVE: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'NX')
local mark = redis.call('HMGET', KEYS[2], 'pending', 'v')
if tonumber(mark[1] or '0') > 0 then return false end
return redis.call('GET', KEYS[1]) .. '/' .. (mark[2] or '-')
";

/// KEYS: subject. ARGV: TTL in ms.
const BEGIN: &str = r"
redis.call('HINCRBY', KEYS[1], 'pending', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
";

/// KEYS: subject. ARGV: the new value, TTL in ms, the change to `pending` (`-1`, or `0` for
/// a change whose begin failed: it still gives a new stamp).
const END: &str = r"
if redis.call('HINCRBY', KEYS[1], 'pending', ARGV[3]) < 0 then
  redis.call('HSET', KEYS[1], 'pending', 0)
end
redis.call('HSET', KEYS[1], 'v', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

pub struct RedisMarks {
    redis: Redis,
    observe: redis::Script,
    begin: redis::Script,
    end: redis::Script,
}

impl RedisMarks {
    pub fn new(redis: Redis) -> Self {
        Self {
            redis,
            observe: redis::Script::new(OBSERVE),
            begin: redis::Script::new(BEGIN),
            end: redis::Script::new(END),
        }
    }

    fn subject_key(&self, subject: &str) -> String {
        self.redis.key("kept", subject)
    }
}

fn fresh() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn ttl_ms() -> u64 {
    u64::try_from(MARK_TTL.as_millis()).unwrap_or(u64::MAX)
}

#[async_trait]
impl ChangeMarks for RedisMarks {
    async fn observe(&self, subject: &str) -> Option<Stamp> {
        // Known unreachable (the rate limit every partner call passes first found it so):
        // read the database now rather than after another timeout. Changes still try Redis,
        // and the rate limit's next answer ends this.
        if self.redis.health.is_degraded() {
            return None;
        }
        let (incarnation, key) = (self.redis.key("kept", "-incarnation"), self.subject_key(subject));
        self.redis
            .run("change marks", |mut conn| {
                let mut call = self.observe.key(&incarnation);
                call.key(&key).arg(fresh());
                async move { call.invoke_async::<Option<String>>(&mut conn).await }
            })
            .await
            .ok()
            .flatten()
            .map(Stamp::new)
    }

    async fn begin(&self, subject: &str) -> Result<(), StoreError> {
        let key = self.subject_key(subject);
        self.redis
            .run("change marks", |mut conn| {
                let mut call = self.begin.key(&key);
                call.arg(ttl_ms());
                async move { call.invoke_async::<i64>(&mut conn).await }
            })
            .await
            .map(drop)
            .map_err(StoreError::Unavailable)
    }

    async fn end(&self, subject: &str, begun: bool) {
        let key = self.subject_key(subject);
        let ended = self
            .redis
            .run("change marks", |mut conn| {
                let mut call = self.end.key(&key);
                call.arg(fresh()).arg(ttl_ms()).arg(if begun { -1 } else { 0 });
                async move { call.invoke_async::<i64>(&mut conn).await }
            })
            .await;
        if let Err(e) = ended {
            // Its `pending` stays until the mark expires: the subject is read from the
            // database meanwhile. Slower, never stale.
            tracing::warn!(subject, error = %e, "could not end a change mark; the subject is not kept until it expires");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::redis::test_support;

    #[tokio::test]
    async fn a_change_takes_the_stamp_away_while_under_way_and_ends_with_a_new_one() {
        let Some(cfg) = test_support::config().await else { return };
        let marks = RedisMarks::new(Redis::connect(&cfg).unwrap());
        let before = marks.observe("cns_a").await.expect("a stamp");
        assert_eq!(marks.observe("cns_a").await.as_ref(), Some(&before), "stable while nothing changes");
        let other = marks.observe("cns_b").await;

        marks.begin("cns_a").await.unwrap();
        assert_eq!(marks.observe("cns_a").await, None, "no stamp while a change is under way");
        marks.begin("cns_a").await.unwrap(); // a second writer of the same consent
        marks.end("cns_a", true).await;
        assert_eq!(marks.observe("cns_a").await, None, "still one change under way");
        marks.end("cns_a", true).await;
        let after = marks.observe("cns_a").await.expect("a stamp again");
        assert_ne!(after, before, "a new stamp after the change");
        assert_eq!(marks.observe("cns_b").await, other, "other subjects keep theirs");

        // An end whose begin failed still gives a new stamp, and never makes `pending` negative.
        marks.end("cns_a", false).await;
        let bumped = marks.observe("cns_a").await.expect("a stamp");
        assert_ne!(bumped, after);
        marks.end("cns_b", true).await;
        marks.begin("cns_b").await.unwrap();
        assert_eq!(marks.observe("cns_b").await, None, "a begun change counts even after a stray end");
    }

    #[tokio::test]
    async fn a_redis_that_restarted_empty_gives_stamps_nothing_was_kept_under() {
        let Some(cfg) = test_support::config().await else { return };
        let redis = Redis::connect(&cfg).unwrap();
        let marks = RedisMarks::new(redis.clone());
        let never_changed = marks.observe("cns_a").await.unwrap();
        marks.begin("cns_c").await.unwrap();
        marks.end("cns_c", true).await;
        let changed = marks.observe("cns_c").await.unwrap();
        // What a restart loses: every key (only this test's prefix).
        let client = redis::Client::open(cfg.url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> =
            redis::cmd("KEYS").arg(format!("{}:*", cfg.key_prefix)).query_async(&mut conn).await.unwrap();
        let _: () = redis::cmd("DEL").arg(keys).query_async(&mut conn).await.unwrap();
        assert_ne!(marks.observe("cns_a").await.unwrap(), never_changed);
        assert_ne!(marks.observe("cns_c").await.unwrap(), changed);
    }

    #[tokio::test]
    async fn without_redis_there_is_no_stamp_and_no_change_can_be_announced() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let marks = RedisMarks::new(Redis::connect(&test_support::config_at(closed)).unwrap());
        assert_eq!(marks.observe("cns_a").await, None);
        assert!(matches!(marks.begin("cns_a").await, Err(StoreError::Unavailable(_))));
        marks.end("cns_a", true).await; // logged, nothing else
    }
}
