//! Every label value of the node's metrics whose values are a closed set, as enums: a call
//! site names a variant, never a string, and the tests derive what must appear from here.

use dawn_telemetry::MetricSpec;

pub use crate::resilience::{BreakerState, RateLimitResource};
pub use crate::rpc::MessageType;

use super::metrics::{
    P2P_AGENT_OPERATIONS_TOTAL, P2P_CONNECTIONS_TOTAL, P2P_MESSAGE_LATENCY_SECONDS,
    P2P_MESSAGE_SIZE_BYTES, P2P_MESSAGES_TOTAL, P2P_RATE_LIMIT_REJECTIONS_TOTAL,
};

/// `p2p_connections_total{status}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// A peer was admitted.
    Success,
    /// A dial by this node failed (unreachable, timeout, wrong id, forged certificate).
    Failed,
    /// An authenticated peer was refused (limit, untrusted, self).
    Rejected,
    /// A peer's connection ended.
    Closed,
    /// An incoming connection attempt did not complete its handshake (timeout, TLS
    /// failure, wrong protocol): counted apart from `failed` because anyone can cause it
    /// at will with a few packets, even from a spoofed address.
    HandshakeFailed,
}

impl ConnectionStatus {
    /// Every status, in declaration order (so `status as usize` indexes it).
    pub const ALL: [Self; 5] = [
        Self::Success,
        Self::Failed,
        Self::Rejected,
        Self::Closed,
        Self::HandshakeFailed,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Closed => "closed",
            Self::HandshakeFailed => "handshake_failed",
        }
    }
}

/// The `status` of `p2p_messages_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageStatus {
    /// Handled (received) or answered (sent) as intended.
    Success,
    /// Malformed, refused, failed, or an error reply.
    Error,
    /// Refused (or answered with -32005) because the sender is over its rate limit.
    RateLimited,
}

impl MessageStatus {
    /// Every status, in declaration order (so `status as usize` indexes it).
    pub const ALL: [Self; 3] = [Self::Success, Self::Error, Self::RateLimited];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
            Self::RateLimited => "rate_limited",
        }
    }

    /// Whether a message of type `t` can have this status: a reply is never rate limited
    /// unless it is an error reply, and an error reply is never a success.
    pub const fn possible_for(self, t: MessageType) -> bool {
        !matches!(
            (t, self),
            (MessageType::Response, MessageStatus::RateLimited)
                | (MessageType::Error, MessageStatus::Success)
        )
    }
}

/// The `status` of `p2p_agent_operations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationStatus {
    /// The tool returned a result.
    Success,
    /// The tool failed or was refused.
    Error,
}

impl OperationStatus {
    /// Every status.
    pub const ALL: [Self; 2] = [Self::Success, Self::Error];

    /// The status of a tool call that succeeded (`true`) or not.
    pub const fn of(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Error }
    }

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Error => "error",
        }
    }
}

/// Where an error happened: the `component` label of `p2p_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// QUIC transport: dials, handshakes, streams.
    P2p,
    /// JSON-RPC decoding and dispatch.
    Rpc,
    /// Agent tools.
    Agents,
    /// Circuit breakers and rate limits.
    Resilience,
    /// Bootstrap and gossip.
    Discovery,
    /// The data root.
    Storage,
}

impl Component {
    /// Every component.
    pub const ALL: [Self; 6] = [
        Self::P2p,
        Self::Rpc,
        Self::Agents,
        Self::Resilience,
        Self::Discovery,
        Self::Storage,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::P2p => "p2p",
            Self::Rpc => "rpc",
            Self::Agents => "agents",
            Self::Resilience => "resilience",
            Self::Discovery => "discovery",
            Self::Storage => "storage",
        }
    }
}

/// The `error_type` of `p2p_errors_total` for failures that are the node's own rather than
/// a typed error's (transport, RPC and agent errors name themselves: `TransportError::kind`,
/// `ErrorCode::as_str`, `RpcError::as_str`, `AgentError::as_str`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeFailure {
    /// The data root cannot be used at start-up.
    StorageUnusable,
    /// The data root stopped being writable.
    StorageNotWritable,
    /// The persistent agents could not be loaded.
    AgentsLoadFailed,
    /// A call was refused because the peer's circuit breaker is open.
    CircuitOpen,
    /// A message of a shape that is not expected where it arrived.
    UnexpectedMessage,
    /// A relayed call's target answered with an error.
    RemoteError,
    /// A relayed call could not reach its target.
    RelayFailed,
    /// Node ids a connected peer listed among its own peers and the rotation did not keep,
    /// the peer's view being full (256 ids): counted per id, with `component="discovery"`.
    /// An honest peer lists at most its connected peers, far fewer.
    ViewFull,
}

impl NodeFailure {
    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::StorageUnusable => "unusable",
            Self::StorageNotWritable => "not_writable",
            Self::AgentsLoadFailed => "load_failed",
            Self::CircuitOpen => "circuit_open",
            Self::UnexpectedMessage => "unexpected_message",
            Self::RemoteError => "remote_error",
            Self::RelayFailed => "relay_failed",
            Self::ViewFull => "view_full",
        }
    }
}

/// A label whose values are a closed set, and every value it can take: what the tests
/// require to appear once the node has done each kind of work.
#[derive(Debug, Clone)]
pub struct ClosedLabel {
    /// The metric.
    pub metric: &'static MetricSpec,
    /// The label's name.
    pub label: &'static str,
    /// Every value it can take.
    pub values: Vec<&'static str>,
}

/// Every closed-set label of the catalogue with its values, derived from the enums above.
pub fn closed_labels() -> Vec<ClosedLabel> {
    let types = || {
        MessageType::ALL
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
    };
    vec![
        ClosedLabel {
            metric: &P2P_CONNECTIONS_TOTAL,
            label: "status",
            values: ConnectionStatus::ALL.map(ConnectionStatus::as_str).to_vec(),
        },
        ClosedLabel {
            metric: &P2P_MESSAGES_TOTAL,
            label: "type",
            values: types(),
        },
        ClosedLabel {
            metric: &P2P_MESSAGES_TOTAL,
            label: "status",
            values: MessageStatus::ALL.map(MessageStatus::as_str).to_vec(),
        },
        ClosedLabel {
            metric: &P2P_MESSAGE_LATENCY_SECONDS,
            label: "type",
            values: types(),
        },
        ClosedLabel {
            metric: &P2P_MESSAGE_SIZE_BYTES,
            label: "type",
            values: types(),
        },
        ClosedLabel {
            metric: &P2P_AGENT_OPERATIONS_TOTAL,
            label: "status",
            values: OperationStatus::ALL.map(OperationStatus::as_str).to_vec(),
        },
        ClosedLabel {
            metric: &P2P_RATE_LIMIT_REJECTIONS_TOTAL,
            label: "resource",
            values: RateLimitResource::ALL
                .map(RateLimitResource::as_str)
                .to_vec(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_labels_name_real_labels_of_the_catalogue() {
        for closed in closed_labels() {
            assert!(
                closed.metric.labels.contains(&closed.label),
                "{} has no label {}",
                closed.metric.name,
                closed.label
            );
            assert!(!closed.values.is_empty());
        }
    }
}
