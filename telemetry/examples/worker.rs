//! A job worker that is not a P2P node, shipping its metrics, health and readiness to a
//! Dawn exporter sidecar: what any Rust service does to use the sidecar
//! (docs/telemetry-client.md walks through it).
//!
//! ```sh
//! dawn-exporter --socket /tmp/dawn-worker/telemetry.sock --web.listen-address 127.0.0.1:9300 &
//! cargo run -p dawn-telemetry --example worker -- --socket /tmp/dawn-worker/telemetry.sock --jobs 100
//! curl -s 127.0.0.1:9300/metrics | grep worker_
//! ```
//!
//! Every fifth job fails. The worker reports itself ready once started, healthy while fewer
//! than half of its jobs fail, and says goodbye to the exporter when it is done.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use dawn_telemetry::{
    DEFAULT_SECONDS_BUCKETS, Detail, DetailValue, HealthStatus, MetricKind, MetricSpec,
    ShutdownOutcome, Telemetry, TelemetryConfig,
};

/// The worker's catalogue: every metric it records, declared once.
const JOBS: MetricSpec = MetricSpec {
    name: "worker_jobs_total",
    help: "Jobs finished, by outcome.",
    kind: MetricKind::Counter,
    labels: &["outcome"],
    buckets: &[],
    native: None,
};
const JOB_SECONDS: MetricSpec = MetricSpec {
    name: "worker_job_duration_seconds",
    help: "Time taken by one job, in seconds.",
    kind: MetricKind::Histogram,
    labels: &[],
    buckets: DEFAULT_SECONDS_BUCKETS,
    native: None,
};
const QUEUE: MetricSpec = MetricSpec {
    name: "worker_queue_length",
    help: "Jobs waiting to be run.",
    kind: MetricKind::Gauge,
    labels: &[],
    buckets: &[],
    native: None,
};

const USAGE: &str = "usage: worker [--socket PATH] [--jobs N] [--id NAME] [--linger-ms MS]
  --socket PATH    the exporter's socket (default: $PROJECT_DAWN_TELEMETRY_SOCKET or /tmp/dawn/telemetry.sock)
  --jobs N         jobs to run before exiting (default 50)
  --id NAME        this worker's id, which keys its series in the exporter (default worker-1)
  --linger-ms MS   stay connected this long after the last job, idle but reporting (default 0)";

struct Args {
    socket: PathBuf,
    jobs: u64,
    id: String,
    linger: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        socket: std::env::var_os("PROJECT_DAWN_TELEMETRY_SOCKET")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(dawn_telemetry::DEFAULT_SOCKET_PATH)),
        jobs: 50,
        id: "worker-1".to_owned(),
        linger: Duration::ZERO,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--socket" => args.socket = PathBuf::from(value()?),
            "--jobs" => {
                let v = value()?;
                args.jobs = v
                    .parse()
                    .map_err(|_| format!("--jobs takes a whole number, not {v:?}"))?;
            }
            "--id" => args.id = value()?,
            "--linger-ms" => {
                let v = value()?;
                let ms = v
                    .parse()
                    .map_err(|_| format!("--linger-ms takes a whole number, not {v:?}"))?;
                args.linger = Duration::from_millis(ms);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = match parse_args() {
        Ok(args) => args,
        Err(problem) => {
            if !problem.is_empty() {
                eprintln!("worker: {problem}");
            }
            eprintln!("{USAGE}");
            std::process::exit(if problem.is_empty() { 0 } else { 64 });
        }
    };
    let mut config = TelemetryConfig::new(&args.socket, &args.id);
    config.client_name = "worker".to_owned();
    config.flush_interval = Duration::from_millis(200);
    let telemetry = Telemetry::start(config)?;

    // Resolve every handle once; recording is then one atomic update.
    let done = telemetry.counter(&JOBS).with_labels(&["done"]);
    let failed = telemetry.counter(&JOBS).with_labels(&["failed"]);
    let duration = telemetry.histogram(&JOB_SECONDS).handle();
    let queue = telemetry.gauge(&QUEUE).handle();
    telemetry.set_ready(true);

    for job in 0..args.jobs {
        queue.set((args.jobs - job) as f64);
        let started = Instant::now();
        std::thread::sleep(Duration::from_millis(job % 4));
        duration.observe_duration(started.elapsed());
        if job % 5 == 4 {
            failed.inc();
        } else {
            done.inc();
        }
        let (ok, bad) = (done.get(), failed.get());
        let status = if bad * 2 < ok + bad {
            HealthStatus::Healthy
        } else {
            HealthStatus::Degraded
        };
        let details = vec![Detail {
            key: "failed".to_owned(),
            value: DetailValue::Int(i64::try_from(bad).unwrap_or(i64::MAX)),
        }];
        telemetry.set_health("jobs", status, format!("{ok} done, {bad} failed"), details)?;
    }
    queue.set(0.0);
    std::thread::sleep(args.linger);

    // The final flush and a goodbye; a worker without an exporter still finishes its jobs.
    match telemetry.shutdown() {
        ShutdownOutcome::Delivered => println!("{} jobs reported", args.jobs),
        other => println!(
            "{} jobs done; the exporter did not get them ({other:?})",
            args.jobs
        ),
    }
    Ok(())
}
