//! The node id: who a peer is, derived from its Ed25519 public key.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of a node id in bytes (an Ed25519 public key).
pub const NODE_ID_LEN: usize = 32;

/// Number of hex digits in the short form used in logs.
const SHORT_HEX_DIGITS: usize = 8;

/// A node's identity: the 32-byte Ed25519 public key of its identity key.
///
/// The id *is* the public key (not a hash of it), so anyone holding an id can check a
/// signature made by that node, and a TLS peer's id is read straight from its
/// certificate's key. Its text form is the 64 lowercase hex digits of the key; parsing also
/// accepts uppercase. [`NodeId::short`] gives the first 8 digits for log lines, where the
/// full id would drown the message (like a short git hash, it is not unique, only handy).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; NODE_ID_LEN]);

impl NodeId {
    /// Wraps raw public-key bytes, e.g. from a verified certificate.
    pub const fn from_bytes(bytes: [u8; NODE_ID_LEN]) -> Self {
        Self(bytes)
    }

    /// The raw public-key bytes, for signature checks and compact encodings.
    pub const fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    /// The first 8 hex digits, for log lines (not unique; never use it as a key).
    pub fn short(&self) -> ShortNodeId {
        ShortNodeId(*self)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// The short log form of a [`NodeId`] (first 8 hex digits), from [`NodeId::short`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ShortNodeId(NodeId);

impl fmt::Display for ShortNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0.0[..SHORT_HEX_DIGITS / 2] {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ShortNodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a string is not a node id; the message quotes the input so config errors are clear.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdParseError {
    /// The string does not have exactly 64 characters.
    #[error("node id `{input}` has {len} characters; a node id is 64 hex digits")]
    Length {
        /// The rejected input.
        input: String,
        /// Its length in characters.
        len: usize,
    },
    /// The string has a character that is not a hex digit.
    #[error("node id `{input}` has a non-hex character {found:?}; a node id is 64 hex digits")]
    NotHex {
        /// The rejected input.
        input: String,
        /// The first offending character.
        found: char,
    },
}

impl FromStr for NodeId {
    type Err = NodeIdParseError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let len = input.chars().count();
        if len != NODE_ID_LEN * 2 {
            return Err(NodeIdParseError::Length {
                input: input.to_owned(),
                len,
            });
        }
        let mut bytes = [0u8; NODE_ID_LEN];
        let digits = input.as_bytes();
        for (i, byte) in bytes.iter_mut().enumerate() {
            let high = hex_value(digits[2 * i]);
            let low = hex_value(digits[2 * i + 1]);
            match (high, low) {
                (Some(high), Some(low)) => *byte = (high << 4) | low,
                _ => {
                    let found = input
                        .chars()
                        .find(|c| !c.is_ascii_hexdigit())
                        .unwrap_or('?');
                    return Err(NodeIdParseError::NotHex {
                        input: input.to_owned(),
                        found,
                    });
                }
            }
        }
        Ok(Self(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A comma-separated list of node ids had bad entries (all of them are listed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct NodeIdListError {
    /// One error per bad entry, in input order.
    pub errors: Vec<NodeIdParseError>,
}

/// Parses a comma-separated list of node ids (e.g. a trusted-peers setting).
///
/// Whitespace around entries and empty entries (a trailing comma) are ignored; every bad
/// entry is reported, not just the first, so an operator fixes the list in one go.
pub fn parse_node_id_list(input: &str) -> Result<Vec<NodeId>, NodeIdListError> {
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for entry in input.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse() {
            Ok(id) => ids.push(id),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(ids)
    } else {
        Err(NodeIdListError { errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn display_parse_round_trip_is_lowercase_hex() {
        let id: NodeId = HEX.to_uppercase().parse().unwrap();
        assert_eq!(id.to_string(), HEX);
        assert_eq!(id.as_bytes()[1], 0x11);
        assert_eq!(id.short().to_string(), "00112233");
        assert_eq!(NodeId::from_bytes(*id.as_bytes()), id);
    }

    #[test]
    fn parse_rejects_bad_input_with_the_input_quoted() {
        let bad_letter = format!("z{}", &HEX[1..]);
        let bad_char = format!("é{}", &HEX[1..]);
        let cases: &[(&str, &str)] = &[
            ("", "has 0 characters"),
            ("abc", "has 3 characters"),
            (&HEX[..63], "has 63 characters"),
            (&bad_letter, "'z'"),
            (&bad_char, "'é'"),
        ];
        for (input, expected) in cases {
            let error = input.parse::<NodeId>().unwrap_err().to_string();
            assert!(error.contains(expected), "{input:?}: {error}");
            assert!(error.contains(&format!("`{input}`")), "{input:?}: {error}");
        }
    }

    #[test]
    fn serde_uses_the_text_form() {
        let id: NodeId = HEX.parse().unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{HEX}\""));
        assert_eq!(serde_json::from_str::<NodeId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<NodeId>("\"nope\"").is_err());
    }

    #[test]
    fn id_lists_report_every_bad_entry() {
        let ids = parse_node_id_list(&format!(" {HEX} ,, {HEX},")).unwrap();
        assert_eq!(ids.len(), 2);
        assert!(parse_node_id_list("").unwrap().is_empty());
        let error = parse_node_id_list(&format!("x,{HEX},yy")).unwrap_err();
        assert_eq!(error.errors.len(), 2);
        let text = error.to_string();
        assert!(text.contains("`x`") && text.contains("`yy`"), "{text}");
    }
}
