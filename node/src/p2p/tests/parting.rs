//! A node closing peers for lack of room hands them addresses first: the refused newcomer
//! and the shed peer both receive the handler's parting request before the close code.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use dawn_telemetry::BackoffPolicy;

use super::support::{Recorder, Seen, endpoint, eventually, identity};
use crate::p2p::{
    BoxFuture, CloseCode, DisconnectReason, Handler, Network, NodeId, PeerObserver, PeerPolicy,
    Sender,
};

/// Answers requests with `ok`, records them, and parts with `parting:<peer id>`.
#[derive(Default)]
struct Parting {
    received: Mutex<Vec<(NodeId, Vec<u8>)>>,
}

impl Handler for Parting {
    fn request(&self, sender: Sender, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>> {
        self.received
            .lock()
            .expect("lock")
            .push((sender.node_id, message));
        Box::pin(async { b"ok".to_vec() })
    }

    fn parting(&self, peer: &NodeId) -> Option<Vec<u8>> {
        Some(format!("parting:{peer}").into_bytes())
    }
}

struct Node {
    network: Network,
    events: Arc<Recorder>,
    handler: Arc<Parting>,
}

fn start(max_peers: usize) -> Node {
    let events = Arc::new(Recorder::default());
    let handler = Arc::new(Parting::default());
    let network = Network::with_endpoint(
        endpoint(&identity()),
        PeerPolicy {
            max_peers,
            ..PeerPolicy::default()
        },
        BackoffPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        Arc::clone(&handler) as Arc<dyn Handler>,
        Arc::clone(&events) as Arc<dyn PeerObserver>,
    );
    Node {
        network,
        events,
        handler,
    }
}

fn closed_with(code: CloseCode) -> impl Fn(&Seen) -> bool {
    move |seen| matches!(seen, Seen::Disconnected(_, DisconnectReason::Remote { code: Some(c), .. }, _) if *c == code)
}

/// Waits until `node` got `parting:<its id>` from `from` and was then closed with `code`.
async fn parted(node: &Node, from: NodeId, code: CloseCode) {
    let (handler, me) = (Arc::clone(&node.handler), node.network.node_id());
    let expected = format!("parting:{me}").into_bytes();
    eventually("the parting request arrives", move || {
        handler
            .received
            .lock()
            .expect("lock")
            .contains(&(from, expected.clone()))
    })
    .await;
    let events = Arc::clone(&node.events);
    eventually("then the close code", move || {
        events.count(closed_with(code)) == 1
    })
    .await;
}

#[tokio::test]
async fn a_full_node_hands_a_refused_newcomer_its_parting_request_before_closing() {
    let full = start(1);
    let (a, b) = (start(8), start(8));
    a.network
        .connect(full.network.local_addr(), None)
        .await
        .expect("first peer admitted");
    // b's dial succeeds, then the full node sends its request and closes (code 2).
    b.network
        .connect(full.network.local_addr(), None)
        .await
        .expect("the handshake completes");
    parted(&b, full.network.node_id(), CloseCode::PeerLimit).await;
    assert_eq!(full.network.peer_count(), 1);
    assert!(a.network.is_connected(&full.network.node_id()));
}

#[tokio::test]
async fn a_full_node_sheds_its_oldest_inbound_peer_down_to_its_target() {
    // Limit 4, target 3.
    let hub = start(4);
    let peers: Vec<Node> = (0..4).map(|_| start(8)).collect();
    for peer in &peers {
        peer.network
            .connect(hub.network.local_addr(), None)
            .await
            .expect("admitted");
    }
    let net = hub.network.clone();
    eventually("the hub admits all four", move || net.peer_count() == 4).await;
    assert!(!hub.network.wants_peers());
    // Full, but nobody is waiting for room: nothing is shed.
    assert!(hub.network.shed(Duration::ZERO).is_empty());
    // A newcomer refused: room is made for one.
    let newcomer = start(8);
    newcomer
        .network
        .connect(hub.network.local_addr(), None)
        .await
        .expect("the handshake completes");
    parted(&newcomer, hub.network.node_id(), CloseCode::PeerLimit).await;
    let shed = hub.network.shed(Duration::ZERO);
    assert_eq!(shed, vec![peers[0].network.node_id()], "the oldest only");
    parted(&peers[0], hub.network.node_id(), CloseCode::Rebalanced).await;
    let net = hub.network.clone();
    eventually("back to its target", move || net.peer_count() == 3).await;
    // Room again: the newcomer gets in. Full again, and one more refused, but peers younger
    // than the minimum age are kept.
    newcomer
        .network
        .connect(hub.network.local_addr(), None)
        .await
        .expect("room again");
    let net = hub.network.clone();
    eventually("full again", move || net.peer_count() == 4).await;
    let late = start(8);
    late.network
        .connect(hub.network.local_addr(), None)
        .await
        .expect("the handshake completes");
    parted(&late, hub.network.node_id(), CloseCode::PeerLimit).await;
    assert!(hub.network.shed(Duration::from_secs(3600)).is_empty());
}
