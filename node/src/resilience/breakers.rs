//! A circuit breaker per peer, with memory bounded however many peers come and go.
//!
//! Only peers with something to remember are tracked: a closed breaker with no failures
//! is the same as no breaker, so a success that closes or resets a breaker drops it, and
//! closed breakers idle for `idle_ttl` are dropped by [`Breakers::handle_timeout`]. At
//! `max_tracked` entries, a new failing peer first displaces the least recently active
//! closed breaker; when every tracked breaker is open or half-open the new peer is not
//! tracked (its calls are allowed) rather than forgetting a breaker that is protecting the
//! node. Open and half-open breakers are never dropped behind the caller's back, so the
//! state gauge the caller keeps always matches; call [`Breakers::remove`] when a peer is
//! forgotten.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

use super::breaker::{CircuitBreaker, Open};
use super::config::BreakerConfig;
use super::state::{BreakerState, Transition};

/// Memory bounds of [`Breakers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakersLimits {
    /// Most peers tracked at once.
    pub max_tracked: usize,
    /// A closed breaker with failures but no activity for this long is forgotten (its
    /// failure count resets).
    pub idle_ttl: Duration,
}

impl Default for BreakersLimits {
    fn default() -> Self {
        BreakersLimits {
            max_tracked: 4096,
            idle_ttl: Duration::from_secs(600),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    breaker: CircuitBreaker,
    last_active: Instant,
}

/// Circuit breakers keyed by peer id.
#[derive(Debug, Clone)]
pub struct Breakers<K> {
    config: BreakerConfig,
    limits: BreakersLimits,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Breakers<K> {
    /// Breakers with `config` and the default memory bounds.
    pub fn new(config: BreakerConfig) -> Self {
        Self::with_limits(config, BreakersLimits::default())
    }

    /// Breakers with `config` and explicit memory bounds.
    pub fn with_limits(config: BreakerConfig, limits: BreakersLimits) -> Self {
        Breakers {
            config,
            limits,
            entries: HashMap::new(),
        }
    }

    /// Whether a call to `peer` may be made now; see [`CircuitBreaker::allow`].
    pub fn allow(&mut self, peer: &K, now: Instant) -> Result<Option<Transition>, Open> {
        match self.entries.get_mut(peer) {
            Some(entry) => {
                entry.last_active = now;
                entry.breaker.allow(now)
            }
            None => Ok(None),
        }
    }

    /// Reports a successful call to `peer`; see [`CircuitBreaker::on_success`].
    pub fn on_success(&mut self, peer: &K, now: Instant) -> Option<Transition> {
        let entry = self.entries.get_mut(peer)?;
        entry.last_active = now;
        let transition = entry.breaker.on_success(now);
        if entry.breaker.state() == BreakerState::Closed {
            self.entries.remove(peer);
        }
        transition
    }

    /// Reports a failed call to `peer`; see [`CircuitBreaker::on_failure`]. The caller
    /// counts every failure in `p2p_circuit_breaker_failures_total`.
    pub fn on_failure(&mut self, peer: &K, now: Instant) -> Option<Transition> {
        if !self.entries.contains_key(peer) && !self.make_room(now) {
            return None;
        }
        let config = self.config;
        let entry = self.entries.entry(peer.clone()).or_insert_with(|| Entry {
            breaker: CircuitBreaker::new(config),
            last_active: now,
        });
        entry.last_active = now;
        entry.breaker.on_failure(now)
    }

    /// Half-opens breakers whose open period has ended (so the gauge shows it without
    /// waiting for a call) and forgets idle closed ones. Returns the transitions made.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<(K, Transition)> {
        let transitions = self
            .entries
            .iter_mut()
            .filter_map(|(peer, entry)| {
                entry.breaker.handle_timeout(now).map(|t| (peer.clone(), t))
            })
            .collect();
        self.drop_idle(now);
        transitions
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.entries
            .values()
            .filter_map(|entry| match entry.breaker.state() {
                BreakerState::Open => entry.breaker.poll_timeout(),
                BreakerState::Closed => entry.last_active.checked_add(self.limits.idle_ttl),
                BreakerState::HalfOpen => None,
            })
            .min()
    }

    /// The state of `peer`'s breaker (closed when untracked).
    pub fn state(&self, peer: &K) -> BreakerState {
        self.entries
            .get(peer)
            .map_or(BreakerState::Closed, |e| e.breaker.state())
    }

    /// Forgets `peer` (it left the peer table); returns its last state so the caller can
    /// retire its gauge series.
    pub fn remove(&mut self, peer: &K) -> Option<BreakerState> {
        self.entries.remove(peer).map(|e| e.breaker.state())
    }

    /// Peers tracked now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no peer is tracked (every breaker closed with no recent failure).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Breakers open now: for the `peers` health check (calls to these peers are refused).
    pub fn open_count(&self) -> usize {
        self.count(BreakerState::Open)
    }

    /// Breakers half-open now.
    pub fn half_open_count(&self) -> usize {
        self.count(BreakerState::HalfOpen)
    }

    /// Every tracked peer and its state.
    pub fn iter(&self) -> impl Iterator<Item = (&K, BreakerState)> {
        self.entries.iter().map(|(k, e)| (k, e.breaker.state()))
    }

    /// The settings every breaker applies.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn count(&self, state: BreakerState) -> usize {
        self.entries
            .values()
            .filter(|e| e.breaker.state() == state)
            .count()
    }

    fn drop_idle(&mut self, now: Instant) {
        let ttl = self.limits.idle_ttl;
        self.entries.retain(|_, e| {
            e.breaker.state() != BreakerState::Closed
                || now.saturating_duration_since(e.last_active) < ttl
        });
    }

    /// Makes room for one more entry; false when every entry is open or half-open.
    fn make_room(&mut self, now: Instant) -> bool {
        if self.entries.len() < self.limits.max_tracked {
            return true;
        }
        self.drop_idle(now);
        if self.entries.len() < self.limits.max_tracked {
            return true;
        }
        let oldest_closed = self
            .entries
            .iter()
            .filter(|(_, e)| e.breaker.state() == BreakerState::Closed)
            .min_by_key(|(_, e)| e.last_active)
            .map(|(k, _)| k.clone());
        match oldest_closed {
            Some(k) => {
                self.entries.remove(&k);
                true
            }
            None => false,
        }
    }
}
