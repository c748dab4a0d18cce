//! Peer-to-peer helpers: node + exporter pairs and a JSON-RPC caller speaking to the real
//! nodes over QUIC as a client (`dawn_node::client::Client`, ALPN `dawn-client/1`).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use dawn_node::client::{Client, ClientError};
use dawn_node::p2p::{
    Endpoint, Identity, PeerAddr, PeerConnection, Role, TransportError, TransportSettings,
};
use dawn_node::rpc::ErrorObject;
use serde_json::Value;

use crate::support::eventually::eventually;
use crate::support::process::{Exporter, ExporterOptions, Node};

/// A node reporting to its own exporter, as in a pod.
#[derive(Debug)]
pub struct Pair {
    /// The sidecar exporter.
    pub exporter: Exporter,
    /// The node.
    pub node: Node,
}

impl Pair {
    /// Starts an exporter (liveness timeout 2 s) and a node reporting to it with `envs`
    /// on top of [`Node::start`]'s; waits until the node is ready.
    #[track_caller]
    pub fn start(envs: &[(&str, &str)]) -> Pair {
        let mut pair = Pair::spawn(envs);
        pair.wait_ready();
        pair
    }

    /// Like [`Pair::start`] without waiting for readiness.
    #[track_caller]
    pub fn spawn(envs: &[(&str, &str)]) -> Pair {
        let exporter =
            Exporter::start_with(ExporterOptions::default().arg("--health.liveness-timeout", "2s"));
        let node = Node::start(&exporter.socket, envs);
        Pair { exporter, node }
    }

    /// Waits until the exporter says the node is ready.
    #[track_caller]
    pub fn wait_ready(&mut self) {
        eventually("the node is ready", || {
            if let Some(s) = self.node.proc.exit_status() {
                panic!("dawn-node exited ({s}):\n{}", self.node.log());
            }
            self.readiness_is(200)
        })
    }

    /// Waits until the exporter has seen the node's connection close: until then it still
    /// answers `/health/ready` from the old connection, so a "ready" seen after a restart
    /// could be the dead process's.
    #[track_caller]
    fn wait_not_ready(&self) {
        eventually("the exporter sees the node gone", || self.readiness_is(503))
    }

    /// Whether the exporter's `/health/ready` answers `status`; what it answered otherwise.
    fn readiness_is(&self, status: u16) -> Result<(), String> {
        let r = self.exporter.get("/health/ready");
        if r.status == status {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    }

    /// Starts the stopped node again (same data root, same port) and waits until the
    /// restarted process, not the dead one, is ready.
    #[track_caller]
    pub fn restart_node(&mut self) {
        self.wait_not_ready();
        self.node.proc.restart();
        self.wait_ready();
    }

    /// The node's p2p address (`127.0.0.1:PORT`).
    pub fn addr(&self) -> String {
        self.node.p2p_addr()
    }

    /// The value of the sample `name{labels}` on the exporter now (`None` when absent).
    #[track_caller]
    pub fn sample(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.exporter.metrics().get(name, labels)
    }

    /// Waits until the sample `name{labels}` satisfies `check`; returns its value.
    #[track_caller]
    pub fn eventually_sample(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        what: &str,
        check: impl Fn(f64) -> bool,
    ) -> f64 {
        self.exporter
            .eventually_metrics(&format!("{name}{labels:?} {what}"), |m| {
                match m.get(name, labels) {
                    Some(v) if check(v) => Ok(v),
                    other => Err(format!("{other:?}")),
                }
            })
    }
}

/// A JSON-RPC caller with one client identity (one sender for the nodes' rate limiters),
/// with its own runtime so tests stay synchronous. Connections are kept per address.
pub struct Caller {
    runtime: tokio::runtime::Runtime,
    client: Client,
    connections: HashMap<String, PeerConnection>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("node_id", &self.node_id())
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A caller with a fresh identity and a 10 s call timeout.
    #[track_caller]
    pub fn new() -> Caller {
        Caller::with_identity(None)
    }

    /// A caller with `identity` (or a fresh one).
    #[track_caller]
    pub fn with_identity(identity: Option<Identity>) -> Caller {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("cannot start a tokio runtime");
        let client = runtime
            .block_on(async { Client::new(identity) })
            .expect("cannot create a client")
            .with_timeout(Duration::from_secs(10));
        Caller {
            runtime,
            client,
            connections: HashMap::new(),
        }
    }

    /// This caller's node id (the `peer_id` the nodes see).
    pub fn node_id(&self) -> String {
        self.client.identity().node_id().to_string()
    }

    fn connection(&mut self, addr: &str) -> Result<PeerConnection, ClientError> {
        if let Some(c) = self.connections.get(addr)
            && c.close_reason().is_none()
        {
            return Ok(c.clone());
        }
        let peer: PeerAddr = addr.parse().expect("a peer address");
        let c = self.runtime.block_on(self.client.connect(&peer))?;
        self.connections.insert(addr.to_owned(), c.clone());
        Ok(c)
    }

    /// Calls `method` on the node at `addr`: `Ok(Ok(result))`, `Ok(Err(error reply))`, or
    /// `Err` when no reply came.
    pub fn try_call(
        &mut self,
        addr: &str,
        method: &str,
        params: Option<Value>,
    ) -> Result<Result<Value, ErrorObject>, ClientError> {
        let c = self.connection(addr)?;
        self.runtime.block_on(self.client.call(&c, method, params))
    }

    /// Calls and expects a result; fails the test otherwise.
    #[track_caller]
    pub fn call(&mut self, addr: &str, method: &str, params: Option<Value>) -> Value {
        match self.try_call(addr, method, params) {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => panic!("{method} on {addr} answered an error: {e:?}"),
            Err(e) => panic!("{method} on {addr} failed: {e}"),
        }
    }

    /// The node id of the node at `addr` (from `node/info`); fails the test without one.
    #[track_caller]
    pub fn node_id_of(&mut self, addr: &str) -> String {
        let info = self.call(addr, "node/info", None);
        info["node_id"]
            .as_str()
            .unwrap_or_else(|| panic!("node/info of {addr} has no node_id: {info}"))
            .to_owned()
    }

    /// Calls and expects an error reply; returns it.
    #[track_caller]
    pub fn call_err(&mut self, addr: &str, method: &str, params: Option<Value>) -> ErrorObject {
        match self.try_call(addr, method, params) {
            Ok(Err(e)) => e,
            Ok(Ok(v)) => panic!("{method} on {addr} succeeded ({v}); expected an error"),
            Err(e) => panic!("{method} on {addr} failed: {e}"),
        }
    }

    /// Sends raw bytes on a request stream; returns the decoded reply.
    pub fn call_raw(
        &mut self,
        addr: &str,
        bytes: &[u8],
    ) -> Result<Result<Value, ErrorObject>, ClientError> {
        let c = self.connection(addr)?;
        self.runtime.block_on(self.client.call_raw(&c, bytes))
    }

    /// Sends a notification.
    pub fn notify(
        &mut self,
        addr: &str,
        method: &str,
        params: Option<Value>,
    ) -> Result<(), ClientError> {
        let c = self.connection(addr)?;
        self.runtime
            .block_on(self.client.notify(&c, method, params))
    }
}

impl Default for Caller {
    fn default() -> Self {
        Caller::new()
    }
}

/// A tokio runtime of its own (one worker), for tests that use the transport directly.
#[track_caller]
fn own_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("cannot start a tokio runtime")
}

/// A runtime of its own and a client endpoint with a fresh identity sending from `local`,
/// for tests that dial with the transport itself (many connections from one process, dials
/// that nobody answers).
#[track_caller]
pub fn client_endpoint(local: IpAddr) -> (tokio::runtime::Runtime, Endpoint) {
    let runtime = own_runtime();
    let endpoint = runtime.block_on(async {
        let identity = Identity::generate().expect("an identity");
        let local = SocketAddr::new(local, 0);
        Endpoint::bind_client(local, &identity, TransportSettings::default())
            .expect("cannot bind a client endpoint")
    });
    (runtime, endpoint)
}

/// A QUIC connection to a node from a fresh identity, on a runtime of its own, for tests
/// that send what a well-behaved caller never would: as a peer (the peer protocol; the node
/// admits it among its peers) or as a client.
pub struct RawLink {
    /// Runs the connection; `block_on` it to exchange messages.
    pub runtime: tokio::runtime::Runtime,
    /// The connection.
    pub connection: PeerConnection,
    /// The identity's node id.
    pub node_id: String,
    _endpoint: Endpoint,
}

impl RawLink {
    /// Connects to the node at `addr` as `role`, with `settings`; fails the test when it
    /// cannot.
    #[track_caller]
    pub fn connect(addr: &str, role: Role, settings: TransportSettings) -> RawLink {
        let runtime = own_runtime();
        let addr: SocketAddr = addr.parse().expect("a socket address");
        let identity = Identity::generate().expect("an identity");
        let local: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let (endpoint, connection) = runtime.block_on(async {
            let endpoint = match role {
                Role::Peer => Endpoint::bind(local, &identity, settings),
                Role::Client => Endpoint::bind_client(local, &identity, settings),
            }
            .unwrap_or_else(|e| panic!("cannot bind an endpoint ({role:?}): {e}"));
            let connection = endpoint
                .connect(addr, None)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
            (endpoint, connection)
        });
        RawLink {
            runtime,
            connection,
            node_id: identity.node_id().to_string(),
            _endpoint: endpoint,
        }
    }

    /// Sends `bytes` as a request and waits at most `timeout` for the reply's bytes.
    pub fn request(&self, bytes: &[u8], timeout: Duration) -> Result<Vec<u8>, TransportError> {
        self.runtime
            .block_on(self.connection.request(bytes, timeout))
    }

    /// Sends `bytes` as a notification, taking at most `timeout`.
    pub fn notify(&self, bytes: &[u8], timeout: Duration) -> Result<(), TransportError> {
        self.runtime
            .block_on(self.connection.notify(bytes, timeout))
    }
}
