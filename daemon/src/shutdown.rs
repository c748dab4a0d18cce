//! Waiting for the signals that ask a daemon to stop.

use tokio::signal::unix::{self as unix_signal, SignalKind};

/// Resolves on the first SIGTERM or SIGINT and names it.
///
/// If a handler cannot be installed (which only happens when the runtime lacks signal
/// support), that signal is waited for no longer and the other one still works.
pub async fn signal() -> &'static str {
    let term = unix_signal::signal(SignalKind::terminate());
    let int = unix_signal::signal(SignalKind::interrupt());
    match (term, int) {
        (Ok(mut term), Ok(mut int)) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        },
        (Ok(mut term), Err(_)) => {
            term.recv().await;
            "SIGTERM"
        }
        (Err(_), Ok(mut int)) => {
            int.recv().await;
            "SIGINT"
        }
        (Err(_), Err(_)) => std::future::pending().await,
    }
}
