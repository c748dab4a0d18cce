//! The node's [`Handler`]: every incoming request and notification is decoded,
//! rate-limited per sender, routed to its method, answered, and counted with its type,
//! status, size and handling time. Bad input gets an error reply, never a crash.

use std::sync::Arc;
use std::time::Instant;

use super::methods::{self, ANNOUNCE};
use super::{Shared, gossip, lock};
use crate::catalogue::{Component, MessageStatus, NodeFailure};
use crate::p2p::{BoxFuture, Handler, NodeId, TransportError};
use crate::resilience::RateLimited;
use crate::rpc::{self, ErrorCode, ErrorObject, Message, MessageType, RATE_LIMITED};

/// The `resource` label of `p2p_rate_limit_rejections_total`: requests and notifications
/// share one limit per sender.
pub(super) const RATE_LIMITED_RESOURCE: &str = "message";

/// Serves the node's JSON-RPC methods over the p2p transport.
pub(super) struct Dispatcher {
    shared: Arc<Shared>,
}

impl Dispatcher {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl Handler for Dispatcher {
    fn request(&self, peer: NodeId, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin(answer(&self.shared, peer, message))
    }

    fn notification(&self, peer: NodeId, message: Vec<u8>) -> BoxFuture<'_, ()> {
        Box::pin(take_notification(&self.shared, peer, message))
    }

    fn stream_error(&self, _peer: NodeId, error: &TransportError) {
        // Oversized or stalled incoming streams: refused by the transport, counted here.
        self.shared.metrics.error(error.kind(), Component::P2p);
    }
}

impl Shared {
    /// One request or notification from `sender` against its rate limit; a refusal is
    /// counted in `p2p_rate_limit_rejections_total`.
    fn admit(&self, sender: &NodeId) -> Result<(), RateLimited> {
        let checked = lock(&self.limiter).check(sender, Instant::now());
        if let Err(limited) = &checked {
            tracing::debug!(peer = %sender.short(), retry_after = ?limited.retry_after, "rate limited");
            self.metrics.rate_limited(sender, RATE_LIMITED_RESOURCE);
        }
        checked
    }
}

/// Answers one request stream.
async fn answer(shared: &Arc<Shared>, sender: NodeId, bytes: Vec<u8>) -> Vec<u8> {
    let started = Instant::now();
    let metrics = &shared.metrics;
    let limit = shared.config.transport.max_message_size;
    let reply = match rpc::decode(&bytes, limit) {
        Err(error) => {
            tracing::debug!(peer = %sender.short(), error = %error, "undecodable request");
            metrics.message(MessageType::Request, MessageStatus::Error, bytes.len());
            metrics.error(error.as_str(), Component::Rpc);
            error.reply()
        }
        Ok(Message::Request(request)) => match shared.admit(&sender) {
            Err(limited) => {
                metrics.message(
                    MessageType::Request,
                    MessageStatus::RateLimited,
                    bytes.len(),
                );
                request.reply_error(limited.to_error_object())
            }
            Ok(()) => match methods::call(shared, sender, &request).await {
                Ok(result) => {
                    metrics.message(MessageType::Request, MessageStatus::Success, bytes.len());
                    request.reply(result)
                }
                Err(failure) => {
                    metrics.message(MessageType::Request, MessageStatus::Error, bytes.len());
                    metrics.error(failure.error_type, failure.component);
                    request.reply_error(failure.error)
                }
            },
        },
        Ok(other) => {
            // A notification or a reply sent where a request belongs.
            let kind = other.message_type();
            metrics.message(kind, MessageStatus::Error, bytes.len());
            metrics.error(NodeFailure::UnexpectedMessage.as_str(), Component::Rpc);
            Message::error(
                other.id().cloned(),
                ErrorObject::new(
                    ErrorCode::InvalidRequest,
                    format!(
                        "Invalid Request: expected a request on a request stream, got a {}",
                        kind.as_str()
                    ),
                ),
            )
        }
    };
    let encoded = rpc::encode(&reply);
    let status = match &reply {
        Message::Error(e) if e.error.code == RATE_LIMITED => MessageStatus::RateLimited,
        Message::Error(_) => MessageStatus::Error,
        _ => MessageStatus::Success,
    };
    metrics.message(reply.message_type(), status, encoded.len());
    metrics.latency(MessageType::Request, started.elapsed());
    encoded
}

/// Takes one notification stream (no reply, whatever happens).
async fn take_notification(shared: &Arc<Shared>, sender: NodeId, bytes: Vec<u8>) {
    let started = Instant::now();
    let metrics = &shared.metrics;
    let limit = shared.config.transport.max_message_size;
    let (kind, status) = match rpc::decode(&bytes, limit) {
        Err(error) => {
            tracing::debug!(peer = %sender.short(), error = %error, "undecodable notification");
            metrics.error(error.as_str(), Component::Rpc);
            (MessageType::Notification, MessageStatus::Error)
        }
        Ok(Message::Notification(notification)) => match shared.admit(&sender) {
            Err(_) => (MessageType::Notification, MessageStatus::RateLimited),
            Ok(()) if notification.method == ANNOUNCE => {
                match gossip::receive(shared, sender, notification.params) {
                    Ok(_) => (MessageType::Notification, MessageStatus::Success),
                    Err(reason) => {
                        tracing::warn!(peer = %sender.short(), %reason, "bad peer announcement ignored");
                        metrics.error(ErrorCode::InvalidParams.as_str(), Component::Discovery);
                        (MessageType::Notification, MessageStatus::Error)
                    }
                }
            }
            Ok(()) => {
                tracing::debug!(peer = %sender.short(), method = %notification.method, "unknown notification ignored");
                metrics.error(ErrorCode::MethodNotFound.as_str(), Component::Rpc);
                (MessageType::Notification, MessageStatus::Error)
            }
        },
        Ok(other) => {
            metrics.error(NodeFailure::UnexpectedMessage.as_str(), Component::Rpc);
            (other.message_type(), MessageStatus::Error)
        }
    };
    metrics.message(kind, status, bytes.len());
    metrics.latency(MessageType::Notification, started.elapsed());
}
