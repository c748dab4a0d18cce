//! The `dawn-node` binary: resolves the configuration (every bad value reported, exit 64,
//! before anything is opened or bound), starts logging, runs the node and stops it
//! gracefully on SIGTERM or SIGINT.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use dawn_daemon::config::{ProcessEnv, Settings, exit_config_errors};
use dawn_node::app::{Cli, Command, IdArgs, NodeConfig, RunArgs, resolve_data_root};
use dawn_node::p2p::Identity;
use tracing::error;

const PROGRAM: &str = "dawn-node";

fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let (config, log) = match NodeConfig::resolve(args, &ProcessEnv) {
        Ok(resolved) => resolved,
        Err(errors) => exit_config_errors(PROGRAM, &errors),
    };
    let _log = dawn_daemon::logging::install(log).context("cannot start logging")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(dawn_node::app::run(config, dawn_daemon::shutdown::signal())) {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => {
            // Logging goes to stderr (and the log file): this is the line the operator sees.
            error!("cannot run: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `dawn-node id`: prints the node id of the identity under the data root.
fn id(args: &IdArgs) -> ExitCode {
    let mut settings = Settings::new(&ProcessEnv);
    let root = resolve_data_root(&mut settings, args.data_root.as_deref());
    if let Err(errors) = settings.finish() {
        exit_config_errors(PROGRAM, &errors);
    }
    match Identity::load_or_create(&root) {
        Ok(identity) => {
            println!("{}", identity.node_id());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run(args) => run(args),
        Command::Id(args) => Ok(id(args)),
    }
}
