//! Three gateway instances on one scratch PostgreSQL database (and, once configured, one
//! Redis key prefix), in front of one core-bank mock: what a bank runs behind its load
//! balancer, on loopback.

use scenegate::store::postgres::ScratchDatabase;

use super::{Gateway, GatewayOptions, Stack, core_mock};

/// The cluster's public URL: the issuer of every token, whichever instance signed it.
pub const PUBLIC_URL: &str = "http://gateway.cluster.test";
pub const INSTANCES: usize = 3;

pub struct Cluster {
    /// The core-bank mock and instance 0 (so single-gateway helpers work on it).
    pub stack: Stack,
    /// Instances 1 and 2.
    pub others: Vec<Gateway>,
    pub _db: ScratchDatabase,
}

impl Cluster {
    /// Starts the cluster, or returns `None` (saying `SKIPPED`) when no PostgreSQL server is
    /// reachable outside CI. Under `CI` that is a failure: CI skips nothing silently.
    pub async fn start(tweak: impl FnOnce(&mut GatewayOptions)) -> Option<Self> {
        let server = ScratchDatabase::test_server_url();
        let db = match ScratchDatabase::create(&server).await {
            Ok(db) => db,
            Err(e) => {
                assert!(std::env::var_os("CI").is_none(), "CI must run the cluster tests, but {server} refused: {e}");
                eprintln!("SKIPPED: cluster test needs PostgreSQL at {server} ({e})");
                return None;
            }
        };
        let core_dir = tempfile::tempdir().unwrap();
        let core = core_mock(core_dir.path());
        let mut opts = GatewayOptions::new(&core.url);
        opts.public_url = Some(PUBLIC_URL.to_owned());
        opts.storage_toml = format!("backend = \"postgres\"\nurl = \"{}\"\npool_size = 8\n", db.url());
        tweak(&mut opts);
        let first = Gateway::start(opts.clone());
        let others = (1..INSTANCES).map(|_| Gateway::start(opts.clone())).collect();
        Some(Self { stack: Stack { gw: first, core, core_dir }, others, _db: db })
    }

    /// Instance `i` (0, 1 or 2).
    pub fn gw(&self, i: usize) -> &Gateway {
        if i == 0 { &self.stack.gw } else { &self.others[i - 1] }
    }

    pub fn core_url(&self) -> &str {
        self.stack.core_url()
    }
}
