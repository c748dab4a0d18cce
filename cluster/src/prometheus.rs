//! A `prometheus.yml` for the cluster's exporters, and Prometheus itself when installed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::member::{Member, terminate};

/// Writes `DIR/prometheus.yml` scraping every member's exporter; returns its path.
pub(crate) fn write_config(dir: &Path, members: &[Member]) -> anyhow::Result<PathBuf> {
    let targets: Vec<String> = members
        .iter()
        .map(|m| format!("'127.0.0.1:{}'", m.ports.metrics))
        .collect();
    let text = format!(
        "# Written by dawn-cluster for its exporters.\n\
         global:\n  scrape_interval: 5s\n  evaluation_interval: 5s\n\
         scrape_configs:\n  - job_name: dawn\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// A Prometheus server started for the cluster.
pub(crate) struct PrometheusServer {
    /// Its web UI.
    pub(crate) url: String,
    child: Child,
}

/// Starts `prometheus` from PATH on loopback `port` if it is installed.
pub(crate) fn start_if_installed(dir: &Path, config: &Path, port: u16) -> Option<PrometheusServer> {
    let log = std::fs::File::create(dir.join("prometheus.log")).ok()?;
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prometheus-data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    Some(PrometheusServer {
        url: format!("http://127.0.0.1:{port}"),
        child,
    })
}

impl PrometheusServer {
    /// Stops it gracefully.
    pub(crate) async fn stop(&mut self) {
        terminate(&mut self.child).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.child.wait()).await;
    }
}
