//! The node's metric catalogue: every metric it records ([`metrics`]) and every closed set
//! of label values as an enum ([`labels`]). One source of truth for the node, its docs and
//! the tests; the wire (`dawn-proto`) and the exporter know none of it.

pub mod labels;
pub mod metrics;

pub use labels::{
    BreakerState, ClosedLabel, Component, ConnectionStatus, MessageStatus, MessageType,
    NodeFailure, OperationStatus, RateLimitResource, closed_labels,
};
pub use metrics::*;
