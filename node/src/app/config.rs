//! The node's configuration: each setting from its flag, else its environment variable, else
//! its default, with every bad value reported at once (like linkerd's `env.rs`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use dawn_daemon::config::{ConfigErrors, Env, PERIOD_EXPECT, Period, Settings, Switch};
use dawn_daemon::logging::LogConfig;

use super::cli::RunArgs;
use crate::p2p::{
    DEFAULT_MAX_PEERS, NodeId, NodeIdListError, PeerAddr, PeerListError, PeerPolicy,
    parse_node_id_list, parse_peer_list,
};
use crate::resilience::{BreakerConfig, RateLimitConfig};
use crate::telemetry::{DEFAULT_SOCKET_PATH, TelemetryConfig};

/// Data root.
pub const ENV_DATA_ROOT: &str = crate::storage::ENV_DATA_ROOT;
/// Exporter socket.
pub const ENV_SOCKET: &str = dawn_proto::ENV_SOCKET;
/// Whether telemetry is shipped to the exporter at all (`on`/`off`).
pub const ENV_TELEMETRY: &str = "PROJECT_DAWN_TELEMETRY";
/// Telemetry flush interval in milliseconds.
pub const ENV_FLUSH_MS: &str = "PROJECT_DAWN_TELEMETRY_FLUSH_MS";
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
/// Default telemetry flush interval, in milliseconds.
pub const DEFAULT_FLUSH_MS: u64 = 1000;
/// Default gossip period (DESIGN).
pub const DEFAULT_GOSSIP_INTERVAL: Duration = Duration::from_secs(60);
/// Largest accepted peer limit.
pub const MAX_MAX_PEERS: usize = 10_000;

/// Longest Unix socket path (`sun_path` holds 108 bytes including the final NUL).
const MAX_SOCKET_PATH: usize = 107;
/// Longest node id override.
const MAX_NODE_ID: usize = 128;

/// Everything `dawn-node run` needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    /// Directory of persistent state.
    pub data_root: PathBuf,
    /// Exporter socket.
    pub socket: PathBuf,
    /// Whether telemetry is shipped (`--telemetry on`, the default). Off: the node never
    /// connects to the socket; its metric handles still record in memory.
    pub telemetry_enabled: bool,
    /// Telemetry flush interval.
    pub flush_interval: Duration,
    /// P2P bind address.
    pub host: IpAddr,
    /// P2P UDP port.
    pub p2p_port: u16,
    /// Node id to report instead of the identity key's.
    pub node_id: Option<String>,
    /// How often the data root is probed for the `storage` health check.
    pub storage_check_interval: Duration,
    /// Peers to join and keep connected.
    pub bootstrap: Vec<PeerAddr>,
    /// How often peer lists are exchanged.
    pub gossip_interval: Duration,
    /// Peer limit and trust.
    pub policy: PeerPolicy,
    /// Circuit breaker per peer.
    pub breaker: BreakerConfig,
    /// Rate limit per sender.
    pub rate_limit: RateLimitConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_root: PathBuf::from(DEFAULT_DATA_ROOT),
            socket: PathBuf::from(DEFAULT_SOCKET_PATH),
            telemetry_enabled: true,
            flush_interval: Duration::from_millis(DEFAULT_FLUSH_MS),
            host: DEFAULT_HOST,
            p2p_port: DEFAULT_P2P_PORT,
            node_id: None,
            storage_check_interval: Duration::from_secs(30),
            bootstrap: Vec::new(),
            gossip_interval: DEFAULT_GOSSIP_INTERVAL,
            policy: PeerPolicy::default(),
            breaker: BreakerConfig::default(),
            rate_limit: RateLimitConfig::default(),
        }
    }
}

/// A peer list setting (`PROJECT_DAWN_BOOTSTRAP`), parsed by [`parse_peer_list`].
#[derive(Debug, Clone, Default)]
struct PeerList(Vec<PeerAddr>);

impl FromStr for PeerList {
    type Err = PeerListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_peer_list(s).map(PeerList)
    }
}

/// A node id list setting (`PROJECT_DAWN_TRUSTED_PEERS`), parsed by [`parse_node_id_list`].
#[derive(Debug, Clone, Default)]
struct NodeIdList(Vec<NodeId>);

impl FromStr for NodeIdList {
    type Err = NodeIdListError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_node_id_list(s).map(NodeIdList)
    }
}

/// The data root: `--data-root` (raw text `flag`), else `PROJECT_DAWN_DATA_ROOT`, else
/// [`DEFAULT_DATA_ROOT`]; shared by `run` and `id` so both find the same identity.
pub fn resolve_data_root(s: &mut Settings<'_>, flag: Option<&str>) -> PathBuf {
    let root: String = s.resolve(
        "--data-root",
        flag,
        ENV_DATA_ROOT,
        DEFAULT_DATA_ROOT.to_owned(),
        "a directory path",
        |p: &String| !p.trim().is_empty(),
    );
    PathBuf::from(root.trim())
}

/// Whether `id` is an acceptable node id override (empty means "not set").
fn valid_node_id(id: &str) -> bool {
    id.len() <= MAX_NODE_ID
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
}

impl NodeConfig {
    /// Resolves every setting (and the logging settings) from `args` and `env`; `Err` lists
    /// every bad value.
    pub fn resolve(args: &RunArgs, env: &dyn Env) -> Result<(NodeConfig, LogConfig), ConfigErrors> {
        let mut s = Settings::new(env);
        let log = LogConfig::from_settings(&mut s);
        let d = NodeConfig::default();

        let data_root = resolve_data_root(&mut s, args.data_root.as_deref());
        let socket: String = s.resolve(
            "--socket",
            args.socket.as_deref(),
            ENV_SOCKET,
            DEFAULT_SOCKET_PATH.to_owned(),
            "a path of at most 107 bytes",
            |p: &String| !p.trim().is_empty() && p.len() <= MAX_SOCKET_PATH,
        );
        let telemetry: Switch = s.resolve(
            "--telemetry",
            args.telemetry.as_deref(),
            ENV_TELEMETRY,
            Switch(true),
            "on or off",
            |_| true,
        );
        let flush_ms: u64 = s.resolve(
            "--flush-ms",
            args.flush_ms.as_deref(),
            ENV_FLUSH_MS,
            DEFAULT_FLUSH_MS,
            "an integer number of milliseconds 1-60000",
            |ms: &u64| (1..=60_000).contains(ms),
        );
        let host: IpAddr = s.resolve(
            "--host",
            args.host.as_deref(),
            ENV_HOST,
            d.host,
            "an IPv4 or IPv6 address such as 0.0.0.0 or ::",
            |_| true,
        );
        let p2p_port: u16 = s.resolve(
            "--p2p-port",
            args.p2p_port.as_deref(),
            ENV_P2P_PORT,
            d.p2p_port,
            "a port 1-65535",
            |p: &u16| *p > 0,
        );
        let node_id: String = s.resolve(
            "--node-id",
            args.node_id.as_deref(),
            ENV_NODE_ID,
            String::new(),
            "1-128 characters of A-Z a-z 0-9 . _ : -",
            |id: &String| valid_node_id(id.trim()),
        );

        let bootstrap: PeerList = s.resolve(
            "--bootstrap",
            args.bootstrap.as_deref(),
            ENV_BOOTSTRAP,
            PeerList::default(),
            "comma-separated HOST:PORT entries, each optionally with @NODE_ID",
            |_| true,
        );
        let gossip_interval: Period = s.resolve(
            "--gossip-interval",
            args.gossip_interval.as_deref(),
            ENV_GOSSIP_INTERVAL,
            Period(DEFAULT_GOSSIP_INTERVAL),
            PERIOD_EXPECT,
            Period::in_range,
        );
        let max_peers: usize = s.resolve(
            "--max-peers",
            args.max_peers.as_deref(),
            ENV_MAX_PEERS,
            DEFAULT_MAX_PEERS,
            "an integer from 1 to 10000",
            |n: &usize| (1..=MAX_MAX_PEERS).contains(n),
        );
        let reject_unknown: Switch = s.resolve(
            "--reject-unknown",
            args.reject_unknown.as_deref(),
            ENV_REJECT_UNKNOWN,
            Switch(false),
            "true or false",
            |_| true,
        );
        let trusted: NodeIdList = s.resolve(
            "--trusted-peers",
            args.trusted_peers.as_deref(),
            ENV_TRUSTED_PEERS,
            NodeIdList::default(),
            "comma-separated node ids of 64 hex digits",
            |_| true,
        );
        let breaker = BreakerConfig::from_settings(
            &mut s,
            args.cb_threshold.as_deref(),
            args.cb_timeout.as_deref(),
        );
        let rate_limit = RateLimitConfig::from_settings(
            &mut s,
            args.rate_limit_max.as_deref(),
            args.rate_limit_window.as_deref(),
        );

        s.finish()?;
        let config = NodeConfig {
            data_root,
            socket: PathBuf::from(socket.trim()),
            telemetry_enabled: telemetry.0,
            flush_interval: Duration::from_millis(flush_ms),
            host,
            p2p_port,
            node_id: Some(node_id.trim().to_owned()).filter(|id| !id.is_empty()),
            bootstrap: bootstrap.0,
            gossip_interval: gossip_interval.0,
            policy: PeerPolicy {
                max_peers,
                reject_unknown: reject_unknown.0,
                trusted: trusted.0.into_iter().collect(),
            },
            breaker,
            rate_limit,
            ..d
        };
        Ok((config, log))
    }

    /// The UDP address the peer-to-peer endpoint binds.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.p2p_port)
    }

    /// The telemetry settings for a node known as `node_id`.
    pub fn telemetry(&self, node_id: &str) -> TelemetryConfig {
        TelemetryConfig {
            flush_interval: self.flush_interval,
            ship: self.telemetry_enabled,
            ..TelemetryConfig::new(&self.socket, node_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn resolve(args: &RunArgs, pairs: &[(&str, &str)]) -> Result<NodeConfig, ConfigErrors> {
        NodeConfig::resolve(args, &env(pairs)).map(|(c, _)| c)
    }

    #[test]
    fn defaults() {
        assert_eq!(
            resolve(&RunArgs::default(), &[]).unwrap(),
            NodeConfig::default()
        );
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let args = RunArgs {
            p2p_port: Some("9001".into()),
            ..RunArgs::default()
        };
        let c = resolve(
            &args,
            &[
                (ENV_P2P_PORT, "9000"),
                (ENV_FLUSH_MS, "250"),
                (ENV_HOST, "::1"),
                (ENV_DATA_ROOT, "/var/lib/dawn"),
                (ENV_SOCKET, "/run/dawn/t.sock"),
                (ENV_NODE_ID, "node-7"),
            ],
        )
        .unwrap();
        assert_eq!(c.p2p_port, 9001);
        assert_eq!(c.flush_interval, Duration::from_millis(250));
        assert_eq!(c.host, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(c.data_root, PathBuf::from("/var/lib/dawn"));
        assert_eq!(c.socket, PathBuf::from("/run/dawn/t.sock"));
        assert_eq!(c.node_id.as_deref(), Some("node-7"));
        assert_eq!(c.telemetry("x").flush_interval, Duration::from_millis(250));
    }

    #[test]
    fn peer_settings() {
        let id = "ab".repeat(32);
        let args = RunArgs {
            max_peers: Some("3".into()),
            cb_timeout: Some("500ms".into()),
            ..RunArgs::default()
        };
        let c = resolve(
            &args,
            &[
                (ENV_BOOTSTRAP, &format!("127.0.0.1:8001, node-2:8002@{id},")),
                (ENV_GOSSIP_INTERVAL, "2"),
                (ENV_MAX_PEERS, "9"),
                (ENV_REJECT_UNKNOWN, "yes"),
                (ENV_TRUSTED_PEERS, &id),
                ("PROJECT_DAWN_RATE_LIMIT_MAX", "7"),
            ],
        )
        .unwrap();
        assert_eq!(c.bootstrap.len(), 2);
        assert_eq!(c.bootstrap[1].to_string(), format!("node-2:8002@{id}"));
        assert_eq!(c.gossip_interval, Duration::from_secs(2));
        assert_eq!(c.policy.max_peers, 3);
        assert!(c.policy.reject_unknown);
        assert_eq!(c.policy.trusted.len(), 1);
        assert_eq!(c.breaker.open_for, Duration::from_millis(500));
        assert_eq!(c.rate_limit.max, 7);
        assert_eq!(c.listen_addr(), "0.0.0.0:8000".parse().unwrap());
    }

    #[test]
    fn telemetry_on_or_off() {
        assert!(NodeConfig::default().telemetry_enabled);
        assert!(NodeConfig::default().telemetry("n").ship);
        let off = resolve(&RunArgs::default(), &[(ENV_TELEMETRY, "off")]).unwrap();
        assert!(!off.telemetry_enabled);
        assert!(!off.telemetry("n").ship);
        let args = RunArgs {
            telemetry: Some("on".into()),
            ..RunArgs::default()
        };
        let on = resolve(&args, &[(ENV_TELEMETRY, "off")]).unwrap();
        assert!(on.telemetry_enabled, "the flag beats the variable");
        let args = RunArgs {
            telemetry: Some("OFF".into()),
            ..RunArgs::default()
        };
        assert!(!resolve(&args, &[]).unwrap().telemetry_enabled);
        let errors = resolve(&RunArgs::default(), &[(ENV_TELEMETRY, "disabled")]).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].key, ENV_TELEMETRY);
        assert!(errors.0[0].message.contains("on or off"), "{errors}");
    }

    #[test]
    fn an_empty_node_id_means_unset() {
        let c = resolve(&RunArgs::default(), &[(ENV_NODE_ID, "")]).unwrap();
        assert_eq!(c.node_id, None);
    }

    #[test]
    fn every_bad_value_is_reported_by_name() {
        let args = RunArgs {
            host: Some("localhost".into()),
            ..RunArgs::default()
        };
        let errors = resolve(
            &args,
            &[
                (ENV_P2P_PORT, "0"),
                (ENV_FLUSH_MS, "60001"),
                (ENV_TELEMETRY, "maybe"),
                (ENV_NODE_ID, "has space"),
                (ENV_SOCKET, &"x".repeat(200)),
                (ENV_DATA_ROOT, " "),
                ("LOG_LEVEL", "loud"),
                (ENV_BOOTSTRAP, "node-1:8000,nohost"),
                (ENV_GOSSIP_INTERVAL, "0"),
                (ENV_MAX_PEERS, "0"),
                (ENV_REJECT_UNKNOWN, "maybe"),
                (ENV_TRUSTED_PEERS, "abc"),
                ("PROJECT_DAWN_CB_THRESHOLD", "0"),
                ("PROJECT_DAWN_RATE_LIMIT_WINDOW", "soon"),
            ],
        )
        .unwrap_err();
        let text = errors.to_string();
        for key in [
            "--host",
            ENV_P2P_PORT,
            ENV_FLUSH_MS,
            ENV_TELEMETRY,
            ENV_NODE_ID,
            ENV_SOCKET,
            ENV_DATA_ROOT,
            "LOG_LEVEL",
            ENV_BOOTSTRAP,
            ENV_GOSSIP_INTERVAL,
            ENV_MAX_PEERS,
            ENV_REJECT_UNKNOWN,
            ENV_TRUSTED_PEERS,
            "PROJECT_DAWN_CB_THRESHOLD",
            "PROJECT_DAWN_RATE_LIMIT_WINDOW",
        ] {
            assert!(
                text.contains(&format!("{key}: ")),
                "{key} missing in:\n{text}"
            );
        }
        assert!(text.contains("expected a port 1-65535"), "{text}");
        assert!(text.contains("1-60000"), "{text}");
        assert!(text.contains("bad peer address `nohost`"), "{text}");
        assert_eq!(errors.0.len(), 15, "{text}");
    }
}
