//! What a session asks the rest of the exporter to do, in the order it must happen: the
//! typed value between the session, which decides, and the ingest applier
//! (`ingest/apply.rs`), which touches the store, the health model and the exporter's own
//! metrics.

use std::sync::Arc;
use std::time::Instant;

use dawn_proto::{Define, Health, Hello};

use super::End;
use super::tables::Handles;
use crate::metrics::{Eviction, HealthLimit, IgnoredUpdate, ProtocolError, SeriesRejection};

/// A line the exporter logs at warn about one client, rate-limited by its `reason` (one of
/// the reason enums' labels): the first of a reason in full, then a count per interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    /// The label of the reason, e.g. `unknown_id`.
    pub(crate) reason: &'static str,
    /// The whole line.
    pub(crate) message: String,
}

/// One thing that happened on a connection, for the applier.
///
/// `Attach`, `Define` and `Series` ask for a verdict: the applier answers with
/// [`super::Session::admitted`] / [`super::Session::refuse_over_limit`],
/// [`super::Session::define_held`] / [`super::Session::define_refused`] (or the `series_`
/// pair) before it polls again. `Apply` is answered with
/// [`super::Session::counter_decreased`] or [`super::Session::sample_refused`] for every
/// update the store kept back.
#[derive(Debug, PartialEq)]
pub(crate) enum Event<H: Handles> {
    /// A frame of the kind at `kind` in `Frame::KIND_NAMES` arrived
    /// (`dawn_exporter_frames_total`).
    Received { kind: usize },
    /// A valid `Hello` arrived at `now`: take a client slot (answer `admitted`, or
    /// `refuse_over_limit` when none can be had), then attach the client's source to the
    /// store and the health model and count an accepted connection.
    Attach {
        hello: Box<Hello>,
        version: u16,
        now: Instant,
    },
    /// The connection ended before a session began
    /// (`dawn_exporter_connections_total{result="rejected"}`).
    Rejected,
    /// A frame of the attached client arrived at `now`: it is alive.
    Seen { now: Instant },
    /// A valid definition for the store to admit; answer with `define_held` or
    /// `define_refused`.
    Define { id: u32, def: Arc<Define> },
    /// A valid series of a held family for the store to admit; answer with `series_held` or
    /// `series_refused`.
    Series {
        id: u32,
        family: H::Family,
        label_values: Vec<String>,
    },
    /// A series was refused (`dawn_exporter_rejected_series_total{reason}`).
    SeriesRejected(SeriesRejection),
    /// A batch of an attached client is ready: check and store it with
    /// [`super::Session::store_batch`], then report the store's verdicts.
    Apply,
    /// `n` updates were dropped without an error frame
    /// (`dawn_exporter_ignored_updates_total{reason}`).
    IgnoredUpdates { reason: IgnoredUpdate, n: u64 },
    /// A valid health check report, within the client's limits.
    Health(Health),
    /// A health check report was dropped or cut
    /// (`dawn_exporter_limited_health_checks_total{reason}`).
    HealthLimited(HealthLimit),
    /// The client's readiness.
    Ready(bool),
    /// The client's cumulative count of records it could not keep.
    Heartbeat { dropped: u64 },
    /// The client retired a series the connection held: the source's value goes, and so
    /// does the connection's hold.
    Retire { series: H::Series },
    /// The client broke the protocol (`dawn_exporter_decode_errors_total{reason}`).
    ProtocolError(ProtocolError),
    /// The connection gave way to a newer one (`dawn_exporter_evicted_clients_total{reason}`).
    Evicted(Eviction),
    /// A line to log at warn, rate-limited.
    Warn(Warning),
    /// The attached session closed at `now` for `end`: give back every hold and detach.
    Detach {
        end: End,
        families: Vec<H::Family>,
        series: Vec<H::Series>,
        now: Instant,
    },
}
