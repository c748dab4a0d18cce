//! One connection's encoder, sans I/O: connection-local ids, batch sequence, what health and
//! readiness the exporter already has, and the bytes waiting to be written.
//!
//! A new connection gets a new `Session`, so everything is defined again and the first batch
//! carries every series: the full resync that makes exporter restarts lossless.

use std::collections::{BTreeMap, HashMap};

use crate::spec::MetricSpec;
use dawn_proto::{
    Batch, EncodeError, Frame, Health, Heartbeat, NATIVE_HISTOGRAM_VERSION, Retire, SeriesDef,
    Update, Value, encode_frame,
};

use super::signals::Board;

/// Target size of one `Batch` frame: far below the 1 MiB frame limit, so a frame never comes
/// near it whatever the number of changed series.
pub(crate) const BATCH_TARGET_BYTES: usize = 16 * 1024;

/// Why the session cannot encode what it was given; the connection must be dropped (the next
/// one starts afresh).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SessionError {
    #[error("cannot encode a frame: {0}")]
    Encode(#[from] EncodeError),
    #[error("connection-local ids exhausted; reconnecting to start afresh")]
    IdsExhausted,
}

/// The per-connection encoder.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// Metrics `0..metrics_defined` have been defined.
    metrics_defined: usize,
    /// Series uid → connection-local id.
    series_ids: HashMap<u64, u32>,
    next_series_id: u32,
    seq: u64,
    pending: Vec<Update>,
    pending_bytes: usize,
    retired: Vec<u32>,
    sent_checks: BTreeMap<String, Health>,
    sent_ready: Option<bool>,
    seen_version: Option<u64>,
    out: Vec<u8>,
    /// The connection speaks a protocol version with native histogram buckets.
    native: bool,
}

impl Session {
    /// A session of protocol version 1: histograms go with their classic buckets only.
    #[cfg(test)]
    pub(crate) fn new() -> Self {
        Session::default()
    }

    /// A session of the negotiated `version`: native histogram buckets are sent from
    /// [`NATIVE_HISTOGRAM_VERSION`] on, never before (an older exporter could not read them).
    pub(crate) fn at_version(version: u16) -> Self {
        Session {
            native: version >= NATIVE_HISTOGRAM_VERSION,
            ..Session::default()
        }
    }

    /// Whether histograms go with their native buckets on this connection.
    pub(crate) fn sends_native(&self) -> bool {
        self.native
    }

    fn push(&mut self, frame: &Frame) -> Result<(), SessionError> {
        encode_frame(frame, &mut self.out)?;
        Ok(())
    }

    /// Whether metric `index` has been defined on this connection.
    pub(crate) fn metric_defined(&self, index: usize) -> bool {
        index < self.metrics_defined
    }

    /// Defines metric `index`; metrics are defined in index order.
    pub(crate) fn define_metric(
        &mut self,
        index: usize,
        spec: &MetricSpec,
    ) -> Result<u32, SessionError> {
        let id = u32::try_from(index).map_err(|_| SessionError::IdsExhausted)?;
        self.push(&Frame::Define(spec.to_define(id)))?;
        self.metrics_defined = self.metrics_defined.max(index + 1);
        Ok(id)
    }

    /// The connection-local id of series `uid`, if defined.
    pub(crate) fn series_id(&self, uid: u64) -> Option<u32> {
        self.series_ids.get(&uid).copied()
    }

    /// Defines series `uid` of metric `metric` and returns its id.
    pub(crate) fn define_series(
        &mut self,
        uid: u64,
        metric: u32,
        labels: &[Box<str>],
    ) -> Result<u32, SessionError> {
        let id = self.next_series_id;
        self.next_series_id = id.checked_add(1).ok_or(SessionError::IdsExhausted)?;
        self.push(&Frame::Series(SeriesDef {
            id,
            metric,
            label_values: labels.iter().map(|l| l.to_string()).collect(),
        }))?;
        self.series_ids.insert(uid, id);
        Ok(id)
    }

    /// Adds the cumulative value of series `id` to the current batch, sending the batch when
    /// its updates' encoded size (exact, see docs/wire.md) reaches [`BATCH_TARGET_BYTES`].
    pub(crate) fn update(&mut self, series: u32, value: Value) -> Result<(), SessionError> {
        let update = Update { series, value };
        self.pending_bytes += update.encoded_len();
        self.pending.push(update);
        if self.pending_bytes >= BATCH_TARGET_BYTES {
            self.end_batch()?;
        }
        Ok(())
    }

    /// Sends the pending updates, if any, as one batch.
    pub(crate) fn end_batch(&mut self) -> Result<(), SessionError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let updates = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        self.seq += 1;
        self.push(&Frame::Batch(Batch {
            seq: self.seq,
            updates,
        }))
    }

    /// Notes that series `uid` was dropped by the registry; sent by [`Session::end_retire`].
    pub(crate) fn retire(&mut self, uid: u64) {
        if let Some(id) = self.series_ids.remove(&uid) {
            self.retired.push(id);
        }
    }

    /// Sends the pending batch, then one `Retire` for the series retired since the last call.
    pub(crate) fn end_retire(&mut self) -> Result<(), SessionError> {
        self.end_batch()?;
        if self.retired.is_empty() {
            return Ok(());
        }
        let series = std::mem::take(&mut self.retired);
        self.push(&Frame::Retire(Retire { series }))
    }

    /// Sends every health check and the readiness that differ from what this connection has
    /// already sent (all of them on a new connection).
    pub(crate) fn signals(&mut self, board: &Board) -> Result<(), SessionError> {
        for (name, health) in &board.checks {
            if self.sent_checks.get(name) != Some(health) {
                self.push(&Frame::Health(health.clone()))?;
                self.sent_checks.insert(name.clone(), health.clone());
            }
        }
        if self.sent_ready != Some(board.ready) {
            self.push(&Frame::Ready(board.ready))?;
            self.sent_ready = Some(board.ready);
        }
        self.seen_version = Some(board.version);
        Ok(())
    }

    /// The board version last given to [`Session::signals`].
    pub(crate) fn seen_version(&self) -> Option<u64> {
        self.seen_version
    }

    pub(crate) fn heartbeat(&mut self, heartbeat: Heartbeat) -> Result<(), SessionError> {
        self.push(&Frame::Heartbeat(heartbeat))
    }

    pub(crate) fn goodbye(&mut self) -> Result<(), SessionError> {
        self.push(&Frame::Goodbye)
    }

    /// The bytes encoded since the last call.
    pub(crate) fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// Number of series defined on this connection and still live.
    pub(crate) fn series_len(&self) -> usize {
        self.series_ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dawn_proto::{DEFAULT_MAX_FRAME_LEN, FrameDecoder, HistogramValue};

    fn decode(bytes: &[u8]) -> Vec<(usize, Frame)> {
        let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
        d.extend(bytes);
        let mut frames = Vec::new();
        let mut offset = 0;
        while let Some(f) = d.next_frame().unwrap() {
            let before = offset;
            offset = bytes.len() - d.buffered();
            frames.push((offset - before, f));
        }
        frames
    }

    #[test]
    fn batches_are_split_far_below_the_frame_limit() {
        let mut s = Session::new();
        let value = Value::Histogram(HistogramValue {
            count: u64::MAX,
            sum: 1.5,
            buckets: vec![u64::MAX / 64; 64],
        });
        for i in 0..5000 {
            s.update(i, value.clone()).unwrap();
        }
        s.end_batch().unwrap();
        let frames = decode(&s.take_output());
        assert!(frames.len() > 1);
        let mut seqs = Vec::new();
        let mut total = 0;
        for (len, frame) in frames {
            assert!(len <= BATCH_TARGET_BYTES + 1024, "frame of {len} bytes");
            let Frame::Batch(b) = frame else {
                panic!("{frame:?}")
            };
            seqs.push(b.seq);
            total += b.updates.len();
        }
        assert_eq!(total, 5000);
        assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    }

    #[test]
    fn signals_send_only_changes() {
        let mut s = Session::new();
        let mut board = Board::default();
        board.checks.insert(
            "storage".into(),
            Health {
                check: "storage".into(),
                status: dawn_proto::HealthStatus::Healthy,
                message: "ok".into(),
                details: vec![],
            },
        );
        s.signals(&board).unwrap();
        let first = decode(&s.take_output());
        assert_eq!(first.len(), 2, "the check and Ready(false)");
        board.version += 1;
        s.signals(&board).unwrap();
        assert!(s.take_output().is_empty());
        board.ready = true;
        s.signals(&board).unwrap();
        let frames: Vec<_> = decode(&s.take_output()).into_iter().map(|f| f.1).collect();
        assert_eq!(frames, vec![Frame::Ready(true)]);
    }

    #[test]
    fn retire_follows_the_batch_and_names_connection_ids() {
        let mut s = Session::new();
        let a = s.define_series(100, 0, &["x".into()]).unwrap();
        let b = s.define_series(200, 0, &["y".into()]).unwrap();
        s.update(b, Value::Counter(1)).unwrap();
        s.retire(100);
        s.retire(999);
        s.end_retire().unwrap();
        let frames: Vec<_> = decode(&s.take_output()).into_iter().map(|f| f.1).collect();
        assert!(matches!(frames[2], Frame::Batch(_)));
        assert_eq!(frames[3], Frame::Retire(Retire { series: vec![a] }));
        assert_eq!(s.series_len(), 1);
    }
}
