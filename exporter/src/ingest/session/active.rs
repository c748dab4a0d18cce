//! What the frames of an attached client do to its id tables and health checks, and the
//! events they give.

use std::sync::Arc;

use dawn_proto::{
    BatchBuf, Define, Health, MetricKind, Retire, SeriesDef, UpdateRef, ValueRef, validate_define,
    validate_health, validate_label_values, validate_value_ref,
};

use super::checks::{Checks, Verdict, report_bytes};
use super::event::Event;
use super::output::Output;
use super::tables::{Forgotten, HeldSeries, MetricSlot, SeriesSlot, Tables};
use super::{End, Handles, SessionLimits, Sink};
use crate::metrics::{HealthLimit, IgnoredUpdate, ProtocolError, SeriesRejection};

/// The state of a session after its handshake.
pub(super) struct Active<H: Handles> {
    /// The client's incarnation, for messages.
    pub(super) incarnation: u64,
    pub(super) tables: Tables<H>,
    checks: Checks,
}

impl<H: Handles> Active<H> {
    pub(super) fn new(incarnation: u64, limits: &SessionLimits) -> Self {
        Active {
            incarnation,
            tables: Tables::new(limits.max_client_bytes),
            checks: Checks::new(limits.max_checks, limits.max_check_bytes),
        }
    }

    /// A `Define`: checked here, kept within the client's budget, then offered to the
    /// store. `Some` ends the session.
    pub(super) fn define(
        &mut self,
        out: &mut Output<H>,
        limits: &SessionLimits,
        def: Define,
    ) -> Option<End> {
        match self.tables.metrics.get(&def.id) {
            Some(MetricSlot::Kept { def: existing, .. }) => {
                if **existing != def {
                    let message = format!(
                        "metric id {} is already defined as {} on this connection; the new definition ({}) is ignored",
                        def.id, existing.name, def.name
                    );
                    out.error(ProtocolError::DuplicateId, message);
                }
                return None;
            }
            // A new definition replaces a refused one.
            Some(MetricSlot::Refused) => {}
            None => {
                let max = limits.max_metric_ids;
                if self.tables.metrics.len() >= max {
                    let message = format!("more than {max} metric definitions on one connection");
                    return Some(out.fatal(ProtocolError::Flood, message));
                }
            }
        }
        let id = def.id;
        if let Err(e) = validate_define(&def) {
            out.error((&e).into(), e.to_string());
            self.tables.refuse_metric(id);
            return None;
        }
        let def = Arc::new(def);
        // Refused until the store admits it (`Session::define_held`).
        if self.tables.keep_metric(Arc::clone(&def)) {
            out.event(Event::Define { id, def });
        } else {
            let message = format!(
                "metric {} (id {id}) refused: this client already has {} of its {} bytes of definitions (--ingest.max-client-bytes); its series are ignored",
                def.name,
                self.tables.bytes(),
                self.tables.max_bytes()
            );
            out.error(ProtocolError::MaxClientBytes, message);
            self.tables.refuse_metric(id);
        }
        None
    }

    /// A `Series`: checked here against its metric, kept within the client's budget, then
    /// offered to the store. `Some` ends the session.
    pub(super) fn series(
        &mut self,
        out: &mut Output<H>,
        limits: &SessionLimits,
        def: SeriesDef,
    ) -> Option<End> {
        match self.tables.series.get(&def.id) {
            Some(SeriesSlot::Kept { def: existing, .. }) => {
                if *existing != def {
                    let message = format!(
                        "series id {} is already defined as {} on this connection; the new definition is ignored",
                        def.id,
                        self.tables.describe_series(def.id)
                    );
                    out.error(ProtocolError::DuplicateId, message);
                }
                return None;
            }
            // A new definition replaces a refused one.
            Some(SeriesSlot::Refused) => {}
            None => {
                let max = limits.max_series_ids;
                if self.tables.series.len() >= max {
                    let message = format!("more than {max} series definitions on one connection");
                    return Some(out.fatal(ProtocolError::Flood, message));
                }
            }
        }
        let id = def.id;
        let (metric, family) = match self.tables.metrics.get(&def.metric) {
            None => {
                // Nothing of it is kept: its label values could be any size.
                let message = format!(
                    "series id {id} refers to metric id {}, which this connection never defined; the series is not kept",
                    def.metric
                );
                out.event(Event::SeriesRejected(SeriesRejection::UnknownMetric));
                out.error(ProtocolError::UnknownId, message);
                self.tables.remove_series(id);
                return None;
            }
            Some(MetricSlot::Kept {
                def: metric,
                family: Some(family),
            }) => (metric, *family),
            Some(MetricSlot::Kept { family: None, .. } | MetricSlot::Refused) => {
                out.event(Event::SeriesRejected(SeriesRejection::RefusedMetric));
                self.tables.refuse_series(id);
                return None;
            }
        };
        if let Err(e) = validate_label_values(metric, &def) {
            out.event(Event::SeriesRejected(SeriesRejection::InvalidLabels));
            out.error((&e).into(), e.to_string());
            self.tables.refuse_series(id);
            return None;
        }
        let label_values = def.label_values.clone();
        // Refused until the store admits it (`Session::series_held`).
        if self.tables.keep_series(def) {
            out.event(Event::Series {
                id,
                family,
                label_values,
            });
        } else {
            let reason = SeriesRejection::MaxClientBytes;
            let message = format!(
                "series id {id} refused: this client already has {} of its {} bytes of definitions (--ingest.max-client-bytes)",
                self.tables.bytes(),
                self.tables.max_bytes()
            );
            out.event(Event::SeriesRejected(reason));
            out.error_frame(reason.as_str(), message);
            self.tables.refuse_series(id);
        }
        None
    }

    /// A `Batch`: its valid updates of held series go to `sink`, as they are checked.
    pub(super) fn batch(&self, out: &mut Output<H>, batch: &BatchBuf, sink: &mut impl Sink<H>) {
        let mut refused = 0u64;
        for update in batch.updates() {
            let Some(&HeldSeries {
                series,
                kind,
                buckets,
            }) = self.tables.held.get(update.series)
            else {
                if self.tables.series.contains_key(&update.series) {
                    // Not admitted by the store (yet), or refused.
                    refused += 1;
                } else {
                    out.error_with(ProtocolError::UnknownId, || {
                        format!(
                            "update for series id {}, which this connection never defined",
                            update.series
                        )
                    });
                }
                continue;
            };
            // A valid value passes `validate_value_ref`'s checks, made here on the fields
            // at hand and the held series' kind and bucket count. Passing the whole value
            // down copied it through the stack, stored 8 bytes at a time and loaded back 16
            // at a time: a load that waited on the stores, for every update. What fails is
            // explained by the full check against the metric's definition.
            let fits = match update.value {
                ValueRef::Counter(_) => kind == MetricKind::Counter,
                ValueRef::Gauge(_) => kind == MetricKind::Gauge,
                ValueRef::Histogram(h) => {
                    kind == MetricKind::Histogram
                        && h.buckets.len() == usize::from(buckets)
                        && h.sum.is_finite()
                        && h.buckets.iter().try_fold(0u64, |t, &b| t.checked_add(b))
                            == Some(h.count)
                        // Native buckets take the full check below.
                        && h.native.is_none()
                }
            };
            if fits || self.check_fully(out, update) {
                sink.update(series, &update.value, update.series);
            }
        }
        if refused > 0 {
            out.event(Event::IgnoredUpdates {
                reason: IgnoredUpdate::RefusedSeries,
                n: refused,
            });
        }
    }

    /// Whether an update of a held series that the quick check did not pass (a native
    /// histogram, or an invalid value) is valid, by the full check against its metric's
    /// definition; an invalid one is answered. Kept out of line: inlined, the value it
    /// takes would live on the stack for every update.
    #[cold]
    #[inline(never)]
    fn check_fully(&self, out: &mut Output<H>, update: UpdateRef<'_>) -> bool {
        // A held series is kept, and so is its metric: a kept id is never redefined.
        let Some(metric) = self.tables.metric_of(update.series) else {
            return false;
        };
        match validate_value_ref(metric, update.value) {
            Ok(()) => true,
            Err(e) => {
                out.error_with((&e).into(), || {
                    format!(
                        "{e} (series {}); update ignored",
                        self.tables.describe_series(update.series)
                    )
                });
                false
            }
        }
    }

    /// A `Retire`: the held series are handed back.
    pub(super) fn retire(&mut self, out: &mut Output<H>, retire: Retire) {
        for id in retire.series {
            match self.tables.remove_series(id) {
                Some(Forgotten::Held(series)) => out.event(Event::Retire { series }),
                Some(Forgotten::NotHeld) => {}
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

    /// A `Health` report: passed on when valid and within the client's checks, cut to fit
    /// if needed.
    pub(super) fn health(&mut self, out: &mut Output<H>, health: Health) {
        if let Err(e) = validate_health(&health) {
            out.error((&e).into(), format!("{e}; health report ignored"));
            return;
        }
        let (check, bytes) = (health.check.clone(), report_bytes(&health));
        match self.checks.admit(health) {
            Verdict::Keep { report, cut } => {
                if cut {
                    let reason = HealthLimit::MaxCheckBytes;
                    let message = format!(
                        "health check {check:?} is {bytes} bytes, more than the {} allowed (--health.max-check-bytes); its message and details were cut",
                        self.checks.max_bytes()
                    );
                    out.event(Event::HealthLimited(reason));
                    out.error_frame(reason.as_str(), message);
                }
                out.event(Event::Health(report));
            }
            Verdict::Drop => {
                let reason = HealthLimit::MaxChecksPerClient;
                let message = format!(
                    "health check {check:?} dropped: this client already reported {} checks (--health.max-checks-per-client)",
                    self.checks.max_checks()
                );
                out.event(Event::HealthLimited(reason));
                out.error_frame(reason.as_str(), message);
            }
        }
    }
}
