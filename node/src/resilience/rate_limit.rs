//! A sliding-window rate limiter per sender.
//!
//! The window is a true sliding window (a log of the times of the requests it allowed):
//! a sender is refused when `max` requests were allowed in the last `window`, and
//! `retry_after` is exactly when the oldest of them leaves the window. Unlike a fixed
//! window it never lets a burst of `2 × max` through across a window boundary. Refused
//! requests are not logged, so a sender that keeps hammering is served again as soon as
//! its earlier requests age out.
//!
//! Memory: at most `max` timestamps (16 B each) per sender and at most `max_senders`
//! senders. Senders whose window is empty are dropped when room is needed and by
//! [`RateLimiter::sweep`]; when every sender is active, the least recently seen one is
//! forgotten (and starts afresh if it returns), so a flood of new identities cannot grow
//! memory.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

use crate::rpc::ErrorObject;

use super::clock::time_left;
use super::config::RateLimitConfig;

/// Default bound on senders tracked at once.
pub const DEFAULT_MAX_SENDERS: usize = 1024;

/// A request refused because its sender is over the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limit of {limit} requests per {window:?} exceeded; retry after {retry_after:?}")]
pub struct RateLimited {
    /// How long until the sender's next request will be allowed.
    pub retry_after: Duration,
    /// The limit in force.
    pub limit: u32,
    /// Its window.
    pub window: Duration,
}

impl RateLimited {
    /// The -32005 error object with `data.retry_after` in whole seconds.
    pub fn to_error_object(&self) -> ErrorObject {
        ErrorObject::rate_limited(self.retry_after)
    }
}

/// The requests one key was allowed in its sliding window.
#[derive(Debug, Clone, Default)]
pub(super) struct Log {
    /// Times of the requests allowed in the current window, oldest first.
    allowed: VecDeque<Instant>,
    last_seen: Option<Instant>,
}

impl Log {
    /// Logs a request at `now` if fewer than `max` were allowed in the window.
    pub(super) fn admit(
        &mut self,
        config: RateLimitConfig,
        now: Instant,
    ) -> Result<(), RateLimited> {
        self.last_seen = Some(now);
        self.within(config, now)?;
        self.allowed.push_back(now);
        Ok(())
    }

    /// Whether a request at `now` would be allowed, without logging it.
    pub(super) fn within(
        &mut self,
        config: RateLimitConfig,
        now: Instant,
    ) -> Result<(), RateLimited> {
        let RateLimitConfig { max, window } = config;
        self.prune(window, now);
        if self.allowed.len() < max as usize {
            return Ok(());
        }
        let retry_after = self
            .allowed
            .front()
            .and_then(|&oldest| time_left(oldest, window, now))
            .unwrap_or(Duration::ZERO);
        Err(RateLimited {
            retry_after,
            limit: max,
            window,
        })
    }

    pub(super) fn prune(&mut self, window: Duration, now: Instant) {
        while let Some(&oldest) = self.allowed.front() {
            if time_left(oldest, window, now).is_some() {
                break;
            }
            self.allowed.pop_front();
        }
    }
}

/// Requests allowed per sender in a sliding window.
#[derive(Debug, Clone)]
pub struct RateLimiter<K> {
    config: RateLimitConfig,
    max_senders: usize,
    senders: HashMap<K, Log>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter with `config` tracking at most [`DEFAULT_MAX_SENDERS`] senders.
    pub fn new(config: RateLimitConfig) -> Self {
        Self::with_max_senders(config, DEFAULT_MAX_SENDERS)
    }

    /// A limiter with `config` tracking at most `max_senders` senders (at least 1).
    pub fn with_max_senders(config: RateLimitConfig, max_senders: usize) -> Self {
        RateLimiter {
            config,
            max_senders: max_senders.max(1),
            senders: HashMap::new(),
        }
    }

    /// Counts a request from `sender` at `now` if it is within the limit.
    ///
    /// On `Err`, the caller replies -32005 ([`RateLimited::to_error_object`]) and counts
    /// `p2p_rate_limit_rejections_total`; the refused request is not counted against the
    /// sender's window.
    pub fn check(&mut self, sender: &K, now: Instant) -> Result<(), RateLimited> {
        self.check_within(sender, self.config.max, now, true)
    }

    /// [`RateLimiter::check`] with a budget of `max` for this request instead of the
    /// configured one (a per-address budget grows with the peers at that address). With
    /// `count` false, only says whether the request would be allowed (a shared budget
    /// counts only what the node then serves).
    pub(super) fn check_within(
        &mut self,
        sender: &K,
        max: u32,
        now: Instant,
        count: bool,
    ) -> Result<(), RateLimited> {
        let config = self.budget(max);
        // The common case, a known sender, neither clones its key nor scans the map.
        if let Some(log) = self.senders.get_mut(sender) {
            return match count {
                true => log.admit(config, now),
                false => log.within(config, now),
            };
        }
        if !count {
            // A sender not tracked has nothing in its window.
            return Log::default().within(config, now);
        }
        self.make_room(now);
        self.senders
            .entry(sender.clone())
            .or_default()
            .admit(config, now)
    }

    /// This limiter's window with a budget of `max`.
    fn budget(&self, max: u32) -> RateLimitConfig {
        RateLimitConfig {
            max,
            window: self.config.window,
        }
    }

    /// Requests `sender` may still make now without being refused.
    pub fn remaining(&self, sender: &K, now: Instant) -> u32 {
        let window = self.config.window;
        let used = self.senders.get(sender).map_or(0, |log| {
            log.allowed
                .iter()
                .filter(|&&t| time_left(t, window, now).is_some())
                .count()
        });
        self.config
            .max
            .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX))
    }

    /// Drops senders with no request in the window; returns how many were dropped.
    pub fn sweep(&mut self, now: Instant) -> usize {
        let window = self.config.window;
        let before = self.senders.len();
        self.senders.retain(|_, log| {
            log.prune(window, now);
            !log.allowed.is_empty()
        });
        before - self.senders.len()
    }

    /// Forgets `sender` (e.g. the peer disconnected).
    pub fn forget(&mut self, sender: &K) {
        self.senders.remove(sender);
    }

    /// Senders tracked now.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether no sender is tracked.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }

    /// The limit applied.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    fn make_room(&mut self, now: Instant) {
        if self.senders.len() < self.max_senders {
            return;
        }
        self.sweep(now);
        if self.senders.len() < self.max_senders {
            return;
        }
        let least_recent = self
            .senders
            .iter()
            .min_by_key(|(_, log)| log.last_seen)
            .map(|(k, _)| k.clone());
        if let Some(k) = least_recent {
            self.senders.remove(&k);
        }
    }
}
