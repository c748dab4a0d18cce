//! Bytes to [`Message`] and back, with every way the bytes can be wrong told apart so the
//! node answers each with the right code and, where it can be read, the request's id.

use serde_json::{Value, json};

use super::code::ErrorCode;
use super::id::Id;
use super::message::{ErrorObject, Message};
use super::recover::recover_id;
use super::shape::{ShapeError, classify, type_name};

/// Default bound on one encoded message: 1 MiB, the same as the transport's default.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Why bytes received are not a message this node accepts.
///
/// Each variant maps to a JSON-RPC code ([`RpcError::code`]) and, when the request's id
/// could be read, carries it ([`RpcError::id`]) so that [`RpcError::reply`] names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// Longer than the limit; not parsed at all (-32600, id unknown).
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Bytes received.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// Not UTF-8 (-32700).
    #[error("message is not valid UTF-8 (first invalid byte at offset {valid_up_to})")]
    InvalidUtf8 {
        /// The id, when it precedes the invalid byte.
        id: Option<Id>,
        /// Length of the valid prefix.
        valid_up_to: usize,
    },
    /// Not JSON: garbage, truncated, trailing data, or nested too deeply (-32700).
    #[error("message is not valid JSON: {reason}")]
    InvalidJson {
        /// The id, when it precedes the damage.
        id: Option<Id>,
        /// serde_json's description, with line and column.
        reason: String,
    },
    /// A JSON array: batches are not supported (-32600, id null).
    #[error("batch requests (JSON arrays) are not supported; send one message per stream")]
    Batch,
    /// Valid JSON that is not a JSON-RPC 2.0 message (-32600).
    #[error("invalid request: {reason}")]
    InvalidRequest {
        /// The id, when the `"id"` member itself is valid.
        id: Option<Id>,
        /// What is wrong with the shape.
        reason: ShapeError,
    },
}

impl RpcError {
    /// The JSON-RPC code of the error reply.
    pub fn code(&self) -> ErrorCode {
        match self {
            RpcError::InvalidUtf8 { .. } | RpcError::InvalidJson { .. } => ErrorCode::ParseError,
            RpcError::TooLarge { .. } | RpcError::Batch | RpcError::InvalidRequest { .. } => {
                ErrorCode::InvalidRequest
            }
        }
    }

    /// The id of the request the bytes were, when it could be recovered.
    pub fn id(&self) -> Option<&Id> {
        match self {
            RpcError::InvalidUtf8 { id, .. }
            | RpcError::InvalidJson { id, .. }
            | RpcError::InvalidRequest { id, .. } => id.as_ref(),
            RpcError::TooLarge { .. } | RpcError::Batch => None,
        }
    }

    /// A stable snake_case name for the `error_type` label of `p2p_errors_total`, finer
    /// than the code (`too_large`, `invalid_utf8`, `invalid_json`, `batch`,
    /// `invalid_request`).
    pub fn as_str(&self) -> &'static str {
        match self {
            RpcError::TooLarge { .. } => "too_large",
            RpcError::InvalidUtf8 { .. } => "invalid_utf8",
            RpcError::InvalidJson { .. } => "invalid_json",
            RpcError::Batch => "batch",
            RpcError::InvalidRequest { .. } => "invalid_request",
        }
    }

    /// The `error` member of the reply: the code, the spec's message followed by this
    /// error's description, and for [`RpcError::TooLarge`] `data.max_size`.
    pub fn to_error_object(&self) -> ErrorObject {
        let code = self.code();
        let object = ErrorObject::new(code, format!("{}: {self}", code.default_message()));
        match self {
            RpcError::TooLarge { max, .. } => object.with_data(json!({ "max_size": max })),
            _ => object,
        }
    }

    /// The error reply for bytes that failed to decode, naming the request when its id was
    /// recovered (`null` otherwise).
    ///
    /// Send it only in answer to bytes that were meant as a request or notification: a
    /// reply is never answered, so a broken reply is logged and counted instead.
    pub fn reply(&self) -> Message {
        Message::error(self.id().cloned(), self.to_error_object())
    }
}

/// Decodes one message of at most `max_len` bytes.
///
/// Never panics and never allocates much more than the input: the size is checked before
/// anything is read, and serde_json's recursion limit (128) bounds nesting.
pub fn decode(bytes: &[u8], max_len: usize) -> Result<Message, RpcError> {
    if bytes.len() > max_len {
        return Err(RpcError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    let text = std::str::from_utf8(bytes).map_err(|e| RpcError::InvalidUtf8 {
        id: bytes.get(..e.valid_up_to()).and_then(recover_id),
        valid_up_to: e.valid_up_to(),
    })?;
    let value: Value = serde_json::from_str(text).map_err(|e| RpcError::InvalidJson {
        id: recover_id(bytes),
        reason: e.to_string(),
    })?;
    match value {
        Value::Object(object) => {
            let id = object.get("id").and_then(Id::from_value);
            classify(object).map_err(|reason| RpcError::InvalidRequest { id, reason })
        }
        Value::Array(_) => Err(RpcError::Batch),
        other => Err(RpcError::InvalidRequest {
            id: None,
            reason: ShapeError::NotAnObject {
                found: type_name(&other),
            },
        }),
    }
}

/// Encodes a message as compact JSON with `"jsonrpc": "2.0"` first.
pub fn encode(message: &Message) -> Vec<u8> {
    // Serializing into a Vec cannot fail: the io target is infallible, and every map in a
    // message (serde_json::Value objects included) has string keys.
    serde_json::to_vec(message).expect("a JSON-RPC message always serializes to JSON")
}
