//! `telemetry/examples/worker.rs`, a program that is not a P2P node, ships to the real
//! `dawn-exporter`: the sidecar serves any Rust program through `dawn-telemetry`
//! (docs/telemetry-client.md). Its totals on `/metrics` are exact after it leaves, and while
//! it runs its health check shows on `/health` beside the exporter's own and it is ready.

use std::ffi::OsString;
use std::path::PathBuf;

use dawn_daemon::siblings::Siblings;
use dawn_tests::support::process::run_to_end;
use dawn_tests::support::{Exporter, Proc, eventually, get};
use serde_json::Value;

const JOBS: u64 = 40;

#[test]
fn the_worker_example_ships_exact_totals_to_the_real_exporter() {
    let worker = worker();
    let exporter = Exporter::start();
    let socket = exporter.socket.to_string_lossy().into_owned();
    let jobs = JOBS.to_string();

    let run = run_to_end(
        &worker,
        &["--socket", &socket, "--jobs", &jobs, "--id", "worker-7"],
        &[],
    );
    assert_eq!(run.code(), Some(0), "worker failed:\n{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("{JOBS} jobs reported")),
        "the final flush was not delivered: {}{}",
        run.stdout,
        run.stderr
    );

    // Every fifth job fails: 32 done, 8 failed, 40 observations.
    let failed = JOBS / 5;
    let m = exporter.eventually_metrics("the worker's totals", |m| {
        match m.get("worker_job_duration_seconds_count", &[]) {
            Some(n) if n == JOBS as f64 => Ok(m.clone()),
            other => Err(format!("worker_job_duration_seconds_count is {other:?}")),
        }
    });
    assert_eq!(
        m.value("worker_jobs_total", &[("outcome", "done")]),
        (JOBS - failed) as f64
    );
    assert_eq!(
        m.value("worker_jobs_total", &[("outcome", "failed")]),
        failed as f64
    );
    assert_eq!(m.value("worker_queue_length", &[]), 0.0);
    assert!(m.value("worker_job_duration_seconds_sum", &[]) > 0.0);
    assert_eq!(
        m.value("worker_job_duration_seconds_bucket", &[("le", "+Inf")]),
        JOBS as f64
    );
    assert_eq!(m.types["worker_jobs_total"], "counter");
    assert_eq!(m.types["worker_job_duration_seconds"], "histogram");
    assert_eq!(m.types["worker_queue_length"], "gauge");
    for s in m.find("dawn_exporter_decode_errors_total", &[]) {
        assert_eq!(s.value, 0.0, "the worker caused a protocol error: {s}");
    }

    eventually("the worker said goodbye and left", || {
        let clients = exporter.try_metrics()?.get("dawn_exporter_clients", &[]);
        (clients == Some(0.0))
            .then_some(())
            .ok_or_else(|| format!("dawn_exporter_clients is {clients:?}"))
    });
}

#[test]
fn the_worker_example_reports_health_and_readiness_while_it_runs() {
    let worker = worker();
    let exporter = Exporter::start();
    let mut args: Vec<OsString> = vec!["--socket".into(), exporter.socket.clone().into()];
    args.extend(["--jobs", "10", "--id", "worker-8", "--linger-ms", "120000"].map(OsString::from));
    let _worker = Proc::start(
        "worker",
        &worker,
        args,
        vec![],
        exporter.dir.path().join("worker.log"),
    );

    // Ready once started; its `jobs` check is on /health with the details it sent.
    let body: Value = eventually("the worker's jobs check after its 10 jobs", || {
        let r = get(&exporter.url("/health"))?;
        let body: Value = serde_json::from_str(&r.text()).map_err(|e| e.to_string())?;
        let jobs = &body["details"]["check_details"]["jobs"];
        (jobs["message"] == "8 done, 2 failed")
            .then(|| body.clone())
            .ok_or_else(|| format!("/health is {body}"))
    });
    let jobs = &body["details"]["check_details"]["jobs"];
    assert_eq!(jobs["status"], "healthy", "{body}");
    assert_eq!(jobs["details"]["failed"], 2, "{body}");
    assert_eq!(body["details"]["checks"]["telemetry"], "healthy", "{body}");
    assert_eq!(body["status"], "healthy", "{body}");
    let ready = exporter.get("/health/ready");
    assert_eq!(ready.status, 200, "{}", ready.text());
}

fn worker() -> PathBuf {
    Siblings::of_current_exe()
        .and_then(|s| s.build_example("dawn-telemetry", "worker"))
        .unwrap_or_else(|e| panic!("cannot build the worker example: {e}"))
}
