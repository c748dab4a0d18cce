//! The side effects of a session's events: the client slot, the store, the health model,
//! the exporter's own metrics and its rate-limited log. The session decides; this module
//! only carries its events out and reports the verdicts of shared state back to it.

use std::sync::Arc;

use tracing::{info, warn};

use super::admission::{ACTIVE_WITHIN, Ticket};
use super::session::{Event, Handles, Session, Sink, Warning};
use crate::abuse_log::{Abuse, AbuseLog};
use crate::health::HealthModel;
use crate::metrics::{
    ClientGuard, ConnectionResult, ExporterMetrics, IgnoredUpdate, ProtocolError, SeriesRejection,
};
use crate::store::{
    BatchWriter, DefineError, FamilyId, SampleError, SeriesError, SeriesId, SourceId, SourceKey,
    Store,
};
use dawn_proto::ValueRef;

/// What every connection's events are applied to.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) health: Arc<HealthModel>,
    pub(crate) metrics: Arc<ExporterMetrics>,
    /// Warnings about clients, rate-limited per reason.
    pub(crate) log: Arc<AbuseLog>,
}

/// The store's handles, as a session keeps them.
#[derive(Debug, PartialEq)]
pub(crate) enum StoreHandles {}

impl Handles for StoreHandles {
    type Family = FamilyId;
    type Series = SeriesId;
}

/// A batch goes straight into the store as the session checks it.
impl Sink<StoreHandles> for BatchWriter<'_> {
    #[inline(always)]
    fn update(&mut self, series: SeriesId, value: &ValueRef<'_>, wire_id: u32) {
        BatchWriter::update(self, series, value, wire_id);
    }
}

/// Counts the valid updates of a batch that is not stored (its source restarted since).
struct Count(u64);

impl Sink<StoreHandles> for Count {
    fn update(&mut self, _: SeriesId, _: &ValueRef<'_>, _: u32) {
        self.0 += 1;
    }
}

/// An attached client, from `Attach` to `Detach`.
struct Attachment {
    source: SourceId,
    key: SourceKey,
    pid: u32,
    incarnation: u64,
    /// Counts the client in `dawn_exporter_clients` while attached.
    _client: ClientGuard,
}

/// Applies the events of one connection's session.
pub(crate) struct Applier {
    shared: Arc<Shared>,
    conn: u64,
    /// The connection's place on the socket.
    ticket: Ticket,
    attached: Option<Attachment>,
}

impl Applier {
    /// The applier of connection number `conn`, which holds `ticket`.
    pub(crate) fn new(shared: Arc<Shared>, conn: u64, ticket: Ticket) -> Self {
        Applier {
            shared,
            conn,
            ticket,
            attached: None,
        }
    }

    /// Whether the admission's notice to give way still stands ([`Ticket::kick_stands`]).
    pub(crate) fn kick_stands(&self) -> bool {
        self.ticket.kick_stands()
    }

    /// Applies every event `session` has ready, answering the store's verdicts back.
    pub(crate) fn drain(&mut self, session: &mut Session<StoreHandles>) {
        while let Some(event) = session.poll() {
            self.apply(event, session);
        }
    }

    fn apply(&mut self, event: Event<StoreHandles>, session: &mut Session<StoreHandles>) {
        let Shared {
            store,
            health,
            metrics,
            log,
        } = &*self.shared;
        let conn = self.conn;
        match event {
            Event::Received { kind } => metrics.frame(kind),
            Event::Attach {
                hello,
                version,
                now,
            } => {
                if self.ticket.attach(now).is_err() {
                    let max = self.ticket.limits().max_clients;
                    session.refuse_over_limit(max, ACTIVE_WITHIN);
                    return;
                }
                session.admitted();
                let key = SourceKey::new(&hello.client_name, &hello.node_id);
                let attached = store.attach(&key, hello.incarnation);
                health.connect(conn, &hello, now);
                metrics.connection(ConnectionResult::Accepted);
                info!(
                    conn,
                    client = %key,
                    pid = hello.pid,
                    client_version = %hello.client_version,
                    protocol = version,
                    incarnation = hello.incarnation,
                    new_incarnation = attached.reset,
                    "client connected"
                );
                self.attached = Some(Attachment {
                    source: attached.source,
                    key,
                    pid: hello.pid,
                    incarnation: hello.incarnation,
                    _client: metrics.client_connected(),
                });
            }
            Event::Rejected => metrics.connection(ConnectionResult::Rejected),
            Event::Seen { now } => {
                self.ticket.seen(now);
                health.seen(conn, now);
            }
            Event::Define { id, def } => match store.define(&def) {
                Ok(family) => session.define_held(id, family),
                Err(e) => {
                    let reason = match e {
                        DefineError::Conflict { .. } | DefineError::Collision { .. } => {
                            ProtocolError::ConflictingDefinition
                        }
                        DefineError::Reserved { .. } => ProtocolError::ReservedName,
                        DefineError::MaxDefinitionBytes { .. } => ProtocolError::MaxDefinitionBytes,
                    };
                    session.define_refused(id, reason, &e);
                }
            },
            Event::Series {
                id,
                family,
                label_values,
            } => match store.series(family, &label_values) {
                Ok(series) => session.series_held(id, series),
                Err(e) => {
                    let reason = match e {
                        SeriesError::TooManySeries { .. } => SeriesRejection::MaxSeries,
                        SeriesError::MetricAtCap { .. } => SeriesRejection::MaxSeriesPerMetric,
                        SeriesError::DefinitionBudgetSpent { .. } => {
                            SeriesRejection::MaxDefinitionBytes
                        }
                    };
                    session.series_refused(id, reason, &e);
                }
            },
            Event::SeriesRejected(reason) => metrics.rejected_series(reason),
            Event::Apply => {
                // The session emits Apply, Heartbeat and Retire only after Attach.
                let Some(a) = &self.attached else { return };
                // The batch is checked and stored under one lock, in one pass.
                let Some(mut writer) = store.writer(a.source, a.incarnation) else {
                    let mut stale = Count(0);
                    session.store_batch(&mut stale);
                    if stale.0 > 0 {
                        metrics.ignored_updates(IgnoredUpdate::StaleIncarnation, stale.0);
                    }
                    return;
                };
                session.store_batch(&mut writer);
                let outcome = writer.finish();
                metrics.records(outcome.applied);
                for tag in outcome.decreased {
                    session.counter_decreased(tag);
                }
                for (tag, e) in outcome.refused {
                    let reason = match e {
                        SampleError::MaxSamples { .. } => IgnoredUpdate::MaxSamples,
                        SampleError::MaxSamplesPerSource { .. } => {
                            IgnoredUpdate::MaxSamplesPerSource
                        }
                        SampleError::NativeBucketBudget { .. } => IgnoredUpdate::MaxNativeBuckets,
                    };
                    session.sample_refused(tag, reason, e);
                }
            }
            Event::IgnoredUpdates { reason, n } => metrics.ignored_updates(reason, n),
            Event::Health(report) => health.report(conn, report),
            Event::HealthLimited(reason) => metrics.health_limited(reason),
            Event::Ready(ready) => health.set_ready(conn, ready),
            Event::Heartbeat { dropped } => {
                let Some(a) = &self.attached else { return };
                let increase = store.report_dropped(a.source, dropped);
                if increase > 0 {
                    metrics.client_dropped_records(increase);
                }
            }
            Event::Retire { series } => {
                let Some(a) = &self.attached else { return };
                store.retire(a.source, series);
                store.release_series(series);
            }
            Event::ProtocolError(reason) => metrics.protocol_error(reason),
            Event::Evicted(reason) => metrics.evicted(reason),
            Event::Warn(Warning { reason, message }) => {
                log.event(Abuse::Client(reason), || {
                    warn!(
                        conn,
                        reason, "{message}; more of this reason are counted and summarised"
                    );
                });
            }
            Event::Detach {
                end,
                families,
                series,
                now,
            } => {
                // The slot first, so that `dawn_exporter_clients` below the limit always
                // means a slot is free.
                self.ticket.leave();
                for s in series {
                    store.release_series(s);
                }
                for f in families {
                    store.release_family(f);
                }
                let Some(a) = self.attached.take() else {
                    return;
                };
                for key in store.detach(a.source, now) {
                    info!(client = %key, "dropped the values of a departed node early: more than the most departed sources kept");
                }
                health.disconnect(conn, now);
                let detail = end.detail();
                info!(
                    conn,
                    client = %a.key,
                    pid = a.pid,
                    reason = end.label(),
                    "client disconnected{}{detail}",
                    if detail.is_empty() { "" } else { ": " }
                );
            }
        }
    }
}
