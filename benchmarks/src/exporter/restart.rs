//! Records lost across exporter restarts under load.
//!
//! The node's own telemetry client (`dawn_telemetry::Telemetry`, in this process, with
//! a 20 ms flush and reconnects every 10..100 ms) records continuously from a thread (about
//! 100k events/s over 104 series of the node's catalogue metrics: messages by type and
//! status, latency histograms by type, agent operations) while the exporter is killed with
//! SIGKILL and started again on the same socket, 10 times. Then recording stops and
//! `/metrics` of the last exporter must come to show every series' total as the client's
//! handles hold it: the figure is the sum over series of |recorded − exported| (counter
//! totals and histogram counts; histogram buckets and sums are checked too).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use dawn_node::catalogue::{
    MessageStatus, MessageType, OperationStatus, P2P_AGENT_OPERATIONS_TOTAL,
    P2P_MESSAGE_LATENCY_SECONDS, P2P_MESSAGES_TOTAL,
};
use dawn_proto::Value;
use dawn_telemetry::{Counter, Histogram, Telemetry, TelemetryConfig};

use super::expo::{self, sample_key};
use super::workload::expected_samples;
use super::{STORE_ARGS, subdir};
use crate::Mode;
use crate::procs::{Binaries, ExporterProc};
use crate::summary::{Summary, Target};

/// Restarts per run.
const RESTARTS: usize = 10;
/// Agents of the agent-operations counters.
const AGENTS: usize = 8;
/// Operations per agent.
const OPERATIONS: [&str; 5] = ["echo", "get", "put", "delete", "list"];

/// A counter series: its handle and labels.
struct CounterSeries {
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    handle: Counter,
}

/// A histogram series.
struct HistogramSeries {
    labels: Vec<(&'static str, String)>,
    handle: Histogram,
}

/// Runs the restart figure.
pub(crate) fn run(
    mode: Mode,
    bins: &Binaries,
    work: &Path,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let uptime = Duration::from_millis(if mode.quick { 300 } else { 1500 });
    let dir = subdir(work, "restart")?;
    let mut exporter = ExporterProc::start(bins, &dir, STORE_ARGS)?;

    let mut config = TelemetryConfig::new(&exporter.socket, "bench-restart");
    config.flush_interval = Duration::from_millis(20);
    config.reconnect_min = Duration::from_millis(10);
    config.reconnect_max = Duration::from_millis(100);
    config.handshake_timeout = Duration::from_secs(1);
    config.write_timeout = Duration::from_secs(1);
    let telemetry = Telemetry::start(config)?;
    let (counters, histograms) = series(&telemetry);

    let stop = Arc::new(AtomicBool::new(false));
    let recorder = {
        let stop = Arc::clone(&stop);
        let counters: Vec<Counter> = counters.iter().map(|c| c.handle.clone()).collect();
        let histograms: Vec<Histogram> = histograms.iter().map(|h| h.handle.clone()).collect();
        std::thread::spawn(move || record(&counters, &histograms, &stop))
    };

    let mut downtime = Duration::ZERO;
    for _ in 0..RESTARTS {
        std::thread::sleep(uptime);
        exporter.proc.kill()?;
        let killed = Instant::now();
        exporter = ExporterProc::start(bins, &dir, STORE_ARGS)?;
        downtime += killed.elapsed();
    }
    std::thread::sleep(uptime);
    stop.store(true, Ordering::Relaxed);
    let recorded = recorder
        .join()
        .map_err(|_| anyhow::anyhow!("the recording thread panicked"))?;

    // Every handle's value now is what the client recorded; the exporter must come to show it.
    let mut expected = Vec::new();
    let mut totals = Vec::new();
    for c in &counters {
        let labels: Vec<(&str, &str)> = c.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let v = c.handle.get();
        expected_samples(c.name, &labels, &Value::Counter(v), &mut expected);
        totals.push((sample_key(c.name, &labels), v));
    }
    for h in &histograms {
        let labels: Vec<(&str, &str)> = h.labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let v = h.handle.get();
        let name = P2P_MESSAGE_LATENCY_SECONDS.name;
        totals.push((sample_key(&format!("{name}_count"), &labels), v.count));
        expected_samples(name, &labels, &Value::Histogram(v), &mut expected);
    }
    let recorded_total: u64 = totals.iter().map(|(_, v)| v).sum();
    if recorded_total != recorded {
        bail!("the handles hold {recorded_total} records, the recorder made {recorded}");
    }

    let deadline = Instant::now() + Duration::from_secs(15);
    let (lost, wrong) = loop {
        let got = expo::parse(&expo::metrics(exporter.port)?)?;
        let lost: u64 = totals
            .iter()
            .map(|(key, want)| {
                let have = got.get(key).copied().unwrap_or(0.0) as u64;
                have.abs_diff(*want)
            })
            .sum();
        let wrong = expo::differences(&expected, &got);
        if (lost == 0 && wrong.is_empty()) || Instant::now() > deadline {
            break (lost, wrong);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let sessions = telemetry.sessions();
    telemetry.shutdown();
    if lost == 0 && !wrong.is_empty() {
        bail!(
            "totals match after the restarts but other samples do not: {}",
            wrong.join("; ")
        );
    }
    if (sessions as usize) < RESTARTS + 1 {
        bail!("the client made only {sessions} sessions across {RESTARTS} restarts");
    }
    summary.record(
        "restart_loss_records",
        lost as f64,
        "records",
        Target::Exactly(0.0),
        format!(
            "{recorded} records on {} series by dawn_telemetry (20 ms flush) across {RESTARTS} SIGKILL restarts of the exporter every {} ms (down {:.0} ms each on average, {sessions} sessions); |recorded - on /metrics| summed over series",
            totals.len(),
            uptime.as_millis(),
            downtime.as_secs_f64() * 1e3 / RESTARTS as f64
        ),
    );
    Ok(())
}

/// The series the recorder writes, resolved once.
fn series(telemetry: &Telemetry) -> (Vec<CounterSeries>, Vec<HistogramSeries>) {
    let mut counters = Vec::new();
    let messages = telemetry.counter(&P2P_MESSAGES_TOTAL);
    for t in MessageType::ALL.map(MessageType::as_str) {
        for s in MessageStatus::ALL.map(MessageStatus::as_str) {
            counters.push(CounterSeries {
                name: P2P_MESSAGES_TOTAL.name,
                labels: vec![("type", t.to_owned()), ("status", s.to_owned())],
                handle: messages.with_labels(&[t, s]),
            });
        }
    }
    let operations = telemetry.counter(&P2P_AGENT_OPERATIONS_TOTAL);
    for a in 0..AGENTS {
        let agent = format!("agent-{a}");
        for op in OPERATIONS {
            for s in OperationStatus::ALL.map(OperationStatus::as_str) {
                counters.push(CounterSeries {
                    name: P2P_AGENT_OPERATIONS_TOTAL.name,
                    labels: vec![
                        ("agent_id", agent.clone()),
                        ("operation", op.to_owned()),
                        ("status", s.to_owned()),
                    ],
                    handle: operations.with_labels(&[&agent, op, s]),
                });
            }
        }
    }
    let latency = telemetry.histogram(&P2P_MESSAGE_LATENCY_SECONDS);
    let histograms = MessageType::ALL
        .map(MessageType::as_str)
        .iter()
        .map(|t| HistogramSeries {
            labels: vec![("type", (*t).to_owned())],
            handle: latency.with_labels(&[t]),
        })
        .collect();
    (counters, histograms)
}

/// Records 100 events per millisecond, spread over every series, until `stop`; returns how
/// many it recorded.
fn record(counters: &[Counter], histograms: &[Histogram], stop: &AtomicBool) -> u64 {
    const OBSERVED: [f64; 8] = [0.003, 0.02, 0.04, 0.07, 0.15, 0.6, 1.7, 12.0];
    let mut n: u64 = 0;
    let tick = Duration::from_millis(1);
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..100 {
            let i = n as usize;
            // One event in 8 is an observation, the rest counter increments.
            if i % 8 == 7 {
                histograms[(i / 8) % histograms.len()].observe(OBSERVED[(i / 3) % OBSERVED.len()]);
            } else {
                counters[i % counters.len()].inc();
            }
            n += 1;
        }
        next += tick;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
    }
    n
}
