//! Clients (`dawn-client/1`) of a network: the fair share of the slots per source address,
//! a slot given back the moment its connection closes, and the client idle timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::support::{REQUEST_TIMEOUT, eventually, identity};
use crate::p2p::{
    CloseCode, DisconnectReason, Endpoint, FAIR_SHARE_DIVISOR, MAX_CLIENTS, Network, NoObserver,
    PeerConnection, PeerPolicy, SourceAddress, TransportSettings, handler_fn,
};
use dawn_telemetry::BackoffPolicy;

/// A network on 127.0.0.1 whose handler sleeps `sleep:MS` requests and echoes the others.
fn network(settings: TransportSettings) -> Network {
    let endpoint =
        Endpoint::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &identity(), settings).expect("bind");
    let handler = handler_fn(|_, message: Vec<u8>| async move {
        let text = String::from_utf8_lossy(&message).into_owned();
        if let Some(ms) = text.strip_prefix("sleep:").and_then(|ms| ms.parse().ok()) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        message
    });
    Network::with_endpoint(
        endpoint,
        PeerPolicy::default(),
        BackoffPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
        },
        Arc::new(handler),
        Arc::new(NoObserver),
    )
}

/// A client endpoint sending from `ip`.
fn client_from(ip: [u8; 4]) -> Endpoint {
    Endpoint::bind_client(
        SocketAddr::from((ip, 0)),
        &identity(),
        TransportSettings::default(),
    )
    .expect("bind a client")
}

/// The close code `connection` ends with (it must end within the patience).
async fn closed_with(connection: &PeerConnection) -> Option<CloseCode> {
    let reason = tokio::time::timeout(Duration::from_secs(20), connection.closed())
        .await
        .expect("the connection ends");
    match reason {
        DisconnectReason::Remote { code, .. } => code,
        other => panic!("closed by something else: {other}"),
    }
}

#[tokio::test]
async fn one_address_holds_its_fair_share_others_still_get_in_and_a_close_frees_a_slot() {
    let node = network(TransportSettings::default());
    let share = MAX_CLIENTS / FAIR_SHARE_DIVISOR;
    let local = SourceAddress::of([127, 0, 0, 1].into());
    let greedy = client_from([127, 0, 0, 1]);
    let mut held = Vec::new();
    for _ in 0..share {
        let c = greedy.connect(node.local_addr(), None).await.expect("dial");
        // Served: its slot is taken once a request has been answered.
        c.request(b"hi", REQUEST_TIMEOUT).await.expect("served");
        held.push(c);
    }
    assert_eq!(node.clients_held(local), (share, share));
    let over = greedy.connect(node.local_addr(), None).await.expect("dial");
    assert_eq!(
        closed_with(&over).await,
        Some(CloseCode::AddressClientLimit)
    );

    // Another source address is served meanwhile.
    let other = client_from([127, 0, 0, 2]);
    let c = other.connect(node.local_addr(), None).await.expect("dial");
    assert_eq!(
        c.request(b"hello", REQUEST_TIMEOUT).await.expect("served"),
        b"hello"
    );

    // A close gives the slot back at once: the same address gets in again.
    held.pop().expect("held").close(CloseCode::Normal);
    let check = node.clone();
    eventually("the closed client's slot is free", move || {
        check.clients_held(local) == (share, share - 1)
    })
    .await;
    let again = greedy.connect(node.local_addr(), None).await.expect("dial");
    again
        .request(b"again", REQUEST_TIMEOUT)
        .await
        .expect("served");
    node.shutdown().await;
}

#[tokio::test]
async fn an_idle_client_is_closed_but_not_while_a_request_is_in_progress() {
    let idle = Duration::from_millis(300);
    let node = network(TransportSettings {
        client_idle_timeout: idle,
        ..TransportSettings::default()
    });
    let client = client_from([127, 0, 0, 1]);

    // Busy for longer than the idle timeout: still served, and closed only once idle.
    let busy = client.connect(node.local_addr(), None).await.expect("dial");
    let reply = busy
        .request(b"sleep:900", REQUEST_TIMEOUT)
        .await
        .expect("a slow request is answered, not cut by the idle timeout");
    assert_eq!(reply, b"sleep:900");
    assert_eq!(closed_with(&busy).await, Some(CloseCode::ClientIdle));

    // Keep-alives do not count as activity: a silent client is closed too.
    let silent = client.connect(node.local_addr(), None).await.expect("dial");
    assert_eq!(closed_with(&silent).await, Some(CloseCode::ClientIdle));
    let local = SourceAddress::of([127, 0, 0, 1].into());
    let check = node.clone();
    eventually("the idle clients' slots are free", move || {
        check.clients_held(local) == (0, 0)
    })
    .await;
    node.shutdown().await;
}
