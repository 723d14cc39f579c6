//! The listener's bounds, against a real server on an ephemeral port, spoken to over raw TCP
//! as a slow or hostile client would.

use std::{sync::Arc, time::Duration};

use axum::{Router, routing::get};
use scenegate_listener::{Limits, Stats, serve};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

async fn start(limits: Limits) -> (std::net::SocketAddr, Arc<Stats>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stats = Arc::new(Stats::default());
    let app = Router::new().route("/", get(|| async { "ok" }));
    tokio::spawn(serve("test", listener, app, limits, None, stats.clone(), std::future::pending()));
    (addr, stats)
}

/// Reads until the server closes the connection; the bytes read, or `None` past `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(all)
}

fn limits(header_read_timeout: Duration, max_connections: usize) -> Limits {
    Limits { header_read_timeout, max_header_bytes: 32 * 1024, max_connections }
}

#[tokio::test]
async fn an_unfinished_header_block_is_disconnected_at_its_deadline() {
    let (addr, _) = start(limits(Duration::from_millis(300), 16)).await;
    let mut slow = TcpStream::connect(addr).await.unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ").await.unwrap();
    slow.write_all(&vec![b'a'; 16 * 1024]).await.unwrap();
    let started = std::time::Instant::now();
    assert!(until_closed(&mut slow, Duration::from_secs(5)).await.is_some(), "still connected after 5 s");
    assert!(started.elapsed() < Duration::from_secs(3), "closed at the deadline, not much later");
}

#[tokio::test]
async fn an_oversized_header_block_gets_431() {
    let (addr, _) = start(limits(Duration::from_secs(10), 16)).await;
    let mut big = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(40 * 1024));
    // The server may answer and close before the whole block is written.
    let _ = big.write_all(request.as_bytes()).await;
    let answer = until_closed(&mut big, Duration::from_secs(5)).await.expect("answered and closed");
    assert!(answer.starts_with(b"HTTP/1.1 431"), "{}", String::from_utf8_lossy(&answer));

    // A header block under the cap is served.
    let mut fine = TcpStream::connect(addr).await.unwrap();
    let request = format!("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: {}\r\n\r\n", "a".repeat(20 * 1024));
    fine.write_all(request.as_bytes()).await.unwrap();
    let answer = until_closed(&mut fine, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_and_are_served_in_turn() {
    let (addr, stats) = start(limits(Duration::from_millis(300), 2)).await;
    // Five slow clients against a cap of two: each is disconnected at its header deadline,
    // which lets the next one in; the server never holds more than two.
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(s);
    }
    for s in &mut slow {
        assert!(until_closed(s, Duration::from_secs(10)).await.is_some(), "every client is served in turn");
    }
    assert_eq!(stats.peak(), 2, "never more than the cap at once");
    let mut last = TcpStream::connect(addr).await.unwrap();
    last.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let answer = until_closed(&mut last, Duration::from_secs(5)).await.unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "served once the slow ones are gone");
}
