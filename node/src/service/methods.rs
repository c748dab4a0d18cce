//! The JSON-RPC methods a node serves, by name, and what each does.
//!
//! | method | params | result |
//! |---|---|---|
//! | `node/ping` | none | `{"node_id", "time"}` |
//! | `node/info` | none | id, version, uptime, address, peers, limits, agents |
//! | `node/peers` | none | `{"peers": [{"node_id", "address", "direction", "connected_seconds"}]}` |
//! | `agent/list` | none | `{"agents": [...]}` |
//! | `agent/call` | `{"agent", "tool", "params"}` | the tool's result |
//! | `node/relay` | `{"peer", "method", "params"?, "timeout_ms"?}` | the peer's result |
//!
//! and `node/announce` (`{"peers": ["HOST:PORT@ID", ...], "known": [{"peer":
//! "HOST:PORT@ID", "age": seconds}, ...]}`): a notification each gossip round, and a request
//! (result `{"learned": n}`) from a node about to close this one for lack of room.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::{Value, json};

use super::outbound::{CallError, whole_seconds};
use super::{Shared, gossip};
use crate::agents::{AgentCall, AgentError};
use crate::catalogue::{Component, NodeFailure};
use crate::p2p::{NodeId, PeerAddr, Sender};
use crate::rpc::{ErrorCode, ErrorObject, RETRY_AFTER_KEY, Request};

/// Liveness probe: `{"node_id", "time"}`.
pub const PING: &str = "node/ping";
/// What this node is: id, version, uptime, address, peers, limits, agents.
pub const INFO: &str = "node/info";
/// The connected peers.
pub const PEERS: &str = "node/peers";
/// The agents and their tools.
pub const AGENT_LIST: &str = "agent/list";
/// Calls a tool of an agent.
pub const AGENT_CALL: &str = "agent/call";
/// Forwards a call to another peer through its circuit breaker.
pub const RELAY: &str = "node/relay";
/// Addresses of peers: the gossip notification, or a request from a node about to close
/// this one for lack of room.
pub const ANNOUNCE: &str = "node/announce";

/// Every request method, for `Method not found` replies and `--help`.
/// (`node/announce` is between peers only and not listed.)
pub const REQUESTS: &[&str] = &[PING, INFO, PEERS, AGENT_LIST, AGENT_CALL, RELAY];

/// Default and largest `timeout_ms` of `node/relay`.
const RELAY_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_RELAY_TIMEOUT_MS: u64 = 60_000;

/// A failed method: the error reply, and how it is counted in `p2p_errors_total`.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) error: ErrorObject,
    pub(super) error_type: &'static str,
    pub(super) component: Component,
}

impl Failure {
    fn rpc(code: ErrorCode, error: ErrorObject) -> Self {
        Failure {
            error,
            error_type: code.as_str(),
            component: Component::Rpc,
        }
    }

    fn invalid_params(reason: impl std::fmt::Display) -> Self {
        Self::rpc(
            ErrorCode::InvalidParams,
            ErrorObject::invalid_params(reason),
        )
    }
}

/// Runs `request` from `from`.
pub(super) async fn call(
    shared: &Arc<Shared>,
    from: &Sender,
    request: &Request,
) -> Result<Value, Failure> {
    let sender = from.node_id;
    let params = request.params.clone();
    match request.method.as_str() {
        PING => no_params(PING, params).map(|()| ping(shared)),
        INFO => no_params(INFO, params).map(|()| info(shared)),
        PEERS => no_params(PEERS, params).map(|()| peers(shared)),
        AGENT_LIST => no_params(AGENT_LIST, params).map(|()| shared.agents.registry.list_result()),
        AGENT_CALL => agent_call(shared, params).await,
        RELAY => relay(shared, sender, params).await,
        ANNOUNCE => gossip::receive(shared, from, params)
            .map(|learned| json!({ "learned": learned }))
            .map_err(|reason| Failure {
                error: ErrorObject::invalid_params(reason),
                error_type: ErrorCode::InvalidParams.as_str(),
                component: Component::Discovery,
            }),
        other => Err(Failure::rpc(
            ErrorCode::MethodNotFound,
            ErrorObject::method_not_found(other)
                .with_data(json!({ "available_methods": REQUESTS })),
        )),
    }
}

/// Methods without params accept none, `{}` or `[]`; anything else is a mistake worth
/// telling the caller about.
fn no_params(method: &str, params: Option<Value>) -> Result<(), Failure> {
    match params {
        None => Ok(()),
        Some(Value::Object(m)) if m.is_empty() => Ok(()),
        Some(Value::Array(a)) if a.is_empty() => Ok(()),
        Some(_) => Err(Failure::invalid_params(format!("{method} takes no params"))),
    }
}

fn ping(shared: &Shared) -> Value {
    json!({
        "node_id": shared.node_id.to_string(),
        "time": dawn_daemon::time::now_rfc3339(),
    })
}

fn info(shared: &Shared) -> Value {
    let network = shared.network();
    json!({
        "node_id": shared.node_id.to_string(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": shared.started.elapsed().as_secs_f64(),
        "address": network.map(|n| n.local_addr().to_string()),
        "peers": network.map_or(0, |n| n.peer_count()),
        "max_peers": shared.config.policy.max_peers,
        "reject_unknown": shared.config.policy.reject_unknown,
        "gossip_interval_seconds": shared.config.gossip_interval.as_secs_f64(),
        "agents": shared.agents.registry.ids().collect::<Vec<_>>(),
    })
}

fn peers(shared: &Shared) -> Value {
    let now = SystemTime::now();
    let peers: Vec<Value> = shared
        .network()
        .map(|n| n.peers())
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            json!({
                "node_id": p.node_id.to_string(),
                "address": PeerAddr::from_socket_addr(p.remote_addr, Some(p.node_id)).to_string(),
                "direction": p.direction.as_str(),
                "connected_seconds": now.duration_since(p.connected_at).unwrap_or_default().as_secs(),
            })
        })
        .collect();
    json!({ "peers": peers })
}

/// `agent/call`: runs the tool on a blocking thread (the kv agent fsyncs) and records the
/// operation with its status and latency.
async fn agent_call(shared: &Arc<Shared>, params: Option<Value>) -> Result<Value, Failure> {
    let call = AgentCall::from_params(params).map_err(|e| agent_failure(shared, &e))?;
    let started = Instant::now();
    let registry = Arc::clone(&shared.agents.registry);
    let (agent, tool) = (call.agent.clone(), call.tool.clone());
    let result = tokio::task::spawn_blocking(move || registry.call(&agent, &tool, call.params))
        .await
        .unwrap_or_else(|e| Err(AgentError::internal(format!("the tool panicked: {e}"))));
    let (agent_label, tool_label) = shared.agents.registry.labels(&call.agent, &call.tool);
    shared
        .metrics
        .agent_operation(agent_label, tool_label, result.is_ok(), started.elapsed());
    result.map_err(|e| agent_failure(shared, &e))
}

fn agent_failure(shared: &Shared, error: &AgentError) -> Failure {
    if matches!(error, AgentError::Internal { .. }) {
        tracing::error!(error = %error, "agent tool failed");
        shared.note_agent_failure(error.to_string());
    }
    Failure {
        error: error.to_error_object(),
        error_type: error.as_str(),
        component: Component::Agents,
    }
}

/// The params of `node/relay`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Relay {
    peer: NodeId,
    method: String,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    timeout_ms: Option<u64>,
}

/// `node/relay`: calls `method` on `peer` through its breaker and returns its result; its
/// error reply is passed back as it is.
async fn relay(shared: &Shared, sender: NodeId, params: Option<Value>) -> Result<Value, Failure> {
    let relay: Relay = serde_json::from_value(params.unwrap_or(Value::Null)).map_err(|e| {
        Failure::invalid_params(format!(
            "node/relay takes {{\"peer\": NODE_ID, \"method\": name, \"params\"?: ..., \"timeout_ms\"?: 1-60000}}: {e}"
        ))
    })?;
    if relay.method == RELAY {
        return Err(Failure::invalid_params(
            "node/relay cannot relay node/relay",
        ));
    }
    if relay.peer == shared.node_id {
        return Err(Failure::invalid_params(
            "node/relay cannot target this node itself",
        ));
    }
    let timeout = match relay.timeout_ms {
        None => RELAY_TIMEOUT,
        Some(ms @ 1..=MAX_RELAY_TIMEOUT_MS) => Duration::from_millis(ms),
        Some(ms) => {
            return Err(Failure::invalid_params(format!(
                "timeout_ms {ms} is out of range 1-{MAX_RELAY_TIMEOUT_MS}"
            )));
        }
    };
    tracing::debug!(from = %sender.short(), peer = %relay.peer.short(), method = %relay.method, "relaying");
    match shared
        .call_peer(relay.peer, &relay.method, relay.params, timeout)
        .await
    {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(error)) => Err(Failure {
            error,
            error_type: NodeFailure::RemoteError.as_str(),
            component: Component::Rpc,
        }),
        Err(error) => {
            let mut object = ErrorObject::server_error(&error);
            if let CallError::BreakerOpen { retry_in, .. } = error {
                object = object.with_data(json!({
                    RETRY_AFTER_KEY: whole_seconds(retry_in),
                    "peer": relay.peer.to_string(),
                }));
            }
            // Breaker and transport failures are counted where they happen.
            Err(Failure {
                error: object,
                error_type: NodeFailure::RelayFailed.as_str(),
                component: Component::Rpc,
            })
        }
    }
}
