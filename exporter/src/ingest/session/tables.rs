//! A connection's id tables: the small integer ids of its `Define`s and `Series`, their
//! definitions, the store's handle for each one the store admitted, and the bytes all of it
//! makes the exporter keep, within the client's budget (`--ingest.max-client-bytes`).
//!
//! Only what is kept costs: a refused definition leaves a marker of fixed size (so that its
//! series and updates are refused quietly) and nothing of its text.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::mem::size_of;
use std::sync::Arc;

use dawn_proto::{Define, MetricKind, SeriesDef};

/// What one id costs in the tables before its content: the map entry and the slot, and for
/// a held series its entry in the held series' map.
pub(crate) const SLOT_BYTES: usize = 64;

/// The types of the handles the store gives for what it admitted: the store's own ids in the
/// exporter, plain numbers in tests. The session keeps them beside the wire ids, so that an
/// update costs one lookup, and hands them back in events; it never looks inside.
pub(crate) trait Handles {
    /// A metric family the connection holds.
    type Family: Copy + fmt::Debug + PartialEq;
    /// A series the connection holds.
    type Series: Copy + fmt::Debug + PartialEq;
}

/// What became of a `Define`.
#[derive(Debug)]
pub(crate) enum MetricSlot<H: Handles> {
    /// Valid and kept: offered to the store, and `family` once the store admitted it
    /// (until then its series are refused quietly).
    Kept {
        def: Arc<Define>,
        family: Option<H::Family>,
    },
    /// Refused (invalid, reserved, conflicting, over a cap): nothing of it is kept, its
    /// series are refused quietly, and a new `Define` of the id replaces the marker.
    Refused,
}

/// What became of a `Series`.
#[derive(Debug)]
pub(crate) enum SeriesSlot {
    /// Valid and kept: offered to the store, and in [`Tables::held`] once the store
    /// admitted it (until then its updates are dropped and counted).
    Kept { def: SeriesDef },
    /// Refused (its metric refused, labels invalid, over a cap): nothing of it is kept, its
    /// updates are dropped and counted without an error frame, and a new `Series` of the
    /// id replaces the marker.
    Refused,
}

/// A series the store admitted: all an update needs, in a map of its own so that the
/// lookup of every update touches as little memory as it can.
#[derive(Debug)]
pub(crate) struct HeldSeries<H: Handles> {
    pub(crate) series: H::Series,
    /// Its metric's kind and, for a histogram, the bucket counts a value has (its bounds
    /// and `+Inf`), fixed once the series is admitted (a metric id is never redefined):
    /// kept here so that an update is checked without reaching through to its metric's
    /// definition, which only an invalid update needs ([`Tables::metric_of`]).
    pub(crate) kind: MetricKind,
    pub(crate) buckets: u8,
}

/// The bytes a kept `Define` costs beyond its slot: the struct and its text and bounds.
pub(crate) fn define_bytes(def: &Define) -> usize {
    let labels: usize = def
        .label_names
        .iter()
        .map(|l| l.len() + size_of::<String>())
        .sum();
    size_of::<Define>() + def.name.len() + def.help.len() + labels + def.buckets.len() * 8
}

/// The bytes a kept `Series` costs beyond its slot: the struct and its label values.
pub(crate) fn series_bytes(def: &SeriesDef) -> usize {
    let values: usize = def
        .label_values
        .iter()
        .map(|v| v.len() + size_of::<String>())
        .sum();
    size_of::<SeriesDef>() + values
}

/// A map keyed by connection-local ids.
pub(crate) type IdMap<V> = HashMap<u32, V, IdHash>;

/// Hashes connection-local ids with a keyed multiply-fold instead of SipHash: every update
/// of a batch costs a lookup, and SipHash was a sixth of the exporter's ingest CPU. The
/// random key (one per connection) keeps a client from choosing ids that collide on
/// purpose; a client that floods its own table only slows its own connection anyway.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHash {
    key: u64,
}

impl Default for IdHash {
    fn default() -> Self {
        IdHash {
            key: RandomState::new().hash_one(0x6461_776e_u64),
        }
    }
}

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(self.key)
    }
}

/// The hasher of [`IdHash`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        // The product's high bits are well mixed, its low bits are not: fold them down,
        // since the table indexes buckets by the low bits.
        self.0 ^ (self.0 >> 29)
    }
}

/// What a slot of either table costs beyond [`SLOT_BYTES`], and its refused marker.
trait Slot {
    /// The bytes of what is kept in it: 0 for a refused marker.
    fn content_bytes(&self) -> usize;
    fn is_refused(&self) -> bool;
    fn refused() -> Self;
}

impl<H: Handles> Slot for MetricSlot<H> {
    fn content_bytes(&self) -> usize {
        match self {
            MetricSlot::Kept { def, .. } => define_bytes(def),
            MetricSlot::Refused => 0,
        }
    }

    fn is_refused(&self) -> bool {
        matches!(self, MetricSlot::Refused)
    }

    fn refused() -> Self {
        MetricSlot::Refused
    }
}

impl Slot for SeriesSlot {
    fn content_bytes(&self) -> usize {
        match self {
            SeriesSlot::Kept { def, .. } => series_bytes(def),
            SeriesSlot::Refused => 0,
        }
    }

    fn is_refused(&self) -> bool {
        matches!(self, SeriesSlot::Refused)
    }

    fn refused() -> Self {
        SeriesSlot::Refused
    }
}

/// The bytes a connection's tables keep, within `--ingest.max-client-bytes`.
#[derive(Debug)]
struct Budget {
    bytes: usize,
    max: usize,
}

impl Budget {
    /// Takes `cost` more bytes, if they fit.
    fn charge(&mut self, cost: usize) -> bool {
        match self.bytes.checked_add(cost) {
            Some(total) if total <= self.max => {
                self.bytes = total;
                true
            }
            _ => false,
        }
    }

    fn release(&mut self, cost: usize) {
        self.bytes = self.bytes.saturating_sub(cost);
    }

    /// Puts `slot` at `id` (new, or replacing what was there), if the budget has room;
    /// whether it did.
    fn keep<S: Slot>(&mut self, map: &mut IdMap<S>, id: u32, slot: S) -> bool {
        let (old, entry) = match map.get(&id) {
            Some(old) => (old.content_bytes(), 0),
            None => (0, SLOT_BYTES),
        };
        self.release(old);
        if !self.charge(entry + slot.content_bytes()) {
            self.bytes += old;
            return false;
        }
        map.insert(id, slot);
        true
    }

    /// Leaves a refused marker at `id`, dropping what was kept there; a new id gets a
    /// marker only if the budget has room for one.
    fn refuse<S: Slot>(&mut self, map: &mut IdMap<S>, id: u32) {
        if !map.get(&id).is_some_and(S::is_refused) {
            self.keep(map, id, S::refused());
        }
    }

    /// Forgets `id` altogether, returning its slot.
    fn remove<S: Slot>(&mut self, map: &mut IdMap<S>, id: u32) -> Option<S> {
        let slot = map.remove(&id)?;
        self.release(SLOT_BYTES + slot.content_bytes());
        Some(slot)
    }
}

/// The series the store admitted, by wire id: the map every update looks up.
///
/// Clients number their series from the bottom up (`dawn-telemetry` counts from 0), so the
/// ids below a bound sit in a vector indexed by id: a batch's lookups then walk memory in
/// order, which the processor reads ahead, instead of one random place of a hash table per
/// update. Ids above it (a client numbering sparsely) go to a map. The vector grows only
/// while it stays below one and a half slots per held series (plus a few), so that what an
/// id cost when it was charged stays within [`SLOT_BYTES`]; it does not shrink.
#[derive(Debug)]
pub(crate) struct Held<H: Handles> {
    dense: Vec<Option<HeldSeries<H>>>,
    sparse: IdMap<HeldSeries<H>>,
    /// Entries in `dense`.
    in_dense: usize,
}

/// Slots the dense vector may have beyond one and a half per held series.
const DENSE_SLACK: usize = 64;

impl<H: Handles> Held<H> {
    fn new() -> Self {
        Held {
            dense: Vec::new(),
            sparse: IdMap::default(),
            in_dense: 0,
        }
    }

    /// Series `id`, if held.
    #[inline]
    pub(crate) fn get(&self, id: u32) -> Option<&HeldSeries<H>> {
        match self.dense.get(id as usize) {
            Some(slot) => slot.as_ref(),
            None => self.sparse.get(&id),
        }
    }

    fn len(&self) -> usize {
        self.in_dense + self.sparse.len()
    }

    fn insert(&mut self, id: u32, held: HeldSeries<H>) {
        let at = id as usize;
        let room = (self.len() + 1) * 3 / 2 + DENSE_SLACK;
        if at >= self.dense.len() && at < room {
            // Grown by half at least, so that the map below is walked a few times in all;
            // to exactly that (a vector's own growth would double it).
            let grown = (at + 1).max(self.dense.len() * 3 / 2).min(room);
            self.dense.reserve_exact(grown - self.dense.len());
            self.dense.resize_with(grown, || None);
            // Ids now below the vector's end leave the map for it.
            let end = self.dense.len();
            let moved: Vec<u32> = self
                .sparse
                .keys()
                .copied()
                .filter(|&k| (k as usize) < end)
                .collect();
            for k in moved {
                if let Some(h) = self.sparse.remove(&k) {
                    self.put_dense(k as usize, h);
                }
            }
        }
        if at < self.dense.len() {
            self.put_dense(at, held);
        } else {
            self.sparse.insert(id, held);
        }
    }

    fn put_dense(&mut self, at: usize, held: HeldSeries<H>) {
        if let Some(slot) = self.dense.get_mut(at)
            && slot.replace(held).is_none()
        {
            self.in_dense += 1;
        }
    }

    fn remove(&mut self, id: u32) -> Option<HeldSeries<H>> {
        match self.dense.get_mut(id as usize) {
            Some(slot) => {
                let held = slot.take();
                if held.is_some() {
                    self.in_dense -= 1;
                }
                held
            }
            None => self.sparse.remove(&id),
        }
    }

    /// Empties it, returning every held series.
    fn drain(&mut self) -> Vec<H::Series> {
        let dense = self.dense.drain(..).flatten();
        let held = dense.chain(self.sparse.drain().map(|(_, h)| h));
        let series = held.map(|h| h.series).collect();
        self.in_dense = 0;
        series
    }
}

/// What was at a series id the tables forgot.
#[derive(Debug, PartialEq)]
pub(crate) enum Forgotten<S> {
    /// A series the store held as `S`.
    Held(S),
    /// A series not (yet) admitted by the store, or a refused marker.
    NotHeld,
}

/// The id tables of one connection, and the bytes they keep.
#[derive(Debug)]
pub(crate) struct Tables<H: Handles> {
    pub(crate) metrics: IdMap<MetricSlot<H>>,
    pub(crate) series: IdMap<SeriesSlot>,
    /// The kept series the store admitted (a subset of `series`), which updates look up.
    pub(crate) held: Held<H>,
    /// [`SLOT_BYTES`] per id plus the content of kept definitions.
    budget: Budget,
}

impl<H: Handles> Tables<H> {
    /// Empty tables keeping at most `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Tables {
            metrics: IdMap::default(),
            series: IdMap::default(),
            held: Held::new(),
            budget: Budget {
                bytes: 0,
                max: max_bytes,
            },
        }
    }

    /// The budget (`--ingest.max-client-bytes`).
    pub(crate) fn max_bytes(&self) -> usize {
        self.budget.max
    }

    /// Bytes kept now.
    pub(crate) fn bytes(&self) -> usize {
        self.budget.bytes
    }

    /// Keeps `def` (new, or replacing a refused marker), waiting for the store's verdict;
    /// `false` when the budget has no room for it (nothing is kept then).
    pub(crate) fn keep_metric(&mut self, def: Arc<Define>) -> bool {
        let id = def.id;
        let slot = MetricSlot::Kept { def, family: None };
        self.budget.keep(&mut self.metrics, id, slot)
    }

    /// Leaves a refused marker for metric `id`, dropping what was kept of it.
    pub(crate) fn refuse_metric(&mut self, id: u32) {
        self.budget.refuse(&mut self.metrics, id);
    }

    /// Keeps `def` (new, or replacing a refused marker), waiting for the store's verdict;
    /// `false` when the budget has no room for it (nothing is kept then).
    pub(crate) fn keep_series(&mut self, def: SeriesDef) -> bool {
        let id = def.id;
        self.held.remove(id);
        let slot = SeriesSlot::Kept { def };
        self.budget.keep(&mut self.series, id, slot)
    }

    /// Leaves a refused marker for series `id`, dropping what was kept of it.
    pub(crate) fn refuse_series(&mut self, id: u32) {
        self.held.remove(id);
        self.budget.refuse(&mut self.series, id);
    }

    /// Forgets series `id` altogether (retired, or redefined as something not kept); what
    /// was there, if anything.
    pub(crate) fn remove_series(&mut self, id: u32) -> Option<Forgotten<H::Series>> {
        let held = self.held.remove(id);
        self.budget.remove(&mut self.series, id)?;
        Some(held.map_or(Forgotten::NotHeld, |h| Forgotten::Held(h.series)))
    }

    /// `metric{labels}` of wire series `id`, for messages.
    pub(crate) fn describe_series(&self, id: u32) -> String {
        let Some(SeriesSlot::Kept { def, .. }) = self.series.get(&id) else {
            return format!("series id {id}");
        };
        match self.metrics.get(&def.metric) {
            Some(MetricSlot::Kept { def: m, .. }) => {
                let pairs: Vec<String> = m
                    .label_names
                    .iter()
                    .zip(&def.label_values)
                    .map(|(n, v)| format!("{n}={v:?}"))
                    .collect();
                format!("{}{{{}}}", m.name, pairs.join(","))
            }
            _ => format!("series id {id}"),
        }
    }

    /// Marks metric `id` as held in `family`.
    pub(crate) fn hold_metric(&mut self, id: u32, held: H::Family) {
        if let Some(MetricSlot::Kept { family, .. }) = self.metrics.get_mut(&id) {
            *family = Some(held);
        }
    }

    /// Marks series `id` as held in `series`, if its metric is held.
    pub(crate) fn hold_series(&mut self, id: u32, series: H::Series) {
        let Some(SeriesSlot::Kept { def }) = self.series.get(&id) else {
            return;
        };
        if let Some(MetricSlot::Kept {
            def: metric,
            family: Some(_),
        }) = self.metrics.get(&def.metric)
        {
            // A valid histogram has at most MAX_BUCKETS (64) bounds; were it more, no value
            // would pass the quick check, and the full check on the definition decides.
            let buckets = u8::try_from(metric.buckets.len() + 1).unwrap_or(u8::MAX);
            let kind = metric.kind;
            self.held.insert(
                id,
                HeldSeries {
                    series,
                    kind,
                    buckets,
                },
            );
        }
    }

    /// The definition of the metric of kept series `id`.
    pub(crate) fn metric_of(&self, id: u32) -> Option<&Define> {
        let Some(SeriesSlot::Kept { def }) = self.series.get(&id) else {
            return None;
        };
        match self.metrics.get(&def.metric) {
            Some(MetricSlot::Kept { def: metric, .. }) => Some(metric),
            Some(MetricSlot::Refused) | None => None,
        }
    }

    /// Empties the tables, returning every hold to give back to the store.
    pub(crate) fn take_holds(&mut self) -> (Vec<H::Family>, Vec<H::Series>) {
        let series = self.held.drain();
        self.series.clear();
        let families = self.metrics.drain().filter_map(|(_, m)| match m {
            MetricSlot::Kept { family, .. } => family,
            MetricSlot::Refused => None,
        });
        let families = families.collect();
        self.budget.bytes = 0;
        (families, series)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use dawn_proto::MetricKind;

    use super::{Held, HeldSeries, IdHash, SLOT_BYTES, SeriesSlot};

    /// Handles the size of the store's.
    #[derive(Debug)]
    enum StoreSized {}

    impl super::Handles for StoreSized {
        type Family = u32;
        type Series = [u32; 2];
    }

    #[test]
    fn a_held_series_costs_what_the_budget_charges_for_its_id() {
        let series = size_of::<(u32, SeriesSlot)>();
        // In the map, or one and a half slots of the vector.
        let in_map = size_of::<(u32, HeldSeries<StoreSized>)>();
        let in_vector = size_of::<Option<HeldSeries<StoreSized>>>() * 3 / 2;
        let held = in_map.max(in_vector);
        assert!(series + held <= SLOT_BYTES, "{series} + {held}");
        // The store's handle, the kind and the bucket count: 12 bytes a slot of the vector
        // (it was 16 with the metric's definition).
        assert_eq!(size_of::<Option<HeldSeries<StoreSized>>>(), 12);
    }

    fn held(series: u32) -> HeldSeries<StoreSized> {
        HeldSeries {
            series: [series, 0],
            kind: MetricKind::Gauge,
            buckets: 0,
        }
    }

    fn series_of(h: &Held<StoreSized>, id: u32) -> Option<u32> {
        h.get(id).map(|s| s.series[0])
    }

    #[test]
    fn held_series_are_found_by_id_wherever_they_sit() {
        let mut h = Held::new();
        // Sparse ids first, then bottom-up ones that pull them into the vector.
        for id in [5_000, 90, 1] {
            h.insert(id, held(id));
        }
        assert_eq!(h.dense.len(), 2, "only 1 is within room of the count");
        assert_eq!(h.sparse.len(), 2);
        for id in 0..200 {
            h.insert(id, held(id + 1000));
        }
        assert_eq!(h.len(), 201);
        assert!(h.dense.len() >= 200, "{}", h.dense.len());
        assert_eq!(h.sparse.len(), 1, "90 moved to the vector");
        assert_eq!(series_of(&h, 90), Some(1090), "replaced");
        assert_eq!(series_of(&h, 5_000), Some(5_000));
        assert_eq!(series_of(&h, 200), None);
        assert_eq!(h.remove(3).map(|s| s.series[0]), Some(1003));
        assert!(h.remove(3).is_none());
        assert_eq!(h.remove(5_000).map(|s| s.series[0]), Some(5_000));
        assert_eq!(h.len(), 199);
        assert!(h.dense.len() <= h.len() * 3 / 2 + super::DENSE_SLACK);
        // A client numbering from the top stays in the map.
        for id in (u32::MAX - 10)..u32::MAX {
            h.insert(id, held(id));
        }
        assert_eq!(series_of(&h, u32::MAX - 1), Some(u32::MAX - 1));
        assert!(h.dense.len() < 400);
        let drained = h.drain();
        assert_eq!(drained.len(), 209);
        assert_eq!(h.len(), 0);
        assert_eq!(series_of(&h, 7), None);
    }

    #[test]
    fn the_vector_holds_at_most_one_and_a_half_slots_per_held_series() {
        let mut h = Held::new();
        for id in 0..100_000 {
            h.insert(id, held(id));
            // What the vector holds, not only what it uses: that is what an id costs.
            let bound = (h.len() + 1) * 3 / 2 + super::DENSE_SLACK;
            assert!(
                h.dense.capacity() <= bound,
                "{} ids: {}",
                h.len(),
                h.dense.capacity()
            );
        }
    }

    #[test]
    fn id_hashes_spread_over_low_and_high_bits() {
        let h = IdHash::default();
        let mut low = std::collections::HashSet::new();
        let mut tags = std::collections::HashSet::new();
        for i in 0u32..4096 {
            // Ids differing only in high bits must still reach different buckets (indexed
            // by the low bits; a random function fills about 63% of them).
            low.insert(h.hash_one(i << 16) & 0xfff);
            tags.insert(h.hash_one(i) >> 57);
        }
        assert!(low.len() > 2000, "{}", low.len());
        assert_eq!(tags.len(), 128);
        assert_ne!(IdHash::default().hash_one(1u32), h.hash_one(1u32));
    }
}
