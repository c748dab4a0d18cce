//! Aggregated series: what every client reported, ready to be scraped.
//!
//! Metric families are shared by name across clients and their definitions must agree
//! (kind, label names, buckets; the first help text wins). Each series keeps one cumulative
//! sample per source, a source being the `(client_name, node_id)` of a `Hello`; a scrape
//! adds the samples of all sources up (counters, histograms and gauges alike), so two
//! processes reporting the same series appear as one total.
//!
//! Incarnations: a source that says `Hello` with a new incarnation has restarted, so its
//! samples are dropped (a genuine reset); a reconnect of the same incarnation keeps them and
//! the client's resent cumulative totals overwrite them, so totals survive client
//! reconnects and exporter restarts exactly. A source without a connection keeps its samples
//! for the source TTL, then [`Store::expire`] forgets them.
//!
//! Memory: the store counts what it keeps and refuses beyond its caps, never growing with
//! what a client sends: series (`--store.max-series`, per metric too), the bytes of their
//! definitions (family names, help, label names and bounds, and each series' labels:
//! `--store.max-definition-bytes`), samples (series × sources: `--store.max-samples`, and
//! per source), and departed sources (at most [`MAX_DEPARTED_SOURCES`]; a source that left
//! nothing behind is forgotten at once). A refused first value leaves the series as it was
//! and is tried again with the next update.
//!
//! Time is an input ([`Store::expire`] and friends take `now`), so tests use a fake clock.
//! Every method takes the store's lock once, briefly: the ingest path applies a whole batch
//! under one lock; a scrape renders under it (string appends and number formatting only).

mod family;
mod native;
mod render;
mod sample;
mod source;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dawn_proto::{Define, HistogramRef, MetricKind, ValueRef};

#[cfg(test)]
pub(crate) use render::fixture;
pub(crate) use render::{Alias, Part, Snapshot};
pub(crate) use source::SourceKey;

use family::{Definition, Family, SERIES_BYTES};
use sample::{Applied, Sample};
use source::Sources;

/// Name prefixes reserved for the exporter's own metrics.
pub(crate) const RESERVED_PREFIXES: &[&str] = &["dawn_exporter_", "dawn_node_", "dawn_health_"];

/// Most sources kept without a connection (for the source TTL); beyond it, the one gone
/// longest is forgotten early with its samples.
pub(crate) const MAX_DEPARTED_SOURCES: usize = 1024;

/// Caps and lifetimes of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most series held in total (`--store.max-series`).
    pub max_series: usize,
    /// Most series held per metric (`--store.max-series-per-metric`).
    pub max_series_per_metric: usize,
    /// Most bytes of family definitions and series labels held
    /// (`--store.max-definition-bytes`).
    pub max_definition_bytes: usize,
    /// Most samples (one per series and source) held (`--store.max-samples`).
    pub max_samples: usize,
    /// Most samples held per source (`--store.max-samples-per-source`).
    pub max_samples_per_source: usize,
    /// Most native histogram buckets held over all samples (`--store.max-native-buckets`):
    /// a native part may carry thousands of buckets, so the sample caps alone do not bound
    /// the memory they take (16 bytes a bucket).
    pub max_native_buckets: usize,
    /// How long a disconnected source's values are kept (`--store.source-ttl`).
    pub source_ttl: Duration,
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits {
            max_series: 100_000,
            max_series_per_metric: 10_000,
            max_definition_bytes: 64 << 20,
            max_samples: 500_000,
            max_samples_per_source: 100_000,
            // 64 MiB of buckets: 2^18 latency histograms of 16 buckets, or 1,000 at the
            // wire's 4,096.
            max_native_buckets: 1 << 22,
            source_ttl: Duration::from_secs(300),
        }
    }
}

/// Why `more` native buckets cannot be kept beside the `held` ones, if they cannot.
fn over_budget(held: usize, more: usize, limits: &StoreLimits) -> Option<SampleError> {
    (more > 0 && held + more > limits.max_native_buckets).then_some(
        SampleError::NativeBucketBudget {
            limit: limits.max_native_buckets,
            held,
            more,
        },
    )
}

/// A source attached to the store by a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SourceId(u32);

/// A metric family held by a connection's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FamilyId(u32);

/// A series held by a connection's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesId {
    family: u32,
    slot: u32,
}

/// Result of [`Store::attach`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attached {
    /// The source, to pass to later calls; [`Store::detach`] it when the connection ends.
    pub source: SourceId,
    /// The source was known with another incarnation, whose values were dropped.
    pub reset: bool,
}

/// Why a definition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefineError {
    /// Another client defined the name differently.
    #[error("metric {name} conflicts with its existing definition: {why}")]
    Conflict {
        /// The metric.
        name: String,
        /// What differs.
        why: String,
    },
    /// Its exposition would reuse a name another family's exposition uses (e.g. a gauge
    /// `x_count` beside a histogram `x`, or a gauge `x` beside a counter `x_total`, whose
    /// OpenMetrics family is `x`).
    #[error(
        "metric {name} would collide with metric {other} in the exposition (both use the name {shared})"
    )]
    Collision {
        /// The metric.
        name: String,
        /// The existing metric.
        other: String,
        /// The name both would expose.
        shared: String,
    },
    /// The name belongs to the exporter's own metrics.
    #[error("metric name {name} is reserved: names starting with {prefix} are the exporter's own")]
    Reserved {
        /// The metric.
        name: String,
        /// The reserved prefix it starts with.
        prefix: &'static str,
    },
    /// The store holds `--store.max-definition-bytes` of definitions.
    #[error(
        "metric {name} refused: the exporter holds its maximum of {limit} bytes of definitions (--store.max-definition-bytes)"
    )]
    MaxDefinitionBytes {
        /// The metric.
        name: String,
        /// The cap.
        limit: usize,
    },
}

/// Why a series is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeriesError {
    /// The store holds `--store.max-series` series.
    #[error(
        "series {metric}{{{labels}}} refused: the exporter holds its maximum of {limit} series (--store.max-series)"
    )]
    TooManySeries {
        /// The metric.
        metric: String,
        /// The rendered labels.
        labels: String,
        /// The cap.
        limit: usize,
    },
    /// The metric holds `--store.max-series-per-metric` series.
    #[error(
        "series {metric}{{{labels}}} refused: {metric} has its maximum of {limit} series (--store.max-series-per-metric)"
    )]
    MetricAtCap {
        /// The metric.
        metric: String,
        /// The rendered labels.
        labels: String,
        /// The cap.
        limit: usize,
    },
    /// The store holds `--store.max-definition-bytes` of definitions.
    #[error(
        "a series of {metric} refused: the exporter holds its maximum of {limit} bytes of definitions (--store.max-definition-bytes)"
    )]
    DefinitionBudgetSpent {
        /// The metric.
        metric: String,
        /// The cap.
        limit: usize,
    },
}

/// Why the first value of a series for a source was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SampleError {
    /// The store holds `--store.max-samples` samples.
    #[error("the exporter holds its maximum of {limit} samples (--store.max-samples)")]
    MaxSamples {
        /// The cap.
        limit: usize,
    },
    /// The source holds `--store.max-samples-per-source` samples.
    #[error("this source holds its maximum of {limit} samples (--store.max-samples-per-source)")]
    MaxSamplesPerSource {
        /// The cap.
        limit: usize,
    },
    /// Keeping the value's native buckets would take the store past
    /// `--store.max-native-buckets`; the series keeps its last value.
    #[error(
        "the exporter holds {held} of its maximum of {limit} native histogram buckets and this value brings {more} more (--store.max-native-buckets)"
    )]
    NativeBucketBudget {
        /// The cap.
        limit: usize,
        /// Buckets held when the value came.
        held: usize,
        /// Buckets the value would add.
        more: usize,
    },
}

/// One source's batch being stored, under the store's lock ([`Store::writer`]).
pub(crate) struct BatchWriter<'s> {
    inner: MutexGuard<'s, Inner>,
    limits: &'s StoreLimits,
    source: u32,
    outcome: ApplyOutcome,
}

impl BatchWriter<'_> {
    /// Stores `value` of `id` (validated against its definition); `tag` names the update
    /// in the outcome when the store keeps it back.
    #[inline(always)]
    pub(crate) fn update(&mut self, id: SeriesId, value: &ValueRef<'_>, tag: u32) {
        let Inner {
            families,
            sources,
            total_samples,
            native_buckets,
            ..
        } = &mut *self.inner;
        let (limits, outcome) = (self.limits, &mut self.outcome);
        let Some(series) = families
            .get_mut(id.family as usize)
            .and_then(Option::as_mut)
            .and_then(|f| f.get_mut(id.slot))
        else {
            return;
        };
        // Native buckets the value would have the sample keep (`None`: a classic-only
        // update keeps the ones held), checked against the store's budget first.
        let wanted = match value {
            ValueRef::Histogram(HistogramRef {
                native: Some(n), ..
            }) => {
                let n = n.get();
                Some(n.positive_counts.len() + n.negative_counts.len())
            }
            _ => None,
        };
        match series.samples.get_mut(self.source) {
            // Neither side has native buckets: the store's count of them stays.
            Some(sample) if wanted.is_none() && !sample.is_native() => match sample.apply(value) {
                Applied::Updated => outcome.applied += 1,
                Applied::Decreased => outcome.decreased.push(tag),
            },
            Some(sample) => {
                let held = sample.native_buckets();
                let more = wanted.unwrap_or(held).saturating_sub(held);
                if let Some(refused) = over_budget(*native_buckets, more, limits) {
                    outcome.refused.push((tag, refused));
                    return;
                }
                match sample.apply(value) {
                    Applied::Updated => outcome.applied += 1,
                    Applied::Decreased => outcome.decreased.push(tag),
                }
                *native_buckets = *native_buckets - held + sample.native_buckets();
            }
            None => {
                let Some(src) = sources.get_mut(self.source) else {
                    return;
                };
                if let Some(refused) = over_budget(*native_buckets, wanted.unwrap_or(0), limits) {
                    outcome.refused.push((tag, refused));
                } else if src.held.len() >= limits.max_samples_per_source {
                    let limit = limits.max_samples_per_source;
                    let refused = SampleError::MaxSamplesPerSource { limit };
                    outcome.refused.push((tag, refused));
                } else if *total_samples >= limits.max_samples {
                    let refused = SampleError::MaxSamples {
                        limit: limits.max_samples,
                    };
                    outcome.refused.push((tag, refused));
                } else {
                    let sample = Sample::from_value(value);
                    *native_buckets += sample.native_buckets();
                    series.samples.push(self.source, sample);
                    src.held.insert((id.family, id.slot));
                    *total_samples += 1;
                    outcome.applied += 1;
                }
            }
        }
    }

    /// Releases the lock; what became of the updates.
    pub(crate) fn finish(self) -> ApplyOutcome {
        self.outcome
    }
}

/// What became of a batch: `BatchWriter::finish` gives it (and `Store::apply`, in the
/// tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ApplyOutcome {
    /// Updates stored.
    pub applied: u64,
    /// Tags of the updates refused because a counter or histogram went backwards.
    pub decreased: Vec<u32>,
    /// Tags of first values not kept, over a sample cap.
    pub refused: Vec<(u32, SampleError)>,
    /// The whole batch was ignored: the source has a newer incarnation than the caller's
    /// (set by the tests' `Store::apply`; ingest finds it out from `Store::writer` giving
    /// no writer).
    pub stale_incarnation: bool,
}

/// Aggregated series of every client.
#[derive(Debug)]
pub struct Store {
    limits: StoreLimits,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    families: Vec<Option<Family>>,
    free_families: Vec<u32>,
    by_name: BTreeMap<String, u32>,
    /// Every name a family's exposition uses (see [`exposed_names`]), to its slot.
    claimed: HashMap<String, u32>,
    sources: Sources,
    total_series: usize,
    /// Samples held, over every series and source.
    total_samples: usize,
    /// Native buckets held over all samples (`StoreLimits::max_native_buckets`).
    native_buckets: usize,
    /// Bytes of family definitions and series labels held.
    definition_bytes: usize,
}

impl Store {
    /// An empty store with these limits.
    pub fn new(limits: StoreLimits) -> Self {
        Store {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough data (every mutation is a
        // handful of field writes); keep serving rather than poisoning every later call.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a connection of `key` with `incarnation`. A different incarnation than the
    /// one held replaces the source's values (they are dropped now; the client resends).
    pub fn attach(&self, key: &SourceKey, incarnation: u64) -> Attached {
        let mut inner = self.lock();
        let (slot, reset) = match inner.sources.find(key) {
            Some(slot) => {
                let known = inner.sources.get(slot).map(|s| s.incarnation);
                let reset = known != Some(incarnation);
                if reset {
                    inner.drop_samples_of(slot);
                    if let Some(s) = inner.sources.get_mut(slot) {
                        s.incarnation = incarnation;
                        s.dropped = 0;
                    }
                }
                (slot, reset)
            }
            None => (inner.sources.insert(key.clone(), incarnation), false),
        };
        if let Some(s) = inner.sources.get_mut(slot) {
            s.connections += 1;
            s.disconnected_at = None;
        }
        Attached {
            source: SourceId(slot),
            reset,
        }
    }

    /// Ends a connection of `source`; its values stay for the source TTL after the last one.
    /// A source that left no value (and no count of dropped records) is forgotten at once,
    /// and beyond [`MAX_DEPARTED_SOURCES`] the source gone longest is forgotten early;
    /// returns the keys of sources forgotten early with their values.
    pub fn detach(&self, source: SourceId, now: Instant) -> Vec<SourceKey> {
        let mut inner = self.lock();
        let Some(s) = inner.sources.get_mut(source.0) else {
            return Vec::new();
        };
        s.connections = s.connections.saturating_sub(1);
        if s.connections > 0 {
            return Vec::new();
        }
        s.disconnected_at = Some(now);
        if s.held.is_empty() && s.dropped == 0 {
            inner.sources.remove(source.0);
            return Vec::new();
        }
        let departed = inner.sources.disconnected_before(now);
        let excess = departed.len().saturating_sub(MAX_DEPARTED_SOURCES);
        let mut oldest: Vec<(Instant, u32)> = departed
            .into_iter()
            .filter_map(|slot| Some((inner.sources.get(slot)?.disconnected_at?, slot)))
            .collect();
        oldest.sort_unstable();
        let mut gone = Vec::new();
        for (_, slot) in oldest.into_iter().take(excess) {
            inner.drop_samples_of(slot);
            if let Some(s) = inner.sources.remove(slot) {
                gone.push(s.key);
            }
        }
        gone
    }

    /// Holds the family `def` describes, creating it or checking that it agrees with the
    /// existing definition. [`Store::release_family`] it when the connection ends.
    pub fn define(&self, def: &Define) -> Result<FamilyId, DefineError> {
        if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| def.name.starts_with(*p)) {
            return Err(DefineError::Reserved {
                name: def.name.clone(),
                prefix,
            });
        }
        let mut inner = self.lock();
        let slot = match inner.by_name.get(&def.name).copied() {
            Some(slot) => {
                let family = inner.family_mut(slot);
                if let Some(why) = family.and_then(|f| f.def.conflict(def)) {
                    return Err(DefineError::Conflict {
                        name: def.name.clone(),
                        why,
                    });
                }
                slot
            }
            None => {
                let exposed = exposed_names(&def.name, def.kind);
                let clash = exposed
                    .iter()
                    .find_map(|n| inner.claimed.get(n).map(|slot| (n, *slot)));
                if let Some((shared, slot)) = clash {
                    let other = inner
                        .family_mut(slot)
                        .map_or_else(String::new, |f| f.def.name.clone());
                    return Err(DefineError::Collision {
                        name: def.name.clone(),
                        other,
                        shared: shared.clone(),
                    });
                }
                let family = Family::new(Definition::new(def));
                let limit = self.limits.max_definition_bytes;
                let bytes = inner.definition_bytes.saturating_add(family.bytes());
                if bytes > limit {
                    return Err(DefineError::MaxDefinitionBytes {
                        name: def.name.clone(),
                        limit,
                    });
                }
                inner.definition_bytes = bytes;
                let slot = inner.insert_family(family);
                for n in exposed {
                    inner.claimed.insert(n, slot);
                }
                slot
            }
        };
        if let Some(f) = inner.family_mut(slot) {
            f.definers += 1;
        }
        Ok(FamilyId(slot))
    }

    /// Gives up a connection's hold on a family.
    pub fn release_family(&self, family: FamilyId) {
        let mut inner = self.lock();
        if let Some(f) = inner.family_mut(family.0) {
            f.definers = f.definers.saturating_sub(1);
        }
        inner.remove_family_if_unused(family.0);
    }

    /// Holds the series of `family` with `label_values` (validated against the
    /// definition), creating it within the caps. [`Store::release_series`] it when the
    /// connection ends or retires it.
    pub fn series(
        &self,
        family: FamilyId,
        label_values: &[String],
    ) -> Result<SeriesId, SeriesError> {
        let mut inner = self.lock();
        let (total, bytes) = (inner.total_series, inner.definition_bytes);
        let Some(f) = inner.family_mut(family.0) else {
            // Unreachable while the caller holds the family; refuse rather than panic.
            return Err(SeriesError::TooManySeries {
                metric: String::new(),
                labels: String::new(),
                limit: self.limits.max_series,
            });
        };
        let labels = f.render(label_values);
        let slot = match f.find(&labels) {
            Some(slot) => slot,
            None => {
                if total >= self.limits.max_series {
                    return Err(SeriesError::TooManySeries {
                        metric: f.def.name.clone(),
                        labels,
                        limit: self.limits.max_series,
                    });
                }
                if f.len() >= self.limits.max_series_per_metric {
                    return Err(SeriesError::MetricAtCap {
                        metric: f.def.name.clone(),
                        labels,
                        limit: self.limits.max_series_per_metric,
                    });
                }
                let cost = SERIES_BYTES + labels.len();
                let limit = self.limits.max_definition_bytes;
                if bytes.saturating_add(cost) > limit {
                    return Err(SeriesError::DefinitionBudgetSpent {
                        metric: f.def.name.clone(),
                        limit,
                    });
                }
                let slot = f.insert(labels);
                inner.total_series += 1;
                inner.definition_bytes += cost;
                slot
            }
        };
        if let Some(s) = inner.family_mut(family.0).and_then(|f| f.get_mut(slot)) {
            s.refs += 1;
        }
        Ok(SeriesId {
            family: family.0,
            slot,
        })
    }

    /// Gives up a connection's hold on a series.
    pub fn release_series(&self, series: SeriesId) {
        let mut inner = self.lock();
        if let Some(s) = inner
            .family_mut(series.family)
            .and_then(|f| f.get_mut(series.slot))
        {
            s.refs = s.refs.saturating_sub(1);
        }
        inner.remove_series_if_unused(series);
    }

    /// Removes `source`'s value of `series` (a `Retire`); the series disappears when no
    /// source has a value and no connection holds it.
    pub fn retire(&self, source: SourceId, series: SeriesId) {
        let mut inner = self.lock();
        let removed = inner
            .family_mut(series.family)
            .and_then(|f| f.get_mut(series.slot))
            .and_then(|s| s.remove_sample(source.0));
        if let Some(sample) = removed {
            inner.forget_sample(&sample);
        }
        if let Some(src) = inner.sources.get_mut(source.0) {
            src.held.remove(&(series.family, series.slot));
        }
        inner.remove_series_if_unused(series);
    }

    /// Stores a batch of `source`'s cumulative values under one lock. Each update is
    /// `(series, value, tag)`, the value borrowed (a [`ValueRef`], as ingest has it) or
    /// owned; values were validated against their definitions. Tags of counters or
    /// histograms that went backwards come back in [`ApplyOutcome::decreased`] (their old
    /// values stay). Allocates only for a source's first value of a series. The tests' way
    /// to store values; ingest checks and stores in one pass through [`Store::writer`].
    #[cfg(test)]
    pub(crate) fn apply<'v, V: Into<ValueRef<'v>>>(
        &self,
        source: SourceId,
        incarnation: u64,
        updates: impl IntoIterator<Item = (SeriesId, V, u32)>,
    ) -> ApplyOutcome {
        let Some(mut writer) = self.writer(source, incarnation) else {
            return ApplyOutcome {
                stale_incarnation: true,
                ..ApplyOutcome::default()
            };
        };
        for (id, value, tag) in updates {
            writer.update(id, &value.into(), tag);
        }
        writer.finish()
    }

    /// A writer of `source`'s values that holds the store's lock until it is finished, so
    /// that ingest checks and stores a batch's updates in one pass (what [`Store::apply`]
    /// does with an iterator); `None` when the source has a newer incarnation than the
    /// caller's (the batch is to be ignored).
    pub(crate) fn writer(&self, source: SourceId, incarnation: u64) -> Option<BatchWriter<'_>> {
        let inner = self.lock();
        let current = inner.sources.get(source.0).map(|s| s.incarnation);
        (current == Some(incarnation)).then(|| BatchWriter {
            inner,
            limits: &self.limits,
            source: source.0,
            outcome: ApplyOutcome::default(),
        })
    }

    /// Records a source's cumulative `Heartbeat::dropped` and returns the increase since
    /// the last report of this incarnation.
    pub fn report_dropped(&self, source: SourceId, dropped: u64) -> u64 {
        let mut inner = self.lock();
        let Some(s) = inner.sources.get_mut(source.0) else {
            return 0;
        };
        let increase = dropped.saturating_sub(s.dropped);
        s.dropped = s.dropped.max(dropped);
        increase
    }

    /// Forgets sources disconnected for longer than the source TTL, with their values;
    /// returns their keys.
    pub fn expire(&self, now: Instant) -> Vec<SourceKey> {
        let Some(cutoff) = now.checked_sub(self.limits.source_ttl) else {
            return Vec::new();
        };
        let mut inner = self.lock();
        let mut gone = Vec::new();
        for slot in inner.sources.disconnected_before(cutoff) {
            inner.drop_samples_of(slot);
            if let Some(s) = inner.sources.remove(slot) {
                gone.push(s.key);
            }
        }
        gone
    }

    /// Series held now (with or without values).
    pub fn series_count(&self) -> usize {
        self.lock().total_series
    }

    /// Samples held now (one per series and source with a value).
    pub fn sample_count(&self) -> usize {
        self.lock().total_samples
    }

    /// Native histogram buckets held now, over all samples.
    pub fn native_bucket_count(&self) -> usize {
        self.lock().native_buckets
    }

    /// Bytes of family definitions and series labels held now.
    pub fn definition_bytes(&self) -> usize {
        self.lock().definition_bytes
    }

    /// Sources known now (connected, or disconnected within the TTL).
    pub fn source_count(&self) -> usize {
        self.lock().sources.len()
    }
}

/// The names the exposition of a family called `name` uses, in either format: its own
/// name, a counter's OpenMetrics family name (without `_total`), a histogram's sample names.
fn exposed_names(name: &str, kind: MetricKind) -> Vec<String> {
    let mut names = vec![name.to_owned()];
    match kind {
        MetricKind::Counter => {
            if let Some(family) = name.strip_suffix("_total") {
                names.push(family.to_owned());
            }
        }
        MetricKind::Gauge => {}
        MetricKind::Histogram => {
            for suffix in ["_bucket", "_count", "_sum"] {
                names.push(format!("{name}{suffix}"));
            }
        }
    }
    names
}

impl Inner {
    fn family_mut(&mut self, slot: u32) -> Option<&mut Family> {
        self.families
            .get_mut(slot as usize)
            .and_then(Option::as_mut)
    }

    fn insert_family(&mut self, family: Family) -> u32 {
        let name = family.def.name.clone();
        let slot = match self.free_families.pop() {
            Some(slot) => {
                self.families[slot as usize] = Some(family);
                slot
            }
            None => {
                self.families.push(Some(family));
                (self.families.len() - 1) as u32
            }
        };
        self.by_name.insert(name, slot);
        slot
    }

    fn remove_family_if_unused(&mut self, slot: u32) {
        let Some(entry) = self.families.get_mut(slot as usize) else {
            return;
        };
        if !entry.as_ref().is_some_and(Family::unused) {
            return;
        }
        if let Some(f) = entry.take() {
            self.definition_bytes = self.definition_bytes.saturating_sub(f.bytes());
            self.by_name.remove(&f.def.name);
            for n in exposed_names(&f.def.name, f.def.kind) {
                self.claimed.remove(&n);
            }
            self.free_families.push(slot);
        }
    }

    fn remove_series_if_unused(&mut self, id: SeriesId) {
        let removed = self
            .family_mut(id.family)
            .and_then(|f| f.remove_if_unused(id.slot));
        if let Some(labels) = removed {
            self.total_series = self.total_series.saturating_sub(1);
            let cost = SERIES_BYTES + labels;
            self.definition_bytes = self.definition_bytes.saturating_sub(cost);
            self.remove_family_if_unused(id.family);
        }
    }

    /// Takes a removed sample off the totals.
    fn forget_sample(&mut self, sample: &Sample) {
        self.total_samples = self.total_samples.saturating_sub(1);
        self.native_buckets = self.native_buckets.saturating_sub(sample.native_buckets());
    }

    /// Removes every sample of source `slot`, and the series and families left unused.
    fn drop_samples_of(&mut self, slot: u32) {
        let held = match self.sources.get_mut(slot) {
            Some(s) => std::mem::take(&mut s.held),
            None => return,
        };
        for (family, series) in held {
            let removed = self
                .family_mut(family)
                .and_then(|f| f.get_mut(series))
                .and_then(|s| s.remove_sample(slot));
            if let Some(sample) = removed {
                self.forget_sample(&sample);
            }
            self.remove_series_if_unused(SeriesId {
                family,
                slot: series,
            });
        }
    }
}

#[cfg(test)]
mod tests;
