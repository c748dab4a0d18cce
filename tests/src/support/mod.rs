//! Helpers shared by the end-to-end tests.
//!
//! - [`binaries`]: builds the real binaries once per test process and finds them;
//! - [`process`]: spawns an exporter or a node in its own temp dir, with its own socket and
//!   port, logs to a file shown when a test fails, killed on drop;
//! - [`http`]: blocking GETs through the daemon's HTTP/1.1 client, bodies gunzipped and
//!   parsed for the test;
//! - [`exposition`]: a Prometheus text / OpenMetrics parser good enough to read a sample;
//! - [`memory`]: a child's resident size (`VmRSS`) and its peak during an attack;
//! - [`wire`]: a raw telemetry client speaking frames over a Unix socket;
//! - [`prometheus`]: a real Prometheus server and a format-forcing scrape proxy;
//! - [`protobuf`]: the protobuf exposition decoded, to see a histogram's native buckets
//!   without a Prometheus;
//! - [`resync`]: a minimal wire-level client that resyncs its totals after every reconnect;
//! - [`tools`]: what a test may need from outside the workspace (`prometheus`, `promtool`,
//!   Alertmanager, `amtool`, `prlimit`, `setpriv`, Python modules such as
//!   `kubernetes_validate`, root, Docker with a Compose tool and local images): one probe
//!   each, saying what is missing and how to install it;
//! - [`harness`]: the `harness = false` test binaries of the tests with such needs: a test
//!   whose need is missing is reported as ignored, with the reason printed after the run,
//!   and runs (and fails) under `CI=true`; [`trial!`](crate::trial) names a test after its
//!   function;
//! - [`p2p`]: node + exporter pairs and a JSON-RPC caller over QUIC;
//! - [`eventually`](mod@eventually): the one patience setting and the polling helper built
//!   on it;
//! - [`deploy`]: the shipped `deploy/` files (Prometheus rules and config, Alertmanager
//!   config, Grafana dashboard), their test copies and a Prometheus running them;
//! - [`alertmanager`]: a real Alertmanager and a webhook receiver that records notifications;
//! - [`promql`]: splits a PromQL expression at its outermost operator;
//! - [`tls`]: a test CA, server certificates, bcrypt hashes and HTTPS GETs for the web
//!   config tests.

pub mod alertmanager;
pub mod binaries;
pub mod deploy;
pub mod eventually;
pub mod exposition;
pub mod harness;
pub mod http;
pub mod memory;
pub mod p2p;
pub mod process;
pub mod prometheus;
pub mod promql;
pub mod protobuf;
pub mod resync;
pub mod tls;
pub mod tools;
pub mod wire;

pub use eventually::{PATIENCE, eventually, patience};
pub use exposition::Exposition;
pub use http::{Response, get, get_with};
pub use p2p::{Caller, Pair};
pub use process::{Exporter, ExporterOptions, Node, Proc, free_port};
pub use wire::RawClient;
