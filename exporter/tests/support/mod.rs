//! Helpers shared by the exporter's integration tests: a temp dir, an ingest harness over a
//! real Unix socket, a raw protocol client, and one patience setting for eventual checks.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dawn_exporter::{
    Encoder, ExporterMetrics, Format, HealthModel, Ingest, IngestConfig, Store, StoreLimits,
};
use dawn_proto::{
    Batch, Define, Frame, FrameDecoder, Hello, MetricKind, SeriesDef, Update, Value, encode_frame,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long eventual conditions and replies are waited for.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("dx-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until `check` holds, failing the test after [`PATIENCE`].
#[track_caller]
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) -> impl Future<Output = ()> {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = Instant::now() + PATIENCE;
        while !check() {
            assert!(
                Instant::now() < deadline,
                "{caller}: timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// An ingest listener on a socket in a temp dir, with its store, health and metrics.
pub struct Harness {
    pub dir: TempDir,
    pub socket: PathBuf,
    pub store: Arc<Store>,
    pub health: Arc<HealthModel>,
    pub metrics: Arc<ExporterMetrics>,
    shutdown: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::with(|_, _| {}).await
    }

    pub async fn with(tweak: impl FnOnce(&mut IngestConfig, &mut StoreLimits)) -> Harness {
        let dir = TempDir::new("ingest");
        let mut config = IngestConfig {
            socket: dir.path().join("t.sock"),
            ..IngestConfig::default()
        };
        let mut limits = StoreLimits::default();
        tweak(&mut config, &mut limits);
        let store = Arc::new(Store::new(limits));
        let health = Arc::new(HealthModel::new(Instant::now(), Duration::from_secs(30)));
        let metrics = Arc::new(ExporterMetrics::new());
        let socket = config.socket.clone();
        let ingest = Ingest::bind(
            config,
            Arc::clone(&store),
            Arc::clone(&health),
            Arc::clone(&metrics),
        )
        .await
        .expect("bind");
        let (shutdown, rx) = watch::channel(false);
        let task = tokio::spawn(ingest.run(rx));
        Harness {
            dir,
            socket,
            store,
            health,
            metrics,
            shutdown,
            task: Some(task),
        }
    }

    pub async fn connect(&self) -> Client {
        Client::connect(&self.socket).await
    }

    /// A connected client that completed its handshake as node `node`.
    pub async fn node(&self, node: &str) -> Client {
        let mut c = self.connect().await;
        c.hello(Hello::new("dawn-node", "0.1.0", node, 1, 1, 1000))
            .await;
        c
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut e = Encoder::new(&mut out, Format::Text);
        self.store.render(&mut e, &[]);
        e.finish();
        out
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("ingest stops in time")
                .expect("ingest task");
        }
    }
}

/// A raw protocol client.
pub struct Client {
    pub stream: UnixStream,
    decoder: FrameDecoder,
}

impl Client {
    pub async fn connect(path: &Path) -> Client {
        Client {
            stream: UnixStream::connect(path).await.expect("connect"),
            decoder: FrameDecoder::new(dawn_proto::MAX_FRAME_LEN_LIMIT),
        }
    }

    pub async fn send(&mut self, frame: Frame) {
        let mut bytes = Vec::new();
        encode_frame(&frame, &mut bytes).expect("encode");
        self.stream.write_all(&bytes).await.expect("write");
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next frame, or `None` at end of stream; fails after [`PATIENCE`].
    pub async fn recv(&mut self) -> Option<Frame> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(f) = self
                .decoder
                .next_frame()
                .expect("exporter sends valid frames")
            {
                return Some(f);
            }
            let n = tokio::time::timeout(PATIENCE, self.stream.read(&mut buf))
                .await
                .expect("a reply in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.decoder.extend(&buf[..n]);
        }
    }

    pub async fn hello(&mut self, hello: Hello) {
        self.send(Frame::Hello(hello)).await;
        match self.recv().await {
            Some(Frame::Welcome(w)) => assert_eq!(w.version, dawn_proto::MAX_SUPPORTED_VERSION),
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Expects a `Reject` whose reason contains `text`, then the end of the stream.
    #[track_caller]
    pub fn expect_reject<'a>(&'a mut self, text: &'a str) -> impl Future<Output = String> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            let reason = match self.recv().await {
                Some(Frame::Reject(r)) => r.reason,
                other => panic!("{caller}: expected Reject containing {text:?}, got {other:?}"),
            };
            assert!(reason.contains(text), "{caller}: {reason:?} lacks {text:?}");
            assert_eq!(
                self.recv().await,
                None,
                "{caller}: connection closed after Reject"
            );
            reason
        }
    }

    /// Expects an `Error` frame with `reason` whose message contains `text`.
    #[track_caller]
    pub fn expect_error<'a>(
        &'a mut self,
        reason: &'a str,
        text: &'a str,
    ) -> impl Future<Output = String> + 'a {
        let caller = std::panic::Location::caller();
        async move {
            match self.recv().await {
                Some(Frame::Error(e)) => {
                    assert_eq!(e.reason, reason, "{caller}: {e:?}");
                    assert!(
                        e.message.contains(text),
                        "{caller}: {:?} lacks {text:?}",
                        e.message
                    );
                    e.message
                }
                other => panic!("{caller}: expected Error {reason}, got {other:?}"),
            }
        }
    }

    /// Says Goodbye and expects the connection to close with no reply pending: proof that
    /// nothing this client sent was refused.
    pub async fn goodbye_clean(mut self) {
        self.send(Frame::Goodbye).await;
        assert_eq!(self.recv().await, None, "no reply pending before Goodbye");
    }

    pub async fn define(&mut self, def: Define) {
        self.send(Frame::Define(def)).await;
    }

    pub async fn series(&mut self, id: u32, metric: u32, labels: &[&str]) {
        self.send(Frame::Series(SeriesDef {
            id,
            metric,
            label_values: labels.iter().map(|s| s.to_string()).collect(),
        }))
        .await;
    }

    pub async fn batch(&mut self, updates: Vec<(u32, Value)>) {
        self.send(Frame::Batch(Batch {
            seq: 0,
            updates: updates
                .into_iter()
                .map(|(series, value)| Update { series, value })
                .collect(),
        }))
        .await;
    }
}

/// Eleven definitions shaped like a P2P node's (one gauge without labels, counters, gauges
/// and histograms of seconds and of bytes), as test data: the exporter knows no metric by
/// name, the `--compat.seed-names` alias of `p2p_peers` aside.
pub fn node_like_definitions() -> Vec<Define> {
    const SECONDS: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    const BYTES: &[f64] = &[
        64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    ];
    use MetricKind::{Counter, Gauge, Histogram};
    let shapes: [(&str, MetricKind, &[&str], &[f64]); 11] = [
        ("p2p_peers", Gauge, &[], &[]),
        ("p2p_connections_total", Counter, &["status"], &[]),
        ("p2p_messages_total", Counter, &["type", "status"], &[]),
        ("p2p_message_latency_seconds", Histogram, &["type"], SECONDS),
        ("p2p_message_size_bytes", Histogram, &["type"], BYTES),
        (
            "p2p_errors_total",
            Counter,
            &["error_type", "component"],
            &[],
        ),
        (
            "p2p_agent_operations_total",
            Counter,
            &["agent_id", "operation", "status"],
            &[],
        ),
        (
            "p2p_agent_operation_latency_seconds",
            Histogram,
            &["agent_id", "operation"],
            SECONDS,
        ),
        ("p2p_circuit_breaker_state", Gauge, &["peer_id"], &[]),
        (
            "p2p_circuit_breaker_failures_total",
            Counter,
            &["peer_id"],
            &[],
        ),
        (
            "p2p_rate_limit_rejections_total",
            Counter,
            &["peer_id", "resource"],
            &[],
        ),
    ];
    shapes
        .iter()
        .enumerate()
        .map(|(id, (name, kind, labels, buckets))| Define {
            id: id as u32,
            name: (*name).to_owned(),
            help: format!("Test metric {name}."),
            kind: *kind,
            label_names: labels.iter().map(|l| (*l).to_owned()).collect(),
            buckets: buckets.to_vec(),
        })
        .collect()
}

/// The health checks a P2P node reports, as test data.
pub const NODE_LIKE_CHECKS: &[&str] = &["peers", "agents", "storage", "discovery"];
