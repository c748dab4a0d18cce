//! The network layer: admission (limit, trust, self, duplicates), lifecycle events and
//! the redialing of peers that are down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::support::{REQUEST_TIMEOUT, Seen, TestNode, eventually, expect_err, identity};
use crate::p2p::{
    CloseCode, Direction, DisconnectReason, Endpoint, Identity, Network, PeerAddr, PeerPolicy,
    RejectReason, TransportError, TransportSettings,
};

fn remote_close(code: CloseCode) -> impl Fn(&Seen) -> bool {
    move |seen| matches!(seen, Seen::Disconnected(_, DisconnectReason::Remote { code: Some(c), .. }, _) if *c == code)
}

#[tokio::test]
async fn peers_beyond_the_limit_are_rejected_with_a_close_code() {
    let server = TestNode::start(PeerPolicy {
        max_peers: 1,
        ..PeerPolicy::default()
    });
    let (a, b) = (
        TestNode::start(PeerPolicy::default()),
        TestNode::start(PeerPolicy::default()),
    );

    a.network
        .connect(server.addr(), Some(server.id()))
        .await
        .expect("first peer admitted");
    let events = Arc::clone(&server.events);
    let a_id = a.id();
    eventually("server counts the first peer", move || {
        events.events().contains(&Seen::Connected(a_id, 1))
    })
    .await;

    // The handshake succeeds, then the server refuses and closes with PeerLimit.
    let _ = b.network.connect(server.addr(), Some(server.id())).await;
    let events = Arc::clone(&server.events);
    let b_id = b.id();
    eventually("server reports the rejection", move || {
        events
            .events()
            .contains(&Seen::Rejected(b_id, RejectReason::PeerLimit))
    })
    .await;
    let events = Arc::clone(&b.events);
    eventually("the refused node learns why", move || {
        events.count(remote_close(CloseCode::PeerLimit)) == 1
    })
    .await;
    assert_eq!(server.network.peer_count(), 1);
    assert!(!b.network.is_connected(&server.id()));

    // The admitted peer is served as before.
    let reply = a
        .network
        .request(&server.id(), b"still here", REQUEST_TIMEOUT)
        .await
        .expect("request");
    assert_eq!(reply, b"echo:still here");
}

#[tokio::test]
async fn reject_unknown_admits_only_trusted_peers() {
    let trusted = identity();
    let a = TestNode::start_with(
        &trusted,
        PeerPolicy::default(),
        TransportSettings::default(),
    );
    let b = TestNode::start(PeerPolicy::default());
    let server = TestNode::start(PeerPolicy {
        reject_unknown: true,
        trusted: [trusted.node_id()].into_iter().collect(),
        ..PeerPolicy::default()
    });

    a.network
        .connect(server.addr(), Some(server.id()))
        .await
        .expect("trusted peer admitted");
    let _ = b.network.connect(server.addr(), Some(server.id())).await;
    let events = Arc::clone(&server.events);
    let b_id = b.id();
    eventually("untrusted peer rejected", move || {
        events
            .events()
            .contains(&Seen::Rejected(b_id, RejectReason::Untrusted))
    })
    .await;
    let events = Arc::clone(&b.events);
    eventually("the untrusted node learns why", move || {
        events.count(remote_close(CloseCode::Untrusted)) == 1
    })
    .await;
    let server_net = server.network.clone();
    let a_id = a.id();
    eventually("only the trusted peer stays", move || {
        server_net
            .peers()
            .iter()
            .map(|p| p.node_id)
            .collect::<Vec<_>>()
            == [a_id]
    })
    .await;
}

#[tokio::test]
async fn dialing_itself_is_refused() {
    let node = TestNode::start(PeerPolicy::default());
    let error = expect_err(node.network.connect(node.addr(), None).await);
    assert!(
        matches!(
            error,
            TransportError::Rejected {
                reason: RejectReason::SelfConnection,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(node.network.peer_count(), 0);
}

#[tokio::test]
async fn crossing_dials_leave_one_connection_chosen_alike_on_both_sides() {
    let (a, b) = (
        TestNode::start(PeerPolicy::default()),
        TestNode::start(PeerPolicy::default()),
    );
    // No expected id, so neither dial is short-cut by an existing connection.
    let (from_a, from_b) = tokio::join!(
        a.network.connect(b.addr(), None),
        b.network.connect(a.addr(), None)
    );
    from_a.expect("a dials b");
    from_b.expect("b dials a");

    let (net_a, net_b, a_id, b_id) = (a.network.clone(), b.network.clone(), a.id(), b.id());
    let settled = move || {
        let (Some(at_a), Some(at_b)) = (net_a.connection(&b_id), net_b.connection(&a_id)) else {
            return false;
        };
        // The same connection seen from both ends: outbound on one, inbound on the other,
        // dialed by the node with the smaller id, and not closed.
        let dialer = if at_a.direction() == Direction::Outbound {
            a_id
        } else {
            b_id
        };
        at_a.direction() != at_b.direction()
            && dialer == a_id.min(b_id)
            && at_a.close_reason().is_none()
            && at_b.close_reason().is_none()
            && net_a.peer_count() == 1
            && net_b.peer_count() == 1
    };
    eventually("one connection, chosen alike", settled.clone()).await;
    // Each side decides on both connections (its dial and the other's): admitted, a
    // duplicate, or an incoming handshake the other side abandoned. Once all four decisions
    // are made, nothing is left that could change the choice.
    let decided = |e: &Seen| {
        matches!(
            e,
            Seen::Connected(..) | Seen::Duplicate(_) | Seen::Failed(_)
        )
    };
    let (events_a, events_b) = (Arc::clone(&a.events), Arc::clone(&b.events));
    eventually("both sides decided on both connections", move || {
        events_a.count(decided) == 2 && events_b.count(decided) == 2
    })
    .await;
    assert!(settled(), "the choice must be stable");
    assert!(a.events.count(|e| matches!(e, Seen::Duplicate(_))) >= 1);
    for node in [&a, &b] {
        assert_eq!(
            node.events.count(|e| matches!(e, Seen::Disconnected(..))),
            0,
            "the chosen connection stays up"
        );
    }
    let reply = a
        .network
        .request(&b.id(), b"hi", REQUEST_TIMEOUT)
        .await
        .expect("request");
    assert_eq!(reply, b"echo:hi");
}

#[tokio::test]
async fn shutdown_is_seen_by_the_peer_as_a_clean_close() {
    let (a, b) = (
        TestNode::start(PeerPolicy::default()),
        TestNode::start(PeerPolicy::default()),
    );
    a.network
        .connect(b.addr(), Some(b.id()))
        .await
        .expect("connect");
    let events = Arc::clone(&b.events);
    let a_id = a.id();
    eventually("b sees a", move || {
        events.events().contains(&Seen::Connected(a_id, 1))
    })
    .await;

    a.network.shutdown().await;
    let events = Arc::clone(&b.events);
    eventually("b sees a leave with the shutdown code", move || {
        events.count(remote_close(CloseCode::Shutdown)) == 1
    })
    .await;
    assert_eq!(b.network.peer_count(), 0);
    assert!(matches!(
        a.events.events().last(),
        Some(Seen::Disconnected(_, DisconnectReason::Local, 0))
    ));
    let error = expect_err(b.network.request(&a_id, b"x", REQUEST_TIMEOUT).await);
    assert!(
        matches!(error, TransportError::NotConnected(id) if id == a_id),
        "{error:?}"
    );
}

/// Binds a network at a fixed address, retrying while the port is still being released.
///
/// The idle timeout is short because it bounds how long a stopped network keeps the port:
/// when a dial abandoned just before the target bound sends its CONNECTION_CLOSE, the
/// target's quinn endpoint makes a connection of that packet which only its idle timeout
/// ends (not the endpoint's close), and that connection holds the UDP socket until then.
async fn start_at(addr: SocketAddr, identity: &Identity) -> Network {
    let settings = TransportSettings {
        idle_timeout: Duration::from_secs(2),
        keep_alive_interval: Duration::from_millis(500),
        ..TransportSettings::default()
    };
    let deadline = tokio::time::Instant::now() + super::support::PATIENCE;
    loop {
        match Endpoint::bind(addr, identity, settings.clone()) {
            Ok(endpoint) => {
                return Network::with_endpoint(
                    endpoint,
                    PeerPolicy::default(),
                    crate::p2p::DEFAULT_REDIAL_BACKOFF,
                    super::support::echo(),
                    Arc::new(crate::p2p::NoObserver),
                );
            }
            Err(TransportError::AddressInUse { .. }) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("cannot bind {addr}: {error}"),
        }
    }
}

#[tokio::test]
async fn a_maintained_peer_is_redialed_until_reachable_and_after_it_leaves() {
    // A free port with nobody behind it yet, on 127.0.0.2 where the other tests (on
    // 127.0.0.1) cannot take it, and below Linux's ephemeral range (32768-60999), where no
    // bind to port 0 (a wildcard one included) can land on it while the target is down.
    let port = (0..1000)
        .map(|_| rand::random_range(20_000..32_000))
        .find(|p| std::net::UdpSocket::bind(("127.0.0.2", *p)).is_ok())
        .expect("a free port below the ephemeral range on 127.0.0.2");
    let target_addr = SocketAddr::from(([127, 0, 0, 2], port));
    let target = identity();

    let dialer = TestNode::start_with(
        &identity(),
        PeerPolicy::default(),
        TransportSettings {
            handshake_timeout: Duration::from_millis(300),
            ..TransportSettings::default()
        },
    );
    let entry = PeerAddr::from_socket_addr(target_addr, Some(target.node_id()));
    assert!(dialer.network.maintain(entry.clone()));
    assert!(
        !dialer.network.maintain(entry.clone()),
        "one dialer per address"
    );
    let events = Arc::clone(&dialer.events);
    eventually("failed dials are reported and retried", move || {
        events.count(|e| matches!(e, Seen::Failed("handshake_timeout"))) >= 2
    })
    .await;

    let first = start_at(target_addr, &target).await;
    let net = dialer.network.clone();
    let target_id = target.node_id();
    eventually("connected once the peer is up", move || {
        net.is_connected(&target_id)
    })
    .await;

    first.shutdown().await;
    drop(first);
    let net = dialer.network.clone();
    eventually("the departure is noticed", move || {
        !net.is_connected(&target_id)
    })
    .await;

    let second = start_at(target_addr, &target).await;
    let net = dialer.network.clone();
    eventually("redialed after the peer came back", move || {
        net.is_connected(&target_id)
    })
    .await;
    // Forgetting stops the dialer: after the peer leaves again it is not redialed.
    assert!(dialer.network.forget(&entry));
    assert!(dialer.network.maintained().is_empty());
    second.shutdown().await;
    drop(second);
    let net = dialer.network.clone();
    eventually("the departure is noticed", move || {
        !net.is_connected(&target_id)
    })
    .await;
    let third = start_at(target_addr, &target).await;
    // A control dialer for the same address expecting another node: each of its dials
    // reaches the third target and fails the id check. After CONTROL_DIALS of them it has
    // waited at least 25 + 50 + 100 + 200 ms + 3 × 200 ms = 975 ms (the lower half of each
    // delay of the test schedule, 50 ms doubling to 400 ms), longer than a forgotten
    // dialer still running would need to redial: one handshake timeout (300 ms) plus its
    // longest delay (400 ms).
    const CONTROL_DIALS: u64 = 8;
    let control = PeerAddr::from_socket_addr(target_addr, Some(identity().node_id()));
    assert!(dialer.network.maintain(control.clone()));
    let net = dialer.network.clone();
    eventually("the control dialer keeps dialing", move || {
        net.dial_attempts(&control).unwrap_or(0) >= CONTROL_DIALS
    })
    .await;
    assert!(
        !dialer.network.is_connected(&target_id),
        "a forgotten peer is not redialed"
    );
    third.shutdown().await;
    dialer.network.shutdown().await;
}

#[tokio::test]
async fn a_maintained_address_of_this_node_is_dropped() {
    let node = TestNode::start(PeerPolicy::default());
    assert!(
        node.network
            .maintain(PeerAddr::from_socket_addr(node.addr(), None))
    );
    let net = node.network.clone();
    eventually("the dialer gives up on itself", move || {
        net.maintained().is_empty()
    })
    .await;
    assert_eq!(node.network.peer_count(), 0);
}
