//! The address book: where known peers listen, how fresh that knowledge is, how dials to
//! them went, and which of them to dial next. Sans-IO: time and randomness go in, addresses
//! and decisions come out; the node's gossip and dial tasks do the I/O.
//!
//! It follows Bitcoin's address manager in the small: the book is bounded and a full book
//! evicts its worst entry (most failed dials, then least recently seen); an address carries
//! the age of the last first-hand news of it, which gossip passes on as an age rather than
//! refreshing it, so the address of a node that left ages out everywhere within the TTL
//! however often it is re-gossiped; an address that failed [`MAX_DIAL_FAILURES`] dials in a
//! row is dropped; and a random sample of the book, not all of it, is what a node hands out.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::Rng;
use rand::seq::IteratorRandom;

use super::bootstrap::PeerAddr;
use super::node_id::NodeId;

/// Default for [`BookConfig::capacity`]: addresses kept at most.
pub const DEFAULT_BOOK_CAPACITY: usize = 1024;

/// Dials in a row that may fail before an address is dropped (a node that answers, even to
/// refuse, is not failing).
pub const MAX_DIAL_FAILURES: u32 = 3;

/// A dial not reported back within this long no longer blocks new dials to the address.
const DIAL_STALE: Duration = Duration::from_secs(60);

/// How the book ages, bounds and retries its addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookConfig {
    /// Addresses kept at most (bootstrap entries aside).
    pub capacity: usize,
    /// An address without first-hand news for this long is dropped.
    pub ttl: Duration,
    /// The first wait before redialing an address that failed or refused; doubles each
    /// time in a row, up to `retry_max`.
    pub retry_base: Duration,
    /// The longest such wait.
    pub retry_max: Duration,
}

impl BookConfig {
    /// The node's settings for a gossip period: addresses live five rounds (at least two
    /// minutes); retries start at one round (0.1-10 s) and stop doubling at a minute.
    pub fn for_gossip(interval: Duration) -> Self {
        Self {
            capacity: DEFAULT_BOOK_CAPACITY,
            ttl: (interval * 5).max(Duration::from_secs(120)),
            retry_base: interval.clamp(Duration::from_millis(100), Duration::from_secs(10)),
            retry_max: Duration::from_secs(60),
        }
    }
}

/// How a dial ended, as the book records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialOutcome {
    /// Connected (the peer may still refuse right after; see [`DialOutcome::Refused`]).
    Connected,
    /// The node is there but has no room (or made room by closing us): try later, keep it.
    Refused,
    /// No usable answer (unreachable, timeout, another node there): counts towards
    /// [`MAX_DIAL_FAILURES`].
    Failed,
}

#[derive(Debug, Clone)]
struct Entry {
    addr: PeerAddr,
    /// Last first-hand news: connected, or a gossiped age subtracted from its arrival.
    last_seen: Instant,
    /// Failed dials in a row.
    failures: u32,
    /// Refusals in a row (peer limit, rebalancing).
    refusals: u32,
    /// Not dialed before this.
    retry_at: Option<Instant>,
    /// A dial in progress since then.
    dialing: Option<Instant>,
}

impl Entry {
    fn is_dialing(&self, now: Instant) -> bool {
        self.dialing
            .is_some_and(|since| now.saturating_duration_since(since) < DIAL_STALE)
    }

    /// Worse entries are evicted first: more failures, then older news.
    fn badness(&self) -> (u32, std::cmp::Reverse<Instant>) {
        (self.failures, std::cmp::Reverse(self.last_seen))
    }
}

/// Known peer addresses by node id, and the bootstrap entries (kept for good, dialed by
/// their own dialers).
#[derive(Debug)]
pub struct AddressBook {
    local: NodeId,
    config: BookConfig,
    bootstrap: Vec<PeerAddr>,
    entries: HashMap<NodeId, Entry>,
}

impl AddressBook {
    /// An empty book of the node `local`.
    pub fn new(local: NodeId, config: BookConfig) -> Self {
        Self {
            local,
            config,
            bootstrap: Vec::new(),
            entries: HashMap::new(),
        }
    }

    /// The book's settings.
    pub fn config(&self) -> &BookConfig {
        &self.config
    }

    /// Adds a bootstrap entry (not subject to ageing, eviction or the dial plan).
    pub fn add_bootstrap(&mut self, peer: PeerAddr) {
        self.bootstrap.push(peer);
    }

    /// Records news of `addr` (which must carry its node id) that is `age` old at `now`;
    /// returns whether the node was unknown before. This node's own address, addresses
    /// without an id and news older than the TTL are ignored. When the book is full, the
    /// worst entry makes room, unless the news is worse than it.
    pub fn learn(&mut self, addr: PeerAddr, age: Duration, now: Instant) -> bool {
        let Some(id) = addr.node_id else { return false };
        if id == self.local || age >= self.config.ttl {
            return false;
        }
        let seen = now.checked_sub(age).unwrap_or(now);
        if let Some(entry) = self.entries.get_mut(&id) {
            if seen >= entry.last_seen {
                entry.last_seen = seen;
                // First-hand news (a connection) may move a node to a new address;
                // second-hand news does not override an address seen more recently.
                entry.addr = addr;
            }
            return false;
        }
        if self.entries.len() >= self.config.capacity.max(1) {
            let worst = self
                .entries
                .iter()
                .filter(|(_, e)| !e.is_dialing(now))
                .max_by_key(|(_, e)| e.badness())
                .map(|(id, e)| (*id, e.last_seen, e.failures));
            match worst {
                Some((worst, last_seen, failures)) if failures > 0 || last_seen < seen => {
                    self.entries.remove(&worst);
                }
                _ => return false,
            }
        }
        self.entries.insert(
            id,
            Entry {
                addr,
                last_seen: seen,
                failures: 0,
                refusals: 0,
                retry_at: None,
                dialing: None,
            },
        );
        true
    }

    /// Where to dial `peer`: its last known address, else a bootstrap entry naming it.
    pub fn address(&self, peer: &NodeId) -> Option<PeerAddr> {
        self.entries.get(peer).map(|e| e.addr.clone()).or_else(|| {
            self.bootstrap
                .iter()
                .find(|b| b.node_id.as_ref() == Some(peer))
                .cloned()
        })
    }

    /// Picks up to `want` addresses to dial now, at random among those not connected, not
    /// being dialed and not waiting for a retry; marks them as being dialed. Report each
    /// dial's end with [`AddressBook::dial_ended`].
    pub fn plan_dials(
        &mut self,
        now: Instant,
        want: usize,
        connected: impl Fn(&NodeId) -> bool,
        rng: &mut impl Rng,
    ) -> Vec<PeerAddr> {
        self.plan_dials_where(now, want, |id| !connected(id), rng)
    }

    /// [`AddressBook::plan_dials`] among the addresses `eligible` accepts (which must
    /// exclude connected peers): e.g. a rotation's far addresses only.
    pub fn plan_dials_where(
        &mut self,
        now: Instant,
        want: usize,
        eligible: impl Fn(&NodeId) -> bool,
        rng: &mut impl Rng,
    ) -> Vec<PeerAddr> {
        if want == 0 {
            return Vec::new();
        }
        let due = self
            .entries
            .iter_mut()
            .filter(|(id, e)| {
                eligible(id) && !e.is_dialing(now) && e.retry_at.is_none_or(|at| at <= now)
            })
            .map(|(_, e)| e)
            .choose_multiple(rng, want);
        due.into_iter()
            .map(|e| {
                e.dialing = Some(now);
                e.addr.clone()
            })
            .collect()
    }

    /// Dials in progress now.
    pub fn dials_in_progress(&self, now: Instant) -> usize {
        self.entries.values().filter(|e| e.is_dialing(now)).count()
    }

    /// Records how a dial to `peer` ended. A failure waits `retry_base × 2^(n-1)` (with
    /// jitter: `jitter` in `[0, 1)` takes between half and all of it) before the next try
    /// and drops the address at [`MAX_DIAL_FAILURES`]; a refusal waits the same way but
    /// keeps it (the node is alive, just full).
    pub fn dial_ended(&mut self, peer: &NodeId, outcome: DialOutcome, now: Instant, jitter: f64) {
        let config = self.config;
        let Some(entry) = self.entries.get_mut(peer) else {
            return;
        };
        entry.dialing = None;
        let wait = |n: u32| {
            let doubled = config
                .retry_base
                .saturating_mul(1u32 << n.saturating_sub(1).min(20));
            doubled
                .min(config.retry_max)
                .mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
        };
        match outcome {
            DialOutcome::Connected => {
                entry.failures = 0;
                entry.retry_at = None;
                entry.last_seen = entry.last_seen.max(now);
            }
            DialOutcome::Refused => {
                entry.failures = 0;
                entry.refusals = entry.refusals.saturating_add(1);
                entry.retry_at = Some(now + wait(entry.refusals));
                entry.last_seen = entry.last_seen.max(now);
            }
            DialOutcome::Failed => {
                entry.failures = entry.failures.saturating_add(1);
                if entry.failures >= MAX_DIAL_FAILURES {
                    self.entries.remove(peer);
                } else {
                    entry.retry_at = Some(now + wait(entry.failures));
                }
            }
        }
    }

    /// A random sample of up to `n` addresses with their ages, fresher than the TTL, never
    /// an address whose last dial failed, nor `exclude` (the peer it is for). Connected
    /// peers are in the book (refreshed by [`AddressBook::expire`]), so a sample mixes them
    /// with addresses only heard of.
    pub fn sample(
        &self,
        now: Instant,
        n: usize,
        exclude: Option<&NodeId>,
        rng: &mut impl Rng,
    ) -> Vec<(PeerAddr, Duration)> {
        self.entries
            .iter()
            .filter(|(id, e)| Some(*id) != exclude && e.failures == 0)
            .map(|(_, e)| (e.addr.clone(), now.saturating_duration_since(e.last_seen)))
            .filter(|(_, age)| *age < self.config.ttl)
            .choose_multiple(rng, n)
    }

    /// Whether an address not connected now is known (somewhere else to go).
    pub fn knows_others(&self, connected: impl Fn(&NodeId) -> bool) -> bool {
        self.entries.keys().any(|id| !connected(id))
    }

    /// Refreshes connected peers (first-hand news: a connection that holds) and their
    /// refusal count, and drops addresses without news for the TTL; returns the dropped.
    pub fn expire(&mut self, now: Instant, connected: impl Fn(&NodeId) -> bool) -> Vec<PeerAddr> {
        let ttl = self.config.ttl;
        let mut gone = Vec::new();
        self.entries.retain(|id, entry| {
            if connected(id) {
                entry.last_seen = now;
                entry.refusals = 0;
                return true;
            }
            let keep =
                entry.is_dialing(now) || now.saturating_duration_since(entry.last_seen) < ttl;
            if !keep {
                gone.push(entry.addr.clone());
            }
            keep
        });
        gone
    }

    /// Distinct peers known (bootstrap entries without an id, or not learned, count once
    /// each).
    pub fn len(&self) -> usize {
        let anonymous = self
            .bootstrap
            .iter()
            .filter(|b| b.node_id.is_none_or(|id| !self.entries.contains_key(&id)))
            .count();
        self.entries.len() + anonymous
    }

    /// Whether nothing is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    fn id(n: u16) -> NodeId {
        format!("{n:04x}").repeat(16).parse().unwrap()
    }

    fn addr(n: u16) -> PeerAddr {
        format!("127.0.0.1:{}@{}", 10_000 + n, id(n))
            .parse()
            .unwrap()
    }

    fn config() -> BookConfig {
        BookConfig {
            capacity: 8,
            ttl: Duration::from_secs(120),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(8),
        }
    }

    fn book() -> AddressBook {
        AddressBook::new(id(0), config())
    }

    const NOW: Duration = Duration::ZERO;

    #[test]
    fn learns_forgets_and_ignores_itself() {
        let start = Instant::now();
        let mut book = book();
        assert!(!book.learn(addr(0), NOW, start), "itself");
        assert!(book.learn(addr(2), NOW, start));
        let moved: PeerAddr = format!("127.0.0.1:9@{}", id(2)).parse().unwrap();
        assert!(
            !book.learn(moved.clone(), NOW, start),
            "known, address updated"
        );
        assert_eq!(book.address(&id(2)), Some(moved.clone()));
        book.add_bootstrap("10.0.0.9:8000".parse().unwrap());
        assert_eq!(book.len(), 2);

        let ttl = config().ttl;
        assert!(book.expire(start + ttl / 2, |_| false).is_empty());
        assert_eq!(book.expire(start + ttl, |_| false), vec![moved]);
        assert_eq!(book.address(&id(2)), None);

        book.learn(addr(3), NOW, start);
        assert!(
            book.expire(start + ttl * 2, |p| *p == id(3)).is_empty(),
            "connected"
        );
    }

    #[test]
    fn gossiped_ages_are_kept_not_refreshed() {
        let start = Instant::now() + Duration::from_secs(1000);
        let mut book = book();
        let ttl = config().ttl;
        assert!(!book.learn(addr(1), ttl, start), "older than the TTL");
        assert!(book.learn(addr(1), Duration::from_secs(100), start));
        // Re-gossiping the same old news later does not make it younger.
        book.learn(
            addr(1),
            Duration::from_secs(110),
            start + Duration::from_secs(10),
        );
        let sample = book.sample(start + Duration::from_secs(10), 8, None, &mut rng());
        assert_eq!(sample, vec![(addr(1), Duration::from_secs(110))]);
        // It goes when its first-hand news is TTL old, however often it was re-gossiped.
        book.learn(
            addr(1),
            Duration::from_secs(115),
            start + Duration::from_secs(15),
        );
        assert_eq!(
            book.expire(start + Duration::from_secs(20), |_| false),
            vec![addr(1)]
        );
        // Older second-hand news does not move a node seen at another address since.
        book.learn(addr(2), NOW, start);
        let old: PeerAddr = format!("127.0.0.1:9@{}", id(2)).parse().unwrap();
        book.learn(old, Duration::from_secs(50), start);
        assert_eq!(book.address(&id(2)), Some(addr(2)));
    }

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn a_full_book_evicts_its_worst_entry() {
        let start = Instant::now() + Duration::from_secs(1000);
        let mut book = book();
        for n in 1..=8 {
            assert!(book.learn(addr(n), Duration::from_secs(u64::from(n)), start));
        }
        // Older than everything: refused. Fresher: the oldest (8) makes room.
        assert!(!book.learn(addr(9), Duration::from_secs(60), start));
        assert!(book.learn(addr(9), NOW, start));
        assert_eq!(book.address(&id(8)), None);
        // A failing entry goes before any older healthy one.
        let plan = book.plan_dials(start, 8, |p| *p != id(3), &mut rng());
        assert_eq!(plan, vec![addr(3)]);
        book.dial_ended(&id(3), DialOutcome::Failed, start, 0.0);
        assert!(book.learn(addr(10), Duration::from_secs(30), start));
        assert_eq!(book.address(&id(3)), None);
        assert_eq!(book.len(), 8);
    }

    #[test]
    fn dial_plans_skip_connected_dialing_and_backed_off_addresses() {
        let t0 = Instant::now();
        let mut book = book();
        for n in 1..=4 {
            book.learn(addr(n), NOW, t0);
        }
        let connected = |p: &NodeId| *p == id(1);
        let first = book.plan_dials(t0, 2, connected, &mut rng());
        assert_eq!(first.len(), 2);
        assert!(!first.contains(&addr(1)));
        assert_eq!(book.dials_in_progress(t0), 2);
        // The two others only: the first two are being dialed.
        let second = book.plan_dials(t0, 5, connected, &mut rng());
        assert_eq!(second.len(), 1);
        assert!(second.iter().all(|a| !first.contains(a)));
        assert!(book.plan_dials(t0, 5, connected, &mut rng()).is_empty());

        // A refusal and a failure wait retry_base (jitter 1.0: all of it), then double.
        let (refused, failed) = (first[0].node_id.unwrap(), first[1].node_id.unwrap());
        book.dial_ended(&refused, DialOutcome::Refused, t0, 1.0);
        book.dial_ended(&failed, DialOutcome::Failed, t0, 1.0);
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert!(book.plan_dials(at(0), 5, connected, &mut rng()).is_empty());
        let mut again = book.plan_dials(at(1), 5, connected, &mut rng());
        again.sort_by_key(|a| a.port);
        let mut want = vec![first[0].clone(), first[1].clone()];
        want.sort_by_key(|a| a.port);
        assert_eq!(again, want);
        book.dial_ended(&refused, DialOutcome::Refused, at(1), 1.0);
        book.dial_ended(&failed, DialOutcome::Failed, at(1), 1.0);
        assert!(book.plan_dials(at(2), 5, connected, &mut rng()).is_empty());
        assert_eq!(book.plan_dials(at(3), 5, connected, &mut rng()).len(), 2);
        // The third failure in a row drops it; a refused node stays however often.
        book.dial_ended(&failed, DialOutcome::Failed, at(3), 1.0);
        book.dial_ended(&refused, DialOutcome::Refused, at(3), 1.0);
        assert_eq!(book.address(&failed), None);
        assert!(book.address(&refused).is_some());
        // A dial never reported back (the second plan's) stops blocking after a while.
        let ports = |mut plan: Vec<PeerAddr>| {
            plan.sort_by_key(|a| a.port);
            plan
        };
        let stuck = ports(book.plan_dials(at(100), 5, connected, &mut rng()));
        assert_eq!(stuck, ports(vec![first[0].clone(), second[0].clone()]));
        assert!(
            book.plan_dials(at(159), 5, connected, &mut rng())
                .is_empty()
        );
        assert_eq!(
            ports(book.plan_dials(at(161), 5, connected, &mut rng())),
            stuck
        );
    }

    #[test]
    fn samples_are_bounded_random_fresh_and_exclude_the_recipient() {
        let t0 = Instant::now() + Duration::from_secs(1000);
        let mut book = AddressBook::new(
            id(0),
            BookConfig {
                capacity: 100,
                ..config()
            },
        );
        for n in 1..=50 {
            book.learn(addr(n), NOW, t0);
        }
        let mut rng = rng();
        let a = book.sample(t0, 10, Some(&id(1)), &mut rng);
        let b = book.sample(t0, 10, Some(&id(1)), &mut rng);
        assert_eq!((a.len(), b.len()), (10, 10));
        assert_ne!(a, b, "random, not the same ten every time");
        let seen: std::collections::HashSet<u16> = (0..200)
            .flat_map(|_| book.sample(t0, 10, Some(&id(1)), &mut rng))
            .map(|(a, _)| a.port - 10_000)
            .collect();
        assert!(
            !seen.contains(&1),
            "the recipient is never in its own sample"
        );
        assert_eq!(seen.len(), 49, "every other address turns up");
        // Failing addresses are not handed out.
        let plan = book.plan_dials(t0, 50, |p| *p != id(2), &mut rng);
        assert_eq!(plan, vec![addr(2)]);
        book.dial_ended(&id(2), DialOutcome::Failed, t0, 0.0);
        assert!((0..100).all(|_| {
            book.sample(t0, 49, None, &mut rng)
                .iter()
                .all(|(a, _)| *a != addr(2))
        }));
        assert!(book.knows_others(|p| *p != id(3)));
        assert!(!book.knows_others(|_| true));
    }

    #[test]
    fn filtered_dial_plans_pick_only_eligible_due_addresses() {
        let t0 = Instant::now();
        let mut book = book();
        for n in 1..=6 {
            book.learn(addr(n), NOW, t0);
        }
        let far = |p: &NodeId| *p == id(4) || *p == id(5);
        let mut rng = rng();
        let plan = book.plan_dials_where(t0, 1, far, &mut rng);
        assert_eq!(plan.len(), 1);
        assert!(plan[0] == addr(4) || plan[0] == addr(5), "{plan:?}");
        // The one planned is being dialed: the other far one is left, then none.
        let other = book.plan_dials_where(t0, 5, far, &mut rng);
        assert_eq!(other.len(), 1);
        assert_ne!(other, plan);
        assert!(book.plan_dials_where(t0, 5, far, &mut rng).is_empty());
        // The ordinary plan skips them too while they are dialed.
        let rest = book.plan_dials(t0, 10, |_| false, &mut rng);
        assert_eq!(rest.len(), 4);
        assert!(rest.iter().all(|a| *a != addr(4) && *a != addr(5)));
    }

    #[test]
    fn bootstrap_entries_with_ids_give_addresses() {
        let mut book = book();
        book.add_bootstrap(addr(4));
        assert_eq!(book.address(&id(4)), Some(addr(4)));
        book.learn(addr(4), NOW, Instant::now());
        assert_eq!(book.len(), 1);
    }
}
