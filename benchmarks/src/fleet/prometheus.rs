//! One real Prometheus scraping every exporter of the fleet (one job, one target each),
//! and what it says of its scrapes: `scrape_duration_seconds` of every target.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs::{Proc, free_tcp_ports, get};

/// The scrape interval (and timeout) of the job.
pub(super) const SCRAPE_INTERVAL: Duration = Duration::from_secs(5);

/// A running Prometheus.
pub(super) struct Prometheus {
    /// The process (killed when dropped).
    pub(super) proc: Proc,
    port: u16,
}

/// `prometheus` on the `PATH`, if installed.
pub(super) fn binary() -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("prometheus"))
        .find(|p| p.is_file())
}

impl Prometheus {
    /// Starts `binary` in `dir` scraping `targets` (`HOST:PORT`) every
    /// [`SCRAPE_INTERVAL`]; waits until it is ready.
    pub(super) fn start(binary: &Path, dir: &Path, targets: &[String]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let secs = SCRAPE_INTERVAL.as_secs();
        let list: Vec<String> = targets.iter().map(|t| format!("{t:?}")).collect();
        let config = format!(
            "global:\n  scrape_interval: {secs}s\n  scrape_timeout: {secs}s\n\
             scrape_configs:\n  - job_name: fleet\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)?;
        let port = free_tcp_ports(1)?[0];
        let args = [
            format!("--config.file={}", config_path.display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = Proc::start(binary, &args, &[], dir.join("prometheus.log"))?;
        let prometheus = Prometheus { proc, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !get(&prometheus.url("/-/ready")).is_ok_and(|r| r.status == 200) {
            if Instant::now() > deadline {
                bail!(
                    "Prometheus was not ready within 60 s; see {}",
                    prometheus.proc.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(prometheus)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// `scrape_duration_seconds` of every target it has scraped, in seconds.
    pub(super) fn scrape_durations(&self) -> anyhow::Result<Vec<f64>> {
        let r = get(&self.url("/api/v1/query?query=scrape_duration_seconds"))?;
        if r.status != 200 {
            bail!("Prometheus answered {} to a query", r.status);
        }
        let body: serde_json::Value =
            serde_json::from_slice(&r.body).context("Prometheus' answer is not JSON")?;
        Ok(body["data"]["result"]
            .as_array()
            .context("no data.result in Prometheus' answer")?
            .iter()
            .filter_map(|s| s["value"][1].as_str()?.parse().ok())
            .collect())
    }

    /// How many targets are up (`sum(up)`).
    pub(super) fn targets_up(&self) -> anyhow::Result<usize> {
        let r = get(&self.url("/api/v1/query?query=up"))?;
        let body: serde_json::Value =
            serde_json::from_slice(&r.body).context("Prometheus' answer is not JSON")?;
        Ok(body["data"]["result"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|s| s["value"][1] == "1").count()))
    }
}
