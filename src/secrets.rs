//! Where the gateway's own keys live, and how every instance follows a rotation.
//!
//! The embedded default keeps them in files under the data directory (created on first
//! start, reloaded on `SIGHUP`). In cluster mode every instance must sign with the same key
//! set and derive the same pseudonyms, so they live in the shared database
//! ([`SecretStore`]): the first instance to start writes them, the others read the same
//! rows, and each instance re-reads the key set every few seconds, so a rotation by
//! `scenegate rotate-signing-key` reaches all of them well within the JWKS cache lifetime
//! the new key waits before it signs.

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context;
use arc_swap::ArcSwap;

use crate::{
    accounts::Pseudonyms,
    auth::{Clock, signing::SigningKeys},
    store::SecretStore,
};

const SIGNING_KEYS: &str = "signing_keys";
const PSEUDONYM_KEY: &str = "pseudonym_key";
/// How often a cluster instance looks for a rotated key set: far below the shortest JWKS
/// cache lifetime a rotation waits (`auth.jwks_max_age_secs`, twice).
const FOLLOW_EVERY: Duration = Duration::from_secs(5);

/// Where this gateway's keys are.
#[derive(Clone)]
pub enum KeyHome {
    Files { signing_keys: PathBuf, pseudonym_key: PathBuf },
    Shared(Arc<dyn SecretStore>),
}

impl KeyHome {
    /// The key set in force at `now`, created on first use.
    pub async fn signing_keys(&self, now: i64) -> anyhow::Result<SigningKeys> {
        match self {
            Self::Files { signing_keys, .. } => Ok(SigningKeys::load_or_create(signing_keys, now)?),
            Self::Shared(store) => {
                let candidate = crate::auth::signing::new_key_set_text(now)?;
                let text = store
                    .get_or_insert(SIGNING_KEYS, &candidate, now)
                    .await
                    .context("reading the shared signing keys")?;
                Ok(SigningKeys::from_text(&text, "database: gateway_secrets.signing_keys", now)?)
            }
        }
    }

    /// The pseudonym key, created on first use.
    pub async fn pseudonyms(&self) -> anyhow::Result<Pseudonyms> {
        match self {
            Self::Files { pseudonym_key, .. } => Ok(Pseudonyms::load_or_create(pseudonym_key)?),
            Self::Shared(store) => {
                let candidate = Pseudonyms::generate_text()?;
                let now = jiff::Timestamp::now().as_second();
                let text = store
                    .get_or_insert(PSEUDONYM_KEY, &candidate, now)
                    .await
                    .context("reading the shared pseudonym key")?;
                Ok(Pseudonyms::from_text(&text, "database: gateway_secrets.pseudonym_key")?)
            }
        }
    }

    /// Adds a key that is published now and signs `activate_after_secs` later (see
    /// [`crate::auth::signing::rotate`]). Returns its key id.
    pub async fn rotate(&self, now: i64, activate_after_secs: i64, grace_secs: i64) -> anyhow::Result<String> {
        match self {
            Self::Files { signing_keys, .. } => {
                Ok(crate::auth::signing::rotate(signing_keys, now, activate_after_secs, grace_secs)?)
            }
            Self::Shared(store) => {
                // Compare-and-set: two staff rotating at once must not lose one's key.
                for _ in 0..5 {
                    let candidate = crate::auth::signing::new_key_set_text(now)?;
                    store.get_or_insert(SIGNING_KEYS, &candidate, now).await?;
                    let (text, version) = store.get(SIGNING_KEYS).await?.context("the signing keys vanished")?;
                    let (rotated, kid) =
                        crate::auth::signing::rotate_text(&text, now, activate_after_secs, grace_secs)?;
                    if store.replace(SIGNING_KEYS, &rotated, version, now).await? {
                        return Ok(kid);
                    }
                }
                anyhow::bail!("the signing keys kept changing under the rotation; try again")
            }
        }
    }

    /// Keeps `keys` current: on `SIGHUP` for files, by re-reading the shared row otherwise.
    pub fn spawn_follow(&self, keys: Arc<ArcSwap<SigningKeys>>, clock: Arc<dyn Clock>) {
        match self.clone() {
            Self::Files { signing_keys, .. } => reload_on_sighup(signing_keys, keys, clock),
            Self::Shared(store) => {
                tokio::spawn(async move {
                    let mut seen = None;
                    let mut tick = tokio::time::interval(FOLLOW_EVERY);
                    loop {
                        tick.tick().await;
                        let (text, version) = match store.get(SIGNING_KEYS).await {
                            Ok(Some(row)) => row,
                            Ok(None) => continue,
                            Err(e) => {
                                tracing::warn!(error = %e, "could not re-read the shared signing keys");
                                continue;
                            }
                        };
                        // Rebuilt at every tick, not only on a new version: keys activate
                        // and retire with time.
                        match SigningKeys::from_text(&text, "database", clock.now()) {
                            Ok(fresh) => {
                                if seen.is_some_and(|v| v != version) {
                                    log_reload(&fresh, clock.now());
                                }
                                keys.store(Arc::new(fresh));
                                seen = Some(version);
                            }
                            Err(e) => {
                                tracing::error!(error = %e, "shared signing keys unreadable; keeping the current ones")
                            }
                        }
                    }
                });
            }
        }
    }
}

fn log_reload(fresh: &SigningKeys, now: i64) {
    let kids: Vec<&str> = fresh.published.iter().map(|k| k.kid.as_str()).collect();
    tracing::info!(published = ?kids, signing = %fresh.signer(now).0, "signing keys reloaded");
}

/// `kill -HUP` after `scenegate rotate-signing-key` makes the new key known at once.
fn reload_on_sighup(path: PathBuf, keys: Arc<ArcSwap<SigningKeys>>, clock: Arc<dyn Clock>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else { return };
        while hup.recv().await.is_some() {
            match SigningKeys::load_or_create(&path, clock.now()) {
                Ok(fresh) => {
                    log_reload(&fresh, clock.now());
                    keys.store(Arc::new(fresh));
                }
                Err(e) => tracing::error!(error = %e, "signing keys not reloaded; keeping the current ones"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{postgres::PgSecretStore, test_support::postgres_pool};

    #[tokio::test]
    async fn instances_sharing_a_database_sign_and_pseudonymise_alike_and_follow_a_rotation() {
        let Some((pool, _db)) = postgres_pool().await else { return };
        let homes: Vec<KeyHome> = (0..3).map(|_| KeyHome::Shared(Arc::new(PgSecretStore::new(pool.clone())))).collect();
        // Started together: every instance ends up with the one key set the first wrote.
        let started: Vec<_> = homes
            .iter()
            .cloned()
            .map(|h| tokio::spawn(async move { h.signing_keys(1_000).await.unwrap().signer(1_000).0.to_owned() }))
            .collect();
        let mut kids = Vec::new();
        for s in started {
            kids.push(s.await.unwrap());
        }
        assert!(kids.windows(2).all(|w| w[0] == w[1]), "one signing key for all: {kids:?}");
        let a = homes[0].pseudonyms().await.unwrap().customer_id("ptn_a", "C1");
        let b = homes[2].pseudonyms().await.unwrap().customer_id("ptn_a", "C1");
        assert_eq!(a, b, "the same pseudonym from every instance");

        // A rotation through one is published by the others, and signs after its delay.
        let fresh = homes[1].rotate(2_000, 120, 360).await.unwrap();
        let seen = homes[2].signing_keys(2_001).await.unwrap();
        assert!(seen.verifying(&fresh).is_some(), "published at once");
        assert_eq!(seen.signer(2_001).0, kids[0], "the old key still signs before activation");
        assert_eq!(homes[0].signing_keys(2_120).await.unwrap().signer(2_120).0, fresh);
    }
}
