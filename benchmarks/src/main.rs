//! `dawn-bench`: every benchmark of Dawn in one run, each figure a ratio against a baseline
//! measured in the same run where there is one (`docs/benchmarks.md`).
//!
//! ```sh
//! cargo run --release -p dawn-benchmarks -- --quick     # under 3 minutes on 2 cores
//! cargo run --release -p dawn-benchmarks                # the full run behind docs/benchmarks.md
//! ```
//!
//! Groups, one module each: `hot` (the node's recording hot path vs the `prometheus` crate and
//! the OpenTelemetry SDK), `python` (the same operations in Python's `prometheus_client`),
//! `scrape` (the exporter's scrape, plain and as Prometheus makes it with gzip, and its
//! memory), `exporter` (ingest, restarts), `node` (throughput with telemetry on and
//! off, freshness), `fleet` (a hundred nodes and their exporters: connectivity, churn,
//! gossip and idle cost; `docs/scale.md`). The driver writes `target/bench/summary.json` and prints a table.

mod exporter;
mod fleet;
mod hot;
mod measure;
mod node;
mod procs;
mod python;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};

use summary::Summary;

/// A group of figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Group {
    /// Recording on the node's hot path, in process.
    Hot,
    /// Python's prometheus_client, for comparison with the old stack.
    Python,
    /// The exporter's scrape, plain and as Prometheus makes it (gzip), and its memory.
    Scrape,
    /// The exporter process: ingest, restarts.
    Exporter,
    /// Two node processes: throughput with and without telemetry, freshness.
    Node,
    /// A hundred nodes with their exporters: connectivity, churn, gossip and idle cost
    /// (several minutes; not in `--quick` unless asked for with `--only fleet`).
    Fleet,
}

/// Dawn's benchmarks, as ratios against baselines measured in the same run.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    /// Shorter runs (under 3 minutes on a 2-core machine): same figures, wider error.
    #[arg(long)]
    quick: bool,
    /// Run only these groups (repeatable); all by default.
    #[arg(long = "only", value_enum)]
    only: Vec<Group>,
    /// Where to write the figures as a JSON object {name: number}.
    #[arg(long, default_value = "target/bench/summary.json")]
    out: PathBuf,
    /// Measure this `dawn-exporter` binary in every group instead of the one built from
    /// the workspace: runs alternating between two builds compare them on the same machine
    /// at the same time, which a shared machine's drift otherwise hides.
    #[arg(long, value_name = "PATH")]
    exporter: Option<PathBuf>,
}

/// How long each group may take: the quick run is bounded, the full run is not.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mode {
    /// `--quick`.
    pub(crate) quick: bool,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let mode = Mode { quick: cli.quick };
    eprintln!(
        "dawn-bench: {} run",
        if mode.quick { "quick" } else { "full" }
    );
    let wanted = |g: Group| cli.only.is_empty() || cli.only.contains(&g);
    let mut summary = Summary::default();
    let started = std::time::Instant::now();

    let fleet = cli.only.contains(&Group::Fleet) || (cli.only.is_empty() && !mode.quick);
    let runs_binaries =
        wanted(Group::Scrape) || wanted(Group::Exporter) || wanted(Group::Node) || fleet;
    if let (Some(path), false) = (&cli.exporter, runs_binaries) {
        anyhow::bail!(
            "--exporter {}: no group selected runs an exporter (scrape, exporter, node and fleet do)",
            path.display()
        );
    }
    let bins = if runs_binaries {
        Some(procs::Binaries::build(cli.exporter.as_deref())?)
    } else {
        None
    };
    if wanted(Group::Hot) {
        eprintln!("== hot path");
        hot::run(mode, &mut summary)?;
    }
    if wanted(Group::Python) {
        eprintln!("== python prometheus_client");
        python::run(mode, &mut summary)?;
    }
    if let Some(bins) = &bins {
        if wanted(Group::Scrape) {
            eprintln!("== scrape");
            exporter::run_scrape(mode, bins, &mut summary)?;
        }
        if wanted(Group::Exporter) {
            eprintln!("== exporter");
            exporter::run(mode, bins, &mut summary)?;
        }
        if wanted(Group::Node) {
            eprintln!("== node");
            node::run(mode, bins, &mut summary)?;
        }
        if fleet {
            eprintln!("== fleet");
            fleet::run(bins, &mut summary)?;
        }
    }

    summary.write(&cli.out)?;
    println!("{}", summary.table());
    println!(
        "{} figures in {:.0} s; written to {}",
        summary.figures().len(),
        started.elapsed().as_secs_f64(),
        cli.out.display()
    );
    let missed = summary.missed();
    if missed.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for f in &missed {
            eprintln!("dawn-bench: {} = {} misses its target", f.name, f.value);
        }
        Ok(ExitCode::FAILURE)
    }
}
