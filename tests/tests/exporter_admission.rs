//! Acceptance for fair admission on the telemetry socket (issue 13, "Found" 2): 64 clients
//! that say `Hello` and then trickle one byte a second, plus 100 connections that never say
//! anything, all reconnecting as soon as the exporter closes them. A node started during the
//! attack is connected, and `dawn_node_up` is 1, within 3 s; the attack shows in the
//! exporter's own metrics by reason.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dawn_proto::{Define, Frame, Hello, MetricKind, encode_frame};
use dawn_tests::support::exposition::Exposition;
use dawn_tests::support::{Exporter, Node, RawClient, patience};

/// Clients that say `Hello`, then send a frame one byte a second.
const TRICKLERS: usize = 64;
/// Connections that never send a byte.
const SILENT: usize = 100;
/// The client version the attackers announce (the node announces its own).
const ATTACKER_VERSION: &str = "0.0.0-test";
/// How soon the node must be connected and up.
const WITHIN: Duration = Duration::from_secs(3);

/// An attack running in its own thread until dropped.
struct Attack {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Attack {
    fn start(name: &str, socket: &Path, connections: usize, run: fn(Attackers)) -> Attack {
        let stop = Arc::new(AtomicBool::new(false));
        let attackers = Attackers {
            name: name.to_owned(),
            socket: socket.to_owned(),
            streams: Vec::new(),
            stop: Arc::clone(&stop),
        };
        let thread = std::thread::spawn(move || {
            let mut attackers = attackers;
            attackers.streams = (0..connections).map(|i| attackers.connect(i)).collect();
            run(attackers);
        });
        Attack {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Attack {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The connections of one attack, each replaced as soon as the exporter closes it.
struct Attackers {
    name: String,
    socket: PathBuf,
    streams: Vec<UnixStream>,
    stop: Arc<AtomicBool>,
}

impl Attackers {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// A new connection for slot `i`: tricklers say `Hello` first, silent ones nothing.
    fn connect(&self, i: usize) -> UnixStream {
        loop {
            match UnixStream::connect(&self.socket) {
                Ok(mut s) => {
                    if self.name == "trickle" {
                        let mut hello = Hello::new(
                            "attacker",
                            ATTACKER_VERSION,
                            format!("trickle-{i}"),
                            1,
                            1,
                            1,
                        );
                        // Stale 3 ms after Hello: never fresh for dawn_node_up.
                        hello.flush_interval_ms = 1;
                        let _ = s.write_all(&bytes(&Frame::Hello(hello)));
                    }
                    s.set_nonblocking(true).expect("nonblocking");
                    return s;
                }
                Err(_) if self.stopped() => return UnixStream::pair().expect("a pair").0,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// Replaces every connection the exporter closed; drains what it sent.
    fn reconnect_closed(&mut self) {
        let mut buf = [0u8; 4096];
        for i in 0..self.streams.len() {
            let closed = loop {
                match self.streams[i].read(&mut buf) {
                    Ok(0) => break true,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if closed {
                self.streams[i] = self.connect(i);
            }
        }
    }
}

fn bytes(frame: &Frame) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame(frame, &mut out).expect("test frames encode");
    out
}

/// Every second, one more byte of a frame on every connection.
fn trickle(mut a: Attackers) {
    let frame = bytes(&Frame::Define(Define {
        id: 1,
        name: "dawn_test_trickled".into(),
        help: "Never arrives whole.".into(),
        kind: MetricKind::Gauge,
        label_names: vec![],
        buckets: vec![],
    }));
    let mut sent = vec![0usize; a.streams.len()];
    while !a.stopped() {
        a.reconnect_closed();
        for (i, s) in a.streams.iter_mut().enumerate() {
            let next = sent[i] % frame.len();
            if s.write(&frame[next..=next]).is_ok() {
                sent[i] += 1;
            }
        }
        let second = Instant::now() + Duration::from_secs(1);
        while Instant::now() < second && !a.stopped() {
            std::thread::sleep(Duration::from_millis(20));
            a.reconnect_closed();
        }
    }
}

/// Never a byte; reconnects whatever the exporter closes.
fn stay_silent(mut a: Attackers) {
    while !a.stopped() {
        a.reconnect_closed();
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn counter(m: &Exposition, name: &str, reason: &str) -> f64 {
    m.get_or_zero(name, &[("reason", reason)])
}

/// The node (not an attacker) is connected and `dawn_node_up` is 1.
fn node_up(exporter: &Exporter) -> Result<(), String> {
    let m = exporter.try_metrics()?;
    let node = m
        .find("dawn_node_build_info", &[])
        .into_iter()
        .any(|s| s.label("version") != Some(ATTACKER_VERSION));
    match (node, m.get("dawn_node_up", &[])) {
        (true, Some(1.0)) => Ok(()),
        (node, up) => Err(format!("node connected: {node}, dawn_node_up {up:?}")),
    }
}

#[test]
fn a_node_gets_in_through_trickling_and_silent_clients() {
    let exporter = Exporter::start();
    let tricklers = Attack::start("trickle", &exporter.socket, TRICKLERS, trickle);
    let silent = Attack::start("silent", &exporter.socket, SILENT, stay_silent);
    // The attack in full swing: it holds every client slot, overflows the pending ones, and
    // its trickled frames have met their deadline (the tricklers came back at once).
    exporter.eventually_metrics("the attack holds every slot", |m| {
        let clients = m.value("dawn_exporter_clients", &[]);
        let pending = counter(m, "dawn_exporter_evicted_clients_total", "pending_limit");
        let stalled = counter(m, "dawn_exporter_decode_errors_total", "stalled");
        if clients == TRICKLERS as f64 && pending > 0.0 && stalled > 0.0 {
            Ok(())
        } else {
            Err(format!(
                "{clients} clients, {pending} pending evicted, {stalled} stalled"
            ))
        }
    });
    assert!(node_up(&exporter).is_err(), "no node yet");

    let started = Instant::now();
    let node = Node::start(&exporter.socket, &[]);
    let took = loop {
        if node_up(&exporter).is_ok() {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < patience(),
            "the node never got in:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    eprintln!("the node was connected and up {took:?} after it started");
    assert!(took < WITHIN, "the node took {took:?} to get in");

    // A trickler gave way to the node (and, coming back, to others); the node stays in.
    exporter.eventually_metrics("tricklers gave way", |m| {
        match counter(m, "dawn_exporter_evicted_clients_total", "client_limit") {
            n if n > 0.0 => Ok(()),
            n => Err(format!("{n} evicted")),
        }
    });
    node_up(&exporter).unwrap_or_else(|e| panic!("{e}"));
    let m = exporter.metrics();
    assert_eq!(m.get("p2p_peers", &[]), Some(0.0), "the node's own value");
    let health = exporter.get("/health").json();
    assert!(
        health["details"]["checks"]["storage"].is_string(),
        "{health}"
    );
    drop(tricklers);
    drop(silent);
    // The well-behaved raw client still gets in once the attack is over.
    let _late = RawClient::handshake(&exporter.socket, "late", 1);
    drop(node);
}
