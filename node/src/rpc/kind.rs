//! The four kinds of JSON-RPC message, named as the `type` label of the message metrics.

use std::fmt;

use dawn_proto::catalogue::values::MESSAGE_TYPE;

/// Which of the four JSON-RPC shapes a message has.
///
/// [`MessageType::as_str`] is the `type` label value of `p2p_messages_total`,
/// `p2p_message_latency_seconds` and `p2p_message_size_bytes`, so that a message is
/// labelled the same wherever it is recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// A call that expects a reply (has an `id` and a `method`).
    Request,
    /// A successful reply (has an `id` and a `result`).
    Response,
    /// A call that expects no reply (a `method` and no `id`).
    Notification,
    /// A failed reply (an `error`, with the request's `id` or `null`).
    Error,
}

impl MessageType {
    /// Every type, in the order of `dawn_proto::catalogue::values::MESSAGE_TYPE`.
    pub const ALL: [MessageType; 4] = [
        MessageType::Request,
        MessageType::Response,
        MessageType::Notification,
        MessageType::Error,
    ];

    /// The metric label value, one of `dawn_proto::catalogue::values::MESSAGE_TYPE`.
    pub const fn as_str(self) -> &'static str {
        // Indexing the catalogue keeps one source of truth; the test below pins the order.
        match self {
            MessageType::Request => MESSAGE_TYPE[0],
            MessageType::Response => MESSAGE_TYPE[1],
            MessageType::Notification => MESSAGE_TYPE[2],
            MessageType::Error => MESSAGE_TYPE[3],
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_the_catalogue_values() {
        let labels: Vec<&str> = MessageType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(labels, MESSAGE_TYPE);
        assert_eq!(MessageType::Request.as_str(), "request");
        assert_eq!(MessageType::Error.as_str(), "error");
    }
}
