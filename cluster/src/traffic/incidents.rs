//! The incidents: each shows one failure path and prints one line saying what happened.
//!
//! - slow peer: a node relays calls that its target answers too late, until its breaker for
//!   that target opens (`p2p_circuit_breaker_state` 1, then 2, then 0 as the steady relays
//!   get through again; `p2p_circuit_breaker_failures_total`);
//! - rogue peer: a stranger dials the full node as a peer (`rejected`), dials a node
//!   expecting another node id (`failed`), and joins a node properly then hangs up
//!   (`success`, `closed`);
//! - flood: a new client sends more than the rate limit allows
//!   (`p2p_rate_limit_rejections_total`, `rate_limited` messages of both types).

use std::net::SocketAddr;
use std::time::Duration;

use dawn_node::client::Client;
use dawn_node::p2p::{
    CloseCode, DisconnectReason, Endpoint, Identity, PeerAddr, PeerConnection, TransportSettings,
};
use dawn_node::rpc::{self, Message, RATE_LIMITED};
use serde_json::{Value, json};

use super::{CALL_TIMEOUT, Driver, retry_after, schedule};
use crate::tuning::{CB_THRESHOLD, CB_TIMEOUT, FULL_NODE, RATE_LIMIT_MAX, RATE_LIMIT_WINDOW};

/// How long the slow peer takes to answer, and how long the relaying node waits for it.
const SLOW_MS: u64 = 300;
const SLOW_TIMEOUT_MS: u64 = 100;
/// How long the rogue peer waits for a full node to refuse it.
const REFUSAL_WAIT: Duration = Duration::from_secs(3);

impl Driver {
    /// Relays to a slow node until the relaying node's breaker for it opens.
    pub(super) async fn slow_peer(&mut self, nth: u64) {
        let Some((from, to)) = schedule::slow_pair(nth, self.nodes.len()) else {
            return;
        };
        // With partial views the slow node is the next of `from`'s peers instead.
        let Some((to, peer)) = self.relay_target(from) else {
            println!(
                "traffic: slow peer: skipped, node-{to}'s id or node-{from}'s peers not known yet"
            );
            return;
        };
        let slow = json!({
            "peer": peer,
            "method": "agent/call",
            "params": {"agent": "echo", "tool": "delay", "params": {"ms": SLOW_MS}},
            "timeout_ms": SLOW_TIMEOUT_MS,
        });
        let mut timed_out = 0;
        for _ in 0..CB_THRESHOLD {
            if let Ok(Err(e)) = self.call(from, "node/relay", Some(slow.clone())).await
                && retry_after(&e).is_none()
            {
                timed_out += 1;
            }
        }
        // The next relay must be refused at once by the open breaker.
        let probe = json!({"peer": peer, "method": "node/ping"});
        let line = match self.call(from, "node/relay", Some(probe)).await {
            Ok(Err(e)) if retry_after(&e).is_some() => {
                self.breaker = Some((from, to));
                format!(
                    "node-{from}'s breaker for node-{to} is open after {timed_out} relays timed out \
                     ({SLOW_MS} ms answers, {SLOW_TIMEOUT_MS} ms timeout); half-open in {}s, then \
                     the next relay closes it",
                    CB_TIMEOUT.as_secs()
                )
            }
            other => format!(
                "node-{from}'s breaker for node-{to} did not open after {timed_out} timed-out \
                 relays; the next relay got {}",
                describe(&other)
            ),
        };
        println!("traffic: slow peer: {line}");
    }

    /// A stranger dials as a peer: the full node refuses it, a dial expecting another id
    /// fails, and a node that admits it sees it leave.
    pub(super) async fn rogue_peer(&mut self, nth: u64) {
        let nodes = self.nodes.len();
        let identity = match Identity::generate() {
            Ok(identity) => identity,
            Err(e) => return println!("traffic: rogue peer: no identity: {e}"),
        };
        let settings = TransportSettings {
            handshake_timeout: Duration::from_secs(3),
            ..TransportSettings::default()
        };
        let endpoint =
            match Endpoint::bind(SocketAddr::from(([127, 0, 0, 1], 0)), &identity, settings) {
                Ok(endpoint) => endpoint,
                Err(e) => return println!("traffic: rogue peer: cannot bind: {e}"),
            };
        let limited = self.full_limit;
        let full = limited.map(|_| FULL_NODE);
        let (wrong_id, admits) = schedule::rogue_targets(nth, nodes, full);
        let mut seen = Vec::new();

        if let Some(max) = limited {
            seen.push(self.dial_full_node(&endpoint, max).await);
        }

        let someone_else = Identity::generate().map(|i| i.node_id()).ok();
        let addr = self.nodes[wrong_id].addr;
        seen.push(match endpoint.connect(addr, someone_else).await {
            Err(e) => format!(
                "dialing node-{wrong_id} as another node id, it aborted the handshake ({})",
                e.kind()
            ),
            Ok(c) => {
                c.close(CloseCode::Normal);
                format!("node-{wrong_id} unexpectedly passed as another node")
            }
        });

        if let Some(j) = admits {
            let addr = self.nodes[j].addr;
            seen.push(match endpoint.connect(addr, None).await {
                Err(e) => format!("node-{j} could not be dialed: {e}"),
                Ok(c) => {
                    // One request as a peer: once it is answered the node has admitted us.
                    let ping = rpc::encode(&Message::request(1, "node/ping", None));
                    let answered = c.request(&ping, CALL_TIMEOUT).await.is_ok();
                    c.close(CloseCode::Normal);
                    match answered {
                        true => format!("node-{j} admitted it, answered a ping, saw it hang up"),
                        false => format!("node-{j} admitted it but did not answer; hung up"),
                    }
                }
            });
        }
        endpoint.close(CloseCode::Normal);
        let _ = tokio::time::timeout(Duration::from_secs(1), endpoint.wait_idle()).await;
        println!(
            "traffic: rogue peer {}: {}",
            identity.node_id().short(),
            seen.join("; ")
        );
    }

    /// Dials the full node as a peer, if it is full by now, and reports its answer.
    async fn dial_full_node(&mut self, endpoint: &Endpoint, max: usize) -> String {
        let i = FULL_NODE;
        let peers = match self.call(i, "node/info", None).await {
            Ok(Ok(info)) => info.get("peers").and_then(Value::as_u64),
            _ => None,
        };
        let Some(peers) = peers.filter(|&p| p >= max as u64) else {
            return format!("node-{i} is not full yet (max {max} peers), not dialed");
        };
        let id = self.nodes[i].id.as_ref().and_then(|id| id.parse().ok());
        let connection: PeerConnection = match endpoint.connect(self.nodes[i].addr, id).await {
            Ok(c) => c,
            Err(e) => return format!("node-{i} could not be dialed: {e}"),
        };
        match tokio::time::timeout(REFUSAL_WAIT, connection.closed()).await {
            Ok(DisconnectReason::Remote {
                code: Some(CloseCode::PeerLimit),
                ..
            }) => format!("node-{i} ({peers}/{max} peers) rejected it: peer limit reached"),
            Ok(other) => format!("node-{i} ({peers}/{max} peers) dropped it: {other}"),
            Err(_) => {
                connection.close(CloseCode::Normal);
                format!("node-{i} admitted it (a peer must have left); hung up")
            }
        }
    }

    /// A new client sends more requests than the rate limit allows, then notifications.
    pub(super) async fn flood(&mut self, nth: u64) {
        let i = schedule::flood_target(nth, self.nodes.len());
        let addr = PeerAddr::from_socket_addr(self.nodes[i].addr, None);
        let client = match Client::new(None) {
            Ok(c) => c.with_timeout(CALL_TIMEOUT),
            Err(e) => return println!("traffic: flood: no client: {e}"),
        };
        let connection = match client.connect(&addr).await {
            Ok(c) => c,
            Err(e) => return println!("traffic: flood: node-{i} could not be reached: {e}"),
        };
        let sent = RATE_LIMIT_MAX + RATE_LIMIT_MAX / 4;
        let (mut answered, mut limited, mut other, mut retry) = (0, 0, 0, None);
        for _ in 0..sent {
            match client.call(&connection, "node/ping", None).await {
                Ok(Ok(_)) => answered += 1,
                Ok(Err(e)) if e.code == RATE_LIMITED => {
                    limited += 1;
                    retry = retry.or(retry_after(&e));
                }
                _ => other += 1,
            }
        }
        // Over the limit, notifications are dropped (and counted as rate limited).
        let notes = 3;
        for _ in 0..notes {
            let _ = client.notify(&connection, "dawn-cluster/flood", None).await;
        }
        // Closing at once would discard notifications still on their way.
        tokio::time::sleep(Duration::from_millis(200)).await;
        connection.close(CloseCode::Normal);
        let retry = retry.map_or_else(String::new, |s| format!(", retry after {s}s"));
        let other = match other {
            0 => String::new(),
            n => format!(", {n} failed otherwise"),
        };
        // A sender over its limit stays over it for the rest of the window, so the
        // notifications right after are dropped and counted as rejections too: the
        // summary's `rate_limited` goes up by both.
        let dropped = match limited {
            0 => String::new(),
            n => format!(
                "; the {notes} notifications, over the limit too, are dropped: {} rejections on node-{i}",
                n + notes
            ),
        };
        println!(
            "traffic: flood: a new client sent node-{i} {sent} pings at once, then {notes} notifications: \
             {answered} answered, {limited} refused by the rate limit ({RATE_LIMIT_MAX} per {}s{retry}){other}{dropped}",
            RATE_LIMIT_WINDOW.as_secs()
        );
    }
}

/// A call's outcome in a few words.
fn describe(outcome: &super::Outcome) -> String {
    match outcome {
        Ok(Ok(_)) => "a result".to_owned(),
        Ok(Err(e)) => format!("error {}: {}", e.code, e.message),
        Err(e) => format!("no answer: {e}"),
    }
}
