//! End-to-end tests of Dawn: the integration tests under `tests/` spawn the real
//! `dawn-exporter` and `dawn-node` binaries, talk to them over real Unix sockets and HTTP, and
//! check the exposition with the real `promtool` and a real Prometheus server.
//!
//! [`support`] holds every helper they share, so that a test reads as the scenario it checks.

pub mod support;
