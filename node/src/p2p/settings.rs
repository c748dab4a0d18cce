//! Transport limits and timeouts, with the defaults documented in `docs/p2p.md`.

use std::time::Duration;

use quinn::{IdleTimeout, TransportConfig, VarInt};

use super::error::TransportError;

/// Default bound on one message (request, reply or notification): 1 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Limits and timeouts of the QUIC transport.
///
/// Both ends of a connection apply their own values; a message larger than the receiver's
/// `max_message_size` is refused by the receiver whatever the sender allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSettings {
    /// Largest message accepted or sent, in bytes; larger incoming streams are reset with
    /// [`StreamCode::TooLarge`](super::StreamCode::TooLarge) without reading them whole.
    pub max_message_size: usize,
    /// How long a dial (QUIC + TLS handshake) may take before it is abandoned.
    pub handshake_timeout: Duration,
    /// A connection with no traffic for this long is considered dead (peer gone).
    pub idle_timeout: Duration,
    /// A client's connection with no message received or in progress for this long is
    /// closed ([`CloseCode::ClientIdle`](super::CloseCode::ClientIdle)), keep-alives or not,
    /// so an idle client gives its slot back. Shorter than `idle_timeout`: clients come and
    /// go, peers stay.
    pub client_idle_timeout: Duration,
    /// Keep-alive pings at this interval keep idle but healthy connections (and NAT
    /// bindings) open; must be well below `idle_timeout`.
    pub keep_alive_interval: Duration,
    /// How long the serving side waits for a whole incoming message, so a peer that opens a
    /// stream and stalls cannot hold the stream slot forever.
    pub read_timeout: Duration,
    /// Streams a peer may have open at once on one connection, per direction: the bound on
    /// concurrent requests (and handler tasks) one peer can cause.
    pub max_concurrent_streams: u32,
}

impl Default for TransportSettings {
    fn default() -> Self {
        Self {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            client_idle_timeout: Duration::from_secs(10),
            keep_alive_interval: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_concurrent_streams: 64,
        }
    }
}

impl TransportSettings {
    /// The quinn transport configuration for these settings.
    pub(crate) fn quinn_transport(&self) -> Result<TransportConfig, TransportError> {
        let idle = IdleTimeout::try_from(self.idle_timeout).map_err(|_| {
            TransportError::InvalidSettings(format!(
                "idle timeout {:?} is too large",
                self.idle_timeout
            ))
        })?;
        if self.keep_alive_interval >= self.idle_timeout {
            return Err(TransportError::InvalidSettings(format!(
                "keep-alive interval {:?} must be shorter than the idle timeout {:?}",
                self.keep_alive_interval, self.idle_timeout
            )));
        }
        if self.client_idle_timeout.is_zero() {
            return Err(TransportError::InvalidSettings(
                "the client idle timeout must be longer than 0".into(),
            ));
        }
        if self.max_message_size == 0 {
            return Err(TransportError::InvalidSettings(
                "max message size must be at least 1 byte".into(),
            ));
        }
        let streams = VarInt::from_u32(self.max_concurrent_streams);
        let mut transport = TransportConfig::default();
        transport
            .max_idle_timeout(Some(idle))
            .keep_alive_interval(Some(self.keep_alive_interval))
            .max_concurrent_bidi_streams(streams)
            .max_concurrent_uni_streams(streams);
        Ok(transport)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        assert!(TransportSettings::default().quinn_transport().is_ok());
        let bad = TransportSettings {
            keep_alive_interval: Duration::from_secs(60),
            ..TransportSettings::default()
        };
        let error = bad.quinn_transport().unwrap_err().to_string();
        assert!(error.contains("keep-alive interval"), "{error}");
        let bad = TransportSettings {
            max_message_size: 0,
            ..TransportSettings::default()
        };
        assert!(bad.quinn_transport().is_err());
    }
}
