//! The node's health checks and readiness, as last reported; versioned so the shipper can tell
//! at a glance whether anything changed.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

use dawn_proto::Health;

/// The latest health of every check and the readiness.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Board {
    /// By check name.
    pub(crate) checks: BTreeMap<String, Health>,
    pub(crate) ready: bool,
    /// Bumped on every change.
    pub(crate) version: u64,
}

/// Shared between the node's threads and the shipper.
#[derive(Debug, Default)]
pub(crate) struct Signals(Mutex<Board>);

impl Signals {
    /// Stores `health`; `true` when it differs from what was there.
    pub(crate) fn set_health(&self, health: Health) -> bool {
        let mut board = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if board.checks.get(&health.check) == Some(&health) {
            return false;
        }
        board.checks.insert(health.check.clone(), health);
        board.version += 1;
        true
    }

    /// Stores `ready`; `true` when it changed.
    pub(crate) fn set_ready(&self, ready: bool) -> bool {
        let mut board = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if board.ready == ready {
            return false;
        }
        board.ready = ready;
        board.version += 1;
        true
    }

    /// A copy of the board, unless its version is `seen`.
    pub(crate) fn newer_than(&self, seen: Option<u64>) -> Option<Board> {
        let board = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        (Some(board.version) != seen).then(|| board.clone())
    }
}
