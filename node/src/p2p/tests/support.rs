//! Helpers shared by the p2p tests: identities, endpoints on 127.0.0.1:0, handlers, an
//! event recorder and one patience setting for eventually-true checks.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dawn_telemetry::BackoffPolicy;

use crate::p2p::{
    DisconnectReason, Endpoint, Handler, Identity, Network, NodeId, PeerEvent, PeerObserver,
    PeerPolicy, RejectReason, TransportError, TransportSettings, handler_fn,
};

/// How long any eventually-true condition may take on a loaded machine.
pub(super) const PATIENCE: Duration = Duration::from_secs(20);

/// Timeout for requests that are expected to succeed.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub(super) fn identity() -> Identity {
    Identity::generate().expect("identity")
}

pub(super) fn endpoint(identity: &Identity) -> Endpoint {
    endpoint_with(identity, TransportSettings::default())
}

pub(super) fn endpoint_with(identity: &Identity, settings: TransportSettings) -> Endpoint {
    Endpoint::bind(loopback(), identity, settings).expect("bind 127.0.0.1:0")
}

/// Replies `echo:` followed by the request.
pub(super) fn echo() -> Arc<dyn Handler> {
    Arc::new(handler_fn(|_peer, message: Vec<u8>| async move {
        [b"echo:".as_slice(), &message].concat()
    }))
}

/// An owned summary of a [`PeerEvent`], for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Seen {
    Connected(NodeId, usize),
    Disconnected(NodeId, DisconnectReason, usize),
    Rejected(NodeId, RejectReason),
    Failed(&'static str),
    Duplicate(NodeId),
}

/// Records every event it observes.
#[derive(Default)]
pub(super) struct Recorder(Mutex<Vec<Seen>>);

impl Recorder {
    pub(super) fn events(&self) -> Vec<Seen> {
        self.0.lock().expect("recorder lock").clone()
    }

    pub(super) fn count(&self, matches: impl Fn(&Seen) -> bool) -> usize {
        self.events().iter().filter(|e| matches(e)).count()
    }
}

impl PeerObserver for Recorder {
    fn on_event(&self, event: &PeerEvent<'_>) {
        let seen = match event {
            PeerEvent::Connected { peer, peers } => Seen::Connected(peer.node_id, *peers),
            PeerEvent::Disconnected {
                peer,
                reason,
                peers,
            } => Seen::Disconnected(peer.node_id, (*reason).clone(), *peers),
            PeerEvent::Rejected {
                node_id, reason, ..
            } => Seen::Rejected(*node_id, *reason),
            PeerEvent::Failed { error, .. } => Seen::Failed(error.kind()),
            PeerEvent::Duplicate { node_id, .. } => Seen::Duplicate(*node_id),
        };
        self.0.lock().expect("recorder lock").push(seen);
    }
}

/// A started network on 127.0.0.1:0 with an echo handler and a recorder.
pub(super) struct TestNode {
    pub(super) network: Network,
    pub(super) events: Arc<Recorder>,
}

impl TestNode {
    pub(super) fn start(policy: PeerPolicy) -> Self {
        Self::start_with(&identity(), policy, TransportSettings::default())
    }

    pub(super) fn start_with(
        identity: &Identity,
        policy: PeerPolicy,
        settings: TransportSettings,
    ) -> Self {
        let events = Arc::new(Recorder::default());
        let endpoint = endpoint_with(identity, settings);
        let backoff = BackoffPolicy {
            initial: Duration::from_millis(50),
            max: Duration::from_millis(400),
        };
        let network = Network::with_endpoint(
            endpoint,
            policy,
            backoff,
            echo(),
            Arc::clone(&events) as Arc<dyn PeerObserver>,
        );
        Self { network, events }
    }

    pub(super) fn id(&self) -> NodeId {
        self.network.node_id()
    }

    pub(super) fn addr(&self) -> SocketAddr {
        self.network.local_addr()
    }
}

/// Waits until `condition` holds, failing with `what` after [`PATIENCE`].
#[track_caller]
pub(super) fn eventually(
    what: &'static str,
    condition: impl Fn() -> bool + Send + 'static,
) -> impl std::future::Future<Output = ()> + Send {
    let caller = std::panic::Location::caller();
    async move {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !condition() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{caller}: not true after {PATIENCE:?}: {what}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Asserts an error and returns it, with the caller's location on failure.
#[track_caller]
pub(super) fn expect_err<T: std::fmt::Debug>(result: Result<T, TransportError>) -> TransportError {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error,
    }
}
