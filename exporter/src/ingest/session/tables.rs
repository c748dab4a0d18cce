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

use dawn_proto::{Define, SeriesDef};

/// What one id costs in the tables before its content: the map entry and the slot.
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
pub(crate) enum SeriesSlot<H: Handles> {
    /// Valid and kept: offered to the store, and `held` once the store admitted it (until
    /// then its updates are dropped and counted).
    Kept {
        def: SeriesDef,
        held: Option<HeldSeries<H>>,
    },
    /// Refused (its metric refused, labels invalid, over a cap): nothing of it is kept, its
    /// updates are dropped and counted without an error frame, and a new `Series` of the
    /// id replaces the marker.
    Refused,
}

/// A series the store admitted.
#[derive(Debug)]
pub(crate) struct HeldSeries<H: Handles> {
    pub(crate) series: H::Series,
    /// Its metric's definition (fixed once the series is admitted: a metric id is never
    /// redefined), kept here so that an update is validated without a second lookup.
    pub(crate) metric: Arc<Define>,
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

impl<H: Handles> Slot for SeriesSlot<H> {
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

/// The id tables of one connection, and the bytes they keep.
#[derive(Debug)]
pub(crate) struct Tables<H: Handles> {
    pub(crate) metrics: IdMap<MetricSlot<H>>,
    pub(crate) series: IdMap<SeriesSlot<H>>,
    /// [`SLOT_BYTES`] per id plus the content of kept definitions.
    budget: Budget,
}

impl<H: Handles> Tables<H> {
    /// Empty tables keeping at most `max_bytes`.
    pub(crate) fn new(max_bytes: usize) -> Self {
        Tables {
            metrics: IdMap::default(),
            series: IdMap::default(),
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
        let slot = SeriesSlot::Kept { def, held: None };
        self.budget.keep(&mut self.series, id, slot)
    }

    /// Leaves a refused marker for series `id`, dropping what was kept of it.
    pub(crate) fn refuse_series(&mut self, id: u32) {
        self.budget.refuse(&mut self.series, id);
    }

    /// Forgets series `id` altogether (retired, or redefined as something not kept).
    pub(crate) fn remove_series(&mut self, id: u32) -> Option<SeriesSlot<H>> {
        self.budget.remove(&mut self.series, id)
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
        let Some(SeriesSlot::Kept { def, held }) = self.series.get_mut(&id) else {
            return;
        };
        if let Some(MetricSlot::Kept {
            def: metric,
            family: Some(_),
        }) = self.metrics.get(&def.metric)
        {
            *held = Some(HeldSeries {
                series,
                metric: Arc::clone(metric),
            });
        }
    }

    /// Empties the tables, returning every hold to give back to the store.
    pub(crate) fn take_holds(&mut self) -> (Vec<H::Family>, Vec<H::Series>) {
        let series = self.series.drain().filter_map(|(_, s)| match s {
            SeriesSlot::Kept { held: Some(h), .. } => Some(h.series),
            SeriesSlot::Kept { held: None, .. } | SeriesSlot::Refused => None,
        });
        let series = series.collect();
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

    use super::IdHash;

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
