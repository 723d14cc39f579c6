//! The example load balancer (`examples/cluster/nginx.conf`) as operators copy it: nginx run
//! with that file, in front of three stand-in instances on loopback. What it must do with a
//! request an instance may have acted on is a money question: a payment POST whose instance
//! died before answering must not be sent again to another instance (the partner retries
//! it with its `Idempotency-Key`), while a request no instance received may go to the next.

use std::{
    path::Path,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

use crate::support::http;

/// How a stand-in instance treats a request.
#[derive(Clone, Copy)]
enum Instance {
    /// Reads the whole request, then closes without answering: it may have acted on it.
    DiesAfterReading,
    /// Answers 200.
    Answers,
}

/// A stand-in instance on an ephemeral port; counts the requests it read.
struct StandIn {
    port: u16,
    received: Arc<AtomicUsize>,
}

impl StandIn {
    async fn start(behaviour: Instance) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(AtomicUsize::new(0));
        let count = received.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    // One request per connection: its head, then a body of Content-Length.
                    let mut buf = Vec::with_capacity(1024);
                    let mut chunk = [0u8; 1024];
                    let head_end = loop {
                        let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut chunk)).await
                        else {
                            return;
                        };
                        if n == 0 || buf.len() > 64 * 1024 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break at + 4;
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + length.min(64 * 1024) {
                        match tokio::time::timeout(Duration::from_secs(5), conn.read(&mut chunk)).await {
                            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                            _ => return,
                        }
                    }
                    count.fetch_add(1, Ordering::SeqCst);
                    if let Instance::Answers = behaviour {
                        let _ = conn
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                            .await;
                    }
                });
            }
        });
        Self { port, received }
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

/// nginx with the example's file, its listener and upstreams moved to these ports; stopped
/// when dropped. `None` (saying `SKIPPED`) when nginx is not installed, outside CI.
struct Balancer {
    url: String,
    nginx: std::process::Child,
    conf: std::path::PathBuf,
    prefix: tempfile::TempDir,
}

impl Drop for Balancer {
    /// `nginx -s stop` (SIGTERM to the master, which takes its workers down): killing the
    /// master alone would leave its workers running, listening, and holding the port.
    fn drop(&mut self) {
        let _ = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&self.conf)
            .arg("-p")
            .arg(self.prefix.path())
            .args(["-s", "stop"])
            .stderr(Stdio::null())
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.nginx.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.nginx.kill();
        let _ = self.nginx.wait();
    }
}

impl Balancer {
    async fn start(instances: [u16; 3]) -> Option<Self> {
        if std::process::Command::new("nginx").arg("-v").stderr(Stdio::null()).status().is_err() {
            assert!(std::env::var_os("CI").is_none(), "CI must test the example load balancer, but nginx is missing");
            eprintln!("SKIPPED: the load-balancer test needs nginx");
            return None;
        }
        let listen = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster/nginx.conf");
        let mut conf = std::fs::read_to_string(example).unwrap();
        // `listen 127.0.0.1:8080;` and `server 127.0.0.1:808N max_fails=…;`
        for (from, to) in [8080, 8081, 8082, 8083].into_iter().zip([listen, instances[0], instances[1], instances[2]]) {
            let place = |port: u16, end: char| format!("127.0.0.1:{port}{end}");
            assert!(
                conf.contains(&place(from, ';')) || conf.contains(&place(from, ' ')),
                "the example names port {from}"
            );
            conf = conf.replace(&place(from, ';'), &place(to, ';')).replace(&place(from, ' '), &place(to, ' '));
        }
        let prefix = tempfile::tempdir().unwrap();
        let conf_path = prefix.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let nginx = std::process::Command::new("nginx")
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(prefix.path())
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let balancer = Self { url: format!("http://127.0.0.1:{listen}"), nginx, conf: conf_path, prefix };
        let up = crate::support::eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(("127.0.0.1", listen)).await.is_ok()
        })
        .await;
        assert!(up, "nginx did not listen on {}", balancer.url);
        Some(balancer)
    }
}

#[tokio::test]
async fn a_payment_an_instance_may_have_acted_on_is_not_sent_to_another() {
    let instances = [
        StandIn::start(Instance::DiesAfterReading).await,
        StandIn::start(Instance::DiesAfterReading).await,
        StandIn::start(Instance::DiesAfterReading).await,
    ];
    let Some(lb) = Balancer::start([instances[0].port, instances[1].port, instances[2].port]).await else { return };
    let received = || instances.iter().map(StandIn::received).sum::<usize>();

    let res = http()
        .post(format!("{}/v1/payments", lb.url))
        .header("idempotency-key", "pay-1")
        .json(&serde_json::json!({"amount": {"amount": "10.00", "currency": "CNY"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 502, "no instance answered");
    assert_eq!(received(), 1, "the POST reached one instance and was not sent again");

    // A read is safe to repeat: the balancer tries a second instance (proxy_next_upstream_tries).
    let res = http().get(format!("{}/v1/products", lb.url)).send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(received(), 3, "the GET was tried on two instances");
}

#[tokio::test]
async fn a_payment_no_instance_received_goes_to_the_next() {
    // The first instance is down (its port closed): the balancer's first choice.
    let down = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let up = [StandIn::start(Instance::Answers).await, StandIn::start(Instance::Answers).await];
    let Some(lb) = Balancer::start([down, up[0].port, up[1].port]).await else { return };
    for n in 0..3 {
        let res = http()
            .post(format!("{}/v1/payments", lb.url))
            .header("idempotency-key", format!("pay-{n}"))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "payment {n} was passed on to an instance that is up");
    }
    assert_eq!(up[0].received() + up[1].received(), 3);
}

/// Three real instances (PostgreSQL, Redis) behind the example's nginx, as operators run
/// them: one is killed with a burst of payments in flight through the balancer. The partner
/// retries every key through the balancer; each resolves to exactly one payment, one posting
/// per completed payment. (The stand-in tests above show the balancer never sends a payment
/// an instance may have acted on to another; this one, that the keys make up the rest.)
#[tokio::test]
async fn a_real_instance_killed_behind_the_balancer_mid_burst_leaves_every_key_one_payment() {
    use crate::payment_crashes::{
        body, burst, crash_options, delay_postings, every_key_one_settled_payment_through, recurring, the_rest,
        until_a_payment_is_at_the_core,
    };
    let Some(mut cluster) = crate::support::cluster::Cluster::start(crash_options).await else { return };
    let port = |i: usize| cluster.gw(i).url("").rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap();
    let Some(lb) = Balancer::start([port(0), port(1), port(2)]).await else { return };
    let (consent_id, token) = recurring(&cluster.stack).await;
    let before = crate::support::payments::ledger(cluster.core_url()).await["txn_count"].as_i64().unwrap();
    let payments = format!("{}/v1/payments", lb.url);
    // The core slow, so that the kill catches payments whose posting is under way.
    delay_postings(cluster.core_url(), 1_000).await;
    let rest = burst(vec![payments.clone()], token.clone(), body(&consent_id), 0).await;
    until_a_payment_is_at_the_core(cluster.gw(1)).await;
    cluster.others[0].proc.kill();
    delay_postings(cluster.core_url(), 0).await;
    // The kill caught payments the balancer had passed to that instance: nginx answers them
    // 502 (a POST once sent goes to no other instance), and their keys are retried below.
    let answers = the_rest(rest).await;
    let caught = answers.iter().filter(|a| **a == Some(502)).count();
    assert!(caught > 0, "the kill caught no payment in flight at the killed instance: {answers:?}");
    eprintln!("{caught} payments in flight at the killed instance answered 502 by nginx");
    every_key_one_settled_payment_through(&payments, &cluster.stack, &consent_id, &token, before).await;
}
