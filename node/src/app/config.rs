//! The node's configuration, resolved from the settings table (`settings.rs`): each
//! setting from its flag, else its environment variable, else its default, with every bad
//! value reported at once (like linkerd's `env.rs`).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use dawn_daemon::config::{ConfigErrors, Env, Settings};
use dawn_daemon::logging::LogConfig;
use dawn_daemon::uids::Uids;
use dawn_telemetry::TelemetryConfig;

use super::settings::{
    BOOTSTRAP, DATA_ROOT, EXPORTER_UIDS, FLUSH_MS, GOSSIP_INTERVAL, HOST, IdArgs, MAX_PEERS,
    NATIVE_HISTOGRAMS, NODE_ID, P2P_PORT, REJECT_UNKNOWN, RunArgs, SOCKET, TELEMETRY,
    TELEMETRY_MAX_PROTOCOL_VERSION, TRUSTED_PEERS,
};
use crate::p2p::{PeerAddr, PeerPolicy};
use crate::resilience::{BreakerConfig, RequestLimitsConfig};

/// How often the data root is probed for the `storage` health check.
const STORAGE_CHECK_INTERVAL: Duration = Duration::from_secs(30);

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
    /// Whether the histograms that ask for native buckets record them
    /// (`--native-histograms on`, the default).
    pub native_histograms: bool,
    /// Newest wire protocol version offered to the exporter
    /// (`--telemetry-max-protocol-version`, default the newest).
    pub telemetry_max_protocol_version: u16,
    /// Telemetry flush interval.
    pub flush_interval: Duration,
    /// Exporter users trusted besides the node's own and root.
    pub exporter_uids: Uids,
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
    /// Rate limits per sender, per source address and global.
    pub rate_limit: RequestLimitsConfig,
}

/// Every setting at its default: what `dawn-node run` does with no flag and no variable.
impl Default for NodeConfig {
    fn default() -> Self {
        let none: [(&str, &str); 0] = [];
        NodeConfig::from_settings(&mut Settings::env_only(&none))
    }
}

/// The data root of `dawn-node id`: `--data-root`, else `PROJECT_DAWN_DATA_ROOT`, else the
/// default, as `run` finds it, so that both see the same identity.
pub fn resolve_data_root(args: &IdArgs, env: &dyn Env) -> Result<PathBuf, ConfigErrors> {
    let mut s = Settings::new(args, env);
    let root = s.get(&DATA_ROOT);
    s.finish()?;
    Ok(root)
}

impl NodeConfig {
    /// Resolves every setting (and the logging settings) from `args` and `env`; `Err` lists
    /// every bad value.
    pub fn resolve(args: &RunArgs, env: &dyn Env) -> Result<(NodeConfig, LogConfig), ConfigErrors> {
        let mut s = Settings::new(args, env);
        let log = LogConfig::from_settings(&mut s);
        let config = NodeConfig::from_settings(&mut s);
        s.finish()?;
        Ok((config, log))
    }

    /// Each field from its table entry (in the table's order, so errors come in that
    /// order too).
    fn from_settings(s: &mut Settings<'_>) -> NodeConfig {
        NodeConfig {
            data_root: s.get(&DATA_ROOT),
            socket: s.get(&SOCKET),
            telemetry_enabled: s.get(&TELEMETRY).0,
            native_histograms: s.get(&NATIVE_HISTOGRAMS).0,
            telemetry_max_protocol_version: s.get(&TELEMETRY_MAX_PROTOCOL_VERSION),
            flush_interval: Duration::from_millis(s.get(&FLUSH_MS)),
            exporter_uids: s.get(&EXPORTER_UIDS),
            host: s.get(&HOST),
            p2p_port: s.get(&P2P_PORT),
            node_id: s.get(&NODE_ID),
            storage_check_interval: STORAGE_CHECK_INTERVAL,
            bootstrap: s.get(&BOOTSTRAP),
            gossip_interval: s.get(&GOSSIP_INTERVAL).0,
            policy: PeerPolicy {
                max_peers: s.get(&MAX_PEERS),
                reject_unknown: s.get(&REJECT_UNKNOWN).0,
                trusted: s.get(&TRUSTED_PEERS).into_iter().collect(),
            },
            breaker: BreakerConfig::from_settings(s),
            rate_limit: RequestLimitsConfig::from_settings(s),
        }
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
            native_histograms: self.native_histograms,
            max_protocol_version: self.telemetry_max_protocol_version,
            allowed_exporter_uids: self.exporter_uids.as_slice().to_vec(),
            ..TelemetryConfig::new(&self.socket, node_id)
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::settings::{
        DEFAULT_HOST, DEFAULT_P2P_PORT, ENV_BOOTSTRAP, ENV_DATA_ROOT, ENV_EXPORTER_UIDS,
        ENV_FLUSH_MS, ENV_GOSSIP_INTERVAL, ENV_HOST, ENV_MAX_PEERS, ENV_NODE_ID, ENV_P2P_PORT,
        ENV_REJECT_UNKNOWN, ENV_SOCKET, ENV_TELEMETRY, ENV_TRUSTED_PEERS,
    };
    use super::super::{Cli, Command};
    use super::*;
    use crate::resilience::{
        ENV_CB_THRESHOLD, ENV_CB_TIMEOUT, ENV_RATE_LIMIT_MAX, ENV_RATE_LIMIT_WINDOW,
    };

    /// `dawn-node run FLAGS` with the variables `env`, through clap as the binary does.
    fn resolve(flags: &[&str], env: &[(&str, &str)]) -> Result<NodeConfig, ConfigErrors> {
        let line = ["dawn-node", "run"]
            .into_iter()
            .chain(flags.iter().copied());
        let Command::Run(args) = Cli::try_parse_from(line).expect("valid flags").command else {
            unreachable!("a run command line")
        };
        NodeConfig::resolve(&args, &env).map(|(c, _)| c)
    }

    #[test]
    fn defaults() {
        let c = resolve(&[], &[]).unwrap();
        assert_eq!(c, NodeConfig::default());
        assert_eq!(c.data_root, PathBuf::from("./data"));
        assert_eq!(c.socket, PathBuf::from(dawn_proto::DEFAULT_SOCKET_PATH));
        assert!(c.telemetry_enabled);
        assert_eq!(c.flush_interval, Duration::from_secs(1));
        assert_eq!(
            c.listen_addr(),
            SocketAddr::new(DEFAULT_HOST, DEFAULT_P2P_PORT)
        );
        assert_eq!(c.node_id, None);
        assert!(c.bootstrap.is_empty());
        assert_eq!(c.gossip_interval, Duration::from_secs(60));
        assert_eq!(c.policy, PeerPolicy::default());
        assert_eq!(c.breaker, BreakerConfig::default());
        assert_eq!(c.rate_limit, RequestLimitsConfig::default());
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let c = resolve(
            &["--p2p-port", "9001"],
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
        let bootstrap = format!("127.0.0.1:8001, node-2:8002@{id},");
        let c = resolve(
            &[
                "--max-peers",
                "3",
                "--cb-timeout",
                "500ms",
                "--cb-threshold",
                "7",
            ],
            &[
                (ENV_BOOTSTRAP, &bootstrap),
                (ENV_GOSSIP_INTERVAL, "2"),
                (ENV_MAX_PEERS, "9"),
                (ENV_REJECT_UNKNOWN, "yes"),
                (ENV_TRUSTED_PEERS, &id),
                (ENV_RATE_LIMIT_MAX, "7"),
                (ENV_CB_THRESHOLD, "3"),
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
        assert_eq!(c.breaker.threshold, 7, "the flag beats the variable");
        assert_eq!(c.rate_limit.sender.max, 7);
        assert_eq!(c.rate_limit.address_max, 10, "1.5 x the sender limit");
    }

    #[test]
    fn exporter_uids_reach_the_telemetry_config() {
        let none = NodeConfig::default().telemetry("n");
        assert!(none.allowed_exporter_uids.is_empty());
        let c = resolve(&[], &[(ENV_EXPORTER_UIDS, "65534, 10001")]).unwrap();
        assert_eq!(c.telemetry("n").allowed_exporter_uids, vec![10001, 65534]);
        let c = resolve(
            &["--telemetry-exporter-uids", "7"],
            &[(ENV_EXPORTER_UIDS, "8")],
        )
        .unwrap();
        assert_eq!(c.telemetry("n").allowed_exporter_uids, vec![7]);
        let errors = resolve(&[], &[(ENV_EXPORTER_UIDS, "nobody")]).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].key, ENV_EXPORTER_UIDS);
    }

    #[test]
    fn telemetry_on_or_off() {
        assert!(NodeConfig::default().telemetry("n").ship);
        let off = resolve(&[], &[(ENV_TELEMETRY, "off")]).unwrap();
        assert!(!off.telemetry_enabled);
        assert!(!off.telemetry("n").ship);
        let on = resolve(&["--telemetry", "on"], &[(ENV_TELEMETRY, "off")]).unwrap();
        assert!(on.telemetry_enabled, "the flag beats the variable");
        assert!(
            !resolve(&["--telemetry", "OFF"], &[])
                .unwrap()
                .telemetry_enabled
        );
        let errors = resolve(&[], &[(ENV_TELEMETRY, "disabled")]).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert_eq!(errors.0[0].key, ENV_TELEMETRY);
        assert!(errors.0[0].message.contains("on or off"), "{errors}");
    }

    #[test]
    fn telemetry_max_protocol_version_reaches_the_telemetry_config() {
        use super::super::settings::ENV_TELEMETRY_MAX_PROTOCOL_VERSION as ENV;
        assert_eq!(
            NodeConfig::default().telemetry("n").max_protocol_version,
            dawn_proto::MAX_SUPPORTED_VERSION
        );
        let c = resolve(&["--telemetry-max-protocol-version", "1"], &[(ENV, "2")]).unwrap();
        assert_eq!(
            c.telemetry("n").max_protocol_version,
            1,
            "the flag beats the variable"
        );
        assert!(c.telemetry("n").problems().is_empty());
        for bad in ["0", "3", "two"] {
            let errors = resolve(&[], &[(ENV, bad)]).unwrap_err();
            assert_eq!(errors.0.len(), 1, "{errors}");
            assert_eq!(errors.0[0].key, ENV);
            assert!(errors.0[0].message.contains("expected 1 or 2"), "{errors}");
        }
    }

    #[test]
    fn an_empty_node_id_means_unset() {
        let c = resolve(&[], &[(ENV_NODE_ID, "")]).unwrap();
        assert_eq!(c.node_id, None);
    }

    #[test]
    fn every_bad_value_is_reported_by_name() {
        let long_socket = "x".repeat(200);
        let errors = resolve(
            &["--host", "localhost"],
            &[
                (ENV_P2P_PORT, "0"),
                (ENV_FLUSH_MS, "60001"),
                (ENV_TELEMETRY, "maybe"),
                (ENV_NODE_ID, "has space"),
                (ENV_SOCKET, &long_socket),
                (ENV_DATA_ROOT, " "),
                ("LOG_LEVEL", "loud"),
                (ENV_BOOTSTRAP, "node-1:8000,nohost"),
                (ENV_GOSSIP_INTERVAL, "0"),
                (ENV_MAX_PEERS, "0"),
                (ENV_REJECT_UNKNOWN, "maybe"),
                (ENV_TRUSTED_PEERS, "abc"),
                (ENV_CB_THRESHOLD, "0"),
                (ENV_CB_TIMEOUT, "forever"),
                (ENV_RATE_LIMIT_WINDOW, "soon"),
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
            ENV_CB_THRESHOLD,
            ENV_CB_TIMEOUT,
            ENV_RATE_LIMIT_WINDOW,
        ] {
            assert!(
                text.contains(&format!("{key}: ")),
                "{key} missing in:\n{text}"
            );
        }
        assert!(text.contains("expected a port 1-65535"), "{text}");
        assert!(text.contains("1-60000"), "{text}");
        assert!(text.contains("bad peer address `nohost`"), "{text}");
        assert_eq!(errors.0.len(), 16, "{text}");
    }
}
