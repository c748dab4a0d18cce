//! The node's settings, each written once: flag, variable, help, accepted values, default
//! and parser. `dawn-node run --help` ([`super::Cli`]) and [`super::NodeConfig::resolve`]
//! both read this table; a new setting is one entry here, one line in [`RunSettings`] and
//! one field in `config.rs`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use dawn_daemon::config::{
    Entry, Flag, Flags, Invalid, OnOff, PERIOD_EXPECT, Period, Setting, Switch, Table, parsed,
    period, within,
};
use dawn_daemon::logging;
use dawn_daemon::uids::Uids;

use crate::p2p::{DEFAULT_MAX_PEERS, NodeId, PeerAddr, parse_node_id_list, parse_peer_list};
use crate::resilience::{BreakerConfig, RateLimitConfig, RequestLimitsConfig};

/// Data root.
pub const ENV_DATA_ROOT: &str = crate::storage::ENV_DATA_ROOT;
/// Exporter socket.
pub const ENV_SOCKET: &str = dawn_proto::ENV_SOCKET;
/// Whether telemetry is shipped to the exporter at all (`on`/`off`).
pub const ENV_TELEMETRY: &str = "PROJECT_DAWN_TELEMETRY";
/// Whether the node's latency and size histograms record native buckets (`on`/`off`).
pub const ENV_NATIVE_HISTOGRAMS: &str = "PROJECT_DAWN_TELEMETRY_NATIVE_HISTOGRAMS";
/// Newest wire protocol version offered to the exporter.
pub const ENV_TELEMETRY_MAX_PROTOCOL_VERSION: &str = "PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION";
/// Telemetry flush interval in milliseconds.
pub const ENV_FLUSH_MS: &str = "PROJECT_DAWN_TELEMETRY_FLUSH_MS";
/// Exporter users trusted besides the node's own and root.
pub const ENV_EXPORTER_UIDS: &str = "PROJECT_DAWN_TELEMETRY_EXPORTER_UIDS";
/// P2P bind address.
pub const ENV_HOST: &str = "PROJECT_DAWN_HOST";
/// P2P UDP port.
pub const ENV_P2P_PORT: &str = "PROJECT_DAWN_P2P_PORT";
/// Node id override.
pub const ENV_NODE_ID: &str = "PROJECT_DAWN_NODE_ID";
/// Peers to join at start.
pub const ENV_BOOTSTRAP: &str = "PROJECT_DAWN_BOOTSTRAP";
/// Gossip period.
pub const ENV_GOSSIP_INTERVAL: &str = "PROJECT_DAWN_GOSSIP_INTERVAL";
/// Peer limit.
pub const ENV_MAX_PEERS: &str = "PROJECT_DAWN_MAX_PEERS";
/// Admit trusted peers only.
pub const ENV_REJECT_UNKNOWN: &str = "PROJECT_DAWN_REJECT_UNKNOWN";
/// The trusted node ids.
pub const ENV_TRUSTED_PEERS: &str = "PROJECT_DAWN_TRUSTED_PEERS";

/// Default data root, relative to the working directory.
pub const DEFAULT_DATA_ROOT: &str = "./data";
/// Default P2P bind address.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Default P2P UDP port.
pub const DEFAULT_P2P_PORT: u16 = 8000;
/// Default gossip period (docs/node.md).
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_secs(60);
/// Largest accepted peer limit.
pub const MAX_MAX_PEERS: usize = 10_000;

/// Longest node id override.
const MAX_NODE_ID: usize = 128;

/// The flags of `dawn-node run`, as given on the command line.
pub type RunArgs = Flags<RunSettings>;
/// The flags of `dawn-node id`, as given on the command line.
pub type IdArgs = Flags<IdSettings>;

/// The table of `dawn-node run`'s settings, in `--help` order.
#[derive(Debug)]
pub struct RunSettings;

impl Table for RunSettings {
    const SETTINGS: &'static [&'static dyn Entry] = &[
        &DATA_ROOT,
        &SOCKET,
        &TELEMETRY,
        &NATIVE_HISTOGRAMS,
        &TELEMETRY_MAX_PROTOCOL_VERSION,
        &FLUSH_MS,
        &EXPORTER_UIDS,
        &HOST,
        &P2P_PORT,
        &NODE_ID,
        &BOOTSTRAP,
        &GOSSIP_INTERVAL,
        &MAX_PEERS,
        &REJECT_UNKNOWN,
        &TRUSTED_PEERS,
        &BreakerConfig::THRESHOLD_SETTING,
        &BreakerConfig::OPEN_FOR_SETTING,
        &RateLimitConfig::MAX_SETTING,
        &RateLimitConfig::WINDOW_SETTING,
        &RequestLimitsConfig::ADDRESS_MAX_SETTING,
        &RequestLimitsConfig::GLOBAL_MAX_SETTING,
        &logging::LEVEL,
        &logging::FORMAT,
        &logging::DIRECTIVES,
        &logging::FILE,
    ];
}

/// The table of `dawn-node id`'s settings: the data root, found as `run` finds it.
#[derive(Debug)]
pub struct IdSettings;

impl Table for IdSettings {
    const SETTINGS: &'static [&'static dyn Entry] = &[&DATA_ROOT];
}

pub(super) const DATA_ROOT: Setting<PathBuf> = Setting {
    flag: Flag::Value("data-root", "DIR"),
    env: Some(ENV_DATA_ROOT),
    help: "Directory of the node's persistent state (identity key, ...); created (mode 0700) when missing. Relative paths are relative to the working directory.",
    accepts: "a directory path",
    default: || PathBuf::from(DEFAULT_DATA_ROOT),
    parse: |s| match s {
        "" => Err(Invalid::OutOfRange),
        root => Ok(PathBuf::from(root)),
    },
};

pub(super) const SOCKET: Setting<PathBuf> = Setting {
    help: "Unix socket of the dawn-exporter sidecar. The node runs the same whether or not an exporter listens there, and reconnects when one appears.",
    ..dawn_daemon::config::SOCKET
};

pub(super) const TELEMETRY: Setting<OnOff> = Setting {
    flag: Flag::Value("telemetry", "on|off"),
    env: Some(ENV_TELEMETRY),
    help: "Ship metrics, health and readiness to the exporter. Off: the node never connects to the socket and logs nothing about it; metrics are still counted in memory.",
    accepts: "on or off",
    default: || OnOff(true),
    parse: parsed,
};

pub(super) const NATIVE_HISTOGRAMS: Setting<OnOff> = Setting {
    flag: Flag::Value("native-histograms", "on|off"),
    env: Some(ENV_NATIVE_HISTOGRAMS),
    help: "Record native (exponential) buckets beside the classic ones in p2p_message_latency_seconds, p2p_agent_operation_latency_seconds and p2p_message_size_bytes, shipped to exporters that speak protocol version 2. Off: classic buckets only, and no cost per observation for the native ones.",
    accepts: "on or off",
    default: || OnOff(true),
    parse: parsed,
};

pub(super) const TELEMETRY_MAX_PROTOCOL_VERSION: Setting<u16> = Setting {
    flag: Flag::Value("telemetry-max-protocol-version", "1|2"),
    env: Some(ENV_TELEMETRY_MAX_PROTOCOL_VERSION),
    help: "Newest wire protocol version offered to the exporter. 1 speaks exactly as a node from before native histograms (version 2): only their classic buckets are shipped, whatever the exporter speaks.",
    accepts: "1 or 2",
    default: || dawn_proto::MAX_SUPPORTED_VERSION,
    parse: |s| {
        within(
            s,
            dawn_proto::MIN_SUPPORTED_VERSION..=dawn_proto::MAX_SUPPORTED_VERSION,
        )
    },
};

pub(super) const FLUSH_MS: Setting<u64> = Setting {
    flag: Flag::Value("flush-ms", "MS"),
    env: Some(ENV_FLUSH_MS),
    help: "How often changed metrics and a heartbeat are sent to the exporter, in milliseconds.",
    accepts: "an integer number of milliseconds 1-60000",
    default: || {
        let default = dawn_telemetry::DEFAULT_FLUSH_INTERVAL.as_millis();
        u64::try_from(default).unwrap_or(u64::MAX)
    },
    parse: |s| within(s, 1..=60_000),
};

pub(super) const EXPORTER_UIDS: Setting<Uids> = Setting {
    flag: Flag::Value("telemetry-exporter-uids", "UIDS"),
    env: Some(ENV_EXPORTER_UIDS),
    help: "Users whose exporter may receive the telemetry besides the node's own and root; an exporter running as anyone else (the kernel reports its uid) gets nothing, and the node says why once.",
    accepts: Uids::ACCEPTS,
    default: Uids::default,
    parse: parsed,
};

pub(super) const HOST: Setting<IpAddr> = Setting {
    flag: Flag::Value("host", "IP"),
    env: Some(ENV_HOST),
    help: "IP address the peer-to-peer transport binds (UDP).",
    accepts: "an IPv4 or IPv6 address such as 0.0.0.0 or ::",
    default: || DEFAULT_HOST,
    parse: parsed,
};

pub(super) const P2P_PORT: Setting<u16> = Setting {
    flag: Flag::Value("p2p-port", "PORT"),
    env: Some(ENV_P2P_PORT),
    help: "UDP port of the peer-to-peer transport.",
    accepts: "a port 1-65535",
    default: || DEFAULT_P2P_PORT,
    parse: |s| within(s, 1..=u16::MAX),
};

pub(super) const NODE_ID: Setting<Option<String>> = Setting {
    flag: Flag::Value("node-id", "ID"),
    env: Some(ENV_NODE_ID),
    help: "Node id reported in telemetry and logs instead of the one derived from the identity key (the peer-to-peer identity is always the key's). None or empty: the identity key's node id.",
    accepts: "1-128 characters of A-Z a-z 0-9 . _ : -",
    default: || None,
    parse: node_id,
};

pub(super) const BOOTSTRAP: Setting<Vec<PeerAddr>> = Setting {
    flag: Flag::Value("bootstrap", "PEERS"),
    env: Some(ENV_BOOTSTRAP),
    help: "Peers to join at start, each optionally with the node id it must have; kept connected (redialed with backoff).",
    accepts: "comma-separated HOST:PORT entries, each optionally with @NODE_ID",
    default: Vec::new,
    parse: |s| parse_peer_list(s).map_err(|e| Invalid::Malformed(e.to_string())),
};

pub(super) const GOSSIP_INTERVAL: Setting<Period> = Setting {
    flag: Flag::Value("gossip-interval", "PERIOD"),
    env: Some(ENV_GOSSIP_INTERVAL),
    help: "How often peer lists are exchanged with every connected peer.",
    accepts: PERIOD_EXPECT,
    default: || Period(DEFAULT_GOSSIP_INTERVAL),
    parse: period,
};

pub(super) const MAX_PEERS: Setting<usize> = Setting {
    flag: Flag::Value("max-peers", "N"),
    env: Some(ENV_MAX_PEERS),
    help: "Connected peers at most; further connections are refused and counted.",
    accepts: "an integer from 1 to 10000",
    default: || DEFAULT_MAX_PEERS,
    parse: |s| within(s, 1..=MAX_MAX_PEERS),
};

pub(super) const REJECT_UNKNOWN: Setting<Switch> = Setting {
    flag: Flag::Value("reject-unknown", "BOOL"),
    env: Some(ENV_REJECT_UNKNOWN),
    help: "Admit only the peers listed in --trusted-peers.",
    accepts: "true or false",
    default: || Switch(false),
    parse: parsed,
};

pub(super) const TRUSTED_PEERS: Setting<Vec<NodeId>> = Setting {
    flag: Flag::Value("trusted-peers", "IDS"),
    env: Some(ENV_TRUSTED_PEERS),
    help: "Node ids admitted when --reject-unknown is on (see `dawn-node id`).",
    accepts: "comma-separated node ids of 64 hex digits",
    default: Vec::new,
    parse: |s| parse_node_id_list(s).map_err(|e| Invalid::Malformed(e.to_string())),
};

/// A node id override; empty means unset.
fn node_id(text: &str) -> Result<Option<String>, Invalid> {
    let valid = text.len() <= MAX_NODE_ID
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    match text {
        "" => Ok(None),
        id if valid => Ok(Some(id.to_owned())),
        _ => Err(Invalid::OutOfRange),
    }
}
