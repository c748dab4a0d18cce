//! The exporter's HTTP limits against the real binary (docs/security.md):
//!
//! - a connection that sends no complete request head is closed after
//!   `--web.read-header-timeout`, a keep-alive connection without a new request after
//!   `--web.idle-timeout`, both counted by reason;
//! - a slowloris of 1,100 connections, each sending one byte every 2 s, against an exporter
//!   started under `prlimit --nofile=1024` (a container's usual limit): `/metrics` and
//!   `/health/live` keep answering (p99 of 100 scrapes under 100 ms), a good client's values
//!   stay exact, the attack shows in `dawn_exporter_http_connections_closed_total`, and the
//!   log gets a few lines instead of one per connection;
//! - `CONNECT host:port` is answered 405 with the JSON every other method gets.
//!
//! `prlimit` (util-linux) is required: without it the slowloris test is reported as ignored
//! (with the reason after the run), and fails under `CI=true`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dawn_daemon::http_get::{Response, parse_response};
use dawn_tests::support::harness;
use dawn_tests::support::tools::PRLIMIT;
use dawn_tests::support::wire::WellBehaved;
use dawn_tests::support::{Exporter, ExporterOptions, eventually, get, patience};
use dawn_tests::trial;

/// Sends `request` on a new connection and reads one whole response.
#[track_caller]
fn exchange(port: u16, request: &str) -> Response {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    tcp.set_read_timeout(Some(patience())).expect("timeout");
    tcp.write_all(request.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Ok(response) = parse_response(&raw) {
            return response;
        }
        match tcp.read(&mut buf) {
            Ok(0) => panic!(
                "the connection closed after {} bytes: {:?}",
                raw.len(),
                String::from_utf8_lossy(&raw)
            ),
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the answer to {request:?}: {e}"),
        }
    }
}

fn json(r: &Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).expect("a JSON body")
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(connect_is_answered_405_like_other_methods),
        trial!(slow_and_idle_connections_are_closed_by_their_timeouts_and_counted),
        trial!(a_slowloris_at_a_1024_descriptor_limit_does_not_keep_scrapes_out).needs(PRLIMIT),
    ])
}

fn connect_is_answered_405_like_other_methods() {
    let exporter = Exporter::start();
    let connect = exchange(
        exporter.port,
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
    );
    let delete = exchange(
        exporter.port,
        "DELETE / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(connect.status, 405);
    assert_eq!(connect.header("allow"), Some("GET, HEAD"));
    assert_eq!(
        connect.header("content-type"),
        delete.header("content-type")
    );
    let mut expected = json(&delete);
    expected["method"] = "CONNECT".into();
    assert_eq!(json(&connect), expected);
    assert_eq!(expected["error"], "method not allowed");
    // The exporter is fine afterwards (a panic used to end the connection's task).
    assert_eq!(exporter.get("/-/healthy").status, 200);
}

/// Waits until the server closes `tcp`; returns how long that took.
#[track_caller]
fn closed_by_server(tcp: &mut TcpStream) -> Duration {
    let start = Instant::now();
    tcp.set_read_timeout(Some(patience())).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("the server did not close the connection: {e}"),
        }
    }
}

fn slow_and_idle_connections_are_closed_by_their_timeouts_and_counted() {
    let exporter = Exporter::start_with(
        ExporterOptions::default()
            .arg("--web.read-header-timeout", "1s")
            .arg("--web.idle-timeout", "2s"),
    );
    // Half a request head, then nothing.
    let mut slow = TcpStream::connect(("127.0.0.1", exporter.port)).expect("connect");
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .expect("write");
    let waited = closed_by_server(&mut slow);
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );

    // A whole request on a keep-alive connection, then nothing.
    let mut idle = TcpStream::connect(("127.0.0.1", exporter.port)).expect("connect");
    idle.write_all(b"GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let waited = closed_by_server(&mut idle);
    assert!(
        waited >= Duration::from_millis(1900),
        "closed after {waited:?}"
    );

    let m = exporter.metrics();
    let closed = |reason| {
        m.value(
            "dawn_exporter_http_connections_closed_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(closed("header_timeout"), 1.0);
    assert_eq!(closed("idle_timeout"), 1.0);
    assert_eq!(closed("evicted"), 0.0);
}

/// Connections that each send a request head one byte every `every`, reconnecting when the
/// server closes them, as a slowloris tool does.
struct Slowloris {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<u64>,
}

/// The first bytes of every attacking connection; a byte follows every period, never the
/// end of the head.
const SLOW_HEAD: &[u8] = b"GET /metrics HTTP/1.1\r\nX-Slow: ";

fn slow_connection(port: u16) -> Option<TcpStream> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut tcp = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    tcp.set_write_timeout(Some(Duration::from_secs(1))).ok()?;
    tcp.write_all(SLOW_HEAD).ok()?;
    Some(tcp)
}

impl Slowloris {
    fn start(port: u16, connections: usize, every: Duration) -> Slowloris {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<Option<TcpStream>> =
                (0..connections).map(|_| slow_connection(port)).collect();
            let mut opened = connections as u64;
            while !flag.load(Ordering::Relaxed) {
                let round = Instant::now();
                for c in &mut conns {
                    let alive = c.as_mut().is_some_and(|tcp| tcp.write_all(b"x").is_ok());
                    if !alive {
                        *c = slow_connection(port);
                        opened += 1;
                    }
                }
                while round.elapsed() < every && !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            opened
        });
        Slowloris { stop, thread }
    }

    /// Stops the attack; the number of connections it opened.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the attack thread")
    }
}

/// Raises this process' soft file descriptor limit to at least `want` (within the hard one).
#[track_caller]
fn allow_descriptors(want: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if limit.current.is_none_or(|soft| soft >= want) {
        return;
    }
    assert!(
        limit.maximum.is_none_or(|hard| hard >= want),
        "the test needs {want} file descriptors; the hard limit is {:?}",
        limit.maximum
    );
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        },
    )
    .expect("raise RLIMIT_NOFILE");
}

/// The `q` quantile of `samples` (nearest rank).
fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

fn a_slowloris_at_a_1024_descriptor_limit_does_not_keep_scrapes_out() {
    const ATTACKERS: usize = 1100;
    // 100, so that the p99 is the 99th: one scheduling hiccup of a loaded machine is not
    // the exporter's tail.
    const SCRAPES: usize = 100;
    let prlimit = PRLIMIT.path();
    allow_descriptors(ATTACKERS as u64 + 500);
    let prlimit = prlimit.to_str().expect("a UTF-8 path").to_owned();
    let exporter =
        Exporter::start_with(ExporterOptions::default().under(&[&prlimit, "--nofile=1024", "--"]));
    let mut good = WellBehaved::connect(&exporter, "good");

    let attack = Slowloris::start(exporter.port, ATTACKERS, Duration::from_secs(2));
    exporter.eventually_metrics("the attack fills the connection limit", |m| {
        let evicted = m.get_or_zero(
            "dawn_exporter_http_connections_closed_total",
            &[("reason", "evicted")],
        );
        if evicted > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "{} connections open, none evicted yet",
                m.get_or_zero("dawn_exporter_http_connections", &[])
            ))
        }
    });

    let (mut scrapes, mut probes) = (Vec::new(), Vec::new());
    for i in 0..SCRAPES {
        let start = Instant::now();
        let r = get(&exporter.url("/metrics")).expect("/metrics during the attack");
        scrapes.push(start.elapsed());
        assert_eq!(r.status, 200);
        let start = Instant::now();
        let r = get(&exporter.url("/health/live")).expect("/health/live during the attack");
        probes.push(start.elapsed());
        assert_eq!(r.status, 200);
        if i % 20 == 19 {
            good.bump_and_check(&exporter);
        }
        // Paced, so that the scrapes span several rounds of the attack.
        std::thread::sleep(Duration::from_millis(100));
    }
    let m = exporter.metrics();
    let opened = attack.stop();

    let (p99, probe_p99) = (quantile(&mut scrapes, 0.99), quantile(&mut probes, 0.99));
    eprintln!(
        "{opened} attacking connections; /metrics p50 {:?} p99 {p99:?}; /health/live p99 {probe_p99:?}",
        quantile(&mut scrapes, 0.5)
    );
    assert!(p99 < Duration::from_millis(100), "/metrics p99 {p99:?}");
    assert!(
        probe_p99 < Duration::from_millis(100),
        "/health/live p99 {probe_p99:?}"
    );
    good.bump_and_check(&exporter);
    assert_eq!(good.value(), 7, "the good client's total");

    // The attack in the exporter's own metrics, by reason, and within the limit.
    let closed: f64 = ["evicted", "header_timeout"]
        .iter()
        .map(|reason| {
            m.get_or_zero(
                "dawn_exporter_http_connections_closed_total",
                &[("reason", reason)],
            )
        })
        .sum();
    assert!(closed >= (ATTACKERS - 512) as f64, "{closed} closed");
    assert!(m.value("dawn_exporter_http_connections", &[]) <= 512.0);
    // A few log lines, not one per connection.
    let log = exporter.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("HTTP connection") && l.contains("WARN"))
        .count();
    assert!(
        lines <= 12,
        "{lines} warnings about HTTP connections for {closed} closes:\n{log}"
    );
    eventually("the exporter still serves after the attack", || {
        match get(&exporter.url("/-/healthy")) {
            Ok(r) if r.status == 200 => Ok(()),
            other => Err(format!("{:?}", other.map(|r| r.status))),
        }
    });
}
