//! The `scenegate` command: run the gateway, the core-bank mock, or both on the embedded
//! default; check config; print the OpenAPI document; rotate the signing key.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use scenegate::{app, audit, bootstrap, config, openapi, telemetry};
use scenegate_corebank_mock::{CoreBank, CoreBankConfig, CoreRole, Dialect, Holding};

/// A gateway allocates and frees small buffers on every request; mimalloc does that with
/// less contention and fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "scenegate", version, about = "Open-banking scenario-integration gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Gateway + core-bank mock with demo data and demo partners; nothing else needed.
    Demo {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// The gateway alone, as configured in gateway.toml.
    Serve {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// The core-bank mock alone, where `core.base_url` of the gateway file says (or `--listen`).
    CoreMock {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
        /// Overrides the address from `core.base_url`.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// Where the ledger's SQLite file lives; default `<storage.data_dir>/core`.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The wire it speaks: `legacy` (`/core/...`) or `modern` (`/api/v2/...`).
        #[arg(long, default_value = "legacy")]
        dialect: Dialect,
        /// Seed only the demo accounts numbered FROM to TO (inclusive), as one of two cores.
        #[arg(long, value_name = "FROM..=TO", value_parser = scenegate_corebank_mock::parse_range, conflicts_with = "accounts_except")]
        accounts_only: Option<(String, String)>,
        /// Seed every demo account except those numbered FROM to TO (inclusive).
        #[arg(long, value_name = "FROM..=TO", value_parser = scenegate_corebank_mock::parse_range)]
        accounts_except: Option<(String, String)>,
    },
    /// Validates gateway.toml and every partner file of a config folder, or one partner file
    /// before it is moved into the live folder; prints each error with file:line:column.
    CheckConfig {
        /// A config folder, or a single partner file (`*.toml`).
        #[arg(default_value = "config")]
        dir: PathBuf,
    },
    /// Writes a key pair for a partner being onboarded: the private key (for the partner to
    /// keep) and its public JWK Set (for the partner file).
    Keygen {
        #[arg(long)]
        partner: String,
        /// Folder to write `<id>.private.pem` and `<id>.jwks.json` into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// What staff look up about partners: the list, or one partner with its consents and payments.
    Partners {
        #[command(subcommand)]
        action: PartnersAction,
        #[arg(long, default_value = "config/gateway.toml", global = true)]
        config: PathBuf,
    },
    /// Prints the OpenAPI document generated from the code.
    Openapi,
    /// Prints the partner adapters' capability matrix (Markdown) generated from the code.
    Adapters,
    /// Staff emergency actions on a partner, effective at once on running gateways.
    Partner {
        #[command(subcommand)]
        action: PartnerAction,
        #[arg(long, default_value = "config/gateway.toml", global = true)]
        config: PathBuf,
    },
    /// Staff tools for partner events (webhooks): list dead letters, redeliver one.
    Events {
        #[command(subcommand)]
        action: EventsAction,
        #[arg(long, default_value = "config/gateway.toml", global = true)]
        config: PathBuf,
    },
    /// Adds a new signing key; the old one stays published until its tokens expire.
    /// Send SIGHUP to a running gateway (or restart it) to start signing with the new key.
    RotateSigningKey {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
    /// The tamper-evident audit trail: check its chains, or show its latest records.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
        #[arg(long, default_value = "config/gateway.toml", global = true)]
        config: PathBuf,
    },
    /// Applies pending database migrations and exits (the gateway also applies them at start).
    Migrate {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum PartnerAction {
    /// Suspends the partner whatever its file says (no file error can block this); every
    /// gateway on this database applies it within a quarter of a second.
    Suspend {
        /// The partner's client id, e.g. `ptn_skytrip`.
        id: String,
        /// Why, for the record (shown by `partners show` and kept in the audit trail).
        #[arg(long)]
        reason: String,
    },
    /// Lifts an emergency stop; the partner file's own `status` applies again.
    Resume { id: String },
}

#[derive(Subcommand)]
enum PartnersAction {
    /// Every partner file: id, name, status, level, scopes, key ids, rate limit.
    List,
    /// One partner, with its emergency stop, consents and payments by status, dead letters.
    Show { id: String },
}

#[derive(Subcommand)]
enum AuditAction {
    /// Recomputes every hash and checks every signed checkpoint of both chains; reports the
    /// first broken link and exits 1 if there is one.
    Verify {
        /// Archived public JWK Sets of retired gateway signing keys (the current ones are
        /// read from the gateway's key store), so older checkpoints can be checked too.
        #[arg(long)]
        jwks: Vec<PathBuf>,
    },
    /// The latest records of a chain, oldest first.
    Tail {
        /// `records` (partners, consents, payments, staff) or `access` (token summaries).
        #[arg(long, default_value = "records")]
        chain: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum EventsAction {
    /// Events whose webhook delivery gave up (after 24 h of retries, or a refused URL).
    DeadLetters {
        /// Only this partner's.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Sends a dead-lettered event again (same id, fresh retry schedule).
    Redeliver { id: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", openapi::spec_json());
            Ok(())
        }
        Command::Adapters => {
            print!("{}", scenegate::api::adapters::capability_matrix());
            Ok(())
        }
        Command::CheckConfig { dir } => check_config(&dir),
        Command::RotateSigningKey { config } => runtime()?.block_on(rotate(&config)),
        Command::Migrate { config } => runtime()?.block_on(migrate(&config)),
        Command::Partner { action, config } => runtime()?.block_on(partner_action(&config, action)),
        Command::Events { action, config } => runtime()?.block_on(events_action(&config, action)),
        Command::Audit { action, config } => runtime()?.block_on(audit_action(&config, action)),
        Command::Serve { config } => {
            let cfg = bootstrap::load_config(&config)?;
            runtime_with(cfg.server.worker_threads)?.block_on(serve(cfg))
        }
        Command::Demo { config } => {
            let cfg = bootstrap::load_config(&config)?;
            runtime_with(cfg.server.worker_threads)?.block_on(demo(cfg))
        }
        Command::CoreMock { config, listen, data_dir, dialect, accounts_only, accounts_except } => {
            let (listen, data_dir) = core_mock_place(&config, listen, data_dir)?;
            let accounts = match (accounts_only, accounts_except) {
                (Some((from, to)), _) => Holding::Only(from, to),
                (None, Some((from, to))) => Holding::Except(from, to),
                (None, None) => Holding::All,
            };
            runtime()?.block_on(core_mock(CoreMockOptions { listen, data_dir, dialect, accounts }))
        }
        Command::Keygen { partner, out } => keygen(&partner, &out),
        Command::Partners { action, config } => runtime()?.block_on(partners(&config, action)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    runtime_with(None)
}

/// The runtime that serves: `server.worker_threads` of them, else one per core.
fn runtime_with(worker_threads: Option<usize>) -> anyhow::Result<tokio::runtime::Runtime> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = worker_threads {
        builder.worker_threads(n);
    }
    Ok(builder.enable_all().build()?)
}

/// The mock's address and ledger folder: as given, else from the gateway file (read only
/// when something is missing, so tests can run it anywhere with both flags).
fn core_mock_place(
    config_path: &Path,
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
) -> anyhow::Result<(SocketAddr, PathBuf)> {
    if let (Some(l), Some(d)) = (listen, &data_dir) {
        return Ok((l, d.clone()));
    }
    let cfg = bootstrap::load_config(config_path)?;
    let listen = match listen {
        Some(l) => l,
        None => loopback_addr(&cfg.core.base_url)?,
    };
    Ok((listen, data_dir.unwrap_or_else(|| cfg.storage.data_dir.join("core"))))
}

fn keygen(partner: &str, out: &Path) -> anyhow::Result<()> {
    let month = jiff::Zoned::now().strftime("%Y-%m").to_string();
    let made = scenegate::staff::keygen::generate(partner, out, &month)?;
    println!(
        "key pair for {partner}, key id {kid}:\n\
         \n  {private}   PRIVATE: the partner keeps it; never send it to the bank, never commit it\
         \n  {jwks}   public JWK Set: goes to the bank, named by the partner file\n\
         \nIn the partner file:\n\n  [keys]\n  jwks_file = \"{jwks}\"   # relative to the partner file's folder\n\
         \nThe partner signs its client assertions (ES256) with the private key and kid \"{kid}\".\n\
         In production the partner runs this (or any tool) itself and sends only the JWK Set.",
        kid = made.kid,
        private = made.private_key.display(),
        jwks = made.jwks.display(),
    );
    Ok(())
}

async fn partners(config_path: &Path, action: PartnersAction) -> anyhow::Result<()> {
    let cfg = bootstrap::load_config(config_path)?;
    let registry = config::PartnerRegistry::open(cfg.partners.dir.clone())
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e:?}", cfg.partners.dir.display()))?;
    let stores = bootstrap::open_stores(&cfg).await?;
    let stops = stores.stops.list().await?;
    registry.apply_stops(stops.iter().map(|s| s.partner_id.clone()).collect());
    let set = registry.live().load_full();
    let keys_age = |p: &config::Partner| {
        let modified = std::fs::metadata(&p.source).and_then(|m| m.modified()).ok();
        let days = modified.and_then(|m| m.elapsed().ok()).map_or(0, |d| d.as_secs() / 86_400);
        format!("{days} d")
    };
    match action {
        PartnersAction::List => {
            let header = ["id", "status", "lvl", "rate", "scopes", "key ids"];
            println!(
                "{:<22} {:<10} {:<3} {:<9} {:<40} {:<28} name",
                header[0], header[1], header[2], header[3], header[4], header[5]
            );
            for p in set.iter() {
                let status = if p.staff_stop {
                    "STOPPED"
                } else if p.is_active() {
                    "active"
                } else {
                    "suspended"
                };
                let kids: Vec<&str> = p.keys.iter().map(|k| k.kid.as_str()).collect();
                println!(
                    "{:<22} {:<10} {:<3} {:<9} {:<40} {:<28} {}",
                    p.id,
                    status,
                    format!("{:?}", p.security_level),
                    format!("{}/s+{}", p.rate_limit.requests_per_second, p.rate_limit.burst),
                    p.scopes.iter().cloned().collect::<Vec<_>>().join(","),
                    kids.join(","),
                    p.display_name
                );
            }
            for r in set.rejected() {
                println!("REJECTED {}: {} error(s); run `scenegate check-config`", r.file.display(), r.errors.len());
            }
        }
        PartnersAction::Show { id } => {
            let p = set.get(&id).ok_or_else(|| anyhow::anyhow!("no partner file serves `{id}`"))?;
            println!("{} — {}", p.id, p.display_name);
            println!("  file            {}", p.source.display());
            println!("  status          {:?}{}", p.status, if p.staff_stop { " (staff emergency stop)" } else { "" });
            if let Some(stop) = stops.iter().find(|s| s.partner_id == id) {
                let at = jiff::Timestamp::from_second(stop.at).map(|t| t.to_string()).unwrap_or_default();
                println!("  stopped         {at} by {}: {}", stop.actor, stop.reason);
            }
            println!("  environment     {:?}; security level {:?}", p.environment, p.security_level);
            println!("  scopes          {}", p.scopes.iter().cloned().collect::<Vec<_>>().join(", "));
            let kids: Vec<String> = p.keys.iter().map(|k| format!("{} ({:?})", k.kid, k.algorithm)).collect();
            println!("  keys            {} (file changed {} ago)", kids.join(", "), keys_age(p));
            println!("  rate limit      {}/s, burst {}", p.rate_limit.requests_per_second, p.rate_limit.burst);
            let clock: std::sync::Arc<dyn scenegate::auth::Clock> = std::sync::Arc::new(scenegate::auth::SystemClock);
            let consents = scenegate::consent::Consents::new(stores.consents.clone(), clock);
            let counts: Vec<String> =
                consents.status_counts(&id).await?.iter().map(|(s, n)| format!("{} {n}", s.code())).collect();
            println!("  consents        {}", if counts.is_empty() { "none".into() } else { counts.join(", ") });
            let counts: Vec<String> =
                stores.payments.status_counts(&id).await?.iter().map(|(s, n)| format!("{s} {n}")).collect();
            println!("  payments        {}", if counts.is_empty() { "none".into() } else { counts.join(", ") });
            let dead = stores.events.dead_letters(Some(&id), 1000).await?;
            println!("  dead letters    {}", dead.len());
        }
    }
    Ok(())
}

fn check_config(dir: &Path) -> anyhow::Result<()> {
    if dir.is_file() {
        return check_partner_file(dir);
    }
    match config::check_dir(dir) {
        Ok(summary) => {
            println!("{}: OK, {summary}", dir.display());
            for w in &summary.warnings {
                eprintln!("warning: {w}");
            }
            Ok(())
        }
        Err(mut errors) => {
            // Paths as the operator typed them, not as the loader resolved them.
            let cwd = std::env::current_dir().unwrap_or_default();
            for e in &mut errors {
                if let Ok(relative) = e.file.strip_prefix(&cwd) {
                    e.file = relative.to_owned();
                }
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            std::process::exit(1);
        }
    }
}

/// One partner file on its own, before it goes into the live folder.
fn check_partner_file(path: &Path) -> anyhow::Result<()> {
    match config::check_partner_file(path) {
        Ok(p) => {
            let scopes = p.scopes.iter().cloned().collect::<Vec<_>>().join(", ");
            println!("{}: OK, {} ({:?}, {:?}, scopes: {scopes})", path.display(), p.id, p.status, p.security_level);
            if p.has_no_credentials() {
                eprintln!("warning: {} has no keys: it cannot authenticate", p.id);
            }
            Ok(())
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!("{} error(s)", errors.len());
            std::process::exit(1);
        }
    }
}

async fn migrate(config_path: &Path) -> anyhow::Result<()> {
    let cfg = bootstrap::load_config(config_path)?;
    let stores = bootstrap::open_stores(&cfg).await?;
    println!("{}: every migration applied", stores.engine);
    stores.close().await;
    Ok(())
}

async fn rotate(config_path: &Path) -> anyhow::Result<()> {
    let cfg = bootstrap::load_config(config_path)?;
    let now = jiff::Timestamp::now().as_second();
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    // Published for twice the JWKS cache lifetime before it signs: every verifier that
    // follows `Cache-Control` has refetched the set by then.
    let activate_after = 2 * secs(cfg.auth.jwks_max_age);
    // Grace: a token signed just before the switch lives a full TTL, plus clock skew.
    let grace = secs(cfg.auth.access_token_ttl) + 60;
    let stores = bootstrap::open_stores(&cfg).await?;
    let home = bootstrap::key_home(&cfg, &stores);
    let kid = home.rotate(now, activate_after, grace).await?;
    let detail = serde_json::json!({ "kid": kid, "signs_from": now + activate_after });
    record_staff(&stores, "staff.signing_key_rotated", &kid, detail).await?;
    match home {
        scenegate::secrets::KeyHome::Files { signing_keys, .. } => println!(
            "new signing key {kid} in {}; send SIGHUP to the gateway (or restart it): it publishes the key at once \
             and signs with it {activate_after} s after this rotation (twice the JWKS cache lifetime)",
            signing_keys.display()
        ),
        scenegate::secrets::KeyHome::Shared(_) => println!(
            "new signing key {kid} in the shared database; every instance publishes it within seconds \
             and signs with it {activate_after} s after this rotation (twice the JWKS cache lifetime)"
        ),
    }
    Ok(())
}

async fn partner_action(config_path: &Path, action: PartnerAction) -> anyhow::Result<()> {
    use scenegate::staff::Stop;
    let cfg = bootstrap::load_config(config_path)?;
    let stores = bootstrap::open_stores(&cfg).await?;
    match action {
        PartnerAction::Suspend { id, reason } => {
            if !config::is_partner_id(&id) {
                bail!("`{id}` is not a partner id (`ptn_` followed by 1 to 48 of a-z, 0-9, `_`, `-`)");
            }
            if reason.trim().is_empty() {
                bail!("--reason must say why");
            }
            // Known from the files or not: a stop must work even when the files are broken.
            let known = config::PartnerRegistry::open(cfg.partners.dir.clone())
                .map(|r| r.live().load().get(&id).is_some())
                .unwrap_or(false);
            let stop = Stop {
                partner_id: id.clone(),
                reason: reason.clone(),
                actor: audit::os_user(),
                at: jiff::Timestamp::now().as_second(),
            };
            if stores.stops.stop(&stop).await? {
                println!("{id}: emergency stop recorded; running gateways refuse it within a second");
                let detail = serde_json::json!({ "reason": reason, "partner_file_known": known });
                record_staff(&stores, "staff.partner_suspended", &id, detail).await?;
            } else {
                println!("{id}: already under an emergency stop");
            }
            if !known {
                eprintln!("warning: no partner file currently serves `{id}`; the stop is kept and applies if one does");
            }
        }
        PartnerAction::Resume { id } => {
            if stores.stops.resume(&id).await? {
                println!("{id}: emergency stop lifted; its partner file's status applies again");
                record_staff(&stores, "staff.partner_resumed", &id, serde_json::json!({})).await?;
            } else {
                println!("{id}: was not under an emergency stop");
            }
        }
    }
    Ok(())
}

async fn events_action(config_path: &Path, action: EventsAction) -> anyhow::Result<()> {
    use scenegate::events::{EventId, EventStoreError};
    let cfg = bootstrap::load_config(config_path)?;
    let stores = bootstrap::open_stores(&cfg).await?;
    let events = stores.events.clone();
    match action {
        EventsAction::DeadLetters { partner } => {
            let dead = events.dead_letters(partner.as_deref(), 100).await?;
            if dead.is_empty() {
                println!("no dead letters");
            }
            for d in dead {
                let when = jiff::Timestamp::from_second(d.dead_at).map(|t| t.to_string()).unwrap_or_default();
                println!(
                    "{}  {}  {}  {}  attempts={}  dead_at={}  last_error={}",
                    d.event.id,
                    d.event.partner_id,
                    d.event.event_type,
                    d.event.subject_id,
                    d.attempts,
                    when,
                    d.last_error.as_deref().unwrap_or("-")
                );
            }
        }
        EventsAction::Redeliver { id } => {
            let id: EventId = id.parse().map_err(|_| anyhow::anyhow!("`{id}` is not an event id (`evt_…`)"))?;
            match events.redeliver(&id, jiff::Timestamp::now().as_second()).await {
                Ok(()) => {
                    println!("{id}: queued for delivery again");
                    record_staff(&stores, "staff.event_redelivered", id.as_str(), serde_json::json!({})).await?;
                }
                Err(EventStoreError::NotFound) => bail!("no event {id}"),
                Err(e) => bail!("{id}: {e}"),
            }
        }
    }
    Ok(())
}

async fn serve(cfg: config::GatewayConfig) -> anyhow::Result<()> {
    telemetry::init_logging(cfg.log.format, &cfg.log.level);
    let (addr, ops_addr, server) = start_gateway(&cfg).await?;
    // The partner address first: scripts and tests take the first "listening on" line.
    let scheme = if cfg.server.tls.is_some() { "https" } else { "http" };
    announce(&format!("gateway listening on {scheme}://{addr}"));
    announce(&format!("operations listening on http://{ops_addr}"));
    server.await?
}

/// Binds, builds and spawns the gateway: the partner listener and the operations listener
/// Returns both addresses and the task serving both.
async fn start_gateway(
    cfg: &config::GatewayConfig,
) -> anyhow::Result<(SocketAddr, SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("binding the gateway to {}", cfg.server.listen))?;
    let ops = tokio::net::TcpListener::bind(cfg.server.ops_listen)
        .await
        .with_context(|| format!("binding the operations listener to {}", cfg.server.ops_listen))?;
    let (addr, ops_addr) = (listener.local_addr()?, ops.local_addr()?);
    let running = bootstrap::build(cfg, addr, true, None).await?;
    let (router, ops_router) = (app::router(running.state.clone()), app::ops_router(running.state.clone()));
    let limits = cfg.server.limits;
    let tls = match &cfg.server.tls {
        None => None,
        Some(files) => {
            let certs = scenegate_listener::tls::Certificates::load(files.clone())?;
            certs.spawn_reloader();
            Some(certs)
        }
    };
    // Operators' scrapers are few: the default bounds, whatever the partner port allows.
    let ops_limits = scenegate_listener::Limits::default();
    let task = tokio::spawn(async move {
        let _keep = running;
        let partners = app::serve("gateway", listener, router, limits, tls, shutdown_signal());
        let operations = app::serve("operations", ops, ops_router, ops_limits, None, shutdown_signal());
        let (partners, operations) = tokio::join!(partners, operations);
        partners.context("gateway server failed")?;
        operations.context("operations server failed")
    });
    Ok((addr, ops_addr, task))
}

/// One core-bank mock to start: where it listens, where its ledger lives, the wire it speaks
/// and the demo accounts it holds. The bank's two cores are two of these with complementary
/// `accounts` (`Holding::Only` and `Holding::Except` of one range).
#[derive(Debug, Clone)]
struct CoreMockOptions {
    listen: SocketAddr,
    /// Folder of its `corebank.sqlite`; two cores need two folders.
    data_dir: PathBuf,
    dialect: Dialect,
    /// Read when seeding an empty ledger only.
    accounts: Holding,
}

async fn core_mock(opts: CoreMockOptions) -> anyhow::Result<()> {
    telemetry::init_logging(config::LogFormat::Text, "info");
    let role = match (&opts.dialect, &opts.accounts) {
        (Dialect::Legacy, Holding::All) => String::new(),
        (dialect, Holding::All) => format!(" ({dialect})"),
        (dialect, Holding::Only(from, to)) => format!(" ({dialect}, accounts {from}..={to})"),
        (dialect, Holding::Except(from, to)) => format!(" ({dialect}, accounts except {from}..={to})"),
    };
    let (addr, task) = start_core_as(opts).await?;
    announce(&format!("core-bank mock{role} listening on http://{addr}"));
    task.await?
}

/// Opens (seeding once) and serves one core as `opts` says; answers the bound address and
/// the serving task.
async fn start_core_as(
    opts: CoreMockOptions,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let CoreMockOptions { listen, data_dir, dialect, accounts } = opts;
    let cfg = CoreBankConfig { data_dir: Some(data_dir), seed: true };
    let core = CoreBank::open_as(cfg, CoreRole { accounts, dialect }).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the core-bank mock to {listen}"))?;
    let addr = listener.local_addr()?;
    let task =
        tokio::spawn(
            async move { scenegate_corebank_mock::serve(listener, core).await.context("core-bank mock failed") },
        );
    Ok((addr, task))
}

/// The embedded default: the core mock on the address `core.base_url` names, then the
/// gateway in front of it, both in this process but talking over real HTTP.
async fn demo(mut cfg: config::GatewayConfig) -> anyhow::Result<()> {
    telemetry::init_logging(cfg.log.format, &cfg.log.level);
    let mut cores = Vec::new();
    for mock in demo_cores(&cfg.core, &cfg.storage.data_dir)? {
        let (addr, task) = start_core_as(mock).await?;
        cores.push((addr, task));
    }
    // Each mock on the port its base URL names (or the one it was given for port 0).
    cfg.core.base_url = format!("http://{}", cores[0].0);
    for (system, (addr, _)) in cfg.core.systems.iter_mut().zip(&cores[1..]) {
        system.base_url = format!("http://{addr}");
    }
    let (gw_addr, ops_addr, gw_task) = start_gateway(&cfg).await?;
    print_demo_banner(&cfg, gw_addr, cores[0].0);
    announce(&format!("operations listening on http://{ops_addr} (metrics for Prometheus: /metrics)"));
    let core_tasks = futures_util::future::select_all(cores.into_iter().map(|(_, task)| task));
    tokio::select! {
        r = gw_task => r?,
        (r, _, _) = core_tasks => r?,
    }
}

/// One core-bank mock per core system of `[core]`, each on loopback where its base URL says,
/// in its dialect, holding the accounts the routing table sends it: the first core holds
/// everything outside the other cores' range. (The mock splits accounts at one range; a
/// table with more is for real cores.)
fn demo_cores(core: &config::CoreConfig, data_dir: &Path) -> anyhow::Result<Vec<CoreMockOptions>> {
    let dialect = |d: scenegate::core::Dialect| match d {
        scenegate::core::Dialect::Legacy => Dialect::Legacy,
        scenegate::core::Dialect::Modern => Dialect::Modern,
    };
    let ranges: Vec<&scenegate::core::AccountRange> = core.systems.iter().flat_map(|s| &s.accounts).collect();
    let range = |r: &scenegate::core::AccountRange| (r.from().to_owned(), r.to().to_owned());
    let first = match ranges.as_slice() {
        [] => Holding::All,
        [only] => {
            let (from, to) = range(only);
            Holding::Except(from, to)
        }
        _ => bail!("the demo's core-bank mocks split accounts at one range; [core.systems] names {}", ranges.len()),
    };
    let mut mocks = vec![CoreMockOptions {
        listen: loopback_addr(&core.base_url)?,
        data_dir: data_dir.join("core"),
        dialect: dialect(core.dialect),
        accounts: first,
    }];
    for s in &core.systems {
        let (from, to) = range(&s.accounts[0]);
        mocks.push(CoreMockOptions {
            listen: loopback_addr(&s.base_url)?,
            data_dir: data_dir.join(format!("core-{}", s.name)),
            dialect: dialect(s.dialect),
            accounts: Holding::Only(from, to),
        });
    }
    Ok(mocks)
}

fn loopback_addr(base_url: &str) -> anyhow::Result<SocketAddr> {
    let rest = base_url.strip_prefix("http://").context("core.base_url must be an http:// URL for the demo")?;
    let authority = rest.split('/').next().unwrap_or_default();
    let addr: SocketAddr = authority
        .parse()
        .with_context(|| format!("core.base_url {base_url} must name an IP address and port for the demo"))?;
    if !addr.ip().is_loopback() {
        bail!("the demo runs the core-bank mock on loopback only; core.base_url names {addr}");
    }
    Ok(addr)
}

fn print_demo_banner(cfg: &config::GatewayConfig, gw: SocketAddr, core: SocketAddr) {
    let partners = config::PartnerRegistry::open(cfg.partners.dir.clone())
        .map(|r| r.live().load_full())
        .unwrap_or_else(|_| std::sync::Arc::new(config::PartnerSet::empty()));
    let base = bootstrap::public_url(cfg, gw);
    let mut lines = vec![
        String::new(),
        "Scenegate demo is running (embedded default: SQLite files, in-process limits).".to_owned(),
        format!("  gateway          {base}"),
        format!("  API docs         {base}/docs"),
        format!(
            "  core-bank mock   http://{core}   ({}: {} dialect, products, customers, other accounts)",
            cfg.core.name,
            cfg.core.dialect.name()
        ),
        format!("  customer's phone http://{core}/core/sms-outbox   (one-time codes for payment approvals)"),
        format!(
            "  data             {}",
            cfg.storage.data_dir.canonicalize().unwrap_or_else(|_| cfg.storage.data_dir.clone()).display()
        ),
        "  demo partners (client_id, status, adapter, demo-only private key):".to_owned(),
    ];
    for (i, system) in cfg.core.systems.iter().enumerate() {
        let held: Vec<String> = system.accounts.iter().map(ToString::to_string).collect();
        lines.insert(
            5 + i,
            format!(
                "  core-bank mock   {}   ({}: {} dialect, accounts {})",
                system.base_url,
                system.name,
                system.dialect.name(),
                held.join(", ")
            ),
        );
    }
    for p in partners.iter() {
        let key = demo_key_path(&cfg.partners.dir, &p.id);
        let kids: Vec<&str> = p.keys.iter().map(|k| k.kid.as_str()).collect();
        let kid = if kids.is_empty() { "-".to_owned() } else { format!("kid {}", kids.join(",")) };
        lines.push(format!(
            "    {:<20} {:<10} {:<14} {:<22} {}",
            p.id,
            format!("{:?}", p.status).to_lowercase(),
            p.adapter_name,
            kid,
            key
        ));
    }
    lines.push(format!(
        "  demo customers (bank login): mobile 13800000001 … 13800000005 (or C0001 … C0005), password {}",
        scenegate_corebank_mock::DEMO_PASSWORD
    ));
    lines.push("  try:  examples/curl/quickstart.sh   or   cargo run --example partner_quickstart".to_owned());
    lines.push(
        "        cargo run --example payment_quickstart   (a payment the customer approves in a browser)".to_owned(),
    );
    lines.push(
        "        cargo run --example open_platform_pay    (the same through RSA2-signed form posts to /gw/ptn_metrogo)"
            .to_owned(),
    );
    lines.push(
        "        cargo run --example signed_rest_pay      (the same through signed REST on /gw/ptn_tollway/v3/...)"
            .to_owned(),
    );
    lines.push(
        "        cargo run --example legacy_mac_rates     (rates through HMAC-SM3 form posts to /gw/ptn_rateboard)"
            .to_owned(),
    );
    lines.push(
        "        cargo run --example iso20022_statement   (camt.053 statements of a corporate account, /gw/ptn_ledgerline)"
            .to_owned(),
    );
    lines.push(String::new());
    announce(&format!("gateway listening on {base}"));
    announce(&lines.join("\n"));
}

/// Demo partners' private keys sit beside the config as `demo-keys/<id>.private.pem`; a
/// partner of a shared-secret protocol has its demo key as `demo-keys/<id>.mackey` instead.
fn demo_key_path(partners_dir: &Path, id: &str) -> String {
    let keys = partners_dir.parent().unwrap_or(partners_dir).join("demo-keys");
    ["private.pem", "mackey"]
        .iter()
        .map(|ext| keys.join(format!("{id}.{ext}")))
        .find(|path| path.exists())
        .map_or_else(|| "(no demo key)".to_owned(), |path| path.display().to_string())
}

/// stdout, flushed: tests and scripts wait for these lines.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutting down");
}

/// Writes a staff command into the audit trail. The command has been done by then: a
/// failure here says so and fails the command, so the operator knows the trail missed it.
async fn record_staff(
    stores: &scenegate::store::Stores,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
) -> anyhow::Result<()> {
    let record = audit::staff_record(jiff::Timestamp::now().as_second(), action, subject, detail);
    stores
        .audit
        .append(&[record])
        .await
        .with_context(|| format!("done, but not written to the audit trail ({action} {subject})"))?;
    Ok(())
}

async fn audit_action(config_path: &Path, action: AuditAction) -> anyhow::Result<()> {
    let cfg = bootstrap::load_config(config_path)?;
    let stores = bootstrap::open_stores(&cfg).await?;
    match action {
        AuditAction::Verify { jwks } => {
            let now = jiff::Timestamp::now().as_second();
            let current = bootstrap::key_home(&cfg, &stores).signing_keys(now).await?;
            let mut keys = audit::verifying_keys(&current.jwks())?;
            for file in &jwks {
                let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
                let set = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
                keys.extend(audit::verifying_keys(&set).with_context(|| format!("keys of {}", file.display()))?);
            }
            let mut broken = false;
            for chain in audit::Chain::ALL {
                match audit::verify(stores.audit.as_ref(), chain, &keys).await? {
                    Ok(summary) => println!("{chain}: OK, {}", audit::describe(&summary)),
                    Err(b) => {
                        broken = true;
                        println!("{chain}: BROKEN: {b}");
                    }
                }
            }
            if broken {
                std::process::exit(1);
            }
        }
        AuditAction::Tail { chain, limit } => {
            let chain =
                audit::Chain::parse(&chain).ok_or_else(|| anyhow::anyhow!("--chain is `records` or `access`"))?;
            let head = stores.audit.head(chain).await?;
            let from = (head.seq - i64::from(limit)).max(0);
            for r in stores.audit.read(chain, from, limit).await? {
                let at = jiff::Timestamp::from_second(r.at).map(|t| t.to_string()).unwrap_or_default();
                println!("{:>8}  {at}  {:<28} {:<24} {:<28} {}", r.seq, r.action, r.actor, r.subject, r.detail);
            }
        }
    }
    Ok(())
}
