//! What the scratch guards of the engines (`postgres::ScratchDatabase`,
//! `redis::ScratchPrefix`) share: their cleanup, run from `Drop`.

use std::{future::Future, time::Duration};

/// Runs a scratch guard's cleanup from its `Drop` and waits for it: on a thread and runtime
/// of its own (a drop may run inside a runtime), bounded as a whole by `within` (the timer is
/// made inside that runtime), so a server that stopped answering cannot hang a test. A
/// cleanup that fails or overruns fails the test under CI (unless a test is failing already:
/// a second panic would abort) and is a warning elsewhere, naming `what` was left behind.
pub(crate) fn clean_up_on_drop<F, Fut>(what: String, within: Duration, work: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Option<()>>,
{
    let done = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
        rt.block_on(async { tokio::time::timeout(within, work()).await.ok().flatten() })
    })
    .join();
    if !matches!(done, Ok(Some(()))) {
        let said = format!("{what} was left behind (its cleanup failed or took over {within:?})");
        assert!(std::env::var_os("CI").is_none() || std::thread::panicking(), "{said}");
        eprintln!("warning: {said}");
    }
}
