//! A metric family: its definition and its series, each with one sample per source.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::mem::size_of;

use dawn_proto::{Define, MetricKind};
use hashbrown::HashTable;

use super::sample::{Sample, Samples};
use crate::exposition::{BucketBounds, render_labels};

/// The parts of a definition that every client must agree on.
#[derive(Debug)]
pub(crate) struct Definition {
    pub(crate) name: String,
    /// The first help text received; later definitions may word it differently.
    pub(crate) help: String,
    pub(crate) kind: MetricKind,
    pub(crate) label_names: Vec<String>,
    /// Histogram bounds with pre-rendered `le` values; `None` for other kinds.
    pub(crate) buckets: Option<BucketBounds>,
}

impl Definition {
    pub(crate) fn new(def: &Define) -> Self {
        Definition {
            name: def.name.clone(),
            help: def.help.clone(),
            kind: def.kind,
            label_names: def.label_names.clone(),
            buckets: (def.kind == MetricKind::Histogram).then(|| BucketBounds::new(&def.buckets)),
        }
    }

    /// Why `def` (same name) disagrees with this definition, if it does.
    pub(crate) fn conflict(&self, def: &Define) -> Option<String> {
        if def.kind != self.kind {
            return Some(format!(
                "it is a {} here but was defined as a {}",
                def.kind.as_str(),
                self.kind.as_str()
            ));
        }
        if def.label_names != self.label_names {
            return Some(format!(
                "labels [{}] differ from the defined [{}]",
                def.label_names.join(", "),
                self.label_names.join(", ")
            ));
        }
        let ours = self.buckets.as_ref().map_or(&[][..], |b| b.bounds());
        let same_buckets = ours.len() == def.buckets.len()
            && ours
                .iter()
                .zip(&def.buckets)
                .all(|(a, b)| a.to_bits() == b.to_bits());
        if !same_buckets {
            return Some(format!(
                "buckets {:?} differ from the defined {:?}",
                def.buckets, ours
            ));
        }
        None
    }
}

/// What a series costs in the store beyond its rendered labels: the struct, its slot and
/// its lookup entry (counted against `--store.max-definition-bytes`).
pub(crate) const SERIES_BYTES: usize = size_of::<Series>() + 64;

const _: () = assert!(size_of::<Series>() == 64, "a series is one cache line");

/// One label set of a family.
///
/// One cache line, aligned to one: applying an update touches a series' labels-free part
/// only, and at tens of thousands of series the store's ingest time is mostly waiting for
/// these lines (a 96-byte series spanned two lines half the time).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Series {
    /// `a="x",b="y"`, escaped, rendered once; also what the family's lookup compares.
    pub(crate) labels: Box<str>,
    /// Connections that defined this series and have not retired it.
    pub(crate) refs: u32,
    /// One sample per source that reported a value, keyed by source slot.
    pub(crate) samples: Samples,
}

impl Series {
    /// Removes `source`'s sample and gives it back, if it had one.
    pub(crate) fn remove_sample(&mut self, source: u32) -> Option<Sample> {
        self.samples.remove(source)
    }

    fn unused(&self) -> bool {
        self.refs == 0 && self.samples.is_empty()
    }
}

/// A metric family and its series, in a slab so that handles stay small integers.
#[derive(Debug)]
pub(crate) struct Family {
    pub(crate) def: Definition,
    /// Connections holding this definition.
    pub(crate) definers: u32,
    series: Vec<Option<Series>>,
    free: Vec<u32>,
    /// The slot of every live series, by the hash of its labels, which are compared in the
    /// slab: 4 bytes a bucket where a map keyed by the labels took 24 (a second pointer to
    /// them), which counts at a million series since a table is up to half empty after it
    /// doubles.
    by_labels: HashTable<u32>,
    hasher: RandomState,
}

/// The labels of the series in `slot` of `series`, if it is live.
fn labels_at(series: &[Option<Series>], slot: u32) -> Option<&str> {
    let s = series.get(slot as usize)?.as_ref()?;
    Some(&s.labels)
}

impl Family {
    pub(crate) fn new(def: Definition) -> Self {
        Family {
            def,
            definers: 0,
            series: Vec::new(),
            free: Vec::new(),
            by_labels: HashTable::new(),
            hasher: RandomState::new(),
        }
    }

    /// Series held now.
    pub(crate) fn len(&self) -> usize {
        self.by_labels.len()
    }

    /// What the definition costs against `--store.max-definition-bytes`: the family, its
    /// text and its bucket bounds (kept as numbers and as rendered `le` values).
    pub(crate) fn bytes(&self) -> usize {
        let def = &self.def;
        let labels: usize = def
            .label_names
            .iter()
            .map(|l| l.len() + size_of::<String>())
            .sum();
        let bounds = def.buckets.as_ref().map_or(0, |b| b.bounds().len() * 64);
        size_of::<Family>() + def.name.len() + def.help.len() + labels + bounds
    }

    /// Whether nothing refers to this family any more.
    pub(crate) fn unused(&self) -> bool {
        self.definers == 0 && self.by_labels.is_empty()
    }

    /// The labels string `label_values` renders to.
    pub(crate) fn render(&self, label_values: &[String]) -> String {
        render_labels(
            self.def
                .label_names
                .iter()
                .map(String::as_str)
                .zip(label_values.iter().map(String::as_str)),
        )
    }

    /// The slot of the series with these rendered labels.
    pub(crate) fn find(&self, labels: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(labels);
        self.by_labels
            .find(hash, |&slot| labels_at(&self.series, slot) == Some(labels))
            .copied()
    }

    /// Adds a series (the caller checked that it is new and within the caps).
    pub(crate) fn insert(&mut self, labels: String) -> u32 {
        let hash = self.hasher.hash_one(labels.as_str());
        let series = Series {
            labels: labels.into_boxed_str(),
            refs: 0,
            samples: Samples::default(),
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.series[slot as usize] = Some(series);
                slot
            }
            None => {
                self.series.push(Some(series));
                (self.series.len() - 1) as u32
            }
        };
        let Family {
            series,
            by_labels,
            hasher,
            ..
        } = self;
        // Growing the table rehashes each slot's labels.
        let rehash = |&s: &u32| hasher.hash_one(labels_at(series, s).unwrap_or_default());
        by_labels.insert_unique(hash, slot, rehash);
        slot
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut Series> {
        self.series.get_mut(slot as usize).and_then(Option::as_mut)
    }

    /// Drops the series in `slot` if nothing refers to it any more; the length of its
    /// rendered labels if it did.
    pub(crate) fn remove_if_unused(&mut self, slot: u32) -> Option<usize> {
        let entry = self.series.get_mut(slot as usize)?;
        if !entry.as_ref().is_some_and(Series::unused) {
            return None;
        }
        let series = entry.take()?;
        let hash = self.hasher.hash_one(&*series.labels);
        if let Ok(found) = self.by_labels.find_entry(hash, |&s| s == slot) {
            found.remove();
        }
        self.free.push(slot);
        Some(series.labels.len())
    }

    /// Live series in slot order (the order of the exposition).
    pub(crate) fn series(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().flatten()
    }

    /// Slots, live or free: the bound of [`Family::series_in`]'s ranges.
    pub(crate) fn slots(&self) -> usize {
        self.series.len()
    }

    /// The live series of the slots in `range` (clamped to [`Family::slots`]), in order.
    pub(crate) fn series_in(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = &Series> {
        let end = range.end.min(self.series.len());
        let start = range.start.min(end);
        self.series[start..end].iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn define(kind: MetricKind, labels: &[&str], buckets: &[f64]) -> Define {
        Define {
            id: 0,
            name: "m".into(),
            help: "h".into(),
            kind,
            label_names: labels.iter().map(|s| s.to_string()).collect(),
            buckets: buckets.to_vec(),
        }
    }

    #[test]
    fn conflicts_name_what_differs() {
        let d = Definition::new(&define(MetricKind::Histogram, &["a"], &[1.0, 2.0]));
        assert_eq!(
            d.conflict(&define(MetricKind::Histogram, &["a"], &[1.0, 2.0])),
            None
        );
        let mut other_help = define(MetricKind::Histogram, &["a"], &[1.0, 2.0]);
        other_help.help = "different".into();
        assert_eq!(d.conflict(&other_help), None);
        let kind = d.conflict(&define(MetricKind::Gauge, &["a"], &[])).unwrap();
        assert!(
            kind.contains("gauge here but was defined as a histogram"),
            "{kind}"
        );
        let labels = d
            .conflict(&define(MetricKind::Histogram, &["b"], &[1.0, 2.0]))
            .unwrap();
        assert!(
            labels.contains("labels [b] differ from the defined [a]"),
            "{labels}"
        );
        let buckets = d
            .conflict(&define(MetricKind::Histogram, &["a"], &[1.0]))
            .unwrap();
        assert!(buckets.contains("buckets [1.0] differ"), "{buckets}");
    }

    #[test]
    fn slots_are_reused_and_lookups_follow() {
        let mut f = Family::new(Definition::new(&define(MetricKind::Gauge, &["a"], &[])));
        let a = f.insert(f.render(&["x".into()]));
        let b = f.insert(f.render(&["y".into()]));
        assert_eq!(f.find("a=\"y\""), Some(b));
        assert_eq!(f.remove_if_unused(a), Some(5));
        assert_eq!(f.find("a=\"x\""), None);
        let c = f.insert(f.render(&["z".into()]));
        assert_eq!(c, a);
        assert_eq!(f.len(), 2);
        let order: Vec<_> = f.series().map(|s| s.labels.to_string()).collect();
        assert_eq!(order, ["a=\"z\"", "a=\"y\""]);
    }

    #[test]
    fn lookups_survive_the_table_growing_and_slots_coming_back() {
        let mut f = Family::new(Definition::new(&define(MetricKind::Gauge, &["a"], &[])));
        let labels = |i: u32| f.render(&[format!("v{i}")]);
        let all: Vec<String> = (0..5000).map(labels).collect();
        for (i, l) in all.iter().enumerate() {
            assert_eq!(f.insert(l.clone()), i as u32);
        }
        for (i, l) in all.iter().enumerate() {
            assert_eq!(f.find(l), Some(i as u32), "{l}");
        }
        for slot in (0..5000).step_by(2) {
            assert_eq!(f.remove_if_unused(slot), Some(all[slot as usize].len()));
        }
        assert_eq!(f.len(), 2500);
        for (i, l) in all.iter().enumerate() {
            let want = (i % 2 == 1).then_some(i as u32);
            assert_eq!(f.find(l), want, "{l}");
        }
        // Freed slots are reused; the new labels are found there, the old ones not.
        let again = f.render(&["again".into()]);
        let slot = f.insert(again.clone());
        assert_eq!(slot % 2, 0);
        assert_eq!(f.find(&again), Some(slot));
        assert_eq!(f.find(&all[slot as usize]), None);
    }
}
