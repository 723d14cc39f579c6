//! Startup: turns a validated `GatewayConfig` into a running gateway's state. Runs once,
//! outside any request, so failures here are reported with context and end the process.

use std::{net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use arc_swap::ArcSwap;
use scenegate_adapter_contract::Notifications;

use crate::{
    accounts::Accounts,
    app::{AppState, GatewayState, Settings},
    auth::{Clock, SystemClock, access_token::AccessTokens, client_assertion::AssertionVerifier},
    config::{self, GatewayConfig, SharedConfig},
    consent::Consents,
    core::CoreClient,
    events::{DeliveryConfig, RetryPolicy, WebhookTarget, delivery},
    grants::{Grants, LocalThrottle, LoginThrottle},
    idempotency::IdempotencyStore,
    kept::{ChangeMarks, SingleWriter},
    limit::{LocalLimits, RateLimiterStore},
    payments::{Payments, spawn_reconciler},
    secrets::KeyHome,
    staff,
    store::{
        ReplayStore, StoreSettings, Stores,
        redis::{Redis, RedisLimits, RedisMarks, RedisReplayStore, RedisThrottle, SharedHealth},
    },
    telemetry,
};

/// What keeps running beside the router: dropping it stops config watching.
pub struct Running {
    pub state: AppState,
    pub _watcher: Option<config::PartnerWatcher>,
}

/// `public_url` as configured, else derived from the bound address (tests bind port 0).
pub fn public_url(cfg: &GatewayConfig, bound: SocketAddr) -> String {
    let scheme = if cfg.server.tls.is_some() { "https" } else { "http" };
    cfg.server.public_url.clone().unwrap_or_else(|| format!("{scheme}://{bound}")).trim_end_matches('/').to_owned()
}

fn ttl_secs(cfg: &GatewayConfig) -> i64 {
    i64::try_from(cfg.auth.access_token_ttl.as_secs()).unwrap_or(300)
}

/// Builds the gateway's state. `clock` is the system clock unless a test brings its own
/// (e.g. a `ManualClock` to move time past a code's expiry).
pub async fn build(
    cfg: &GatewayConfig,
    bound: SocketAddr,
    watch: bool,
    clock: Option<Arc<dyn Clock>>,
) -> anyhow::Result<Running> {
    let clock: Arc<dyn Clock> = clock.unwrap_or_else(|| Arc::new(SystemClock));
    let public_url = public_url(cfg, bound);

    let registry = config::PartnerRegistry::open(cfg.partners.dir.clone()).map_err(|errors| {
        for e in &errors {
            tracing::error!("{e}");
        }
        anyhow::anyhow!("cannot read the partner folder {}", cfg.partners.dir.display())
    })?;
    let registry = Arc::new(registry);
    let partners = registry.live();
    for warning in config::cross_warnings(cfg, &partners.load()) {
        tracing::warn!("{warning}");
    }
    let watcher = if watch {
        Some(config::watch_partners(registry.clone()).context("watching the partner config folder")?)
    } else {
        None
    };

    let stores = open_stores(cfg).await?;
    let key_home = key_home(cfg, &stores);
    let keys = Arc::new(ArcSwap::from_pointee(key_home.signing_keys(clock.now()).await?));
    key_home.spawn_follow(keys.clone(), clock.clone());

    // Emergency stops apply before the first request is served, then follow the database.
    staff::follow_stops(stores.stops.as_ref(), &registry).await.context("reading emergency stops")?;
    staff::spawn_stop_follower(stores.stops.clone(), registry.clone());
    spawn_replay_purge(stores.replay.clone(), clock.clone());

    let shared = shared_state(cfg, &stores)?;
    // Consents and live tokens are kept in memory between changes (`kept`) where every
    // change reaches this process: in the embedded default it makes them all; a cluster's
    // instances announce theirs through Redis. A PostgreSQL store without Redis may have
    // writers this process never hears from, so nothing is kept there.
    let marks: Option<Arc<dyn ChangeMarks>> = match cfg.storage.backend {
        crate::config::StorageBackend::Sqlite => Some(Arc::new(SingleWriter)),
        crate::config::StorageBackend::Postgres(_) => shared.marks.clone(),
    };
    let grants = Grants::new(stores.grants.clone(), stores.sessions.clone(), shared.throttle, clock.clone());
    let grants = Arc::new(match &marks {
        Some(marks) => grants.cached(marks.clone()),
        None => grants,
    });
    spawn_grant_purge(grants.clone());

    let core_tls = cfg.core.tls.load().map_err(|e| anyhow::anyhow!("core TLS settings: {e}"))?;
    let core = CoreClient::from_topology(&cfg.core.topology(&core_tls)).context("building the core client")?;
    let token_endpoint = format!("{public_url}{}", crate::api::oauth::TOKEN_PATH);
    let pseudonyms = key_home.pseudonyms().await?;
    let dpop_nonces = crate::auth::dpop::Nonces::new(&pseudonyms.derive_secret("dpop-nonce"));
    let accounts = Accounts::new(core.clone(), pseudonyms.clone(), clock.clone());
    let events = stores.events.clone();
    let live = partners.clone();
    // Where each partner's webhooks go, as its file says now (none: it polls). The delivery
    // worker asks at each claim; payments ask when they write their events.
    let targets: Arc<dyn crate::events::Targets> = Arc::new(move |partner_id: &str| {
        let set = live.load();
        let partner = set.get(partner_id)?;
        let url = url::Url::parse(partner.webhook_url.as_deref()?).ok()?;
        let hooks = partner.webhooks.as_ref();
        let signer = hooks.and_then(|h| h.signer.clone());
        // Standard Webhooks need the partner's secret; without one the partner polls.
        let own_notifications = partner.capabilities.notifications != Notifications::StandardWebhooks;
        if signer.is_none() && !own_notifications {
            return None;
        }
        Some(WebhookTarget {
            url,
            signer,
            allow_private: hooks.is_some_and(|h| h.allow_private_network),
            adapter: partner.adapter.clone(),
        })
    });

    // Consents' and payments' changes are announced through the outbox, queued for webhooks
    // where the partner has a target.
    let notify: crate::events::NotifyOf = {
        let targets = targets.clone();
        Arc::new(move |partner_id: &str| crate::events::Notify::for_target(targets.target(partner_id).is_some()))
    };
    let consents = Consents::new(stores.consents.clone(), clock.clone()).notifying(notify.clone());
    let consents = match marks {
        Some(marks) => consents.cached(marks),
        None => consents,
    };

    // Payments: recorded before the core is asked, settled by the reconciler when an answer
    // is lost.
    let payments =
        Payments::new(stores.payments.clone(), consents.clone(), core.clone(), pseudonyms, clock.clone(), notify);
    spawn_reconciler(payments.clone());
    spawn_idempotency_purge(stores.idempotency.clone(), clock.clone());
    let retry = RetryPolicy { delays: cfg.webhooks.retry_delays.clone(), horizon: cfg.webhooks.horizon };
    delivery::spawn(
        events.clone(),
        targets,
        clock.clone(),
        DeliveryConfig {
            retry,
            tls: cfg.webhooks.tls.load().map_err(|e| anyhow::anyhow!("webhook TLS settings: {e}"))?,
            ..DeliveryConfig::default()
        },
    )
    .context("starting webhook delivery")?;

    // The audit trail follows the partner files, the outbox and the token tally.
    let token_tally = Arc::new(crate::audit::TokenTally::default());
    crate::audit::spawn(crate::audit::Follower::new(
        stores.audit.clone(),
        registry.clone(),
        token_tally.clone(),
        keys.clone(),
        clock.clone(),
        cfg.audit,
    ));

    let state = GatewayState {
        settings: Settings {
            public_url: public_url.clone(),
            max_body_bytes: cfg.server.max_body_bytes,
            request_timeout: cfg.server.request_timeout,
            jwks_max_age: cfg.auth.jwks_max_age,
            sandbox_customers: cfg.sandbox.headless_customers.clone(),
        },
        tokens: AccessTokens::new(keys.clone(), public_url.clone(), ttl_secs(cfg), clock.clone()),
        assertions: AssertionVerifier {
            token_endpoint,
            issuer: public_url,
            replay: shared.replay,
            clock: clock.clone(),
        },
        dpop_nonces,
        partners,
        keys,
        limits: shared.limits,
        shared_health: shared.health,
        core,
        consents,
        accounts,
        grants,
        payments,
        idempotency: stores.idempotency.clone(),
        events,
        token_tally,
        engine: stores.engine.clone(),
        metrics: telemetry::metrics_handle(),
    };
    Ok(Running { state: AppState(Arc::new(state)), _watcher: watcher })
}

/// Short-lived state, in this process or shared on Redis.
struct Shared {
    limits: Arc<dyn RateLimiterStore>,
    throttle: Arc<dyn LoginThrottle>,
    replay: Arc<dyn ReplayStore>,
    /// Where instances announce changes to what they keep; `None` without a shared store.
    marks: Option<Arc<dyn ChangeMarks>>,
    health: SharedHealth,
}

/// `[shared]`: in this process (assertion ids then live in the storage backend, which every
/// instance of a PostgreSQL cluster shares too) or on Redis.
fn shared_state(cfg: &GatewayConfig, stores: &Stores) -> anyhow::Result<Shared> {
    Ok(match &cfg.shared {
        SharedConfig::Local => Shared {
            limits: Arc::new(LocalLimits::default()),
            throttle: Arc::new(LocalThrottle::default()),
            replay: stores.replay.clone(),
            marks: None,
            health: SharedHealth::local(),
        },
        SharedConfig::Redis(redis) => {
            let conn = Redis::connect(redis).context("connecting to Redis")?;
            tracing::info!(url = %redis.redacted_url(), prefix = %redis.key_prefix, "shared state on Redis");
            Shared {
                limits: Arc::new(RedisLimits::new(conn.clone())),
                throttle: Arc::new(RedisThrottle::new(conn.clone())),
                replay: Arc::new(RedisReplayStore::new(conn.clone())),
                marks: Some(Arc::new(RedisMarks::new(conn.clone()))),
                health: conn.health,
            }
        }
    })
}

/// Where the gateway's own keys are: files beside the SQLite database, or the shared
/// database in cluster mode (every instance must use the same ones).
pub fn key_home(cfg: &GatewayConfig, stores: &Stores) -> KeyHome {
    match &stores.secrets {
        Some(shared) => KeyHome::Shared(shared.clone()),
        None => KeyHome::Files {
            signing_keys: cfg.auth.signing_key_file.clone(),
            pseudonym_key: cfg.storage.data_dir.join("pseudonym.key"),
        },
    }
}

fn spawn_replay_purge(store: Arc<dyn ReplayStore>, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = store.purge(clock.now()).await {
                tracing::warn!(error = %e, "replay purge failed");
            }
        }
    });
}

fn spawn_idempotency_purge(store: Arc<dyn IdempotencyStore>, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            if let Err(e) = store.purge(clock.now()).await {
                tracing::warn!(error = %e, "idempotency purge failed");
            }
        }
    });
}

fn spawn_grant_purge(grants: Arc<Grants>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) = grants.purge().await {
                tracing::warn!(error = %e, "grant purge failed");
            }
        }
    });
}

/// Opens the stores `[storage]` names, applying pending migrations: the one place the
/// gateway and the staff commands get them from.
pub async fn open_stores(cfg: &GatewayConfig) -> anyhow::Result<Stores> {
    Stores::open(&cfg.storage, StoreSettings { idempotency_lease: cfg.payments.idempotency_lease }).await
}

/// Reads `gateway.toml`, printing every error with its place.
pub fn load_config(path: &Path) -> anyhow::Result<GatewayConfig> {
    config::load_gateway(path).map_err(|errors| {
        for e in &errors {
            eprintln!("{e}");
        }
        anyhow::anyhow!("{} error(s) in {}", errors.len(), path.display())
    })
}
