//! Who gets a place on the telemetry socket, so that slow or silent connections cannot keep
//! a real node out (docs/exporter.md, "Admission"):
//!
//! - a connection that has not completed its handshake is *pending*. Pending connections
//!   have their own limit (`--ingest.max-pending`) and take no client slot; at that limit the
//!   oldest pending connection gives way to the one just accepted, so a newcomer always has
//!   its handshake timeout to say `Hello`, however many silent connections there are;
//! - a client whose `Hello` was accepted takes a slot (`--ingest.max-clients`); at that limit
//!   the attached client that has gone longest without a whole frame gives way, if that
//!   frame is older than [`ACTIVE_WITHIN`] (a trickling or silent client, since every real
//!   client sends a heartbeat each flush); when every client is active, the newcomer is
//!   refused (`client_limit`).
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

    fn nanos(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(u64::MAX)
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

/// The clients' last whole frames as (connection, time); the one to give way to a
/// newcomer at `now`: the oldest frame (the oldest connection among equals), if it is at
/// least `active_within` old.
fn victim(
    clients: impl IntoIterator<Item = (u64, Instant)>,
    now: Instant,
    active_within: Duration,
) -> Option<u64> {
    let (conn, last) = clients
        .into_iter()
        .min_by_key(|&(conn, last)| (last, conn))?;
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
            let epoch = admission.epoch;
            let frames = table.clients.iter().map(|(conn, m)| {
                let nanos = m.last_frame.load(Ordering::Relaxed);
                (*conn, epoch + Duration::from_nanos(nanos))
            });
            let Some(victim) = victim(frames, now, ACTIVE_WITHIN) else {
                return Err(Full);
            };
            if let Some(gone) = table.clients.remove(&victim) {
                gone.kick.notify_one();
            }
        }
        self.last_frame
            .store(admission.nanos(now), Ordering::Relaxed);
        table.clients.insert(
            self.conn,
            Member {
                kick: Arc::clone(&self.kick),
                last_frame: Arc::clone(&self.last_frame),
            },
        );
        Ok(())
    }

    /// A whole frame arrived at `now`.
    pub(crate) fn seen(&self, now: Instant) {
        let nanos = self.admission.nanos(now);
        self.last_frame.store(nanos, Ordering::Relaxed);
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
    fn the_victim_is_the_longest_idle_client_past_the_activity_window() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let clients = [(3, t0 + s(5)), (1, t0 + s(2)), (2, t0 + s(2))];
        assert_eq!(victim(clients, t0 + s(10), s(1)), Some(1));
        assert_eq!(victim(clients, t0 + s(2), s(1)), None, "all active");
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
    fn at_the_client_limit_an_idle_client_gives_way_an_active_one_does_not() {
        let a = admission(8, 2);
        let t0 = a.epoch;
        let idle = a.arrive(1);
        let busy = a.arrive(2);
        idle.attach(t0).unwrap();
        busy.attach(t0).unwrap();
        busy.seen(t0 + Duration::from_secs(5));
        let newcomer = a.arrive(3);
        // Within the window of the idle one's last frame: nobody gives way.
        assert_eq!(newcomer.attach(t0 + Duration::from_millis(500)), Err(Full));
        assert!(!was_kicked(&idle));
        assert_eq!(newcomer.attach(t0 + Duration::from_secs(5)), Ok(()));
        assert!(was_kicked(&idle) && !was_kicked(&busy));
        // The evicted one's slot went to the newcomer; leaving twice frees nothing else.
        drop(idle);
        let late = a.arrive(4);
        assert_eq!(late.attach(t0 + Duration::from_secs(5)), Err(Full));
        drop(newcomer);
        assert_eq!(late.attach(t0 + Duration::from_secs(5)), Ok(()));
    }
}
