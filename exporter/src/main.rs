//! The `dawn-exporter` binary: resolves the configuration (every bad value reported, exit
//! 64, before anything is bound), starts logging and the exporter, and stops it gracefully
//! on SIGTERM or SIGINT. `dawn-exporter healthcheck` probes a running exporter instead.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dawn_daemon::config::{EXIT_CONFIG, HumanDuration, ProcessEnv, exit_config_errors};
use dawn_exporter::{
    Cli, Command, Credentials, Exporter, ExporterConfig, HealthcheckArgs, RunArgs,
};
use tracing::{error, info};

const PROGRAM: &str = "dawn-exporter";

/// Default time `healthcheck` waits for an answer.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where `healthcheck` reads the password for `--basic-auth-user`.
const ENV_HEALTHCHECK_PASSWORD: &str = "PROJECT_DAWN_HEALTHCHECK_PASSWORD";

async fn healthcheck(run: &RunArgs, args: &HealthcheckArgs) -> ExitCode {
    let (addr, web) = match dawn_exporter::healthcheck_target(run, &ProcessEnv) {
        Ok(target) => target,
        Err(errors) => exit_config_errors(PROGRAM, &errors),
    };
    let url = match &args.url {
        Some(url) => url.clone(),
        None => dawn_exporter::ready_url(addr, web.as_ref().is_some_and(|w| w.tls.is_some())),
    };
    let credentials = match &args.basic_auth_user {
        None => None,
        Some(user) => match std::env::var(ENV_HEALTHCHECK_PASSWORD) {
            Ok(password) => Some(Credentials {
                user: user.clone(),
                password,
            }),
            Err(_) => {
                eprintln!(
                    "{PROGRAM}: invalid configuration: --basic-auth-user needs the password in {ENV_HEALTHCHECK_PASSWORD}"
                );
                return ExitCode::from(EXIT_CONFIG as u8);
            }
        },
    };
    let timeout = match args.timeout.as_deref().map(str::parse::<HumanDuration>) {
        None => HEALTHCHECK_TIMEOUT,
        Some(Ok(HumanDuration(d))) => d,
        Some(Err(e)) => {
            eprintln!("{PROGRAM}: invalid configuration: --timeout: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    match dawn_exporter::healthcheck_probe(&url, web.as_ref(), credentials.as_ref(), timeout).await
    {
        Ok(summary) => {
            println!("ready: {summary}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            println!("not ready: {reason}");
            ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck(args)) = &cli.command {
        return Ok(healthcheck(&cli.run, args).await);
    }
    let (config, log) = match ExporterConfig::resolve(&cli.run, &ProcessEnv) {
        Ok(resolved) => resolved,
        Err(errors) => exit_config_errors(PROGRAM, &errors),
    };
    let _log = dawn_daemon::logging::install(log).context("cannot start logging")?;
    // Before start-up is announced, so that a SIGTERM sent right after it is not lost.
    let mut signals = dawn_daemon::shutdown::Signals::install();
    let exporter = match Exporter::start(config).await {
        Ok(exporter) => exporter,
        Err(e) => {
            // Logging goes to stderr (and the log file), so this is the one line the
            // operator sees.
            error!("cannot start: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let signal = signals.recv().await;
    info!(
        signal,
        "shutting down: no new clients or requests, finishing in-flight scrapes"
    );
    exporter.shutdown().await;
    info!("dawn-exporter stopped");
    Ok(ExitCode::SUCCESS)
}
