//! Closed-loop load for the bench examples: `CONNECTIONS` workers, each sending its next
//! request as soon as the last one is answered, for `DURATION` seconds; exact percentiles
//! from every answered request.

use std::{
    future::Future,
    time::{Duration, Instant},
};

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What a run measured.
pub struct Measured {
    pub ok: usize,
    pub failed: u64,
    pub per_second: u128,
    pub p50_ms: String,
    pub p99_ms: String,
}

/// Runs `request(worker, n)` from `connections` workers until `duration` is up; a request
/// counts when it resolves to `true`, and its latency is recorded.
pub async fn run<F, Fut>(connections: usize, duration: Duration, request: F) -> Measured
where
    F: Fn(usize, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers: Vec<_> = (0..connections)
        .map(|w| {
            let request = request.clone();
            tokio::spawn(async move {
                let (mut latencies, mut failed, mut n) = (Vec::new(), 0_u64, 0_u64);
                while Instant::now() < deadline {
                    n += 1;
                    let sent = Instant::now();
                    if request(w, n).await {
                        latencies.push(sent.elapsed());
                    } else {
                        failed += 1;
                    }
                }
                (latencies, failed)
            })
        })
        .collect();
    let (mut latencies, mut failed) = (Vec::new(), 0);
    for w in workers {
        if let Ok((l, f)) = w.await {
            latencies.extend(l);
            failed += f;
        }
    }
    let elapsed_us = started.elapsed().as_micros().max(1);
    latencies.sort();
    let pct = |p: usize| latencies.get((latencies.len() * p / 100).min(latencies.len().saturating_sub(1)));
    let ms = |d: Option<&Duration>| {
        let tenths = d.map_or(0, |d| d.as_micros() / 100);
        format!("{}.{}", tenths / 10, tenths % 10)
    };
    Measured {
        ok: latencies.len(),
        failed,
        per_second: latencies.len() as u128 * 1_000_000 / elapsed_us,
        p50_ms: ms(pct(50)),
        p99_ms: ms(pct(99)),
    }
}
