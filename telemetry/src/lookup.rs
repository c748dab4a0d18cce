//! A per-thread cache of recent label lookups, so that a repeated `with_labels` takes no lock.
//!
//! A family's table sits behind a read-write lock; taking and releasing even its read side
//! costs two locked instructions, as much as the rest of a lookup. Each thread therefore
//! keeps, per cell kind, a small cache of the series its recent lookups found:
//! `(family, label values) → Weak<Series>`, [`SETS`] sets of [`WAYS`] entries.
//!
//! A lookup first reads the values into a [`Probe`]: each value of up to 16 bytes as two
//! words that, with its length, are exactly its bytes ([`short_words`]), and a key folded
//! from them (one multiply per value, fixed constants, no secret) that picks the set. An
//! entry keeps the probe it was stored with. When the label set is short (at most
//! [`EXACT_VALUES`] values of at most 16 bytes each: every label set of the node's
//! catalogue, whose values are enum names), a hit is the family, the lengths and the words
//! equal, then the upgrade of the weak reference (one compare-and-swap: the returned handle's
//! own reference count); the series' own label values are not read and no `memcmp` is
//! called. Longer label sets are checked against the series' values after the upgrade
//! ([`Series::matches`]), as the table does. Either way a key collision never returns the
//! wrong series: it only goes on to the set's next entry, and then to the family's table.
//! The table's own hash is keyed and computed only on a miss; the cache key needs no secret
//! because all it decides is where an entry goes (label sets made to collide in it cost a
//! table lookup each, as without a cache).
//!
//! The sets are 4-way so that a few label sets used in turn do not evict one another when
//! their keys meet in one set: with direct mapping and a random key, two of the 4 label sets
//! of the labelled-lookup benchmark shared an entry in about one process in three, and every
//! second lookup of that process took the table (`docs/benchmarks.md`). The key being fixed,
//! a given label set goes to the same set in every process. A set evicts its oldest entry
//! first; a hit moves nothing.
//!
//! The references are weak so that a cache never keeps a series from retiring: retirement
//! takes the table's last strong reference with `Arc::try_unwrap`, after which no upgrade can
//! succeed, and a thread that still caches the series falls back to the table (which no
//! longer has it) and creates a fresh one. An upgrade that wins the race makes `try_unwrap`
//! fail, and the series stays. Only labelled series are cached: the overflow and detached
//! series depend on the state of the table, not only on the label values.
//!
//! A cache holding strong references, with a retirement epoch checked on every hit, would
//! still take the returned handle's reference count (the handle owns one) and would have to
//! order its check against retirement's last read with a fence: no fewer locked instructions
//! than the upgrade, so the references stay weak.
//!
//! A stale entry keeps at most the retired series' allocation (a few hundred bytes) until it
//! is overwritten or its thread exits: [`SETS`] × [`WAYS`] = 32 entries of 80 bytes per thread
//! and cell kind.

use std::sync::{Arc, Weak};

use super::labelhash::{fold, read8, short_words};
use super::series::Series;

/// Sets of a cache (a power of two).
const SETS: usize = 8;
/// Entries of a set.
const WAYS: usize = 4;

/// Most label values a probe holds exactly.
const EXACT_VALUES: usize = 3;
/// Longest label value a probe holds exactly.
const EXACT_LEN: usize = 16;

/// [`Probe::shape`] of a label set not held exactly.
const INEXACT: u64 = u64::MAX;

/// No family has this id: the mark of an empty entry.
const EMPTY: u64 = u64::MAX;

/// Fixed odd constants of the cache key (the digits of pi).
const KEY_CONSTANTS: [u64; 3] = [
    0x243f_6a88_85a3_08d3,
    0x1319_8a2e_0370_7345,
    0xa409_3822_299f_31d1,
];

/// A label set as a thread's cache sees it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probe {
    /// Picks the set; compared first.
    key: u64,
    /// The number of values in the low byte and each value's length in the next bytes, or
    /// [`INEXACT`] when there are more than [`EXACT_VALUES`] values or one is longer than
    /// [`EXACT_LEN`].
    shape: u64,
    /// Each value's [`short_words`], zero beyond the values; with `shape`, the label set
    /// itself when it is exact.
    words: [u64; 2 * EXACT_VALUES],
}

impl Probe {
    /// Reads `family`'s label set `values`.
    #[inline(always)]
    pub(crate) fn new(family: u64, values: &[&str]) -> Probe {
        let [k0, k1, k2] = KEY_CONSTANTS;
        let mut key = fold(family ^ k0, values.len() as u64 ^ k1);
        let mut shape = if values.len() <= EXACT_VALUES {
            values.len() as u64
        } else {
            INEXACT
        };
        let mut words = [0; 2 * EXACT_VALUES];
        for (i, value) in values.iter().enumerate() {
            let bytes = value.as_bytes();
            let len = bytes.len();
            let (lo, hi) = if len <= EXACT_LEN {
                short_words(bytes)
            } else {
                shape = INEXACT;
                long_words(bytes, &mut key)
            };
            if i < EXACT_VALUES {
                words[2 * i] = lo;
                words[2 * i + 1] = hi;
                shape |= (len as u64 & 0xff) << (8 * (i + 1));
            }
            // The length in the top byte keeps `["ab", ""]` apart from `["a", "b"]`.
            key = fold(lo ^ key, hi ^ k2 ^ (len as u64).rotate_right(8));
        }
        Probe { key, shape, words }
    }

    /// Whether `self`, an exact probe, holds the same label set as `other`.
    #[inline]
    fn same_set(&self, other: &Probe) -> bool {
        let differ = self
            .words
            .iter()
            .zip(&other.words)
            .fold(self.shape ^ other.shape, |acc, (a, b)| acc | (a ^ b));
        differ == 0
    }

    /// The set the probe's entries go to.
    #[inline]
    fn set(&self) -> usize {
        // The fold's high half mixes every input bit.
        (self.key >> 32) as usize % SETS
    }
}

/// A value longer than [`EXACT_LEN`]: every 16 bytes but the last folded into `key`, the last
/// 16 returned as words.
#[cold]
fn long_words(bytes: &[u8], key: &mut u64) -> (u64, u64) {
    let [_, k1, k2] = KEY_CONSTANTS;
    let len = bytes.len();
    let mut at = 0;
    while len - at > 16 {
        *key = fold(read8(bytes, at) ^ k1, read8(bytes, at + 8) ^ k2 ^ *key);
        at += 16;
    }
    (read8(bytes, len - 16), read8(bytes, len - 8))
}

struct Entry<C> {
    family: u64,
    probe: Probe,
    series: Weak<Series<C>>,
}

impl<C> Entry<C> {
    const EMPTY: Self = Entry {
        family: EMPTY,
        probe: Probe {
            key: 0,
            shape: INEXACT,
            words: [0; 2 * EXACT_VALUES],
        },
        series: Weak::new(),
    };
}

/// One thread's cache for one cell kind.
pub(crate) struct LookupCache<C> {
    sets: [[Entry<C>; WAYS]; SETS],
}

impl<C> LookupCache<C> {
    /// An empty cache (`const`, so that the thread-local needs no lazy initialisation).
    pub(crate) const EMPTY: Self = LookupCache {
        sets: [const { [const { Entry::EMPTY }; WAYS] }; SETS],
    };
}

impl<C> LookupCache<C> {
    /// The cached series of `family` for `values` (read as `probe`), if it is still alive; a
    /// strong reference, the caller's handle.
    #[inline(always)]
    pub(crate) fn get(
        &self,
        family: u64,
        probe: &Probe,
        values: &[&str],
    ) -> Option<Arc<Series<C>>> {
        let exact = probe.shape != INEXACT;
        for entry in &self.sets[probe.set()] {
            if entry.probe.key != probe.key || entry.family != family {
                continue;
            }
            if exact {
                // Same family, lengths and words: the same label values, no need to read
                // the series'. A dead entry: look on (a fresher one may follow).
                if entry.probe.same_set(probe)
                    && let Some(series) = entry.series.upgrade()
                {
                    return Some(series);
                }
            } else if let Some(series) = entry.series.upgrade()
                && series.matches(values)
            {
                return Some(series);
            }
        }
        None
    }

    /// Remembers `series`, found in `family` for the label set read as `probe`, as the set's
    /// newest entry. It takes the place of an entry whose series is gone (a retired series'
    /// entry for the same values first), else of the set's oldest entry.
    pub(crate) fn put(&mut self, family: u64, probe: &Probe, series: &Arc<Series<C>>) {
        let set = &mut self.sets[probe.set()];
        let dead = |e: &Entry<C>| e.series.strong_count() == 0;
        let at = set
            .iter()
            .position(|e| e.family == family && e.probe == *probe && dead(e))
            .or_else(|| set.iter().position(dead))
            .unwrap_or(WAYS - 1);
        // Newest first: the entries before the one given up move one way down.
        set[..=at].rotate_right(1);
        set[0] = Entry {
            family,
            probe: *probe,
            series: Arc::downgrade(series),
        };
    }
}

/// Implements [`super::cell::Cell::with_lookup_cache`] with a thread-local of the cell's own
/// type (a `thread_local!` cannot be generic).
macro_rules! lookup_cache {
    ($cell:ty) => {
        #[inline(always)]
        fn with_lookup_cache<R>(
            f: impl FnOnce(&mut $crate::lookup::LookupCache<$cell>) -> R,
        ) -> Option<R> {
            thread_local! {
                static CACHE: std::cell::RefCell<$crate::lookup::LookupCache<$cell>> =
                    const { std::cell::RefCell::new($crate::lookup::LookupCache::EMPTY) };
            }
            // `None` while the thread's thread-locals are being destroyed: look up in the
            // table instead.
            CACHE
                .try_with(|cache| cache.try_borrow_mut().ok().map(|mut cache| f(&mut cache)))
                .ok()
                .flatten()
        }
    };
}
pub(crate) use lookup_cache;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CounterCell;
    use crate::series::SeriesRole;
    use std::sync::atomic::AtomicU64;

    fn series(labels: &[&str]) -> Arc<Series<CounterCell>> {
        Arc::new(Series::new(
            0,
            0,
            labels.iter().map(|v| Box::<str>::from(*v)).collect(),
            SeriesRole::Labelled,
            CounterCell::default(),
            Arc::new(AtomicU64::new(0)),
        ))
    }

    /// `values` read for family 7, its key forced to `key` (and so its set).
    fn probe(key: u64, values: &[&str]) -> Probe {
        Probe {
            key,
            ..Probe::new(7, values)
        }
    }

    #[test]
    fn exact_probes_hold_the_values_themselves() {
        let exact = |values: &[&str]| Probe::new(7, values).shape != INEXACT;
        assert!(exact(&[]));
        assert!(exact(&["request", "success"]));
        assert!(exact(&["0123456789abcdef", "", "x"]));
        assert!(!exact(&["0123456789abcdefg"]));
        assert!(!exact(&["a", "b", "c", "d"]));
        // Equal exactly when the label sets are: every length, byte position and split.
        let sets: &[&[&str]] = &[
            &[],
            &[""],
            &["", ""],
            &["ab", ""],
            &["a", "b"],
            &["", "ab"],
            &["ab"],
            &["ba"],
            &["abc"],
            &["abd"],
            &["xbc"],
            &["axc"],
            &["abcdefg"],
            &["abcdefh"],
            &["abcxefg"],
            &["0123456789abcdef"],
            &["0123456789abcdeX"],
            &["0123456X89abcdef"],
            &["0123456789abcde"],
        ];
        for (i, a) in sets.iter().enumerate() {
            for (j, b) in sets.iter().enumerate() {
                assert_eq!(probe(1, a).same_set(&probe(1, b)), i == j, "{a:?} {b:?}");
            }
        }
    }

    #[test]
    fn a_key_collision_returns_the_series_of_the_values_asked() {
        // Label sets forced under one key (and so one set), exact and not: each is found by
        // its own values, and another set under that key finds none of them.
        let long = |c: char| format!("{c}{}", "-".repeat(30));
        let (la, lb, lc) = (long('a'), long('b'), long('c'));
        let sets: [&[&str]; 4] = [&["a", "x"], &["b", "y"], &[&la, "x"], &[&lb, "x"]];
        let mut cache = LookupCache::<CounterCell>::EMPTY;
        let key = 0x1234_5678_9abc_def0;
        let all: Vec<_> = sets
            .iter()
            .map(|values| {
                let s = series(values);
                cache.put(7, &probe(key, values), &s);
                s
            })
            .collect();
        for (values, s) in sets.iter().zip(&all) {
            let found = cache.get(7, &probe(key, values), values).expect("cached");
            assert!(Arc::ptr_eq(&found, s), "{values:?}");
        }
        for other in [&["c", "z"][..], &[&lc, "x"], &["a"], &["a", "x", ""]] {
            assert!(cache.get(7, &probe(key, other), other).is_none());
        }
        // Another family with the same key and values is another metric.
        assert!(
            cache
                .get(8, &probe(key, &["a", "x"]), &["a", "x"])
                .is_none()
        );
    }

    #[test]
    fn a_set_keeps_its_ways_and_reuses_dead_entries_first() {
        let mut cache = LookupCache::<CounterCell>::EMPTY;
        let key = |i: u64| i << 35; // every key in set 0
        let name = |i: u64| i.to_string();
        let mut all: Vec<_> = (0..WAYS as u64)
            .map(|i| {
                let s = series(&[&name(i)]);
                cache.put(1, &probe(key(i), &[&name(i)]), &s);
                s
            })
            .collect();
        let get = |cache: &LookupCache<CounterCell>, i: u64| {
            cache.get(1, &probe(key(i), &[&name(i)]), &[&name(i)])
        };
        for (i, s) in all.iter().enumerate() {
            let found = get(&cache, i as u64).expect("cached");
            assert!(Arc::ptr_eq(&found, s), "way {i}");
        }
        // A dead entry is replaced before any live one is evicted.
        drop(all.remove(1));
        let newcomer = series(&["99"]);
        cache.put(1, &probe(key(99), &["99"]), &newcomer);
        for i in [0, 2, 3, 99] {
            assert!(get(&cache, i).is_some(), "{i}");
        }
        // With every entry alive the oldest goes.
        let last = series(&["100"]);
        cache.put(1, &probe(key(100), &["100"]), &last);
        assert!(get(&cache, 0).is_none());
        for i in [2, 3, 99, 100] {
            assert!(get(&cache, i).is_some(), "{i}");
        }
    }

    #[test]
    fn a_dropped_series_is_not_returned() {
        let mut cache = LookupCache::<CounterCell>::EMPTY;
        for values in [&["gone"][..], &[&"long".repeat(10)]] {
            let s = series(values);
            let p = Probe::new(3, values);
            cache.put(3, &p, &s);
            assert!(cache.get(3, &p, values).is_some());
            drop(s);
            assert!(cache.get(3, &p, values).is_none());
        }
    }
}
