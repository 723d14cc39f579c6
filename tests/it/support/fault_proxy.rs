//! A TCP proxy of the tests' own between the gateway and a dependency (PostgreSQL, Redis,
//! the core), to inject the faults operators meet: a dependency that is gone (connections
//! reset) or that hangs (blackholed: accepted, never answered). Bounded: at most
//! `MAX_CONNECTIONS` at once, each copied with fixed buffers.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU8, AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};

const MAX_CONNECTIONS: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// Forwards both ways.
    Pass = 0,
    /// Accepts and reads, never forwards nor answers.
    Blackhole = 1,
    /// Closes every new connection at once, and every open one at its next byte (a
    /// dependency restarting, or a firewall dropping it).
    Reset = 2,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on 127.0.0.1:0 and forwards to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let open = Arc::new(AtomicUsize::new(0));
        let m = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    continue; // dropped: the bound holds
                }
                open.fetch_add(1, Ordering::SeqCst);
                let (m, open) = (m.clone(), open.clone());
                tokio::spawn(async move {
                    relay(client, target, &m).await;
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Self { addr, mode, task }
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn mode_of(m: &AtomicU8) -> Mode {
    match m.load(Ordering::SeqCst) {
        0 => Mode::Pass,
        1 => Mode::Blackhole,
        _ => Mode::Reset,
    }
}

async fn relay(client: TcpStream, target: SocketAddr, mode: &AtomicU8) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    match mode_of(mode) {
        Mode::Reset => return drop(client),
        Mode::Blackhole => return hold(client, mode).await,
        Mode::Pass => {}
    }
    let Ok(upstream) = TcpStream::connect(target).await else { return };
    let (mut cr, mut cw) = client.into_split();
    let (mut ur, mut uw) = upstream.into_split();
    let mut up = [0_u8; 8192];
    let mut down = [0_u8; 8192];
    // Open connections follow the mode too: blackholed, bytes are swallowed both ways (the
    // connection hangs); reset, it is closed.
    loop {
        tokio::select! {
            n = cr.read(&mut up) => {
                let Ok(n) = n else { break };
                match mode_of(mode) {
                    _ if n == 0 => break,
                    Mode::Reset => break,
                    Mode::Blackhole => {}
                    Mode::Pass => if uw.write_all(&up[..n]).await.is_err() { break },
                }
            }
            n = ur.read(&mut down) => {
                let Ok(n) = n else { break };
                match mode_of(mode) {
                    _ if n == 0 => break,
                    Mode::Reset => break,
                    Mode::Blackhole => {}
                    Mode::Pass => if cw.write_all(&down[..n]).await.is_err() { break },
                }
            }
        }
    }
}

/// Reads and discards until the client gives up or the mode changes.
async fn hold(mut client: TcpStream, mode: &AtomicU8) {
    use tokio::io::AsyncReadExt;
    let mut sink = [0_u8; 4096];
    loop {
        tokio::select! {
            n = client.read(&mut sink) => if matches!(n, Ok(0) | Err(_)) { return },
            () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {
                if mode_of(mode) != Mode::Blackhole { return }
            }
        }
    }
}
