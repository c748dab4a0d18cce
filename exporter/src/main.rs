//! The `dawn-exporter` binary: resolves the configuration (every bad value reported, exit
//! 64, before anything is bound), starts logging and the exporter, and stops it gracefully
//! on SIGTERM or SIGINT. `dawn-exporter healthcheck` probes a running exporter instead.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use dawn_daemon::config::{EXIT_CONFIG, HumanDuration, ProcessEnv, exit_config_errors};
use dawn_exporter::{Cli, Command, Exporter, ExporterConfig, HealthcheckArgs, RunArgs};
use tracing::{error, info};

const PROGRAM: &str = "dawn-exporter";

/// Default time `healthcheck` waits for an answer.
const HEALTHCHECK_TIMEOUT: Duration = Duration::from_secs(5);

async fn healthcheck(run: &RunArgs, args: &HealthcheckArgs) -> ExitCode {
    let url = match &args.url {
        Some(url) => url.clone(),
        None => {
            match dawn_exporter::healthcheck_address(run.listen_address.as_deref(), &ProcessEnv) {
                Ok(addr) => dawn_exporter::ready_url(addr),
                Err(errors) => exit_config_errors(PROGRAM, &errors),
            }
        }
    };
    let timeout = match args.timeout.as_deref().map(str::parse::<HumanDuration>) {
        None => HEALTHCHECK_TIMEOUT,
        Some(Ok(HumanDuration(d))) => d,
        Some(Err(e)) => {
            eprintln!("{PROGRAM}: invalid configuration: --timeout: {e}");
            return ExitCode::from(EXIT_CONFIG as u8);
        }
    };
    match dawn_exporter::healthcheck_probe(&url, timeout).await {
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
    let exporter = match Exporter::start(config).await {
        Ok(exporter) => exporter,
        Err(e) => {
            // Logging goes to stderr (and the log file), so this is the one line the
            // operator sees.
            error!("cannot start: {e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let signal = dawn_daemon::shutdown::signal().await;
    info!(
        signal,
        "shutting down: no new clients or requests, finishing in-flight scrapes"
    );
    exporter.shutdown().await;
    info!("dawn-exporter stopped");
    Ok(ExitCode::SUCCESS)
}
