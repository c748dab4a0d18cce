//! Command-line flags. Every value flag is optional text: [`super::NodeConfig::resolve`]
//! parses it, falls back to its environment variable and then its default, and reports every
//! bad value at once (exit 64) before anything is opened or bound.

use clap::{Args, Parser, Subcommand};

/// `dawn-node`: the lean Dawn peer-to-peer node.
#[derive(Debug, Parser)]
#[command(
    name = "dawn-node",
    version,
    about = "The lean Dawn peer-to-peer node. Its metrics, health and readiness go to the dawn-exporter sidecar over a Unix socket.",
    long_about = None,
    after_help = "Logging: LOG_LEVEL (debug, info, warning, error, critical), LOG_FORMAT (text, json), RUST_LOG (overrides the level), PROJECT_DAWN_LOG_FILE (extra log file).\nEvery flag beats its environment variable, which beats the default."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node until SIGTERM or SIGINT.
    Run(Box<RunArgs>),
    /// Print this node's id (derived from its identity key under the data root, which is
    /// created on first use), e.g. to list it as a trusted or bootstrap peer elsewhere.
    Id(IdArgs),
    /// Call a JSON-RPC method on a running node and print the JSON result; on an error
    /// reply or a failed connection, print the error to stderr and exit 1.
    ///
    /// Example: dawn-node call --peer 127.0.0.1:8000 agent/call '{"agent":"kv","tool":"put","params":{"key":"a","value":1}}'
    Call(CallArgs),
}

/// Flags of `dawn-node call`.
#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "Methods: node/ping, node/info, node/peers, agent/list, agent/call {\"agent\",\"tool\",\"params\"}, node/relay {\"peer\",\"method\",\"params\",\"timeout_ms\"}.\nThe call connects as a client: the node serves it without counting it as a peer."
)]
pub struct CallArgs {
    /// The node to call: HOST:PORT (its UDP p2p port), optionally HOST:PORT@NODE_ID to
    /// insist on that node.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peer: String,

    /// The method, e.g. node/info.
    #[arg(value_name = "METHOD")]
    pub method: String,

    /// The params as JSON (an object or an array); none when omitted.
    #[arg(value_name = "JSON-PARAMS")]
    pub params: Option<String>,

    /// How long to wait for the reply, connecting included (e.g. 500ms, 10s).
    /// [default: 10s]
    #[arg(long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Call with the identity under this data root (e.g. to be admitted by a node with
    /// --reject-unknown) instead of a fresh one.
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<String>,
}

/// Flags of `dawn-node id`.
#[derive(Debug, Clone, Default, Args)]
pub struct IdArgs {
    /// Directory of the node's persistent state, as for `run`.
    /// [env: PROJECT_DAWN_DATA_ROOT] [default: ./data]
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<String>,
}

/// Flags of `dawn-node run`.
#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "Logging: LOG_LEVEL (debug, info, warning, error, critical), LOG_FORMAT (text, json), RUST_LOG (overrides the level), PROJECT_DAWN_LOG_FILE (extra log file).\nEvery flag beats its environment variable, which beats the default."
)]
pub struct RunArgs {
    /// Directory of the node's persistent state (identity key, ...); created (mode 0700)
    /// when missing. Relative paths are relative to the working directory.
    /// [env: PROJECT_DAWN_DATA_ROOT] [default: ./data]
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<String>,

    /// Unix socket of the dawn-exporter sidecar. The node runs the same whether or not an
    /// exporter listens there, and reconnects when one appears.
    /// [env: PROJECT_DAWN_TELEMETRY_SOCKET] [default: /tmp/dawn/telemetry.sock]
    #[arg(long = "socket", value_name = "PATH")]
    pub socket: Option<String>,

    /// Ship metrics, health and readiness to the exporter (on/off). Off: the node never
    /// connects to the socket and logs nothing about it; metrics are still counted in memory.
    /// [env: PROJECT_DAWN_TELEMETRY] [default: on]
    #[arg(long = "telemetry", value_name = "on|off")]
    pub telemetry: Option<String>,

    /// How often changed metrics and a heartbeat are sent to the exporter, in milliseconds
    /// (1-60000). [env: PROJECT_DAWN_TELEMETRY_FLUSH_MS] [default: 1000]
    #[arg(long = "flush-ms", value_name = "MS", allow_hyphen_values = true)]
    pub flush_ms: Option<String>,

    /// IP address the peer-to-peer transport binds (UDP).
    /// [env: PROJECT_DAWN_HOST] [default: 0.0.0.0]
    #[arg(long = "host", value_name = "IP")]
    pub host: Option<String>,

    /// UDP port of the peer-to-peer transport (1-65535).
    /// [env: PROJECT_DAWN_P2P_PORT] [default: 8000]
    #[arg(long = "p2p-port", value_name = "PORT", allow_hyphen_values = true)]
    pub p2p_port: Option<String>,

    /// Node id reported in telemetry and logs instead of the one derived from the identity
    /// key (1-128 characters of A-Z a-z 0-9 . _ : -). The peer-to-peer identity is always
    /// the key's. [env: PROJECT_DAWN_NODE_ID] [default: the identity key's node id]
    #[arg(long = "node-id", value_name = "ID")]
    pub node_id: Option<String>,

    /// Peers to join at start, comma-separated `HOST:PORT`, each optionally with the
    /// expected node id as `HOST:PORT@NODE_ID`; kept connected (redialed with backoff).
    /// [env: PROJECT_DAWN_BOOTSTRAP] [default: none]
    #[arg(long = "bootstrap", value_name = "PEERS")]
    pub bootstrap: Option<String>,

    /// How often peer lists are exchanged with every connected peer: seconds, or a duration
    /// like 500ms, 30s, 5m. [env: PROJECT_DAWN_GOSSIP_INTERVAL] [default: 60]
    #[arg(
        long = "gossip-interval",
        value_name = "PERIOD",
        allow_hyphen_values = true
    )]
    pub gossip_interval: Option<String>,

    /// Connected peers at most (1-10000); further connections are refused and counted.
    /// [env: PROJECT_DAWN_MAX_PEERS] [default: 50]
    #[arg(long = "max-peers", value_name = "N", allow_hyphen_values = true)]
    pub max_peers: Option<String>,

    /// Admit only the peers listed in --trusted-peers (true/false).
    /// [env: PROJECT_DAWN_REJECT_UNKNOWN] [default: false]
    #[arg(long = "reject-unknown", value_name = "BOOL")]
    pub reject_unknown: Option<String>,

    /// Node ids admitted when --reject-unknown is on, comma-separated (see `dawn-node id`).
    /// [env: PROJECT_DAWN_TRUSTED_PEERS] [default: none]
    #[arg(long = "trusted-peers", value_name = "IDS")]
    pub trusted_peers: Option<String>,

    /// Consecutive failed calls to a peer that open its circuit breaker (1-1000000).
    /// [env: PROJECT_DAWN_CB_THRESHOLD] [default: 5]
    #[arg(long = "cb-threshold", value_name = "N", allow_hyphen_values = true)]
    pub cb_threshold: Option<String>,

    /// How long an open breaker refuses calls before letting one probe through: seconds or
    /// a duration. [env: PROJECT_DAWN_CB_TIMEOUT] [default: 60]
    #[arg(long = "cb-timeout", value_name = "PERIOD", allow_hyphen_values = true)]
    pub cb_timeout: Option<String>,

    /// Requests (and notifications) one sender may make per window (1-10000); more get
    /// error -32005 with retry_after. [env: PROJECT_DAWN_RATE_LIMIT_MAX] [default: 100]
    #[arg(long = "rate-limit-max", value_name = "N", allow_hyphen_values = true)]
    pub rate_limit_max: Option<String>,

    /// The rate limiter's sliding window: seconds or a duration.
    /// [env: PROJECT_DAWN_RATE_LIMIT_WINDOW] [default: 60]
    #[arg(
        long = "rate-limit-window",
        value_name = "PERIOD",
        allow_hyphen_values = true
    )]
    pub rate_limit_window: Option<String>,
}
