//! What a telemetry instance needs to know: where the exporter listens, who the node is, and
//! the timings and bounds of the shipper.

use std::path::PathBuf;
use std::time::Duration;

/// Default path of the exporter's socket.
pub const DEFAULT_SOCKET_PATH: &str = dawn_proto::DEFAULT_SOCKET_PATH;
/// Default flush interval.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(1000);
/// Default most labelled series kept per metric.
pub const DEFAULT_MAX_SERIES_PER_METRIC: usize = 1000;
/// Default time after which an untouched, unreferenced series is retired.
pub const DEFAULT_SERIES_TTL: Duration = Duration::from_secs(600);

/// Settings of a [`crate::Telemetry`] instance.
///
/// Build it with [`TelemetryConfig::new`] and adjust the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryConfig {
    /// The exporter's Unix socket.
    pub socket_path: PathBuf,
    /// Program name sent in `Hello`, e.g. `dawn-node`.
    pub client_name: String,
    /// Program version sent in `Hello`.
    pub client_version: String,
    /// The node's id; with `client_name` it keys the node's series in the exporter.
    pub node_id: String,
    /// How often changed values and a heartbeat are sent (1 ms ..= 60 s).
    pub flush_interval: Duration,
    /// Most labelled series kept per metric; further label sets fold into one overflow series.
    pub max_series_per_metric: usize,
    /// A labelled series whose value has not changed for this long and that no handle holds
    /// is retired.
    pub series_ttl: Duration,
    /// First delay before reconnecting after a failure.
    pub reconnect_min: Duration,
    /// Longest delay between reconnection attempts.
    pub reconnect_max: Duration,
    /// Longest a connect plus handshake may take before it counts as a failure.
    pub handshake_timeout: Duration,
    /// Longest one write to the exporter may block the shipper; past it the connection is
    /// dropped (and resynchronised on reconnect).
    pub write_timeout: Duration,
    /// Longest [`crate::Telemetry::shutdown`] waits for the final flush.
    pub shutdown_timeout: Duration,
    /// Users, besides this process' own and root, whose exporter may receive the telemetry;
    /// an exporter of another uid (read from the socket with `SO_PEERCRED`) is refused
    /// before anything is sent (docs/security.md). Empty by default.
    pub allowed_exporter_uids: Vec<u32>,
    /// Whether a shipper runs at all. `false` (`dawn-node run --telemetry off`): no thread,
    /// no socket, no logging; handles still record in memory and `shutdown` returns
    /// `NotDelivered` at once.
    pub ship: bool,
    /// Whether histograms whose [`crate::MetricSpec::native`] asks for native buckets
    /// record them (the default). `false` registers every histogram classic only: no
    /// native buckets recorded (their cost per observation saved) nor shipped.
    pub native_histograms: bool,
    /// Newest wire protocol version offered in `Hello` (default
    /// [`dawn_proto::MAX_SUPPORTED_VERSION`]). 1 makes the client speak exactly as one from
    /// before native histograms: their classic buckets alone are shipped, whatever the
    /// exporter speaks.
    pub max_protocol_version: u16,
}

impl TelemetryConfig {
    /// Defaults for everything but the socket and the node id: `dawn-node` and this crate's
    /// version, a 1 s flush, 1000 series per metric, a 10 min TTL, reconnects every
    /// 100 ms .. 5 s, 2 s handshake, 5 s write and 2 s shutdown timeouts, and an exporter
    /// trusted only when it runs as this process' user or root.
    pub fn new(socket_path: impl Into<PathBuf>, node_id: impl Into<String>) -> Self {
        TelemetryConfig {
            socket_path: socket_path.into(),
            client_name: "dawn-node".to_owned(),
            client_version: env!("CARGO_PKG_VERSION").to_owned(),
            node_id: node_id.into(),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            max_series_per_metric: DEFAULT_MAX_SERIES_PER_METRIC,
            series_ttl: DEFAULT_SERIES_TTL,
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(2),
            write_timeout: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(2),
            allowed_exporter_uids: Vec::new(),
            ship: true,
            native_histograms: true,
            max_protocol_version: dawn_proto::MAX_SUPPORTED_VERSION,
        }
    }

    /// Every problem with the settings, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut check = |ok: bool, what: &str| {
            if !ok {
                out.push(what.to_owned());
            }
        };
        check(
            !self.socket_path.as_os_str().is_empty(),
            "socket_path must not be empty",
        );
        check(
            !self.client_name.is_empty(),
            "client_name must not be empty",
        );
        check(!self.node_id.is_empty(), "node_id must not be empty");
        check(
            self.node_id.len() <= dawn_proto::MAX_NAME_LEN
                && self.client_name.len() <= dawn_proto::MAX_NAME_LEN
                && self.client_version.len() <= dawn_proto::MAX_NAME_LEN,
            "node_id, client_name and client_version must be at most 200 bytes",
        );
        check(
            (Duration::from_millis(1)..=Duration::from_secs(60)).contains(&self.flush_interval),
            "flush_interval must be between 1 ms and 60 s",
        );
        check(
            self.max_series_per_metric >= 1,
            "max_series_per_metric must be at least 1",
        );
        check(!self.series_ttl.is_zero(), "series_ttl must not be zero");
        check(
            dawn_proto::supported_versions().contains(&self.max_protocol_version),
            "max_protocol_version must be a supported protocol version (1 or 2)",
        );
        check(
            !self.reconnect_min.is_zero() && self.reconnect_min <= self.reconnect_max,
            "reconnect_min must be above zero and at most reconnect_max",
        );
        for (d, name) in [
            (self.handshake_timeout, "handshake_timeout"),
            (self.write_timeout, "write_timeout"),
            (self.shutdown_timeout, "shutdown_timeout"),
        ] {
            check(!d.is_zero(), &format!("{name} must not be zero"));
        }
        out
    }

    /// The flush interval in whole milliseconds, as `Hello` carries it (at least 1).
    pub(crate) fn flush_interval_ms(&self) -> u32 {
        u32::try_from(self.flush_interval.as_millis())
            .unwrap_or(u32::MAX)
            .max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_problems_are_all_reported() {
        let ok = TelemetryConfig::new("/tmp/x.sock", "n1");
        assert!(ok.problems().is_empty());
        assert_eq!(ok.flush_interval_ms(), 1000);
        let bad = TelemetryConfig {
            flush_interval: Duration::ZERO,
            max_series_per_metric: 0,
            reconnect_min: Duration::from_secs(10),
            max_protocol_version: 3,
            ..TelemetryConfig::new("", "")
        };
        let problems = bad.problems();
        assert_eq!(problems.len(), 6, "{problems:?}");
    }
}
