//! A connection's id tables: the small integer ids of its `Define`s and `Series` and what
//! the store made of them.

use std::collections::HashMap;

use dawn_proto::{Define, SeriesDef};

use crate::store::{FamilyId, SeriesId, Store};

/// What became of a `Define`.
#[derive(Debug)]
pub(crate) enum MetricSlot {
    /// Admitted; the connection holds the family.
    Held { def: Define, family: FamilyId },
    /// Refused (invalid, reserved or conflicting); its series are refused quietly.
    Refused { def: Define },
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
    /// Admitted; the connection holds the series.
    Held { def: SeriesDef, series: SeriesId },
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

/// The id tables of one connection.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub(crate) metrics: HashMap<u32, MetricSlot>,
    pub(crate) series: HashMap<u32, SeriesSlot>,
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
