//! Metrics the unit tests register: one of each kind and label shape.

use dawn_proto::MetricKind;

use crate::{DEFAULT_SECONDS_BUCKETS, MetricSpec};

pub(crate) const PEERS: MetricSpec = MetricSpec {
    name: "test_peers",
    help: "Peers connected now.",
    kind: MetricKind::Gauge,
    labels: &[],
    buckets: &[],
    native: None,
};

pub(crate) const CONNECTIONS: MetricSpec = MetricSpec {
    name: "test_connections_total",
    help: "Connection attempts and ends, by status.",
    kind: MetricKind::Counter,
    labels: &["status"],
    buckets: &[],
    native: None,
};

pub(crate) const MESSAGES: MetricSpec = MetricSpec {
    name: "test_messages_total",
    help: "Messages, by type and status.",
    kind: MetricKind::Counter,
    labels: &["type", "status"],
    buckets: &[],
    native: None,
};

pub(crate) const LATENCY: MetricSpec = MetricSpec {
    name: "test_latency_seconds",
    help: "Request latency, in seconds.",
    kind: MetricKind::Histogram,
    labels: &["type"],
    buckets: DEFAULT_SECONDS_BUCKETS,
    native: None,
};

pub(crate) const ALL: &[MetricSpec] = &[PEERS, CONNECTIONS, MESSAGES, LATENCY];
