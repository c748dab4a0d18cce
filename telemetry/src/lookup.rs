//! A per-thread cache of recent label lookups, so that a repeated `with_labels` takes no lock.
//!
//! A family's table sits behind a read-write lock; taking and releasing even its read side
//! costs two locked instructions, as much as the rest of a lookup. Each thread therefore
//! keeps, per cell kind, a small direct-mapped cache of the series its recent lookups found:
//! `(family, label hash) → Weak<Series>`. A hit upgrades the weak reference (one
//! compare-and-swap, the handle's own reference count) and checks the label values, as the
//! table lookup does: a collision never returns the wrong series.
//!
//! The references are weak so that a cache never keeps a series from retiring: retirement
//! takes the table's last strong reference with `Arc::try_unwrap`, after which no upgrade can
//! succeed, and a thread that still caches the series falls back to the table (which no
//! longer has it) and creates a fresh one. An upgrade that wins the race makes `try_unwrap`
//! fail, and the series stays. Only labelled series are cached: the overflow and detached
//! series depend on the state of the table, not only on the label values.
//!
//! A stale entry keeps at most the retired series' allocation (a few hundred bytes) until it
//! is overwritten or its thread exits: [`ENTRIES`] per thread and cell kind at most.

use std::sync::{Arc, Weak};

use super::series::Series;

/// Entries per thread and cell kind (a power of two).
pub(crate) const ENTRIES: usize = 16;

struct Entry<C> {
    family: u64,
    hash: u64,
    series: Weak<Series<C>>,
}

/// One thread's cache for one cell kind.
pub(crate) struct LookupCache<C> {
    entries: [Option<Entry<C>>; ENTRIES],
}

impl<C> Default for LookupCache<C> {
    fn default() -> Self {
        LookupCache {
            entries: std::array::from_fn(|_| None),
        }
    }
}

#[inline]
fn index(family: u64, hash: u64) -> usize {
    // The hash is keyed and well mixed; the family id separates families whose hashes meet.
    (hash ^ family.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as usize % ENTRIES
}

impl<C> LookupCache<C> {
    /// The cached series of `family` for `values` (whose hash is `hash`), if it is still
    /// alive; a strong reference, the caller's handle.
    #[inline]
    pub(crate) fn get(&self, family: u64, hash: u64, values: &[&str]) -> Option<Arc<Series<C>>> {
        let entry = self.entries[index(family, hash)].as_ref()?;
        if entry.family != family || entry.hash != hash {
            return None;
        }
        let series = entry.series.upgrade()?;
        series.matches(values).then_some(series)
    }

    /// Remembers `series`, found in `family` for a label set whose hash is `hash`.
    pub(crate) fn put(&mut self, family: u64, hash: u64, series: &Arc<Series<C>>) {
        self.entries[index(family, hash)] = Some(Entry {
            family,
            hash,
            series: Arc::downgrade(series),
        });
    }
}

/// Implements [`super::cell::Cell::with_lookup_cache`] with a thread-local of the cell's own
/// type (a `thread_local!` cannot be generic).
macro_rules! lookup_cache {
    ($cell:ty) => {
        fn with_lookup_cache<R>(
            f: impl FnOnce(&mut $crate::lookup::LookupCache<$cell>) -> R,
        ) -> Option<R> {
            thread_local! {
                static CACHE: std::cell::RefCell<$crate::lookup::LookupCache<$cell>> =
                    std::cell::RefCell::new(Default::default());
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
