//! What every Dawn binary shares, so that the node and the exporter behave alike:
//! a loopback HTTP GET ([`http_get`]), configuration from flags and `PROJECT_DAWN_*`
//! variables with complete error reports ([`config`]), logging in the text and JSON
//! formats ([`logging`]), rate-limited logging of events an outsider can repeat
//! ([`log_limit`]), shutdown signals ([`shutdown`]), RFC 3339 timestamps ([`time`]), lists
//! of user ids ([`uids`]), and, for the workspace's tools (cluster, tests, benchmarks),
//! finding and building the binaries next to them ([`siblings`]) and the peer graph the
//! nodes' `node/peers` answers make ([`peer_graph`]).

pub mod config;
pub mod http_get;
pub mod log_limit;
pub mod logging;
pub mod peer_graph;
pub mod shutdown;
pub mod siblings;
pub mod time;
pub mod uids;
