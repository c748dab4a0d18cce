//! Traffic that moves every metric of every node: a task calling the nodes a few times a
//! second, as a client of each, with bad calls and relays between nodes mixed in, and now
//! and then an incident that shows a failure path (a slow peer that opens a breaker, a rogue
//! peer, a flooding client).
//!
//! - `schedule.rs`: what happens in which round (pure, tested);
//! - `calls.rs`: the steady, bad and relayed calls;
//! - `incidents.rs`: the slow peer, the rogue peer and the flood.
//!
//! Nothing here can stop the cluster: a failed call is counted or logged, never propagated.
//! It prints a line per incident (and when a node stops or starts answering), never per
//! call.

mod calls;
mod incidents;
mod schedule;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dawn_node::client::{Client, ClientError};
use dawn_node::p2p::{CloseCode, PeerAddr, PeerConnection, TransportError};
use dawn_node::rpc::ErrorObject;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Time between two rounds.
const ROUND: Duration = Duration::from_secs(1);
/// Time allowed for one call of the traffic client (connecting included).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a node's list of peers is used before it is asked again (partial views).
const PEERS_FRESH: Duration = Duration::from_secs(10);
/// A connection unused this long is closed and redialed before the next call: below the
/// node's 10 s idle-client timeout (`TransportSettings::client_idle_timeout`).
const REDIAL_AFTER_IDLE: Duration = Duration::from_secs(7);
/// How long [`Traffic::stop`] waits for the task to wind down before aborting it.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The outcome of one call: the node's result or error reply, or why there was none.
type Outcome = Result<Result<Value, ErrorObject>, String>;

/// The running traffic task.
pub(crate) struct Traffic {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Traffic {
    /// Starts calling the nodes at `addrs` (node `i` at `addrs[i]`); `full_limit` is the
    /// peer limit of the node meant to be full (`tuning::FULL_NODE`). Must run inside the
    /// runtime; a client that cannot even bind is reported and no traffic runs.
    /// With `partial_views` (the nodes are not a full mesh), relays go to a peer of the
    /// relaying node, not blindly to the next node.
    pub(crate) fn start(
        addrs: Vec<SocketAddr>,
        full_limit: Option<usize>,
        partial_views: bool,
    ) -> Option<Traffic> {
        let client = match Client::new(None) {
            Ok(c) => c.with_timeout(CALL_TIMEOUT),
            Err(e) => {
                println!("traffic: cannot start a client ({e}); the cluster runs without traffic");
                return None;
            }
        };
        let (stop, stopped) = watch::channel(false);
        let nodes = addrs.into_iter().map(Node::new).collect();
        let driver = Driver {
            client,
            nodes,
            breaker: None,
            full_limit,
            partial_views,
        };
        let task = tokio::spawn(driver.run(stopped));
        Some(Traffic { stop, task })
    }

    /// Stops the task (after the call in flight, at most [`STOP_GRACE`]) and closes its
    /// connections.
    pub(crate) async fn stop(mut self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(STOP_GRACE, &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => println!("traffic: the task ended abnormally: {e}"),
            Err(_) => {
                self.task.abort();
                let _ = self.task.await;
            }
        }
    }
}

/// One node as the traffic client sees it.
struct Node {
    addr: SocketAddr,
    /// Its node id, learned from `node/info`.
    id: Option<String>,
    connection: Option<PeerConnection>,
    /// Whether the last call got an answer (to log changes only).
    answering: bool,
    /// When a call last went to it (see [`REDIAL_AFTER_IDLE`]).
    last_used: Option<Instant>,
    /// Its peers' node ids and when it listed them (partial views only).
    peers: Option<(Instant, Vec<String>)>,
}

impl Node {
    fn new(addr: SocketAddr) -> Self {
        Node {
            addr,
            id: None,
            connection: None,
            answering: true,
            last_used: None,
            peers: None,
        }
    }
}

/// The traffic task's state.
struct Driver {
    /// The steady client: one identity for all its calls.
    client: Client,
    nodes: Vec<Node>,
    /// The breaker the last slow-peer incident opened: (relaying node, slow node).
    breaker: Option<(usize, usize)>,
    /// The peer limit of `tuning::FULL_NODE`, if it has one.
    full_limit: Option<usize>,
    /// Whether the nodes have partial views (see [`Driver::relay_target`]).
    partial_views: bool,
}

impl Driver {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        println!(
            "traffic: calling {} node(s) every {}s: steady calls (ping, info, peers, agents, kv, echo), \
             bad calls, relays; incidents: slow peer (opens a breaker), rogue peer, flood (rate limit)",
            self.nodes.len(),
            ROUND.as_secs()
        );
        let nodes = self.nodes.len();
        if nodes > schedule::ACTIVE_PER_ROUND {
            println!(
                "traffic: {nodes} nodes: {} of them per round, in turn (each every {} rounds), \
                 so the launcher's load does not grow with the cluster",
                schedule::ACTIVE_PER_ROUND,
                nodes.div_ceil(schedule::ACTIVE_PER_ROUND)
            );
        }
        if self.nodes.len() < 2 {
            println!(
                "traffic: one node: no relays, breakers or refused peers (they need two nodes)"
            );
        }
        let mut tick = tokio::time::interval(ROUND);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for round in 0.. {
            let work = async {
                tick.tick().await;
                self.round(round).await;
            };
            tokio::select! {
                biased;
                // A stop (or a dropped handle) abandons the call in flight.
                _ = stop.changed() => break,
                () = work => {}
            }
        }
        for node in &self.nodes {
            if let Some(c) = &node.connection {
                c.close(CloseCode::Normal);
            }
        }
    }

    /// One round: steady calls and a relay on every node of the round's window, maybe a bad
    /// call, maybe an incident.
    async fn round(&mut self, round: u64) {
        for i in schedule::active(round, self.nodes.len()) {
            if self.nodes[i].id.is_none() {
                self.learn_id(i).await;
            }
            if self.partial_views {
                self.learn_peers(i).await;
            }
            for call in schedule::steady(round, i) {
                self.steady(i, call).await;
            }
            self.relay(i, round).await;
        }
        if let Some((bad, i)) = schedule::bad(round, self.nodes.len()) {
            self.bad(i, bad).await;
        }
        for (incident, nth) in schedule::incidents(round) {
            match incident {
                schedule::Incident::SlowPeer => self.slow_peer(nth).await,
                schedule::Incident::RoguePeer => self.rogue_peer(nth).await,
                schedule::Incident::Flood => self.flood(nth).await,
            }
        }
    }

    /// Calls `method` on node `i` with the steady client, connecting first when needed.
    async fn call(&mut self, i: usize, method: &str, params: Option<Value>) -> Outcome {
        let outcome = match self.connection(i).await {
            Ok(c) => self.client.call(&c, method, params).await,
            Err(e) => Err(e),
        };
        self.note(i, outcome)
    }

    /// Sends `bytes` as a request to node `i` (for malformed JSON).
    async fn call_raw(&mut self, i: usize, bytes: &[u8]) -> Outcome {
        let outcome = match self.connection(i).await {
            Ok(c) => self.client.call_raw(&c, bytes).await,
            Err(e) => Err(e),
        };
        self.note(i, outcome)
    }

    /// Sends a notification to node `i`.
    async fn notify(&mut self, i: usize, method: &str, params: Option<Value>) {
        let outcome = match self.connection(i).await {
            Ok(c) => self
                .client
                .notify(&c, method, params)
                .await
                .map(|()| Ok(Value::Null)),
            Err(e) => Err(e),
        };
        let _ = self.note(i, outcome);
    }

    async fn connection(&mut self, i: usize) -> Result<PeerConnection, ClientError> {
        let node = &mut self.nodes[i];
        let now = Instant::now();
        let last_used = node.last_used.replace(now);
        // A node called only every few rounds (a large cluster's window) may be about to
        // close the connection as an idle client's: hang up first and dial afresh, rather
        // than send a call into a connection that is being closed.
        if let Some(c) = node
            .connection
            .take_if(|_| last_used.is_none_or(|at| now.duration_since(at) >= REDIAL_AFTER_IDLE))
        {
            c.close(CloseCode::Normal);
        }
        if let Some(c) = node
            .connection
            .as_ref()
            .filter(|c| c.close_reason().is_none())
        {
            return Ok(c.clone());
        }
        // The endpoint's own handshake timeout is longer than a call may take.
        let addr = PeerAddr::from_socket_addr(node.addr, None);
        let c = tokio::time::timeout(CALL_TIMEOUT, self.client.connect(&addr))
            .await
            .map_err(|_| {
                ClientError::Transport(TransportError::HandshakeTimeout {
                    addr: node.addr,
                    timeout: CALL_TIMEOUT,
                })
            })??;
        node.connection = Some(c.clone());
        Ok(c)
    }

    /// Keeps track of whether node `i` answers, logging changes; drops a connection that
    /// failed so the next call redials.
    fn note(
        &mut self,
        i: usize,
        outcome: Result<Result<Value, ErrorObject>, ClientError>,
    ) -> Outcome {
        let node = &mut self.nodes[i];
        match outcome {
            Ok(reply) => {
                if !node.answering {
                    println!("traffic: node-{i} answers again");
                    node.answering = true;
                }
                Ok(reply)
            }
            Err(e) => {
                if node.answering {
                    println!("traffic: node-{i} does not answer: {e} (retrying every round)");
                    node.answering = false;
                }
                if matches!(e, ClientError::Transport(_)) {
                    node.connection = None;
                }
                Err(e.to_string())
            }
        }
    }

    /// Asks node `i` for its peers when it has not told them for [`PEERS_FRESH`].
    async fn learn_peers(&mut self, i: usize) {
        if self.nodes[i]
            .peers
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() < PEERS_FRESH)
        {
            return;
        }
        if let Ok(Ok(reply)) = self.call(i, "node/peers", None).await {
            let ids = reply
                .get("peers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("node_id")?.as_str().map(str::to_owned))
                .collect();
            self.nodes[i].peers = Some((Instant::now(), ids));
        }
    }

    /// The node `i` relays to, and its id: the next node in a full mesh; with partial
    /// views the next node (in index order, wrapping) that is one of `i`'s peers, since a
    /// relay to a node that is not a peer fails, or dials it as a peer. `None` until the
    /// ids needed are known.
    pub(super) fn relay_target(&self, i: usize) -> Option<(usize, String)> {
        let nodes = self.nodes.len();
        if !self.partial_views {
            let to = schedule::next(i, nodes);
            if to == i {
                return None;
            }
            return Some((to, self.nodes[to].id.clone()?));
        }
        let (_, peers) = self.nodes[i].peers.as_ref()?;
        (1..nodes).map(|k| (i + k) % nodes).find_map(|j| {
            let id = self.nodes[j].id.as_ref()?;
            peers.contains(id).then(|| (j, id.clone()))
        })
    }

    /// Asks node `i` for its node id (needed to relay to it).
    async fn learn_id(&mut self, i: usize) {
        if let Ok(Ok(info)) = self.call(i, "node/info", None).await {
            self.nodes[i].id = info
                .get("node_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
}

/// The `data.retry_after` of an error reply (rate limited, breaker open).
fn retry_after(error: &ErrorObject) -> Option<u64> {
    error
        .data
        .as_ref()?
        .get(dawn_node::rpc::RETRY_AFTER_KEY)?
        .as_u64()
}
