//! The node's metrics: one source of truth for the node, the exporter's docs and the tests.

use crate::frame::{Define, MetricKind};

/// Prometheus' default buckets, for histograms of seconds.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Powers of four from 64 B to 16 MiB, for histograms of sizes.
pub const BYTE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// A metric's fixed description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricSpec {
    /// Prometheus name.
    pub name: &'static str,
    /// `# HELP` text.
    pub help: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricKind,
    /// Label names, in order.
    pub labels: &'static [&'static str],
    /// Histogram bounds; empty for other kinds.
    pub buckets: &'static [f64],
}

impl MetricSpec {
    /// The wire definition of this metric under connection-local `id`.
    pub fn to_define(&self, id: u32) -> Define {
        Define {
            id,
            name: self.name.to_owned(),
            help: self.help.to_owned(),
            kind: self.kind,
            label_names: self.labels.iter().map(|l| (*l).to_owned()).collect(),
            buckets: self.buckets.to_vec(),
        }
    }
}

/// Peers connected now.
pub const P2P_PEERS: MetricSpec = MetricSpec {
    name: "p2p_peers",
    help: "Peers connected now.",
    kind: MetricKind::Gauge,
    labels: &[],
    buckets: &[],
};

/// Name under which `--compat.seed-names` also exposes [`P2P_PEERS`], as the original
/// Python system called it.
pub const P2P_PEERS_COMPAT_NAME: &str = "p2p_peers_total";

/// Connection attempts and ends, by outcome.
pub const P2P_CONNECTIONS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_connections_total",
    help: "Peer connection attempts and ends, by status.",
    kind: MetricKind::Counter,
    labels: &["status"],
    buckets: &[],
};

/// Messages sent and received.
pub const P2P_MESSAGES_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_messages_total",
    help: "Messages sent and received, by type and status.",
    kind: MetricKind::Counter,
    labels: &["type", "status"],
    buckets: &[],
};

/// Request round trip or handling time.
pub const P2P_MESSAGE_LATENCY_SECONDS: MetricSpec = MetricSpec {
    name: "p2p_message_latency_seconds",
    help: "Request round-trip time and message handling time, in seconds.",
    kind: MetricKind::Histogram,
    labels: &["type"],
    buckets: SECONDS_BUCKETS,
};

/// Encoded message sizes.
pub const P2P_MESSAGE_SIZE_BYTES: MetricSpec = MetricSpec {
    name: "p2p_message_size_bytes",
    help: "Encoded size of each message, in bytes.",
    kind: MetricKind::Histogram,
    labels: &["type"],
    buckets: BYTE_BUCKETS,
};

/// Handled errors.
pub const P2P_ERRORS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_errors_total",
    help: "Handled errors, by error type and component.",
    kind: MetricKind::Counter,
    labels: &["error_type", "component"],
    buckets: &[],
};

/// Tool calls on agents.
pub const P2P_AGENT_OPERATIONS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_agent_operations_total",
    help: "Tool calls on agents, by agent, operation and status.",
    kind: MetricKind::Counter,
    labels: &["agent_id", "operation", "status"],
    buckets: &[],
};

/// Duration of tool calls on agents.
pub const P2P_AGENT_OPERATION_LATENCY_SECONDS: MetricSpec = MetricSpec {
    name: "p2p_agent_operation_latency_seconds",
    help: "Duration of tool calls on agents, in seconds.",
    kind: MetricKind::Histogram,
    labels: &["agent_id", "operation"],
    buckets: SECONDS_BUCKETS,
};

/// Circuit breaker state per peer.
pub const P2P_CIRCUIT_BREAKER_STATE: MetricSpec = MetricSpec {
    name: "p2p_circuit_breaker_state",
    help: "Circuit breaker state per peer: 0 closed, 1 open, 2 half_open.",
    kind: MetricKind::Gauge,
    labels: &["peer_id"],
    buckets: &[],
};

/// Failures counted by circuit breakers.
pub const P2P_CIRCUIT_BREAKER_FAILURES_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_circuit_breaker_failures_total",
    help: "Failures counted by the circuit breaker of each peer.",
    kind: MetricKind::Counter,
    labels: &["peer_id"],
    buckets: &[],
};

/// Requests rejected by the rate limiter.
pub const P2P_RATE_LIMIT_REJECTIONS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_rate_limit_rejections_total",
    help: "Requests rejected by the rate limiter, by sender and resource.",
    kind: MetricKind::Counter,
    labels: &["peer_id", "resource"],
    buckets: &[],
};

/// Every metric the node records, in DESIGN's order.
pub const ALL: &[MetricSpec] = &[
    P2P_PEERS,
    P2P_CONNECTIONS_TOTAL,
    P2P_MESSAGES_TOTAL,
    P2P_MESSAGE_LATENCY_SECONDS,
    P2P_MESSAGE_SIZE_BYTES,
    P2P_ERRORS_TOTAL,
    P2P_AGENT_OPERATIONS_TOTAL,
    P2P_AGENT_OPERATION_LATENCY_SECONDS,
    P2P_CIRCUIT_BREAKER_STATE,
    P2P_CIRCUIT_BREAKER_FAILURES_TOTAL,
    P2P_RATE_LIMIT_REJECTIONS_TOTAL,
];

/// Label values that can occur, for the labels whose values are a closed set.
pub mod values {
    /// `p2p_connections_total{status}`.
    pub const CONNECTION_STATUS: &[&str] = &["success", "failed", "rejected", "closed"];
    /// `type` of the message metrics.
    pub const MESSAGE_TYPE: &[&str] = &["request", "response", "notification", "error"];
    /// `p2p_messages_total{status}`.
    pub const MESSAGE_STATUS: &[&str] = &["success", "error", "rate_limited"];
    /// `p2p_agent_operations_total{status}`.
    pub const AGENT_OPERATION_STATUS: &[&str] = &["success", "error"];
    /// Values of `p2p_circuit_breaker_state`, indexed by state.
    pub const BREAKER_STATE: &[&str] = &["closed", "open", "half_open"];
}

/// Health checks every node reports.
pub const HEALTH_CHECKS: &[&str] = &["peers", "agents", "storage", "discovery"];

/// Label value of the series into which a series cap folds excess label sets.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_entry_is_a_valid_definition() {
        for (i, spec) in ALL.iter().enumerate() {
            crate::validate_define(&spec.to_define(i as u32)).unwrap();
        }
        assert_eq!(ALL.len(), 11);
    }
}
