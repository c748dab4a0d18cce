//! The four kinds of JSON-RPC message, named as the `type` label of the message metrics.

use std::fmt;

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
    /// Every type, in declaration order (so `kind as usize` indexes it).
    pub const ALL: [MessageType; 4] = [
        MessageType::Request,
        MessageType::Response,
        MessageType::Notification,
        MessageType::Error,
    ];

    /// The metric label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            MessageType::Request => "request",
            MessageType::Response => "response",
            MessageType::Notification => "notification",
            MessageType::Error => "error",
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
    fn all_lists_every_type_at_its_discriminant() {
        for (i, t) in MessageType::ALL.iter().enumerate() {
            assert_eq!(*t as usize, i);
        }
        assert_eq!(MessageType::Request.as_str(), "request");
        assert_eq!(MessageType::Error.as_str(), "error");
    }
}
