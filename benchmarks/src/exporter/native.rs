//! What a native histogram costs beyond its classic buckets: on the wire per update, and in
//! the exporter's memory per series, each beside the classic-only figure measured the same
//! way.
//!
//! The state measured is the one of the acceptance test (`tests/tests/native_histograms.rs`):
//! 10,000 observations log-uniform between 1 ms and 2 s recorded in the node's own
//! `p2p_agent_operation_latency_seconds` spec (Prometheus' 11 default classic buckets plus
//! `+Inf`; native buckets at schema 3, at most 160), which fill 88 native buckets
//! (`11 × 8`: 2 s / 1 ms is 2^10.97).
//!
//! - Wire: the real `dawn_telemetry` shipper ships that histogram to a listener in this
//!   process that welcomes it at protocol version 2 (it sends `Value` tag 3, classic and
//!   native parts) and at version 1 (tag 2, classic only), as an exporter of each version
//!   would. The figure is what one such update adds to a `Batch` frame: the frame encoded by
//!   `dawn_proto::encode_frame` with that update less the same frame without it.
//! - Memory: a real exporter process is fed `K` series of that histogram, each with the same
//!   10,000 observations, by the real shipper over its socket (protocol version 2), once with
//!   native buckets on and once, in a second fresh exporter, with them off
//!   (`TelemetryConfig::native_histograms`). The figure is the exporter's `VmRSS` once
//!   `/metrics` shows every series' count, less its `VmRSS` before the client connected,
//!   divided by `K`.

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_node::catalogue::P2P_AGENT_OPERATION_LATENCY_SECONDS;
use dawn_proto::{
    Batch, DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, Update, Value, Welcome, encode_frame,
};
use dawn_telemetry::{Histogram, Telemetry, TelemetryConfig};

use super::expo::{self, sample_key};
use super::subdir;
use crate::Mode;
use crate::procs::{Binaries, ExporterProc};
use crate::summary::{Spec, Summary, Target};

/// Observations per histogram.
const OBSERVATIONS: usize = 10_000;
/// The metric.
const METRIC: &str = "p2p_agent_operation_latency_seconds";

/// The figures of this module.
const WIRE_NATIVE: Spec = Spec {
    name: "wire_bytes_per_native_update",
    unit: "B",
    target: Target::AtMost(300.0),
};
const WIRE_CLASSIC: Spec = Spec {
    name: "wire_bytes_per_classic_update",
    unit: "B",
    target: Target::Info,
};
const RSS_NATIVE: Spec = Spec {
    name: "exporter_rss_per_native_series_kib",
    unit: "KiB",
    target: Target::AtMost(8.0),
};
const RSS_CLASSIC: Spec = Spec {
    name: "exporter_rss_per_classic_series_kib",
    unit: "KiB",
    target: Target::Info,
};

/// Runs the native histogram figures.
pub(crate) fn run(
    mode: Mode,
    bins: &Binaries,
    work: &Path,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let dir = subdir(work, "native")?;
    let native = wire_update(&dir.join("v2.sock"), 2)?;
    let classic = wire_update(&dir.join("v1.sock"), 1)?;
    let (Value::NativeHistogram(n), Value::Histogram(c)) = (&native.value, &classic.value) else {
        bail!(
            "expected tag 3 at version 2 and tag 2 at version 1, got {:?} and {:?}",
            native.value,
            classic.value
        );
    };
    let buckets = n.native.positive_counts.len() + n.native.negative_counts.len();
    let note = format!(
        "one Batch update of {METRIC} after {OBSERVATIONS} observations log-uniform 1 ms-2 s: Value tag 3 at protocol version 2, schema {}, {buckets} native buckets in {} spans, zero bucket {}, plus the {} classic buckets (encode_frame of the Batch with it less without it)",
        n.native.schema,
        n.native.positive_spans.len() + n.native.negative_spans.len(),
        n.native.zero_count,
        n.classic.buckets.len(),
    );
    summary.put(&WIRE_NATIVE, native.bytes as f64, note);
    let note = format!(
        "the same histogram at protocol version 1: Value tag 2, {} classic buckets",
        c.buckets.len()
    );
    summary.put(&WIRE_CLASSIC, classic.bytes as f64, note);

    let k = if mode.quick { 1_000 } else { 4_000 };
    let with_native = rss_per_series(bins, &subdir(&dir, "rss-native")?, k, true)?;
    let classic_only = rss_per_series(bins, &subdir(&dir, "rss-classic")?, k, false)?;
    if with_native.protobuf_bytes <= classic_only.protobuf_bytes {
        bail!(
            "the exporter fed native buckets serves no more protobuf ({} bytes) than the classic-only one ({} bytes): the native buckets did not arrive",
            with_native.protobuf_bytes,
            classic_only.protobuf_bytes
        );
    }
    summary.put(
        &RSS_NATIVE,
        with_native.per_series_kib,
        with_native.note(k, &format!("native buckets on ({buckets} each)")),
    );
    summary.put(
        &RSS_CLASSIC,
        classic_only.per_series_kib,
        classic_only.note(k, "native buckets off"),
    );
    Ok(())
}

/// One histogram update as the shipper sent it, and what it adds to a `Batch` frame.
struct WireUpdate {
    value: Value,
    bytes: usize,
}

/// The observed values: `1e-3 * 2000^u` for evenly spread `u`.
fn observations() -> impl Iterator<Item = f64> {
    (0..OBSERVATIONS).map(|i| 1e-3 * 2000f64.powf((i as f64 + 0.5) / OBSERVATIONS as f64))
}

/// Records the distribution through the real shipper and captures the histogram's update
/// as a listener welcoming at `version` receives it.
fn wire_update(socket: &Path, version: u16) -> anyhow::Result<WireUpdate> {
    // The histogram is recorded before the listener exists, so that the first batch after
    // the handshake carries it whole.
    let telemetry = Telemetry::start(TelemetryConfig {
        flush_interval: Duration::from_millis(20),
        reconnect_min: Duration::from_millis(10),
        reconnect_max: Duration::from_millis(50),
        ..TelemetryConfig::new(socket, "bench-wire")
    })?;
    let h = telemetry
        .histogram(&P2P_AGENT_OPERATION_LATENCY_SECONDS)
        .with_labels(&["kv", "get"]);
    observations().for_each(|v| h.observe(v));
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    let (mut stream, _) = listener.accept()?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut decoder = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
    let mut buf = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(10);
    let update = loop {
        if Instant::now() > deadline {
            bail!("no histogram update of {OBSERVATIONS} observations within 10 s");
        }
        let n = std::io::Read::read(&mut stream, &mut buf)?;
        if n == 0 {
            bail!("the shipper closed the connection");
        }
        decoder.extend(&buf[..n]);
        let mut found = None;
        while let Some(frame) = decoder.next_frame()? {
            match frame {
                Frame::Hello(_) => {
                    let welcome = Frame::Welcome(Welcome {
                        version,
                        server: "dawn-bench".to_owned(),
                    });
                    let mut out = Vec::new();
                    encode_frame(&welcome, &mut out)?;
                    std::io::Write::write_all(&mut stream, &out)?;
                }
                Frame::Batch(batch) => {
                    found = found.or(batch.updates.into_iter().find(|u| count(&u.value) > 0));
                }
                _ => {}
            }
        }
        if let Some(u) = found {
            break u;
        }
    };
    drop(telemetry);
    if count(&update.value) != OBSERVATIONS as u64 {
        bail!("the update holds {} observations", count(&update.value));
    }
    let bytes = batch_bytes(vec![update.clone()])? - batch_bytes(Vec::new())?;
    Ok(WireUpdate {
        value: update.value,
        bytes,
    })
}

/// A histogram value's count (0 for other kinds).
fn count(v: &Value) -> u64 {
    match v {
        Value::Histogram(h) => h.count,
        Value::NativeHistogram(n) => n.classic.count,
        _ => 0,
    }
}

/// The encoded size of a `Batch` frame with `updates`.
fn batch_bytes(updates: Vec<Update>) -> anyhow::Result<usize> {
    let mut out = Vec::new();
    encode_frame(&Frame::Batch(Batch { seq: 1, updates }), &mut out)?;
    Ok(out.len())
}

/// An exporter's memory for `k` series.
struct Rss {
    per_series_kib: f64,
    idle_mib: f64,
    loaded_mib: f64,
    protobuf_bytes: usize,
}

impl Rss {
    fn note(&self, k: usize, what: &str) -> String {
        format!(
            "exporter VmRSS holding {k} series of {METRIC}, each {OBSERVATIONS} observations log-uniform 1 ms-2 s, {what}, fed by the real shipper at protocol version 2: ({:.1} MiB - {:.1} MiB before the client connected) / {k}; protobuf exposition {} bytes",
            self.loaded_mib, self.idle_mib, self.protobuf_bytes
        )
    }
}

/// Feeds a fresh exporter `k` series through the real shipper, native buckets on or off;
/// the exporter's resident memory per series.
fn rss_per_series(bins: &Binaries, dir: &Path, k: usize, native: bool) -> anyhow::Result<Rss> {
    let exporter = ExporterProc::start(bins, dir, &[])?;
    let idle_mib = exporter.proc.rss_mib()?;
    let telemetry = Telemetry::start(TelemetryConfig {
        flush_interval: Duration::from_millis(100),
        max_series_per_metric: k + 1,
        native_histograms: native,
        ..TelemetryConfig::new(&exporter.socket, "bench-native")
    })?;
    let family = telemetry.histogram(&P2P_AGENT_OPERATION_LATENCY_SECONDS);
    let handles: Vec<(String, Histogram)> = (0..k)
        .map(|i| {
            let agent = format!("agent-{i}");
            let h = family.with_labels(&[&agent, "get"]);
            (agent, h)
        })
        .collect();
    for v in observations() {
        for (_, h) in &handles {
            h.observe(v);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = expo::parse(&expo::metrics(exporter.port)?)?;
        let shown = handles
            .iter()
            .filter(|(agent, _)| {
                let key = sample_key(
                    &format!("{METRIC}_count"),
                    &[("agent_id", agent), ("operation", "get")],
                );
                got.get(&key) == Some(&(OBSERVATIONS as f64))
            })
            .count();
        if shown == k {
            let ignored: f64 = got
                .iter()
                .filter(|(key, _)| key.starts_with("dawn_exporter_ignored_updates_total"))
                .map(|(_, v)| v)
                .sum();
            if ignored != 0.0 {
                bail!("the exporter ignored {ignored} updates");
            }
            break;
        }
        if Instant::now() > deadline {
            bail!("the exporter showed {shown} of {k} series within 120 s");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let loaded_mib = exporter.proc.rss_mib()?;
    let protobuf = get_protobuf(&exporter)?;
    drop(telemetry);
    Ok(Rss {
        per_series_kib: (loaded_mib - idle_mib) * 1024.0 / k as f64,
        idle_mib,
        loaded_mib,
        protobuf_bytes: protobuf,
    })
}

/// The size of the protobuf exposition (as Prometheus asks for it with native histograms
/// on), after the memory was read.
fn get_protobuf(exporter: &ExporterProc) -> anyhow::Result<usize> {
    let r = dawn_daemon::http_get::get_blocking(
        &exporter.url("/metrics"),
        &[(
            "Accept",
            "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        )],
        Duration::from_secs(30),
    )
    .map_err(|e| anyhow::anyhow!("protobuf scrape failed: {e}"))?;
    if r.status != 200 {
        bail!("protobuf scrape answered {}", r.status);
    }
    Ok(r.body.len())
}
