//! Native (sparse, exponential) histogram buckets, recorded beside a histogram's classic
//! buckets the way client_golang does: one observation updates both.
//!
//! A bucket's index (its key) at schema `s` is the `k` with `2^((k-1)/2^s) < |v| <= 2^(k/2^s)`;
//! values with `|v| <= zero_threshold` count in the zero bucket. Prometheus merges two
//! neighbouring buckets into one of schema `s - 1` (key `ceil(k/2)`), which is how the bucket
//! limit is kept: when more buckets are populated than the limit allows, the schema is
//! reduced until they fit, and a series' schema never goes back up.
//!
//! Recording is lock-free and allocation-free once a bucket's group exists. Positive values
//! in `(2^-128, 2^128]` (every latency and size) count in a table of atomic counters at the
//! recording schema (`max(schema, 0)`), in 16 groups of 16 powers of two, each group
//! allocated on its first observation: a histogram of latencies between 1 ms and 2 s uses
//! one or two groups of 1 KiB at schema 3. Negative values and positive ones outside that
//! range (rare for what Dawn records) count in a small map under a mutex instead: a new
//! bucket there allocates, an existing one does not. The reduction to the limit happens when
//! the buckets are read ([`NativeBuckets::snapshot`]), where merging is exact, so the
//! recording path never rearranges counters that other threads are adding to.
//!
//! A value's key comes from the bits of the `f64`, as client_golang's `math.Frexp` and search
//! of a bounds table would give it: the exponent, and for the fraction a per-schema table of
//! `2^(schema+1)` cells of the mantissa that holds, for each cell, the bounds below it and
//! the one in it (at most one), so one load and one compare ([`OctaveTable`]). In the
//! table's range a value's counter is then two shifts and a mask away, found before the
//! classic part is recorded and added to after it ([`NativeBuckets::table_counter`],
//! [`NativeBuckets::count`]). Each recording thread's [`Stripe`] has its own copy of the
//! counters, as of the classic buckets: a thread that owns its stripe adds with a plain load
//! and store, and readers add the stripes up.
//!
//! Counts are per bucket (not cumulative) and read with relaxed loads: a reader racing with
//! observations sees each one either counted or not yet, as with the classic buckets; the
//! caller reads these before its classic buckets so that the classic count is never below
//! the native buckets' total.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::slot::{STRIPES, Stripe};

/// The lowest schema Prometheus accepts (each bucket 2^16 times wider than the previous).
pub const MIN_SCHEMA: i8 = -4;
/// The highest schema Prometheus accepts (2^8 buckets per power of two).
pub const MAX_SCHEMA: i8 = 8;

/// How a histogram records its native buckets: client_golang's
/// `NativeHistogramBucketFactor` (as a schema), `NativeHistogramZeroThreshold` and
/// `NativeHistogramMaxBucketNumber`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NativeConfig {
    /// Resolution: `2^schema` buckets per power of two, from [`MIN_SCHEMA`] to
    /// [`MAX_SCHEMA`]. 3 (default) is a bucket factor of about 1.09, an error of at most
    /// about 4.4 % on a quantile.
    pub schema: i8,
    /// Observations whose absolute value is at most this count in the zero bucket; at least
    /// 0 and finite. Default 2^-128, client_golang's.
    pub zero_threshold: f64,
    /// The most populated buckets (both signs) a series keeps: beyond it the schema is
    /// reduced until they fit. Default 160, client_golang's common setting; 0 is no limit.
    pub max_buckets: u32,
}

impl NativeConfig {
    /// client_golang's defaults with the common bucket limit: schema 3, zero threshold
    /// 2^-128, at most 160 buckets.
    pub const DEFAULT: NativeConfig = NativeConfig {
        schema: 3,
        zero_threshold: DEFAULT_ZERO_THRESHOLD,
        max_buckets: 160,
    };

    /// Whether the values are ones Prometheus accepts.
    pub fn is_valid(&self) -> bool {
        (MIN_SCHEMA..=MAX_SCHEMA).contains(&self.schema)
            && self.zero_threshold.is_finite()
            && self.zero_threshold >= 0.0
    }
}

impl Default for NativeConfig {
    fn default() -> Self {
        NativeConfig::DEFAULT
    }
}

/// 2^-128, client_golang's `DefNativeHistogramZeroThreshold`.
pub const DEFAULT_ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// Powers of two of one group of the table.
const GROUP_OCTAVES: i32 = 16;
/// Groups of the table; it covers the powers of two from 2^-128 to 2^128.
const GROUPS: usize = 16;
/// The table's lowest power of two: values above `2^TABLE_MIN_EXP` are in it.
const TABLE_MIN_EXP: i32 = -128;
/// The table's lowest and highest values: it holds `(TABLE_LOW, TABLE_HIGH]`.
const TABLE_LOW: f64 = f64::from_bits(((TABLE_MIN_EXP + 1023) as u64) << 52);
const TABLE_HIGH: f64 =
    f64::from_bits(((TABLE_MIN_EXP + GROUP_OCTAVES * GROUPS as i32 + 1023) as u64) << 52);

/// The upper bounds of the buckets within one power of two at `schema >= 0`, scaled to
/// `[0.5, 1)` as `frexp` gives a value's fraction: `2^(i/2^schema - 1)`.
fn octave_bounds(schema: i8) -> Box<[f64]> {
    let n = 1i32 << schema.max(0);
    (0..n)
        .map(|i| (f64::from(i) / f64::from(n) - 1.0).exp2())
        .collect()
}

/// The mantissa bits of an `f64`: its fraction within its power of two, in order.
const MANTISSA: u64 = (1 << 52) - 1;
/// Cells of a power of two in the finest [`OctaveTable`] (schema 8).
const MAX_CELLS: usize = 2 << MAX_SCHEMA;

/// A schema's bounds within a power of two ([`octave_bounds`]), per cell of the mantissa:
/// how many bounds lie below the cell's start (bits 52 and up) and the mantissa of the
/// bound in the cell (bits 0 to 51; the cell's last mantissa when it holds none). A value's
/// key is then its exponent, one load and one compare, at every schema.
///
/// A schema `s` has `2^(s+1)` cells (a value's cell is the top `s + 1` bits of its
/// mantissa): neighbouring bounds are at least `0.5 * (2^(2^-s) - 1) > 0.34 / 2^s` apart in
/// the fraction, more than a cell (`0.25 / 2^s`), so a cell holds at most one bound. At
/// schema 3 the table is 16 cells, two cache lines.
///
/// Bounds are compared as mantissas: they and the fraction `frexp` gives (`0.5 + mantissa /
/// 2^53`) all lie in `[0.5, 1)`, one power of two, where bits order as values do.
#[derive(Debug)]
struct OctaveTable {
    /// The schema (0 to [`MAX_SCHEMA`]).
    schema: u32,
    /// The `2^(schema+1)` cells, then unused ones.
    cells: [u64; MAX_CELLS],
}

impl OctaveTable {
    fn new(schema: i8) -> OctaveTable {
        let schema = schema.clamp(0, MAX_SCHEMA) as u32;
        let cell_shift = cell_shift(schema);
        let bounds: Vec<u64> = octave_bounds(schema as i8)
            .iter()
            .map(|b| b.to_bits() & MANTISSA)
            .collect();
        let cells = std::array::from_fn(|cell| {
            let (start, end) = ((cell as u64) << cell_shift, (cell as u64 + 1) << cell_shift);
            let below = bounds.iter().filter(|b| **b < start).count() as u64;
            let inside = bounds.iter().find(|b| (start..end).contains(*b));
            (below << 52) | inside.copied().unwrap_or(end - 1) & MANTISSA
        });
        OctaveTable { schema, cells }
    }

    /// The table of `schema` (clamped to 0 to [`MAX_SCHEMA`]), made once per process.
    fn of(schema: i8) -> &'static OctaveTable {
        static TABLES: [OnceLock<OctaveTable>; MAX_SCHEMA as usize + 1] =
            [const { OnceLock::new() }; MAX_SCHEMA as usize + 1];
        let s = schema.clamp(0, MAX_SCHEMA);
        TABLES[s as usize].get_or_init(|| OctaveTable::new(s))
    }

    /// How many bounds lie below the fraction of a value of these bits: those below its
    /// cell, plus the cell's own if it is below the fraction. `schema` is the table's, given
    /// so that a caller may pass it as a constant ([`NativeBuckets::table_counter`]).
    #[inline(always)]
    fn within(&self, bits: u64, schema: u32) -> u64 {
        debug_assert_eq!(schema, self.schema, "the table's own schema");
        let mantissa = bits & MANTISSA;
        // The modulo is a mask: below the cells' count already (the shift is at least 43).
        let cell = self.cells[(mantissa >> cell_shift(schema)) as usize % MAX_CELLS];
        (cell >> 52) + u64::from(cell & MANTISSA < mantissa)
    }

    /// The key of a positive normal value of these bits at the table's schema:
    /// client_golang's `(exp-1)*len(bounds) + SearchFloat64s(bounds, frac)` with
    /// `frac, exp = math.Frexp(v)`, its exponent read from the bits (`exp - 1` is the
    /// unbiased exponent).
    #[inline]
    fn key(&self, bits: u64) -> i32 {
        let exp = (bits >> 52) as i32 - 1023;
        (exp << self.schema) + self.within(bits, self.schema) as i32
    }

    /// [`OctaveTable::key`] less `base`, for a key at least `base`, with the exponent's
    /// bias in keys folded into `base` ([`NativeBuckets::slot_base`]): unsigned, no sign
    /// extension, one instruction fewer on the observing path. `schema` is the table's, as
    /// for [`OctaveTable::within`].
    #[inline(always)]
    fn key_from(&self, bits: u64, base: u64, schema: u32) -> u64 {
        ((bits >> 52) << schema)
            .wrapping_add(self.within(bits, schema))
            .wrapping_sub(base)
    }
}

/// The key of `|v|` (positive, finite) at `schema`: the `k` with
/// `2^((k-1)/2^schema) < |v| <= 2^(k/2^schema)`.
pub(crate) fn key(v: f64, schema: i8) -> i32 {
    let v = v.abs();
    // Subnormals scaled into the normal range first (the key needs an exponent).
    let (v, shift) = if v < f64::MIN_POSITIVE {
        (v * 2f64.powi(64), 64)
    } else {
        (v, 0)
    };
    let at = schema.max(0);
    let at_zero = OctaveTable::of(at).key(v.to_bits()) - (shift << at);
    reduce_key(at_zero, at - schema)
}

/// A key at some schema taken `by` schemas down: `ceil(k / 2^by)`, as Prometheus merges.
#[inline]
pub(crate) fn reduce_key(k: i32, by: i8) -> i32 {
    if by <= 0 {
        return k;
    }
    // ceil(k / 2^by) with an arithmetic shift (rounds towards -inf).
    (k + (1 << by) - 1) >> by
}

/// What the native buckets held when read: schema, zero bucket and the populated buckets of
/// each sign as `(key, count)` in ascending key order, counts per bucket (not cumulative).
#[derive(Debug, Clone, PartialEq)]
pub struct NativeSnapshot {
    /// The schema the keys are at (at most the configured one, lower after a reduction).
    pub schema: i8,
    /// The zero bucket's width.
    pub zero_threshold: f64,
    /// Observations in the zero bucket.
    pub zero_count: u64,
    /// Positive buckets, `(key, count)`, ascending keys, no zero count.
    pub positive: Vec<(i32, u64)>,
    /// Negative buckets by the key of `|v|`, ascending keys, no zero count.
    pub negative: Vec<(i32, u64)>,
}

impl NativeSnapshot {
    /// Every observation counted: the zero bucket's and every bucket's.
    pub fn count(&self) -> u64 {
        self.positive
            .iter()
            .chain(&self.negative)
            .fold(self.zero_count, |acc, (_, n)| acc.wrapping_add(*n))
    }

    /// Takes the buckets one schema down, merging neighbours.
    fn reduce_once(&mut self) {
        merge(&mut self.positive, 1);
        merge(&mut self.negative, 1);
        self.schema -= 1;
    }

    /// Reduces the schema until at most `max_buckets` buckets are populated (0: no limit) or
    /// the schema is [`MIN_SCHEMA`].
    fn fit(&mut self, max_buckets: u32) {
        let populated = |s: &NativeSnapshot| s.positive.len() + s.negative.len();
        while max_buckets > 0 && populated(self) > max_buckets as usize && self.schema > MIN_SCHEMA
        {
            self.reduce_once();
        }
    }
}

/// Merges ascending `(key, count)` buckets `by` schemas down (ascending keys stay ascending).
fn merge(buckets: &mut Vec<(i32, u64)>, by: i8) {
    let mut out: Vec<(i32, u64)> = Vec::with_capacity(buckets.len());
    for (k, n) in buckets.drain(..) {
        let k = reduce_key(k, by);
        match out.last_mut() {
            Some((last, total)) if *last == k => *total = total.wrapping_add(n),
            _ => out.push((k, n)),
        }
    }
    *buckets = out;
}

/// The native buckets of one histogram series (see the module's comment).
#[derive(Debug)]
pub(crate) struct NativeBuckets {
    config: NativeConfig,
    /// The schema the table counts at: `max(schema, 0)`.
    recording_schema: i8,
    /// The bounds within a power of two at the recording schema.
    table: &'static OctaveTable,
    /// The key of the table's first counter (`TABLE_MIN_EXP * 2^recording_schema + 1`) plus
    /// the exponent's bias in keys (`1023 * 2^recording_schema`): a value's counter is at
    /// [`OctaveTable::key_from`] its bits and this.
    slot_base: u64,
    /// The bits of the table's lowest value: the next `f64` above both `TABLE_LOW` and the
    /// zero threshold (the table holds no value of the zero bucket).
    table_from: u64,
    /// How many `f64` bit patterns the table holds from `table_from` on: up to `TABLE_HIGH`'s.
    table_span: u64,
    /// `table_span` at the default schema, 0 at any other: the range of the observing
    /// path's constant shifts ([`NativeBuckets::table_counter`]).
    default_span: u64,
    /// The zero bucket, a count per recording [`Stripe`].
    zero: [AtomicU64; STRIPES],
    /// Counters of the powers of two `TABLE_MIN_EXP + g * GROUP_OCTAVES ..` for group `g`,
    /// `GROUP_OCTAVES * 2^recording_schema` each, indexed by key, a copy per recording
    /// [`Stripe`] (a thread that owns its stripe adds without a locked instruction), each
    /// allocated on its first observation.
    groups: [[GroupSlot; STRIPES]; GROUPS],
    /// Buckets outside the table: `(negative, key)` at the recording schema.
    other: Mutex<BTreeMap<(bool, i32), u64>>,
    /// The lowest schema a snapshot has been reduced to: later ones start there, so a
    /// series' schema never goes back up.
    schema_floor: AtomicI32,
}

impl NativeBuckets {
    /// Empty buckets recording by `config` (assumed [`NativeConfig::is_valid`]; an invalid
    /// schema is clamped to the accepted range).
    pub(crate) fn new(config: NativeConfig) -> Self {
        let schema = config.schema.clamp(MIN_SCHEMA, MAX_SCHEMA);
        let recording_schema = schema.max(0);
        // Above 2^-128 and the threshold: a non-negative finite `f64`'s bits order as it does.
        let table_from = TABLE_LOW.max(config.zero_threshold).to_bits() + 1;
        let table_span = (TABLE_HIGH.to_bits() + 1).saturating_sub(table_from);
        NativeBuckets {
            config: NativeConfig { schema, ..config },
            recording_schema,
            table: OctaveTable::of(recording_schema),
            slot_base: (((1023 + TABLE_MIN_EXP) << recording_schema) + 1) as u64,
            table_from,
            table_span,
            default_span: if recording_schema == NativeConfig::DEFAULT.schema {
                table_span
            } else {
                0
            },
            zero: std::array::from_fn(|_| AtomicU64::new(0)),
            groups: std::array::from_fn(|_| std::array::from_fn(|_| GroupSlot::default())),
            other: Mutex::new(BTreeMap::new()),
            schema_floor: AtomicI32::new(i32::from(schema)),
        }
    }

    /// Buckets per power of two at the recording schema.
    #[inline]
    fn per_octave(&self) -> i32 {
        1 << self.recording_schema
    }

    /// Records `v` (finite: the caller has checked).
    #[cfg(test)]
    pub(crate) fn observe(&self, v: f64) {
        let stripe = crate::slot::stripe();
        self.count(self.locate(v, stripe), v, stripe);
    }

    /// The counter of `stripe` that an observation of `v` (finite) adds to: its table
    /// counter, or the zero bucket; `None` for a value kept in the map (negative, or positive
    /// outside the table).
    #[cfg(test)]
    pub(crate) fn locate(&self, v: f64, stripe: Stripe) -> Option<&AtomicU64> {
        self.table_counter(v, stripe)
            .or_else(|| self.outside_table(v, stripe))
    }

    /// The counter that an observation of `v` adds to when `v` is in the table's range (and
    /// so finite), found without adding (its group allocated if it is the group's first);
    /// `None` for any other value, NaN and infinities included (unsigned compares of the
    /// bits, in which a negative value's sign bit puts it far above the range), so that the
    /// caller checks those apart, only outside the table ([`NativeBuckets::outside_table`]).
    ///
    /// [`HistogramCell::observe`](crate::cell::HistogramCell::observe) finds it before
    /// recording the classic part, so that its loads do not queue behind that part's
    /// updates (locked ones on the shared stripe), and adds after it
    /// ([`NativeBuckets::count`]).
    #[inline]
    pub(crate) fn table_counter(&self, v: f64, stripe: Stripe) -> Option<&AtomicU64> {
        let bits = v.to_bits();
        // The default schema's shifts as constants: x86 takes more µops for a shift by a
        // register than by a constant, and this path has three (measured in a loop of
        // observations: the native/classic ratio 1.50 without this, 1.41 with it). Its
        // range is empty at another schema, so one compare both places the value in the
        // table and says the schema is the default one.
        if bits.wrapping_sub(self.table_from) < self.default_span {
            let schema = NativeConfig::DEFAULT.schema as u32;
            return self.table_counter_at(bits, stripe, schema);
        }
        if bits.wrapping_sub(self.table_from) < self.table_span {
            let schema = self.recording_schema as u32;
            return self.table_counter_at(bits, stripe, schema);
        }
        None
    }

    /// The counter of a value of these bits within the table's range, with the recording
    /// schema given.
    #[inline(always)]
    fn table_counter_at(&self, bits: u64, stripe: Stripe, schema: u32) -> Option<&AtomicU64> {
        // In the range, so not negative: the value is above 2^-128, the upper end of the
        // bucket before the first counter's.
        let slot = self.table.key_from(bits, self.slot_base, schema) as usize;
        // A group is `GROUP_OCTAVES * 2^recording_schema` counters: a shift, no division;
        // below `GROUPS` groups since the value is at most 2^128 (the modulo is a mask).
        let shift = group_shift(schema);
        let group = &self.groups[(slot >> shift) % GROUPS][stripe.index() % STRIPES].0;
        let counters = group.get_or_init(move || new_group(1 << shift));
        counters.get(slot & ((1 << shift) - 1))
    }

    /// The counter of `stripe` for a finite value outside the table's range: the zero
    /// bucket, or `None` (the map).
    #[inline]
    pub(crate) fn outside_table(&self, v: f64, stripe: Stripe) -> Option<&AtomicU64> {
        (v.abs() <= self.config.zero_threshold).then_some(&self.zero[stripe.index() % STRIPES])
    }

    /// Counts an observation of `v` where [`NativeBuckets::table_counter`] or
    /// [`NativeBuckets::outside_table`] found its counter, or in the map when they found none.
    #[inline]
    pub(crate) fn count(&self, counter: Option<&AtomicU64>, v: f64, stripe: Stripe) {
        match counter {
            Some(counter) => stripe.add(counter, 1),
            None => self.observe_other(v),
        }
    }

    /// Records a value outside the table and the zero bucket.
    #[cold]
    #[inline(never)]
    fn observe_other(&self, v: f64) {
        let k = key(v, self.recording_schema);
        let mut other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
        let count = other.entry((v < 0.0, k)).or_insert(0);
        *count = count.wrapping_add(1);
    }

    /// The buckets now, at the configured schema or lower, reduced until at most
    /// `max_buckets` are populated.
    pub(crate) fn snapshot(&self) -> NativeSnapshot {
        let n = self.per_octave();
        let mut positive = Vec::new();
        let shift = group_shift(self.recording_schema as u32);
        for (g, stripes) in self.groups.iter().enumerate() {
            // Group `g` of every stripe that has it; all are `1 << shift` counters.
            let groups: [Option<&[AtomicU64]>; STRIPES] =
                std::array::from_fn(|s| stripes[s].0.get().map(|b| &**b));
            if groups.iter().all(Option::is_none) {
                continue;
            }
            let first = TABLE_MIN_EXP * n + 1 + g as i32 * GROUP_OCTAVES * n;
            for i in 0..1usize << shift {
                let count = groups
                    .iter()
                    .flatten()
                    .filter_map(|c| c.get(i))
                    .fold(0u64, |acc, c| acc.wrapping_add(c.load(Relaxed)));
                if count > 0 {
                    positive.push((first + i as i32, count));
                }
            }
        }
        let mut negative = Vec::new();
        {
            let other = self.other.lock().unwrap_or_else(PoisonError::into_inner);
            for (&(neg, k), &count) in other.iter() {
                if neg {
                    negative.push((k, count));
                } else {
                    positive.push((k, count));
                }
            }
        }
        // The map's positive keys lie below or above the table's.
        positive.sort_unstable_by_key(|(k, _)| *k);
        let mut snapshot = NativeSnapshot {
            schema: self.recording_schema,
            zero_threshold: self.config.zero_threshold,
            zero_count: self
                .zero
                .iter()
                .fold(0u64, |acc, c| acc.wrapping_add(c.load(Relaxed))),
            positive,
            negative,
        };
        let floor = self.schema_floor.load(Relaxed);
        while i32::from(snapshot.schema) > floor {
            snapshot.reduce_once();
        }
        snapshot.fit(self.config.max_buckets);
        self.schema_floor
            .fetch_min(i32::from(snapshot.schema), Relaxed);
        snapshot
    }
}

/// A mantissa's cell in the [`OctaveTable`] of `schema` is the mantissa shifted right by
/// this: `52 - (schema + 1)`, the cell being its top `schema + 1` bits.
const fn cell_shift(schema: u32) -> u32 {
    51 - schema
}

/// log2 of a group's counters at recording schema `schema`: `log2(GROUP_OCTAVES) + schema`.
const fn group_shift(schema: u32) -> u32 {
    GROUP_OCTAVES.trailing_zeros() + schema
}

/// One stripe's counters of one group, allocated on the group's first observation in the
/// stripe. Padded from 24 to 32 bytes so that a slot's place in the table is the group and
/// the stripe shifted, with no multiplication on the observing path: 4 instructions fewer
/// and the native observe about 3 % faster (docs/native-histograms.md), for 512 bytes a
/// series.
#[derive(Debug, Default)]
#[repr(align(32))]
struct GroupSlot(OnceLock<Box<[AtomicU64]>>);

fn new_group(len: usize) -> Box<[AtomicU64]> {
    (0..len).map(|_| AtomicU64::new(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known keys: Prometheus' definition, `2^((k-1)/2^s) < v <= 2^(k/2^s)`, on values away
    /// from the bounds and on powers of two, which are the upper bound of their bucket.
    #[test]
    fn keys_of_known_values() {
        let table: &[(f64, i8, i32)] = &[
            // Schema 0: (0.5, 1] is bucket 0, (1, 2] bucket 1, (2, 4] bucket 2.
            (1.0, 0, 0),
            (1.5, 0, 1),
            (2.0, 0, 1),
            (3.0, 0, 2),
            (0.75, 0, 0),
            (0.5, 0, -1),
            (0.3, 0, -1),
            // Schema 3: 8 buckets per power of two; 2^(1/8) = 1.0905, 2^(2/8) = 1.1892.
            (1.0, 3, 0),
            (1.05, 3, 1),
            (1.1, 3, 2),
            (2.0, 3, 8),
            (2.1, 3, 9),
            (0.001, 3, -79),
            (0.5, 3, -8),
            (1024.0, 3, 80),
            // Negative schemas: at -1 each bucket spans 4x, (1, 4] is bucket 1.
            (1.0, -1, 0),
            (3.0, -1, 1),
            (4.0, -1, 1),
            (5.0, -1, 2),
            (0.3, -1, 0),
            // Schema 8 and the extremes.
            (1.0, 8, 0),
            (f64::MAX, 0, 1024),
            (f64::MIN_POSITIVE, 0, -1022),
            (5e-324, 0, -1074),
        ];
        for &(v, schema, want) in table {
            assert_eq!(key(v, schema), want, "key({v}, {schema})");
            assert_eq!(key(-v, schema), want, "key(-{v}, {schema})");
        }
        // The definition itself, on values spread over many powers of two.
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let per = 2f64.powi(i32::from(schema));
            for i in 0..2_000 {
                let v = 1.37f64.powi(i - 1_000) * 1.0001;
                let k = f64::from(key(v, schema));
                let (lower, upper) = (((k - 1.0) / per).exp2(), (k / per).exp2());
                assert!(
                    lower < v * (1.0 + 1e-12) && v <= upper * (1.0 + 1e-12),
                    "schema {schema}: {v} in bucket {k} = ({lower}, {upper}]"
                );
            }
        }
    }

    #[test]
    fn the_tables_find_what_counting_the_bounds_finds() {
        for schema in 0..=MAX_SCHEMA {
            let table = OctaveTable::of(schema);
            let bounds = octave_bounds(schema);
            // A cell holds at most one bound, which the table relies on.
            let cells: Vec<u64> = bounds
                .iter()
                .map(|b| (b.to_bits() & MANTISSA) >> cell_shift(table.schema))
                .collect();
            assert!(cells.windows(2).all(|w| w[0] < w[1]), "schema {schema}");
            // Every bound, its neighbours one ulp away, and a fine sweep of [0.5, 1).
            let mut fracs: Vec<f64> = bounds
                .iter()
                .flat_map(|b| [b.next_down(), *b, b.next_up()])
                .filter(|f| (0.5..1.0).contains(f))
                .collect();
            fracs.extend((0..100_000).map(|i| 0.5 + f64::from(i) / 200_000.0));
            fracs.push(1f64.next_down());
            for frac in fracs {
                let counted = bounds.iter().filter(|b| **b < frac).count() as i32;
                assert_eq!(
                    table.within(frac.to_bits(), table.schema) as i32,
                    counted,
                    "schema {schema}, fraction {frac}"
                );
            }
        }
    }

    /// `math.Frexp` done the slow way, by halving and doubling (exact): `v = frac * 2^exp`,
    /// `frac` in `[0.5, 1)`, for any positive finite `v`, subnormals included.
    fn reference_frexp(v: f64) -> (f64, i32) {
        let (mut frac, mut exp) = (v, 0);
        while frac >= 1.0 {
            frac *= 0.5;
            exp += 1;
        }
        while frac < 0.5 {
            frac *= 2.0;
            exp -= 1;
        }
        (frac, exp)
    }

    /// client_golang's key of `v` (`histogramCounts.observe`): for schema > 0,
    /// `SearchFloat64s(bounds, frac) + (exp-1)*len(bounds)` (here a count of the bounds
    /// below `frac`); else `exp`, less 1 when `frac == 0.5`, then `(key + 2^-schema - 1) >>
    /// -schema`.
    fn reference_key(v: f64, schema: i8) -> i32 {
        let (frac, exp) = reference_frexp(v.abs());
        if schema > 0 {
            let bounds = octave_bounds(schema);
            let n = bounds.len() as i32;
            bounds.iter().filter(|b| **b < frac).count() as i32 + (exp - 1) * n
        } else {
            let key = if frac == 0.5 { exp - 1 } else { exp };
            let offset = (1 << -schema) - 1;
            (key + offset) >> -schema
        }
    }

    /// Each value observed alone, by the recording path (table, map, reduction to a
    /// negative schema when read), lands in the bucket client_golang's formula gives, at
    /// every schema: powers of two and their neighbours from the smallest subnormal to the
    /// largest finite value, every bound of the schema (times several powers of two) and its
    /// neighbours, the table's ends, and all of these negative.
    #[test]
    fn observed_keys_equal_the_reference_on_edge_values() {
        // 2^e exactly, subnormal ones included (`powi` goes through 2^-e, infinite below -1023).
        let pow2 = |e: i32| match e {
            -1074..=-1023 => f64::from_bits(1 << (e + 1074)),
            _ => f64::from_bits(((e + 1023) as u64) << 52),
        };
        let powers = (-1074..=1023).map(pow2);
        let mut common: Vec<f64> = powers
            .flat_map(|p| [p.next_down(), p, p.next_up()])
            .filter(|v| *v > 0.0 && v.is_finite())
            .collect();
        common.extend([
            5e-324,
            1e-320,
            f64::MIN_POSITIVE,
            f64::MIN_POSITIVE.next_down(),
            TABLE_LOW.next_up(),
            TABLE_HIGH,
            TABLE_HIGH.next_up(),
            f64::MAX,
            1e300,
            0.001,
            0.0004,
            12.0,
        ]);
        let exps = [
            -1074, -1040, -1022, -200, -129, -128, -127, -1, 0, 1, 20, 127, 128, 1023,
        ];
        for schema in MIN_SCHEMA..=MAX_SCHEMA {
            let mut values = common.clone();
            for b in octave_bounds(schema).iter() {
                for e in exps {
                    let v = b * pow2(e);
                    values.extend([v.next_down(), v, v.next_up()]);
                }
            }
            values.retain(|v| *v > 0.0 && v.is_finite());
            let config = NativeConfig {
                schema,
                zero_threshold: 0.0,
                max_buckets: 0,
            };
            for v in values {
                for v in [v, -v] {
                    let h = NativeBuckets::new(config);
                    h.observe(v);
                    let s = h.snapshot();
                    let want = vec![(reference_key(v, schema), 1)];
                    let got = if v > 0.0 { &s.positive } else { &s.negative };
                    assert_eq!((s.schema, got), (schema, &want), "{v:e} at schema {schema}");
                    assert_eq!(s.count(), 1, "{v:e} at schema {schema}");
                }
            }
        }
    }

    /// The zero threshold and the table's lower end: a value at most the threshold is in the
    /// zero bucket, the next one above it in its own bucket, whatever the threshold.
    #[test]
    fn the_zero_threshold_splits_where_it_says() {
        for threshold in [0.0, 5e-324, DEFAULT_ZERO_THRESHOLD, 1e-3, 1.0, 2.0, 1e300] {
            let h = NativeBuckets::new(NativeConfig {
                zero_threshold: threshold,
                ..NativeConfig::DEFAULT
            });
            let above = threshold.next_up();
            for v in [0.0, -0.0, threshold, -threshold, above, -above] {
                h.observe(v);
            }
            let s = h.snapshot();
            assert_eq!(s.zero_count, 6 - 2, "threshold {threshold:e}");
            assert_eq!(s.positive, [(key(above, 3), 1)], "threshold {threshold:e}");
            assert_eq!(s.negative, [(key(above, 3), 1)], "threshold {threshold:e}");
        }
    }

    #[test]
    fn reducing_a_key_is_the_key_at_the_lower_schema() {
        for schema in (MIN_SCHEMA + 1)..=MAX_SCHEMA {
            for i in 0..500 {
                let v = 1.29f64.powi(i - 250) * 1.003;
                for by in 1..=(schema - MIN_SCHEMA) {
                    assert_eq!(
                        reduce_key(key(v, schema), by),
                        key(v, schema - by),
                        "{v} from schema {schema} down by {by}"
                    );
                }
            }
        }
        // ceil(k/2): 1, 2 -> 1; 3, 4 -> 2; 0, -1 -> 0; -2, -3 -> -1.
        let merged: Vec<i32> = [-3, -2, -1, 0, 1, 2, 3, 4]
            .iter()
            .map(|k| reduce_key(*k, 1))
            .collect();
        assert_eq!(merged, [-1, -1, 0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn observations_land_in_their_buckets() {
        let h = NativeBuckets::new(NativeConfig::DEFAULT);
        for v in [
            1.0, 1.05, 1.05, 2.0, 0.001, 0.0, -0.0, 1e-40, 1e-200, -2.0, 1e300,
        ] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.schema, 3);
        assert_eq!(s.zero_count, 4, "0, -0, 1e-40 and 1e-200 are within 2^-128");
        let positive_keys: Vec<i32> = s.positive.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            positive_keys,
            [-79, 0, 1, 8, key(1e300, 3)],
            "ascending, the table's and the map's alike"
        );
        assert_eq!(s.positive[2], (1, 2));
        assert_eq!(s.negative, [(8, 1)]);
        assert_eq!(s.count(), 11);

        // Without a zero bucket, the tiniest values have buckets of their own.
        let h = NativeBuckets::new(NativeConfig {
            zero_threshold: 0.0,
            ..NativeConfig::DEFAULT
        });
        for v in [0.0, 1e-200, 5e-324, 1e-40] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.zero_count, 1);
        assert_eq!(
            s.positive,
            [(-8592, 1), (key(1e-200, 3), 1), (key(1e-40, 3), 1)],
            "2^-1074 is bucket -1074 * 8"
        );
    }

    #[test]
    fn too_many_buckets_reduce_the_schema_and_it_stays_reduced() {
        let h = NativeBuckets::new(NativeConfig {
            max_buckets: 20,
            ..NativeConfig::DEFAULT
        });
        // 1..=2^4 at schema 3 populates 32 buckets (keys 1..=32 in steps of 2^(1/8)).
        for k in 1..=32 {
            h.observe((f64::from(k) / 8.0 - 0.01).exp2());
        }
        let s = h.snapshot();
        assert_eq!(s.schema, 2, "32 buckets do not fit in 20, 16 do");
        assert_eq!(s.positive.len(), 16);
        assert!(s.positive.iter().all(|(_, n)| *n == 2));
        assert_eq!(s.count(), 32);
        // A value that would fit in schema 3 alone still reads at schema 2.
        let h2 = &h;
        h2.observe(1000.0);
        let again = h2.snapshot();
        assert_eq!(again.schema, 2);
        assert_eq!(again.positive.last(), Some(&(key(1000.0, 2), 1)));
    }

    #[test]
    fn negative_schemas_record_at_zero_and_read_at_theirs() {
        let h = NativeBuckets::new(NativeConfig {
            schema: -2,
            ..NativeConfig::DEFAULT
        });
        for v in [1.0, 3.0, 16.0, 17.0, 0.01] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.schema, -2);
        let want = [(key(0.01, -2), 1), (0, 1), (1, 2), (2, 1)];
        assert_eq!(s.positive, want, "(1, 16] is bucket 1 at schema -2");
    }

    #[test]
    fn many_threads_count_every_observation() {
        // More threads than slots: the first own their stripes, the rest share one; every
        // observation lands in its bucket, as one thread recording them all would have it.
        let value = |t: u32, i: u32| 0.001 * f64::from(1 + (t * 2_000 + i) % 997);
        let h = NativeBuckets::new(NativeConfig::DEFAULT);
        std::thread::scope(|s| {
            for t in 0..20 {
                let h = &h;
                s.spawn(move || {
                    for i in 0..2_000 {
                        h.observe(value(t, i));
                    }
                });
            }
        });
        let reference = NativeBuckets::new(NativeConfig::DEFAULT);
        for t in 0..20 {
            for i in 0..2_000 {
                reference.observe(value(t, i));
            }
        }
        let snapshot = h.snapshot();
        assert_eq!(snapshot.count(), 40_000);
        assert_eq!(snapshot.positive, reference.snapshot().positive);
    }

    #[test]
    fn memory_of_a_series() {
        // The struct (the group table's 16 x 4 empty slots of 32 bytes, one per group and
        // stripe, most of it), then 1 KiB per group of 16 powers of two in use at schema 3
        // and stripe that records into it: 1 ms to 2 s spans groups 7 and 8 (2^-16 .. 2^16).
        assert!(
            size_of::<NativeBuckets>() <= 2176,
            "{}",
            size_of::<NativeBuckets>()
        );
        let h = NativeBuckets::new(NativeConfig::DEFAULT);
        for v in [0.001, 0.01, 0.1, 1.0, 2.0] {
            h.observe(v);
        }
        // One thread recorded: one stripe's groups.
        let groups: Vec<usize> = h
            .groups
            .iter()
            .flatten()
            .filter_map(|g| g.0.get())
            .map(|c| c.len())
            .collect();
        assert_eq!(groups, [128, 128], "two groups of 16 x 8 counters");
    }

    #[test]
    fn the_default_config_is_valid_and_bad_ones_are_not() {
        assert!(NativeConfig::DEFAULT.is_valid());
        for bad in [
            NativeConfig {
                schema: 9,
                ..NativeConfig::DEFAULT
            },
            NativeConfig {
                schema: -5,
                ..NativeConfig::DEFAULT
            },
            NativeConfig {
                zero_threshold: f64::NAN,
                ..NativeConfig::DEFAULT
            },
            NativeConfig {
                zero_threshold: -1.0,
                ..NativeConfig::DEFAULT
            },
        ] {
            assert!(!bad.is_valid(), "{bad:?}");
        }
    }
}
