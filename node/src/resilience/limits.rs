//! The node's rate limits on requests and notifications, chained narrowest first:
//!
//! 1. per sender identity ([`RateLimitResource::Message`]): `max` per window;
//! 2. per source address ([`RateLimitResource::SourceAddress`]), for everyone but the
//!    trusted: the address budget, plus `max` for each untrusted peer connected from that
//!    address. A fresh identity costs nothing to make, so without this a client making a
//!    new identity per call would never be limited; with it, fresh identities from one
//!    address share one budget, while a host's peers keep their own;
//! 3. global ([`RateLimitResource::Global`]), for everyone but the trusted: a ceiling on
//!    what all strangers together may make the node do, whatever their number of addresses.
//!
//! Trusted senders are held to their own limit only, so strangers' floods never slow them.
//! A sender's own budget is spent by every request within it, even one a shared limit then
//! refuses: a sender hammering a busy address still runs out of its own budget and is then
//! refused as itself (`message`). The shared budgets (address, global) count only the
//! requests the node serves, so their memory is bounded by the global budget.
//!
//! Sans-IO: the caller says who sent the request and when, and gets a decision; it counts
//! the refusal under the returned resource and replies -32005.

use std::hash::Hash;
use std::time::Instant;

use super::config::{RateLimitConfig, RequestLimitsConfig};
use super::rate_limit::{Log, RateLimited, RateLimiter};

/// Which limit refused a request: the `resource` label of
/// `p2p_rate_limit_rejections_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateLimitResource {
    /// The sender's own limit (requests and notifications share it).
    Message,
    /// The limit of the sender's source address.
    SourceAddress,
    /// The ceiling on all senders but the trusted ones.
    Global,
}

impl RateLimitResource {
    /// Every resource, in declaration order.
    pub const ALL: [Self; 3] = [Self::Message, Self::SourceAddress, Self::Global];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Message => "message",
            Self::SourceAddress => "source_address",
            Self::Global => "global",
        }
    }
}

/// A request as the limits see it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a, S, A> {
    /// Its sender's identity.
    pub sender: &'a S,
    /// Its sender's source address (per-address unit).
    pub address: &'a A,
    /// Whether the sender is trusted: then only its own limit applies.
    pub trusted: bool,
    /// Untrusted peers connected from `address` now; each adds the per-sender budget to
    /// the address's.
    pub peers_at_address: u32,
}

/// A refused request: which limit, and the -32005 details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// The limit that refused it.
    pub resource: RateLimitResource,
    /// When to retry, and the limit in force.
    pub limited: RateLimited,
}

/// The three limits of [`RateLimitResource`], keyed by sender `S` and address `A`.
#[derive(Debug, Clone)]
pub struct RequestLimits<S, A> {
    config: RequestLimitsConfig,
    senders: RateLimiter<S>,
    addresses: RateLimiter<A>,
    global: Log,
}

impl<S: Hash + Eq + Clone, A: Hash + Eq + Clone> RequestLimits<S, A> {
    /// Limits with `config`.
    pub fn new(config: RequestLimitsConfig) -> Self {
        let window = config.sender.window;
        RequestLimits {
            config,
            senders: RateLimiter::new(config.sender),
            addresses: RateLimiter::new(RateLimitConfig {
                max: config.address_max,
                window,
            }),
            global: Log::default(),
        }
    }

    /// The limits applied.
    pub fn config(&self) -> &RequestLimitsConfig {
        &self.config
    }

    /// Counts `request` at `now` against every limit that applies to it, narrowest first;
    /// `Err` names the first limit that refuses it.
    pub fn check(&mut self, request: Request<'_, S, A>, now: Instant) -> Result<(), Refused> {
        let refused = |resource| move |limited| Refused { resource, limited };
        self.senders
            .check(request.sender, now)
            .map_err(refused(RateLimitResource::Message))?;
        if request.trusted {
            return Ok(());
        }
        let peers_budget = self
            .config
            .sender
            .max
            .saturating_mul(request.peers_at_address);
        let address_max = self.config.address_max.saturating_add(peers_budget);
        self.addresses
            .check_within(request.address, address_max, now, false)
            .map_err(refused(RateLimitResource::SourceAddress))?;
        let global = RateLimitConfig {
            max: self.config.global_max,
            window: self.config.sender.window,
        };
        self.global
            .admit(global, now)
            .map_err(refused(RateLimitResource::Global))?;
        // Allowed a moment ago with the same budget and time: counts it.
        self.addresses
            .check_within(request.address, address_max, now, true)
            .map_err(refused(RateLimitResource::SourceAddress))
    }

    /// Drops senders and addresses with no request in the window.
    pub fn sweep(&mut self, now: Instant) {
        self.senders.sweep(now);
        self.addresses.sweep(now);
        self.global.prune(self.config.sender.window, now);
    }

    /// Senders and addresses tracked now.
    pub fn tracked(&self) -> (usize, usize) {
        (self.senders.len(), self.addresses.len())
    }
}
