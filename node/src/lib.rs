//! The lean Dawn peer-to-peer node.
//!
//! - [`telemetry`]: the client side of the telemetry socket — metric handles, aggregation and
//!   the background shipper to the sidecar exporter.
//! - [`p2p`]: QUIC transport (quinn), identity, peers and discovery.
//! - [`rpc`]: request/response/notification messages and error codes.
//! - [`agents`]: agents and their tools (operations).
//! - [`resilience`]: circuit breaker and rate limiter.
//! - [`storage`]: the data root and persistent state.
//! - [`app`]: `dawn-node run`: configuration, start-up, health rules and graceful shutdown.

#![forbid(unsafe_code)]

pub mod agents;
pub mod app;
pub mod p2p;
pub mod resilience;
pub mod rpc;
pub mod storage;
pub mod telemetry;
