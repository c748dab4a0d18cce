//! OpenTelemetry instruments for the exporter's own metrics, exported by
//! `opentelemetry-prometheus` into a `prometheus::Registry`.
//!
//! The names given to OpenTelemetry are chosen so that the exporter's suffix rules (a
//! `_total` on monotonic sums, no unit suffix without a unit) produce exactly the names
//! documented in docs/exporter.md; scope labels and `target_info` are turned off.
//!
//! The metrics SDK keeps at most 2,000 series per instrument by default and folds the rest
//! into one `otel_metric_overflow="true"` series. The gauges with a series per client's
//! check or per node get a limit that fits what the ingest limits allow
//! ([`SeriesRoom`]), so that no flood of checks can push a node's own checks out.

use std::sync::Arc;

use dawn_proto::{Frame, HealthStatus};
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Histogram, Meter, MeterProvider};
use opentelemetry_sdk::metrics::{Instrument, SdkMeterProvider, Stream};
use prometheus::proto::MetricFamily;

use super::counters::ExporterMetrics;
use super::reason::{
    ClientRefusal, ConnectionResult, Eviction, HealthLimit, HttpClose, IgnoredUpdate,
    ProtocolError, SeriesRejection,
};

/// Bounds of `dawn_exporter_scrape_duration_seconds`.
const SCRAPE_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Gauge names whose series count follows the number of clients.
const CHECK_STATUS: &str = "dawn_health_check_status";
const NODE_BUILD_INFO: &str = "dawn_node_build_info";

/// The most series a per-client gauge is given room for (the SDK allocates its table for
/// the whole limit up front).
pub(crate) const MAX_SERIES_ROOM: usize = 65_536;

/// How many series the per-client gauges must have room for: what the ingest limits allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SeriesRoom {
    /// `--ingest.max-clients`.
    pub max_clients: usize,
    /// `--health.max-checks-per-client`.
    pub max_checks_per_client: usize,
}

impl SeriesRoom {
    /// Series of `dawn_health_check_status`: every client's checks and `telemetry`, at most
    /// [`MAX_SERIES_ROOM`].
    pub(crate) fn checks(&self) -> usize {
        self.max_clients
            .saturating_mul(self.max_checks_per_client)
            .saturating_add(1)
            .clamp(1, MAX_SERIES_ROOM)
    }

    /// Series of `dawn_node_build_info`: one per connected client (and one that is leaving).
    pub(crate) fn nodes(&self) -> usize {
        self.max_clients.saturating_add(1).clamp(1, MAX_SERIES_ROOM)
    }
}

/// State outside the metrics module that gauges read at scrape time.
pub(crate) trait StateProbe: Send + Sync + 'static {
    /// Series held by the store.
    fn series(&self) -> u64;
    /// Samples (series × sources) held by the store.
    fn samples(&self) -> u64;
    /// Whether a node is connected with fresh heartbeats.
    fn node_up(&self) -> bool;
    /// Every health check and its status (the exporter's own `telemetry` included).
    fn health_checks(&self) -> Vec<(String, HealthStatus)>;
    /// `(version, node_id)` of every connected node.
    fn node_builds(&self) -> Vec<(String, String)>;
}

/// Why the self-metrics could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the exporter's own metrics: {0}")]
pub struct TelemetryError(String);

/// The exporter's own metrics as OpenTelemetry instruments, plus the registry they are
/// exported into.
pub(crate) struct SelfTelemetry {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    scrape_duration: Histogram<f64>,
}

impl std::fmt::Debug for SelfTelemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelfTelemetry").finish_non_exhaustive()
    }
}

impl SelfTelemetry {
    /// Registers every instrument, reading `metrics` and `probe` at scrape time, with
    /// `room` for the per-client gauges.
    pub(crate) fn new(
        metrics: Arc<ExporterMetrics>,
        probe: Arc<dyn StateProbe>,
        room: SeriesRoom,
    ) -> Result<Self, TelemetryError> {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()
            .map_err(|e| TelemetryError(e.to_string()))?;
        let room_for = move |i: &Instrument| {
            let limit = match i.name() {
                CHECK_STATUS => room.checks(),
                NODE_BUILD_INFO => room.nodes(),
                _ => return None,
            };
            // Never an error: the limit is between 1 and MAX_SERIES_ROOM.
            Stream::builder().with_cardinality_limit(limit).build().ok()
        };
        let provider = SdkMeterProvider::builder()
            .with_reader(exporter)
            .with_view(room_for)
            .build();
        let meter = provider.meter("dawn-exporter");
        register_counters(&meter, &metrics);
        register_state_gauges(&meter, &metrics, probe);
        let scrape_duration = meter
            .f64_histogram("dawn_exporter_scrape_duration_seconds")
            .with_description("Time to render /metrics, in seconds.")
            .with_boundaries(SCRAPE_BUCKETS.to_vec())
            .build();
        Ok(SelfTelemetry {
            registry,
            provider,
            scrape_duration,
        })
    }

    /// Records how long a scrape took.
    pub(crate) fn observe_scrape(&self, seconds: f64) {
        self.scrape_duration.record(seconds, &[]);
    }

    /// The registry's families (reading every instrument now).
    pub(crate) fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }

    /// Stops the meter provider.
    pub(crate) fn shutdown(&self) {
        // Nothing is pushed anywhere; an error here only means it was already shut down.
        let _ = self.provider.shutdown();
    }
}

fn register_counters(meter: &Meter, metrics: &Arc<ExporterMetrics>) {
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_connections")
        .with_description("Telemetry client connections, by handshake result (accepted, rejected).")
        .with_callback(move |o| {
            for r in ConnectionResult::ALL {
                o.observe(m.connections(*r), &[KeyValue::new("result", r.as_str())]);
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_frames")
        .with_description("Frames received from telemetry clients, by kind.")
        .with_callback(move |o| {
            for (i, kind) in Frame::KIND_NAMES.iter().enumerate() {
                o.observe(m.frames_by_index(i), &[KeyValue::new("kind", *kind)]);
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_records")
        .with_description("Series updates applied to the store.")
        .with_callback(move |o| o.observe(m.records_applied(), &[]))
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_decode_errors")
        .with_description("Protocol errors of telemetry clients, by reason.")
        .with_callback(move |o| {
            for r in ProtocolError::ALL {
                o.observe(
                    m.protocol_errors(*r),
                    &[KeyValue::new("reason", r.as_str())],
                );
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_rejected_series")
        .with_description("Series refused by the exporter, by reason.")
        .with_callback(move |o| {
            for r in SeriesRejection::ALL {
                o.observe(
                    m.rejected_series_count(*r),
                    &[KeyValue::new("reason", r.as_str())],
                );
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_ignored_updates")
        .with_description("Series updates dropped without an error frame, by reason.")
        .with_callback(move |o| {
            for r in IgnoredUpdate::ALL {
                o.observe(
                    m.ignored_updates_count(*r),
                    &[KeyValue::new("reason", r.as_str())],
                );
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_client_dropped_records")
        .with_description(
            "Records telemetry clients report they could not keep (series caps, full queues).",
        )
        .with_callback(move |o| o.observe(m.client_dropped_records_total(), &[]))
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_refused_clients")
        .with_description(
            "Telemetry clients turned away before their handshake, by reason (docs/security.md).",
        )
        .with_callback(move |o| {
            for r in ClientRefusal::ALL {
                o.observe(
                    m.refused_clients(*r),
                    &[KeyValue::new("reason", r.as_str())],
                );
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_limited_health_checks")
        .with_description(
            "Health check reports dropped (a new check beyond --health.max-checks-per-client) or cut to --health.max-check-bytes, by reason.",
        )
        .with_callback(move |o| {
            for r in HealthLimit::ALL {
                o.observe(
                    m.health_limited_count(*r),
                    &[KeyValue::new("reason", r.as_str())],
                );
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_evicted_clients")
        .with_description(
            "Telemetry connections closed to make room for a newer one, by reason (docs/exporter.md, Admission).",
        )
        .with_callback(move |o| {
            for r in Eviction::ALL {
                o.observe(m.evicted_count(*r), &[KeyValue::new("reason", r.as_str())]);
            }
        })
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_counter("dawn_exporter_http_connections_closed")
        .with_description(
            "HTTP connections the exporter closed on its own, by reason (docs/security.md).",
        )
        .with_callback(move |o| {
            for r in HttpClose::ALL {
                o.observe(
                    m.http_closed_count(*r),
                    &[KeyValue::new("reason", r.as_str())],
                );
            }
        })
        .build();
}

fn register_state_gauges(
    meter: &Meter,
    metrics: &Arc<ExporterMetrics>,
    probe: Arc<dyn StateProbe>,
) {
    let m = Arc::clone(metrics);
    meter
        .u64_observable_gauge("dawn_exporter_clients")
        .with_description("Telemetry clients connected now.")
        .with_callback(move |o| o.observe(m.clients(), &[]))
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_gauge("dawn_exporter_http_connections")
        .with_description("HTTP connections open now (at most --web.max-connections).")
        .with_callback(move |o| o.observe(m.http_connections(), &[]))
        .build();
    let m = Arc::clone(metrics);
    meter
        .u64_observable_gauge("dawn_exporter_web_config_last_reload_successful")
        .with_description(
            "1 unless the latest reload of --web.config.file failed (the previous settings then stay in force).",
        )
        .with_callback(move |o| o.observe(u64::from(m.web_config_last_reload_successful()), &[]))
        .build();
    let p = Arc::clone(&probe);
    meter
        .u64_observable_gauge("dawn_exporter_series")
        .with_description("Series held by the exporter.")
        .with_callback(move |o| o.observe(p.series(), &[]))
        .build();
    let p = Arc::clone(&probe);
    meter
        .u64_observable_gauge("dawn_exporter_samples")
        .with_description("Samples held by the exporter: one per series and source with a value.")
        .with_callback(move |o| o.observe(p.samples(), &[]))
        .build();
    let p = Arc::clone(&probe);
    meter
        .u64_observable_gauge("dawn_node_up")
        .with_description("1 while a node is connected and its heartbeats are fresh.")
        .with_callback(move |o| o.observe(u64::from(p.node_up()), &[]))
        .build();
    let p = Arc::clone(&probe);
    meter
        .u64_observable_gauge(CHECK_STATUS)
        .with_description("Status of each health check: 0 healthy, 1 degraded, 2 unhealthy.")
        .with_callback(move |o| {
            for (check, status) in p.health_checks() {
                o.observe(status_value(status), &[KeyValue::new("check", check)]);
            }
        })
        .build();
    meter
        .u64_observable_gauge("dawn_exporter_build_info")
        .with_description("Always 1; the exporter's version as a label.")
        .with_callback(|o| {
            o.observe(1, &[KeyValue::new("version", env!("CARGO_PKG_VERSION"))]);
        })
        .build();
    let p = probe;
    meter
        .u64_observable_gauge(NODE_BUILD_INFO)
        .with_description("Always 1 per connected node; its version and id as labels.")
        .with_callback(move |o| {
            for (version, node_id) in p.node_builds() {
                o.observe(
                    1,
                    &[
                        KeyValue::new("version", version),
                        KeyValue::new("node_id", node_id),
                    ],
                );
            }
        })
        .build();
}

fn status_value(status: HealthStatus) -> u64 {
    match status {
        HealthStatus::Healthy => 0,
        HealthStatus::Degraded => 1,
        HealthStatus::Unhealthy => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::{Encoder, Format, encode_families};

    struct Probe {
        /// Extra checks reported besides `peers` and `telemetry`.
        checks: usize,
    }

    const ROOM: SeriesRoom = SeriesRoom {
        max_clients: 64,
        max_checks_per_client: 32,
    };

    impl StateProbe for Probe {
        fn series(&self) -> u64 {
            7
        }
        fn samples(&self) -> u64 {
            9
        }
        fn node_up(&self) -> bool {
            true
        }
        fn health_checks(&self) -> Vec<(String, HealthStatus)> {
            let mut checks = vec![
                ("peers".into(), HealthStatus::Degraded),
                ("telemetry".into(), HealthStatus::Healthy),
            ];
            let flood = (0..self.checks).map(|i| (format!("c{i}"), HealthStatus::Healthy));
            checks.extend(flood);
            checks
        }
        fn node_builds(&self) -> Vec<(String, String)> {
            vec![("0.1.0".into(), "node-1".into())]
        }
    }

    fn render(t: &SelfTelemetry, format: Format) -> String {
        let mut out = String::new();
        let mut e = Encoder::new(&mut out, format);
        encode_families(&mut e, &t.gather());
        e.finish();
        out
    }

    #[test]
    fn names_are_exactly_the_documented_ones() {
        let metrics = Arc::new(ExporterMetrics::new());
        let t =
            SelfTelemetry::new(Arc::clone(&metrics), Arc::new(Probe { checks: 0 }), ROOM).unwrap();
        metrics.protocol_error(ProtocolError::UnknownId);
        metrics.protocol_error(ProtocolError::UnknownId);
        metrics.records(5);
        metrics.client_dropped_records(3);
        metrics.connection(ConnectionResult::Accepted);
        metrics.refused_client(ClientRefusal::UidNotAllowed);
        metrics.http_closed(HttpClose::Evicted);
        metrics.health_limited(HealthLimit::MaxChecksPerClient);
        metrics.evicted(Eviction::PendingLimit);
        metrics.set_http_connections(4);
        metrics.web_config_reload(false);
        t.observe_scrape(0.002);
        let text = render(&t, Format::Text);
        for line in [
            "# TYPE dawn_exporter_decode_errors_total counter",
            "dawn_exporter_decode_errors_total{reason=\"unknown_id\"} 2",
            "dawn_exporter_decode_errors_total{reason=\"malformed\"} 0",
            "dawn_exporter_records_total 5",
            "dawn_exporter_client_dropped_records_total 3",
            "dawn_exporter_connections_total{result=\"accepted\"} 1",
            "dawn_exporter_connections_total{result=\"rejected\"} 0",
            "dawn_exporter_frames_total{kind=\"batch\"} 0",
            "dawn_exporter_rejected_series_total{reason=\"max_series\"} 0",
            "dawn_exporter_ignored_updates_total{reason=\"refused_series\"} 0",
            "dawn_exporter_refused_clients_total{reason=\"uid_not_allowed\"} 1",
            "dawn_exporter_http_connections_closed_total{reason=\"evicted\"} 1",
            "dawn_exporter_http_connections_closed_total{reason=\"header_timeout\"} 0",
            "dawn_exporter_http_connections 4",
            "dawn_exporter_web_config_last_reload_successful 0",
            "dawn_exporter_limited_health_checks_total{reason=\"max_checks_per_client\"} 1",
            "dawn_exporter_limited_health_checks_total{reason=\"max_check_bytes\"} 0",
            "dawn_exporter_evicted_clients_total{reason=\"pending_limit\"} 1",
            "dawn_exporter_evicted_clients_total{reason=\"client_limit\"} 0",
            "dawn_exporter_samples 9",
            "# TYPE dawn_exporter_clients gauge",
            "dawn_exporter_clients 0",
            "dawn_exporter_series 7",
            "dawn_node_up 1",
            "dawn_health_check_status{check=\"peers\"} 1",
            "dawn_health_check_status{check=\"telemetry\"} 0",
            "dawn_exporter_build_info{version=\"0.1.0\"} 1",
            "dawn_node_build_info{node_id=\"node-1\",version=\"0.1.0\"} 1",
            "# TYPE dawn_exporter_scrape_duration_seconds histogram",
            "dawn_exporter_scrape_duration_seconds_bucket{le=\"0.0025\"} 1",
            "dawn_exporter_scrape_duration_seconds_bucket{le=\"+Inf\"} 1",
            "dawn_exporter_scrape_duration_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing {line:?} in\n{text}"
            );
        }
        assert!(!text.contains("otel_scope"), "{text}");
        assert!(!text.contains("target_info"), "{text}");
        let om = render(&t, Format::OpenMetrics);
        assert!(
            om.contains("# TYPE dawn_exporter_decode_errors counter\n"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"));
    }

    #[test]
    fn every_allowed_check_has_room_beyond_the_sdk_default() {
        // 64 clients × 32 checks: more than the SDK's default of 2,000 series.
        let checks = ROOM.max_clients * ROOM.max_checks_per_client - 1;
        let metrics = Arc::new(ExporterMetrics::new());
        let t = SelfTelemetry::new(metrics, Arc::new(Probe { checks }), ROOM).unwrap();
        let text = render(&t, Format::Text);
        let series = text
            .lines()
            .filter(|l| l.starts_with("dawn_health_check_status{"))
            .count();
        assert_eq!(series, checks + 2);
        assert!(!text.contains("otel_metric_overflow"), "overflowed");
        assert!(text.contains("dawn_health_check_status{check=\"peers\"} 1"));
        assert_eq!(ROOM.checks(), 2049);
        let huge = SeriesRoom {
            max_clients: 65_536,
            max_checks_per_client: 1024,
        };
        assert_eq!(
            (huge.checks(), huge.nodes()),
            (MAX_SERIES_ROOM, MAX_SERIES_ROOM)
        );
    }
}
