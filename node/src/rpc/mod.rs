//! JSON-RPC 2.0 messages between peers: the four shapes, the error codes, and a sans-IO
//! codec that the QUIC transport feeds with one stream's bytes.
//!
//! Every way incoming bytes can be wrong is told apart ([`RpcError`]) so that the node
//! answers it with the right code, names the request when its id can be read, and counts
//! it; nothing a peer sends can make [`decode`] panic or allocate beyond the size limit.
//! Batches (JSON arrays) are refused: each message travels on its own QUIC stream, so
//! batching would add nothing but a second way to send the same thing.
//!
//! ```
//! use dawn_node::rpc::{self, ErrorCode, Message, MessageType};
//!
//! let bytes = br#"{"jsonrpc":"2.0","id":1,"method":"node/ping"}"#;
//! let Message::Request(request) = rpc::decode(bytes, rpc::DEFAULT_MAX_MESSAGE_SIZE)? else {
//!     unreachable!("a request")
//! };
//! let reply = request.reply(serde_json::json!("pong"));
//! assert_eq!(reply.message_type(), MessageType::Response);
//! assert_eq!(rpc::encode(&reply), br#"{"jsonrpc":"2.0","id":1,"result":"pong"}"#);
//!
//! let err = rpc::decode(br#"{"jsonrpc":"2.0","id":2,"meth"#, 1024).unwrap_err();
//! assert_eq!(err.code(), ErrorCode::ParseError);
//! let reply = rpc::encode(&err.reply());
//! assert!(reply.starts_with(br#"{"jsonrpc":"2.0","id":2,"error":{"code":-32700"#));
//! # Ok::<(), rpc::RpcError>(())
//! ```

mod code;
mod codec;
mod id;
mod kind;
mod message;
mod recover;
mod shape;
mod wire;

#[cfg(test)]
mod tests;

pub use code::{
    ErrorCode, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR,
    RATE_LIMITED, SERVER_ERROR,
};
pub use codec::{DEFAULT_MAX_MESSAGE_SIZE, RpcError, decode, encode};
pub use id::Id;
pub use kind::MessageType;
pub use message::{
    ErrorObject, ErrorResponse, Message, Notification, RETRY_AFTER_KEY, Request, Response,
};
pub use shape::ShapeError;
