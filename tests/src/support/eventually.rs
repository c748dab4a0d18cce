//! One patience setting for every eventually-true check, instead of scattered sleeps.

use std::time::{Duration, Instant};

/// How long a condition may take to become true before a test fails: 30 s, or
/// `DAWN_TEST_PATIENCE_SECS` when set (raise it on a slow machine; nothing else changes).
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Poll interval of [`eventually`].
const POLL: Duration = Duration::from_millis(50);

/// [`PATIENCE`], or `DAWN_TEST_PATIENCE_SECS` when set.
pub fn patience() -> Duration {
    std::env::var("DAWN_TEST_PATIENCE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Duration::from_secs)
        .unwrap_or(PATIENCE)
}

/// Calls `check` until it returns `Ok`, for at most [`patience`]; then fails the test with
/// `what` and the last error.
///
/// This is not a timing assertion: the patience is a generous ceiling for something that
/// must happen, never a measure of how fast it happens.
#[track_caller]
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + patience();
    loop {
        match check() {
            Ok(v) => return v,
            Err(last) => {
                if Instant::now() > deadline {
                    panic!(
                        "not true within {:?}: {what}\nlast attempt: {last}",
                        patience()
                    );
                }
            }
        }
        std::thread::sleep(POLL);
    }
}
