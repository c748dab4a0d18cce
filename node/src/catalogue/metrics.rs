//! The metrics the node records: names, help, types, labels and buckets, declared once
//! for the node, its docs and the tests (docs/node.md lists where each is recorded).

use dawn_proto::MetricKind;
use dawn_telemetry::{DEFAULT_SECONDS_BUCKETS, MetricSpec, NativeConfig};

/// Powers of four from 64 B to 16 MiB, for histograms of sizes.
pub const BYTE_BUCKETS: &[f64] = &[
    64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
];

/// Peers connected now.
pub const P2P_PEERS: MetricSpec = MetricSpec {
    name: "p2p_peers",
    help: "Peers connected now.",
    kind: MetricKind::Gauge,
    labels: &[],
    buckets: &[],
    native: None,
};

/// Connection attempts and ends, by outcome.
pub const P2P_CONNECTIONS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_connections_total",
    help: "Peer connection attempts and ends, by status (handshake_failed: incoming attempts that did not complete their handshake).",
    kind: MetricKind::Counter,
    labels: &["status"],
    buckets: &[],
    native: None,
};

/// Messages sent and received.
pub const P2P_MESSAGES_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_messages_total",
    help: "Messages sent and received, by type and status.",
    kind: MetricKind::Counter,
    labels: &["type", "status"],
    buckets: &[],
    native: None,
};

/// Request round trip or handling time.
pub const P2P_MESSAGE_LATENCY_SECONDS: MetricSpec = MetricSpec {
    name: "p2p_message_latency_seconds",
    help: "Request round-trip time and message handling time, in seconds.",
    kind: MetricKind::Histogram,
    labels: &["type"],
    buckets: DEFAULT_SECONDS_BUCKETS,
    native: Some(NativeConfig::DEFAULT),
};

/// Encoded message sizes.
pub const P2P_MESSAGE_SIZE_BYTES: MetricSpec = MetricSpec {
    name: "p2p_message_size_bytes",
    help: "Encoded size of each message, in bytes.",
    kind: MetricKind::Histogram,
    labels: &["type"],
    buckets: BYTE_BUCKETS,
    native: Some(NativeConfig::DEFAULT),
};

/// Handled errors.
pub const P2P_ERRORS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_errors_total",
    help: "Handled errors, by error type and component.",
    kind: MetricKind::Counter,
    labels: &["error_type", "component"],
    buckets: &[],
    native: None,
};

/// Tool calls on agents.
pub const P2P_AGENT_OPERATIONS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_agent_operations_total",
    help: "Tool calls on agents, by agent, operation and status.",
    kind: MetricKind::Counter,
    labels: &["agent_id", "operation", "status"],
    buckets: &[],
    native: None,
};

/// Duration of tool calls on agents.
pub const P2P_AGENT_OPERATION_LATENCY_SECONDS: MetricSpec = MetricSpec {
    name: "p2p_agent_operation_latency_seconds",
    help: "Duration of tool calls on agents, in seconds.",
    kind: MetricKind::Histogram,
    labels: &["agent_id", "operation"],
    buckets: DEFAULT_SECONDS_BUCKETS,
    native: Some(NativeConfig::DEFAULT),
};

/// Circuit breaker state per peer.
pub const P2P_CIRCUIT_BREAKER_STATE: MetricSpec = MetricSpec {
    name: "p2p_circuit_breaker_state",
    help: "Circuit breaker state per peer: 0 closed, 1 open, 2 half_open.",
    kind: MetricKind::Gauge,
    labels: &["peer_id"],
    buckets: &[],
    native: None,
};

/// Failures counted by circuit breakers.
pub const P2P_CIRCUIT_BREAKER_FAILURES_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_circuit_breaker_failures_total",
    help: "Failures counted by the circuit breaker of each peer.",
    kind: MetricKind::Counter,
    labels: &["peer_id"],
    buckets: &[],
    native: None,
};

/// Requests rejected by the rate limiter.
pub const P2P_RATE_LIMIT_REJECTIONS_TOTAL: MetricSpec = MetricSpec {
    name: "p2p_rate_limit_rejections_total",
    help: "Requests and notifications refused by a rate limit, by sender and resource (the limit: message, source_address, global; peer_id is empty for the last two).",
    kind: MetricKind::Counter,
    labels: &["peer_id", "resource"],
    buckets: &[],
    native: None,
};

/// Every metric the node records, in the order of docs/node.md's table.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_is_a_valid_definition_and_registers() {
        for (i, spec) in ALL.iter().enumerate() {
            dawn_proto::validate_define(&spec.to_define(i as u32)).unwrap();
        }
        assert_eq!(ALL.len(), 11);
        let dir = std::env::temp_dir().join(format!("dawn-catalogue-{}", std::process::id()));
        let mut config = dawn_telemetry::TelemetryConfig::new(dir.join("t.sock"), "n");
        config.ship = false;
        let telemetry = dawn_telemetry::Telemetry::start(config).unwrap();
        telemetry.register_all(ALL).unwrap();
    }
}
