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
    Run(RunArgs),
    /// Print this node's id (derived from its identity key under the data root, which is
    /// created on first use), e.g. to list it as a trusted or bootstrap peer elsewhere.
    Id(IdArgs),
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
}
