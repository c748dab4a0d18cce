//! The exporter's periodic chores (the abuse log's counts, the HTTP timeouts): one call
//! every period until shutdown, a late tick delayed rather than bunched with the next.

use std::future::Future;
use std::time::Duration;

/// Calls `chore` every `period`, the first time one period from now, until `stop` resolves.
pub(crate) async fn every(
    period: Duration,
    stop: impl Future<Output = ()>,
    mut chore: impl FnMut(),
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            _ = tick.tick() => chore(),
        }
    }
}
