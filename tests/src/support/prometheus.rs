//! A real Prometheus server for a test: temp config and data dir, a free port, a short scrape
//! interval; plus a small HTTP proxy that can force the scrape format, since the Prometheus in
//! Debian 12 (2.42) predates `scrape_protocols` and always asks for OpenMetrics first.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::eventually::{eventually, patience};
use crate::support::http::{Response, get};
use crate::support::process::{Proc, free_port, temp_dir};

/// One scrape job.
#[derive(Debug, Clone)]
pub struct Job {
    /// `job_name`.
    pub name: String,
    /// `host:port` to scrape.
    pub target: String,
    /// `metrics_path`.
    pub metrics_path: String,
}

/// A running Prometheus.
#[derive(Debug)]
pub struct Prometheus {
    /// The process.
    pub proc: Proc,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Config, data and log.
    pub dir: TempDir,
}

impl Prometheus {
    /// Starts `binary` scraping `jobs` every second; waits until it is ready.
    #[track_caller]
    pub fn start(binary: &Path, jobs: &[Job]) -> Prometheus {
        let dir = temp_dir();
        let mut config = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n",
        );
        for job in jobs {
            config.push_str(&format!(
                "  - job_name: {:?}\n    metrics_path: {:?}\n    static_configs:\n      - targets: [{:?}]\n",
                job.name, job.metrics_path, job.target
            ));
        }
        Prometheus::run(binary, dir, free_port(), &config, &[])
    }

    /// Starts `binary` with `config` as `prometheus.yml` in a new directory `dir` (where
    /// relative paths in the config resolve), listening on `port`, with `extra_args`; waits
    /// until it is ready.
    #[track_caller]
    pub fn run(
        binary: &Path,
        dir: TempDir,
        port: u16,
        config: &str,
        extra_args: &[&str],
    ) -> Prometheus {
        let config_path = dir.path().join("prometheus.yml");
        std::fs::write(&config_path, config).expect("write prometheus.yml");
        let mut args: Vec<std::ffi::OsString> = vec![
            format!("--config.file={}", config_path.display()).into(),
            format!("--storage.tsdb.path={}", dir.path().join("data").display()).into(),
            format!("--web.listen-address=127.0.0.1:{port}").into(),
            "--log.level=info".into(),
        ];
        args.extend(extra_args.iter().map(Into::into));
        let mut proc = Proc::start(
            "prometheus",
            binary,
            args,
            Vec::new(),
            dir.path().join("prometheus.log"),
        );
        let ready_url = format!("http://127.0.0.1:{port}/-/ready");
        eventually("Prometheus is ready", || {
            proc.assert_running();
            match get(&ready_url) {
                Ok(r) if r.status == 200 => Ok(()),
                Ok(r) => Err(format!("{} {}", r.status, r.text())),
                Err(e) => Err(e),
            }
        });
        Prometheus { proc, port, dir }
    }

    /// Runs an instant query; returns `data.result`.
    #[track_caller]
    pub fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        query_at(&format!("http://127.0.0.1:{}", self.port), promql)
    }

    /// The single value of an instant vector query, waiting until there is exactly one
    /// series and `accept` takes its value.
    #[track_caller]
    pub fn eventually_value(&self, promql: &str, accept: impl Fn(f64) -> bool) -> f64 {
        eventually(&format!("Prometheus answers {promql}"), || {
            let result = self.query(promql)?;
            let [one] = result.as_slice() else {
                return Err(format!("{} series: {result:?}", result.len()));
            };
            let v: f64 = one["value"][1]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| format!("no value in {one}"))?;
            if accept(v) {
                Ok(v)
            } else {
                Err(format!("value {v}"))
            }
        })
    }

    /// `/api/v1/targets`' active targets.
    #[track_caller]
    pub fn targets(&self) -> Vec<Value> {
        let r = get(&format!("http://127.0.0.1:{}/api/v1/targets", self.port))
            .unwrap_or_else(|e| panic!("{e}"));
        let body = r.json();
        body["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// Runs an instant query against the Prometheus at `base` (`http://HOST:PORT`), whoever
/// started it; returns `data.result`.
pub fn query_at(base: &str, promql: &str) -> Result<Vec<Value>, String> {
    let r = get(&format!(
        "{base}/api/v1/query?query={}",
        percent_encode(promql)
    ))?;
    let body: Value = serde_json::from_str(&r.text()).map_err(|e| format!("{e}: {}", r.text()))?;
    if body["status"] != "success" {
        return Err(format!("query {promql:?} failed: {body}"));
    }
    Ok(body["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// Percent-encodes a query parameter value.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One scrape a [`ScrapeProxy`] relayed.
#[derive(Debug, Clone)]
pub struct Relayed {
    /// The request's head as the scraper sent it (request line and headers, before the
    /// proxy replaced `Accept`).
    pub request: String,
    /// The exporter's response as relayed (its body as sent, still compressed if it was).
    pub response: Response,
}

impl Relayed {
    /// The value of the request header `name` (any case).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request
            .split("\r\n")
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// A forwarding HTTP proxy for scrapes: replaces the request's `Accept` header (when told
/// to) and records every scrape it relays.
#[derive(Debug)]
pub struct ScrapeProxy {
    /// Its port on 127.0.0.1.
    pub port: u16,
    relayed: Arc<Mutex<Vec<Relayed>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl ScrapeProxy {
    /// Relays to `127.0.0.1:upstream`, replacing `Accept` with `accept` when given.
    #[track_caller]
    pub fn start(upstream: u16, accept: Option<&str>) -> ScrapeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let relayed = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = accept.map(str::to_owned);
        let (seen, stopping) = (Arc::clone(&relayed), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    // One scrape at a time is all Prometheus does per target.
                    if let Some(r) = relay(conn, upstream, accept.as_deref()) {
                        seen.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                    }
                }
            }
        });
        ScrapeProxy {
            port,
            relayed,
            stop,
            thread: Some(thread),
        }
    }

    /// Content types of the responses relayed so far.
    pub fn content_types(&self) -> Vec<String> {
        self.relayed()
            .iter()
            .filter_map(|r| r.response.header("content-type").map(str::to_owned))
            .collect()
    }

    /// The scrapes relayed so far.
    pub fn relayed(&self) -> Vec<Relayed> {
        self.relayed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl Drop for ScrapeProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Relays one request; returns it and the response (`None` when either was cut short or
/// the response is not HTTP).
fn relay(mut client: TcpStream, upstream: u16, accept: Option<&str>) -> Option<Relayed> {
    client.set_read_timeout(Some(patience())).ok()?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if client.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).ok()?;
    let mut request = String::new();
    for line in head.split("\r\n").filter(|l| !l.is_empty()) {
        let name = line
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if name == "connection" || (name == "accept" && accept.is_some()) {
            continue;
        }
        request.push_str(line);
        request.push_str("\r\n");
    }
    if let Some(a) = accept {
        request.push_str(&format!("Accept: {a}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    let mut up = TcpStream::connect(("127.0.0.1", upstream)).ok()?;
    up.set_read_timeout(Some(patience())).ok()?;
    up.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).ok()?;
    client.write_all(&response).ok()?;
    let _ = client.shutdown(Shutdown::Both);
    Some(Relayed {
        request: head,
        response: Response(dawn_daemon::http_get::parse_response(&response).ok()?),
    })
}

/// Runs `promtool check metrics` on `text`; returns (exit code, combined output).
pub fn promtool_check_metrics(promtool: &Path, text: &str) -> (Option<i32>, String) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = child.wait_with_output().expect("promtool output");
    let mut all = String::from_utf8_lossy(&out.stdout).into_owned();
    all.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code(), all)
}
