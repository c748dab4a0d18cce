//! Classifying a parsed JSON value as one of the four JSON-RPC shapes, or saying precisely
//! why it is none of them.

use serde_json::{Map, Value};

use super::id::Id;
use super::message::{ErrorObject, ErrorResponse, Message, Notification, Request, Response};

/// Why valid JSON is not a JSON-RPC 2.0 message this node accepts (-32600).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// The top level is not an object (arrays are reported as batches instead).
    #[error("a message must be a JSON object, not {found}")]
    NotAnObject {
        /// The JSON type found: `string`, `number`, `boolean` or `null`.
        found: &'static str,
    },
    /// No `"jsonrpc"` member.
    #[error("missing \"jsonrpc\": \"2.0\"")]
    MissingVersion,
    /// `"jsonrpc"` is something other than the string `"2.0"`.
    #[error("unsupported \"jsonrpc\" version {found}; only \"2.0\" is accepted")]
    WrongVersion {
        /// The value sent, as JSON, shortened to 32 characters.
        found: String,
    },
    /// `"id"` is neither a string nor an integer that fits in 64 bits.
    #[error("\"id\" must be a string or an integer")]
    BadId,
    /// A request with `"id": null`; a call without a reply must omit the id.
    #[error("\"id\" must not be null in a request; omit it for a notification")]
    NullRequestId,
    /// `"method"` is not a non-empty string.
    #[error("\"method\" must be a non-empty string")]
    BadMethod,
    /// `"params"` is present and neither an object nor an array (nor `null`).
    #[error("\"params\" must be an object or an array")]
    BadParams,
    /// More than one of `method`, `result` and `error`.
    #[error("a message has exactly one of \"method\", \"result\" and \"error\"")]
    Ambiguous,
    /// None of `method`, `result` and `error`.
    #[error("a message needs one of \"method\", \"result\" or \"error\"")]
    Unrecognised,
    /// A response or error reply without an `"id"` member.
    #[error("a reply must carry the \"id\" of its request (null if unknown for an error)")]
    MissingReplyId,
    /// A successful response with `"id": null`.
    #[error("a successful response must not have a null \"id\"")]
    NullResponseId,
    /// The `"error"` member is malformed.
    #[error("\"error\" must be an object with an integer \"code\" and a string \"message\"")]
    BadErrorObject,
}

/// A decoded `"id"` member: absent, `null`, or a valid id.
enum IdField {
    Absent,
    Null,
    Present(Id),
}

/// The JSON type name of `value`, as used in error messages.
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The message `object` (a top-level JSON object) denotes.
///
/// Members other than the ones JSON-RPC defines are ignored, as the specification allows
/// extensions.
pub(super) fn classify(mut object: Map<String, Value>) -> Result<Message, ShapeError> {
    let id = match object.remove("id") {
        None => IdField::Absent,
        Some(Value::Null) => IdField::Null,
        Some(v) => IdField::Present(Id::from_value(&v).ok_or(ShapeError::BadId)?),
    };
    match object.get("jsonrpc") {
        None => return Err(ShapeError::MissingVersion),
        Some(Value::String(v)) if v == "2.0" => {}
        Some(other) => {
            let mut found = other.to_string();
            if found.len() > 32 {
                let cut = (0..=32)
                    .rev()
                    .find(|i| found.is_char_boundary(*i))
                    .unwrap_or(0);
                found.truncate(cut);
                found.push('…');
            }
            return Err(ShapeError::WrongVersion { found });
        }
    }
    let method = object.remove("method");
    let result = object.remove("result");
    let error = object.remove("error");
    match (method, result, error) {
        (Some(method), None, None) => {
            let method = match method {
                Value::String(m) if !m.is_empty() => m,
                _ => return Err(ShapeError::BadMethod),
            };
            let params = match object.remove("params") {
                None | Some(Value::Null) => None,
                Some(p @ (Value::Object(_) | Value::Array(_))) => Some(p),
                Some(_) => return Err(ShapeError::BadParams),
            };
            match id {
                IdField::Absent => Ok(Message::Notification(Notification { method, params })),
                IdField::Null => Err(ShapeError::NullRequestId),
                IdField::Present(id) => Ok(Message::Request(Request { id, method, params })),
            }
        }
        (None, Some(result), None) => match id {
            IdField::Absent => Err(ShapeError::MissingReplyId),
            IdField::Null => Err(ShapeError::NullResponseId),
            IdField::Present(id) => Ok(Message::Response(Response { id, result })),
        },
        (None, None, Some(error)) => {
            let error = error_object(error)?;
            match id {
                IdField::Absent => Err(ShapeError::MissingReplyId),
                IdField::Null => Ok(Message::Error(ErrorResponse { id: None, error })),
                IdField::Present(id) => Ok(Message::Error(ErrorResponse {
                    id: Some(id),
                    error,
                })),
            }
        }
        (None, None, None) => Err(ShapeError::Unrecognised),
        _ => Err(ShapeError::Ambiguous),
    }
}

fn error_object(value: Value) -> Result<ErrorObject, ShapeError> {
    let Value::Object(mut e) = value else {
        return Err(ShapeError::BadErrorObject);
    };
    let code = e
        .get("code")
        .and_then(Value::as_i64)
        .ok_or(ShapeError::BadErrorObject)?;
    let message = match e.remove("message") {
        Some(Value::String(m)) => m,
        _ => return Err(ShapeError::BadErrorObject),
    };
    let data = match e.remove("data") {
        None | Some(Value::Null) => None,
        Some(d) => Some(d),
    };
    Ok(ErrorObject {
        code,
        message,
        data,
    })
}
