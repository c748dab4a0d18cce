//! The command line: `run`'s and `id`'s flags come from the settings table
//! (`settings.rs`), as raw text that [`super::NodeConfig::resolve`] parses with the
//! environment variables, reporting every bad value at once (exit 64) before anything is
//! opened or bound; `call` and its flags are declared here.

use clap::{Args, Parser, Subcommand};

use super::settings::{IdArgs, RunArgs};

/// `dawn-node`: the lean Dawn peer-to-peer node.
#[derive(Debug, Parser)]
#[command(
    name = "dawn-node",
    version,
    about = "The lean Dawn peer-to-peer node. Its metrics, health and readiness go to the dawn-exporter sidecar over a Unix socket.",
    long_about = None,
    after_help = "`dawn-node run --help` lists every setting: its flag, its variable, what it accepts and its default."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the node until SIGTERM or SIGINT.
    Run(RunArgs),
    /// Print this node's id (derived from its identity key under the data root, which is
    /// created on first use), e.g. to list it as a trusted or bootstrap peer elsewhere.
    Id(IdArgs),
    /// Call a JSON-RPC method on a running node and print the JSON result; on an error
    /// reply or a failed connection, print the error to stderr and exit 1.
    ///
    /// Example: dawn-node call --peer 127.0.0.1:8000 agent/call '{"agent":"kv","tool":"put","params":{"key":"a","value":1}}'
    Call(CallArgs),
}

/// Flags of `dawn-node call`.
#[derive(Debug, Clone, Default, Args)]
#[command(
    after_help = "Methods: node/ping, node/info, node/peers, agent/list, agent/call {\"agent\",\"tool\",\"params\"}, node/relay {\"peer\",\"method\",\"params\",\"timeout_ms\"}.\nThe call connects as a client: the node serves it without counting it as a peer."
)]
pub struct CallArgs {
    /// The node to call: HOST:PORT (its UDP p2p port), optionally HOST:PORT@NODE_ID to
    /// insist on that node.
    #[arg(long = "peer", value_name = "HOST:PORT")]
    pub peer: String,

    /// The method, e.g. node/info.
    #[arg(value_name = "METHOD")]
    pub method: String,

    /// The params as JSON (an object or an array); none when omitted.
    #[arg(value_name = "JSON-PARAMS")]
    pub params: Option<String>,

    /// How long to wait for the reply, connecting included (e.g. 500ms, 10s).
    /// [default: 10s]
    #[arg(long = "timeout", value_name = "DURATION")]
    pub timeout: Option<String>,

    /// Call with the identity under this data root (e.g. to be admitted by a node with
    /// --reject-unknown) instead of a fresh one.
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_root: Option<String>,

    /// Send from this local IP address (on a host with several); the node's per-address
    /// limits count calls by source address. [default: chosen by the system]
    #[arg(long = "bind", value_name = "IP")]
    pub bind: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use dawn_daemon::config::Table;

    use super::super::settings::RunSettings;
    use super::*;

    #[test]
    fn run_help_names_every_flag_and_variable() {
        Cli::command().debug_assert();
        let mut cli = Cli::command();
        let run = cli.find_subcommand_mut("run").expect("run");
        let help = run.render_long_help().to_string();
        for entry in RunSettings::SETTINGS {
            let names = entry.flag().name().map(|f| format!("--{f}"));
            for name in names.into_iter().chain(entry.env().map(str::to_owned)) {
                assert!(help.contains(&name), "run --help lacks {name}:\n{help}");
            }
            let default = format!("[default: {}]", entry.default_text());
            assert!(help.contains(&default), "run --help lacks {default}");
        }
    }

    #[test]
    fn id_takes_the_data_root() {
        let cli = Cli::try_parse_from(["dawn-node", "id", "--data-root", "/d"]).unwrap();
        let Command::Id(args) = cli.command else {
            unreachable!("an id command line")
        };
        assert_eq!(args.raw("data-root"), Some("/d"));
    }
}
