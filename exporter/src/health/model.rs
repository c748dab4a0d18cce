//! What the exporter knows about its clients' health, and the verdicts drawn from it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use dawn_proto::{Detail, DetailValue, Health, HealthStatus, Hello};

use super::report::{CheckReport, HealthReport};
use crate::store::SourceKey;

/// Name of the exporter's own check.
pub(crate) const TELEMETRY_CHECK: &str = "telemetry";

/// A client goes stale after this many flush intervals without a frame.
pub(crate) const STALE_FLUSHES: u32 = 3;

/// Verdict of `/health/live`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Heartbeats are fresh, or the exporter is inside its start-up grace.
    Alive,
    /// The node has been silent past the liveness timeout.
    Dead {
        /// Why, in one line.
        reason: String,
    },
}

/// Verdict of `/health/ready`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// A node is connected, fresh, and its last `Ready` was true.
    Ready,
    /// Not ready.
    NotReady {
        /// Why, in one line.
        reason: String,
    },
}

#[derive(Debug)]
struct Client {
    source: SourceKey,
    version: String,
    flush_interval: Duration,
    last_seen: Instant,
    ready: Option<bool>,
    checks: BTreeMap<String, Health>,
}

impl Client {
    fn stale_after(&self) -> Duration {
        self.flush_interval.saturating_mul(STALE_FLUSHES)
    }

    fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.last_seen) <= self.stale_after()
    }
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<u64, Client>,
    /// Last frame from any client (or connection or disconnection).
    last_seen: Option<Instant>,
    /// The last client to disconnect, and when.
    last_gone: Option<(SourceKey, Instant)>,
}

/// Health state of every client plus the exporter's own `telemetry` check.
///
/// Time is an input: every verdict takes `now`.
#[derive(Debug)]
pub struct HealthModel {
    started: Instant,
    liveness_timeout: Duration,
    inner: Mutex<Inner>,
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

impl HealthModel {
    /// A model for an exporter started at `started`. The liveness timeout is also the
    /// start-up grace during which no node is expected yet.
    pub fn new(started: Instant, liveness_timeout: Duration) -> Self {
        HealthModel {
            started,
            liveness_timeout,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// When the exporter started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// A client completed its handshake on connection `conn`.
    pub fn connect(&self, conn: u64, hello: &Hello, now: Instant) {
        let mut inner = self.lock();
        inner.clients.insert(
            conn,
            Client {
                source: SourceKey::new(&hello.client_name, &hello.node_id),
                version: hello.client_version.clone(),
                flush_interval: Duration::from_millis(u64::from(hello.flush_interval_ms.max(1))),
                last_seen: now,
                ready: None,
                checks: BTreeMap::new(),
            },
        );
        inner.last_seen = Some(now);
    }

    /// A frame arrived on connection `conn`: the client is alive.
    pub fn seen(&self, conn: u64, now: Instant) {
        let mut inner = self.lock();
        if let Some(c) = inner.clients.get_mut(&conn) {
            c.last_seen = now;
            inner.last_seen = Some(now);
        }
    }

    /// A client's health check report.
    pub fn report(&self, conn: u64, health: Health) {
        if let Some(c) = self.lock().clients.get_mut(&conn) {
            c.checks.insert(health.check.clone(), health);
        }
    }

    /// A client's readiness.
    pub fn set_ready(&self, conn: u64, ready: bool) {
        if let Some(c) = self.lock().clients.get_mut(&conn) {
            c.ready = Some(ready);
        }
    }

    /// Connection `conn` ended; its checks go with it.
    pub fn disconnect(&self, conn: u64, now: Instant) {
        let mut inner = self.lock();
        if let Some(c) = inner.clients.remove(&conn) {
            inner.last_gone = Some((c.source, now));
            inner.last_seen = Some(now);
        }
    }

    /// `dawn_node_up`: a client is connected and its heartbeats are fresh.
    pub fn node_up(&self, now: Instant) -> bool {
        self.lock().clients.values().any(|c| c.fresh(now))
    }

    /// `(version, node_id)` of every connected client, for `dawn_node_build_info`.
    pub fn node_builds(&self) -> Vec<(String, String)> {
        let mut v: Vec<_> = self
            .lock()
            .clients
            .values()
            .map(|c| (c.version.clone(), c.source.node_id.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The verdict of `/health/live`.
    pub fn liveness(&self, now: Instant) -> Liveness {
        let inner = self.lock();
        let timeout = self.liveness_timeout;
        match inner.last_seen {
            None => {
                let up = now.saturating_duration_since(self.started);
                if up <= timeout {
                    Liveness::Alive
                } else {
                    Liveness::Dead {
                        reason: format!(
                            "no node has connected in the {}s since the exporter started (liveness timeout {}s)",
                            secs(up),
                            secs(timeout)
                        ),
                    }
                }
            }
            Some(last) => {
                let silent = now.saturating_duration_since(last);
                if silent <= timeout {
                    return Liveness::Alive;
                }
                let who = match (&inner.last_gone, inner.clients.is_empty()) {
                    (Some((source, _)), true) => format!("node {source} disconnected and"),
                    _ => "the node".to_owned(),
                };
                Liveness::Dead {
                    reason: format!(
                        "{who} has been silent for {}s (liveness timeout {}s)",
                        secs(silent),
                        secs(timeout)
                    ),
                }
            }
        }
    }

    /// The verdict of `/health/ready`.
    pub fn readiness(&self, now: Instant) -> Readiness {
        let inner = self.lock();
        let mut clients: Vec<&Client> = inner.clients.values().collect();
        clients.sort_by(|a, b| a.source.cmp(&b.source));
        if clients
            .iter()
            .any(|c| c.fresh(now) && c.ready == Some(true))
        {
            return Readiness::Ready;
        }
        let reason = match clients.first() {
            None => "no node connected".to_owned(),
            Some(c) if !c.fresh(now) => format!(
                "heartbeats of node {} are stale (last frame {}s ago)",
                c.source,
                secs(now.saturating_duration_since(c.last_seen))
            ),
            Some(c) if c.ready == Some(false) => format!("node {} reported not ready", c.source),
            Some(c) => format!("node {} has not reported readiness yet", c.source),
        };
        Readiness::NotReady { reason }
    }

    /// The exporter's own check: a node connected with fresh heartbeats.
    fn telemetry_check(&self, inner: &Inner, now: Instant) -> CheckReport {
        let mut clients: Vec<&Client> = inner.clients.values().collect();
        clients.sort_by(|a, b| a.source.cmp(&b.source));
        let fresh = clients.iter().filter(|c| c.fresh(now)).count();
        let mut details = vec![
            detail("clients", DetailValue::Int(clients.len() as i64)),
            detail("fresh_clients", DetailValue::Int(fresh as i64)),
        ];
        if let Some(c) = clients
            .iter()
            .min_by_key(|c| now.saturating_duration_since(c.last_seen))
        {
            let ago = secs(now.saturating_duration_since(c.last_seen));
            details.push(detail("last_frame_seconds_ago", DetailValue::Float(ago)));
        }
        let (status, message) = if fresh > 0 {
            let names: Vec<String> = clients
                .iter()
                .filter(|c| c.fresh(now))
                .map(|c| c.source.to_string())
                .collect();
            (
                HealthStatus::Healthy,
                format!("node {} connected, heartbeats fresh", names.join(", ")),
            )
        } else if let Some(c) = clients.first() {
            (
                HealthStatus::Unhealthy,
                format!(
                    "heartbeats of node {} are stale: last frame {}s ago, expected every {}s",
                    c.source,
                    secs(now.saturating_duration_since(c.last_seen)),
                    secs(c.flush_interval)
                ),
            )
        } else if let Some((source, at)) = &inner.last_gone {
            (
                HealthStatus::Unhealthy,
                format!(
                    "node {source} disconnected {}s ago",
                    secs(now.saturating_duration_since(*at))
                ),
            )
        } else {
            let up = now.saturating_duration_since(self.started);
            if up <= self.liveness_timeout {
                (
                    HealthStatus::Degraded,
                    format!("waiting for node (exporter started {}s ago)", secs(up)),
                )
            } else {
                (
                    HealthStatus::Unhealthy,
                    format!(
                        "no node has connected in the {}s since the exporter started",
                        secs(up)
                    ),
                )
            }
        };
        CheckReport {
            status,
            message,
            details,
        }
    }

    /// Every check: the node's (worst report per name across clients) and `telemetry`.
    fn checks_locked(&self, inner: &Inner, now: Instant) -> BTreeMap<String, CheckReport> {
        let mut checks: BTreeMap<String, CheckReport> = BTreeMap::new();
        let mut clients: Vec<&Client> = inner.clients.values().collect();
        clients.sort_by(|a, b| a.source.cmp(&b.source));
        for c in clients {
            for h in c.checks.values() {
                let worse = checks
                    .get(&h.check)
                    .is_none_or(|have| h.status > have.status);
                if worse {
                    checks.insert(
                        h.check.clone(),
                        CheckReport {
                            status: h.status,
                            message: h.message.clone(),
                            details: h.details.clone(),
                        },
                    );
                }
            }
        }
        checks.insert(TELEMETRY_CHECK.to_owned(), self.telemetry_check(inner, now));
        checks
    }

    /// Every check's status, for `dawn_health_check_status`.
    pub fn check_statuses(&self, now: Instant) -> Vec<(String, HealthStatus)> {
        let inner = self.lock();
        self.checks_locked(&inner, now)
            .into_iter()
            .map(|(name, c)| (name, c.status))
            .collect()
    }

    /// The whole report of `/health`.
    pub fn report_at(&self, now: Instant) -> HealthReport {
        let inner = self.lock();
        HealthReport::new(
            self.checks_locked(&inner, now),
            now.saturating_duration_since(self.started),
        )
    }
}

fn detail(key: &str, value: DetailValue) -> Detail {
    Detail {
        key: key.to_owned(),
        value,
    }
}
