//! The kinds of transport events a stranger can repeat at will, each logged through
//! [`LimitedLog`](crate::limited_log::LimitedLog): the first in full, then a count per
//! interval.

use std::fmt;

use super::codes::CloseCode;
use crate::limited_log::Repeatable;

/// A repeatable transport event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Noise {
    /// An incoming connection attempt did not complete its handshake (spoofed or abandoned
    /// Initial packets, a bad certificate, a wrong protocol).
    HandshakeFailed,
    /// A connection attempt was refused because the handshake slots were all in use.
    HandshakesBusy,
    /// A client was refused or closed by this node, with the code it was given.
    Client(CloseCode),
    /// An incoming message was refused before reaching the handler, by its error kind.
    StreamRefused(&'static str),
}

impl fmt::Display for Noise {
    /// What a count line counts: "N more {self} in the last 10 s".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HandshakeFailed => f.write_str("incoming handshakes failed"),
            Self::HandshakesBusy => {
                f.write_str("connection attempts refused (too many handshakes in progress)")
            }
            Self::Client(code) => write!(f, "clients closed ({code})"),
            Self::StreamRefused(kind) => write!(f, "incoming messages refused ({kind})"),
        }
    }
}

impl Repeatable for Noise {
    fn is_warning(&self) -> bool {
        !matches!(self, Self::Client(_))
    }
}
