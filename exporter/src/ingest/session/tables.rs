//! A connection's id tables: the small integer ids of its `Define`s and `Series`, their
//! definitions, and the store's handle for each one the store admitted.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use dawn_proto::{Define, SeriesDef};

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
pub(crate) struct MetricSlot<H: Handles> {
    pub(crate) def: Arc<Define>,
    /// The family the connection holds; `None` while refused (invalid, reserved,
    /// conflicting, or not yet admitted by the store), and then its series are refused
    /// quietly.
    pub(crate) family: Option<H::Family>,
}

/// What became of a `Series`.
#[derive(Debug)]
pub(crate) struct SeriesSlot<H: Handles> {
    pub(crate) def: SeriesDef,
    /// `None` while refused (its metric was refused, labels invalid, over a cap, or not
    /// yet admitted by the store): updates are dropped and counted without an error frame.
    pub(crate) held: Option<HeldSeries<H>>,
}

/// A series the store admitted.
#[derive(Debug)]
pub(crate) struct HeldSeries<H: Handles> {
    pub(crate) series: H::Series,
    /// Its metric's definition (fixed once the series is admitted: a metric id is never
    /// redefined), kept here so that an update is validated without a second lookup.
    pub(crate) metric: Arc<Define>,
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

/// The id tables of one connection.
#[derive(Debug)]
pub(crate) struct Tables<H: Handles> {
    pub(crate) metrics: IdMap<MetricSlot<H>>,
    pub(crate) series: IdMap<SeriesSlot<H>>,
}

impl<H: Handles> Default for Tables<H> {
    fn default() -> Self {
        Tables {
            metrics: IdMap::default(),
            series: IdMap::default(),
        }
    }
}

impl<H: Handles> Tables<H> {
    /// `metric{labels}` of wire series `id`, for messages.
    pub(crate) fn describe_series(&self, id: u32) -> String {
        let Some(slot) = self.series.get(&id) else {
            return format!("series id {id}");
        };
        match self.metrics.get(&slot.def.metric) {
            Some(m) => {
                let pairs: Vec<String> = m
                    .def
                    .label_names
                    .iter()
                    .zip(&slot.def.label_values)
                    .map(|(n, v)| format!("{n}={v:?}"))
                    .collect();
                format!("{}{{{}}}", m.def.name, pairs.join(","))
            }
            None => format!("series id {id}"),
        }
    }

    /// Marks metric `id` as held in `family`.
    pub(crate) fn hold_metric(&mut self, id: u32, family: H::Family) {
        if let Some(slot) = self.metrics.get_mut(&id) {
            slot.family = Some(family);
        }
    }

    /// Marks series `id` as held in `series`, if its metric is held.
    pub(crate) fn hold_series(&mut self, id: u32, series: H::Series) {
        let Some(slot) = self.series.get_mut(&id) else {
            return;
        };
        let metric = self.metrics.get(&slot.def.metric);
        if let Some(MetricSlot {
            def,
            family: Some(_),
        }) = metric
        {
            slot.held = Some(HeldSeries {
                series,
                metric: Arc::clone(def),
            });
        }
    }

    /// Empties the tables, returning every hold to give back to the store.
    pub(crate) fn take_holds(&mut self) -> (Vec<H::Family>, Vec<H::Series>) {
        let series = self
            .series
            .drain()
            .filter_map(|(_, s)| s.held)
            .map(|h| h.series);
        let series = series.collect();
        let families = self.metrics.drain().filter_map(|(_, m)| m.family).collect();
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
