//! The HTTP/1.1 listener of both Scenegate servers (the gateway and the core-bank mock),
//! with the bounds a listener facing the internet needs and `axum::serve` does not set:
//!
//! - a deadline for a request's header block ([`Limits::header_read_timeout`]): a client
//!   that starts a request and never finishes its headers is disconnected, instead of holding
//!   a connection and its buffer forever (slowloris);
//! - a cap on the header block's size ([`Limits::max_header_bytes`]): beyond it the request
//!   is answered 431 by hyper before any of it reaches the application;
//! - a cap on open connections ([`Limits::max_connections`]): past it, new connections wait
//!   in the kernel's accept queue (bounded by its backlog) until one closes, so memory stays
//!   bounded whatever the number of clients.
//!
//! With [`tls`] it terminates TLS too (the handshake has the header deadline as well).
//!
//! Each connection's peer address reaches handlers as axum's `ConnectInfo<SocketAddr>`, and
//! a client certificate, when one was presented, as [`tls::ClientCertificate`].

pub mod tls;

pub use tokio_rustls::rustls;

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use tokio::{net::TcpListener, sync::Semaphore};
use tower::ServiceExt as _;

/// Gauge of open connections, labelled by listener name.
pub const OPEN_CONNECTIONS: &str = "scenegate_http_connections_open";

/// How long open requests may finish after shutdown begins.
const DRAIN: Duration = Duration::from_secs(10);

/// The bounds of one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From the first byte of a request to the end of its header block.
    pub header_read_timeout: Duration,
    /// The request line and headers together.
    pub max_header_bytes: usize,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for Limits {
    /// 10 s for the header block, 32 KiB of it, 4096 connections.
    fn default() -> Self {
        Self { header_read_timeout: Duration::from_secs(10), max_header_bytes: 32 * 1024, max_connections: 4096 }
    }
}

/// Serves `app` on `listener` within `limits` until `shutdown` resolves, then stops accepting
/// and gives open requests [`DRAIN`] to finish. With `tls`, connections are TLS, served with
/// its current certificate. `name` labels the connection gauge; `stats`
/// counts connections (the cap's proof in tests, `/readyz` detail in the gateway).
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    app: Router,
    limits: Limits,
    tls: Option<Arc<tls::Certificates>>,
    stats: Arc<Stats>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = match &tls {
        Some(certs) => Some(tokio_rustls::TlsAcceptor::from(certs.server_config().map_err(std::io::Error::other)?)),
        None => None,
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(limits.max_header_bytes)
        .keep_alive(true);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let open = metrics::gauge!(OPEN_CONNECTIONS, "listener" => name);
    tokio::pin!(shutdown);
    loop {
        // A permit first: at the cap, connections wait in the kernel's queue, not in memory.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(listener = name, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, http, watcher, acceptor, certs) =
            (app.clone(), http.clone(), graceful.watcher(), acceptor.clone(), tls.clone());
        let (open, stats) = (open.clone(), stats.clone());
        stats.opened();
        open.increment(1.0);
        tokio::spawn(async move {
            let served = match acceptor {
                None => {
                    let service = with_connection_facts(app, peer, None);
                    watcher.watch(http.serve_connection(TokioIo::new(stream), service)).await.map_err(|e| e.to_string())
                }
                Some(acceptor) => match tokio::time::timeout(limits.header_read_timeout, acceptor.accept(stream)).await
                {
                    Ok(Ok(tls)) => {
                        let chain = tls.get_ref().1.peer_certificates().unwrap_or_default();
                        let cert = certs.as_ref().and_then(|c| c.client_certificate(chain));
                        let service = with_connection_facts(app, peer, cert);
                        watcher
                            .watch(http.serve_connection(TokioIo::new(tls), service))
                            .await
                            .map_err(|e| e.to_string())
                    }
                    Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
                    Err(_) => Err("TLS handshake did not finish in time".to_owned()),
                },
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            open.decrement(1.0);
            stats.closed();
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!(listener = name, "requests still open after the drain period; closing them");
    }
    Ok(())
}

/// The app as hyper calls it, with what is known of the connection in every request's
/// extensions: the peer's address and its client certificate.
fn with_connection_facts(
    app: Router,
    peer: std::net::SocketAddr,
    cert: Option<tls::ClientCertificate>,
) -> TowerToHyperService<
    impl tower::Service<
        hyper::Request<Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future = impl Future + Send,
    > + Clone,
> {
    TowerToHyperService::new(tower::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        if let Some(cert) = &cert {
            req.extensions_mut().insert(cert.clone());
        }
        app.clone().oneshot(req)
    }))
}

/// Connections of one listener: open now, and the most ever open at once.
#[derive(Debug, Default)]
pub struct Stats {
    open: AtomicUsize,
    peak: AtomicUsize,
}

impl Stats {
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    fn opened(&self) {
        let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }

    fn closed(&self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}
