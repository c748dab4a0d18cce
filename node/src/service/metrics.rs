//! Every catalogue metric the node records, resolved to handles once at start so that
//! recording an event is one atomic update (docs/node.md lists where each is recorded).

use std::time::Duration;

use crate::agents::AgentInfo;
use crate::catalogue::{
    Component, ConnectionStatus, MessageStatus, MessageType, OperationStatus,
    P2P_AGENT_OPERATION_LATENCY_SECONDS, P2P_AGENT_OPERATIONS_TOTAL,
    P2P_CIRCUIT_BREAKER_FAILURES_TOTAL, P2P_CIRCUIT_BREAKER_STATE, P2P_CONNECTIONS_TOTAL,
    P2P_ERRORS_TOTAL, P2P_MESSAGE_LATENCY_SECONDS, P2P_MESSAGE_SIZE_BYTES, P2P_MESSAGES_TOTAL,
    P2P_PEERS, P2P_RATE_LIMIT_REJECTIONS_TOTAL, RateLimitResource,
};
use crate::p2p::NodeId;
use crate::resilience::Transition;
use dawn_telemetry::{
    Counter, CounterFamily, Gauge, GaugeFamily, Histogram, HistogramFamily, Telemetry,
};

/// The node's metric handles. Fixed label sets are resolved here once; per-peer and
/// per-agent series are looked up (one hash lookup) when their event happens.
#[derive(Debug)]
pub struct NodeMetrics {
    peers: Gauge,
    connections: [Counter; 5],
    /// `None` for the combinations that cannot happen (a reply is never "rate limited"
    /// unless it is an error reply, an error reply is never a success), so they are not
    /// exported as eternal zeros.
    messages: [[Option<Counter>; 3]; 4],
    messages_family: CounterFamily,
    latency: [Histogram; 4],
    size: [Histogram; 4],
    errors: CounterFamily,
    agent_operations: CounterFamily,
    agent_latency: HistogramFamily,
    breaker_state: GaugeFamily,
    breaker_failures: CounterFamily,
    rate_limited: CounterFamily,
    /// The rejections of the shared limits (address, global), held so that they never
    /// expire; `None` for the sender's own limit, counted per sender.
    shared_limits: [Option<Counter>; 3],
}

impl NodeMetrics {
    /// Resolves every fixed series of the catalogue (they appear at 0 at once, so
    /// dashboards and `rate()` see them from the start), the rejections by the shared rate
    /// limits included.
    pub fn new(telemetry: &Telemetry) -> Self {
        let connections = telemetry.counter(&P2P_CONNECTIONS_TOTAL);
        let messages = telemetry.counter(&P2P_MESSAGES_TOTAL);
        let latency = telemetry.histogram(&P2P_MESSAGE_LATENCY_SECONDS);
        let size = telemetry.histogram(&P2P_MESSAGE_SIZE_BYTES);
        let rate_limited = telemetry.counter(&P2P_RATE_LIMIT_REJECTIONS_TOTAL);
        NodeMetrics {
            shared_limits: RateLimitResource::ALL.map(|resource| {
                shared_limit_peer_id(resource)
                    .map(|none| rate_limited.with_labels(&[none, resource.as_str()]))
            }),
            peers: telemetry.gauge(&P2P_PEERS).handle(),
            connections: ConnectionStatus::ALL.map(|s| connections.with_labels(&[s.as_str()])),
            messages: MessageType::ALL.map(|t| {
                MessageStatus::ALL.map(|s| {
                    s.possible_for(t)
                        .then(|| messages.with_labels(&[t.as_str(), s.as_str()]))
                })
            }),
            messages_family: messages,
            latency: MessageType::ALL.map(|t| latency.with_labels(&[t.as_str()])),
            size: MessageType::ALL.map(|t| size.with_labels(&[t.as_str()])),
            errors: telemetry.counter(&P2P_ERRORS_TOTAL),
            agent_operations: telemetry.counter(&P2P_AGENT_OPERATIONS_TOTAL),
            agent_latency: telemetry.histogram(&P2P_AGENT_OPERATION_LATENCY_SECONDS),
            breaker_state: telemetry.gauge(&P2P_CIRCUIT_BREAKER_STATE),
            breaker_failures: telemetry.counter(&P2P_CIRCUIT_BREAKER_FAILURES_TOTAL),
            rate_limited,
        }
    }

    /// The value of `p2p_peers` now (tests).
    #[cfg(test)]
    pub(crate) fn peers_recorded(&self) -> f64 {
        self.peers.get()
    }

    /// `p2p_peers`.
    pub fn set_peers(&self, peers: usize) {
        self.peers.set(peers as f64);
    }

    /// One `p2p_connections_total{status}`.
    pub fn connection(&self, status: ConnectionStatus) {
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        self.connections[status as usize].inc();
    }

    /// One message sent or received: `p2p_messages_total{type,status}` and its encoded
    /// size in `p2p_message_size_bytes{type}`.
    pub fn message(&self, kind: MessageType, status: MessageStatus, size: usize) {
        // `ALL` lists the types in declaration order, so the discriminant is the index.
        let t = kind as usize;
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        match &self.messages[t][status as usize] {
            Some(counter) => counter.inc(),
            None => self
                .messages_family
                .with_labels(&[kind.as_str(), status.as_str()])
                .inc(),
        }
        self.size[t].observe(size as f64);
    }

    /// `p2p_message_latency_seconds{type}`: handling time of a received request or
    /// notification, round trip of a sent request (under the reply's type).
    pub fn latency(&self, kind: MessageType, elapsed: Duration) {
        self.latency[kind as usize].observe_duration(elapsed);
    }

    /// One `p2p_errors_total{error_type,component}`; `error_type` is the `as_str`/`kind` of a
    /// typed error or a [`crate::catalogue::NodeFailure`].
    pub fn error(&self, error_type: &'static str, component: Component) {
        self.errors(error_type, component, 1);
    }

    /// `n` of `p2p_errors_total{error_type,component}` at once (errors counted per item of
    /// a message, such as the ids a peer's full view did not keep); nothing when `n` is 0.
    pub fn errors(&self, error_type: &'static str, component: Component, n: u64) {
        if n > 0 {
            self.errors
                .with_labels(&[error_type, component.as_str()])
                .add(n);
        }
    }

    /// One agent tool call: `p2p_agent_operations_total` and its latency.
    pub fn agent_operation(&self, agent: &str, tool: &str, ok: bool, elapsed: Duration) {
        let status = OperationStatus::of(ok).as_str();
        self.agent_operations
            .with_labels(&[agent, tool, status])
            .inc();
        self.agent_latency
            .with_labels(&[agent, tool])
            .observe_duration(elapsed);
    }

    /// Creates a peer's failure and rejection series at 0 when it connects. A counter series
    /// that is born at 1 hides its first increment from Prometheus' `rate()` and
    /// `increase()`, so a single rejection or breaker failure would never show in alerts.
    pub fn peer_connected(&self, peer: &NodeId) {
        let id = peer.to_string();
        // Looking a series up creates it (at 0) when it is missing.
        self.breaker_failures.with_labels(&[&id]);
        self.rate_limited
            .with_labels(&[&id, RateLimitResource::Message.as_str()]);
    }

    /// Creates every agent operation series (each tool, both statuses) at 0, for the same
    /// reason as [`NodeMetrics::peer_connected`].
    pub fn agents_known(&self, agents: &[AgentInfo]) {
        for agent in agents {
            for tool in &agent.tools {
                for status in OperationStatus::ALL {
                    self.agent_operations
                        .with_labels(&[&agent.id, &tool.name, status.as_str()]);
                }
                self.agent_latency.with_labels(&[&agent.id, &tool.name]);
            }
        }
    }

    /// A breaker changed state: `p2p_circuit_breaker_state{peer_id}`.
    pub fn breaker_transition(&self, peer: &NodeId, transition: Transition) {
        self.breaker_state
            .with_labels(&[&peer.to_string()])
            .set(transition.to.as_gauge());
    }

    /// A failure counted by a peer's breaker: `p2p_circuit_breaker_failures_total{peer_id}`.
    pub fn breaker_failure(&self, peer: &NodeId) {
        self.breaker_failures
            .with_labels(&[&peer.to_string()])
            .inc();
    }

    /// A request or notification of `sender` refused by the limit `resource`:
    /// `p2p_rate_limit_rejections_total`. The shared limits (address, global) count under an
    /// empty `peer_id`: fresh identities must not make new series.
    pub fn rate_limited(&self, sender: &NodeId, resource: RateLimitResource) {
        // `ALL` lists the variants in declaration order, so the discriminant is the index.
        match &self.shared_limits[resource as usize] {
            Some(counter) => counter.inc(),
            None => self
                .rate_limited
                .with_labels(&[&sender.to_string(), resource.as_str()])
                .inc(),
        }
    }
}

/// The `peer_id` of a shared limit's rejections (empty: no sender is to blame), `None` for
/// the sender's own limit.
fn shared_limit_peer_id(resource: RateLimitResource) -> Option<&'static str> {
    match resource {
        RateLimitResource::Message => None,
        RateLimitResource::SourceAddress | RateLimitResource::Global => Some(""),
    }
}
