//! The exporter's configuration: each setting from its flag, else its environment variable,
//! else its default, with every bad value reported at once (like linkerd's `env.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use dawn_daemon::config::{ConfigErrors, Env, HumanDuration, Settings};
use dawn_daemon::logging::LogConfig;

use crate::cli::RunArgs;
use crate::http::{FIXED_PATHS, READY_PATH};
use crate::ingest::{DEFAULT_SOCKET, IngestConfig};
use crate::store::{Alias, StoreLimits};
use crate::web_config::WebConfig;

/// Socket path.
pub const ENV_SOCKET: &str = dawn_proto::ENV_SOCKET;
/// HTTP port (on 0.0.0.0) when `--web.listen-address` is not given.
pub const ENV_METRICS_PORT: &str = "PROJECT_DAWN_METRICS_PORT";
/// Metrics path.
pub const ENV_METRICS_PATH: &str = "PROJECT_DAWN_METRICS_PATH";
/// `--compat.seed-names`.
pub const ENV_COMPAT_SEED_NAMES: &str = "PROJECT_DAWN_COMPAT_SEED_NAMES";
/// `--ingest.max-clients`.
pub const ENV_MAX_CLIENTS: &str = "PROJECT_DAWN_EXPORTER_MAX_CLIENTS";
/// `--ingest.max-frame-bytes`.
pub const ENV_MAX_FRAME_BYTES: &str = "PROJECT_DAWN_EXPORTER_MAX_FRAME_BYTES";
/// `--ingest.handshake-timeout`.
pub const ENV_HANDSHAKE_TIMEOUT: &str = "PROJECT_DAWN_EXPORTER_HANDSHAKE_TIMEOUT";
/// `--store.max-series`.
pub const ENV_MAX_SERIES: &str = "PROJECT_DAWN_EXPORTER_MAX_SERIES";
/// `--store.max-series-per-metric`.
pub const ENV_MAX_SERIES_PER_METRIC: &str = "PROJECT_DAWN_EXPORTER_MAX_SERIES_PER_METRIC";
/// `--store.source-ttl`.
pub const ENV_SOURCE_TTL: &str = "PROJECT_DAWN_EXPORTER_SOURCE_TTL";
/// `--web.config.file`.
pub const ENV_WEB_CONFIG_FILE: &str = "PROJECT_DAWN_WEB_CONFIG_FILE";
/// `--health.liveness-timeout`.
pub const ENV_LIVENESS_TIMEOUT: &str = "PROJECT_DAWN_EXPORTER_LIVENESS_TIMEOUT";

/// Default HTTP address.
pub const DEFAULT_LISTEN_ADDRESS: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9090);
/// Default metrics path.
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

/// Longest Unix socket path (`sun_path` holds 108 bytes including the final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Everything the exporter needs to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExporterConfig {
    /// The socket side.
    pub ingest: IngestConfig,
    /// Caps and TTL of the store.
    pub store: StoreLimits,
    /// HTTP address.
    pub listen_address: SocketAddr,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Expose `p2p_peers` also as `p2p_peers_total`.
    pub compat_seed_names: bool,
    /// Liveness timeout, start-up grace and client idle timeout.
    pub liveness_timeout: Duration,
    /// TLS and basic authentication (`--web.config.file`), checked; `None`: plain HTTP.
    pub web_config: Option<WebConfig>,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            ingest: IngestConfig::default(),
            store: StoreLimits::default(),
            listen_address: DEFAULT_LISTEN_ADDRESS,
            telemetry_path: DEFAULT_TELEMETRY_PATH.to_owned(),
            compat_seed_names: false,
            liveness_timeout: Duration::from_secs(30),
            web_config: None,
        }
    }
}

/// An address as Prometheus exporters take it: `HOST:PORT`, `[V6]:PORT` or `:PORT` (all
/// interfaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListenAddress(SocketAddr);

impl FromStr for ListenAddress {
    type Err = std::net::AddrParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let full = match s.strip_prefix(':') {
            Some(port) => format!("0.0.0.0:{port}"),
            None => s.to_owned(),
        };
        full.parse().map(ListenAddress)
    }
}

/// A `true`/`false` switch (also `1`/`0`, `yes`/`no`, `on`/`off`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Switch(bool);

impl FromStr for Switch {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Switch(true)),
            "false" | "0" | "no" | "off" => Ok(Switch(false)),
            _ => Err("not a boolean".to_owned()),
        }
    }
}

fn duration_within(min: Duration, max: Duration) -> impl Fn(&HumanDuration) -> bool + Copy {
    move |d| d.0 >= min && d.0 <= max
}

fn valid_telemetry_path(p: &str) -> bool {
    p.starts_with('/')
        && !p
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        && !FIXED_PATHS.contains(&p)
}

/// The web config from `--web.config.file` or `PROJECT_DAWN_WEB_CONFIG_FILE`, read and
/// checked now; a file that cannot be used is a configuration error naming the problem.
fn web_config(settings: &mut Settings<'_>, raw_flag: Option<&str>) -> Option<WebConfig> {
    let (key, raw) = match raw_flag {
        Some(raw) => ("--web.config.file", raw.to_owned()),
        None => (ENV_WEB_CONFIG_FILE, settings.raw(ENV_WEB_CONFIG_FILE)?),
    };
    if raw.trim().is_empty() {
        settings.error(key, "empty; expected the path of a web config file");
        return None;
    }
    match WebConfig::load(std::path::Path::new(raw.trim())) {
        Ok(config) => Some(config),
        Err(e) => {
            settings.error(key, e.to_string());
            None
        }
    }
}

/// The listen address from `--web.listen-address` or `PROJECT_DAWN_METRICS_PORT`.
fn listen_address(settings: &mut Settings<'_>, raw: Option<&str>) -> SocketAddr {
    let expect = "HOST:PORT, [IPV6]:PORT or :PORT";
    if let Some(ListenAddress(addr)) = settings.flag("--web.listen-address", raw, expect, |_| true)
    {
        return addr;
    }
    let port: u16 = settings.get_checked(
        ENV_METRICS_PORT,
        None,
        DEFAULT_LISTEN_ADDRESS.port(),
        "a port 1-65535",
        |p| *p > 0,
    );
    SocketAddr::new(DEFAULT_LISTEN_ADDRESS.ip(), port)
}

impl ExporterConfig {
    /// Resolves every setting (and the logging settings) from `args` and `env`; `Err`
    /// lists every bad value.
    pub fn resolve(
        args: &RunArgs,
        env: &dyn Env,
    ) -> Result<(ExporterConfig, LogConfig), ConfigErrors> {
        let mut s = Settings::new(env);
        let log = LogConfig::from_settings(&mut s);
        let d = ExporterConfig::default();

        let socket: String = s.resolve(
            "--socket",
            args.socket.as_deref(),
            ENV_SOCKET,
            DEFAULT_SOCKET.to_owned(),
            "a path of at most 107 bytes",
            |p: &String| !p.trim().is_empty() && p.len() <= MAX_SOCKET_PATH,
        );
        let listen_address = listen_address(&mut s, args.listen_address.as_deref());
        let web_config = web_config(&mut s, args.web_config_file.as_deref());
        let telemetry_path: String = s.resolve(
            "--web.telemetry-path",
            args.telemetry_path.as_deref(),
            ENV_METRICS_PATH,
            d.telemetry_path.clone(),
            "a path starting with '/' without spaces, '?' or '#', other than /, /health, /health/ready, /health/live and /-/healthy",
            |p: &String| valid_telemetry_path(p),
        );
        let compat_flag = args.compat_seed_names.then_some(Switch(true));
        let Switch(compat_seed_names) = s.get(
            ENV_COMPAT_SEED_NAMES,
            compat_flag,
            Switch(false),
            "true or false",
        );
        let max_clients: usize = s.resolve(
            "--ingest.max-clients",
            args.max_clients.as_deref(),
            ENV_MAX_CLIENTS,
            d.ingest.max_clients,
            "an integer 1-65536",
            |n: &usize| (1..=65_536).contains(n),
        );
        let max_frame_bytes: usize = s.resolve(
            "--ingest.max-frame-bytes",
            args.max_frame_bytes.as_deref(),
            ENV_MAX_FRAME_BYTES,
            d.ingest.max_frame_bytes,
            "an integer 256-1048576",
            |n: &usize| (256..=dawn_proto::MAX_FRAME_LEN_LIMIT).contains(n),
        );
        let HumanDuration(handshake_timeout) = s.resolve(
            "--ingest.handshake-timeout",
            args.handshake_timeout.as_deref(),
            ENV_HANDSHAKE_TIMEOUT,
            HumanDuration(d.ingest.handshake_timeout),
            "a duration 10ms-1h like 500ms, 5s or 1m",
            duration_within(Duration::from_millis(10), Duration::from_secs(3600)),
        );
        let max_series: usize = s.resolve(
            "--store.max-series",
            args.max_series.as_deref(),
            ENV_MAX_SERIES,
            d.store.max_series,
            "an integer 1-100000000",
            |n: &usize| (1..=100_000_000).contains(n),
        );
        let max_series_per_metric: usize = s.resolve(
            "--store.max-series-per-metric",
            args.max_series_per_metric.as_deref(),
            ENV_MAX_SERIES_PER_METRIC,
            d.store.max_series_per_metric,
            "an integer 1-100000000",
            |n: &usize| (1..=100_000_000).contains(n),
        );
        let HumanDuration(source_ttl) = s.resolve(
            "--store.source-ttl",
            args.source_ttl.as_deref(),
            ENV_SOURCE_TTL,
            HumanDuration(d.store.source_ttl),
            "a duration 0s-720h like 30s, 5m or 1h",
            duration_within(Duration::ZERO, Duration::from_secs(30 * 86_400)),
        );
        let HumanDuration(liveness_timeout) = s.resolve(
            "--health.liveness-timeout",
            args.liveness_timeout.as_deref(),
            ENV_LIVENESS_TIMEOUT,
            HumanDuration(d.liveness_timeout),
            "a duration 1s-1h like 30s or 2m",
            duration_within(Duration::from_secs(1), Duration::from_secs(3600)),
        );
        s.finish()?;
        let config = ExporterConfig {
            ingest: IngestConfig {
                socket: PathBuf::from(socket),
                max_clients,
                max_frame_bytes,
                handshake_timeout,
                idle_timeout: liveness_timeout,
                // A connection may hold every series the store could hold, twice over
                // (refused ones included), before it counts as a flood.
                max_series_ids: max_series.saturating_mul(2),
                ..d.ingest
            },
            store: StoreLimits {
                max_series,
                max_series_per_metric,
                source_ttl,
            },
            listen_address,
            telemetry_path,
            compat_seed_names,
            liveness_timeout,
            web_config,
        };
        Ok((config, log))
    }

    /// The compatibility aliases in force.
    pub fn aliases(&self) -> Vec<Alias> {
        if self.compat_seed_names {
            vec![Alias {
                name: dawn_proto::catalogue::P2P_PEERS.name.to_owned(),
                alias: dawn_proto::catalogue::P2P_PEERS_COMPAT_NAME.to_owned(),
            }]
        } else {
            Vec::new()
        }
    }
}

/// The URL of `/health/ready` on an exporter listening on `addr` (an unspecified address
/// becomes loopback), `https` when it serves TLS.
pub fn ready_url(addr: SocketAddr, tls: bool) -> String {
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if tls { "https" } else { "http" };
    format!(
        "{scheme}://{}{READY_PATH}",
        SocketAddr::new(host, addr.port())
    )
}

/// What `healthcheck` needs to reach its exporter: the address (`--web.listen-address`,
/// else `PROJECT_DAWN_METRICS_PORT`, else the default) and the web config
/// (`--web.config.file` or `PROJECT_DAWN_WEB_CONFIG_FILE`); `Err` lists bad values.
pub fn healthcheck_target(
    args: &RunArgs,
    env: &dyn Env,
) -> Result<(SocketAddr, Option<WebConfig>), ConfigErrors> {
    let mut s = Settings::new(env);
    let addr = listen_address(&mut s, args.listen_address.as_deref());
    let web = web_config(&mut s, args.web_config_file.as_deref());
    s.finish()?;
    Ok((addr, web))
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

    #[test]
    fn defaults() {
        let (c, _) = ExporterConfig::resolve(&RunArgs::default(), &env(&[])).unwrap();
        assert_eq!(
            c,
            ExporterConfig {
                ingest: IngestConfig {
                    max_series_ids: 200_000,
                    ..IngestConfig::default()
                },
                ..ExporterConfig::default()
            }
        );
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9090");
        assert!(c.aliases().is_empty());
    }

    #[test]
    fn flags_beat_env_beats_default() {
        let e = env(&[
            (ENV_SOCKET, "/env.sock"),
            (ENV_METRICS_PORT, "9200"),
            (ENV_MAX_CLIENTS, "8"),
            (ENV_SOURCE_TTL, "1m"),
            (ENV_COMPAT_SEED_NAMES, "true"),
        ]);
        let args = RunArgs {
            socket: Some("/flag.sock".into()),
            max_clients: Some("3".into()),
            liveness_timeout: Some("10s".into()),
            ..RunArgs::default()
        };
        let (c, _) = ExporterConfig::resolve(&args, &e).unwrap();
        assert_eq!(c.ingest.socket, PathBuf::from("/flag.sock"));
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9200");
        assert_eq!(c.ingest.max_clients, 3);
        assert_eq!(c.store.source_ttl, Duration::from_secs(60));
        assert_eq!(c.liveness_timeout, Duration::from_secs(10));
        assert_eq!(c.ingest.idle_timeout, Duration::from_secs(10));
        assert!(c.compat_seed_names);
        assert_eq!(c.aliases().len(), 1);

        let args = RunArgs {
            listen_address: Some(":9300".into()),
            ..RunArgs::default()
        };
        let (c, _) = ExporterConfig::resolve(&args, &e).unwrap();
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9300");
    }

    #[test]
    fn every_bad_value_is_reported() {
        let e = env(&[
            (ENV_METRICS_PORT, "0"),
            (ENV_MAX_SERIES, "lots"),
            (ENV_SOURCE_TTL, "5 minutes"),
            (ENV_COMPAT_SEED_NAMES, "maybe"),
            ("LOG_LEVEL", "loud"),
        ]);
        let args = RunArgs {
            max_clients: Some("0".into()),
            max_frame_bytes: Some("huge".into()),
            telemetry_path: Some("/health".into()),
            liveness_timeout: Some("2h".into()),
            socket: Some(format!("/{}", "s".repeat(200))),
            ..RunArgs::default()
        };
        let errors = ExporterConfig::resolve(&args, &e).unwrap_err();
        let text = errors.to_string();
        for needle in [
            "PROJECT_DAWN_METRICS_PORT: \"0\" is out of range; expected a port 1-65535",
            "PROJECT_DAWN_EXPORTER_MAX_SERIES: invalid value \"lots\"",
            "PROJECT_DAWN_EXPORTER_SOURCE_TTL: invalid value \"5 minutes\"",
            "PROJECT_DAWN_COMPAT_SEED_NAMES: invalid value \"maybe\"",
            "LOG_LEVEL",
            "--ingest.max-clients: \"0\" is out of range; expected an integer 1-65536",
            "--ingest.max-frame-bytes: invalid value \"huge\"",
            "--web.telemetry-path: \"/health\" is out of range",
            "--health.liveness-timeout: \"2h\" is out of range; expected a duration 1s-1h",
            "--socket:",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
        assert_eq!(errors.0.len(), 10, "{text}");
    }

    #[test]
    fn ready_url_uses_loopback_for_unspecified() {
        assert_eq!(
            ready_url("0.0.0.0:9090".parse().unwrap(), false),
            "http://127.0.0.1:9090/health/ready"
        );
        assert_eq!(
            ready_url("[::]:9090".parse().unwrap(), true),
            "https://[::1]:9090/health/ready"
        );
        assert_eq!(
            ready_url("10.0.0.1:1".parse().unwrap(), false),
            "http://10.0.0.1:1/health/ready"
        );
        let e = env(&[(ENV_METRICS_PORT, "9500")]);
        let port = |flag: Option<&str>| {
            let args = RunArgs {
                listen_address: flag.map(str::to_owned),
                ..RunArgs::default()
            };
            healthcheck_target(&args, &e).map(|(addr, _)| addr.port())
        };
        assert_eq!(port(None).unwrap(), 9500);
        assert_eq!(port(Some(":1")).unwrap(), 1);
        assert!(port(Some("nonsense")).is_err());
    }
}
