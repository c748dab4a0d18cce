//! The node's recording hot path (`dawn_node::telemetry` handles) against the `prometheus`
//! crate's equivalents, measured alternately in the same process.

use std::time::Duration;

use dawn_node::telemetry::{Telemetry, TelemetryConfig};
use dawn_proto::catalogue::P2P_CONNECTIONS_TOTAL;

use crate::Mode;
use crate::measure::{Plan, compare};
use crate::procs::Workdir;
use crate::summary::{Summary, Target};

/// A telemetry instance with no exporter listening: recording is the same whether or not
/// one is (the shipper runs on its own thread), and nothing is shipped mid-measurement.
fn telemetry(dir: &Workdir) -> anyhow::Result<Telemetry> {
    let mut config = TelemetryConfig::new(dir.path().join("absent.sock"), "bench");
    config.flush_interval = Duration::from_secs(60);
    Ok(Telemetry::start(config)?)
}

/// Runs the group.
pub(crate) fn run(mode: Mode, summary: &mut Summary) -> anyhow::Result<()> {
    let plan = if mode.quick { Plan::QUICK } else { Plan::FULL };
    let dir = Workdir::new("hot")?;
    let telemetry = telemetry(&dir)?;

    let ours = telemetry
        .counter(&P2P_CONNECTIONS_TOTAL)
        .with_labels(&["success"]);
    let theirs = prometheus::IntCounter::new("bench_total", "bench")?;
    let c = compare(plan, |_| ours.inc(), |_| theirs.inc());
    summary.record(
        "hot_counter_inc_ratio_vs_prometheus",
        c.ratio(),
        "ratio",
        Target::AtMost(1.0),
        format!(
            "Counter::inc {:.2} ns vs prometheus IntCounter::inc {:.2} ns",
            c.candidate_ns, c.baseline_ns
        ),
    );
    telemetry.shutdown();
    Ok(())
}
