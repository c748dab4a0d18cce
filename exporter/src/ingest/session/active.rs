//! What the frames of an attached client do to its id tables, and the events they give.

use std::sync::Arc;

use dawn_proto::{
    Batch, Define, Health, Retire, SeriesDef, validate_define, validate_health,
    validate_label_values, validate_value,
};

use super::event::Event;
use super::output::Output;
use super::tables::{HeldSeries, MetricSlot, SeriesSlot, Tables};
use super::{End, Handles, SessionLimits};
use crate::metrics::{IgnoredUpdate, ProtocolError, SeriesRejection};

/// The state of a session after its handshake.
pub(super) struct Active<H: Handles> {
    /// The client's incarnation, for messages.
    pub(super) incarnation: u64,
    pub(super) tables: Tables<H>,
}

impl<H: Handles> Active<H> {
    pub(super) fn new(incarnation: u64) -> Self {
        Active {
            incarnation,
            tables: Tables::default(),
        }
    }

    /// A `Define`: checked here, then offered to the store. `Some` ends the session.
    pub(super) fn define(
        &mut self,
        out: &mut Output<H>,
        limits: &SessionLimits,
        def: Define,
    ) -> Option<End> {
        if let Some(existing) = self.tables.metrics.get(&def.id) {
            if *existing.def != def {
                let message = format!(
                    "metric id {} is already defined as {} on this connection; the new definition ({}) is ignored",
                    def.id, existing.def.name, def.name
                );
                out.error(ProtocolError::DuplicateId, message);
            }
            return None;
        }
        let max = limits.max_metric_ids;
        if self.tables.metrics.len() >= max {
            let message = format!("more than {max} metric definitions on one connection");
            return Some(out.fatal(ProtocolError::Flood, message));
        }
        let def = Arc::new(def);
        match validate_define(&def) {
            Err(e) => out.error((&e).into(), e.to_string()),
            Ok(()) => out.event(Event::Define {
                id: def.id,
                def: Arc::clone(&def),
            }),
        }
        // Refused until the store admits it (`Session::define_held`).
        let slot = MetricSlot { def, family: None };
        self.tables.metrics.insert(slot.def.id, slot);
        None
    }

    /// A `Series`: checked here, then offered to the store. `Some` ends the session.
    pub(super) fn series(
        &mut self,
        out: &mut Output<H>,
        limits: &SessionLimits,
        def: SeriesDef,
    ) -> Option<End> {
        if let Some(existing) = self.tables.series.get(&def.id) {
            if existing.def != def {
                let message = format!(
                    "series id {} is already defined as {} on this connection; the new definition is ignored",
                    def.id,
                    self.tables.describe_series(def.id)
                );
                out.error(ProtocolError::DuplicateId, message);
            }
            return None;
        }
        let max = limits.max_series_ids;
        if self.tables.series.len() >= max {
            let message = format!("more than {max} series definitions on one connection");
            return Some(out.fatal(ProtocolError::Flood, message));
        }
        match self.tables.metrics.get(&def.metric) {
            None => {
                let message = format!(
                    "series id {} refers to metric id {}, which this connection never defined",
                    def.id, def.metric
                );
                out.event(Event::SeriesRejected(SeriesRejection::RefusedMetric));
                out.error(ProtocolError::UnknownId, message);
            }
            Some(MetricSlot { family: None, .. }) => {
                out.event(Event::SeriesRejected(SeriesRejection::RefusedMetric));
            }
            Some(MetricSlot {
                def: metric,
                family: Some(family),
            }) => match validate_label_values(metric, &def) {
                Err(e) => {
                    out.event(Event::SeriesRejected(SeriesRejection::InvalidLabels));
                    out.error((&e).into(), e.to_string());
                }
                Ok(()) => out.event(Event::Series {
                    id: def.id,
                    family: *family,
                    label_values: def.label_values.clone(),
                }),
            },
        }
        // Refused until the store admits it (`Session::series_held`).
        self.tables
            .series
            .insert(def.id, SeriesSlot { def, held: None });
        None
    }

    /// A `Batch`: its valid updates of held series go into `valid` as (series, index).
    pub(super) fn batch(
        &self,
        out: &mut Output<H>,
        batch: &Batch,
        valid: &mut Vec<(H::Series, usize)>,
    ) {
        valid.clear();
        let mut refused = 0u64;
        for (i, update) in batch.updates.iter().enumerate() {
            match self.tables.series.get(&update.series) {
                None => {
                    let message = format!(
                        "update for series id {}, which this connection never defined",
                        update.series
                    );
                    out.error(ProtocolError::UnknownId, message);
                }
                Some(SeriesSlot { held: None, .. }) => refused += 1,
                Some(SeriesSlot {
                    held: Some(HeldSeries { series, metric }),
                    ..
                }) => match validate_value(metric, &update.value) {
                    Ok(()) => valid.push((*series, i)),
                    Err(e) => {
                        let message = format!(
                            "{e} (series {}); update ignored",
                            self.tables.describe_series(update.series)
                        );
                        out.error((&e).into(), message);
                    }
                },
            }
        }
        if refused > 0 {
            out.event(Event::IgnoredUpdates {
                reason: IgnoredUpdate::RefusedSeries,
                n: refused,
            });
        }
        if !valid.is_empty() {
            out.event(Event::Apply {
                updates: valid.len(),
            });
        }
    }

    /// A `Retire`: the held series are handed back.
    pub(super) fn retire(&mut self, out: &mut Output<H>, retire: Retire) {
        for id in retire.series {
            match self.tables.series.remove(&id) {
                Some(SeriesSlot {
                    held: Some(held), ..
                }) => out.event(Event::Retire {
                    series: held.series,
                }),
                Some(SeriesSlot { held: None, .. }) => {}
                None => {
                    let message =
                        format!("retire of series id {id}, which this connection never defined");
                    out.error(ProtocolError::UnknownId, message);
                }
            }
        }
    }

    /// A store refusal reported by the applier: a counter went backwards.
    pub(super) fn counter_decreased(&self, out: &mut Output<H>, tag: u32) {
        let message = format!(
            "{} went backwards within incarnation {}; the previous total is kept",
            self.tables.describe_series(tag),
            self.incarnation
        );
        out.error(ProtocolError::CounterDecrease, message);
    }
}

/// A `Health` report: passed on when valid.
pub(super) fn health<H: Handles>(out: &mut Output<H>, health: Health) {
    match validate_health(&health) {
        Ok(()) => out.event(Event::Health(health)),
        Err(e) => out.error((&e).into(), format!("{e}; health report ignored")),
    }
}
