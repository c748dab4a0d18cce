//! One connection's protocol state machine, without I/O: frames and time in, reply frames
//! and a verdict out (like quinn-proto's `Connection`). [`super::connection`] moves the
//! bytes.

use std::sync::Arc;
use std::time::Instant;

use dawn_proto::{
    Batch, Define, ErrorReport, Frame, Health, Heartbeat, Hello, Reject, Retire, SeriesDef,
    Welcome, negotiate, supported_versions, validate_define, validate_health, validate_hello,
    validate_label_values, validate_value,
};
use tracing::{debug, info, warn};

use super::tables::{MetricSlot, SeriesSlot, Tables};
use crate::health::HealthModel;
use crate::metrics::{
    ClientGuard, ConnectionResult, ExporterMetrics, IgnoredUpdate, ProtocolError, SeriesRejection,
};
use crate::store::{DefineError, SeriesError, SeriesId, SourceId, SourceKey, Store};

/// Limits on what one connection may define.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionLimits {
    /// Most metric ids one connection may define.
    pub(crate) max_metric_ids: usize,
    /// Most series ids one connection may hold (admitted or refused).
    pub(crate) max_series_ids: usize,
    /// Error frames sent per connection before further problems are only counted.
    pub(crate) max_error_frames: u32,
}

/// What every session shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) health: Arc<HealthModel>,
    pub(crate) metrics: Arc<ExporterMetrics>,
    pub(crate) limits: SessionLimits,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The client said `Goodbye`.
    Goodbye,
    /// The client closed the connection.
    Eof,
    /// The exporter is shutting down.
    Shutdown,
    /// Reading or writing failed.
    Io(String),
    /// The client broke the protocol; a `Reject` was queued unless it cannot be delivered.
    Protocol {
        reason: ProtocolError,
        message: String,
    },
}

impl End {
    fn label(&self) -> &'static str {
        match self {
            End::Goodbye => "goodbye",
            End::Eof => "eof",
            End::Shutdown => "shutdown",
            End::Io(_) => "io_error",
            End::Protocol { reason, .. } => reason.as_str(),
        }
    }
}

struct Active {
    key: SourceKey,
    source: SourceId,
    incarnation: u64,
    pid: u32,
    tables: Tables,
    _client: ClientGuard,
}

enum State {
    Handshake,
    Active(Box<Active>),
    Closed,
}

/// Counts problems and turns them into `Error`/`Reject` frames.
struct Reporter {
    shared: Arc<Shared>,
    conn: u64,
    errors_sent: u32,
}

impl Reporter {
    /// A non-fatal problem: counted, answered with an `Error` frame (up to the cap).
    fn error(&mut self, reason: ProtocolError, message: String, out: &mut Vec<Frame>) {
        self.shared.metrics.protocol_error(reason);
        self.error_frame(reason.as_str(), message, out);
    }

    fn error_frame(&mut self, reason: &'static str, message: String, out: &mut Vec<Frame>) {
        let cap = self.shared.limits.max_error_frames;
        if self.errors_sent < cap {
            warn!(conn = self.conn, reason, "{message}");
            out.push(Frame::Error(ErrorReport {
                reason: reason.to_owned(),
                message,
            }));
        } else {
            debug!(conn = self.conn, reason, "{message}");
        }
        self.errors_sent = self.errors_sent.saturating_add(1);
        if self.errors_sent == cap {
            warn!(
                conn = self.conn,
                "{cap} error frames sent on this connection; further problems are only counted"
            );
        }
    }

    /// A fatal problem: counted, answered with a `Reject`, ends the session.
    fn fatal(&mut self, reason: ProtocolError, message: String, out: &mut Vec<Frame>) -> End {
        self.shared.metrics.protocol_error(reason);
        if reason != ProtocolError::WriteTimeout {
            out.push(Frame::Reject(Reject {
                reason: format!("{reason}: {message}"),
            }));
        }
        End::Protocol { reason, message }
    }
}

/// The protocol state of one connection.
pub(crate) struct Session {
    rep: Reporter,
    state: State,
    /// (series, index into the batch) of the valid updates of the batch at hand.
    scratch: Vec<(SeriesId, usize)>,
}

impl Session {
    /// A session for connection number `conn`, waiting for `Hello`.
    pub(crate) fn new(shared: Arc<Shared>, conn: u64) -> Self {
        Session {
            rep: Reporter {
                shared,
                conn,
                errors_sent: 0,
            },
            state: State::Handshake,
            scratch: Vec::new(),
        }
    }

    /// Whether the handshake is still pending.
    pub(crate) fn in_handshake(&self) -> bool {
        matches!(self.state, State::Handshake)
    }

    /// Handles one frame from the client; replies are appended to `out`. `Some` ends the
    /// session (after `out` is sent).
    pub(crate) fn on_frame(
        &mut self,
        frame: Frame,
        now: Instant,
        out: &mut Vec<Frame>,
    ) -> Option<End> {
        let shared = Arc::clone(&self.rep.shared);
        shared.metrics.frame(&frame);
        match &mut self.state {
            State::Closed => Some(End::Eof),
            State::Handshake => match frame {
                Frame::Hello(hello) => self.on_hello(hello, now, out),
                other => {
                    let message =
                        format!("the first frame must be Hello, got {}", other.kind_name());
                    Some(self.reject(ProtocolError::UnexpectedFrame, message, out))
                }
            },
            State::Active(active) => {
                shared.health.seen(self.rep.conn, now);
                let rep = &mut self.rep;
                match frame {
                    Frame::Define(def) => on_define(active, rep, def, out),
                    Frame::Series(series) => on_series(active, rep, series, out),
                    Frame::Batch(batch) => {
                        on_batch(active, rep, &mut self.scratch, &batch, out);
                        None
                    }
                    Frame::Health(health) => {
                        on_health(rep, health, out);
                        None
                    }
                    Frame::Ready(ready) => {
                        shared.health.set_ready(rep.conn, ready);
                        None
                    }
                    Frame::Heartbeat(hb) => {
                        on_heartbeat(active, &shared, hb);
                        None
                    }
                    Frame::Retire(retire) => {
                        on_retire(active, rep, retire, out);
                        None
                    }
                    Frame::Goodbye => Some(End::Goodbye),
                    other @ (Frame::Hello(_)
                    | Frame::Welcome(_)
                    | Frame::Reject(_)
                    | Frame::Error(_)) => {
                        let message = format!(
                            "a client does not send {} after the handshake; ignored",
                            other.kind_name()
                        );
                        rep.error(ProtocolError::UnexpectedFrame, message, out);
                        None
                    }
                }
            }
        }
    }

    /// A fatal problem found by the I/O side (a decode error, a timeout): counted, a
    /// `Reject` queued when it can still be delivered.
    pub(crate) fn fail(
        &mut self,
        reason: ProtocolError,
        message: String,
        out: &mut Vec<Frame>,
    ) -> End {
        if self.in_handshake() {
            self.reject(reason, message, out)
        } else {
            self.rep.fatal(reason, message, out)
        }
    }

    fn reject(&mut self, reason: ProtocolError, message: String, out: &mut Vec<Frame>) -> End {
        self.rep
            .shared
            .metrics
            .connection(ConnectionResult::Rejected);
        warn!(
            conn = self.rep.conn,
            reason = reason.as_str(),
            "client rejected: {message}"
        );
        let end = self.rep.fatal(reason, message, out);
        self.state = State::Closed;
        end
    }

    fn on_hello(&mut self, hello: Hello, now: Instant, out: &mut Vec<Frame>) -> Option<End> {
        let version = match negotiate(&hello, supported_versions()) {
            Ok(v) => v,
            Err(e) => return Some(self.reject((&e).into(), e.to_string(), out)),
        };
        if let Err(e) = validate_hello(&hello) {
            return Some(self.reject((&e).into(), e.to_string(), out));
        }
        let shared = Arc::clone(&self.rep.shared);
        let key = SourceKey::new(&hello.client_name, &hello.node_id);
        let attached = shared.store.attach(&key, hello.incarnation);
        shared.health.connect(self.rep.conn, &hello, now);
        shared.metrics.connection(ConnectionResult::Accepted);
        info!(
            conn = self.rep.conn,
            client = %key,
            pid = hello.pid,
            client_version = %hello.client_version,
            protocol = version,
            incarnation = hello.incarnation,
            new_incarnation = attached.reset,
            "client connected"
        );
        out.push(Frame::Welcome(Welcome {
            version,
            server: format!("dawn-exporter {}", env!("CARGO_PKG_VERSION")),
        }));
        self.state = State::Active(Box::new(Active {
            key,
            source: attached.source,
            incarnation: hello.incarnation,
            pid: hello.pid,
            tables: Tables::default(),
            _client: shared.metrics.client_connected(),
        }));
        None
    }

    /// Ends the session: gives back the store holds and marks the client gone. Idempotent.
    pub(crate) fn close(&mut self, end: &End, now: Instant) {
        let shared = Arc::clone(&self.rep.shared);
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Active(mut active) => {
                active.tables.release(&shared.store);
                shared.store.detach(active.source, now);
                shared.health.disconnect(self.rep.conn, now);
                let detail = match end {
                    End::Protocol { message, .. } | End::Io(message) => message.as_str(),
                    _ => "",
                };
                info!(
                    conn = self.rep.conn,
                    client = %active.key,
                    pid = active.pid,
                    reason = end.label(),
                    "client disconnected{}{detail}",
                    if detail.is_empty() { "" } else { ": " }
                );
            }
            State::Handshake => {
                // Gone before saying Hello; protocol errors were counted by `reject`.
                shared.metrics.connection(ConnectionResult::Rejected);
                debug!(
                    conn = self.rep.conn,
                    reason = end.label(),
                    "connection closed before Hello"
                );
            }
            State::Closed => {}
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close(&End::Io("connection task ended".into()), Instant::now());
    }
}

fn on_define(
    active: &mut Active,
    rep: &mut Reporter,
    def: Define,
    out: &mut Vec<Frame>,
) -> Option<End> {
    if let Some(existing) = active.tables.metrics.get(&def.id) {
        if existing.def() != &def {
            let message = format!(
                "metric id {} is already defined as {} on this connection; the new definition ({}) is ignored",
                def.id,
                existing.def().name,
                def.name
            );
            rep.error(ProtocolError::DuplicateId, message, out);
        }
        return None;
    }
    let max = rep.shared.limits.max_metric_ids;
    if active.tables.metrics.len() >= max {
        let message = format!("more than {max} metric definitions on one connection");
        return Some(rep.fatal(ProtocolError::Flood, message, out));
    }
    let def = Arc::new(def);
    let slot = match validate_define(&def) {
        Err(e) => {
            rep.error((&e).into(), e.to_string(), out);
            MetricSlot::Refused { def }
        }
        Ok(()) => match rep.shared.store.define(&def) {
            Ok(family) => MetricSlot::Held { def, family },
            Err(e) => {
                let reason = match e {
                    DefineError::Conflict { .. } | DefineError::Collision { .. } => {
                        ProtocolError::ConflictingDefinition
                    }
                    DefineError::Reserved { .. } => ProtocolError::ReservedName,
                };
                rep.error(reason, format!("{e}; its series are ignored"), out);
                MetricSlot::Refused { def }
            }
        },
    };
    active.tables.metrics.insert(slot.def().id, slot);
    None
}

fn on_series(
    active: &mut Active,
    rep: &mut Reporter,
    def: SeriesDef,
    out: &mut Vec<Frame>,
) -> Option<End> {
    if let Some(existing) = active.tables.series.get(&def.id) {
        if existing.def() != &def {
            let message = format!(
                "series id {} is already defined as {} on this connection; the new definition is ignored",
                def.id,
                active.tables.describe_series(def.id)
            );
            rep.error(ProtocolError::DuplicateId, message, out);
        }
        return None;
    }
    let max = rep.shared.limits.max_series_ids;
    if active.tables.series.len() >= max {
        let message = format!("more than {max} series definitions on one connection");
        return Some(rep.fatal(ProtocolError::Flood, message, out));
    }
    let metrics = &rep.shared.metrics;
    let slot = match active.tables.metrics.get(&def.metric) {
        None => {
            let message = format!(
                "series id {} refers to metric id {}, which this connection never defined",
                def.id, def.metric
            );
            metrics.rejected_series(SeriesRejection::RefusedMetric);
            rep.error(ProtocolError::UnknownId, message, out);
            SeriesSlot::Refused { def }
        }
        Some(MetricSlot::Refused { .. }) => {
            metrics.rejected_series(SeriesRejection::RefusedMetric);
            SeriesSlot::Refused { def }
        }
        Some(MetricSlot::Held {
            def: metric,
            family,
        }) => {
            if let Err(e) = validate_label_values(metric, &def) {
                metrics.rejected_series(SeriesRejection::InvalidLabels);
                rep.error((&e).into(), e.to_string(), out);
                SeriesSlot::Refused { def }
            } else {
                match rep.shared.store.series(*family, &def.label_values) {
                    Ok(series) => SeriesSlot::Held {
                        def,
                        series,
                        metric: Arc::clone(metric),
                    },
                    Err(e) => {
                        let reason = match e {
                            SeriesError::MaxSeries { .. } => SeriesRejection::MaxSeries,
                            SeriesError::MaxSeriesPerMetric { .. } => {
                                SeriesRejection::MaxSeriesPerMetric
                            }
                        };
                        metrics.rejected_series(reason);
                        rep.error_frame(reason.as_str(), e.to_string(), out);
                        SeriesSlot::Refused { def }
                    }
                }
            }
        }
    };
    active.tables.series.insert(slot.def().id, slot);
    None
}

fn on_batch(
    active: &mut Active,
    rep: &mut Reporter,
    scratch: &mut Vec<(SeriesId, usize)>,
    batch: &Batch,
    out: &mut Vec<Frame>,
) {
    scratch.clear();
    let mut refused = 0u64;
    for (i, update) in batch.updates.iter().enumerate() {
        match active.tables.series.get(&update.series) {
            None => {
                let message = format!(
                    "update for series id {}, which this connection never defined",
                    update.series
                );
                rep.error(ProtocolError::UnknownId, message, out);
            }
            Some(SeriesSlot::Refused { .. }) => refused += 1,
            Some(SeriesSlot::Held { series, metric, .. }) => {
                match validate_value(metric, &update.value) {
                    Ok(()) => scratch.push((*series, i)),
                    Err(e) => {
                        let message = format!(
                            "{e} (series {}); update ignored",
                            active.tables.describe_series(update.series)
                        );
                        rep.error((&e).into(), message, out);
                    }
                }
            }
        }
    }
    let metrics = &rep.shared.metrics;
    if refused > 0 {
        metrics.ignored_updates(IgnoredUpdate::RefusedSeries, refused);
    }
    if scratch.is_empty() {
        return;
    }
    let updates = &batch.updates;
    let outcome = rep.shared.store.apply(
        active.source,
        active.incarnation,
        scratch
            .iter()
            .filter_map(|&(series, i)| updates.get(i).map(|u| (series, &u.value, u.series))),
    );
    metrics.records(outcome.applied);
    if outcome.stale_incarnation {
        metrics.ignored_updates(IgnoredUpdate::StaleIncarnation, scratch.len() as u64);
    }
    for id in outcome.decreased {
        let message = format!(
            "{} went backwards within incarnation {}; the previous total is kept",
            active.tables.describe_series(id),
            active.incarnation
        );
        rep.error(ProtocolError::CounterDecrease, message, out);
    }
}

fn on_health(rep: &mut Reporter, health: Health, out: &mut Vec<Frame>) {
    match validate_health(&health) {
        Ok(()) => rep.shared.health.report(rep.conn, health),
        Err(e) => rep.error((&e).into(), format!("{e}; health report ignored"), out),
    }
}

fn on_heartbeat(active: &Active, shared: &Shared, hb: Heartbeat) {
    let increase = shared.store.report_dropped(active.source, hb.dropped);
    if increase > 0 {
        shared.metrics.client_dropped_records(increase);
    }
}

fn on_retire(active: &mut Active, rep: &mut Reporter, retire: Retire, out: &mut Vec<Frame>) {
    for id in retire.series {
        match active.tables.series.remove(&id) {
            Some(SeriesSlot::Held { series, .. }) => {
                rep.shared.store.retire(active.source, series);
                rep.shared.store.release_series(series);
            }
            Some(SeriesSlot::Refused { .. }) => {}
            None => {
                let message =
                    format!("retire of series id {id}, which this connection never defined");
                rep.error(ProtocolError::UnknownId, message, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! The session driven in memory, without a socket: frames and time in, replies out.

    use std::time::Duration;

    use dawn_proto::catalogue::P2P_CONNECTIONS_TOTAL;
    use dawn_proto::{Update, Value};

    use super::*;
    use crate::store::StoreLimits;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared {
            store: Arc::new(Store::new(StoreLimits::default())),
            health: Arc::new(HealthModel::new(Instant::now(), Duration::from_secs(30))),
            metrics: Arc::new(ExporterMetrics::new()),
            limits: SessionLimits {
                max_metric_ids: 2,
                max_series_ids: 10,
                max_error_frames: 1,
            },
        })
    }

    fn step(s: &mut Session, frame: Frame) -> (Vec<Frame>, Option<End>) {
        let mut out = Vec::new();
        let end = s.on_frame(frame, Instant::now(), &mut out);
        (out, end)
    }

    #[test]
    fn handshake_then_updates_then_goodbye() {
        let shared = shared();
        let mut s = Session::new(Arc::clone(&shared), 1);
        let (out, end) = step(&mut s, Frame::Hello(Hello::new("c", "1", "n", 1, 2, 1000)));
        assert!(matches!(
            out.as_slice(),
            [Frame::Welcome(Welcome { version: 1, .. })]
        ));
        assert_eq!(end, None);
        assert!(!s.in_handshake());
        assert_eq!(shared.metrics.clients(), 1);

        assert_eq!(
            step(&mut s, Frame::Define(P2P_CONNECTIONS_TOTAL.to_define(0))),
            (vec![], None)
        );
        let series = SeriesDef {
            id: 5,
            metric: 0,
            label_values: vec!["success".into()],
        };
        assert_eq!(step(&mut s, Frame::Series(series)), (vec![], None));
        let batch = Batch {
            seq: 1,
            updates: vec![Update {
                series: 5,
                value: Value::Counter(4),
            }],
        };
        assert_eq!(step(&mut s, Frame::Batch(batch)), (vec![], None));
        assert_eq!(shared.metrics.records_applied(), 1);
        assert_eq!(shared.store.series_count(), 1);

        assert_eq!(step(&mut s, Frame::Goodbye), (vec![], Some(End::Goodbye)));
        s.close(&End::Goodbye, Instant::now());
        assert_eq!(shared.metrics.clients(), 0);
        // The values stay for the source TTL although no connection holds the series.
        assert_eq!(shared.store.series_count(), 1);
    }

    #[test]
    fn error_frames_are_capped_but_errors_still_counted() {
        let shared = shared();
        let mut s = Session::new(Arc::clone(&shared), 1);
        step(&mut s, Frame::Hello(Hello::new("c", "1", "n", 1, 2, 1000)));
        let unknown = |id| {
            Frame::Batch(Batch {
                seq: 0,
                updates: vec![Update {
                    series: id,
                    value: Value::Counter(1),
                }],
            })
        };
        let (out, _) = step(&mut s, unknown(1));
        assert_eq!(out.len(), 1);
        let (out, _) = step(&mut s, unknown(2));
        assert!(out.is_empty(), "{out:?}");
        assert_eq!(shared.metrics.protocol_errors(ProtocolError::UnknownId), 2);
    }

    #[test]
    fn too_many_metric_ids_is_a_flood() {
        let shared = shared();
        let mut s = Session::new(Arc::clone(&shared), 1);
        step(&mut s, Frame::Hello(Hello::new("c", "1", "n", 1, 2, 1000)));
        for id in 0..2 {
            let def = dawn_proto::Define {
                id,
                name: format!("g{id}"),
                ..dawn_proto::catalogue::P2P_PEERS.to_define(id)
            };
            assert_eq!(step(&mut s, Frame::Define(def)).1, None);
        }
        let (out, end) = step(
            &mut s,
            Frame::Define(dawn_proto::catalogue::P2P_PEERS.to_define(9)),
        );
        assert!(matches!(out.as_slice(), [Frame::Reject(r)] if r.reason.starts_with("flood: ")));
        assert!(matches!(
            end,
            Some(End::Protocol {
                reason: ProtocolError::Flood,
                ..
            })
        ));
    }
}
