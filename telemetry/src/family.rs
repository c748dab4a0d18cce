//! A metric family's series: label lookup, the per-metric series cap with its overflow series,
//! and removal of expired series.
//!
//! Lookups hash the label values (`&[&str]`, no allocation; [`LabelHasher`]) and compare the
//! few series under that hash with the slice; only a miss takes the write lock and allocates
//! the new series.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use crate::spec::{MetricSpec, OVERFLOW_LABEL_VALUE};
use dawn_proto::MAX_LABEL_VALUE_LEN;

use super::cell::{Cell, Reading};
use super::labelhash::LabelHasher;
use super::lookup::Probe;
use super::series::{Series, SeriesRole, ShipSeries};

/// What a family needs from its registry.
#[derive(Debug, Clone)]
pub(crate) struct FamilyContext {
    /// Most labelled series kept per metric before folding into the overflow series.
    pub(crate) max_series: usize,
    /// Registry-wide count of records not kept on their own series.
    pub(crate) dropped: Arc<AtomicU64>,
    /// Registry-wide series uid allocator.
    pub(crate) uids: Arc<AtomicU64>,
}

/// A hasher for keys that already are hashes.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used; fold anything else so the hasher stays correct.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[derive(Debug)]
struct SeriesMap<C> {
    /// Label-set hash → the series with that hash (almost always one).
    by_hash: HashMap<u64, Vec<Arc<Series<C>>>, BuildHasherDefault<PassThrough>>,
    /// Number of `Labelled` series, compared with the cap.
    labelled: usize,
    overflow: Option<Arc<Series<C>>>,
}

impl<C> SeriesMap<C> {
    #[inline]
    fn find(&self, hash: u64, values: &[&str]) -> Option<&Arc<Series<C>>> {
        self.by_hash.get(&hash)?.iter().find(|s| s.matches(values))
    }
}

/// The series of one metric.
#[derive(Debug)]
pub(crate) struct FamilyCore<C> {
    /// Unique in the process, for the per-thread lookup caches ([`super::lookup`]).
    id: u64,
    spec: MetricSpec,
    ctx: FamilyContext,
    hasher: LabelHasher,
    /// The series of an unlabelled metric, resolved without any lock.
    fixed: Option<Arc<Series<C>>>,
    map: RwLock<SeriesMap<C>>,
}

impl<C: Cell> FamilyCore<C> {
    pub(crate) fn new(spec: MetricSpec, ctx: FamilyContext) -> Self {
        let fixed = spec.labels.is_empty().then(|| {
            Arc::new(Series::new(
                ctx.uids.fetch_add(1, Relaxed),
                0,
                Box::default(),
                SeriesRole::Fixed,
                C::new(&spec),
                ctx.dropped.clone(),
            ))
        });
        static IDS: AtomicU64 = AtomicU64::new(0);
        FamilyCore {
            id: IDS.fetch_add(1, Relaxed),
            spec,
            ctx,
            hasher: LabelHasher::random(),
            fixed,
            map: RwLock::new(SeriesMap {
                by_hash: HashMap::default(),
                labelled: 0,
                overflow: None,
            }),
        }
    }

    pub(crate) fn spec(&self) -> &MetricSpec {
        &self.spec
    }

    #[inline]
    fn hash(&self, values: &[&str]) -> u64 {
        self.hasher.hash(values)
    }

    /// The series for `values`, created on first use.
    ///
    /// Values that do not fit the metric (wrong number, one longer than the wire allows, or
    /// all equal to the overflow marker) and label sets beyond the cap resolve to the
    /// overflow series. On an unlabelled metric, non-empty values resolve to a detached
    /// series.
    pub(crate) fn series(&self, values: &[&str]) -> Arc<Series<C>> {
        if let Some(fixed) = &self.fixed {
            return if values.is_empty() {
                fixed.clone()
            } else {
                self.detached()
            };
        }
        let probe = Probe::new(self.id, values);
        if let Some(Some(series)) = C::with_lookup_cache(|cache| cache.get(self.id, &probe, values))
        {
            return series;
        }
        self.missed(&probe, values)
    }

    /// [`FamilyCore::series`] when this thread's cache has no live entry for `values` (read
    /// as `probe`): the table, then the cache remembers a labelled series. Kept out of line
    /// so that the hit stays small.
    #[inline(never)]
    fn missed(&self, probe: &Probe, values: &[&str]) -> Arc<Series<C>> {
        let series = self.lookup(self.hash(values), values);
        if series.role() == SeriesRole::Labelled {
            C::with_lookup_cache(|cache| cache.put(self.id, probe, &series));
        }
        series
    }

    /// [`FamilyCore::series`] in the table, past the thread's cache.
    fn lookup(&self, hash: u64, values: &[&str]) -> Arc<Series<C>> {
        let fits = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = map.find(hash, values) {
                return series.clone();
            }
            let fits = self.fits(values);
            // Over the cap or unfit: the overflow series, still under the read lock once it
            // exists, so label churn past the cap does not serialise on the write lock.
            if (!fits || map.labelled >= self.ctx.max_series)
                && let Some(overflow) = &map.overflow
            {
                return overflow.clone();
            }
            fits
        };
        self.insert(hash, values, fits)
    }

    fn fits(&self, values: &[&str]) -> bool {
        values.len() == self.spec.labels.len()
            && values.iter().all(|v| v.len() <= MAX_LABEL_VALUE_LEN)
            && !values.iter().all(|v| *v == OVERFLOW_LABEL_VALUE)
    }

    #[cold]
    fn insert(&self, hash: u64, values: &[&str], fits: bool) -> Arc<Series<C>> {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(series) = map.find(hash, values) {
            return series.clone();
        }
        if !fits || map.labelled >= self.ctx.max_series {
            return self.overflow(&mut map);
        }
        let series = Arc::new(Series::new(
            self.ctx.uids.fetch_add(1, Relaxed),
            hash,
            values.iter().map(|v| Box::<str>::from(*v)).collect(),
            SeriesRole::Labelled,
            C::new(&self.spec),
            self.ctx.dropped.clone(),
        ));
        map.by_hash.entry(hash).or_default().push(series.clone());
        map.labelled += 1;
        series
    }

    fn overflow(&self, map: &mut SeriesMap<C>) -> Arc<Series<C>> {
        map.overflow
            .get_or_insert_with(|| {
                let labels = self.spec.labels.iter().map(|_| OVERFLOW_LABEL_VALUE.into());
                Arc::new(Series::new(
                    self.ctx.uids.fetch_add(1, Relaxed),
                    0,
                    labels.collect(),
                    SeriesRole::Overflow,
                    C::new(&self.spec),
                    self.ctx.dropped.clone(),
                ))
            })
            .clone()
    }

    #[cold]
    fn detached(&self) -> Arc<Series<C>> {
        Arc::new(Series::new(
            u64::MAX,
            0,
            Box::default(),
            SeriesRole::Detached,
            C::new(&self.spec),
            self.ctx.dropped.clone(),
        ))
    }

    /// Number of labelled series now kept (the overflow series not included).
    pub(crate) fn labelled_len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .labelled
    }
}

/// A family as the shipper sees it, whatever its kind.
pub(crate) trait ShipFamily: Send + Sync {
    /// The metric.
    fn spec(&self) -> &MetricSpec;
    /// Every series now kept: the fixed or overflow series and the labelled ones.
    fn snapshot(&self) -> Vec<Arc<dyn ShipSeries>>;
    /// Removes each candidate `(hash, uid)` that nothing but the family references and for
    /// which `still_idle(uid, current reading)` holds; returns the uids removed.
    fn retire(
        &self,
        candidates: &[(u64, u64)],
        still_idle: &mut dyn FnMut(u64, &Reading) -> bool,
    ) -> Vec<u64>;
}

impl<C: Cell> ShipFamily for FamilyCore<C> {
    fn spec(&self) -> &MetricSpec {
        &self.spec
    }

    fn snapshot(&self) -> Vec<Arc<dyn ShipSeries>> {
        let mut out: Vec<Arc<dyn ShipSeries>> = Vec::new();
        if let Some(fixed) = &self.fixed {
            out.push(fixed.clone());
        }
        let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
        out.reserve(map.labelled + 1);
        if let Some(overflow) = &map.overflow {
            out.push(overflow.clone());
        }
        for bucket in map.by_hash.values() {
            for series in bucket {
                out.push(series.clone());
            }
        }
        out
    }

    fn retire(
        &self,
        candidates: &[(u64, u64)],
        still_idle: &mut dyn FnMut(u64, &Reading) -> bool,
    ) -> Vec<u64> {
        let mut retired = Vec::new();
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        for &(hash, uid) in candidates {
            let Some(bucket) = map.by_hash.get_mut(&hash) else {
                continue;
            };
            let Some(index) = bucket.iter().position(|s| s.uid() == uid) else {
                continue;
            };
            let series = &bucket[index];
            if Arc::strong_count(series) != 1
                || series.role() != SeriesRole::Labelled
                || !still_idle(uid, &series.read())
            {
                continue;
            }
            // Take the table's reference, the last one. With the write lock held no table
            // lookup can resolve the series, and once the count is zero no thread's lookup
            // cache can upgrade its weak reference either: nobody can record into it any
            // more. A cached lookup that got there first makes this fail: the series is in
            // use, keep it.
            let series = match Arc::try_unwrap(bucket.swap_remove(index)) {
                Ok(series) => series,
                Err(series) => {
                    bucket.push(series);
                    continue;
                }
            };
            // `try_unwrap` acquired the last handle's release: every recording made through
            // it (relaxed, and plain stores for counters) is visible, so this read is final.
            if !still_idle(uid, &series.read()) {
                // Recorded into since the check above: back into the table. Cached weak
                // references to the old allocation are dead; their threads look it up again.
                bucket.push(Arc::new(series));
                continue;
            }
            if bucket.is_empty() {
                map.by_hash.remove(&hash);
            }
            map.labelled -= 1;
            retired.push(uid);
        }
        retired
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::CounterCell;
    use crate::tests::specs::{CONNECTIONS, MESSAGES, PEERS};
    use dawn_proto::MetricKind;

    fn ctx(max_series: usize) -> FamilyContext {
        FamilyContext {
            max_series,
            dropped: Arc::new(AtomicU64::new(0)),
            uids: Arc::new(AtomicU64::new(0)),
        }
    }

    #[test]
    fn same_labels_resolve_to_the_same_series() {
        let f = FamilyCore::<CounterCell>::new(MESSAGES, ctx(10));
        let a = f.series(&["request", "success"]);
        let b = f.series(&["request", "success"]);
        let c = f.series(&["request", "error"]);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(f.labelled_len(), 2);
        // Concatenation does not collide: ["ab", ""] and ["a", "b"] are different sets.
        let x = f.series(&["ab", ""]);
        let y = f.series(&["a", "b"]);
        assert!(!Arc::ptr_eq(&x, &y));
    }

    #[test]
    fn excess_and_invalid_label_sets_fold_into_one_overflow_series() {
        let context = ctx(2);
        let f = FamilyCore::<CounterCell>::new(CONNECTIONS, context.clone());
        let a = f.series(&["success"]);
        let _b = f.series(&["failed"]);
        let over1 = f.series(&["rejected"]);
        let over2 = f.series(&["closed"]);
        let wrong_arity = f.series(&["a", "b"]);
        let too_long = f.series(&[&"x".repeat(MAX_LABEL_VALUE_LEN + 1)]);
        let marker = f.series(&[OVERFLOW_LABEL_VALUE]);
        for o in [&over2, &wrong_arity, &too_long, &marker] {
            assert!(Arc::ptr_eq(&over1, o));
        }
        assert_eq!(over1.labels(), &[Box::<str>::from(OVERFLOW_LABEL_VALUE)]);
        assert_eq!(f.labelled_len(), 2);
        // Existing series keep resolving normally at the cap.
        assert!(Arc::ptr_eq(&a, &f.series(&["success"])));
        over1.note_recording();
        a.note_recording();
        assert_eq!(context.dropped.load(Relaxed), 1);
        assert_eq!(f.snapshot().len(), 3);
    }

    #[test]
    fn unlabelled_metric_has_one_fixed_series() {
        let context = ctx(1);
        let f = FamilyCore::<CounterCell>::new(
            MetricSpec {
                kind: MetricKind::Counter,
                name: "x_total",
                ..PEERS
            },
            context.clone(),
        );
        let a = f.series(&[]);
        assert!(Arc::ptr_eq(&a, &f.series(&[])));
        assert!(!a.retirable());
        let stray = f.series(&["oops"]);
        stray.note_recording();
        assert_eq!(context.dropped.load(Relaxed), 1);
        assert_eq!(
            f.snapshot().len(),
            1,
            "the detached series is never shipped"
        );
    }

    #[test]
    fn retire_removes_only_unreferenced_idle_series() {
        let f = FamilyCore::<CounterCell>::new(CONNECTIONS, ctx(10));
        let held = f.series(&["success"]);
        let (held_key, gone_key) = {
            let gone = f.series(&["failed"]);
            gone.cell.add(3);
            ((held.hash(), held.uid()), (gone.hash(), gone.uid()))
        };
        let retired = f.retire(&[held_key, gone_key], &mut |_, r| *r == Reading::Counter(3));
        assert_eq!(retired, vec![gone_key.1]);
        assert_eq!(f.labelled_len(), 1);
        // A series that changed since the shipper last looked is kept.
        drop(held);
        assert!(f.retire(&[held_key], &mut |_, _| false).is_empty());
        assert_eq!(f.retire(&[held_key], &mut |_, _| true), vec![held_key.1]);
        // Recreated later it is a fresh series.
        let again = f.series(&["failed"]);
        assert_eq!(again.cell.get(), 0);
        assert_ne!(again.uid(), gone_key.1);
    }

    #[test]
    fn the_lookup_cache_returns_the_table_series_and_never_a_retired_one() {
        let f = FamilyCore::<CounterCell>::new(MESSAGES, ctx(10));
        let first = f.series(&["request", "success"]);
        // Cached now: the same series, and the other label sets are not confused with it.
        assert!(Arc::ptr_eq(&first, &f.series(&["request", "success"])));
        assert!(!Arc::ptr_eq(&first, &f.series(&["request", "error"])));
        let key = (first.hash(), first.uid());
        first.cell.add(2);
        // A handle from the cache is a reference: no retirement while it is held.
        let again = f.series(&["request", "success"]);
        drop(first);
        assert!(f.retire(&[key], &mut |_, _| true).is_empty());
        drop(again);
        // The cache's weak reference does not hold the series back.
        assert_eq!(f.retire(&[key], &mut |_, _| true), vec![key.1]);
        // This thread's cache still names the retired series: the lookup makes a fresh one.
        let fresh = f.series(&["request", "success"]);
        assert_ne!(fresh.uid(), key.1);
        assert_eq!(fresh.cell.get(), 0);
        assert_eq!(f.labelled_len(), 2);
    }

    #[test]
    fn label_sets_beyond_what_the_cache_holds_exactly_resolve_and_retire_alike() {
        // More values than a cache entry holds, and values longer than 16 bytes: the cache
        // checks these against the series' own values after the upgrade.
        const WIDE: MetricSpec = MetricSpec {
            labels: &["a", "b", "c", "d"],
            ..MESSAGES
        };
        let f = FamilyCore::<CounterCell>::new(WIDE, ctx(10));
        let long = "p".repeat(40);
        let other = format!("{}q{}", "p".repeat(20), "p".repeat(19));
        let sets: [[&str; 4]; 3] = [
            ["w", "x", "y", "z"],
            [&long, "", "", ""],
            [&other, "", "", ""],
        ];
        let first: Vec<_> = sets.iter().map(|v| f.series(v)).collect();
        for _ in 0..3 {
            for (values, s) in sets.iter().zip(&first) {
                assert!(Arc::ptr_eq(s, &f.series(values)), "{values:?}");
            }
        }
        assert_eq!(f.labelled_len(), 3);
        // Retired while this thread caches it: the next lookup makes a fresh series.
        let key = (first[1].hash(), first[1].uid());
        drop(first);
        assert_eq!(f.retire(&[key], &mut |_, _| true), vec![key.1]);
        let fresh = f.series(&sets[1]);
        assert_ne!(fresh.uid(), key.1);
        assert_eq!(f.labelled_len(), 3);
    }

    #[test]
    fn many_label_sets_in_turn_each_resolve_to_their_own_series() {
        // Four times what a thread's cache holds, so that sets evict one another.
        let f = FamilyCore::<CounterCell>::new(MESSAGES, ctx(1000));
        let names: Vec<(String, String)> = (0..128)
            .map(|i| (format!("type{i}"), format!("s{}", i % 7)))
            .collect();
        let first: Vec<_> = names.iter().map(|(a, b)| f.series(&[a, b])).collect();
        for _ in 0..2 {
            for ((a, b), s) in names.iter().zip(&first) {
                let again = f.series(&[a, b]);
                assert!(Arc::ptr_eq(s, &again), "{a} {b}");
                assert_eq!(&*again.labels()[0], a.as_str());
            }
        }
        assert_eq!(f.labelled_len(), names.len());
    }

    #[test]
    fn a_series_recorded_into_during_retirement_stays_with_its_value() {
        let f = FamilyCore::<CounterCell>::new(CONNECTIONS, ctx(10));
        let s = f.series(&["success"]);
        s.cell.add(1);
        let key = (s.hash(), s.uid());
        drop(s);
        // Idle at the first look, busy at the second: as if recorded into in between.
        let mut looks = 0;
        let retired = f.retire(&[key], &mut |_, _| {
            looks += 1;
            looks == 1
        });
        assert!(retired.is_empty());
        let kept = f.series(&["success"]);
        assert_eq!((kept.uid(), kept.cell.get()), (key.1, 1));
    }

    #[test]
    fn no_recording_is_lost_to_retirement_racing_cached_lookups() {
        // One thread looks up and records as fast as it can (mostly cache hits); this one
        // retires the series whenever it can. Every increment must end up either in a
        // retired series' final reading or in the live one.
        let f = Arc::new(FamilyCore::<CounterCell>::new(CONNECTIONS, ctx(10)));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let recorder = {
            let (f, stop) = (f.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Relaxed) {
                    for _ in 0..100 {
                        f.series(&["success"]).cell.add(1);
                    }
                    n += 100;
                }
                n
            })
        };
        let mut retired_total = 0u64;
        let mut retirements = 0;
        let started = std::time::Instant::now();
        while retirements < 200 && started.elapsed() < std::time::Duration::from_secs(5) {
            let candidates: Vec<(u64, u64)> =
                f.snapshot().iter().map(|s| (s.hash(), s.uid())).collect();
            let mut last = 0;
            let retired = f.retire(&candidates, &mut |_, reading| {
                if let Reading::Counter(v) = reading {
                    last = *v;
                }
                true
            });
            if !retired.is_empty() {
                retired_total += last;
                retirements += 1;
            }
            std::thread::yield_now();
        }
        stop.store(true, Relaxed);
        let recorded = recorder.join().expect("recorder");
        let live: u64 = f
            .snapshot()
            .iter()
            .map(|s| match s.read() {
                Reading::Counter(v) => v,
                other => panic!("{other:?}"),
            })
            .sum();
        assert_eq!(retired_total + live, recorded, "{retirements} retirements");
    }
}
