//! The calls of every round: steady ones that succeed, bad ones the node must refuse, and
//! relays from each node to the next (which give the relaying node response and error round
//! trips, and close a breaker that a slow-peer incident opened).

use serde_json::{Value, json};

use super::Driver;
use super::schedule::{Bad, Relay, Steady};

/// The kv keys the traffic writes, one per node, under one prefix.
const KV_PREFIX: &str = "dawn-cluster/";

impl Driver {
    /// One steady call to node `i`; the outcome only matters to the node's metrics.
    pub(super) async fn steady(&mut self, i: usize, call: Steady) {
        let key = format!("{KV_PREFIX}traffic-{i}");
        let (method, params) = match call {
            Steady::Ping => ("node/ping", None),
            Steady::Info => ("node/info", None),
            Steady::Peers => ("node/peers", None),
            Steady::AgentList => ("agent/list", None),
            Steady::KvPut => agent("kv", "put", json!({"key": key, "value": {"node": i}})),
            Steady::KvGet => agent("kv", "get", json!({ "key": key })),
            Steady::KvList => agent("kv", "list", json!({"prefix": KV_PREFIX, "limit": 10})),
            Steady::KvDelete => agent("kv", "delete", json!({ "key": key })),
            Steady::Echo => agent("echo", "echo", json!({"from": "dawn-cluster", "node": i})),
            Steady::Reverse => agent("echo", "reverse", json!({"text": "dawn-cluster"})),
        };
        let _ = self.call(i, method, params).await;
    }

    /// One bad call to node `i`: each gets an error reply (or, for a notification, is
    /// counted as an error) and an error in `p2p_errors_total`.
    pub(super) async fn bad(&mut self, i: usize, bad: Bad) {
        let _ = match bad {
            Bad::UnknownMethod => self.call(i, "node/no-such-method", None).await,
            Bad::InvalidParams => self.call(i, "node/ping", Some(json!([1, 2, 3]))).await,
            Bad::MalformedJson => {
                self.call_raw(i, br#"{"jsonrpc":"2.0","id":1,"method":"#)
                    .await
            }
            Bad::AgentError => {
                let (method, params) = agent("kv", "get", json!({}));
                self.call(i, method, params).await
            }
            Bad::UnknownNotification => {
                self.notify(i, "dawn-cluster/no-such-notification", None)
                    .await;
                return;
            }
        };
    }

    /// Node `i` relays a call to the next node (with partial views, the next of its peers)
    /// through its breaker for it.
    pub(super) async fn relay(&mut self, i: usize, round: u64) {
        let Some((to, peer)) = self.relay_target(i) else {
            return;
        };
        let (method, params) = match super::schedule::relay(round) {
            Relay::Ping => ("node/ping", None),
            Relay::Echo => agent("echo", "echo", json!({"relayed_by": i})),
            Relay::UnknownMethod => ("node/no-such-method", None),
        };
        let mut relay = json!({"peer": peer, "method": method, "timeout_ms": 2000});
        if let Some(p) = params {
            relay["params"] = p;
        }
        let outcome = self.call(i, "node/relay", Some(relay)).await;
        // A reply from the target (its result or its error) means the breaker let the call
        // through; -32001 is the relaying node's own refusal or failure.
        let through = match &outcome {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => e.code != dawn_node::rpc::SERVER_ERROR,
            Err(_) => false,
        };
        if through && self.breaker == Some((i, to)) {
            println!(
                "traffic: slow peer: node-{i}'s breaker for node-{to} is closed again (half-open, then a relay got through)"
            );
            self.breaker = None;
        }
    }
}

/// The method and params of an `agent/call`.
fn agent(agent: &str, tool: &str, params: Value) -> (&'static str, Option<Value>) {
    (
        "agent/call",
        Some(json!({"agent": agent, "tool": tool, "params": params})),
    )
}
