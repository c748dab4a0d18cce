//! Every metric family of one telemetry instance, in registration order (the order is the
//! metric's connection-local id), and the instance-wide dropped count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

use crate::spec::MetricSpec;
use dawn_proto::{MetricKind, ValidationError, validate_define};

use super::cell::{Cell, CounterCell, GaugeCell, HistogramCell};
use super::family::{FamilyContext, FamilyCore, ShipFamily};

/// Why a metric cannot be registered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    /// The spec breaks Prometheus' or the wire's rules.
    #[error("invalid metric: {0}")]
    Invalid(#[from] ValidationError),
    /// The spec is registered through the accessor of another kind.
    #[error("metric {name} is a {actual}, not a {expected}")]
    WrongKind {
        /// The metric.
        name: &'static str,
        /// The kind of the accessor used.
        expected: &'static str,
        /// The spec's kind.
        actual: &'static str,
    },
    /// Native buckets on a metric that is not a histogram, or with a schema or zero threshold
    /// Prometheus does not accept.
    #[error("metric {name}: invalid native histogram settings ({why})")]
    InvalidNative {
        /// The metric.
        name: &'static str,
        /// What is wrong.
        why: &'static str,
    },
    /// Another spec with the same name (but other help, labels, kind or buckets) is already
    /// registered.
    #[error("metric {name} is already registered with a different definition")]
    Conflict {
        /// The metric.
        name: &'static str,
    },
}

/// A registered family of any kind.
#[derive(Debug, Clone)]
pub(crate) enum AnyFamily {
    Counter(Arc<FamilyCore<CounterCell>>),
    Gauge(Arc<FamilyCore<GaugeCell>>),
    Histogram(Arc<FamilyCore<HistogramCell>>),
}

impl AnyFamily {
    pub(crate) fn ship(&self) -> &dyn ShipFamily {
        match self {
            AnyFamily::Counter(f) => f.as_ref(),
            AnyFamily::Gauge(f) => f.as_ref(),
            AnyFamily::Histogram(f) => f.as_ref(),
        }
    }
}

/// Ties a cell kind to its [`AnyFamily`] variant.
pub(crate) trait FamilyKind: Cell + Sized {
    fn wrap(family: Arc<FamilyCore<Self>>) -> AnyFamily;
    fn unwrap(family: &AnyFamily) -> Option<&Arc<FamilyCore<Self>>>;
}

macro_rules! family_kind {
    ($cell:ty, $variant:ident) => {
        impl FamilyKind for $cell {
            fn wrap(family: Arc<FamilyCore<Self>>) -> AnyFamily {
                AnyFamily::$variant(family)
            }

            fn unwrap(family: &AnyFamily) -> Option<&Arc<FamilyCore<Self>>> {
                match family {
                    AnyFamily::$variant(f) => Some(f),
                    _ => None,
                }
            }
        }
    };
}

family_kind!(CounterCell, Counter);
family_kind!(GaugeCell, Gauge);
family_kind!(HistogramCell, Histogram);

#[derive(Debug, Default)]
struct Families {
    list: Vec<AnyFamily>,
    by_name: HashMap<&'static str, usize>,
}

/// The registry.
#[derive(Debug)]
pub(crate) struct Registry {
    families: RwLock<Families>,
    ctx: FamilyContext,
    /// Whether specs asking for native buckets get them
    /// ([`crate::TelemetryConfig::native_histograms`]).
    native: bool,
}

impl Registry {
    /// A registry whose histograms get native buckets when their spec asks (tests).
    #[cfg(test)]
    pub(crate) fn new(max_series: usize) -> Self {
        Registry::with_native(max_series, true)
    }

    /// A registry whose histograms record native buckets when their spec asks (`native`)
    /// or never.
    pub(crate) fn with_native(max_series: usize, native: bool) -> Self {
        Registry {
            native,
            families: RwLock::default(),
            ctx: FamilyContext {
                max_series,
                dropped: Arc::new(AtomicU64::new(0)),
                uids: Arc::new(AtomicU64::new(0)),
            },
        }
    }

    /// The family of `spec`, registered on first use; the same family for the same spec.
    pub(crate) fn register<C: FamilyKind>(
        &self,
        spec: &MetricSpec,
    ) -> Result<Arc<FamilyCore<C>>, RegisterError> {
        // With native buckets off, every spec is registered (and compared) without them.
        let classic;
        let spec = if self.native || spec.native.is_none() {
            spec
        } else {
            classic = MetricSpec {
                native: None,
                ..*spec
            };
            &classic
        };
        if spec.kind != C::KIND {
            return Err(RegisterError::WrongKind {
                name: spec.name,
                expected: C::KIND.as_str(),
                actual: spec.kind.as_str(),
            });
        }
        let lookup = |families: &Families| -> Option<Result<Arc<FamilyCore<C>>, RegisterError>> {
            let index = *families.by_name.get(spec.name)?;
            let existing = families.list.get(index)?;
            Some(match C::unwrap(existing) {
                Some(f) if f.spec() == spec => Ok(f.clone()),
                _ => Err(RegisterError::Conflict { name: spec.name }),
            })
        };
        if let Some(found) = lookup(&self.families.read().unwrap_or_else(PoisonError::into_inner)) {
            return found;
        }
        validate_define(&spec.to_define(0))?;
        if let Some(native) = spec.native {
            let why = if spec.kind != MetricKind::Histogram {
                Some("only histograms have native buckets")
            } else if !native.is_valid() {
                Some("schema from -4 to 8, zero threshold finite and not negative")
            } else {
                None
            };
            if let Some(why) = why {
                return Err(RegisterError::InvalidNative {
                    name: spec.name,
                    why,
                });
            }
        }
        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = lookup(&families) {
            return found;
        }
        let family = Arc::new(FamilyCore::<C>::new(*spec, self.ctx.clone()));
        let index = families.list.len();
        families.list.push(C::wrap(family.clone()));
        families.by_name.insert(spec.name, index);
        Ok(family)
    }

    /// Registers `spec` with the accessor its kind calls for.
    pub(crate) fn register_any(&self, spec: &MetricSpec) -> Result<(), RegisterError> {
        match spec.kind {
            MetricKind::Counter => self.register::<CounterCell>(spec).map(drop),
            MetricKind::Gauge => self.register::<GaugeCell>(spec).map(drop),
            MetricKind::Histogram => self.register::<HistogramCell>(spec).map(drop),
        }
    }

    /// The families, in registration order; index `i` is metric id `i` on every connection.
    pub(crate) fn families(&self) -> Vec<AnyFamily> {
        self.families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .list
            .clone()
    }

    /// Records folded into an overflow series or refused, since the instance started.
    pub(crate) fn dropped(&self) -> u64 {
        self.ctx.dropped.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::specs::{self, PEERS};

    #[test]
    fn registration_is_idempotent_and_checked() {
        let r = Registry::new(10);
        let a = r.register::<GaugeCell>(&PEERS).unwrap();
        let b = r.register::<GaugeCell>(&PEERS).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(r.families().len(), 1);

        let err = r.register::<CounterCell>(&PEERS).unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric test_peers is a gauge, not a counter"
        );

        let other = MetricSpec {
            help: "something else",
            ..PEERS
        };
        assert!(matches!(
            r.register::<GaugeCell>(&other),
            Err(RegisterError::Conflict { name: "test_peers" })
        ));

        let bad = MetricSpec {
            name: "no-dashes",
            ..PEERS
        };
        let err = r.register::<GaugeCell>(&bad).unwrap_err();
        assert!(err.to_string().contains("invalid metric name"), "{err}");

        let native_gauge = MetricSpec {
            name: "test_native_gauge",
            native: Some(crate::NativeConfig::DEFAULT),
            ..PEERS
        };
        assert!(matches!(
            r.register::<GaugeCell>(&native_gauge),
            Err(RegisterError::InvalidNative { .. })
        ));
        let bad_schema = MetricSpec {
            name: "test_native_seconds",
            native: Some(crate::NativeConfig {
                schema: 9,
                ..crate::NativeConfig::DEFAULT
            }),
            ..crate::tests::specs::LATENCY
        };
        let err = r.register::<HistogramCell>(&bad_schema).unwrap_err();
        assert!(err.to_string().contains("schema from -4 to 8"), "{err}");
        assert_eq!(r.families().len(), 1);
    }

    #[test]
    fn the_whole_catalogue_registers() {
        let r = Registry::new(10);
        for spec in specs::ALL {
            r.register_any(spec).unwrap();
        }
        let names: Vec<_> = r.families().iter().map(|f| f.ship().spec().name).collect();
        let expected: Vec<_> = specs::ALL.iter().map(|s| s.name).collect();
        assert_eq!(names, expected);
    }
}
