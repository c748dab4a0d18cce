//! Application error codes on the wire, and why a connection ended or was refused.
//!
//! QUIC carries an application code (and, for connections, a reason phrase) when a stream
//! is reset or a connection closed. These codes are part of the `dawn/1` protocol: both
//! peers must agree on them, so they never change meaning.

use std::fmt;

use quinn::{ConnectionError, VarInt};

/// Why this node closes a connection; sent as the QUIC application close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseCode {
    /// An ordinary close (the node no longer needs the connection).
    Normal,
    /// The node is shutting down.
    Shutdown,
    /// The node already has `max_peers` peers.
    PeerLimit,
    /// The node only admits trusted peers (`PROJECT_DAWN_REJECT_UNKNOWN`) and this is not one.
    Untrusted,
    /// Two connections link the same pair of nodes; this one lost the tie-break.
    Duplicate,
    /// The node dialed itself (its own address in the bootstrap list).
    SelfConnection,
    /// The node already serves as many clients (`dawn-client/1`) as it allows.
    ClientLimit,
    /// A client sent no request for the client idle timeout; its slot goes to others.
    ClientIdle,
    /// The client's source address already holds its fair share of the client slots.
    AddressClientLimit,
    /// The node was full and closed some of its oldest inbound peers to take newcomers
    /// again (after handing them other addresses).
    Rebalanced,
}

impl CloseCode {
    const ALL: [Self; 10] = [
        Self::Normal,
        Self::Shutdown,
        Self::PeerLimit,
        Self::Untrusted,
        Self::Duplicate,
        Self::SelfConnection,
        Self::ClientLimit,
        Self::ClientIdle,
        Self::AddressClientLimit,
        Self::Rebalanced,
    ];

    /// The wire value.
    pub const fn code(self) -> u32 {
        match self {
            Self::Normal => 0,
            Self::Shutdown => 1,
            Self::PeerLimit => 2,
            Self::Untrusted => 3,
            Self::Duplicate => 4,
            Self::SelfConnection => 5,
            Self::ClientLimit => 6,
            Self::ClientIdle => 7,
            Self::AddressClientLimit => 8,
            Self::Rebalanced => 9,
        }
    }

    /// The reason phrase sent with the code, for the other side's logs.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Normal => "closed",
            Self::Shutdown => "node shutting down",
            Self::PeerLimit => "peer limit reached",
            Self::Untrusted => "not a trusted peer",
            Self::Duplicate => "duplicate connection",
            Self::SelfConnection => "connection to self",
            Self::ClientLimit => "client limit reached",
            Self::ClientIdle => "idle client",
            Self::AddressClientLimit => "client limit of this address reached",
            Self::Rebalanced => "making room for new peers",
        }
    }

    /// The code for a wire value, `None` for values this version does not know.
    pub fn from_code(code: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|c| u64::from(c.code()) == code)
    }

    /// Closes `connection` with this code and reason.
    pub(crate) fn close(self, connection: &quinn::Connection) {
        connection.close(VarInt::from_u32(self.code()), self.reason().as_bytes());
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// Codes for resetting or stopping one stream; the connection stays up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamCode {
    /// The message exceeds the receiver's size limit.
    TooLarge,
    /// The sender gave up (timeout) or the receiver stopped waiting for the message.
    Cancelled,
}

impl StreamCode {
    /// The wire value (0 is what quinn sends for a dropped stream, so ours start at 1).
    pub const fn code(self) -> u32 {
        match self {
            Self::TooLarge => 1,
            Self::Cancelled => 2,
        }
    }

    pub(crate) fn varint(self) -> VarInt {
        VarInt::from_u32(self.code())
    }

    /// The code for a wire value, `None` for values this version does not know.
    pub fn from_code(code: u64) -> Option<Self> {
        [Self::TooLarge, Self::Cancelled]
            .into_iter()
            .find(|c| u64::from(c.code()) == code)
    }
}

/// Why this node refused a connection after authenticating the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// `max_peers` reached.
    PeerLimit,
    /// Not in the trusted list while `reject_unknown` is on.
    Untrusted,
    /// The peer is this node.
    SelfConnection,
}

impl RejectReason {
    /// The close code sent to the refused peer.
    pub const fn close_code(self) -> CloseCode {
        match self {
            Self::PeerLimit => CloseCode::PeerLimit,
            Self::Untrusted => CloseCode::Untrusted,
            Self::SelfConnection => CloseCode::SelfConnection,
        }
    }

    /// A stable lowercase label, e.g. for an `error_type`/`reason` metric label.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::PeerLimit => "peer_limit",
            Self::Untrusted => "untrusted",
            Self::SelfConnection => "self",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.close_code().reason())
    }
}

/// Why a connection ended, from quinn's [`ConnectionError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// This node closed it (shutdown, duplicate, [`PeerConnection::close`](super::PeerConnection::close)).
    Local,
    /// The peer closed it with an application code; `code` is `Some` for codes this
    /// version knows (e.g. [`CloseCode::PeerLimit`] when the peer refused us).
    Remote {
        /// The peer's code, if known.
        code: Option<CloseCode>,
        /// The raw wire code.
        raw_code: u64,
        /// The peer's reason phrase (lossily decoded).
        reason: String,
    },
    /// No traffic for the idle timeout: the peer vanished or the network broke.
    TimedOut,
    /// The peer answered with a stateless reset: it restarted and lost the connection.
    Reset,
    /// A protocol or TLS error ended it.
    Error(String),
}

impl DisconnectReason {
    /// A stable lowercase label for logs and metric labels.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote { .. } => "remote",
            Self::TimedOut => "timeout",
            Self::Reset => "reset",
            Self::Error(_) => "error",
        }
    }
}

impl From<&ConnectionError> for DisconnectReason {
    fn from(error: &ConnectionError) -> Self {
        match error {
            ConnectionError::LocallyClosed => Self::Local,
            ConnectionError::ApplicationClosed(close) => {
                let raw_code = close.error_code.into_inner();
                Self::Remote {
                    code: CloseCode::from_code(raw_code),
                    raw_code,
                    reason: String::from_utf8_lossy(&close.reason).into_owned(),
                }
            }
            ConnectionError::TimedOut => Self::TimedOut,
            ConnectionError::Reset => Self::Reset,
            other => Self::Error(other.to_string()),
        }
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local => f.write_str("closed by this node"),
            Self::Remote {
                raw_code, reason, ..
            } => write!(f, "closed by the peer (code {raw_code}: {reason})"),
            Self::TimedOut => f.write_str("timed out (no traffic from the peer)"),
            Self::Reset => f.write_str("reset by the peer (it restarted)"),
            Self::Error(error) => write!(f, "connection error: {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for code in CloseCode::ALL {
            assert_eq!(CloseCode::from_code(code.code().into()), Some(code));
        }
        assert_eq!(CloseCode::from_code(99), None);
        for code in [StreamCode::TooLarge, StreamCode::Cancelled] {
            assert_eq!(StreamCode::from_code(code.code().into()), Some(code));
        }
        assert_eq!(StreamCode::from_code(0), None);
    }

    #[test]
    fn remote_close_keeps_code_and_reason() {
        let error = ConnectionError::ApplicationClosed(quinn::ApplicationClose {
            error_code: VarInt::from_u32(CloseCode::PeerLimit.code()),
            reason: CloseCode::PeerLimit.reason().as_bytes().to_vec().into(),
        });
        let reason = DisconnectReason::from(&error);
        assert_eq!(
            reason,
            DisconnectReason::Remote {
                code: Some(CloseCode::PeerLimit),
                raw_code: 2,
                reason: "peer limit reached".into()
            }
        );
        assert!(reason.to_string().contains("peer limit reached"));
    }
}
