//! A fake exporter on a real Unix socket, decoding with `dawn_proto` and applying frames to a
//! [`View`] the way the real exporter aggregates them; plus a temp dir and one patience
//! setting for eventually-true checks.

use std::collections::{BTreeMap, HashMap};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dawn_proto::{
    DEFAULT_MAX_FRAME_LEN, Define, Frame, FrameDecoder, Health, Heartbeat, Hello, MetricKind,
    Reject, Value, Welcome, encode_frame, validate_define, validate_label_values, validate_value,
};

use crate::TelemetryConfig;

/// How long an eventually-true check waits.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `check` until it holds or [`PATIENCE`] runs out.
#[track_caller]
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "not true within {PATIENCE:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl TempDir {
    /// A new, empty directory under the system's temp dir.
    pub fn new() -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "dawn-telemetry-t{}-{}-{:x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// A socket path inside it.
    pub fn socket(&self) -> PathBuf {
        self.0.join("t.sock")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A config with test-sized timings.
pub fn fast_config(socket: &Path, node: &str) -> TelemetryConfig {
    TelemetryConfig {
        flush_interval: Duration::from_millis(20),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(100),
        handshake_timeout: Duration::from_millis(500),
        write_timeout: Duration::from_millis(500),
        shutdown_timeout: Duration::from_secs(2),
        ..TelemetryConfig::new(socket, node)
    }
}

/// How the fake exporter answers a `Hello`.
#[derive(Debug, Clone)]
pub enum Answer {
    /// Welcomes at protocol version 1, as an exporter from before native histograms.
    Welcome,
    /// Welcomes at this protocol version.
    WelcomeAt(u16),
    Reject(String),
    /// Accepts the connection and never answers.
    Silent,
}

/// Series key as the exporter exposes it: metric name and label values.
pub type Key = (String, Vec<String>);

/// What the exporter has learnt, across connections.
#[derive(Debug, Default)]
pub struct View {
    pub hellos: Vec<Hello>,
    /// Every frame received, with its connection number.
    pub frames: Vec<(usize, Frame)>,
    pub values: BTreeMap<Key, Value>,
    /// Every update applied, in order, including those of series retired since.
    pub history: Vec<(Key, Value)>,
    pub health: BTreeMap<String, Health>,
    pub ready: Option<bool>,
    pub last_heartbeat: Option<Heartbeat>,
    pub retired: Vec<Key>,
    pub goodbyes: usize,
    pub closed: usize,
    /// Protocol violations seen; tests assert there are none.
    pub violations: Vec<String>,
    conns: HashMap<usize, ConnView>,
}

#[derive(Debug, Default)]
struct ConnView {
    metrics: HashMap<u32, Define>,
    series: HashMap<u32, (u32, Vec<String>)>,
    last_seq: u64,
}

impl View {
    pub fn value(&self, name: &str, labels: &[&str]) -> Option<&Value> {
        self.values.get(&(
            name.to_owned(),
            labels.iter().map(|l| l.to_string()).collect(),
        ))
    }

    pub fn counter(&self, name: &str, labels: &[&str]) -> Option<u64> {
        match self.value(name, labels)? {
            Value::Counter(v) => Some(*v),
            _ => None,
        }
    }

    /// Whether series `name{labels}` was ever updated to `value`.
    pub fn had(&self, name: &str, labels: &[&str], value: &Value) -> bool {
        self.history.iter().any(|((n, l), v)| {
            n == name && l.iter().map(String::as_str).eq(labels.iter().copied()) && v == value
        })
    }

    pub fn kinds_of_frames(&self, conn: usize) -> Vec<&'static str> {
        self.frames
            .iter()
            .filter(|(c, _)| *c == conn)
            .map(|(_, f)| f.kind_name())
            .collect()
    }

    fn apply(&mut self, conn: usize, frame: Frame) {
        self.frames.push((conn, frame.clone()));
        let c = self.conns.entry(conn).or_default();
        let mut bad = Vec::new();
        match frame {
            Frame::Hello(h) => self.hellos.push(h),
            Frame::Define(d) => {
                if let Err(e) = validate_define(&d) {
                    bad.push(e.to_string());
                }
                c.metrics.insert(d.id, d);
            }
            Frame::Series(s) => match c.metrics.get(&s.metric) {
                Some(d) => {
                    if let Err(e) = validate_label_values(d, &s) {
                        bad.push(e.to_string());
                    }
                    c.series.insert(s.id, (s.metric, s.label_values));
                }
                None => bad.push(format!("series {} of undefined metric {}", s.id, s.metric)),
            },
            Frame::Batch(b) => {
                if b.seq != c.last_seq + 1 {
                    bad.push(format!("batch seq {} after {}", b.seq, c.last_seq));
                }
                c.last_seq = b.seq;
                for u in b.updates {
                    let Some((metric, labels)) = c.series.get(&u.series) else {
                        bad.push(format!("update of undefined series {}", u.series));
                        continue;
                    };
                    let Some(def) = c.metrics.get(metric) else {
                        continue;
                    };
                    if let Err(e) = validate_value(def, &u.value) {
                        bad.push(e.to_string());
                    }
                    let key = (def.name.clone(), labels.clone());
                    if def.kind == MetricKind::Counter
                        && let (Some(Value::Counter(old)), Value::Counter(new)) =
                            (self.values.get(&key), &u.value)
                        && new < old
                    {
                        bad.push(format!("counter {key:?} went back from {old} to {new}"));
                    }
                    self.history.push((key.clone(), u.value.clone()));
                    self.values.insert(key, u.value);
                }
            }
            Frame::Retire(r) => {
                for id in r.series {
                    match c.series.remove(&id) {
                        Some((metric, labels)) => {
                            let name = c.metrics.get(&metric).map(|d| d.name.clone());
                            let key = (name.unwrap_or_default(), labels);
                            self.values.remove(&key);
                            self.retired.push(key);
                        }
                        None => bad.push(format!("retire of unknown series {id}")),
                    }
                }
            }
            Frame::Health(h) => {
                self.health.insert(h.check.clone(), h);
            }
            Frame::Ready(r) => self.ready = Some(r),
            Frame::Heartbeat(h) => self.last_heartbeat = Some(h),
            Frame::Goodbye => self.goodbyes += 1,
            other => bad.push(format!("client sent {}", other.kind_name())),
        }
        self.violations.extend(bad);
    }
}

/// The fake exporter.
pub struct FakeExporter {
    path: PathBuf,
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

static CONN_NUMBERS: AtomicUsize = AtomicUsize::new(0);

impl FakeExporter {
    /// Listens on `path` (replacing a stale socket file), sharing `view` with earlier
    /// exporters so that tests can follow totals across restarts.
    pub fn start(path: &Path, answer: Answer, view: Arc<Mutex<View>>) -> Self {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).expect("bind fake exporter");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (view, stop) = (view.clone(), stop.clone());
            std::thread::spawn(move || accept_loop(listener, answer, view, stop))
        };
        FakeExporter {
            path: path.to_owned(),
            view,
            stop,
            accept: Some(accept),
        }
    }

    pub fn view(&self) -> MutexGuard<'_, View> {
        self.view.lock().expect("view")
    }

    /// Waits until `check` holds on the view.
    #[track_caller]
    pub fn wait(&self, what: &str, mut check: impl FnMut(&View) -> bool) {
        eventually(what, || check(&self.view()));
    }

    /// Stops listening and drops every connection, as a crashed exporter would.
    pub fn kill(mut self) {
        self.shut();
    }

    fn shut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Drop for FakeExporter {
    fn drop(&mut self) {
        self.shut();
    }
}

fn accept_loop(
    listener: UnixListener,
    answer: Answer,
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
) {
    let mut conns = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let n = CONN_NUMBERS.fetch_add(1, Ordering::SeqCst);
                let (answer, view, stop) = (answer.clone(), view.clone(), stop.clone());
                conns.push(std::thread::spawn(move || {
                    serve(n, stream, answer, view, stop)
                }));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
    for c in conns {
        let _ = c.join();
    }
}

fn serve(
    n: usize,
    mut stream: UnixStream,
    answer: Answer,
    view: Arc<Mutex<View>>,
    stop: Arc<AtomicBool>,
) {
    stream.set_nonblocking(false).expect("blocking");
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .expect("read timeout");
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => decoder.extend(&buf[..k]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
        loop {
            let frame = match decoder.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    view.lock().expect("view").violations.push(e.to_string());
                    return;
                }
            };
            let reply = match (&frame, &answer) {
                (Frame::Hello(_), Answer::Welcome) => Some(Frame::Welcome(Welcome {
                    version: 1,
                    server: "fake".into(),
                })),
                (Frame::Hello(_), Answer::WelcomeAt(version)) => Some(Frame::Welcome(Welcome {
                    version: *version,
                    server: "fake".into(),
                })),
                (Frame::Hello(_), Answer::Reject(reason)) => Some(Frame::Reject(Reject {
                    reason: reason.clone(),
                })),
                _ => None,
            };
            view.lock().expect("view").apply(n, frame);
            if let Some(reply) = reply {
                let mut out = Vec::new();
                encode_frame(&reply, &mut out).expect("encode");
                let _ = stream.write_all(&out);
                if matches!(reply, Frame::Reject(_)) {
                    let _ = stream.shutdown(std::net::Shutdown::Both);
                    return;
                }
            }
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    view.lock().expect("view").closed += 1;
}
