//! The node's configuration: each setting from its flag, else its environment variable, else
//! its default, with every bad value reported at once (like linkerd's `env.rs`).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use dawn_daemon::config::{ConfigErrors, Env, Settings};
use dawn_daemon::logging::LogConfig;

use super::cli::RunArgs;
use crate::telemetry::{DEFAULT_SOCKET_PATH, TelemetryConfig};

/// Data root.
pub const ENV_DATA_ROOT: &str = crate::storage::ENV_DATA_ROOT;
/// Exporter socket.
pub const ENV_SOCKET: &str = dawn_proto::ENV_SOCKET;
/// Telemetry flush interval in milliseconds.
pub const ENV_FLUSH_MS: &str = "PROJECT_DAWN_TELEMETRY_FLUSH_MS";
/// P2P bind address.
pub const ENV_HOST: &str = "PROJECT_DAWN_HOST";
/// P2P UDP port.
pub const ENV_P2P_PORT: &str = "PROJECT_DAWN_P2P_PORT";
/// Node id override.
pub const ENV_NODE_ID: &str = "PROJECT_DAWN_NODE_ID";

/// Default data root, relative to the working directory.
pub const DEFAULT_DATA_ROOT: &str = "./data";
/// Default P2P bind address.
pub const DEFAULT_HOST: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
/// Default P2P UDP port.
pub const DEFAULT_P2P_PORT: u16 = 8000;
/// Default telemetry flush interval, in milliseconds.
pub const DEFAULT_FLUSH_MS: u64 = 1000;

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
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            data_root: PathBuf::from(DEFAULT_DATA_ROOT),
            socket: PathBuf::from(DEFAULT_SOCKET_PATH),
            flush_interval: Duration::from_millis(DEFAULT_FLUSH_MS),
            host: DEFAULT_HOST,
            p2p_port: DEFAULT_P2P_PORT,
            node_id: None,
            storage_check_interval: Duration::from_secs(30),
        }
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

        s.finish()?;
        let config = NodeConfig {
            data_root,
            socket: PathBuf::from(socket.trim()),
            flush_interval: Duration::from_millis(flush_ms),
            host,
            p2p_port,
            node_id: Some(node_id.trim().to_owned()).filter(|id| !id.is_empty()),
            ..d
        };
        Ok((config, log))
    }

    /// The telemetry settings for a node known as `node_id`.
    pub fn telemetry(&self, node_id: &str) -> TelemetryConfig {
        TelemetryConfig {
            flush_interval: self.flush_interval,
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
                (ENV_NODE_ID, "has space"),
                (ENV_SOCKET, &"x".repeat(200)),
                (ENV_DATA_ROOT, " "),
                ("LOG_LEVEL", "loud"),
            ],
        )
        .unwrap_err();
        let text = errors.to_string();
        for key in [
            "--host",
            ENV_P2P_PORT,
            ENV_FLUSH_MS,
            ENV_NODE_ID,
            ENV_SOCKET,
            ENV_DATA_ROOT,
            "LOG_LEVEL",
        ] {
            assert!(
                text.contains(&format!("{key}: ")),
                "{key} missing in:\n{text}"
            );
        }
        assert!(text.contains("expected a port 1-65535"), "{text}");
        assert!(text.contains("1-60000"), "{text}");
        assert_eq!(errors.0.len(), 7, "{text}");
    }
}
