//! Requests this node makes to other peers (`node/relay`), each through the target's
//! circuit breaker, with every message, round trip and failure recorded.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Shared, lock};
use crate::catalogue::{Component, MessageStatus, NodeFailure};
use crate::p2p::{NodeId, TransportError};
use crate::resilience::Transition;
use crate::rpc::{self, ErrorObject, Message, MessageType, RATE_LIMITED};

/// Why a call to a peer produced no reply.
#[derive(Debug, thiserror::Error)]
pub(super) enum CallError {
    /// The peer's breaker is open: the call was not attempted.
    #[error("circuit breaker for peer {peer} is open; retry in {}s", whole_seconds(*retry_in))]
    BreakerOpen {
        /// The peer.
        peer: NodeId,
        /// When a probe will be let through.
        retry_in: Duration,
    },
    /// Not connected, and no address is known.
    #[error("peer {0} is not connected and its address is unknown")]
    UnknownPeer(NodeId),
    /// Dialing or the exchange failed (counted by the breaker).
    #[error("call to peer {peer} failed: {error}")]
    Transport {
        /// The peer.
        peer: NodeId,
        /// What failed (boxed: it is large and this is the cold path).
        error: Box<TransportError>,
    },
    /// The peer's reply is not a reply (counted by the breaker).
    #[error("peer {peer} sent an unusable reply: {reason}")]
    BadReply {
        /// The peer.
        peer: NodeId,
        /// Why it is not a reply.
        reason: String,
    },
}

/// Seconds to wait, rounded up and at least 1 (as `retry_after` is everywhere).
pub(super) fn whole_seconds(d: Duration) -> u64 {
    (d.as_secs_f64().ceil() as u64).max(1)
}

impl Shared {
    fn breaker_transition(&self, peer: &NodeId, transition: Option<Transition>) {
        if let Some(transition) = transition {
            tracing::info!(peer = %peer.short(), %transition, "circuit breaker");
            self.metrics.breaker_transition(peer, transition);
        }
    }

    fn breaker_failure(&self, peer: &NodeId) {
        self.metrics.breaker_failure(peer);
        let transition = lock(&self.breakers).on_failure(peer, Instant::now());
        self.breaker_transition(peer, transition);
    }

    /// Calls `method` on `peer` and returns its result, or the error object it replied
    /// with. Transport failures, timeouts and unreadable replies count as breaker
    /// failures; any well-formed reply is a success (the peer is alive and answering).
    pub(super) async fn call_peer(
        &self,
        peer: NodeId,
        method: &str,
        params: Option<Value>,
        timeout: Duration,
    ) -> Result<Result<Value, ErrorObject>, CallError> {
        let Some(network) = self.network() else {
            return Err(CallError::UnknownPeer(peer));
        };
        let address = match network.is_connected(&peer) {
            true => None,
            false => Some(
                lock(&self.book)
                    .address(&peer)
                    .ok_or(CallError::UnknownPeer(peer))?,
            ),
        };
        let allowed = lock(&self.breakers).allow(&peer, Instant::now());
        match allowed {
            Ok(transition) => self.breaker_transition(&peer, transition),
            Err(open) => {
                self.metrics
                    .error(NodeFailure::CircuitOpen.as_str(), Component::Resilience);
                return Err(CallError::BreakerOpen {
                    peer,
                    retry_in: open.retry_in,
                });
            }
        }

        let request = rpc::encode(&Message::request(self.request_id(), method, params));
        let started = Instant::now();
        let exchange = async {
            let connection = match (network.connection(&peer), address) {
                (Some(connection), _) => connection,
                (None, Some(address)) => network.connect_peer(&address).await?,
                (None, None) => return Err(TransportError::NotConnected(peer)),
            };
            connection.request(&request, timeout).await
        };
        let reply = match tokio::time::timeout(timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(timeout)),
        };
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                self.metrics
                    .message(MessageType::Request, MessageStatus::Error, request.len());
                self.metrics.error(error.kind(), Component::P2p);
                self.breaker_failure(&peer);
                return Err(CallError::Transport {
                    peer,
                    error: Box::new(error),
                });
            }
        };
        self.metrics
            .message(MessageType::Request, MessageStatus::Success, request.len());
        let rtt = started.elapsed();
        let limit = self.config.transport.max_message_size;
        match rpc::decode(&reply, limit) {
            Ok(Message::Response(response)) => {
                self.metrics
                    .message(MessageType::Response, MessageStatus::Success, reply.len());
                self.metrics.latency(MessageType::Response, rtt);
                self.on_success(&peer);
                Ok(Ok(response.result))
            }
            Ok(Message::Error(error)) => {
                let status = if error.error.code == RATE_LIMITED {
                    MessageStatus::RateLimited
                } else {
                    MessageStatus::Error
                };
                self.metrics
                    .message(MessageType::Error, status, reply.len());
                self.metrics.latency(MessageType::Error, rtt);
                self.on_success(&peer);
                Ok(Err(error.error))
            }
            Ok(other) => self.bad_reply(
                peer,
                other.message_type(),
                reply.len(),
                NodeFailure::UnexpectedMessage.as_str(),
                format!("expected a reply, got a {}", other.message_type().as_str()),
            ),
            Err(error) => self.bad_reply(
                peer,
                MessageType::Response,
                reply.len(),
                error.as_str(),
                error.to_string(),
            ),
        }
    }

    fn on_success(&self, peer: &NodeId) {
        let transition = lock(&self.breakers).on_success(peer, Instant::now());
        self.breaker_transition(peer, transition);
    }

    fn bad_reply(
        &self,
        peer: NodeId,
        kind: MessageType,
        size: usize,
        error_type: &'static str,
        reason: String,
    ) -> Result<Result<Value, ErrorObject>, CallError> {
        self.metrics.message(kind, MessageStatus::Error, size);
        self.metrics.error(error_type, Component::Rpc);
        self.breaker_failure(&peer);
        Err(CallError::BadReply { peer, reason })
    }
}
