//! The gateway file: defaults, round trip, errors, and `check_dir`.

use std::net::SocketAddr;
use std::time::Duration;

use super::{TestDir, partner_toml};
use crate::config::gateway::GatewayFile;
use crate::config::{DEFAULT_GATEWAY_TOML, GatewayConfig, LogFormat, check_dir, load_gateway};

fn gateway_errors(dir: &TestDir, text: &str) -> String {
    let path = dir.write("gateway.toml", text);
    dir.render(&load_gateway(&path).expect_err("expected errors"))
}

#[test]
fn shipped_defaults_round_trip() {
    let dir = TestDir::new();
    let defaults = GatewayConfig::defaults_in(dir.path());
    // An empty file, the documented default file and the serialized built-in defaults all
    // mean the same configuration.
    let serialized = toml::to_string(&GatewayFile::default()).expect("serialize defaults");
    for text in ["", DEFAULT_GATEWAY_TOML, serialized.as_str()] {
        let path = dir.write("gateway.toml", text);
        assert_eq!(load_gateway(&path).expect("defaults load"), defaults, "from:\n{text}");
    }
    let reparsed: GatewayFile = toml::from_str(&serialized).expect("parse serialized");
    assert_eq!(reparsed, GatewayFile::default());
}

#[test]
fn defaults_are_the_documented_values() {
    let dir = TestDir::new();
    let config = GatewayConfig::defaults_in(dir.path());
    let base = dir.path();
    assert_eq!(config.server.listen, SocketAddr::from(([127, 0, 0, 1], 8080)));
    assert_eq!(config.server.public_url, None, "derived from the bound address by default");
    assert_eq!(config.server.max_body_bytes, 1_048_576);
    assert_eq!(config.server.request_timeout, Duration::from_secs(10));
    assert_eq!(config.auth.access_token_ttl, Duration::from_secs(300));
    assert_eq!(config.auth.signing_key_file, base.join("../data/signing-keys.json"));
    assert_eq!(config.core.base_url, "http://127.0.0.1:9090");
    assert_eq!(
        (config.core.timeout, config.core.connect_timeout),
        (Duration::from_secs(2), Duration::from_millis(500))
    );
    assert_eq!(config.storage.data_dir, base.join("../data"));
    assert_eq!(config.partners.dir, base.join("partners"));
    assert_eq!((config.log.format, config.log.level.as_str()), (LogFormat::Text, "info"));
    assert!(GatewayConfig::default().partners.dir.is_absolute());
}

#[test]
fn values_and_paths_are_resolved() {
    let dir = TestDir::new();
    let text = "[server]\nlisten = \"0.0.0.0:9443\"\npublic_url = \"https://api.bank.example/\"\n\
                [auth]\nsigning_key_file = \"/etc/scenegate/keys.json\"\n[storage]\ndata_dir = \"state\"\n\
                [partners]\ndir = \"/srv/partners\"\n[log]\nformat = \"json\"\n";
    let config = load_gateway(&dir.write("conf/gateway.toml", text)).expect("valid");
    assert_eq!(config.server.public_url.as_deref(), Some("https://api.bank.example"));
    assert_eq!(config.storage.data_dir, dir.path().join("conf/state"));
    assert_eq!(config.auth.signing_key_file, std::path::Path::new("/etc/scenegate/keys.json"));
    assert_eq!(config.partners.dir, std::path::Path::new("/srv/partners"));
    assert_eq!(config.log.format, LogFormat::Json);
}

#[test]
fn unknown_key_in_a_section() {
    let dir = TestDir::new();
    insta::assert_snapshot!(gateway_errors(&dir, "[server]\nlisten = \"127.0.0.1:8080\"\nport = 8080\n"), @"gateway.toml:3:1: `server.port`: unknown field `port`, expected one of `listen`, `public_url`, `max_body_bytes`, `request_timeout_ms`, `header_read_timeout_ms`, `max_header_bytes`, `max_connections`, `ops_listen`, `worker_threads`, `tls`");
    insta::assert_snapshot!(gateway_errors(&dir, "[database]\nurl = \"postgres://\"\n"), @"gateway.toml:1:2: `database`: unknown field `database`, expected one of `server`, `auth`, `core`, `storage`, `partners`, `payments`, `webhooks`, `sandbox`, `shared`, `audit`, `log`");
}

#[test]
fn unknown_log_format() {
    let dir = TestDir::new();
    insta::assert_snapshot!(gateway_errors(&dir, "[log]\nformat = \"yaml\"\n"), @"gateway.toml:2:10: `log.format`: unknown variant `yaml`, expected `text` or `json`");
}

#[test]
fn every_refused_value_is_reported() {
    let dir = TestDir::new();
    let text = "[server]\nlisten = \"localhost:8080\"\npublic_url = \"api.bank.example\"\nmax_body_bytes = 0\n\
                [auth]\naccess_token_ttl_secs = 7200\n[core]\nbase_url = \"http://core?x=1\"\ntimeout_ms = 100\n\
                connect_timeout_ms = 500\n[storage]\ndata_dir = \"\"\n[log]\nlevel = \" \"\n";
    insta::assert_snapshot!(gateway_errors(&dir, text), @r#"
        gateway.toml:2:10: `server.listen`: not a socket address (`ip:port`, e.g. `127.0.0.1:8080`): invalid socket address syntax
        gateway.toml:3:14: `server.public_url`: not an absolute URL: relative URL without a base
        gateway.toml:4:18: `server.max_body_bytes`: must be between 1 and 1073741824 (got 0)
        gateway.toml:6:25: `auth.access_token_ttl_secs`: must be between 60 and 3600 (got 7200)
        gateway.toml:8:12: `core.base_url`: must not have a query or a fragment
        gateway.toml:10:22: `core.connect_timeout_ms`: must not exceed `core.timeout_ms` (100)
        gateway.toml:12:12: `storage.data_dir`: must not be empty
        gateway.toml:14:9: `log.level`: must not be empty (e.g. `info`)
        "#);
}

/// A key's lease shorter than a request may run would let a retry take over the key of a
/// request still at work; as long is refused too, longer is fine.
#[test]
fn an_idempotency_lease_must_outlast_a_request() {
    let dir = TestDir::new();
    let text = "[server]\nrequest_timeout_ms = 20000\n[payments]\nidempotency_lease_secs = 20\n";
    insta::assert_snapshot!(gateway_errors(&dir, text), @"gateway.toml:4:26: `payments.idempotency_lease_secs`: must be longer than `server.request_timeout_ms` (20000 ms): a request still running would have its key taken over by a retry");
    let longer = "[server]\nrequest_timeout_ms = 20000\n[payments]\nidempotency_lease_secs = 21\n";
    load_gateway(&dir.write("gateway.toml", longer)).expect("a lease longer than the request timeout");
}

#[test]
fn missing_gateway_file() {
    let dir = TestDir::new();
    let errors = load_gateway(&dir.path().join("gateway.toml")).expect_err("missing");
    assert_eq!((errors.len(), errors[0].field.as_str(), errors[0].line), (1, "(file)", 0));
}

#[test]
fn check_dir_counts_partners() {
    let dir = TestDir::new();
    dir.write("partners/a.toml", &partner_toml("ptn_a"));
    dir.write("partners/b.toml", &partner_toml("ptn_b").replace("\"active\"", "\"suspended\""));
    let summary = check_dir(dir.path()).expect("valid dir, defaults");
    assert_eq!((summary.partners, summary.active, summary.suspended), (2, 1, 1));
    assert!(summary.gateway_file.is_none());

    dir.write("gateway.toml", "[partners]\ndir = \"onboarded\"\n");
    dir.write("onboarded/c.toml", &partner_toml("ptn_c"));
    let summary = check_dir(dir.path()).expect("valid dir");
    assert_eq!((summary.partners, summary.active), (1, 1));
    let shown = summary.to_string().replace(&format!("{}/", dir.path().display()), "");
    insta::assert_snapshot!(shown, @"gateway.toml: ok; 1 partner(s) in onboarded (1 active, 0 suspended)");

    dir.write("onboarded/d.toml", &partner_toml("ptn_d").replace("burst = 40", "burst = 0"));
    let errors = check_dir(dir.path()).expect_err("broken partner");
    insta::assert_snapshot!(dir.render(&errors), @"onboarded/d.toml:12:9: `rate_limit.burst`: must be between 1 and 100000 (got 0)");
}

#[test]
fn postgres_storage_needs_a_postgres_url_and_hides_its_password() {
    use crate::config::StorageBackend;
    let dir = TestDir::new();
    if std::env::var_os(crate::config::DATABASE_URL_ENV).is_some() {
        return; // the environment decides the URL here; these cases need it unset
    }
    insta::assert_snapshot!(gateway_errors(&dir, "[storage]\nbackend = \"postgres\"\n"), @"gateway.toml:2:11: `storage.url`: `backend = \"postgres\"` needs `url` (or SCENEGATE_DATABASE_URL set)");
    insta::assert_snapshot!(gateway_errors(&dir, "[storage]\nbackend = \"postgres\"\nurl = \"mysql://db/x\"\npool_size = 0\n"), @r"
    gateway.toml:3:7: `storage.url`: a PostgreSQL URL: `postgres://user@host:5432/database`
    gateway.toml:4:13: `storage.pool_size`: must be between 1 and 1000 (got 0)
    ");
    insta::assert_snapshot!(gateway_errors(&dir, "[storage]\nbackend = \"oracle\"\n"), @"gateway.toml:2:11: `storage.backend`: `sqlite` or `postgres` (got `oracle`)");
    let path = dir.write(
        "gateway.toml",
        "[storage]\nbackend = \"postgres\"\nurl = \"postgres://gw:s3cret@db:5432/scenegate\"\npool_size = 32\n",
    );
    let config = load_gateway(&path).expect("valid");
    let StorageBackend::Postgres(pg) = &config.storage.backend else { panic!("{:?}", config.storage.backend) };
    assert_eq!((pg.pool_size, pg.acquire_timeout), (32, Duration::from_secs(2)));
    assert_eq!(pg.redacted_url(), "postgres://gw:***@db:5432/scenegate");
    assert!(!format!("{config:?}").contains("s3cret"), "the password never reaches a log line");
}

#[test]
fn shared_state_on_redis_is_checked_and_hides_its_password() {
    use crate::config::SharedConfig;
    let dir = TestDir::new();
    insta::assert_snapshot!(gateway_errors(&dir, "[shared]\nbackend = \"memcached\"\nkey_prefix = \"a b\"\ntimeout_ms = 0\n"), @r"
    gateway.toml:2:11: `shared.backend`: `local` or `redis` (got `memcached`)
    gateway.toml:3:14: `shared.key_prefix`: 1 to 64 of A-Z, a-z, 0-9, `-`, `_`, `:`, `.`
    gateway.toml:4:14: `shared.timeout_ms`: must be between 1 and 10000 (got 0)
    ");
    insta::assert_snapshot!(gateway_errors(&dir, "[shared]\nbackend = \"redis\"\nurl = \"http://cache:6379\"\n"), @"gateway.toml:3:7: `shared.url`: a Redis URL: `redis://host:6379` or `rediss://…` for TLS");
    let path = dir.write("gateway.toml", "[shared]\nbackend = \"redis\"\nurl = \"redis://:s3cret@cache:6379\"\n");
    let config = load_gateway(&path).expect("valid");
    let SharedConfig::Redis(redis) = &config.shared else { panic!("{:?}", config.shared) };
    assert_eq!((redis.key_prefix.as_str(), redis.timeout), ("scenegate", Duration::from_millis(250)));
    assert!(!format!("{config:?}").contains("s3cret"), "the password never reaches a log line");
}

#[test]
fn worker_threads_are_one_per_core_unless_set_within_bounds() {
    let dir = TestDir::new();
    let unset = load_gateway(&dir.write("gateway.toml", "")).expect("valid");
    assert_eq!(unset.server.worker_threads, None, "unset: the runtime's own default, one per core");
    let set = load_gateway(&dir.write("gateway.toml", "[server]\nworker_threads = 1\n")).expect("valid");
    assert_eq!(set.server.worker_threads, Some(1));
    insta::assert_snapshot!(gateway_errors(&dir, "[server]\nworker_threads = 0\n"), @"gateway.toml:2:18: `server.worker_threads`: must be between 1 and 1024 (got 0)");
    insta::assert_snapshot!(gateway_errors(&dir, "[server]\nworker_threads = 4096\n"), @"gateway.toml:2:18: `server.worker_threads`: must be between 1 and 1024 (got 4096)");
}

#[test]
fn core_breaker_settings_have_bounds() {
    let dir = TestDir::new();
    insta::assert_snapshot!(gateway_errors(&dir, "[core]\nbreaker_failures = 0\nmax_in_flight = 0\n"), @r"
    gateway.toml:2:20: `core.breaker_failures`: must be between 1 and 1000 (got 0)
    gateway.toml:3:17: `core.max_in_flight`: must be between 1 and 100000 (got 0)
    ");
}

#[test]
fn a_second_core_system_is_routed_by_its_account_ranges() {
    let dir = TestDir::new();
    let path = dir.write(
        "gateway.toml",
        "[core]\nname = \"legacy\"\n[[core.systems]]\nname = \"new-core\"\ndialect = \"modern\"\n\
         base_url = \"http://127.0.0.1:9091\"\naccounts = [{ from = \"6222020000000000050\", to = \"6222020000000000089\" }]\n",
    );
    let config = load_gateway(&path).expect("valid");
    let systems: Vec<_> = config.core.topology(&Default::default()).systems.into_iter().map(|s| s.name).collect();
    assert_eq!(systems, ["legacy", "new-core"]);
    assert_eq!((config.core.products.as_str(), config.core.customers.as_str()), ("legacy", "legacy"));
}

#[test]
fn core_systems_and_routes_are_checked_with_their_places() {
    let dir = TestDir::new();
    let text = "[core]\ndialect = \"cobol\"\n\
                [[core.systems]]\nname = \"New Core\"\ndialect = \"modern\"\nbase_url = \"http://127.0.0.1:9091\"\n\
                accounts = [{ from = \"6222\", to = \"622\" }]\n\
                [[core.systems]]\nname = \"other\"\nbase_url = \"http://127.0.0.1:9092\"\n\
                [core.routes]\nproducts = \"New Core\"\ncustomers = \"nowhere\"\n";
    insta::assert_snapshot!(gateway_errors(&dir, text), @r"
    gateway.toml:2:11: `core.dialect`: must be `legacy` or `modern`
    gateway.toml:4:8: `core.systems[0].name`: must be 1 to 32 of a-z, 0-9, `-` and `_`
    gateway.toml:7:22: `core.systems[0].accounts[0]`: both ends must have one length (here 4 and 3 digits)
    gateway.toml:9:8: `core.systems[1].accounts`: name the account ranges this core holds
    gateway.toml:12:12: `core.routes.products`: `New Core` speaks the modern dialect, which has no product catalogue
    gateway.toml:13:13: `core.routes.customers`: no core system is named `nowhere`
    ");
}

#[test]
fn the_cluster_example_is_a_valid_cluster_configuration() {
    use crate::config::{SharedConfig, StorageBackend};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster/gateway.toml");
    let config = load_gateway(&path).expect("examples/cluster/gateway.toml loads");
    assert!(matches!(config.storage.backend, StorageBackend::Postgres(_)));
    assert!(matches!(config.shared, SharedConfig::Redis(_)));
    assert_eq!(config.server.public_url.as_deref(), Some("http://127.0.0.1:8080"), "one issuer for every instance");
}

#[test]
fn every_error_of_the_gateway_file_is_reported_in_one_run() {
    let dir = TestDir::new();
    insta::assert_snapshot!(
        gateway_errors(&dir, "[server]\nlisten = 8080\nmax_body = 10\n[core]\ntimeout_ms = 0\n[audit]\nrecords_retention_days = 30\n"),
        @r#"
        gateway.toml:2:10: `server.listen`: invalid type: integer `8080`, expected a string
        gateway.toml:3:1: `server.max_body`: unknown field `max_body`, expected one of `listen`, `public_url`, `max_body_bytes`, `request_timeout_ms`, `header_read_timeout_ms`, `max_header_bytes`, `max_connections`, `ops_listen`, `worker_threads`, `tls`
        gateway.toml:5:14: `core.timeout_ms`: must be between 1 and 300000 (got 0)
        gateway.toml:7:26: `audit.records_retention_days`: must be between 365 and 3650 (got 30)
        "#
    );
}

#[test]
fn outgoing_tls_files_are_read_at_load_and_go_in_pairs() {
    let dir = TestDir::new();
    insta::assert_snapshot!(
        gateway_errors(&dir, "[core]\nca_file = \"missing-ca.pem\"\n[webhooks]\nclient_cert_file = \"gw.crt\"\n"),
        @r"
        gateway.toml:2:11: `core`: missing-ca.pem: No such file or directory (os error 2)
        gateway.toml:4:20: `webhooks.client_cert_file`: `client_cert_file` and `client_key_file` go together
        "
    );
}
