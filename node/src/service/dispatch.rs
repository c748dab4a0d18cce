//! The node's [`Handler`]: every incoming request and notification is decoded,
//! rate-limited (per sender, per source address, globally), routed to its method,
//! answered, and counted with its type, status, size and handling time. Bad input gets an
//! error reply, never a crash.

use std::sync::Arc;
use std::time::Instant;

use super::methods::{self, ANNOUNCE};
use super::{Shared, gossip, lock};
use crate::catalogue::{Component, MessageStatus, NodeFailure};
use crate::limited_log::Repeatable;
use crate::p2p::{BoxFuture, Handler, NodeId, Sender, TransportError};
use crate::resilience::{RateLimited, Request};
use crate::rpc::{self, ErrorCode, ErrorObject, Message, MessageType, RATE_LIMITED};

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
    fn request(&self, sender: Sender, message: Vec<u8>) -> BoxFuture<'_, Vec<u8>> {
        Box::pin(answer(&self.shared, sender, message))
    }

    fn notification(&self, sender: Sender, message: Vec<u8>) -> BoxFuture<'_, ()> {
        Box::pin(take_notification(&self.shared, sender, message))
    }

    fn stream_error(&self, _sender: Sender, error: &TransportError) {
        // Oversized or stalled incoming streams: refused by the transport, counted here.
        self.shared.metrics.error(error.kind(), Component::P2p);
    }

    fn parting(&self, peer: &NodeId) -> Option<Vec<u8>> {
        let network = self.shared.network()?;
        let params = gossip::announcement(&self.shared, network, Some(peer));
        let request = Message::request(self.shared.request_id(), ANNOUNCE, Some(params));
        let message = rpc::encode(&request);
        self.shared
            .metrics
            .message(MessageType::Request, MessageStatus::Success, message.len());
        Some(message)
    }
}

/// The events of the service a peer can repeat at will, logged rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum ServiceNoise {
    /// A `node/announce` that could not be read.
    BadAnnouncement,
}

impl std::fmt::Display for ServiceNoise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::BadAnnouncement => f.write_str("bad peer announcements ignored"),
        }
    }
}

impl Repeatable for ServiceNoise {
    fn is_warning(&self) -> bool {
        true
    }
}

impl Shared {
    /// One request or notification from `sender` against the rate limits; a refusal is
    /// counted in `p2p_rate_limit_rejections_total` under the limit that refused it.
    fn admit(&self, sender: &Sender) -> Result<(), RateLimited> {
        let trusted = self.config.policy.is_trusted(&sender.node_id);
        let source = sender.source();
        // Each untrusted peer connected from the address brings its own budget to it.
        let peers_at_address = match (trusted, self.network()) {
            (false, Some(network)) => network.untrusted_peers_from(&source),
            _ => 0,
        };
        let request = Request {
            sender: &sender.node_id,
            address: &source,
            trusted,
            peers_at_address: u32::try_from(peers_at_address).unwrap_or(u32::MAX),
        };
        let checked = lock(&self.limiter).check(request, Instant::now());
        checked.map_err(|refused| {
            tracing::debug!(
                peer = %sender.node_id.short(),
                remote = %sender.remote_addr,
                resource = refused.resource.as_str(),
                retry_after = ?refused.limited.retry_after,
                "rate limited"
            );
            self.metrics.rate_limited(&sender.node_id, refused.resource);
            refused.limited
        })
    }
}

/// Answers one request stream.
async fn answer(shared: &Arc<Shared>, from: Sender, bytes: Vec<u8>) -> Vec<u8> {
    let sender = from.node_id;
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
        Ok(Message::Request(request)) => match shared.admit(&from) {
            Err(limited) => {
                metrics.message(
                    MessageType::Request,
                    MessageStatus::RateLimited,
                    bytes.len(),
                );
                request.reply_error(limited.to_error_object())
            }
            Ok(()) => match methods::call(shared, &from, &request).await {
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
async fn take_notification(shared: &Arc<Shared>, from: Sender, bytes: Vec<u8>) {
    let sender: NodeId = from.node_id;
    let started = Instant::now();
    let metrics = &shared.metrics;
    let limit = shared.config.transport.max_message_size;
    let (kind, status) = match rpc::decode(&bytes, limit) {
        Err(error) => {
            tracing::debug!(peer = %sender.short(), error = %error, "undecodable notification");
            metrics.error(error.as_str(), Component::Rpc);
            (MessageType::Notification, MessageStatus::Error)
        }
        Ok(Message::Notification(notification)) => match shared.admit(&from) {
            Err(_) => (MessageType::Notification, MessageStatus::RateLimited),
            Ok(()) if notification.method == ANNOUNCE => {
                match gossip::receive(shared, &from, notification.params) {
                    Ok(_) => (MessageType::Notification, MessageStatus::Success),
                    Err(reason) => {
                        shared.noise.event(ServiceNoise::BadAnnouncement, || {
                            tracing::warn!(peer = %sender.short(), %reason, "bad peer announcement ignored");
                        });
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
