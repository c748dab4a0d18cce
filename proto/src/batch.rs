//! `Batch` frames decoded into buffers that the receiver reuses from frame to frame: a
//! [`BatchBuf`] holds the updates of the last batch decoded into it, histogram buckets
//! included, and once it has grown to a batch's size, decoding a batch allocates nothing.
//!
//! A batch is most of what a client sends, so this is the exporter's hot path. It is also
//! how [`crate::decode_body`] decodes every `Batch`: one reader of batch bytes, whose checks
//! and errors are bincode's own (see `read.rs`), and [`BatchBuf::to_batch`] after it.

use std::fmt;

use crate::frame::{
    Batch, BucketSpan, HistogramValue, NativeBuckets, NativeHistogramValue, Update, Value,
};
use crate::read::{Claims, ReadError, Reader, read_len};

/// Updates kept between batches; above it the buffer shrinks back at the next batch. A
/// client cutting its batches at 16 KiB, as `dawn-telemetry` does, never gets there: an
/// update takes at least 3 bytes.
const KEPT_UPDATES: usize = 8 * 1024;

/// Histogram words (counts, sums, buckets) kept between batches; 16 KiB of updates hold
/// fewer.
const KEPT_WORDS: usize = 32 * 1024;

/// Words of a histogram ahead of its buckets: count, sum.
const HISTOGRAM_HEAD: usize = 2;

/// Words of a native part ahead of its counts: schema, zero threshold, zero count, and the
/// lengths of the positive spans, positive counts, negative spans and negative counts.
const NATIVE_HEAD: usize = 7;

/// Span entries kept between batches.
const KEPT_SPANS: usize = 4 * 1024;

/// What an update claims ahead of its value's fields: its series and its value's tag, two
/// `u32`s.
const HEAD_CLAIMS: usize = 2 * size_of::<u32>();

/// Bytes an update takes at least: a series, a tag and a counter of a byte each.
const MIN_UPDATE_BYTES: usize = 3;

/// What a histogram claims ahead of its buckets: count, sum and the buckets' length.
const HISTOGRAM_CLAIMS: usize = 3 * size_of::<u64>();

// An update's share of its batch's claim covers everything it claims but its histogram's
// buckets, so only the buckets' claim can take a batch past the decode limit.
const _: () = assert!(HEAD_CLAIMS + HISTOGRAM_CLAIMS <= size_of::<Update>());

/// An update's value as held: counters and gauges whole, histograms as the place of their
/// words (count, sum's bits, then the buckets) in [`BatchBuf::words`].
#[derive(Debug, Clone, Copy)]
enum Held {
    Counter(u64),
    Gauge(f64),
    Histogram {
        at: u32,
        buckets: u32,
    },
    /// A histogram with native buckets (`Value` tag 3): its classic words as `Histogram`'s,
    /// then the native part's (`NATIVE_HEAD` words, the positive counts, the negative
    /// counts); its spans, positive then negative, from `spans` in [`BatchBuf::spans`].
    Native {
        at: u32,
        buckets: u32,
        spans: u32,
    },
}

/// The last `Batch` decoded into it ([`crate::FrameDecoder::next_frame_into`],
/// [`crate::decode_body_into`]), in buffers kept from batch to batch.
///
/// It holds whole, valid batches only: a decode that fails, or that finds another kind of
/// frame, leaves it empty.
#[derive(Default, Clone)]
pub struct BatchBuf {
    seq: u64,
    updates: Vec<(u32, Held)>,
    words: Vec<u64>,
    spans: Vec<BucketSpan>,
    /// How many of the updates are `Held::Native`.
    natives: u32,
}

impl BatchBuf {
    /// An empty buffer.
    pub fn new() -> Self {
        BatchBuf::default()
    }

    /// Empties the buffer, keeping its memory unless the last batch was unusually large.
    pub(crate) fn clear(&mut self) {
        self.seq = 0;
        self.natives = 0;
        self.updates.clear();
        self.updates.shrink_to(KEPT_UPDATES);
        self.words.clear();
        self.words.shrink_to(KEPT_WORDS);
        self.spans.clear();
        self.spans.shrink_to(KEPT_SPANS);
    }

    /// Decodes a batch's fields from `reader`, just past the frame's tag, as bincode would:
    /// the same checks, in the same order, with the same errors and memory accounting. On
    /// an error the buffer is left empty.
    pub(crate) fn read(
        &mut self,
        reader: &mut Reader<'_>,
        claims: &mut Claims,
    ) -> Result<(), ReadError> {
        self.clear();
        // Read with copies of the position and the count, which stay in registers, put
        // back whatever the outcome.
        let (mut at, mut claimed) = (reader.clone(), *claims);
        let read = self.read_fields(&mut at, &mut claimed);
        (*reader, *claims) = (at, claimed);
        if read.is_err() {
            self.clear();
        }
        read
    }

    #[inline(always)]
    fn read_fields(
        &mut self,
        reader: &mut Reader<'_>,
        claims: &mut Claims,
    ) -> Result<(), ReadError> {
        claims.claim(size_of::<u64>())?;
        self.seq = reader.u64()?;
        let len = read_len(reader, claims)?;
        // The claim bounds the length (a `Vec<Update>` of it fits the decode limit), so it
        // is safe to reserve from.
        claims.claim_items::<Update>(len)?;
        // As many updates as the bytes left can hold are laid out and then read in place;
        // any beyond those are read one by one (the input ends among them: the error is
        // the reads'). On an error the buffer is emptied.
        let BatchBuf {
            updates,
            words,
            spans,
            natives,
            ..
        } = self;
        let room = len.min(reader.rest().len() / MIN_UPDATE_BYTES);
        updates.reserve(len);
        updates.resize(room, (0, Held::Counter(0)));
        for update in updates.iter_mut() {
            *update = read_update(words, spans, natives, reader, claims)?;
        }
        for _ in room..len {
            updates.push(read_update(words, spans, natives, reader, claims)?);
        }
        Ok(())
    }

    /// The batch's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Number of updates.
    pub fn len(&self) -> usize {
        self.updates.len()
    }

    /// Whether the batch carries no update.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Update number `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<UpdateRef<'_>> {
        self.updates
            .get(i)
            .map(|&(series, held)| self.update(series, held))
    }

    /// The updates, in order.
    pub fn updates(&self) -> Updates<'_> {
        Updates {
            batch: self,
            updates: self.updates.iter(),
        }
    }

    #[inline]
    fn update(&self, series: u32, held: Held) -> UpdateRef<'_> {
        let value = match held {
            Held::Counter(c) => ValueRef::Counter(c),
            Held::Gauge(g) => ValueRef::Gauge(g),
            Held::Histogram { at, buckets } => {
                let at = at as usize;
                let words = self
                    .words
                    .get(at..at + HISTOGRAM_HEAD + buckets as usize)
                    .unwrap_or_default();
                match words {
                    [count, sum, buckets @ ..] => ValueRef::Histogram(HistogramRef {
                        count: *count,
                        sum: f64::from_bits(*sum),
                        buckets,
                        native: None,
                    }),
                    // Unreachable: `read_histogram` wrote them.
                    [] | [_] => ValueRef::Histogram(HistogramRef {
                        count: 0,
                        sum: 0.0,
                        buckets: &[],
                        native: None,
                    }),
                }
            }
            Held::Native { at, buckets, spans } => self.native(at, buckets, spans),
        };
        UpdateRef { series, value }
    }

    /// A `Held::Native`'s value: its classic part, and a handle to its native part that
    /// [`BatchBuf::native_ref`] resolves where it is read.
    #[inline]
    fn native(&self, at: u32, buckets: u32, spans: u32) -> ValueRef<'_> {
        let head = at as usize + HISTOGRAM_HEAD + buckets as usize;
        let (count, sum, classic) = match self.words.get(at as usize..head).unwrap_or_default() {
            [count, sum, buckets @ ..] => (*count, f64::from_bits(*sum), buckets),
            // Unreachable: `read_native` wrote them.
            [] | [_] => (0, 0.0, &[][..]),
        };
        ValueRef::Histogram(HistogramRef {
            count,
            sum,
            buckets: classic,
            native: Some(Native(NativeAt::Batch {
                batch: self,
                // `head` is within `words`, whose length fits a u32 (`read_histogram`).
                head: head as u32,
                spans,
            })),
        })
    }

    /// The native part whose words start at `head` and spans at `spans`, as `read_native`
    /// wrote them.
    fn native_ref(&self, head: usize, spans: usize) -> NativeRef<'_> {
        match self.words.get(head..).unwrap_or_default() {
            [schema, zt, zc, ps, pc, ns, nc, counts @ ..] => {
                let [ps, pc, ns, nc] = [*ps, *pc, *ns, *nc].map(|n| n as usize);
                let spans = self.spans.get(spans..).unwrap_or_default();
                let (positive_spans, spans) = spans.split_at(ps.min(spans.len()));
                let negative_spans = spans.get(..ns).unwrap_or_default();
                let (positive_counts, counts) = counts.split_at(pc.min(counts.len()));
                let negative_counts = counts.get(..nc).unwrap_or_default();
                NativeRef {
                    schema: *schema as i64 as i32,
                    zero_threshold: f64::from_bits(*zt),
                    zero_count: *zc,
                    positive_spans,
                    positive_counts,
                    negative_spans,
                    negative_counts,
                }
            }
            // Unreachable: `read_native` wrote them.
            _ => NativeRef::EMPTY,
        }
    }

    /// Whether the batch carries a native histogram (`Value` tag 3): a version 1 session
    /// refuses such a batch, without a pass over its updates.
    pub fn has_native(&self) -> bool {
        self.natives > 0
    }

    /// The owned [`Batch`].
    pub fn to_batch(&self) -> Batch {
        Batch {
            seq: self.seq,
            updates: self.updates().map(|u| u.to_update()).collect(),
        }
    }
}

/// An update (`series: u32`, `value: Value`), its histogram's words into `words`.
#[inline(always)]
fn read_update(
    words: &mut Vec<u64>,
    spans: &mut Vec<BucketSpan>,
    natives: &mut u32,
    reader: &mut Reader<'_>,
    claims: &mut Claims,
) -> Result<(u32, Held), ReadError> {
    // bincode gives back the update's share of the claim, then claims its series and its
    // value's tag, then the value's fields: a counter's or a gauge's 8 bytes, or a
    // histogram's count, sum and buckets' length. All of that but the buckets fits in the
    // share given back (`HISTOGRAM_CLAIMS`), so those claims cannot fail: they are counted
    // without a check. Only the reads can fail, and the buckets' claim.
    claims.unclaim_item::<Update>();
    claims.claim_within_share(HEAD_CLAIMS);
    let series = reader.u32()?;
    let held = match reader.u32()? {
        0 => {
            claims.claim_within_share(size_of::<u64>());
            Held::Counter(reader.u64()?)
        }
        1 => {
            claims.claim_within_share(size_of::<f64>());
            Held::Gauge(reader.f64()?)
        }
        2 => read_histogram(words, reader, claims)?,
        3 => {
            // At most one per update, and a batch's updates are far below 2^32.
            *natives += 1;
            // `read_native` is not inlined: given `reader` and `claims` themselves, their
            // addresses would escape, and they would live in memory for every update of
            // every batch (measured in the exporter's ingest: 17 more instructions per
            // update, of about 340). Given copies, only the copies do, for native
            // histograms only.
            let (mut at, mut claimed) = (reader.clone(), *claims);
            let held = read_native(words, spans, &mut at, &mut claimed);
            (*reader, *claims) = (at, claimed);
            held?
        }
        found => return Err(ReadError::ValueTag { found }),
    };
    Ok((series, held))
}

/// A `HistogramValue` (`count: u64`, `sum: f64`, `buckets: Vec<u64>`), its update's
/// series and tag claimed.
#[inline(always)]
fn read_histogram(
    words: &mut Vec<u64>,
    reader: &mut Reader<'_>,
    claims: &mut Claims,
) -> Result<Held, ReadError> {
    // Count, sum and the buckets' length (a `u64`): within the update's share.
    claims.claim_within_share(HISTOGRAM_CLAIMS);
    let count = reader.u64()?;
    let sum = reader.f64()?;
    let len = reader.u64()?;
    let len = usize::try_from(len).map_err(|_| ReadError::Usize(len))?;
    claims.claim_items::<u64>(len)?;
    // Both fit a u32: the decode limit allows 2^17 buckets in a batch.
    let at = u32::try_from(words.len()).map_err(|_| ReadError::Limit)?;
    let buckets = u32::try_from(len).map_err(|_| ReadError::Limit)?;
    // Each bucket gives back its share of the claim and claims it again to be read:
    // the count never rises above the claim just checked, so the buckets are read
    // without claims.
    words.reserve(HISTOGRAM_HEAD + len);
    words.extend_from_slice(&[count, sum.to_bits()]);
    for _ in 0..len {
        words.push(reader.u64()?);
    }
    Ok(Held::Histogram { at, buckets })
}

/// A `NativeHistogramValue` (its classic `HistogramValue`, then `NativeBuckets`: `schema:
/// i32`, `zero_threshold: f64`, `zero_count: u64`, then spans and counts for each sign),
/// its update's series and tag claimed. Kept apart from [`read_histogram`]: only tag 3
/// comes here.
#[inline(never)]
fn read_native(
    words: &mut Vec<u64>,
    spans: &mut Vec<BucketSpan>,
    reader: &mut Reader<'_>,
    claims: &mut Claims,
) -> Result<Held, ReadError> {
    let Held::Histogram { at, buckets } = read_histogram(words, reader, claims)? else {
        // Unreachable: `read_histogram` holds a histogram.
        return Err(ReadError::Limit);
    };
    let first_span = u32::try_from(spans.len()).map_err(|_| ReadError::Limit)?;
    // The claims past the classic part are bincode's, each before its read: an `i32`
    // claims 4, an `f64` and a `u64` 8, a vector its length (8) and then its items; a span
    // gives back its share (8) and claims its offset (4) and length (4).
    claims.claim(size_of::<i32>())?;
    let schema = reader.i32()?;
    claims.claim(size_of::<f64>())?;
    let zero_threshold = reader.f64()?;
    claims.claim(size_of::<u64>())?;
    let zero_count = reader.u64()?;
    let head = words.len();
    words.extend_from_slice(&[schema as i64 as u64, zero_threshold.to_bits(), zero_count]);
    words.extend_from_slice(&[0; NATIVE_HEAD - 3]);
    let mut lengths = [0u64; 4];
    for sign in 0..2 {
        let len = read_len(reader, claims)?;
        claims.claim_items::<BucketSpan>(len)?;
        spans.reserve(len.min(reader.rest().len() / 2));
        for _ in 0..len {
            claims.unclaim_item::<BucketSpan>();
            claims.claim_within_share(size_of::<i32>());
            let offset = reader.i32()?;
            claims.claim_within_share(size_of::<u32>());
            let length = reader.u32()?;
            spans.push(BucketSpan { offset, length });
        }
        lengths[2 * sign] = len as u64;
        let len = read_len(reader, claims)?;
        claims.claim_items::<u64>(len)?;
        words.reserve(len.min(reader.rest().len()));
        for _ in 0..len {
            words.push(reader.u64()?);
        }
        lengths[2 * sign + 1] = len as u64;
    }
    // Negative spans follow the positive ones in `spans`, but in `words` the positive
    // counts come first: the order they were read in.
    words[head + 3..head + NATIVE_HEAD].copy_from_slice(&lengths);
    Ok(Held::Native {
        at,
        buckets,
        spans: first_span,
    })
}

impl From<&Batch> for BatchBuf {
    fn from(batch: &Batch) -> Self {
        let mut buf = BatchBuf {
            seq: batch.seq,
            ..BatchBuf::default()
        };
        for update in &batch.updates {
            let held = match &update.value {
                Value::Counter(c) => Held::Counter(*c),
                Value::Gauge(g) => Held::Gauge(*g),
                Value::Histogram(h) => {
                    // Batches built in memory are far below 2^32 words.
                    let at = buf.words.len() as u32;
                    buf.words.extend_from_slice(&[h.count, h.sum.to_bits()]);
                    buf.words.extend_from_slice(&h.buckets);
                    Held::Histogram {
                        at,
                        buckets: h.buckets.len() as u32,
                    }
                }
                Value::NativeHistogram(v) => buf.push_native(v),
            };
            buf.updates.push((update.series, held));
        }
        buf
    }
}

impl BatchBuf {
    /// Lays out a native histogram built in memory as `read_native` does.
    fn push_native(&mut self, v: &NativeHistogramValue) -> Held {
        let (h, n) = (&v.classic, &v.native);
        self.natives += 1;
        // Batches built in memory are far below 2^32 words and spans.
        let (at, spans) = (self.words.len() as u32, self.spans.len() as u32);
        self.words.extend_from_slice(&[h.count, h.sum.to_bits()]);
        self.words.extend_from_slice(&h.buckets);
        self.words.extend_from_slice(&[
            n.schema as i64 as u64,
            n.zero_threshold.to_bits(),
            n.zero_count,
            n.positive_spans.len() as u64,
            n.positive_counts.len() as u64,
            n.negative_spans.len() as u64,
            n.negative_counts.len() as u64,
        ]);
        self.words.extend_from_slice(&n.positive_counts);
        self.words.extend_from_slice(&n.negative_counts);
        self.spans.extend_from_slice(&n.positive_spans);
        self.spans.extend_from_slice(&n.negative_spans);
        Held::Native {
            at,
            buckets: h.buckets.len() as u32,
            spans,
        }
    }
}

impl fmt::Debug for BatchBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchBuf")
            .field("seq", &self.seq)
            .field("updates", &self.updates().collect::<Vec<_>>())
            .finish()
    }
}

impl PartialEq for BatchBuf {
    fn eq(&self, other: &Self) -> bool {
        self.seq == other.seq && self.updates().eq(other.updates())
    }
}

/// The updates of a [`BatchBuf`], in order.
#[derive(Debug, Clone)]
pub struct Updates<'a> {
    batch: &'a BatchBuf,
    updates: std::slice::Iter<'a, (u32, Held)>,
}

impl<'a> Iterator for Updates<'a> {
    type Item = UpdateRef<'a>;

    #[inline]
    fn next(&mut self) -> Option<UpdateRef<'a>> {
        let &(series, held) = self.updates.next()?;
        Some(self.batch.update(series, held))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.updates.size_hint()
    }
}

impl ExactSizeIterator for Updates<'_> {}

/// One update of a batch, borrowed: [`Update`] without its allocation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateRef<'a> {
    /// A [`crate::SeriesDef::id`] of this connection.
    pub series: u32,
    /// The series' cumulative value.
    pub value: ValueRef<'a>,
}

impl UpdateRef<'_> {
    /// The owned [`Update`].
    pub fn to_update(&self) -> Update {
        Update {
            series: self.series,
            value: self.value.to_value(),
        }
    }
}

impl<'a> From<&'a Update> for UpdateRef<'a> {
    fn from(update: &'a Update) -> Self {
        UpdateRef {
            series: update.series,
            value: ValueRef::from(&update.value),
        }
    }
}

/// A cumulative value, borrowed: [`Value`] whose histogram buckets stay where they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    /// Total count since the client's incarnation began.
    Counter(u64),
    /// Current value.
    Gauge(f64),
    /// Histogram state since the client's incarnation began.
    Histogram(HistogramRef<'a>),
}

impl ValueRef<'_> {
    /// The owned [`Value`].
    pub fn to_value(&self) -> Value {
        match self {
            ValueRef::Counter(c) => Value::Counter(*c),
            ValueRef::Gauge(g) => Value::Gauge(*g),
            ValueRef::Histogram(h) => {
                let classic = HistogramValue {
                    count: h.count,
                    sum: h.sum,
                    buckets: h.buckets.to_vec(),
                };
                match h.native {
                    None => Value::Histogram(classic),
                    Some(n) => Value::NativeHistogram(Box::new(NativeHistogramValue {
                        classic,
                        native: n.get().to_buckets(),
                    })),
                }
            }
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Counter(c) => ValueRef::Counter(*c),
            Value::Gauge(g) => ValueRef::Gauge(*g),
            Value::Histogram(h) => ValueRef::Histogram(HistogramRef {
                count: h.count,
                sum: h.sum,
                buckets: &h.buckets,
                native: None,
            }),
            Value::NativeHistogram(v) => ValueRef::Histogram(HistogramRef {
                count: v.classic.count,
                sum: v.classic.sum,
                buckets: &v.classic.buckets,
                native: Some(Native::from(&v.native)),
            }),
        }
    }
}

/// Cumulative histogram state, borrowed: [`HistogramValue`] with its buckets where they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramRef<'a> {
    /// Number of observations; equals the sum of `buckets`.
    pub count: u64,
    /// Sum of the observed values.
    pub sum: f64,
    /// Observations per bucket (not cumulative): one per bound of the metric, then one for
    /// `+Inf`.
    pub buckets: &'a [u64],
    /// The native buckets, when the value carries them (`Value` tag 3, protocol version 2).
    pub native: Option<Native<'a>>,
}

/// Where a histogram's native buckets are, resolved by [`Native::get`] where they are read.
///
/// Three words rather than the eleven of a [`NativeRef`]: every [`ValueRef`] is copied from
/// the batch to the session's check and to the store, counters' and gauges' too, and with
/// the native part inline one took 128 bytes; with the handle it takes 56.
#[derive(Clone, Copy)]
pub struct Native<'a>(NativeAt<'a>);

#[derive(Clone, Copy)]
enum NativeAt<'a> {
    /// In a [`BatchBuf`]: the native part's first word in its words, its first span in its
    /// spans.
    Batch {
        batch: &'a BatchBuf,
        head: u32,
        spans: u32,
    },
    /// In a [`NativeBuckets`] built in memory.
    Owned(&'a NativeBuckets),
}

impl<'a> Native<'a> {
    /// The native buckets.
    #[inline]
    pub fn get(self) -> NativeRef<'a> {
        match self.0 {
            NativeAt::Batch { batch, head, spans } => {
                batch.native_ref(head as usize, spans as usize)
            }
            NativeAt::Owned(n) => NativeRef::from(n),
        }
    }
}

impl<'a> From<&'a NativeBuckets> for Native<'a> {
    fn from(n: &'a NativeBuckets) -> Self {
        Native(NativeAt::Owned(n))
    }
}

impl fmt::Debug for Native<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

impl PartialEq for Native<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

// What every update's value costs to copy (x86-64 and other 64-bit targets).
#[cfg(target_pointer_width = "64")]
const _: () = assert!(size_of::<ValueRef<'_>>() <= 56);

/// Native buckets, borrowed: [`NativeBuckets`] with its spans and counts where they are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeRef<'a> {
    /// Resolution: `2^schema` buckets per power of two.
    pub schema: i32,
    /// Values with `|v|` at most this count in the zero bucket.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Runs of keys of the positive buckets.
    pub positive_spans: &'a [BucketSpan],
    /// One count per key of `positive_spans`.
    pub positive_counts: &'a [u64],
    /// Runs of keys of the negative buckets.
    pub negative_spans: &'a [BucketSpan],
    /// One count per key of `negative_spans`.
    pub negative_counts: &'a [u64],
}

impl NativeRef<'_> {
    const EMPTY: NativeRef<'static> = NativeRef {
        schema: 0,
        zero_threshold: 0.0,
        zero_count: 0,
        positive_spans: &[],
        positive_counts: &[],
        negative_spans: &[],
        negative_counts: &[],
    };

    /// The owned [`NativeBuckets`].
    pub fn to_buckets(&self) -> NativeBuckets {
        NativeBuckets {
            schema: self.schema,
            zero_threshold: self.zero_threshold,
            zero_count: self.zero_count,
            positive_spans: self.positive_spans.to_vec(),
            positive_counts: self.positive_counts.to_vec(),
            negative_spans: self.negative_spans.to_vec(),
            negative_counts: self.negative_counts.to_vec(),
        }
    }
}

impl<'a> From<&'a NativeBuckets> for NativeRef<'a> {
    fn from(n: &'a NativeBuckets) -> Self {
        NativeRef {
            schema: n.schema,
            zero_threshold: n.zero_threshold,
            zero_count: n.zero_count,
            positive_spans: &n.positive_spans,
            positive_counts: &n.positive_counts,
            negative_spans: &n.negative_spans,
            negative_counts: &n.negative_counts,
        }
    }
}
