//! Test support: the real `scenegate` binary on port 0, a temporary config folder, and a
//! partner client that signs `private_key_jwt` assertions with the fixture keys.

pub mod cluster;
pub mod customer;
pub mod fault_proxy;
pub mod partner;
pub mod payments;
pub mod webhooks;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

pub use partner::PartnerClient;

pub const BIN: &str = env!("CARGO_BIN_EXE_scenegate");

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

/// A child process killed when dropped.
pub struct Proc {
    child: Child,
    pub url: String,
    /// The gateway's operations listener (`/metrics`), when the process has one.
    pub ops_url: Option<String>,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, and wait for the process to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `scenegate <args>` and waits for its "listening on http://…" line.
/// Its logs (stderr) go to `cwd/stderr.log`, for tests that read what was logged.
pub fn spawn(args: &[&str], cwd: &Path) -> Proc {
    spawn_logging(args, cwd, "info")
}

pub fn spawn_logging(args: &[&str], cwd: &Path, rust_log: &str) -> Proc {
    let log = std::fs::File::create(cwd.join("stderr.log")).unwrap();
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("scenegate binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let (ops_tx, ops_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let url = line.split("listening on ").nth(1).and_then(|rest| rest.split_whitespace().next());
            match url {
                Some(url) if line.starts_with("operations") => drop(ops_tx.send(url.to_owned())),
                Some(url) => drop(tx.send(url.to_owned())),
                None => {}
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("`scenegate {}` did not start", args.join(" ")));
    // The gateway announces its operations listener right after its partner listener.
    let ops_url = matches!(args.first(), Some(&"serve" | &"demo"))
        .then(|| ops_rx.recv_timeout(Duration::from_secs(10)).ok())
        .flatten();
    Proc { child, url, ops_url }
}

/// The core-bank mock as its own process, with its ledger in `data_dir`.
pub fn core_mock(data_dir: &Path) -> Proc {
    spawn(&["core-mock", "--listen", "127.0.0.1:0", "--data-dir", data_dir.to_str().unwrap()], data_dir)
}

/// Test partners: each entry is (file stem, TOML body). Keys come from the fixtures.
pub fn partner_toml(id: &str, status: &str, extra: &str) -> String {
    let jwks = fixtures().join("keys/test-partner.jwks.json");
    format!(
        r#"id = "{id}"
display_name = "Test {id}"
status = "{status}"
environment = "sandbox"
security_level = "A1"
scopes = ["products:read"]
redirect_uris = ["http://localhost:3000/cb"]
{extra}
[keys]
jwks_file = "{}"

[adapter]
name = "native"
"#,
        jwks.display()
    )
}

#[derive(Clone)]
pub struct GatewayOptions {
    pub core_url: String,
    pub request_timeout_ms: u64,
    pub partners: Vec<(String, String)>,
    pub rust_log: &'static str,
    /// `auth.jwks_max_age_secs`: how long the JWK Set may be cached (rotation waits 2×).
    pub jwks_max_age_secs: u64,
    /// More sections for gateway.toml (e.g. `[webhooks]`).
    pub extra_toml: String,
    /// More keys for its `[storage]` section (e.g. `backend = "postgres"`).
    pub storage_toml: String,
    /// More keys for its `[server]` section (e.g. `header_read_timeout_ms = 500`).
    pub server_toml: String,
    /// `server.public_url`: instances of a cluster share one.
    pub public_url: Option<String>,
    /// `core.timeout_ms`: how long a core call may take.
    pub core_timeout_ms: u64,
}

impl GatewayOptions {
    pub fn new(core_url: &str) -> Self {
        Self {
            core_url: core_url.to_owned(),
            request_timeout_ms: 10_000,
            rust_log: "info",
            jwks_max_age_secs: 60,
            extra_toml: String::new(),
            storage_toml: String::new(),
            server_toml: String::new(),
            public_url: None,
            core_timeout_ms: 1_000,
            partners: vec![
                ("alpha".into(), partner_toml("ptn_alpha", "active", "")),
                ("beta".into(), partner_toml("ptn_beta", "active", "")),
            ],
        }
    }
}

/// A gateway process with its own config folder and data directory.
pub struct Gateway {
    pub proc: Proc,
    pub dir: tempfile::TempDir,
    public_url: Option<String>,
}

impl Gateway {
    pub fn start(opts: GatewayOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("partners")).unwrap();
        for (stem, body) in &opts.partners {
            std::fs::write(dir.path().join(format!("partners/{stem}.toml")), body).unwrap();
        }
        std::fs::write(
            dir.path().join("gateway.toml"),
            format!(
                "[server]\nlisten = \"127.0.0.1:0\"\nops_listen = \"127.0.0.1:0\"\nrequest_timeout_ms = {}\n{}{}\n[auth]\njwks_max_age_secs = {}\n[core]\nbase_url = \"{}\"\ntimeout_ms = {}\n[storage]\ndata_dir = \"data\"\n{}\n[partners]\ndir = \"partners\"\n[log]\nlevel = \"warn\"\n",
                opts.request_timeout_ms,
                opts.public_url.as_ref().map(|u| format!("public_url = \"{u}\"\n")).unwrap_or_default(),
                opts.server_toml,
                opts.jwks_max_age_secs,
                opts.core_url,
                opts.core_timeout_ms,
                opts.storage_toml,
            ) + &opts.extra_toml,
        )
        .unwrap();
        let config = dir.path().join("gateway.toml");
        let proc = spawn_logging(&["serve", "--config", config.to_str().unwrap()], dir.path(), opts.rust_log);
        Self { proc, dir, public_url: opts.public_url }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proc.url)
    }

    /// A URL on the operations listener (`/metrics`).
    pub fn ops_url(&self, path: &str) -> String {
        format!("{}{path}", self.proc.ops_url.as_deref().expect("the gateway announced its operations listener"))
    }

    /// Kills the gateway (SIGKILL: no shutdown of any kind) and starts it again on the same
    /// address, config and data, as a crash and a supervisor's restart would.
    pub fn crash_and_restart(&mut self) {
        let addr = self.proc.url.trim_start_matches("http://").to_owned();
        let config = self.dir.path().join("gateway.toml");
        let text = std::fs::read_to_string(&config)
            .unwrap()
            .replace("\nlisten = \"127.0.0.1:0\"", &format!("\nlisten = \"{addr}\""));
        std::fs::write(&config, text).unwrap();
        self.proc.kill();
        self.proc = spawn_logging(&["serve", "--config", config.to_str().unwrap()], self.dir.path(), "info");
        assert_eq!(self.proc.url, format!("http://{addr}"), "restarted on the same address");
    }

    pub fn issuer(&self) -> String {
        self.proc.url.clone()
    }

    pub fn token_endpoint(&self) -> String {
        self.url("/oauth2/token")
    }

    /// A client of partner `id` talking to this instance. Its assertions name this
    /// instance's token endpoint, or the cluster's (`public_url`) when there is one.
    pub fn partner(&self, id: &str) -> PartnerClient {
        let mut client = PartnerClient::new(id, &self.token_endpoint(), &self.proc.url);
        client.audience = self.public_url.as_ref().map(|u| format!("{u}/oauth2/token"));
        client
    }

    pub fn write_partner(&self, stem: &str, body: &str) {
        // Write then rename, as editors and config management do.
        let tmp = self.dir.path().join(format!("{stem}.toml.tmp"));
        std::fs::write(&tmp, body).unwrap();
        std::fs::rename(&tmp, self.dir.path().join(format!("partners/{stem}.toml"))).unwrap();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Runs `scenegate ARGS --config <this gateway's gateway.toml>` to completion.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        let config = self.dir.path().join("gateway.toml");
        Command::new(BIN).args(args).arg("--config").arg(&config).current_dir(self.dir.path()).output().unwrap()
    }

    pub fn signing_keys_file(&self) -> PathBuf {
        self.dir.path().join("data/signing-keys.json")
    }
}

/// Core mock + gateway, the usual pair.
pub struct Stack {
    pub gw: Gateway,
    pub(crate) core: Proc,
    pub(crate) core_dir: tempfile::TempDir,
}

impl Stack {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(tweak: impl FnOnce(&mut GatewayOptions)) -> Self {
        let core_dir = tempfile::tempdir().unwrap();
        let core = core_mock(core_dir.path());
        let mut opts = GatewayOptions::new(&core.url);
        tweak(&mut opts);
        Self { gw: Gateway::start(opts), core, core_dir }
    }

    pub fn core_url(&self) -> &str {
        &self.core.url
    }

    /// Kills the core-bank mock (SIGKILL) and starts it again on the same address and ledger.
    pub fn crash_and_restart_core(&mut self) {
        let addr = self.core.url.trim_start_matches("http://").to_owned();
        self.core.kill();
        let data = self.core_dir.path().to_str().unwrap().to_owned();
        self.core = spawn(&["core-mock", "--listen", &addr, "--data-dir", &data], self.core_dir.path());
    }
}

/// GETs `url` with a bearer token and returns the JSON answer, whatever its status.
pub async fn get_json(url: &str, token: &str) -> serde_json::Value {
    http().get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

/// Polls `check` until it is true or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// A problem body without its request id, to compare two answers for equality.
pub fn without_request_id(mut problem: serde_json::Value) -> serde_json::Value {
    if let Some(map) = problem.as_object_mut() {
        map.remove("request_id");
    }
    problem
}

/// Asserts the RFC 9457 shape every error must have, and returns the body.
pub async fn assert_problem(res: reqwest::Response, status: u16, slug: &str) -> serde_json::Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(ct, "application/problem+json");
    let request_id = res.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["type"], format!("https://scenegate.dev/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status);
    assert!(body["title"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(body["detail"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    assert!(!request_id.is_empty(), "x-request-id header");
    assert_eq!(body["request_id"], request_id, "request id in body matches header");
    body
}
