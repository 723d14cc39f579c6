//! Three gateway instances on one scratch PostgreSQL database (and, once configured, one
//! Redis key prefix), in front of one core-bank mock: what a bank runs behind its load
//! balancer, on loopback.

use scenegate::store::{postgres::ScratchDatabase, redis::ScratchPrefix};

use super::{
    Gateway, GatewayOptions, Stack, core_mock,
    fault_proxy::{FaultProxy, Mode},
};

/// The cluster's public URL: the issuer of every token, whichever instance signed it.
pub const PUBLIC_URL: &str = "http://gateway.cluster.test";
pub const INSTANCES: usize = 3;

pub struct Cluster {
    /// The core-bank mock and instance 0 (so single-gateway helpers work on it).
    pub stack: Stack,
    /// Instances 1 and 2.
    pub others: Vec<Gateway>,
    /// Every instance reaches PostgreSQL and Redis through these, so tests can cut them.
    pub postgres: FaultProxy,
    pub redis: FaultProxy,
    /// Instance `i`'s own link to PostgreSQL, in front of `postgres`: a network partition of
    /// one instance (see [`Cluster::cut_off`]).
    links: Vec<FaultProxy>,
    pub _db: ScratchDatabase,
    /// The cluster's Redis key prefix, whose keys are deleted once the instances are gone.
    _keys: ScratchPrefix,
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
        let redis_server =
            std::env::var("SCENEGATE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let redis_addr = resolve(&redis_server);
        if tokio::net::TcpStream::connect(redis_addr).await.is_err() {
            assert!(std::env::var_os("CI").is_none(), "CI must run the cluster tests, but no Redis at {redis_server}");
            eprintln!("SKIPPED: cluster test needs Redis at {redis_server}");
            return None;
        }
        let postgres = FaultProxy::start(resolve(db.url())).await;
        let redis = FaultProxy::start(redis_addr).await;
        let mut db_url = url::Url::parse(db.url()).unwrap();
        db_url.set_port(Some(postgres.addr.port())).unwrap();
        db_url.set_host(Some("127.0.0.1")).unwrap();

        let core_dir = tempfile::tempdir().unwrap();
        let core = core_mock(core_dir.path());
        let mut opts = GatewayOptions::new(&core.url);
        opts.public_url = Some(PUBLIC_URL.to_owned());
        // A short wait for a connection, so a lost database answers 503 quickly in tests.
        opts.storage_toml =
            format!("backend = \"postgres\"\nurl = \"{db_url}\"\npool_size = 8\nacquire_timeout_ms = 1000\n");
        let keys = ScratchPrefix::new(&redis_server);
        opts.extra_toml = format!(
            "[shared]\nbackend = \"redis\"\nurl = \"redis://{}\"\nkey_prefix = \"{}\"\ntimeout_ms = 200\n",
            redis.addr,
            keys.prefix()
        );
        tweak(&mut opts);
        let shared = format!("127.0.0.1:{}/", postgres.addr.port());
        assert!(opts.storage_toml.contains(&shared), "every instance reaches PostgreSQL through its link");
        let mut links = Vec::with_capacity(INSTANCES);
        let mut each = Vec::with_capacity(INSTANCES);
        for _ in 0..INSTANCES {
            let link = FaultProxy::start(postgres.addr).await;
            let mut own = opts.clone();
            own.storage_toml = opts.storage_toml.replace(&shared, &format!("127.0.0.1:{}/", link.addr.port()));
            links.push(link);
            each.push(own);
        }
        // Started off the runtime (starting waits for the process), so the proxies keep running;
        // the first alone, so it applies the migrations while the others wait for nothing.
        let start = |opts: GatewayOptions| tokio::task::spawn_blocking(move || Gateway::start(opts));
        let mut each = each.into_iter();
        let first = start(each.next().unwrap()).await.unwrap();
        let starting: Vec<_> = each.map(start).collect();
        let mut others = Vec::new();
        for s in starting {
            others.push(s.await.unwrap());
        }
        Some(Self { stack: Stack { gw: first, core, core_dir }, others, postgres, redis, links, _db: db, _keys: keys })
    }

    /// Instance `i` (0, 1 or 2).
    pub fn gw(&self, i: usize) -> &Gateway {
        if i == 0 { &self.stack.gw } else { &self.others[i - 1] }
    }

    pub fn core_url(&self) -> &str {
        self.stack.core_url()
    }

    /// Cuts (or restores) every instance's PostgreSQL or Redis.
    pub fn set(&self, proxy: &FaultProxy, mode: Mode) {
        proxy.set(mode);
    }

    /// Cuts (or restores) instance `i`'s link to PostgreSQL alone, open connections included:
    /// the instance and the server each still see their side of the connection open.
    pub fn cut_off(&self, i: usize, mode: Mode) {
        self.links[i].set(mode);
    }
}

/// The socket address of a `scheme://host:port/…` URL.
fn resolve(url: &str) -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let u = url::Url::parse(url).unwrap();
    (u.host_str().unwrap(), u.port().unwrap()).to_socket_addrs().unwrap().next().unwrap()
}
