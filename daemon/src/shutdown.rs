//! Waiting for the signals that ask a daemon to stop.
//!
//! A signal that arrives before its listener exists is lost (tokio hands each listener only
//! the signals after it subscribed), so a daemon installs [`Signals`] before it announces
//! that it started: a SIGTERM sent as soon as the "started" line appears must stop it.

use tokio::signal::unix::{self as unix_signal, Signal, SignalKind};

/// Listeners for SIGTERM and SIGINT, installed when created.
#[derive(Debug)]
pub struct Signals {
    term: Option<Signal>,
    int: Option<Signal>,
}

impl Signals {
    /// Installs the listeners; call it inside the runtime, before start-up is announced.
    ///
    /// If a handler cannot be installed (which only happens when the runtime lacks signal
    /// support), that signal is waited for no longer and the other one still works.
    pub fn install() -> Signals {
        Signals {
            term: unix_signal::signal(SignalKind::terminate()).ok(),
            int: unix_signal::signal(SignalKind::interrupt()).ok(),
        }
    }

    /// Resolves on the first SIGTERM or SIGINT since [`Signals::install`] and names it.
    pub async fn recv(&mut self) -> &'static str {
        match (&mut self.term, &mut self.int) {
            (Some(term), Some(int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            (Some(term), None) => {
                term.recv().await;
                "SIGTERM"
            }
            (None, Some(int)) => {
                int.recv().await;
                "SIGINT"
            }
            (None, None) => std::future::pending().await,
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT after it is first polled, and names it.
pub async fn signal() -> &'static str {
    Signals::install().recv().await
}
