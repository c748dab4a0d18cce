//! Who gets a place on the telemetry socket, so that slow or silent connections cannot keep
//! a real node out (docs/exporter.md, "Admission"):
//!
//! - a connection that has not completed its handshake is *pending*. Pending connections
//!   have their own limit (`--ingest.max-pending`) and take no client slot; at that limit the
//!   oldest pending connection gives way to the one just accepted, so a newcomer always has
//!   its handshake timeout to say `Hello`, however many silent connections there are;
//! - a client whose `Hello` was accepted takes a slot (`--ingest.max-clients`); at that limit
//!   one attached client gives way ([`victim`]): first a client that has sent no whole
//!   frame since its `Hello` (the oldest such; a real client sends its definitions at once,
//!   a trickling or silent one never finishes a frame), else the client longest without a
//!   whole frame if that was over [`ACTIVE_WITHIN`] ago (every real client sends a heartbeat
//!   each flush). When every client is active, the newcomer is refused (`client_limit`).
//!
//! The table decides; the connections do the closing: each has a [`Ticket`] whose
//! [`Ticket::kicked`] fires when it must give way.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// A client that sent a whole frame this recently never gives way to a newcomer.
pub(crate) const ACTIVE_WITHIN: Duration = Duration::from_secs(1);

/// The two limits of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdmissionLimits {
    /// Connections that have not completed their handshake (`--ingest.max-pending`).
    pub(crate) max_pending: usize,
    /// Clients past their handshake (`--ingest.max-clients`).
    pub(crate) max_clients: usize,
}

/// The connections on the socket, pending and attached.
#[derive(Debug)]
pub(crate) struct Admission {
    limits: AdmissionLimits,
    /// Times are stored as nanoseconds since this instant, so that a connection records its
    /// last frame with one atomic store.
    epoch: Instant,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    /// Pending connections by number, that is, by arrival.
    pending: BTreeMap<u64, Arc<Notify>>,
    clients: HashMap<u64, Member>,
}

#[derive(Debug)]
struct Member {
    kick: Arc<Notify>,
    /// When its `Hello` was accepted.
    hello: Instant,
    /// Its last whole frame after `Hello`, as nanoseconds since the epoch plus one; 0 for
    /// none yet.
    last_frame: Arc<AtomicU64>,
}

/// A client could not be given a slot: every attached client is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl Admission {
    pub(crate) fn new(limits: AdmissionLimits) -> Arc<Self> {
        Arc::new(Admission {
            limits,
            epoch: Instant::now(),
            table: Mutex::new(Table::default()),
        })
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // Every change is a map insert or removal: a panic elsewhere while the lock was
        // held cannot leave the table half-changed, so a poisoned lock is used as it is.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `at` as stored in [`Member::last_frame`]: never 0.
    fn stamp(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.epoch).as_nanos();
        u64::try_from(nanos).unwrap_or(u64::MAX - 1) + 1
    }

    /// The time a [`Member::last_frame`] stamp stands for, `None` for none yet.
    fn unstamp(&self, stamp: u64) -> Option<Instant> {
        let nanos = stamp.checked_sub(1)?;
        Some(self.epoch + Duration::from_nanos(nanos))
    }

    /// Connection number `conn` was just accepted: it is pending, and the oldest pending
    /// connection is told to give way if there are now too many.
    pub(crate) fn arrive(self: &Arc<Self>, conn: u64) -> Ticket {
        let kick = Arc::new(Notify::new());
        let mut table = self.table();
        table.pending.insert(conn, Arc::clone(&kick));
        if table.pending.len() > self.limits.max_pending
            && let Some((_, oldest)) = table.pending.pop_first()
        {
            oldest.notify_one();
        }
        drop(table);
        Ticket {
            conn,
            admission: Arc::clone(self),
            kick,
            last_frame: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// What the choice of who gives way knows of an attached client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    conn: u64,
    /// When its `Hello` was accepted.
    hello: Instant,
    /// Its last whole frame since, if any.
    last_frame: Option<Instant>,
}

/// The client to give way to a newcomer at `now`: the one with the oldest `Hello` among
/// those that sent no whole frame since; else the one whose last whole frame is the oldest,
/// if at least `active_within` old; else none. Ties go to the oldest connection.
fn victim(
    clients: impl IntoIterator<Item = Seen>,
    now: Instant,
    active_within: Duration,
) -> Option<u64> {
    let clients: Vec<Seen> = clients.into_iter().collect();
    let silent = clients
        .iter()
        .filter(|c| c.last_frame.is_none())
        .min_by_key(|c| (c.hello, c.conn));
    if let Some(c) = silent {
        return Some(c.conn);
    }
    let (last, conn) = clients
        .iter()
        .filter_map(|c| Some((c.last_frame?, c.conn)))
        .min()?;
    (now.saturating_duration_since(last) >= active_within).then_some(conn)
}

/// One connection's place in the [`Admission`] table, given back when dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    conn: u64,
    admission: Arc<Admission>,
    kick: Arc<Notify>,
    last_frame: Arc<AtomicU64>,
}

impl Ticket {
    /// Fires when this connection must give way to a newer one.
    pub(crate) fn kicked(&self) -> Arc<Notify> {
        Arc::clone(&self.kick)
    }

    /// The limits of the table.
    pub(crate) fn limits(&self) -> AdmissionLimits {
        self.admission.limits
    }

    /// The handshake completed at `now`: the connection takes a client slot, making the
    /// longest-idle client give way when all are taken; `Err` when every client is active.
    pub(crate) fn attach(&self, now: Instant) -> Result<(), Full> {
        let admission = &self.admission;
        let mut table = admission.table();
        table.pending.remove(&self.conn);
        if table.clients.len() >= admission.limits.max_clients {
            let clients = table.clients.iter().map(|(conn, m)| Seen {
                conn: *conn,
                hello: m.hello,
                last_frame: admission.unstamp(m.last_frame.load(Ordering::Relaxed)),
            });
            let Some(victim) = victim(clients, now, ACTIVE_WITHIN) else {
                return Err(Full);
            };
            if let Some(gone) = table.clients.remove(&victim) {
                gone.kick.notify_one();
            }
        }
        self.last_frame.store(0, Ordering::Relaxed);
        table.clients.insert(
            self.conn,
            Member {
                kick: Arc::clone(&self.kick),
                hello: now,
                last_frame: Arc::clone(&self.last_frame),
            },
        );
        Ok(())
    }

    /// Whether the notice of [`Ticket::kicked`] just received still stands. It does not
    /// when it came while the connection was pending and the connection has since been
    /// given a client slot: the pending limit bounds connections without a handshake, and
    /// the newcomer it made room for has its place; a client told to give way for the client
    /// limit is no longer among the clients.
    pub(crate) fn kick_stands(&self) -> bool {
        !self.admission.table().clients.contains_key(&self.conn)
    }

    /// A whole frame arrived at `now`, after the `Hello`.
    pub(crate) fn seen(&self, now: Instant) {
        let stamp = self.admission.stamp(now);
        self.last_frame.store(stamp, Ordering::Relaxed);
    }

    /// Gives the place back (idempotent; also done on drop).
    pub(crate) fn leave(&self) {
        let mut table = self.admission.table();
        table.pending.remove(&self.conn);
        table.clients.remove(&self.conn);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(max_pending: usize, max_clients: usize) -> Arc<Admission> {
        Admission::new(AdmissionLimits {
            max_pending,
            max_clients,
        })
    }

    /// Whether `ticket` was told to give way (consuming the notice).
    fn was_kicked(ticket: &Ticket) -> bool {
        let kick = ticket.kicked();
        let notified = kick.notified();
        tokio::pin!(notified);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        notified.as_mut().poll(&mut cx).is_ready()
    }

    #[test]
    fn a_client_silent_since_hello_gives_way_first_then_the_longest_idle() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let seen = |conn, hello, last: Option<u64>| Seen {
            conn,
            hello: t0 + s(hello),
            last_frame: last.map(|l| t0 + s(l)),
        };
        let active = [
            seen(3, 0, Some(5)),
            seen(1, 0, Some(2)),
            seen(2, 0, Some(2)),
        ];
        assert_eq!(victim(active, t0 + s(10), s(1)), Some(1));
        assert_eq!(victim(active, t0 + s(2), s(1)), None, "all active");
        // A client that never finished a frame after Hello goes first, however recent.
        let with_silent = [seen(1, 0, Some(2)), seen(4, 2, None), seen(5, 1, None)];
        assert_eq!(victim(with_silent, t0 + s(2), s(1)), Some(5));
        assert_eq!(victim([], t0, s(1)), None);
    }

    #[test]
    fn the_oldest_pending_connection_gives_way_beyond_the_pending_limit() {
        let a = admission(2, 8);
        let first = a.arrive(1);
        let second = a.arrive(2);
        assert!(!was_kicked(&first) && !was_kicked(&second));
        let third = a.arrive(3);
        assert!(was_kicked(&first), "the oldest gives way");
        assert!(!was_kicked(&second) && !was_kicked(&third));
        // An attached client no longer counts as pending.
        third.attach(Instant::now()).unwrap();
        let _fourth = a.arrive(4);
        assert!(!was_kicked(&second));
    }

    #[test]
    fn a_pending_notice_lapses_once_the_connection_has_a_client_slot() {
        // Told to give way while pending, then its Hello attached it before its task saw
        // the notice: the notice no longer stands. One kicked while pending that has not
        // attached, and a client kicked for the client limit, do give way.
        let a = admission(1, 1);
        let first = a.arrive(1);
        let second = a.arrive(2);
        assert!(was_kicked(&first));
        first.attach(Instant::now()).unwrap();
        assert!(!first.kick_stands(), "attached after the notice");
        let third = a.arrive(3);
        assert!(was_kicked(&second));
        assert!(second.kick_stands(), "still without a handshake");
        third
            .attach(Instant::now() + Duration::from_secs(5))
            .unwrap();
        assert!(
            was_kicked(&first),
            "the silent client gave way to the newcomer"
        );
        assert!(first.kick_stands());
        assert!(!third.kick_stands());
    }

    #[test]
    fn at_the_client_limit_an_idle_client_gives_way_an_active_one_does_not() {
        let a = admission(8, 2);
        let t0 = a.epoch;
        let idle = a.arrive(1);
        let busy = a.arrive(2);
        idle.attach(t0).unwrap();
        busy.attach(t0).unwrap();
        idle.seen(t0);
        busy.seen(t0 + Duration::from_secs(5));
        let newcomer = a.arrive(3);
        // Within the window of the idle one's last frame: nobody gives way.
        assert_eq!(newcomer.attach(t0 + Duration::from_millis(500)), Err(Full));
        assert!(!was_kicked(&idle));
        assert_eq!(newcomer.attach(t0 + Duration::from_secs(5)), Ok(()));
        assert!(was_kicked(&idle) && !was_kicked(&busy));
        newcomer.seen(t0 + Duration::from_secs(5));
        // The evicted one's slot went to the newcomer; leaving twice frees nothing else.
        drop(idle);
        let late = a.arrive(4);
        assert_eq!(late.attach(t0 + Duration::from_secs(5)), Err(Full));
        drop(newcomer);
        assert_eq!(late.attach(t0 + Duration::from_secs(5)), Ok(()));
    }
}
