//! One real Prometheus scraping every exporter of the fleet (job `dawn`, one target each,
//! as deploy/prometheus/prometheus.yml has it) and evaluating the shipped rules file
//! ([`RULES`]) at its scrape interval, and what it says: `scrape_duration_seconds` of every
//! target, and any PromQL query ([`Prometheus::query`]).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::procs::{Proc, free_tcp_ports, get};

/// The scrape interval (and timeout) of the job, and the rules' evaluation interval.
pub(super) const SCRAPE_INTERVAL: Duration = Duration::from_secs(5);

/// The shipped rules file, checked live by the group: the one operators deploy, not a copy.
pub(super) const RULES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/prometheus/rules/dawn.rules.yml"
);

/// The job name the rules select (`{job="dawn"}`).
const JOB: &str = "dawn";

/// One sample of an instant query's answer: its labels and value.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    /// The series' labels (`__name__` included when the query keeps it).
    pub(super) labels: serde_json::Map<String, serde_json::Value>,
    /// Its value (NaN when Prometheus sends something that is not a number).
    pub(super) value: f64,
}

impl Sample {
    /// The value of label `name` (empty when absent).
    pub(super) fn label(&self, name: &str) -> &str {
        self.labels
            .get(name)
            .and_then(serde_json::Value::as_str)
            .unwrap_or("")
    }
}

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
    /// [`SCRAPE_INTERVAL`] and evaluating [`RULES`] as often; waits until it is ready.
    pub(super) fn start(binary: &Path, dir: &Path, targets: &[String]) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let rules = Path::new(RULES)
            .canonicalize()
            .with_context(|| format!("the rules file {RULES}"))?;
        let secs = SCRAPE_INTERVAL.as_secs();
        let list: Vec<String> = targets.iter().map(|t| format!("{t:?}")).collect();
        let config = format!(
            "global:\n  scrape_interval: {secs}s\n  scrape_timeout: {secs}s\n  \
             evaluation_interval: {secs}s\n\
             rule_files:\n  - {:?}\n\
             scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: [{}]\n",
            rules.display().to_string(),
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
        Ok(self
            .query("scrape_duration_seconds")?
            .iter()
            .map(|s| s.value)
            .collect())
    }

    /// The answer to the instant query `promql` now (a vector; a scalar is one sample
    /// without labels). Fails on a refused query, so a mistyped one is not read as "no data".
    pub(super) fn query(&self, promql: &str) -> anyhow::Result<Vec<Sample>> {
        let r = get(&self.url(&format!("/api/v1/query?query={}", encode(promql))))?;
        let body: serde_json::Value =
            serde_json::from_slice(&r.body).context("Prometheus' answer is not JSON")?;
        if r.status != 200 || body["status"] != "success" {
            bail!(
                "Prometheus answered {} to {promql:?}: {}",
                r.status,
                body["error"].as_str().unwrap_or("")
            );
        }
        let value = |v: &serde_json::Value| v[1].as_str().and_then(|s| s.parse().ok());
        let data = &body["data"];
        if data["resultType"] == "scalar" {
            return Ok(vec![Sample {
                labels: serde_json::Map::new(),
                value: value(&data["result"]).unwrap_or(f64::NAN),
            }]);
        }
        Ok(data["result"]
            .as_array()
            .context("no data.result in Prometheus' answer")?
            .iter()
            .map(|s| Sample {
                labels: s["metric"].as_object().cloned().unwrap_or_default(),
                value: value(&s["value"]).unwrap_or(f64::NAN),
            })
            .collect())
    }

    /// Queries `promql` until `done` holds for its answer or `deadline` passes, one query
    /// per half second: when it held (since `since`) and the last answer.
    pub(super) fn wait(
        &self,
        promql: &str,
        since: Instant,
        deadline: Instant,
        done: impl Fn(&[Sample]) -> bool,
    ) -> anyhow::Result<(Option<Duration>, Vec<Sample>)> {
        loop {
            let answer = self.query(promql)?;
            if done(&answer) {
                return Ok((Some(since.elapsed()), answer));
            }
            if Instant::now() >= deadline {
                return Ok((None, answer));
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// How many targets are up (`up` series at 1).
    pub(super) fn targets_up(&self) -> anyhow::Result<usize> {
        let r = get(&self.url("/api/v1/query?query=up"))?;
        let body: serde_json::Value =
            serde_json::from_slice(&r.body).context("Prometheus' answer is not JSON")?;
        Ok(body["data"]["result"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|s| s["value"][1] == "1").count()))
    }
}

/// `s` percent-encoded for a URL's query string (every byte but unreserved ones).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode;

    #[test]
    fn encode_escapes_promql() {
        assert_eq!(
            encode(r#"ALERTS{alertname="X"} == 1"#),
            "ALERTS%7Balertname%3D%22X%22%7D%20%3D%3D%201"
        );
    }
}
