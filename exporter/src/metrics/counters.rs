//! The exporter's own counters, kept in atomics so that the ingest path pays one relaxed
//! add per event; the OpenTelemetry instruments in [`super::otel`] read them at scrape time.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use dawn_proto::Frame;

use super::reason::{
    ClientRefusal, ConnectionResult, Eviction, HealthLimit, HttpClose, IgnoredUpdate,
    ProtocolError, SeriesRejection,
};

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

/// Counters and gauges of the exporter's own work, shared by every connection.
#[derive(Debug)]
pub struct ExporterMetrics {
    clients: AtomicU64,
    connections: [AtomicU64; ConnectionResult::ALL.len()],
    frames: [AtomicU64; Frame::KIND_NAMES.len()],
    records: AtomicU64,
    protocol_errors: [AtomicU64; ProtocolError::ALL.len()],
    rejected_series: [AtomicU64; SeriesRejection::ALL.len()],
    ignored_updates: [AtomicU64; IgnoredUpdate::ALL.len()],
    client_dropped_records: AtomicU64,
    refused_clients: [AtomicU64; ClientRefusal::ALL.len()],
    http_connections: AtomicU64,
    web_config_reload_ok: AtomicBool,
    http_closed: [AtomicU64; HttpClose::ALL.len()],
    health_limited: [AtomicU64; HealthLimit::ALL.len()],
    evicted: [AtomicU64; Eviction::ALL.len()],
}

impl Default for ExporterMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ExporterMetrics {
    /// All zero.
    pub fn new() -> Self {
        ExporterMetrics {
            clients: AtomicU64::new(0),
            connections: zeros(),
            frames: zeros(),
            records: AtomicU64::new(0),
            protocol_errors: zeros(),
            rejected_series: zeros(),
            ignored_updates: zeros(),
            client_dropped_records: AtomicU64::new(0),
            refused_clients: zeros(),
            http_connections: AtomicU64::new(0),
            // Start-up stops on a web config file that does not load: true until a reload fails.
            web_config_reload_ok: AtomicBool::new(true),
            http_closed: zeros(),
            health_limited: zeros(),
            evicted: zeros(),
        }
    }

    /// Counts a connection that entered a session (`Accepted`) or was turned away.
    pub fn connection(&self, result: ConnectionResult) {
        self.connections[result.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections with this outcome so far.
    pub fn connections(&self, result: ConnectionResult) -> u64 {
        self.connections[result.index()].load(Ordering::Relaxed)
    }

    /// Marks a client as connected until the returned guard is dropped.
    pub fn client_connected(self: &Arc<Self>) -> ClientGuard {
        self.clients.fetch_add(1, Ordering::Relaxed);
        ClientGuard {
            metrics: Arc::clone(self),
        }
    }

    /// Clients connected now.
    pub fn clients(&self) -> u64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Counts one received frame of the kind at `kind` in `Frame::KIND_NAMES`.
    pub fn frame(&self, kind: usize) {
        if let Some(c) = self.frames.get(kind) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Frames received of the kind named `kind` (see `Frame::kind_name`).
    pub fn frames(&self, kind: &str) -> u64 {
        Frame::KIND_NAMES
            .iter()
            .position(|k| *k == kind)
            .map_or(0, |i| self.frames[i].load(Ordering::Relaxed))
    }

    pub(crate) fn frames_by_index(&self, i: usize) -> u64 {
        self.frames.get(i).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Counts `n` updates applied to the store.
    pub fn records(&self, n: u64) {
        self.records.fetch_add(n, Ordering::Relaxed);
    }

    /// Updates applied so far.
    pub fn records_applied(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Counts one protocol error.
    pub fn protocol_error(&self, reason: ProtocolError) {
        self.protocol_errors[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Protocol errors with this reason so far.
    pub fn protocol_errors(&self, reason: ProtocolError) -> u64 {
        self.protocol_errors[reason.index()].load(Ordering::Relaxed)
    }

    /// Counts one series refused by the store or the validator.
    pub fn rejected_series(&self, reason: SeriesRejection) {
        self.rejected_series[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Series refused with this reason so far.
    pub fn rejected_series_count(&self, reason: SeriesRejection) -> u64 {
        self.rejected_series[reason.index()].load(Ordering::Relaxed)
    }

    /// Counts `n` updates dropped for this reason.
    pub fn ignored_updates(&self, reason: IgnoredUpdate, n: u64) {
        self.ignored_updates[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    /// Updates dropped with this reason so far.
    pub fn ignored_updates_count(&self, reason: IgnoredUpdate) -> u64 {
        self.ignored_updates[reason.index()].load(Ordering::Relaxed)
    }

    /// Adds records a client reports it dropped (an increase of `Heartbeat::dropped`).
    pub fn client_dropped_records(&self, n: u64) {
        self.client_dropped_records.fetch_add(n, Ordering::Relaxed);
    }

    /// Records clients reported dropped so far.
    pub fn client_dropped_records_total(&self) -> u64 {
        self.client_dropped_records.load(Ordering::Relaxed)
    }

    /// Counts a telemetry client turned away before its session began.
    pub fn refused_client(&self, reason: ClientRefusal) {
        self.refused_clients[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Telemetry clients refused with this reason so far.
    pub fn refused_clients(&self, reason: ClientRefusal) -> u64 {
        self.refused_clients[reason.index()].load(Ordering::Relaxed)
    }

    /// Sets the number of HTTP connections open now.
    pub fn set_http_connections(&self, open: u64) {
        self.http_connections.store(open, Ordering::Relaxed);
    }

    /// HTTP connections open now.
    pub fn http_connections(&self) -> u64 {
        self.http_connections.load(Ordering::Relaxed)
    }

    /// Records whether the latest attempt to reload the web config file succeeded.
    pub fn web_config_reload(&self, ok: bool) {
        self.web_config_reload_ok.store(ok, Ordering::Relaxed);
    }

    /// Whether the latest reload of the web config file succeeded (true before any).
    pub fn web_config_last_reload_successful(&self) -> bool {
        self.web_config_reload_ok.load(Ordering::Relaxed)
    }

    /// Counts an HTTP connection the server closed on its own.
    pub fn http_closed(&self, reason: HttpClose) {
        self.http_closed[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// HTTP connections closed with this reason so far.
    pub fn http_closed_count(&self, reason: HttpClose) -> u64 {
        self.http_closed[reason.index()].load(Ordering::Relaxed)
    }

    /// Counts a health check report dropped or cut at a limit.
    pub fn health_limited(&self, reason: HealthLimit) {
        self.health_limited[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Health check reports dropped or cut with this reason so far.
    pub fn health_limited_count(&self, reason: HealthLimit) -> u64 {
        self.health_limited[reason.index()].load(Ordering::Relaxed)
    }

    /// Counts a telemetry connection closed to make room for a newer one.
    pub fn evicted(&self, reason: Eviction) {
        self.evicted[reason.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Telemetry connections evicted with this reason so far.
    pub fn evicted_count(&self, reason: Eviction) -> u64 {
        self.evicted[reason.index()].load(Ordering::Relaxed)
    }
}

/// Keeps a client counted in `dawn_exporter_clients` while alive.
#[derive(Debug)]
pub struct ClientGuard {
    metrics: Arc<ExporterMetrics>,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.metrics.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_counted_by_proto_kind() {
        let m = ExporterMetrics::new();
        m.frame(Frame::Goodbye.kind_index());
        m.frame(Frame::Ready(true).kind_index());
        m.frame(Frame::Ready(false).kind_index());
        assert_eq!(m.frames("goodbye"), 1);
        assert_eq!(m.frames("ready"), 2);
        assert_eq!(m.frames("hello"), 0);
        assert_eq!(m.frames("no such kind"), 0);
    }

    #[test]
    fn client_gauge_follows_guards() {
        let m = Arc::new(ExporterMetrics::new());
        let a = m.client_connected();
        let b = m.client_connected();
        assert_eq!(m.clients(), 2);
        drop(a);
        assert_eq!(m.clients(), 1);
        drop(b);
        assert_eq!(m.clients(), 0);
    }
}
