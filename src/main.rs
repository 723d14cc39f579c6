//! The `scenegate` command: run the gateway, the core-bank mock, or both on the embedded
//! default; check config; print the OpenAPI document; rotate the signing key.

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use scenegate::{app, bootstrap, config, openapi, telemetry};
use scenegate_corebank_mock::{CoreBank, CoreBankConfig};

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
    /// The core-bank mock alone.
    CoreMock {
        #[arg(long, default_value = "127.0.0.1:9090")]
        listen: SocketAddr,
        /// Where the ledger's SQLite file lives.
        #[arg(long, default_value = "data/core")]
        data_dir: PathBuf,
    },
    /// Validates gateway.toml and every partner file; prints each error with file:line:column.
    CheckConfig {
        #[arg(default_value = "config")]
        dir: PathBuf,
    },
    /// Prints the OpenAPI document generated from the code.
    Openapi,
    /// Adds a new signing key; the old one stays published until its tokens expire.
    /// Send SIGHUP to a running gateway (or restart it) to start signing with the new key.
    RotateSigningKey {
        #[arg(long, default_value = "config/gateway.toml")]
        config: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Openapi => {
            print!("{}", openapi::spec_json());
            Ok(())
        }
        Command::CheckConfig { dir } => check_config(&dir),
        Command::RotateSigningKey { config } => rotate(&config),
        Command::Serve { config } => runtime()?.block_on(serve(&config)),
        Command::Demo { config } => runtime()?.block_on(demo(&config)),
        Command::CoreMock { listen, data_dir } => runtime()?.block_on(core_mock(listen, data_dir)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn check_config(dir: &Path) -> anyhow::Result<()> {
    match config::check_dir(dir) {
        Ok(summary) => {
            println!("{}: OK, {summary}", dir.display());
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

fn rotate(config_path: &Path) -> anyhow::Result<()> {
    let cfg = bootstrap::load_config(config_path)?;
    let now = jiff::Timestamp::now().as_second();
    // Grace: a token signed just before rotation lives a full TTL, plus clock skew.
    let kid = scenegate::auth::signing::rotate(
        &cfg.auth.signing_key_file,
        now,
        i64::try_from(cfg.auth.access_token_ttl.as_secs()).unwrap_or(300) + 60,
    )?;
    println!(
        "new signing key {kid} in {}; send SIGHUP to the gateway or restart it",
        cfg.auth.signing_key_file.display()
    );
    Ok(())
}

async fn serve(config_path: &Path) -> anyhow::Result<()> {
    let cfg = bootstrap::load_config(config_path)?;
    telemetry::init_logging(cfg.log.format, &cfg.log.level);
    let (addr, server) = start_gateway(&cfg).await?;
    announce(&format!("gateway listening on http://{addr}"));
    server.await?
}

/// Binds, builds and spawns the gateway; returns its address and its task.
async fn start_gateway(
    cfg: &config::GatewayConfig,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let listener = tokio::net::TcpListener::bind(cfg.server.listen)
        .await
        .with_context(|| format!("binding the gateway to {}", cfg.server.listen))?;
    let addr = listener.local_addr()?;
    let running = bootstrap::build(cfg, addr, true, None).await?;
    let router = app::router(running.state.clone());
    let task = tokio::spawn(async move {
        let _keep = running;
        app::serve(listener, router, shutdown_signal()).await.context("gateway server failed")
    });
    Ok((addr, task))
}

async fn core_mock(listen: SocketAddr, data_dir: PathBuf) -> anyhow::Result<()> {
    telemetry::init_logging(config::LogFormat::Text, "info");
    let (addr, task) = start_core(listen, data_dir).await?;
    announce(&format!("core-bank mock listening on http://{addr}"));
    task.await?
}

async fn start_core(
    listen: SocketAddr,
    data_dir: PathBuf,
) -> anyhow::Result<(SocketAddr, tokio::task::JoinHandle<anyhow::Result<()>>)> {
    let core = CoreBank::open(CoreBankConfig { data_dir: Some(data_dir), seed: true }).await?;
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
async fn demo(config_path: &Path) -> anyhow::Result<()> {
    let mut cfg = bootstrap::load_config(config_path)?;
    telemetry::init_logging(cfg.log.format, &cfg.log.level);
    let core_listen = loopback_addr(&cfg.core.base_url)?;
    let (core_addr, core_task) = start_core(core_listen, cfg.storage.data_dir.join("core")).await?;
    cfg.core.base_url = format!("http://{core_addr}");
    let (gw_addr, gw_task) = start_gateway(&cfg).await?;
    print_demo_banner(&cfg, gw_addr, core_addr);
    tokio::select! {
        r = gw_task => r?,
        r = core_task => r?,
    }
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
    let partners = config::load_partners(&cfg.partners.dir).unwrap_or_else(|_| config::PartnerSet::empty());
    let base = bootstrap::public_url(cfg, gw);
    let mut lines = vec![
        String::new(),
        "Scenegate demo is running (embedded default: SQLite files, in-process limits).".to_owned(),
        format!("  gateway          {base}"),
        format!("  API docs         {base}/docs"),
        format!("  core-bank mock   http://{core}"),
        format!(
            "  data             {}",
            cfg.storage.data_dir.canonicalize().unwrap_or_else(|_| cfg.storage.data_dir.clone()).display()
        ),
        "  demo partners (client_id, status, demo-only private key):".to_owned(),
    ];
    for p in partners.iter() {
        let key = demo_key_path(&cfg.partners.dir, &p.id);
        lines.push(format!("    {:<20} {:<10} {}", p.id, format!("{:?}", p.status).to_lowercase(), key));
    }
    lines.push("  try:  examples/curl/quickstart.sh   or   cargo run --example partner_quickstart".to_owned());
    lines.push(String::new());
    announce(&format!("gateway listening on {base}"));
    announce(&lines.join("\n"));
}

/// Demo partners' private keys sit beside the config as `demo-keys/<id>.private.pem`.
fn demo_key_path(partners_dir: &Path, id: &str) -> String {
    let path = partners_dir.parent().unwrap_or(partners_dir).join("demo-keys").join(format!("{id}.private.pem"));
    if path.exists() { path.display().to_string() } else { "(no demo key)".to_owned() }
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
