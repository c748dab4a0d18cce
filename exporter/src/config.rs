//! The exporter's configuration, resolved from the settings table (`settings.rs`): each
//! setting from its flag, else its environment variable, else its default, with every bad
//! value reported at once (like linkerd's `env.rs`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use dawn_daemon::config::{ConfigErrors, Env, HumanDuration, Settings, Switch};
use dawn_daemon::logging::LogConfig;

use crate::http::{HttpLimits, READY_PATH};
use crate::ingest::IngestConfig;
use crate::settings::{
    ALLOWED_UIDS, COMPAT_SEED_NAMES, DEFAULT_LISTEN_ADDRESS, DEFAULT_LIVENESS_TIMEOUT,
    DEFAULT_TELEMETRY_PATH, FRAME_TIMEOUT, HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, LISTEN_ADDRESS,
    LIVENESS_TIMEOUT, MAX_CHECK_BYTES, MAX_CHECKS_PER_CLIENT, MAX_CLIENT_BYTES, MAX_CLIENTS,
    MAX_CONNECTIONS, MAX_DEFINITION_BYTES, MAX_FRAME_BYTES, MAX_NATIVE_BUCKETS, MAX_PENDING,
    MAX_PROTOCOL_VERSION, MAX_SAMPLES, MAX_SAMPLES_PER_SOURCE, MAX_SERIES, MAX_SERIES_PER_METRIC,
    METRICS_PORT, READ_HEADER_TIMEOUT, RunArgs, SOCKET, SOURCE_TTL, TELEMETRY_PATH,
    WEB_CONFIG_FILE,
};
use crate::store::{Alias, StoreLimits};
use crate::web_config::WebConfig;

/// `--compat.seed-names`: the node's `p2p_peers` gauge is also exposed under the name the
/// original Python system gave it, for existing dashboards. The one node metric name the
/// exporter knows.
const SEED_NAME_ALIAS: (&str, &str) = ("p2p_peers", "p2p_peers_total");

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
    /// HTTP timeouts and connection cap (`--web.read-header-timeout`, `--web.idle-timeout`,
    /// `--web.max-connections`).
    pub http: HttpLimits,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            ingest: IngestConfig::default(),
            store: StoreLimits::default(),
            listen_address: DEFAULT_LISTEN_ADDRESS,
            telemetry_path: DEFAULT_TELEMETRY_PATH.to_owned(),
            compat_seed_names: false,
            liveness_timeout: DEFAULT_LIVENESS_TIMEOUT,
            web_config: None,
            http: HttpLimits::default(),
        }
    }
}

/// The HTTP address: `--web.listen-address`, else `PROJECT_DAWN_METRICS_PORT` on all
/// interfaces, else the default.
fn listen_address(s: &mut Settings<'_>) -> SocketAddr {
    match s.given(&LISTEN_ADDRESS) {
        Some(addr) => addr,
        None => SocketAddr::new(DEFAULT_LISTEN_ADDRESS.ip(), s.get(&METRICS_PORT)),
    }
}

impl ExporterConfig {
    /// Resolves every setting (and the logging settings) from `args` and `env`; `Err`
    /// lists every bad value.
    pub fn resolve(
        args: &RunArgs,
        env: &dyn Env,
    ) -> Result<(ExporterConfig, LogConfig), ConfigErrors> {
        let mut s = Settings::new(args, env);
        let log = LogConfig::from_settings(&mut s);
        let socket = s.get(&SOCKET);
        let listen_address = listen_address(&mut s);
        let web_config = s.get(&WEB_CONFIG_FILE);
        let telemetry_path = s.get(&TELEMETRY_PATH);
        let http = HttpLimits {
            read_header_timeout: s.get(&READ_HEADER_TIMEOUT).0,
            idle_timeout: s.get(&IDLE_TIMEOUT).0,
            max_connections: s.get(&MAX_CONNECTIONS),
        };
        let Switch(compat_seed_names) = s.get(&COMPAT_SEED_NAMES);
        let max_clients = s.get(&MAX_CLIENTS);
        let max_pending = s.get(&MAX_PENDING);
        let max_frame_bytes = s.get(&MAX_FRAME_BYTES);
        let HumanDuration(handshake_timeout) = s.get(&HANDSHAKE_TIMEOUT);
        let HumanDuration(frame_timeout) = s.get(&FRAME_TIMEOUT);
        let max_protocol_version = s.get(&MAX_PROTOCOL_VERSION);
        let allowed_uids = s.get(&ALLOWED_UIDS);
        let max_client_bytes = s.get(&MAX_CLIENT_BYTES);
        let max_series = s.get(&MAX_SERIES);
        let max_series_per_metric = s.get(&MAX_SERIES_PER_METRIC);
        let max_definition_bytes = s.get(&MAX_DEFINITION_BYTES);
        let max_samples = s.get(&MAX_SAMPLES);
        let max_samples_per_source = s.get(&MAX_SAMPLES_PER_SOURCE);
        let max_native_buckets = s.get(&MAX_NATIVE_BUCKETS);
        let HumanDuration(source_ttl) = s.get(&SOURCE_TTL);
        let HumanDuration(liveness_timeout) = s.get(&LIVENESS_TIMEOUT);
        let max_checks_per_client = s.get(&MAX_CHECKS_PER_CLIENT);
        let max_check_bytes = s.get(&MAX_CHECK_BYTES);
        s.finish()?;
        let config = ExporterConfig {
            ingest: IngestConfig {
                socket,
                max_clients,
                max_frame_bytes,
                handshake_timeout,
                idle_timeout: liveness_timeout,
                // A connection may hold every series the store could hold, twice over
                // (refused ones included), before it counts as a flood.
                max_series_ids: max_series.saturating_mul(2),
                allowed_uids,
                max_pending,
                frame_timeout,
                max_client_bytes,
                max_checks_per_client,
                max_check_bytes,
                max_protocol_version,
                ..IngestConfig::default()
            },
            store: StoreLimits {
                max_series,
                max_series_per_metric,
                max_definition_bytes,
                max_samples,
                max_samples_per_source,
                max_native_buckets,
                source_ttl,
            },
            listen_address,
            telemetry_path,
            compat_seed_names,
            liveness_timeout,
            web_config,
            http,
        };
        Ok((config, log))
    }

    /// The compatibility aliases in force (`--compat.seed-names`).
    pub fn aliases(&self) -> Vec<Alias> {
        if self.compat_seed_names {
            vec![Alias {
                name: SEED_NAME_ALIAS.0.to_owned(),
                alias: SEED_NAME_ALIAS.1.to_owned(),
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
    let mut s = Settings::new(args, env);
    let addr = listen_address(&mut s);
    let web = s.get(&WEB_CONFIG_FILE);
    s.finish()?;
    Ok((addr, web))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use clap::Parser;

    use super::*;
    use crate::Cli;
    use crate::settings::{
        ENV_COMPAT_SEED_NAMES, ENV_MAX_CLIENTS, ENV_MAX_SERIES, ENV_METRICS_PORT, ENV_SOCKET,
        ENV_SOURCE_TTL,
    };

    /// The run flags of a command line, as clap hands them over.
    fn args(flags: &[&str]) -> RunArgs {
        Cli::try_parse_from(std::iter::once("dawn-exporter").chain(flags.iter().copied()))
            .expect("a valid command line")
            .run
    }

    #[test]
    fn defaults() {
        let (c, _) = ExporterConfig::resolve(&RunArgs::default(), &[]).unwrap();
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
        let e = [
            (ENV_SOCKET, "/env.sock"),
            (ENV_METRICS_PORT, "9200"),
            (ENV_MAX_CLIENTS, "8"),
            (ENV_SOURCE_TTL, "1m"),
            (ENV_COMPAT_SEED_NAMES, "true"),
        ];
        let flags = args(&[
            "--socket",
            "/flag.sock",
            "--ingest.max-clients",
            "3",
            "--health.liveness-timeout",
            "10s",
        ]);
        let (c, _) = ExporterConfig::resolve(&flags, &e).unwrap();
        assert_eq!(c.ingest.socket, PathBuf::from("/flag.sock"));
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9200");
        assert_eq!(c.ingest.max_clients, 3);
        assert_eq!(c.store.source_ttl, Duration::from_secs(60));
        assert_eq!(c.liveness_timeout, Duration::from_secs(10));
        assert_eq!(c.ingest.idle_timeout, Duration::from_secs(10));
        assert!(c.compat_seed_names);
        assert_eq!(c.aliases().len(), 1);

        let flags = args(&["--web.listen-address", ":9300"]);
        let (c, _) = ExporterConfig::resolve(&flags, &e).unwrap();
        assert_eq!(c.listen_address.to_string(), "0.0.0.0:9300");
        let flags = args(&["--compat.seed-names"]);
        let e = [(ENV_COMPAT_SEED_NAMES, "false")];
        let (c, _) = ExporterConfig::resolve(&flags, &e).unwrap();
        assert!(c.compat_seed_names, "the switch beats its variable");
    }

    #[test]
    fn every_bad_value_is_reported() {
        let e = [
            (ENV_METRICS_PORT, "0"),
            (ENV_MAX_SERIES, "lots"),
            (ENV_SOURCE_TTL, "5 minutes"),
            (ENV_COMPAT_SEED_NAMES, "maybe"),
            ("LOG_LEVEL", "loud"),
        ];
        let long_socket = format!("/{}", "s".repeat(200));
        let flags = args(&[
            "--ingest.max-clients",
            "0",
            "--ingest.max-frame-bytes",
            "huge",
            "--web.telemetry-path",
            "/health",
            "--health.liveness-timeout",
            "2h",
            "--socket",
            &long_socket,
        ]);
        let errors = ExporterConfig::resolve(&flags, &e).unwrap_err();
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
    fn allowed_uids_and_http_limits() {
        use crate::settings::{ENV_ALLOWED_UIDS, ENV_MAX_CONNECTIONS};
        let (c, _) = ExporterConfig::resolve(&RunArgs::default(), &[]).unwrap();
        assert_eq!(c.ingest.allowed_uids, crate::ingest::AllowedUids(None));
        assert!(c.ingest.allowed_uids.allows(65534));
        assert_eq!(c.http, HttpLimits::default());
        let e = [(ENV_ALLOWED_UIDS, "65534"), (ENV_MAX_CONNECTIONS, "8")];
        let flags = args(&[
            "--ingest.allowed-uids",
            "10001,0",
            "--web.read-header-timeout",
            "2s",
            "--web.idle-timeout",
            "1m",
        ]);
        let (c, _) = ExporterConfig::resolve(&flags, &e).unwrap();
        assert_eq!(c.ingest.allowed_uids.to_string(), "0,10001");
        assert!(
            !c.ingest.allowed_uids.allows(65534),
            "the flag beats the variable"
        );
        assert_eq!(
            c.http,
            HttpLimits {
                read_header_timeout: Duration::from_secs(2),
                idle_timeout: Duration::from_secs(60),
                max_connections: 8,
            }
        );
        let flags = args(&[
            "--ingest.allowed-uids",
            "root",
            "--web.read-header-timeout",
            "0s",
            "--web.max-connections",
            "0",
        ]);
        let text = ExporterConfig::resolve(&flags, &[])
            .unwrap_err()
            .to_string();
        for needle in [
            "--ingest.allowed-uids: invalid value \"root\" (\"root\" is not a user id",
            "--web.read-header-timeout: \"0s\" is out of range",
            "--web.max-connections: \"0\" is out of range",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn protocol_version_cap() {
        use crate::settings::ENV_MAX_PROTOCOL_VERSION;
        let (c, _) = ExporterConfig::resolve(&RunArgs::default(), &[]).unwrap();
        assert_eq!(
            c.ingest.max_protocol_version,
            dawn_proto::MAX_SUPPORTED_VERSION
        );
        let e = [(ENV_MAX_PROTOCOL_VERSION, "2")];
        let flags = args(&["--ingest.max-protocol-version", "1"]);
        let (c, _) = ExporterConfig::resolve(&flags, &e).unwrap();
        assert_eq!(
            c.ingest.max_protocol_version, 1,
            "the flag beats the variable"
        );
        for bad in ["0", "3", "v2"] {
            let flags = args(&["--ingest.max-protocol-version", bad]);
            let text = ExporterConfig::resolve(&flags, &[])
                .unwrap_err()
                .to_string();
            assert!(text.contains("expected 1 or 2"), "{bad}: {text}");
        }
        assert_eq!(
            dawn_proto::supported_versions(),
            1..=2,
            "the setting's help and accepted values name the versions"
        );
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
        let e = [(ENV_METRICS_PORT, "9500")];
        let port = |flags: &[&str]| healthcheck_target(&args(flags), &e).map(|(a, _)| a.port());
        assert_eq!(port(&[]).unwrap(), 9500);
        assert_eq!(port(&["--web.listen-address", ":1"]).unwrap(), 1);
        assert!(port(&["--web.listen-address", "nonsense"]).is_err());
    }
}
