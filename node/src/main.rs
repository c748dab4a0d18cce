//! The `dawn-node` binary: resolves the configuration (every bad value reported, exit 64,
//! before anything is opened or bound), starts logging, runs the node and stops it
//! gracefully on SIGTERM or SIGINT.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use dawn_daemon::config::{HumanDuration, ProcessEnv, exit_config_errors};
use dawn_node::app::{CallArgs, Cli, Command, IdArgs, NodeConfig, RunArgs, resolve_data_root};
use dawn_node::client::{Client, DEFAULT_CALL_TIMEOUT};
use dawn_node::p2p::{Identity, PeerAddr};
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
    // The signal listeners exist before start-up is announced, so an early SIGTERM counts.
    let served = runtime.block_on(async {
        let mut signals = dawn_daemon::shutdown::Signals::install();
        dawn_node::app::run(config, async move { signals.recv().await }).await
    });
    match served {
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
    let root = match resolve_data_root(args, &ProcessEnv) {
        Ok(root) => root,
        Err(errors) => exit_config_errors(PROGRAM, &errors),
    };
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

/// Exit status of `call` for a bad command line (as for configuration errors).
const EXIT_USAGE: u8 = 64;

/// `dawn-node call`: one request to a node as a client; the result on stdout as JSON.
fn call(args: &CallArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("{PROGRAM} call: {message}");
        ExitCode::from(EXIT_USAGE)
    };
    let peer: PeerAddr = match args.peer.parse() {
        Ok(peer) => peer,
        Err(e) => return usage(format!("--peer: {e}")),
    };
    let params = match args
        .params
        .as_deref()
        .map(serde_json::from_str::<serde_json::Value>)
    {
        None => None,
        Some(Ok(v @ (serde_json::Value::Object(_) | serde_json::Value::Array(_)))) => Some(v),
        Some(Ok(_)) => return usage("JSON-PARAMS must be a JSON object or array".into()),
        Some(Err(e)) => return usage(format!("JSON-PARAMS is not valid JSON: {e}")),
    };
    let bind = match args.bind.as_deref().map(str::parse::<std::net::IpAddr>) {
        None => None,
        Some(Ok(ip)) => Some(ip),
        Some(Err(_)) => {
            let given = args.bind.as_deref().unwrap_or_default();
            return usage(format!(
                "--bind: {given:?} is not an IP address; expected an IPv4 or IPv6 address such \
                 as 127.0.0.2 or ::1"
            ));
        }
    };
    let timeout = match args.timeout.as_deref().map(str::parse::<HumanDuration>) {
        None => DEFAULT_CALL_TIMEOUT,
        Some(Ok(d)) if !d.0.is_zero() => d.0,
        Some(Ok(_)) => return usage("--timeout must be longer than 0".into()),
        Some(Err(e)) => return usage(format!("--timeout: {e}")),
    };
    let identity = match args
        .data_root
        .as_deref()
        .map(|d| Identity::load_or_create(d.as_ref()))
    {
        None => None,
        Some(Ok(identity)) => Some(identity),
        Some(Err(e)) => {
            eprintln!("{PROGRAM} call: {e}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("{PROGRAM} call: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let client = Client::bound(identity, bind)?.with_timeout(timeout);
        let reply = match client.connect(&peer).await {
            Ok(node) => client.call(&node, &args.method, params).await,
            Err(e) => Err(e),
        };
        // Tell the node the connection is over (its client slot is free at once), before
        // the runtime, which sends it, ends.
        client.close().await;
        reply
    });
    match outcome {
        Ok(Ok(result)) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&result).unwrap_or_else(|_| result.to_string())
            );
            ExitCode::SUCCESS
        }
        Ok(Err(error)) => {
            let data = error
                .data
                .as_ref()
                .map(|d| format!(" {d}"))
                .unwrap_or_default();
            eprintln!(
                "{PROGRAM} call: error {}: {}{data}",
                error.code, error.message
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{PROGRAM} call: {peer}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run(args) => run(args),
        Command::Id(args) => Ok(id(args)),
        Command::Call(args) => Ok(call(args)),
    }
}
