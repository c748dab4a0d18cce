//! A connection's id tables: the small integer ids of its `Define`s and `Series` and what
//! the store made of them.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use dawn_proto::{Define, SeriesDef};

use crate::store::{FamilyId, SeriesId, Store};

/// What became of a `Define`.
#[derive(Debug)]
pub(crate) enum MetricSlot {
    /// Admitted; the connection holds the family.
    Held { def: Arc<Define>, family: FamilyId },
    /// Refused (invalid, reserved or conflicting); its series are refused quietly.
    Refused { def: Arc<Define> },
}

impl MetricSlot {
    pub(crate) fn def(&self) -> &Define {
        match self {
            MetricSlot::Held { def, .. } | MetricSlot::Refused { def } => def,
        }
    }
}

/// What became of a `Series`.
#[derive(Debug)]
pub(crate) enum SeriesSlot {
    /// Admitted; the connection holds the series. `metric` is its metric's definition
    /// (fixed once the series is admitted: a metric id is never redefined), kept here so
    /// that an update is validated without a second lookup.
    Held {
        def: SeriesDef,
        series: SeriesId,
        metric: Arc<Define>,
    },
    /// Refused (its metric was refused, labels invalid, or over a cap); updates are
    /// dropped and counted without an error frame.
    Refused { def: SeriesDef },
}

impl SeriesSlot {
    pub(crate) fn def(&self) -> &SeriesDef {
        match self {
            SeriesSlot::Held { def, .. } | SeriesSlot::Refused { def } => def,
        }
    }
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
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) metrics: IdMap<MetricSlot>,
    pub(crate) series: IdMap<SeriesSlot>,
}

impl Tables {
    /// `metric{labels}` of wire series `id`, for messages.
    pub(crate) fn describe_series(&self, id: u32) -> String {
        let Some(slot) = self.series.get(&id) else {
            return format!("series id {id}");
        };
        let def = slot.def();
        match self.metrics.get(&def.metric) {
            Some(m) => {
                let pairs: Vec<String> = m
                    .def()
                    .label_names
                    .iter()
                    .zip(&def.label_values)
                    .map(|(n, v)| format!("{n}={v:?}"))
                    .collect();
                format!("{}{{{}}}", m.def().name, pairs.join(","))
            }
            None => format!("series id {id}"),
        }
    }

    /// Gives every hold back to the store.
    pub(crate) fn release(&mut self, store: &Store) {
        for (_, slot) in self.series.drain() {
            if let SeriesSlot::Held { series, .. } = slot {
                store.release_series(series);
            }
        }
        for (_, slot) in self.metrics.drain() {
            if let MetricSlot::Held { family, .. } = slot {
                store.release_family(family);
            }
        }
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
