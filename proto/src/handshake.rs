//! Version negotiation for the [`Hello`] / [`crate::Welcome`] exchange.

use std::ops::RangeInclusive;

use crate::frame::Hello;

/// First field of every [`Hello`]: `DAWN` in ASCII.
pub const MAGIC: u32 = u32::from_be_bytes(*b"DAWN");

/// Oldest protocol version this crate speaks.
pub const MIN_SUPPORTED_VERSION: u16 = 1;

/// Newest protocol version this crate speaks.
pub const MAX_SUPPORTED_VERSION: u16 = 2;

/// The first protocol version with native histogram buckets (`Value` tag 3); a sender
/// uses that tag only on a connection negotiated at this version or later.
pub const NATIVE_HISTOGRAM_VERSION: u16 = 2;

/// The versions this crate speaks.
pub fn supported_versions() -> RangeInclusive<u16> {
    MIN_SUPPORTED_VERSION..=MAX_SUPPORTED_VERSION
}

/// Why a handshake fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The peer is not a Dawn telemetry client.
    #[error(
        "bad magic 0x{found:08x} (expected 0x{:08x}): not a Dawn telemetry client",
        MAGIC
    )]
    BadMagic {
        /// What the client sent.
        found: u32,
    },
    /// The client's version range is empty.
    #[error("client offers an empty version range {min}..={max}")]
    EmptyRange {
        /// Client's minimum.
        min: u16,
        /// Client's maximum.
        max: u16,
    },
    /// No version is spoken by both sides.
    #[error(
        "no common protocol version: client speaks {client_min}..={client_max}, exporter speaks {server_min}..={server_max}"
    )]
    NoCommonVersion {
        /// Client's minimum.
        client_min: u16,
        /// Client's maximum.
        client_max: u16,
        /// Exporter's minimum.
        server_min: u16,
        /// Exporter's maximum.
        server_max: u16,
    },
}

impl HandshakeError {
    /// Stable reason label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::BadMagic { .. } => "bad_magic",
            HandshakeError::EmptyRange { .. } | HandshakeError::NoCommonVersion { .. } => {
                "unsupported_version"
            }
        }
    }
}

/// The highest version both the client and `ours` speak.
pub fn negotiate(hello: &Hello, ours: RangeInclusive<u16>) -> Result<u16, HandshakeError> {
    if hello.magic != MAGIC {
        return Err(HandshakeError::BadMagic { found: hello.magic });
    }
    if hello.min_version > hello.max_version {
        return Err(HandshakeError::EmptyRange {
            min: hello.min_version,
            max: hello.max_version,
        });
    }
    let low = hello.min_version.max(*ours.start());
    let high = hello.max_version.min(*ours.end());
    if low > high {
        return Err(HandshakeError::NoCommonVersion {
            client_min: hello.min_version,
            client_max: hello.max_version,
            server_min: *ours.start(),
            server_max: *ours.end(),
        });
    }
    Ok(high)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(min: u16, max: u16) -> Hello {
        Hello {
            min_version: min,
            max_version: max,
            ..Hello::new("t", "0", "n", 1, 1, 1000)
        }
    }

    #[test]
    fn picks_highest_common_version() {
        assert_eq!(negotiate(&hello(1, 5), 1..=3), Ok(3));
        assert_eq!(negotiate(&hello(2, 2), 1..=3), Ok(2));
    }

    /// Version 2 (native histograms) is chosen only when both sides speak it: a new client
    /// and an old exporter, or an old client and a new exporter, speak 1.
    #[test]
    fn version_2_only_when_both_speak_it() {
        assert_eq!(supported_versions(), 1..=2);
        assert_eq!(NATIVE_HISTOGRAM_VERSION, 2);
        assert_eq!(negotiate(&hello(1, 2), supported_versions()), Ok(2));
        assert_eq!(negotiate(&hello(1, 2), 1..=1), Ok(1));
        assert_eq!(negotiate(&hello(1, 1), supported_versions()), Ok(1));
        assert_eq!(
            Hello::new("c", "1", "n", 1, 2, 3).max_version,
            MAX_SUPPORTED_VERSION
        );
    }

    #[test]
    fn refuses_disjoint_ranges_naming_both() {
        let err = negotiate(&hello(4, 9), 1..=3).unwrap_err();
        assert_eq!(err.reason(), "unsupported_version");
        assert!(err.to_string().contains("client speaks 4..=9"), "{err}");
        assert!(err.to_string().contains("exporter speaks 1..=3"), "{err}");
    }

    #[test]
    fn refuses_bad_magic_and_empty_range() {
        let mut h = hello(1, 1);
        h.magic = 0xdead_beef;
        assert_eq!(negotiate(&h, 1..=1).unwrap_err().reason(), "bad_magic");
        assert!(matches!(
            negotiate(&hello(3, 2), 1..=3),
            Err(HandshakeError::EmptyRange { .. })
        ));
    }
}
