//! The same hot-path operations in Python's `prometheus_client` (the seed's stack), for
//! comparison: what moving off it buys per recorded event.
//!
//! `prometheus_client` comes from PyPI into a virtual environment under `<target>/bench/venv`
//! (created on first use with `python3 -m venv`, reused afterwards); the timing script is
//! `benchmarks/python/hot_path.py`. The Rust side is re-measured here, in the same run, with
//! the same inputs as the `hot` group.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, bail};

use crate::Mode;
use crate::hot;
use crate::measure::Plan;
use crate::procs::Workdir;
use crate::summary::{Summary, Target};

/// The timing script, in this crate's source tree.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/python/hot_path.py");

/// What the script prints: ns per operation and the versions measured.
#[derive(Debug)]
struct PythonFigures {
    counter_inc_ns: f64,
    histogram_observe_ns: f64,
    labelled_inc_ns: f64,
    versions: String,
}

/// Runs the group.
pub(crate) fn run(mode: Mode, summary: &mut Summary) -> anyhow::Result<()> {
    let python = venv_python()?;
    let py = run_script(&python, mode)?;
    eprintln!("  measured {}", py.versions);

    let plan = if mode.quick { Plan::QUICK } else { Plan::FULL };
    let dir = Workdir::new("python")?;
    let telemetry = hot::telemetry(&dir)?;
    let counter = hot::counter_inc(plan, &telemetry)?.candidate_ns;
    let histogram = hot::histogram_observe(plan, &telemetry)?.candidate_ns;
    let labelled = hot::labelled_inc(plan, &telemetry)?.candidate_ns;
    telemetry.shutdown();

    let rows = [
        (
            "counter_inc",
            "Counter.inc()",
            "Counter::inc",
            py.counter_inc_ns,
            counter,
        ),
        (
            "histogram_observe",
            "Histogram.observe(v), default seconds buckets, 16 values in turn",
            "Histogram::observe",
            py.histogram_observe_ns,
            histogram,
        ),
        (
            "labelled_inc",
            "Counter.labels(type, status).inc(), 4 existing series in turn",
            "CounterFamily::with_labels(..).inc()",
            py.labelled_inc_ns,
            labelled,
        ),
    ];
    for (key, python_op, dawn_op, python_ns, dawn_ns) in rows {
        summary.record(
            &format!("python_{key}_ns"),
            python_ns,
            "ns",
            Target::Info,
            format!(
                "prometheus_client {python_op}: median of timeit repeats, net of timeit's loop ({})",
                py.versions
            ),
        );
        summary.record(
            &format!("dawn_vs_python_{key}"),
            dawn_ns / python_ns,
            "ratio",
            Target::Info,
            format!(
                "dawn {dawn_op} {dawn_ns:.2} ns vs prometheus_client {python_ns:.1} ns (ours / python)"
            ),
        );
    }
    Ok(())
}

/// The venv's interpreter, with `prometheus_client` installed: the venv is created when
/// missing and reused when present.
fn venv_python() -> anyhow::Result<PathBuf> {
    let venv = venv_dir()?;
    let python = venv.join("bin").join("python");
    if !python.exists() {
        let system = which_python3()?;
        eprintln!("  creating {}", venv.display());
        let out = Command::new(&system)
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .output()
            .with_context(|| format!("cannot run {}", system.display()))?;
        check(
            &out,
            &format!("`{} -m venv {}`", system.display(), venv.display()),
            "the python group needs Python's venv module and pip \
             (Debian/Ubuntu: apt-get install python3-venv)",
        )?;
    }
    let probe = Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !probe.status.success() {
        eprintln!("  pip install prometheus_client (from PyPI)");
        let out = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "prometheus_client",
            ])
            .output()
            .with_context(|| format!("cannot run {}", python.display()))?;
        check(
            &out,
            &format!("`{} -m pip install prometheus_client`", python.display()),
            "the python group installs prometheus_client from PyPI: it needs pip in the venv \
             and network access to PyPI (or PIP_INDEX_URL pointing at a mirror); \
             delete the venv to start afresh",
        )?;
    }
    Ok(python)
}

/// `<target>/bench/venv`, next to `summary.json` in a default checkout: the target
/// directory is the one this binary was built into (`<target>/<profile>/dawn-bench`).
fn venv_dir() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate dawn-bench's own executable")?;
    let target = exe
        .parent()
        .and_then(Path::parent)
        .with_context(|| format!("{} is not inside a cargo target dir", exe.display()))?;
    Ok(target.join("bench").join("venv"))
}

/// `python3` on `PATH`, or a clear error.
fn which_python3() -> anyhow::Result<PathBuf> {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(PathBuf::from("python3")),
        Ok(out) => bail!(
            "python group: `python3 --version` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => bail!(
            "python group: python3 was not found on PATH ({e}); it needs Python 3 with venv and \
             pip (Debian/Ubuntu: apt-get install python3 python3-venv), or run the other \
             groups with --only"
        ),
    }
}

/// Fails with the command, its exit status, the tail of its stderr and a hint.
fn check(out: &Output, what: &str, hint: &str) -> anyhow::Result<()> {
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    bail!(
        "python group: {what} failed ({}):\n{}\n{hint}",
        out.status,
        tail.join("\n")
    )
}

/// Runs the timing script and parses its JSON line.
fn run_script(python: &Path, mode: Mode) -> anyhow::Result<PythonFigures> {
    if !Path::new(SCRIPT).exists() {
        bail!("python group: the timing script {SCRIPT} is missing");
    }
    let mut cmd = Command::new(python);
    cmd.arg(SCRIPT);
    if mode.quick {
        cmd.arg("--quick");
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    check(
        &out,
        &format!("`{} {SCRIPT}`", python.display()),
        "the timing script failed",
    )?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("python group: the script printed no JSON object: {stdout}"))?;
    let ns = |key: &str| -> anyhow::Result<f64> {
        json[key]
            .as_f64()
            .filter(|v| v.is_finite() && *v > 0.0)
            .with_context(|| format!("python group: no positive `{key}` in the output: {stdout}"))
    };
    let text = |key: &str| json[key].as_str().unwrap_or("?").to_owned();
    Ok(PythonFigures {
        counter_inc_ns: ns("counter_inc_ns")?,
        histogram_observe_ns: ns("histogram_observe_ns")?,
        labelled_inc_ns: ns("labelled_inc_ns")?,
        versions: format!(
            "prometheus_client {} on {} {}",
            text("prometheus_client"),
            text("implementation"),
            text("python")
        ),
    })
}
