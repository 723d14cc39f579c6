//! Mock-only fault injection, set over `/core/admin/faults` by the gateway's failure tests.
//! A real core has nothing like it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest delay accepted: long enough to outlast any gateway timeout, short enough that
/// a forgotten setting cannot wedge a test run.
pub(crate) const MAX_DELAY_MS: u64 = 600_000;

#[derive(Debug, Default)]
pub(crate) struct Faults {
    payment_delay_ms: AtomicU64,
}

impl Faults {
    pub(crate) fn payment_delay_ms(&self) -> u64 {
        self.payment_delay_ms.load(Ordering::Relaxed)
    }

    /// 0 clears the delay.
    pub(crate) fn set_payment_delay_ms(&self, ms: u64) {
        self.payment_delay_ms.store(ms.min(MAX_DELAY_MS), Ordering::Relaxed);
    }

    /// Called by `POST /core/payments` after its transaction has ended, so the outcome is
    /// already durable while the caller is still waiting (and may give up).
    pub(crate) async fn delay_payment_answer(&self) {
        let ms = self.payment_delay_ms();
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}
