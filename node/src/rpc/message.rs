//! The four JSON-RPC 2.0 message shapes and the error object, as plain Rust values.
//!
//! The `"jsonrpc": "2.0"` member is implied: [`encode`](super::encode) always writes it and
//! [`decode`](super::decode) insists on it, so the types need not carry it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::code::ErrorCode;
use super::id::Id;
use super::kind::MessageType;

/// One JSON-RPC message: a request, a response, a notification or an error reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call expecting a reply.
    Request(Request),
    /// A successful reply.
    Response(Response),
    /// A call expecting no reply.
    Notification(Notification),
    /// A failed reply.
    Error(ErrorResponse),
}

/// A call expecting a reply: `{"jsonrpc":"2.0","id":..,"method":..,"params":..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// Echoed by the reply.
    pub id: Id,
    /// The method called, e.g. `agent/call`.
    pub method: String,
    /// An object or array, or `None` when absent (an explicit `null` decodes as `None`).
    pub params: Option<Value>,
}

/// A successful reply: `{"jsonrpc":"2.0","id":..,"result":..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The id of the request answered.
    pub id: Id,
    /// Any JSON value, `null` included.
    pub result: Value,
}

/// A call expecting no reply: `{"jsonrpc":"2.0","method":..,"params":..}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The method called.
    pub method: String,
    /// An object or array, or `None` when absent.
    pub params: Option<Value>,
}

/// A failed reply: `{"jsonrpc":"2.0","id":..|null,"error":{..}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorResponse {
    /// The id of the request answered; `None` (sent as `null`) when it could not be read.
    pub id: Option<Id>,
    /// What went wrong.
    pub error: ErrorObject,
}

/// The `error` member of an error reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// An integer code; ours are listed in [`ErrorCode`], a peer may send others.
    pub code: i64,
    /// A human-readable description, for logs and the `dawn-node call` output.
    pub message: String,
    /// Structured detail, e.g. `{"retry_after": 12}` for [`ErrorCode::RateLimited`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// Key of the seconds-to-wait member in the `data` of a rate-limited error.
pub const RETRY_AFTER_KEY: &str = "retry_after";

impl Message {
    /// A request message.
    pub fn request(id: impl Into<Id>, method: impl Into<String>, params: Option<Value>) -> Self {
        Message::Request(Request {
            id: id.into(),
            method: method.into(),
            params,
        })
    }

    /// A successful reply to the request `id`.
    pub fn response(id: Id, result: Value) -> Self {
        Message::Response(Response { id, result })
    }

    /// A notification message.
    pub fn notification(method: impl Into<String>, params: Option<Value>) -> Self {
        Message::Notification(Notification {
            method: method.into(),
            params,
        })
    }

    /// An error reply to the request `id` (`None` when the request's id is unknown).
    pub fn error(id: Option<Id>, error: ErrorObject) -> Self {
        Message::Error(ErrorResponse { id, error })
    }

    /// Which of the four shapes this is; its `as_str()` is the metrics' `type` label.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Request(_) => MessageType::Request,
            Message::Response(_) => MessageType::Response,
            Message::Notification(_) => MessageType::Notification,
            Message::Error(_) => MessageType::Error,
        }
    }

    /// The message's id, if it has one (notifications never do; error replies may not).
    pub fn id(&self) -> Option<&Id> {
        match self {
            Message::Request(r) => Some(&r.id),
            Message::Response(r) => Some(&r.id),
            Message::Notification(_) => None,
            Message::Error(e) => e.id.as_ref(),
        }
    }

    /// The method called, for requests and notifications.
    pub fn method(&self) -> Option<&str> {
        match self {
            Message::Request(r) => Some(&r.method),
            Message::Notification(n) => Some(&n.method),
            Message::Response(_) | Message::Error(_) => None,
        }
    }
}

impl Request {
    /// The successful reply to this request.
    pub fn reply(&self, result: Value) -> Message {
        Message::response(self.id.clone(), result)
    }

    /// The error reply to this request.
    pub fn reply_error(&self, error: ErrorObject) -> Message {
        Message::error(Some(self.id.clone()), error)
    }
}

impl ErrorObject {
    /// An error with `code` and `message` and no data.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorObject {
            code: code.code(),
            message: message.into(),
            data: None,
        }
    }

    /// The same error with `data` attached.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// -32601 for a method this node does not serve, naming it.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            ErrorCode::MethodNotFound,
            format!("Method not found: {method}"),
        )
    }

    /// -32602 with the reason the params were refused.
    pub fn invalid_params(reason: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidParams,
            format!("Invalid params: {reason}"),
        )
    }

    /// -32603 with what failed inside the node.
    pub fn internal(reason: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InternalError,
            format!("Internal error: {reason}"),
        )
    }

    /// -32001 when the node cannot serve the request now (e.g. an open circuit breaker).
    pub fn server_error(reason: impl std::fmt::Display) -> Self {
        Self::new(ErrorCode::ServerError, format!("Server error: {reason}"))
    }

    /// -32005 telling the sender to wait `retry_after` before trying again.
    ///
    /// `data.retry_after` is whole seconds, rounded up and at least 1, so a client that
    /// sleeps that long is never refused again for the same window.
    pub fn rate_limited(retry_after: Duration) -> Self {
        let secs = retry_after_secs(retry_after);
        Self::new(
            ErrorCode::RateLimited,
            format!("Rate limited: retry after {secs} s"),
        )
        .with_data(json!({ RETRY_AFTER_KEY: secs }))
    }

    /// The code as one of ours, or `None` for a code this node does not define.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_code(self.code)
    }

    /// `data.retry_after` in seconds, when the peer sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        self.data
            .as_ref()?
            .get(RETRY_AFTER_KEY)?
            .as_u64()
            .map(Duration::from_secs)
    }
}

/// Whole seconds to wait, rounded up, at least 1.
fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        for (wait, secs) in [
            (Duration::ZERO, 1),
            (Duration::from_millis(1), 1),
            (Duration::from_secs(1), 1),
            (Duration::from_millis(1001), 2),
            (Duration::from_secs(59), 59),
        ] {
            let e = ErrorObject::rate_limited(wait);
            assert_eq!(e.code, -32005);
            assert_eq!(e.data, Some(json!({ "retry_after": secs })), "{wait:?}");
            assert_eq!(e.retry_after(), Some(Duration::from_secs(secs)));
        }
    }

    #[test]
    fn accessors_by_shape() {
        let table = [
            (
                Message::request(1, "node/ping", None),
                MessageType::Request,
                Some(Id::Number(1)),
                Some("node/ping"),
            ),
            (
                Message::response(Id::from("a"), Value::Null),
                MessageType::Response,
                Some(Id::from("a")),
                None,
            ),
            (
                Message::notification("peers/gossip", Some(json!([]))),
                MessageType::Notification,
                None,
                Some("peers/gossip"),
            ),
            (
                Message::error(None, ErrorObject::internal("boom")),
                MessageType::Error,
                None,
                None,
            ),
        ];
        for (msg, ty, id, method) in table {
            assert_eq!(msg.message_type(), ty);
            assert_eq!(msg.id(), id.as_ref());
            assert_eq!(msg.method(), method);
        }
    }
}
