//! [`Telemetry`]: the node's entry point to metrics, health and readiness.

use std::fmt;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::spec::MetricSpec;
use dawn_proto::{Detail, Health, HealthStatus, ValidationError, validate_health};

use super::cell::{CounterCell, GaugeCell, HistogramCell};
use super::config::TelemetryConfig;
use super::error::TelemetryError;
use super::families::{CounterFamily, GaugeFamily, HistogramFamily};
use super::registry::RegisterError;
use super::shipper::{self, Shared, ShutdownOutcome};

/// A telemetry instance: its metric registry, health and readiness, and the background
/// shipper that pushes them to the exporter.
///
/// Cheap to clone (an `Arc` inside); there are no process globals, so a process may run any
/// number of independent instances, each with its own connection. Dropping the last clone
/// stops the shipper as [`Telemetry::shutdown`] does, without waiting for it. Handles and
/// families keep working after that; their records are simply no longer shipped.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    shipper: Mutex<ShipperState>,
}

enum ShipperState {
    Running(mpsc::Receiver<ShutdownOutcome>, JoinHandle<()>),
    Finished(ShutdownOutcome),
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl Telemetry {
    /// Starts an instance: checks `config` and spawns the shipper thread, which connects in
    /// the background. Never waits for the exporter. With `config.ship` false no shipper
    /// is started: the instance records in memory only.
    pub fn start(config: TelemetryConfig) -> Result<Telemetry, TelemetryError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(TelemetryError::Config(problems));
        }
        let ship = config.ship;
        let shared = Arc::new(Shared::new(config, rand::random::<u64>()));
        let state = if ship {
            let (tx, rx) = mpsc::channel();
            let thread = shipper::spawn(shared.clone(), tx).map_err(TelemetryError::Spawn)?;
            ShipperState::Running(rx, thread)
        } else {
            ShipperState::Finished(ShutdownOutcome::NotDelivered)
        };
        Ok(Telemetry {
            inner: Arc::new(Inner {
                shared,
                shipper: Mutex::new(state),
            }),
        })
    }

    /// The family of counter `spec`, registered on first use.
    ///
    /// # Panics
    ///
    /// When `spec` is not a valid counter or conflicts with a registered metric of the same
    /// name: a programming error in a `'static` spec. [`Telemetry::try_counter`] returns it
    /// instead.
    pub fn counter(&self, spec: &MetricSpec) -> CounterFamily {
        self.try_counter(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The family of counter `spec`, or why it cannot be registered.
    pub fn try_counter(&self, spec: &MetricSpec) -> Result<CounterFamily, RegisterError> {
        self.registry()
            .register::<CounterCell>(spec)
            .map(CounterFamily)
    }

    /// The family of gauge `spec`, registered on first use.
    ///
    /// # Panics
    ///
    /// As [`Telemetry::counter`]; [`Telemetry::try_gauge`] returns the error instead.
    pub fn gauge(&self, spec: &MetricSpec) -> GaugeFamily {
        self.try_gauge(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The family of gauge `spec`, or why it cannot be registered.
    pub fn try_gauge(&self, spec: &MetricSpec) -> Result<GaugeFamily, RegisterError> {
        self.registry().register::<GaugeCell>(spec).map(GaugeFamily)
    }

    /// The family of histogram `spec`, registered on first use.
    ///
    /// # Panics
    ///
    /// As [`Telemetry::counter`]; [`Telemetry::try_histogram`] returns the error instead.
    pub fn histogram(&self, spec: &MetricSpec) -> HistogramFamily {
        self.try_histogram(spec).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The family of histogram `spec`, or why it cannot be registered.
    pub fn try_histogram(&self, spec: &MetricSpec) -> Result<HistogramFamily, RegisterError> {
        self.registry()
            .register::<HistogramCell>(spec)
            .map(HistogramFamily)
    }

    /// Registers every spec with the accessor of its kind, so that each is defined to the
    /// exporter (an unlabelled metric also shows its series, at zero) before first use.
    pub fn register_all(&self, specs: &[MetricSpec]) -> Result<(), RegisterError> {
        specs
            .iter()
            .try_for_each(|s| self.registry().register_any(s))
    }

    /// Reports the status of health check `check`; sent to the exporter at once when it
    /// differs from the last report, and again after every reconnect.
    ///
    /// Fails, changing nothing, when the report breaks the wire's rules (check name not
    /// `[a-zA-Z_][a-zA-Z0-9_]*`, text too long, too many details).
    pub fn set_health(
        &self,
        check: &str,
        status: HealthStatus,
        message: impl Into<String>,
        details: Vec<Detail>,
    ) -> Result<(), ValidationError> {
        let health = Health {
            check: check.to_owned(),
            status,
            message: message.into(),
            details,
        };
        validate_health(&health)?;
        if self.inner.shared.signals.set_health(health) {
            self.inner.shared.wake();
        }
        Ok(())
    }

    /// Reports whether the node is ready to serve; sent at once when it changes.
    pub fn set_ready(&self, ready: bool) {
        if self.inner.shared.signals.set_ready(ready) {
            self.inner.shared.wake();
        }
    }

    /// Stops the shipper after a final batch and `Goodbye` (or, when disconnected, one quick
    /// attempt to deliver them), waiting at most the configured shutdown timeout. Blocks the
    /// calling thread for that long at worst; later calls return the first outcome at once.
    pub fn shutdown(&self) -> ShutdownOutcome {
        let mut state = self
            .inner
            .shipper
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let outcome = match &*state {
            ShipperState::Finished(outcome) => return *outcome,
            ShipperState::Running(done, _) => {
                self.inner.shared.stop();
                // The shipper bounds its own final work by the same timeout; the margin covers
                // scheduling.
                let wait = self.inner.shared.config.shutdown_timeout + Duration::from_millis(250);
                match done.recv_timeout(wait) {
                    Ok(outcome) => outcome,
                    Err(RecvTimeoutError::Timeout) => ShutdownOutcome::TimedOut,
                    Err(RecvTimeoutError::Disconnected) => ShutdownOutcome::NotDelivered,
                }
            }
        };
        if let ShipperState::Running(_, thread) =
            std::mem::replace(&mut *state, ShipperState::Finished(outcome))
            && outcome != ShutdownOutcome::TimedOut
        {
            // The thread has sent its outcome and is exiting; a panic there was already
            // reported by the panic hook.
            let _ = thread.join();
        }
        outcome
    }

    /// Records folded into an overflow series or refused (non-finite observations) since the
    /// instance started; reported to the exporter in every `Heartbeat`.
    pub fn dropped(&self) -> u64 {
        self.registry().dropped()
    }

    /// Whether a session with the exporter is established now.
    pub fn is_connected(&self) -> bool {
        self.inner.shared.is_connected()
    }

    /// Number of sessions established so far (handshake and full snapshot sent).
    pub fn sessions(&self) -> u64 {
        self.inner.shared.sessions()
    }

    /// Connection attempts that have ended, in success or failure: progress a caller can
    /// wait on ("the shipper has tried again") instead of sleeping.
    pub fn connect_attempts(&self) -> u64 {
        self.inner.shared.connect_attempts()
    }

    /// Collection passes run so far, connected or not (one per flush interval): after
    /// `n` more passes, every series has been compared, shipped or expired `n` more times.
    pub fn flush_passes(&self) -> u64 {
        self.inner.shared.passes()
    }

    /// This instance's random incarnation, sent in `Hello`: a new one is a genuine reset.
    pub fn incarnation(&self) -> u64 {
        self.inner.shared.incarnation
    }

    /// The configuration the instance runs with.
    pub fn config(&self) -> &TelemetryConfig {
        &self.inner.shared.config
    }

    fn registry(&self) -> &super::registry::Registry {
        &self.inner.shared.registry
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("node_id", &self.inner.shared.config.node_id)
            .field("socket", &self.inner.shared.config.socket_path)
            .field("incarnation", &self.inner.shared.incarnation)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}
