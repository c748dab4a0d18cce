//! A real Alertmanager for a test (temp config and storage, a free port, clustering off) and
//! a webhook receiver in the test process that records every notification it is sent.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::Value;
use tempfile::TempDir;

use crate::support::eventually::{eventually, patience};
use crate::support::http::get;
use crate::support::process::{Proc, free_port, temp_dir};

/// A running Alertmanager.
#[derive(Debug)]
pub struct Alertmanager {
    /// The process.
    pub proc: Proc,
    /// Its HTTP port on 127.0.0.1.
    pub port: u16,
    /// Config, storage and log.
    pub dir: TempDir,
}

impl Alertmanager {
    /// Starts `binary` with `config` (the text of an `alertmanager.yml`); waits until ready.
    ///
    /// Gossip clustering is turned off (`--cluster.listen-address=`): otherwise Alertmanager
    /// binds port 9094 on every interface and tries to find peers.
    #[track_caller]
    pub fn start(binary: &Path, config: &str) -> Alertmanager {
        let dir = temp_dir();
        let config_path = dir.path().join("alertmanager.yml");
        std::fs::write(&config_path, config).expect("write alertmanager.yml");
        let port = free_port();
        let args = vec![
            format!("--config.file={}", config_path.display()).into(),
            format!("--storage.path={}", dir.path().join("data").display()).into(),
            format!("--web.listen-address=127.0.0.1:{port}").into(),
            "--cluster.listen-address=".into(),
            "--log.level=debug".into(),
        ];
        let mut proc = Proc::start(
            "alertmanager",
            binary,
            args,
            Vec::new(),
            dir.path().join("alertmanager.log"),
        );
        let ready_url = format!("http://127.0.0.1:{port}/-/ready");
        eventually("Alertmanager is ready", || {
            proc.assert_running();
            match get(&ready_url) {
                Ok(r) if r.status == 200 => Ok(()),
                Ok(r) => Err(format!("{} {}", r.status, r.text())),
                Err(e) => Err(e),
            }
        });
        Alertmanager { proc, port, dir }
    }

    /// `127.0.0.1:PORT`, as Prometheus' `alertmanagers` targets take it.
    pub fn target(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// One HTTP POST the webhook received.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path (`/critical`, `/warning`, ...): which receiver sent it.
    pub path: String,
    /// The body: Alertmanager's webhook JSON (version 4).
    pub body: Value,
}

impl Delivery {
    /// The alerts of the notification (`body.alerts`).
    pub fn alerts(&self) -> Vec<Value> {
        self.body["alerts"].as_array().cloned().unwrap_or_default()
    }
}

/// A webhook receiver on a free loopback port: answers every POST with 200 and keeps its
/// path and JSON body.
#[derive(Debug)]
pub struct Webhook {
    /// Its port on 127.0.0.1.
    pub port: u16,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Webhook {
    /// Starts listening.
    #[track_caller]
    pub fn start() -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the webhook receiver");
        let port = listener.local_addr().expect("webhook address").port();
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, stopping) = (Arc::clone(&deliveries), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let kept = Arc::clone(&kept);
                    // Alertmanager keeps connections alive: one thread per connection.
                    std::thread::spawn(move || serve(conn, &kept));
                }
            }
        });
        Webhook {
            port,
            deliveries,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Everything received so far, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Waits until a delivery holds an alert for which `matches` is true; returns that
    /// delivery and the alert.
    #[track_caller]
    pub fn eventually_alert(
        &self,
        what: &str,
        matches: impl Fn(&Delivery, &Value) -> bool,
    ) -> (Delivery, Value) {
        eventually(what, || {
            let all = self.deliveries();
            for d in &all {
                if let Some(a) = d.alerts().into_iter().find(|a| matches(d, a)) {
                    return Ok((d.clone(), a));
                }
            }
            Err(format!(
                "{} deliveries so far: {}",
                all.len(),
                summarize(&all)
            ))
        })
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One line per delivered alert: `path status alertname instance`.
pub fn summarize(deliveries: &[Delivery]) -> String {
    let mut lines = Vec::new();
    for d in deliveries {
        for a in d.alerts() {
            lines.push(format!(
                "{} {} {} {}",
                d.path,
                a["status"].as_str().unwrap_or("?"),
                a["labels"]["alertname"].as_str().unwrap_or("?"),
                a["labels"]["instance"].as_str().unwrap_or("-"),
            ));
        }
    }
    if lines.is_empty() {
        "none".to_owned()
    } else {
        format!("\n  {}", lines.join("\n  "))
    }
}

/// Serves the requests of one connection until it closes.
fn serve(conn: TcpStream, kept: &Mutex<Vec<Delivery>>) {
    let _ = conn.set_read_timeout(Some(patience()));
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.trim().eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
        kept.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Delivery { path, body });
        let ok = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
        if writer.write_all(ok).is_err() {
            let _ = writer.shutdown(Shutdown::Both);
            return;
        }
    }
}
