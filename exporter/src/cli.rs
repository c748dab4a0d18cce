//! Command-line flags. Every value flag is optional text: [`crate::ExporterConfig::resolve`]
//! parses it, falls back to its environment variable and then its default, and reports
//! every bad value at once (exit 64) before anything is bound.

use clap::{Args, Parser, Subcommand};

/// `dawn-exporter`: serves a Dawn node's telemetry as Prometheus metrics and health
/// endpoints.
#[derive(Debug, Parser)]
#[command(
    name = "dawn-exporter",
    version,
    about = "Dawn's sidecar exporter: reads node telemetry from a Unix socket and serves Prometheus metrics and health endpoints.",
    long_about = None,
    after_help = "Logging: LOG_LEVEL (debug, info, warning, error, critical), LOG_FORMAT (text, json), RUST_LOG (overrides the level), PROJECT_DAWN_LOG_FILE (extra log file).\nEvery flag beats its environment variable, which beats the default."
)]
pub struct Cli {
    /// Flags of the exporter itself.
    #[command(flatten)]
    pub run: RunArgs,
    /// A subcommand instead of running the exporter.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags of the running exporter.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// Unix socket where nodes send telemetry. Its directory is created (mode 0750) when
    /// missing; a stale socket is replaced, a live exporter's is not.
    /// [env: PROJECT_DAWN_TELEMETRY_SOCKET] [default: /tmp/dawn/telemetry.sock]
    #[arg(long = "socket", value_name = "PATH")]
    pub socket: Option<String>,

    /// Address and port of the HTTP server. PROJECT_DAWN_METRICS_PORT sets only the port
    /// (on 0.0.0.0). Port 0 picks a free port (logged at start-up).
    /// [default: 0.0.0.0:9090]
    #[arg(long = "web.listen-address", value_name = "HOST:PORT", global = true)]
    pub listen_address: Option<String>,

    /// Web config file (Prometheus exporter-toolkit format) for TLS and basic
    /// authentication; read at start-up, re-read when it or its certificate files change.
    /// See docs/exporter.md. [env: PROJECT_DAWN_WEB_CONFIG_FILE] [default: none, plain HTTP
    /// without authentication]
    #[arg(long = "web.config.file", value_name = "FILE", global = true)]
    pub web_config_file: Option<String>,

    /// Path of the metrics endpoint; must start with '/' and not be one of the health paths.
    /// [env: PROJECT_DAWN_METRICS_PATH] [default: /metrics]
    #[arg(long = "web.telemetry-path", value_name = "PATH")]
    pub telemetry_path: Option<String>,

    /// Also expose p2p_peers as p2p_peers_total (a gauge, same value), the name the
    /// original system used, for existing dashboards.
    /// [env: PROJECT_DAWN_COMPAT_SEED_NAMES=true|false] [default: false]
    #[arg(long = "compat.seed-names")]
    pub compat_seed_names: bool,

    /// Most telemetry clients connected at once (1-65536); more are rejected and counted.
    /// [env: PROJECT_DAWN_EXPORTER_MAX_CLIENTS] [default: 64]
    #[arg(
        long = "ingest.max-clients",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_clients: Option<String>,

    /// Largest telemetry frame accepted, in bytes (256-1048576); a larger frame
    /// disconnects its client. [env: PROJECT_DAWN_EXPORTER_MAX_FRAME_BYTES]
    /// [default: 1048576]
    #[arg(
        long = "ingest.max-frame-bytes",
        value_name = "BYTES",
        allow_hyphen_values = true
    )]
    pub max_frame_bytes: Option<String>,

    /// Time a new client has to say Hello before it is disconnected (10ms-1h).
    /// [env: PROJECT_DAWN_EXPORTER_HANDSHAKE_TIMEOUT] [default: 5s]
    #[arg(
        long = "ingest.handshake-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub handshake_timeout: Option<String>,

    /// Most series held in total (1-100000000); new series beyond it are rejected and
    /// counted. [env: PROJECT_DAWN_EXPORTER_MAX_SERIES] [default: 100000]
    #[arg(
        long = "store.max-series",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_series: Option<String>,

    /// Most series held per metric (1-100000000).
    /// [env: PROJECT_DAWN_EXPORTER_MAX_SERIES_PER_METRIC] [default: 10000]
    #[arg(
        long = "store.max-series-per-metric",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub max_series_per_metric: Option<String>,

    /// How long the values of a disconnected node are kept before they are dropped
    /// (0s-720h). [env: PROJECT_DAWN_EXPORTER_SOURCE_TTL] [default: 5m]
    #[arg(
        long = "store.source-ttl",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub source_ttl: Option<String>,

    /// /health/live fails once the node has been silent this long; also the start-up
    /// grace and the idle timeout of telemetry clients (1s-1h).
    /// [env: PROJECT_DAWN_EXPORTER_LIVENESS_TIMEOUT] [default: 30s]
    #[arg(
        long = "health.liveness-timeout",
        value_name = "DURATION",
        allow_hyphen_values = true
    )]
    pub liveness_timeout: Option<String>,
}

/// Subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Probe a running exporter's /health/ready: exit 0 when it answers 200, 1 otherwise
    /// (with a one-line reason). For container health checks without curl.
    Healthcheck(HealthcheckArgs),
}

/// Flags of `healthcheck`.
#[derive(Debug, Clone, Args)]
pub struct HealthcheckArgs {
    /// URL to probe. [default: http://127.0.0.1:PORT/health/ready, PORT taken from
    /// --web.listen-address or PROJECT_DAWN_METRICS_PORT; https:// when the web config file
    /// turns TLS on, trusting exactly the certificate it names]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// User for basic authentication, when the web config requires it for the health
    /// endpoints (it does not with `dawn_health_without_auth: true`); the password is read
    /// from PROJECT_DAWN_HEALTHCHECK_PASSWORD.
    #[arg(long = "basic-auth-user", value_name = "USER")]
    pub basic_auth_user: Option<String>,

    /// Give up after this long. [default: 5s]
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_parse_as_documented() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "dawn-exporter",
            "--socket",
            "/s",
            "--web.listen-address",
            ":9100",
            "--compat.seed-names",
            "--store.source-ttl",
            "1m",
        ])
        .unwrap();
        assert_eq!(cli.run.socket.as_deref(), Some("/s"));
        assert_eq!(cli.run.listen_address.as_deref(), Some(":9100"));
        assert!(cli.run.compat_seed_names);
        assert_eq!(cli.run.source_ttl.as_deref(), Some("1m"));
        assert!(cli.command.is_none());
    }

    #[test]
    fn healthcheck_takes_url_and_global_address() {
        let cli = Cli::try_parse_from([
            "dawn-exporter",
            "healthcheck",
            "--web.listen-address",
            "127.0.0.1:1",
        ])
        .unwrap();
        assert!(matches!(cli.command, Some(Command::Healthcheck(_))));
        assert_eq!(cli.run.listen_address.as_deref(), Some("127.0.0.1:1"));
    }
}
