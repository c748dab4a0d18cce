//! Writing the store through an [`Encoder`]: string appends of pre-rendered labels plus
//! number formatting, under the store's lock.

use dawn_proto::MetricKind;

use super::Store;
use super::family::Family;
use super::sample::{Total, total};
use crate::exposition::{Encoder, FamilyKind};

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
        let inner = self.lock();
        let mut scratch = Vec::new();
        for (name, slot) in &inner.by_name {
            let Some(family) = inner.families.get(*slot as usize).and_then(Option::as_ref) else {
                continue;
            };
            render_family(encoder, family, name, &mut scratch);
            for alias in aliases.iter().filter(|a| a.name == *name) {
                if !inner.by_name.contains_key(&alias.alias) {
                    render_family(encoder, family, &alias.alias, &mut scratch);
                }
            }
        }
    }
}

fn render_family(encoder: &mut Encoder<'_>, family: &Family, name: &str, scratch: &mut Vec<u64>) {
    let kind = match family.def.kind {
        MetricKind::Counter => FamilyKind::Counter,
        MetricKind::Gauge => FamilyKind::Gauge,
        MetricKind::Histogram => FamilyKind::Histogram,
    };
    let format = encoder.format();
    let les = family
        .def
        .buckets
        .as_ref()
        .map_or(&[][..], |b| b.les(format));
    let mut header = false;
    for series in family.series() {
        let Some(sum) = total(series.samples.iter().map(|(_, s)| s), scratch) else {
            continue;
        };
        if !header {
            encoder.family(name, &family.def.help, kind);
            header = true;
        }
        match sum {
            Total::Counter(c) => encoder.sample_u64(name, &series.labels, c),
            Total::Gauge(g) => encoder.sample(name, &series.labels, g),
            Total::Histogram {
                count,
                sum,
                buckets,
            } => encoder.histogram(name, &series.labels, les, buckets, count, sum),
        }
    }
}
