//! The HTTP connections open now and what each is doing, with time as an input: which to
//! close for a timeout, and which gives way when a new one arrives at the limit. The
//! sockets and tasks are [`super::connections`]'s; this table only decides.
//!
//! A connection is, at any time, in one of three phases:
//! - *awaiting its first request* since it was accepted (TLS handshake included): it has
//!   `--web.read-header-timeout` to complete a request head;
//! - *busy*: a request of it is being answered; never closed by a timeout nor evicted;
//! - *idle* since its last answer: it has `--web.idle-timeout` to complete the next request
//!   head (a keep-alive connection between scrapes).
//!
//! At `--web.max-connections`, a new connection evicts, in this order: the connection that
//! has waited longest for its first request head (a slowloris or a silent client), else
//! the connection idle longest; if every connection is busy, the new one is refused. So an
//! attacker holding connections open can never keep a scraper or a probe out: a new
//! connection always finds one of theirs to replace, and a real client completes its
//! request within milliseconds of connecting (docs/security.md).

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::metrics::HttpClose;

/// Identifies a connection in the table.
pub(crate) type ConnId = u64;

/// What a connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Accepted at `since`; no request head yet.
    AwaitingFirst { since: Instant },
    /// `in_flight` requests being answered.
    Busy { in_flight: u32 },
    /// Last answer finished at `since`.
    Idle { since: Instant },
}

/// The timeouts the table applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    /// From accept to the first complete request head.
    pub(crate) read_header: Duration,
    /// From an answer to the next complete request head.
    pub(crate) idle: Duration,
}

/// What became of a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit<T> {
    /// Admitted under the limit.
    Admitted(ConnId),
    /// Admitted; `T` (the evicted connection's handle) must be closed to make room.
    Evicting(ConnId, T),
    /// Refused: the table is full of busy connections.
    Refused,
}

#[derive(Debug)]
struct Entry<T> {
    phase: Phase,
    handle: T,
}

/// Connections by id, each with a handle `T` the caller uses to close it.
///
/// The waiting connections are also kept in order of how long they have waited, one queue
/// per phase, so that finding the connection to evict and the ones past their timeout
/// costs a lookup, not a pass over every connection: under a flood, every new connection
/// evicts one.
#[derive(Debug)]
pub(crate) struct ConnTable<T> {
    max: usize,
    timeouts: Timeouts,
    next: ConnId,
    conns: HashMap<ConnId, Entry<T>>,
    /// Connections awaiting their first request, by accept time.
    awaiting_first: BTreeSet<(Instant, ConnId)>,
    /// Idle connections, by the end of their last answer.
    idle: BTreeSet<(Instant, ConnId)>,
}

impl<T> ConnTable<T> {
    /// A table of at most `max` (at least 1) connections.
    pub(crate) fn new(max: usize, timeouts: Timeouts) -> Self {
        ConnTable {
            max: max.max(1),
            timeouts,
            next: 0,
            conns: HashMap::new(),
            awaiting_first: BTreeSet::new(),
            idle: BTreeSet::new(),
        }
    }

    /// Connections open now.
    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    /// A connection accepted at `now`, closed through `handle`.
    pub(crate) fn accept(&mut self, handle: T, now: Instant) -> Admit<T> {
        let evicted = if self.conns.len() >= self.max {
            match self.victim().and_then(|id| self.remove(id)) {
                Some(handle) => Some(handle),
                None => return Admit::Refused,
            }
        } else {
            None
        };
        let id = self.next;
        self.next += 1;
        let phase = Phase::AwaitingFirst { since: now };
        self.conns.insert(id, Entry { phase, handle });
        self.enqueue(id, phase);
        match evicted {
            Some(handle) => Admit::Evicting(id, handle),
            None => Admit::Admitted(id),
        }
    }

    /// The connection to give way: the longest awaiting its first request, else the
    /// longest idle; never a busy one.
    fn victim(&self) -> Option<ConnId> {
        self.awaiting_first
            .first()
            .or_else(|| self.idle.first())
            .map(|&(_, id)| id)
    }

    /// Puts `id` in the queue of its `phase`, if it waits.
    fn enqueue(&mut self, id: ConnId, phase: Phase) {
        match phase {
            Phase::AwaitingFirst { since } => self.awaiting_first.insert((since, id)),
            Phase::Idle { since } => self.idle.insert((since, id)),
            Phase::Busy { .. } => false,
        };
    }

    /// Takes `id` out of the queue of its `phase`.
    fn dequeue(&mut self, id: ConnId, phase: Phase) {
        match phase {
            Phase::AwaitingFirst { since } => self.awaiting_first.remove(&(since, id)),
            Phase::Idle { since } => self.idle.remove(&(since, id)),
            Phase::Busy { .. } => false,
        };
    }

    /// Moves `id` to the phase `next` gives for its current one.
    fn shift(&mut self, id: ConnId, next: impl FnOnce(Phase) -> Phase) {
        let Some(entry) = self.conns.get_mut(&id) else {
            return;
        };
        let (from, to) = (entry.phase, next(entry.phase));
        entry.phase = to;
        self.dequeue(id, from);
        self.enqueue(id, to);
    }

    /// A complete request head arrived on `id`.
    pub(crate) fn request_started(&mut self, id: ConnId) {
        self.shift(id, |phase| match phase {
            Phase::Busy { in_flight } => Phase::Busy {
                in_flight: in_flight.saturating_add(1),
            },
            Phase::AwaitingFirst { .. } | Phase::Idle { .. } => Phase::Busy { in_flight: 1 },
        });
    }

    /// A request of `id` was answered at `now`.
    pub(crate) fn request_finished(&mut self, id: ConnId, now: Instant) {
        self.shift(id, |phase| match phase {
            Phase::Busy { in_flight } if in_flight > 1 => Phase::Busy {
                in_flight: in_flight - 1,
            },
            _ => Phase::Idle { since: now },
        });
    }

    /// The connection `id` ended; its handle back.
    pub(crate) fn remove(&mut self, id: ConnId) -> Option<T> {
        let entry = self.conns.remove(&id)?;
        self.dequeue(id, entry.phase);
        Some(entry.handle)
    }

    /// Removes every connection past its timeout at `now`: their handles and why.
    pub(crate) fn expired(&mut self, now: Instant) -> Vec<(T, HttpClose)> {
        let Timeouts { read_header, idle } = self.timeouts;
        let overdue = |queue: &BTreeSet<(Instant, ConnId)>, after: Duration| -> Vec<ConnId> {
            queue
                .iter()
                .take_while(|(since, _)| now >= *since + after)
                .map(|&(_, id)| id)
                .collect()
        };
        let due = overdue(&self.awaiting_first, read_header)
            .into_iter()
            .map(|id| (id, HttpClose::HeaderTimeout))
            .chain(
                overdue(&self.idle, idle)
                    .into_iter()
                    .map(|id| (id, HttpClose::IdleTimeout)),
            )
            .collect::<Vec<_>>();
        due.into_iter()
            .filter_map(|(id, why)| self.remove(id).map(|handle| (handle, why)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        read_header: Duration::from_secs(5),
        idle: Duration::from_secs(120),
    };

    fn at(t0: Instant, secs: u64) -> Instant {
        t0 + Duration::from_secs(secs)
    }

    fn id<T: std::fmt::Debug>(a: Admit<T>) -> ConnId {
        match a {
            Admit::Admitted(id) | Admit::Evicting(id, _) => id,
            Admit::Refused => panic!("refused"),
        }
    }

    #[test]
    fn at_the_limit_the_longest_waiting_for_a_first_request_gives_way() {
        let t0 = Instant::now();
        let mut t = ConnTable::new(3, TIMEOUTS);
        let scraper = id(t.accept("scraper", t0));
        t.request_started(scraper);
        t.request_finished(scraper, at(t0, 1));
        assert_eq!(t.accept("slow-a", at(t0, 2)), Admit::Admitted(1));
        assert_eq!(t.accept("slow-b", at(t0, 3)), Admit::Admitted(2));
        // Full: the oldest silent one goes, not the idle scraper's keep-alive connection,
        // though that one has waited longer.
        assert_eq!(t.accept("new", at(t0, 4)), Admit::Evicting(3, "slow-a"));
        assert_eq!(t.accept("newer", at(t0, 4)), Admit::Evicting(4, "slow-b"));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn idle_connections_give_way_next_and_busy_ones_never() {
        let t0 = Instant::now();
        let mut t = ConnTable::new(2, TIMEOUTS);
        let a = id(t.accept("a", t0));
        let b = id(t.accept("b", t0));
        for c in [a, b] {
            t.request_started(c);
        }
        assert_eq!(t.accept("c", at(t0, 1)), Admit::Refused, "all busy");
        t.request_finished(b, at(t0, 2));
        assert_eq!(t.accept("c", at(t0, 3)), Admit::Evicting(2, "b"));
        // Two requests at once on `a` (HTTP/2): busy until both are answered.
        t.request_started(a);
        t.request_finished(a, at(t0, 4));
        let c = 2;
        t.request_started(c);
        assert_eq!(t.accept("d", at(t0, 5)), Admit::Refused);
        t.request_finished(a, at(t0, 6));
        assert_eq!(t.accept("d", at(t0, 7)), Admit::Evicting(3, "a"));
    }

    #[test]
    fn timeouts_close_silent_and_idle_connections_but_not_busy_ones() {
        let t0 = Instant::now();
        let mut t = ConnTable::new(10, TIMEOUTS);
        let silent = id(t.accept("silent", t0));
        let busy = id(t.accept("busy", t0));
        let idle = id(t.accept("idle", t0));
        t.request_started(busy);
        t.request_started(idle);
        t.request_finished(idle, at(t0, 1));
        assert!(t.expired(at(t0, 4)).is_empty());
        assert_eq!(
            t.expired(at(t0, 5)),
            vec![("silent", HttpClose::HeaderTimeout)]
        );
        assert!(t.expired(at(t0, 120)).is_empty());
        assert_eq!(
            t.expired(at(t0, 121)),
            vec![("idle", HttpClose::IdleTimeout)]
        );
        assert!(
            t.expired(at(t0, 10_000)).is_empty(),
            "busy is never timed out"
        );
        assert_eq!(t.remove(busy), Some("busy"));
        assert_eq!(t.remove(silent), None, "already gone");
        assert_eq!(t.len(), 0);
    }
}
