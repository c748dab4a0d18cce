//! The series the exporter group feeds: the same label sets and values on the wire (to a
//! real exporter) and in a `prometheus::Registry` (the baseline), so that the two
//! expositions hold the same samples.
//!
//! Client `c` (of several, each its own source) keeps `n` series; series `i` is a
//! histogram (default seconds buckets) when `i % 4 == 3` and otherwise a counter of one of
//! three counter families, all labelled `client="c<c>", peer="peer-<i/4>"`. So a quarter
//! of the series are histograms, whose 12 buckets plus `_sum` and `_count` make them most
//! of the exposition's lines (as in a node's own metrics).

use dawn_proto::{
    Batch, Define, Frame, HistogramValue, MetricKind, SeriesDef, Update, Value, encode_frame,
};
use dawn_telemetry::DEFAULT_SECONDS_BUCKETS as SECONDS_BUCKETS;

use super::expo::sample_key;

/// The counter families (wire metric ids 1, 2, 3).
pub(crate) const COUNTER_FAMILIES: [&str; 3] = [
    "bench_messages_total",
    "bench_bytes_total",
    "bench_errors_total",
];
/// The histogram family (wire metric id 4).
pub(crate) const HISTOGRAM_FAMILY: &str = "bench_latency_seconds";
/// Label names of every family.
pub(crate) const LABELS: [&str; 2] = ["client", "peer"];
/// Updates per `Batch` frame: about 13 KiB encoded, under the node client's 16 KiB cut.
pub(crate) const BATCH_UPDATES: usize = 1000;

/// Observed values: a cycle spread over the default seconds buckets, `+Inf` included.
const OBSERVED: [f64; 16] = [
    0.0004, 0.003, 0.007, 0.012, 0.02, 0.04, 0.07, 0.09, 0.15, 0.3, 0.6, 0.8, 1.7, 3.0, 7.5, 12.0,
];

fn help(family: &str) -> String {
    format!("dawn-bench workload series of {family}.")
}

/// Whether series `i` is a histogram (else a counter of family `i % 4`).
pub(crate) fn is_histogram(i: usize) -> bool {
    i % 4 == 3
}

/// The metric name of series `i`.
pub(crate) fn family_of(i: usize) -> &'static str {
    if is_histogram(i) {
        HISTOGRAM_FAMILY
    } else {
        COUNTER_FAMILIES[i % 4]
    }
}

/// Label values of series `i` of client `client`.
pub(crate) fn label_values(client: usize, i: usize) -> [String; 2] {
    [format!("c{client}"), format!("peer-{:06}", i / 4)]
}

/// The `Define` frames every client sends (same definitions for all: families are shared).
pub(crate) fn defines() -> Vec<Define> {
    let mut out: Vec<Define> = COUNTER_FAMILIES
        .iter()
        .enumerate()
        .map(|(k, name)| Define {
            id: k as u32 + 1,
            name: (*name).to_owned(),
            help: help(name),
            kind: MetricKind::Counter,
            label_names: LABELS.iter().map(|l| (*l).to_owned()).collect(),
            buckets: vec![],
        })
        .collect();
    out.push(Define {
        id: 4,
        name: HISTOGRAM_FAMILY.to_owned(),
        help: help(HISTOGRAM_FAMILY),
        kind: MetricKind::Histogram,
        label_names: LABELS.iter().map(|l| (*l).to_owned()).collect(),
        buckets: SECONDS_BUCKETS.to_vec(),
    });
    out
}

fn metric_id(i: usize) -> u32 {
    if is_histogram(i) {
        4
    } else {
        (i % 4) as u32 + 1
    }
}

/// The index of the bucket `v` falls in (`SECONDS_BUCKETS.len()` for `+Inf`).
fn bucket_of(v: f64) -> usize {
    SECONDS_BUCKETS
        .iter()
        .position(|b| v <= *b)
        .unwrap_or(SECONDS_BUCKETS.len())
}

fn observe(h: &mut HistogramValue, v: f64) {
    h.buckets[bucket_of(v)] += 1;
    h.count += 1;
    h.sum += v;
}

/// The observations series `i` starts with (1 to 8 of them).
fn initial_observations(i: usize) -> impl Iterator<Item = f64> {
    (0..1 + i % 8).map(move |k| OBSERVED[(i + k) % OBSERVED.len()])
}

/// The starting counter total of series `i`.
fn initial_count(i: usize) -> u64 {
    1000 + (i as u64 * 7919) % 100_000
}

/// Series `i`'s value before any round.
pub(crate) fn initial_value(i: usize) -> Value {
    if is_histogram(i) {
        let mut h = HistogramValue {
            count: 0,
            sum: 0.0,
            buckets: vec![0; SECONDS_BUCKETS.len() + 1],
        };
        for v in initial_observations(i) {
            observe(&mut h, v);
        }
        Value::Histogram(h)
    } else {
        Value::Counter(initial_count(i))
    }
}

/// One round of activity on series `i`: a counter grows by 1..=5, a histogram observes one
/// more value.
fn advance(i: usize, round: u64, value: &mut Value) {
    match value {
        Value::Counter(c) => *c += 1 + (i % 5) as u64,
        Value::Histogram(h) => {
            observe(h, OBSERVED[(i + round as usize) % OBSERVED.len()]);
        }
        // The workload has no gauges and sends no native histograms.
        Value::Gauge(_) | Value::NativeHistogram(_) => {}
    }
}

/// One wire client's series, as `Batch` frames whose values are advanced in place, so
/// that sending a round allocates nothing.
#[derive(Debug)]
pub(crate) struct ClientSeries {
    /// Its index (label `client="c<index>"`).
    pub(crate) client: usize,
    n: usize,
    /// `Frame::Batch`es of at most [`BATCH_UPDATES`] updates covering every series once.
    batches: Vec<Frame>,
    seq: u64,
    /// Rounds of each batch so far.
    rounds: Vec<u64>,
}

impl ClientSeries {
    /// Client `client`'s `n` series at their initial values.
    pub(crate) fn new(client: usize, n: usize) -> ClientSeries {
        let updates: Vec<Update> = (0..n)
            .map(|i| Update {
                series: i as u32 + 1,
                value: initial_value(i),
            })
            .collect();
        let batches: Vec<Frame> = updates
            .chunks(BATCH_UPDATES)
            .map(|chunk| {
                Frame::Batch(Batch {
                    seq: 0,
                    updates: chunk.to_vec(),
                })
            })
            .collect();
        ClientSeries {
            client,
            n,
            rounds: vec![0; batches.len()],
            batches,
            seq: 0,
        }
    }

    /// Batches per round.
    pub(crate) fn batch_count(&self) -> usize {
        self.batches.len()
    }

    /// Appends every `Define` and `Series` frame.
    pub(crate) fn encode_definitions(&self, out: &mut Vec<u8>) -> anyhow::Result<()> {
        for d in defines() {
            encode_frame(&Frame::Define(d), out)?;
        }
        for i in 0..self.n {
            let series = SeriesDef {
                id: i as u32 + 1,
                metric: metric_id(i),
                label_values: label_values(self.client, i).to_vec(),
            };
            encode_frame(&Frame::Series(series), out)?;
        }
        Ok(())
    }

    /// Appends batch `b` as it stands (with the next sequence number); returns its updates.
    pub(crate) fn encode_batch(&mut self, b: usize, out: &mut Vec<u8>) -> anyhow::Result<usize> {
        self.seq += 1;
        let Some(Frame::Batch(batch)) = self.batches.get_mut(b) else {
            anyhow::bail!("no batch {b}");
        };
        batch.seq = self.seq;
        let n = batch.updates.len();
        encode_frame(&self.batches[b], out)?;
        Ok(n)
    }

    /// Advances every series of batch `b` by one round.
    pub(crate) fn advance_batch(&mut self, b: usize) {
        let round = self.rounds[b] + 1;
        self.rounds[b] = round;
        if let Some(Frame::Batch(batch)) = self.batches.get_mut(b) {
            for u in &mut batch.updates {
                advance(u.series as usize - 1, round, &mut u.value);
            }
        }
    }

    /// Every sample the exposition must show for these series (canonical keys, see
    /// [`sample_key`]), from the values last encoded.
    pub(crate) fn expected(&self) -> Vec<(String, f64)> {
        let mut out = Vec::with_capacity(self.n * 4);
        for batch in &self.batches {
            let Frame::Batch(batch) = batch else { continue };
            for u in &batch.updates {
                let i = u.series as usize - 1;
                let [c, p] = label_values(self.client, i);
                let labels = [("client", c.as_str()), ("peer", p.as_str())];
                expected_samples(family_of(i), &labels, &u.value, &mut out);
            }
        }
        out
    }
}

/// The samples `value` of series `name{labels}` exposes, as canonical keys and values.
pub(crate) fn expected_samples(
    name: &str,
    labels: &[(&str, &str)],
    value: &Value,
    out: &mut Vec<(String, f64)>,
) {
    let h = match value {
        Value::Counter(c) => {
            out.push((sample_key(name, labels), *c as f64));
            return;
        }
        Value::Gauge(g) => {
            out.push((sample_key(name, labels), *g));
            return;
        }
        Value::Histogram(h) => h,
        // The text exposition shows a native histogram's classic part only.
        Value::NativeHistogram(v) => &v.classic,
    };
    let mut cumulative = 0;
    for (k, n) in h.buckets.iter().enumerate() {
        cumulative += n;
        let le = SECONDS_BUCKETS
            .get(k)
            .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
        let mut with_le = labels.to_vec();
        with_le.push(("le", &le));
        out.push((
            sample_key(&format!("{name}_bucket"), &with_le),
            cumulative as f64,
        ));
    }
    out.push((sample_key(&format!("{name}_count"), labels), h.count as f64));
    out.push((sample_key(&format!("{name}_sum"), labels), h.sum));
}

/// The same series as `clients` wire clients of `n` series each (at their initial values)
/// in a `prometheus::Registry`: counters through `IntCounterVec::inc_by`, histograms
/// through `HistogramVec::observe` of the same observations in the same order (so even
/// `_sum` is bit-identical).
pub(crate) fn registry(clients: usize, n: usize) -> anyhow::Result<prometheus::Registry> {
    use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts};
    let registry = prometheus::Registry::new();
    let counters: Vec<IntCounterVec> = COUNTER_FAMILIES
        .iter()
        .map(|name| IntCounterVec::new(Opts::new(*name, help(name)), &LABELS))
        .collect::<Result<_, _>>()?;
    for c in &counters {
        registry.register(Box::new(c.clone()))?;
    }
    let histograms = HistogramVec::new(
        HistogramOpts::new(HISTOGRAM_FAMILY, help(HISTOGRAM_FAMILY))
            .buckets(SECONDS_BUCKETS.to_vec()),
        &LABELS,
    )?;
    registry.register(Box::new(histograms.clone()))?;
    for client in 0..clients {
        for i in 0..n {
            let [c, p] = label_values(client, i);
            let values = [c.as_str(), p.as_str()];
            if is_histogram(i) {
                let h = histograms.with_label_values(&values);
                for v in initial_observations(i) {
                    h.observe(v);
                }
            } else {
                counters[i % 4]
                    .with_label_values(&values)
                    .inc_by(initial_count(i));
            }
        }
    }
    Ok(registry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_advance_and_expected_follows() {
        let mut s = ClientSeries::new(1, 2 * BATCH_UPDATES + 4);
        assert_eq!(s.batch_count(), 3);
        let before = s.expected();
        s.advance_batch(2);
        let mut out = Vec::new();
        assert_eq!(s.encode_batch(2, &mut out).unwrap(), 4);
        let after = s.expected();
        assert_eq!(before.len(), after.len());
        let changed = before.iter().zip(&after).filter(|(a, b)| a != b).count();
        // Three counters, and one histogram's count, sum and at least one bucket.
        assert!(changed >= 6, "{changed}");
        let key = sample_key(
            "bench_messages_total",
            &[("client", "c1"), ("peer", "peer-000000")],
        );
        assert!(
            after
                .iter()
                .any(|(k, v)| *k == key && *v == initial_count(0) as f64)
        );
    }
}
