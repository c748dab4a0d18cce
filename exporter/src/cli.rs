//! The command line: the exporter's own flags come from its settings table
//! (`settings.rs`), as raw text that [`crate::ExporterConfig::resolve`] parses with the
//! environment variables, reporting every bad value at once (exit 64) before anything is
//! bound; `healthcheck` and its flags are declared here.

use clap::{Args, Parser, Subcommand};

pub use crate::settings::RunArgs;

/// `dawn-exporter`: serves a Dawn node's telemetry as Prometheus metrics and health
/// endpoints.
#[derive(Debug, Parser)]
#[command(
    name = "dawn-exporter",
    version,
    about = "Dawn's sidecar exporter: reads node telemetry from a Unix socket and serves Prometheus metrics and health endpoints.",
    long_about = None
)]
pub struct Cli {
    /// Flags of the exporter itself.
    #[command(flatten)]
    pub run: RunArgs,
    /// A subcommand instead of running the exporter.
    #[command(subcommand)]
    pub command: Option<Command>,
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
        assert_eq!(cli.run.raw("socket"), Some("/s"));
        assert_eq!(cli.run.raw("web.listen-address"), Some(":9100"));
        assert_eq!(cli.run.raw("compat.seed-names"), Some("true"));
        assert_eq!(cli.run.raw("store.source-ttl"), Some("1m"));
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
        assert_eq!(cli.run.raw("web.listen-address"), Some("127.0.0.1:1"));
    }
}
