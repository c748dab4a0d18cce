//! Writing the store through a [`SeriesWriter`] (the text [`Encoder`]: string appends of
//! pre-rendered labels plus number formatting; or the protobuf one), under the store's lock.
//!
//! A [`Snapshot`] holds that lock for one scrape. It can cut the exposition into
//! consecutive [`Part`]s of about equal size, which several threads render (and compress) at
//! once from the same moment of the store; written one after the other, the parts are
//! exactly the whole exposition.

use std::sync::MutexGuard;

use dawn_proto::MetricKind;

use super::family::Family;
use super::sample::{Total, total};
use super::{Inner, Store};
use crate::exposition::{Encoder, FamilyKind, Format, SeriesWriter};

/// Exposes the family `name` a second time under `alias` (same kind, same values), e.g.
/// `p2p_peers` as `p2p_peers_total` for `--compat.seed-names`. Skipped when a family named
/// `alias` exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The family exposed twice.
    pub name: String,
    /// Its second name.
    pub alias: String,
}

impl Store {
    /// Writes every family with at least one value, sorted by name; each series is the sum
    /// of its sources' samples.
    pub fn render(&self, encoder: &mut Encoder<'_>, aliases: &[Alias]) {
        self.snapshot(aliases).render(encoder);
    }

    /// [`Store::render`] to any [`SeriesWriter`] (the protobuf exposition's encoder).
    pub(crate) fn render_to(&self, writer: &mut impl SeriesWriter, aliases: &[Alias]) {
        self.snapshot(aliases).render(writer);
    }

    /// The store held still (its lock taken) until the snapshot is dropped, for a scrape
    /// rendered in parts.
    pub(crate) fn snapshot<'a>(&'a self, aliases: &'a [Alias]) -> Snapshot<'a> {
        Snapshot {
            inner: self.lock(),
            aliases,
        }
    }
}

/// The store under its lock, as one scrape renders it (see [`Store::snapshot`]). Shared by
/// reference, several threads render its parts at once.
#[derive(Debug)]
pub(crate) struct Snapshot<'a> {
    inner: MutexGuard<'a, Inner>,
    aliases: &'a [Alias],
}

/// A position in the exposition: slot `slot` of the `unit`-th family exposed (in the
/// exposition's order, each alias a family of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cut {
    unit: usize,
    slot: usize,
}

/// A consecutive stretch of the exposition, from one [`Cut`] up to (without) another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    start: Cut,
    end: Cut,
}

impl Part {
    /// The whole exposition.
    pub(crate) const WHOLE: Part = Part {
        start: Cut { unit: 0, slot: 0 },
        end: Cut {
            unit: usize::MAX,
            slot: 0,
        },
    };
}

impl Snapshot<'_> {
    /// The families as exposed, in order: each name with its family, each followed by its
    /// aliases.
    fn units(&self) -> Vec<(&str, &Family)> {
        let inner = &*self.inner;
        let mut units = Vec::with_capacity(inner.by_name.len());
        for (name, slot) in &inner.by_name {
            let Some(family) = inner.families.get(*slot as usize).and_then(Option::as_ref) else {
                continue;
            };
            units.push((name.as_str(), family));
            for alias in self.aliases.iter().filter(|a| a.name == *name) {
                if !inner.by_name.contains_key(&alias.alias) {
                    units.push((alias.alias.as_str(), family));
                }
            }
        }
        units
    }

    /// Writes the whole exposition of the store.
    pub(crate) fn render(&self, writer: &mut impl SeriesWriter) {
        self.render_part(writer, Part::WHOLE);
    }

    /// About how many bytes of text the store renders to: within a few percent for
    /// families whose series have labels of similar length and all have values (series
    /// without a value yet are counted as if they had one).
    pub(crate) fn estimated_bytes(&self) -> usize {
        self.units()
            .iter()
            .map(|(name, family)| family_bytes(name, family))
            .sum()
    }

    /// `n` consecutive parts of about equal text (by [`Snapshot::estimated_bytes`]'s
    /// estimate), cut between series, that together are the whole exposition.
    pub(crate) fn split(&self, n: usize) -> Vec<Part> {
        let units = self.units();
        let sizes: Vec<usize> = units.iter().map(|(n, f)| family_bytes(n, f)).collect();
        let total: usize = sizes.iter().sum();
        let n = n.max(1);
        let mut cuts = vec![Part::WHOLE.start];
        let mut before = 0usize;
        let mut unit = 0usize;
        for k in 1..n {
            let target = total / n * k;
            while unit < units.len() && before + sizes[unit] <= target {
                before += sizes[unit];
                unit += 1;
            }
            let cut = match units.get(unit) {
                // Inside this family, at the slot whose share of its text reaches `target`.
                Some((_, family)) if sizes[unit] > 0 => {
                    let slots = family.slots();
                    let slot = ((target - before) as u128 * slots as u128)
                        .div_ceil(sizes[unit] as u128) as usize;
                    Cut {
                        unit,
                        slot: slot.min(slots),
                    }
                }
                _ => Cut { unit, slot: 0 },
            };
            cuts.push(cut.max(*cuts.last().unwrap_or(&cut)));
        }
        cuts.push(Part::WHOLE.end);
        cuts.windows(2)
            .map(|w| Part {
                start: w[0],
                end: w[1],
            })
            .collect()
    }

    /// Writes `part` of the exposition (see [`Snapshot::split`]).
    pub(crate) fn render_part(&self, writer: &mut impl SeriesWriter, part: Part) {
        let mut scratch = Vec::new();
        for (unit, (name, family)) in self.units().into_iter().enumerate() {
            let at = |slot| Cut { unit, slot };
            if at(usize::MAX) < part.start {
                continue;
            }
            if at(0) >= part.end {
                break;
            }
            let from = if unit == part.start.unit {
                part.start.slot
            } else {
                0
            };
            let to = if unit == part.end.unit {
                part.end.slot
            } else {
                usize::MAX
            };
            render_family(writer, family, name, from..to, &mut scratch);
        }
    }
}

/// Lines a series of `family` renders to, and about how many bytes (under `name`).
fn family_bytes(name: &str, family: &Family) -> usize {
    // Name, labels, braces, a space, a value of about 8 digits and the newline.
    let labels = family.series().next().map_or(0, |s| s.labels.len());
    let line = name.len() + labels + 12;
    let per_series = match &family.def.buckets {
        None => line,
        // `_bucket` and `,le=""` (13 bytes) and the bound on each bucket line; `_sum` and
        // `_count` lines.
        Some(b) => {
            let les: usize = b
                .les(Format::Text)
                .iter()
                .map(|le| line + 13 + le.len())
                .sum();
            les + 2 * (line + 6)
        }
    };
    family.len() * per_series
}

/// Writes the series of `family` in the slots `slots` under `name`, with the family's
/// `# HELP`/`# TYPE` lines before its first series with a value, unless a series with a
/// value precedes `slots` (an earlier part then wrote them).
fn render_family(
    writer: &mut impl SeriesWriter,
    family: &Family,
    name: &str,
    slots: std::ops::Range<usize>,
    scratch: &mut Vec<u64>,
) {
    let kind = match family.def.kind {
        MetricKind::Counter => FamilyKind::Counter,
        MetricKind::Gauge => FamilyKind::Gauge,
        MetricKind::Histogram => FamilyKind::Histogram,
    };
    let bounds = family.def.buckets.as_ref();
    let mut header = family
        .series_in(0..slots.start)
        .any(|s| !s.samples.is_empty());
    for series in family.series_in(slots) {
        let Some(sum) = total(series.samples.iter().map(|(_, s)| s), scratch) else {
            continue;
        };
        if !header {
            writer.family(name, &family.def.help, kind);
            header = true;
        }
        match sum {
            Total::Counter(c) => writer.counter(name, &series.labels, c),
            Total::Gauge(g) => writer.gauge(name, &series.labels, g),
            Total::Histogram {
                count,
                sum,
                buckets,
                native: None,
            } => writer.histogram(name, &series.labels, bounds, buckets, count, sum),
            Total::Histogram {
                count,
                sum,
                buckets,
                native: Some(native),
            } => {
                let classic = (bounds, buckets, count, sum);
                writer.native_histogram(name, &series.labels, classic, native.exposed());
            }
        }
    }
}

/// A store of many series for the tests of rendering in parts (here and in the HTTP
/// side's gzip body).
#[cfg(test)]
pub(crate) mod fixture {
    use dawn_proto::{Define, HistogramValue, MetricKind, Value};

    use super::super::{SourceKey, Store, StoreLimits};

    fn define(id: u32, name: &str, kind: MetricKind, buckets: &[f64]) -> Define {
        Define {
            id,
            name: name.to_owned(),
            help: format!("Test family {name}."),
            kind,
            label_names: vec!["peer".to_owned(), "kind".to_owned()],
            buckets: buckets.to_vec(),
        }
    }

    /// `n` series in each of four families (a counter, a gauge, a histogram of 11 buckets,
    /// and a counter whose first half of the series have no value yet), from one source.
    pub(crate) fn store(n: usize) -> Store {
        let store = Store::new(StoreLimits {
            max_series: 8 * n + 8,
            max_series_per_metric: 2 * n + 2,
            max_samples: 8 * n + 8,
            max_samples_per_source: 8 * n + 8,
            ..StoreLimits::default()
        });
        let source = store.attach(&SourceKey::new("dawn-node", "n1"), 1).source;
        let families = [
            define(1, "a_requests_total", MetricKind::Counter, &[]),
            define(2, "b_queue_depth", MetricKind::Gauge, &[]),
            define(
                3,
                "c_latency_seconds",
                MetricKind::Histogram,
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ],
            ),
            define(4, "d_late_total", MetricKind::Counter, &[]),
        ];
        for def in &families {
            let family = store.define(def).expect("define");
            for i in 0..n {
                let labels = [format!("peer-{i:06}"), format!("k\"{}\\", i % 7)];
                let series = store.series(family, &labels).expect("series");
                let value = match def.kind {
                    MetricKind::Counter => Value::Counter(1_000 + (i as u64 * 7919) % 100_000),
                    MetricKind::Gauge => Value::Gauge(i as f64 / 8.0 - 3.0),
                    MetricKind::Histogram => {
                        let mut buckets = vec![0; 12];
                        buckets[i % 12] = 1 + i as u64 % 5;
                        buckets[(i + 5) % 12] += 2;
                        let count = buckets.iter().sum();
                        Value::Histogram(HistogramValue {
                            count,
                            sum: i as f64 * 0.1,
                            buckets,
                        })
                    }
                };
                if def.id == 4 && i < n / 2 {
                    continue;
                }
                store.apply(source, 1, [(series, &value, 0)]);
            }
        }
        store
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(store: &Store, aliases: &[Alias], format: Format) -> String {
        let mut out = String::new();
        let mut e = Encoder::new(&mut out, format);
        store.render(&mut e, aliases);
        e.finish();
        out
    }

    fn in_parts(store: &Store, aliases: &[Alias], format: Format, n: usize) -> Vec<String> {
        let snapshot = store.snapshot(aliases);
        let parts = snapshot.split(n);
        assert_eq!(parts.len(), n);
        let mut texts = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let mut out = String::new();
            let mut e = Encoder::new(&mut out, format);
            snapshot.render_part(&mut e, *part);
            if i + 1 == n {
                e.finish();
            } else {
                e.end_part();
            }
            texts.push(out);
        }
        texts
    }

    #[test]
    fn parts_are_the_whole_exposition() {
        let aliases = [Alias {
            name: "b_queue_depth".into(),
            alias: "b_queue_depth_total".into(),
        }];
        for n_series in [0, 1, 3, 50, 401] {
            let store = fixture::store(n_series);
            for format in [Format::Text, Format::OpenMetrics] {
                let want = whole(&store, &aliases, format);
                for n in 1..=9 {
                    let got = in_parts(&store, &aliases, format, n);
                    assert_eq!(
                        got.concat(),
                        want,
                        "{n_series} series in each family, {n} parts, {format:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn halves_are_about_equal_and_the_estimate_close() {
        let store = fixture::store(2_000);
        let whole_len = whole(&store, &[], Format::Text).len();
        let estimate = store.snapshot(&[]).estimated_bytes();
        let off = estimate.abs_diff(whole_len) as f64 / whole_len as f64;
        assert!(off < 0.2, "estimated {estimate} B, rendered {whole_len} B");
        let halves = in_parts(&store, &[], Format::Text, 2);
        let (a, b) = (halves[0].len() as f64, halves[1].len() as f64);
        assert!((a / b - 1.0).abs() < 0.1, "halves of {a} and {b} bytes");
    }
}
