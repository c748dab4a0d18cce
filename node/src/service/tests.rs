//! The service with real connections: `p2p_peers` follows the peer table exactly, however
//! connects and disconnects interleave.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dawn_telemetry::{Telemetry, TelemetryConfig, testing::TempDir};

use super::{Agents, NodeMetrics, Service, ServiceConfig};
use crate::agents::AgentRegistry;
use crate::catalogue;
use crate::p2p::{Identity, Network, NetworkConfig, NoObserver, PeerPolicy, handler_fn};
use crate::resilience::{BreakerConfig, RequestLimitsConfig};

/// Rounds of the stress test.
const ROUNDS: usize = 200;
/// Peers that join, and leave, in each round.
const PER_ROUND: usize = 3;
/// A ceiling for what must happen at once on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(20);

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A service on 127.0.0.1 with telemetry kept in memory, and its metrics.
fn service(dir: &TempDir) -> (Service, Arc<NodeMetrics>) {
    let mut telemetry = TelemetryConfig::new(dir.socket(), "stress");
    telemetry.ship = false;
    let telemetry = Telemetry::start(telemetry).expect("telemetry");
    telemetry
        .register_all(catalogue::ALL)
        .expect("the catalogue registers");
    let metrics = Arc::new(NodeMetrics::new(&telemetry));
    let config = ServiceConfig {
        listen: loopback(),
        bootstrap: Vec::new(),
        gossip_interval: Duration::from_secs(3600),
        policy: PeerPolicy {
            max_peers: 1000,
            ..PeerPolicy::default()
        },
        breaker: BreakerConfig::default(),
        rate_limit: RequestLimitsConfig::default(),
        transport: Default::default(),
    };
    let agents = Agents {
        registry: Arc::new(AgentRegistry::new()),
        load_error: None,
    };
    let identity = Identity::generate().expect("identity");
    let service = Service::start(&identity, config, telemetry, Arc::clone(&metrics), agents)
        .expect("the service starts");
    (service, metrics)
}

/// A peer that dials `hub` and stays until shut down.
async fn join(hub: SocketAddr) -> Network {
    let identity = Identity::generate().expect("identity");
    let network = Network::start(
        &identity,
        NetworkConfig::new(loopback()),
        Arc::new(handler_fn(|_, message: Vec<u8>| async move { message })),
        Arc::new(NoObserver),
    )
    .expect("a peer binds");
    network.connect(hub, None).await.expect("the hub admits it");
    network
}

/// Waits until `done` holds, for at most [`PATIENCE`]; `false` if it never did.
async fn until(done: impl Fn() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !done() {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_peer_gauge_ends_on_the_table_count_after_concurrent_connects_and_drops() {
    let dir = TempDir::default();
    let (service, metrics) = service(&dir);
    let hub = service.local_addr().expect("bound");
    let network = service.shared.network().expect("started").clone();
    let mut present: Vec<Network> = Vec::new();
    let mut gone = Vec::new();
    for round in 0..ROUNDS {
        // The peers of the last round leave while this round's join, all at once. (A
        // shutdown closes at once; only its wait for the close to be delivered is left
        // running.)
        gone.extend(
            std::mem::take(&mut present)
                .into_iter()
                .map(|peer| tokio::spawn(async move { peer.shutdown().await })),
        );
        let joining: Vec<_> = (0..PER_ROUND).map(|_| tokio::spawn(join(hub))).collect();
        for task in joining {
            present.push(task.await.expect("a peer joined"));
        }
        // Quiescence: the table holds exactly this round's peers ...
        assert!(
            until(|| network.peer_count() == PER_ROUND).await,
            "round {round}: the table holds {} peers, not {PER_ROUND}",
            network.peer_count()
        );
        // ... and the gauge, with no further event to come, must end on the same count.
        let table = network.peer_count() as f64;
        assert!(
            until(|| metrics.peers_recorded() == table).await,
            "round {round}: p2p_peers is {}, the table holds {table}",
            metrics.peers_recorded()
        );
    }
    for peer in present {
        peer.shutdown().await;
    }
    for task in gone {
        task.await.expect("a peer left");
    }
    assert!(until(|| network.peer_count() == 0).await);
    assert!(until(|| metrics.peers_recorded() == 0.0).await);
    service.shutdown().await;
}
