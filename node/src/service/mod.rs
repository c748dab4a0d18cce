//! The running node: what it does with the network. The p2p layer moves bytes between
//! authenticated peers; this module gives them meaning and records every event in the
//! metric catalogue.
//!
//! - `dispatch.rs`: the [`Handler`](crate::p2p::Handler) — decode, rate-limit, route,
//!   reply, count;
//! - `methods.rs`: the JSON-RPC methods ([`methods`] names them);
//! - `outbound.rs`: calls to other peers through their circuit breakers;
//! - `gossip.rs`: the address book and the peer exchange;
//! - `connections.rs`: the connection lifecycle → `p2p_connections_total`, and the one
//!   writer of `p2p_peers` (it follows the peer table's count);
//! - `checks.rs`: the health rules; `metrics.rs`: the metric handles.
//!
//! `docs/node.md` describes the behaviour for operators.

mod checks;
mod connections;
mod dispatch;
mod gossip;
pub mod methods;
mod metrics;
mod outbound;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::agents::AgentRegistry;
use crate::limited_log::LimitedLog;
use crate::p2p::{
    AddressBook, BookConfig, DEFAULT_REDIAL_BACKOFF, Identity, Network, NetworkConfig, NodeId,
    PeerAddr, PeerPolicy, Rotation, RotationConfig, SourceAddress, TransportError,
    TransportSettings,
};
use crate::resilience::{BreakerConfig, Breakers, RequestLimits, RequestLimitsConfig};
use dawn_telemetry::Telemetry;

pub use checks::{
    AGENT_FAILURE_MEMORY, AgentFacts, DiscoveryFacts, HealthCheck, NodeFacts, Report, StorageCheck,
    storage as storage_health,
};
pub use metrics::NodeMetrics;

use dispatch::ServiceNoise;

/// How often breaker timeouts, the rate limiter's sweep and the health checks run.
const MAINTENANCE_TICK: Duration = Duration::from_millis(250);
/// Health checks are recomputed every this many ticks.
const HEALTH_EVERY_TICKS: u32 = 4;
/// Shortest isolation that makes `discovery` unhealthy (see [`checks::discovery`]).
const MIN_DISCOVERY_GRACE: Duration = Duration::from_secs(60);

/// What [`Service::start`] needs besides the identity, telemetry and agents.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// UDP address of the endpoint.
    pub listen: SocketAddr,
    /// Peers to join and keep connected.
    pub bootstrap: Vec<PeerAddr>,
    /// Gossip period.
    pub gossip_interval: Duration,
    /// Peer limit and trust.
    pub policy: PeerPolicy,
    /// Circuit breaker per peer.
    pub breaker: BreakerConfig,
    /// Rate limits per sender, per source address and global.
    pub rate_limit: RequestLimitsConfig,
    /// Transport limits and timeouts.
    pub transport: TransportSettings,
}

/// The agents the node serves, and why one could not be loaded.
#[derive(Debug)]
pub struct Agents {
    /// The registry serving `agent/list` and `agent/call`.
    pub registry: Arc<AgentRegistry>,
    /// Why an agent is missing (e.g. the kv agent's file is corrupt), for `agents` health.
    pub load_error: Option<String>,
}

/// State shared by the handler, the observer and the background tasks.
struct Shared {
    node_id: NodeId,
    started: Instant,
    config: ServiceConfig,
    telemetry: Telemetry,
    metrics: Arc<NodeMetrics>,
    agents: Agents,
    /// The last internal failure of an agent tool, for the `agents` check.
    agent_failure: Mutex<Option<(Instant, String)>>,
    limiter: Mutex<RequestLimits<NodeId, SourceAddress>>,
    /// The service's log of what peers can repeat at will, rate-limited.
    noise: LimitedLog<ServiceNoise>,
    breakers: Mutex<Breakers<NodeId>>,
    book: Mutex<AddressBook>,
    /// What peers announced of their peers, and when to rotate an outbound peer next.
    rotation: Mutex<Rotation>,
    /// Wakes the dial task (news of addresses, a lost peer, a failed dial).
    dial_now: Notify,
    /// Set right after the endpoint is bound; handlers running before that see `None`.
    network: OnceLock<Network>,
    /// Since when the node has had no peer (`None` while it has one).
    isolated_since: Mutex<Option<Instant>>,
    next_request_id: AtomicI64,
}

/// Locks `mutex`, taking the data of a poisoned one: every critical section here is a
/// single update of a self-consistent structure.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sends `check`'s report (the telemetry client sends it only when it changed).
pub fn report_check(telemetry: &Telemetry, check: HealthCheck, (status, message, details): Report) {
    if let Err(e) = telemetry.set_health(check.name(), status, message, details) {
        tracing::warn!(check = check.name(), error = %e, "cannot report a health check");
    }
}

impl Shared {
    fn network(&self) -> Option<&Network> {
        self.network.get()
    }

    fn request_id(&self) -> i64 {
        self.next_request_id.fetch_add(1, Ordering::Relaxed)
    }

    fn report(&self, check: HealthCheck, report: Report) {
        report_check(&self.telemetry, check, report);
    }

    fn note_agent_failure(&self, error: String) {
        *lock(&self.agent_failure) = Some((Instant::now(), error));
    }

    /// Recomputes the checks judged on the node's state (the telemetry client sends a report
    /// only when it changed).
    fn report_health(&self) {
        for (check, report) in checks::evaluate(&self.facts()) {
            self.report(check, report);
        }
    }

    /// What the health checks are judged on, now.
    fn facts(&self) -> NodeFacts {
        let peers = self.network().map_or(0, Network::peer_count);
        let agents = AgentFacts {
            agents: self.agents.registry.ids().map(str::to_owned).collect(),
            load_error: self.agents.load_error.clone(),
            last_failure: lock(&self.agent_failure)
                .as_ref()
                .map(|(at, e)| (at.elapsed(), e.clone())),
        };
        let isolated_for = {
            let mut since = lock(&self.isolated_since);
            match (peers, *since) {
                (0, None) => *since = Some(Instant::now()),
                (0, Some(_)) => {}
                (_, _) => *since = None,
            }
            since.map_or(Duration::ZERO, |s| s.elapsed())
        };
        let discovery = DiscoveryFacts {
            bootstrap: self.config.bootstrap.len(),
            peers,
            known: lock(&self.book).len(),
            isolated_for,
            grace: MIN_DISCOVERY_GRACE.max(self.config.gossip_interval * 3),
        };
        NodeFacts {
            peers,
            agents,
            discovery,
        }
    }

    /// Moves breakers whose open period ended to half-open (so the gauge shows it even
    /// when nobody calls), drops idle rate-limit state and writes the due log counts.
    fn maintain(&self) {
        let now = Instant::now();
        for (peer, transition) in lock(&self.breakers).handle_timeout(now) {
            tracing::info!(peer = %peer.short(), %transition, "circuit breaker");
            self.metrics.breaker_transition(&peer, transition);
        }
        lock(&self.limiter).sweep(now);
        self.noise.write_due();
    }
}

/// The running node service. Stop it with [`Service::shutdown`].
pub struct Service {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("node_id", &self.shared.node_id)
            .field("listen", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Binds the endpoint, starts serving peers and clients, dials the bootstrap peers and
    /// starts gossip and the health checks. Must run inside a tokio runtime.
    ///
    /// Fails only when the endpoint cannot be bound (port in use, bad address).
    pub fn start(
        identity: &Identity,
        config: ServiceConfig,
        telemetry: Telemetry,
        metrics: Arc<NodeMetrics>,
        agents: Agents,
    ) -> Result<Service, TransportError> {
        metrics.agents_known(&agents.registry.list());
        let shared = Arc::new(Shared {
            node_id: identity.node_id(),
            started: Instant::now(),
            limiter: Mutex::new(RequestLimits::new(config.rate_limit)),
            noise: LimitedLog::default(),
            breakers: Mutex::new(Breakers::new(config.breaker)),
            book: Mutex::new(AddressBook::new(
                identity.node_id(),
                BookConfig::for_gossip(config.gossip_interval),
            )),
            rotation: Mutex::new(Rotation::new(
                identity.node_id(),
                RotationConfig::for_gossip(config.gossip_interval),
                Instant::now(),
            )),
            dial_now: Notify::new(),
            config: config.clone(),
            telemetry,
            metrics,
            agents,
            agent_failure: Mutex::new(None),
            network: OnceLock::new(),
            isolated_since: Mutex::new(None),
            next_request_id: AtomicI64::new(1),
        });
        let network = Network::start(
            identity,
            NetworkConfig {
                listen: config.listen,
                transport: config.transport.clone(),
                policy: config.policy.clone(),
                backoff: DEFAULT_REDIAL_BACKOFF,
            },
            Arc::new(dispatch::Dispatcher::new(Arc::clone(&shared))),
            Arc::new(connections::ConnectionRecorder::new(Arc::clone(&shared))),
        )?;
        // Nothing else sets it, and this happens once.
        let _ = shared.network.set(network.clone());
        for peer in &config.bootstrap {
            lock(&shared.book).add_bootstrap(peer.clone());
            network.maintain(peer.clone());
        }
        if config.policy.reject_unknown && config.policy.trusted.is_empty() {
            tracing::warn!(
                "reject-unknown is on and no trusted peers are listed: every peer will be refused"
            );
        }
        shared.report_health();
        let tasks = vec![
            tokio::spawn(gossip::run(Arc::clone(&shared))),
            tokio::spawn(gossip::dial(Arc::clone(&shared))),
            tokio::spawn(maintenance(Arc::clone(&shared))),
            tokio::spawn(connections::record_peer_count(
                Arc::clone(&shared),
                network.watch_peer_count(),
            )),
        ];
        Ok(Service { shared, tasks })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.shared.network().map(Network::local_addr)
    }

    /// The node's p2p id.
    pub fn node_id(&self) -> NodeId {
        self.shared.node_id
    }

    /// Closes every connection (peers see code 1, "node shutting down") and stops the
    /// background tasks.
    pub async fn shutdown(self) {
        for task in &self.tasks {
            task.abort();
        }
        self.shared.noise.write_all();
        if let Some(network) = self.shared.network() {
            network.shutdown().await;
        }
    }
}

/// Breaker timeouts and the limiter sweep every tick; health checks every few ticks.
async fn maintenance(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(MAINTENANCE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u32 = 0;
    loop {
        tick.tick().await;
        shared.maintain();
        n = n.wrapping_add(1);
        if n.is_multiple_of(HEALTH_EVERY_TICKS) {
            shared.report_health();
        }
    }
}
