//! The lean Dawn peer-to-peer node.
//!
//! - [`catalogue`]: every metric the node records and the enums of their label values; the
//!   records leave through the `dawn-telemetry` client.
//! - [`p2p`]: QUIC transport (quinn), identity, peers and discovery.
//! - [`rpc`]: request/response/notification messages and error codes.
//! - [`agents`]: agents and their tools (operations).
//! - [`resilience`]: circuit breaker and rate limiter.
//! - [`storage`]: the data root and persistent state.
//! - [`service`]: the running node: JSON-RPC methods, gossip, outbound calls through the
//!   breakers, health checks, and the metrics of all of it.
//! - [`client`]: a JSON-RPC client of a node (`dawn-node call`, tools, tests).
//! - [`app`]: `dawn-node run`: configuration, start-up and graceful shutdown.

#![forbid(unsafe_code)]

pub mod agents;
pub mod app;
pub mod catalogue;
pub mod client;
mod limited_log;
pub mod p2p;
pub mod resilience;
pub mod rpc;
pub mod service;
pub mod storage;
