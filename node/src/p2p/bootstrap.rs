//! Peer addresses as operators write them (`PROJECT_DAWN_BOOTSTRAP`) and as gossip carries
//! them: `host:port`, optionally with the node id as `host:port@NODE_ID` (canonical) or
//! `NODE_ID@host:port`.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::error::TransportError;
use super::node_id::NodeId;

/// Where to reach a peer, and who it should be when known.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerAddr {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// UDP port.
    pub port: u16,
    /// The node expected there; with it, any other node answering is refused.
    pub node_id: Option<NodeId>,
}

/// Why one entry is not a peer address; the message quotes the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad peer address `{entry}`: {problem}")]
pub struct PeerAddrError {
    /// The entry as written.
    pub entry: String,
    /// What is wrong, and what was expected.
    pub problem: String,
}

/// A peer list had bad entries; all of them are listed, so the operator fixes the list
/// in one go.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct PeerListError {
    /// One error per bad entry, in input order.
    pub errors: Vec<PeerAddrError>,
}

/// Parses a comma-separated peer list such as `PROJECT_DAWN_BOOTSTRAP`.
///
/// Whitespace around entries and empty entries are ignored, so an empty string is an empty
/// list and a trailing comma is harmless.
pub fn parse_peer_list(input: &str) -> Result<Vec<PeerAddr>, PeerListError> {
    let mut peers = Vec::new();
    let mut errors = Vec::new();
    for entry in input.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.parse() {
            Ok(peer) => peers.push(peer),
            Err(error) => errors.push(error),
        }
    }
    if errors.is_empty() {
        Ok(peers)
    } else {
        Err(PeerListError { errors })
    }
}

impl FromStr for PeerAddr {
    type Err = PeerAddrError;

    fn from_str(entry: &str) -> Result<Self, Self::Err> {
        let fail = |problem: &str| PeerAddrError {
            entry: entry.to_owned(),
            problem: problem.to_owned(),
        };
        let (address, node_id) = match entry.split('@').collect::<Vec<_>>()[..] {
            [address] => (address, None),
            [left, right] => {
                // The id is the side that looks like one (64 hex digits, no ':').
                let (address, id) = if looks_like_id(right) || !looks_like_id(left) {
                    (left, right)
                } else {
                    (right, left)
                };
                let id = id.parse::<NodeId>().map_err(|e| fail(&e.to_string()))?;
                (address, Some(id))
            }
            _ => {
                return Err(fail(
                    "more than one `@`; expected HOST:PORT or HOST:PORT@NODE_ID",
                ));
            }
        };
        let (host, port) = split_host_port(address).map_err(|p| fail(&p))?;
        Ok(Self {
            host,
            port,
            node_id,
        })
    }
}

fn looks_like_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

fn split_host_port(address: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = address.strip_prefix('[') {
        let (host, rest) = rest
            .split_once(']')
            .ok_or("missing `]` after the IPv6 address")?;
        let port = rest
            .strip_prefix(':')
            .ok_or("missing `:PORT` after the IPv6 address")?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("`{host}` is not an IPv6 address"));
        }
        (host, port)
    } else {
        let (host, port) = address
            .rsplit_once(':')
            .ok_or("missing `:PORT`; expected HOST:PORT")?;
        if host.contains(':') {
            return Err("IPv6 addresses must be in brackets, e.g. [::1]:8000".into());
        }
        (host, port)
    };
    if host.is_empty() {
        return Err("missing host; expected HOST:PORT".into());
    }
    if host.parse::<IpAddr>().is_err() && !is_host_name(host) {
        return Err(format!("`{host}` is not a valid host name or IP address"));
    }
    let port = match port.parse::<u16>() {
        Ok(0) | Err(_) => return Err(format!("port `{port}` is not a number from 1 to 65535")),
        Ok(port) => port,
    };
    Ok((host.to_owned(), port))
}

/// Letters, digits, `-`, `_` and dots between non-empty labels (lenient about `_`, which
/// container and service names use).
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

impl PeerAddr {
    /// A peer address for a known socket address.
    pub fn from_socket_addr(addr: SocketAddr, node_id: Option<NodeId>) -> Self {
        Self {
            host: addr.ip().to_string(),
            port: addr.port(),
            node_id,
        }
    }

    /// Resolves the host (DNS for names), each time it is called, so a peer whose address
    /// changes (a restarted pod) is found again.
    pub async fn resolve(&self) -> Result<Vec<SocketAddr>, TransportError> {
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|source| TransportError::Resolve {
                peer: self.to_string(),
                source,
            })?;
        Ok(addrs.collect())
    }
}

/// The canonical form `host:port[@node_id]`, IPv6 hosts in brackets; parses back equal.
impl fmt::Display for PeerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        if let Some(id) = self.node_id {
            write!(f, "@{id}")?;
        }
        Ok(())
    }
}

impl Serialize for PeerAddr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PeerAddr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn peer(host: &str, port: u16, id: bool) -> PeerAddr {
        PeerAddr {
            host: host.into(),
            port,
            node_id: id.then(|| ID.parse().unwrap()),
        }
    }

    #[test]
    fn accepted_entries() {
        let upper = format!("node-1:8000@{}", ID.to_uppercase());
        let cases: Vec<(String, PeerAddr)> = vec![
            ("127.0.0.1:8000".into(), peer("127.0.0.1", 8000, false)),
            ("node-1:8000".into(), peer("node-1", 8000, false)),
            (
                "dawn_node.svc.cluster.local:1".into(),
                peer("dawn_node.svc.cluster.local", 1, false),
            ),
            ("[::1]:65535".into(), peer("::1", 65535, false)),
            (format!("10.0.0.2:9000@{ID}"), peer("10.0.0.2", 9000, true)),
            (format!("{ID}@10.0.0.2:9000"), peer("10.0.0.2", 9000, true)),
            (format!("[fe80::1]:9000@{ID}"), peer("fe80::1", 9000, true)),
            (upper, peer("node-1", 8000, true)),
        ];
        for (input, expected) in cases {
            let parsed: PeerAddr = input.parse().unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(parsed, expected, "{input}");
            // The canonical form parses back to the same value.
            assert_eq!(parsed.to_string().parse::<PeerAddr>().unwrap(), parsed);
        }
    }

    #[test]
    fn rejected_entries_name_the_entry_and_the_problem() {
        let cases: Vec<(String, &str)> = vec![
            ("node-1".into(), "missing `:PORT`"),
            ("node-1:".into(), "port ``"),
            (":8000".into(), "missing host"),
            ("node-1:0".into(), "port `0`"),
            ("node-1:70000".into(), "port `70000`"),
            ("node-1:http".into(), "port `http`"),
            ("::1:8000".into(), "must be in brackets"),
            ("[::1:8000".into(), "missing `]`"),
            ("[::1]8000".into(), "missing `:PORT`"),
            ("[nope]:8000".into(), "not an IPv6 address"),
            ("bad host:8000".into(), "not a valid host name"),
            ("a..b:8000".into(), "not a valid host name"),
            ("node-1:8000@abc".into(), "node id `abc`"),
            (format!("node-1:8000@{ID}@x"), "more than one `@`"),
        ];
        for (input, expected) in cases {
            let error = input.parse::<PeerAddr>().unwrap_err();
            let text = error.to_string();
            assert!(text.contains(&format!("`{input}`")), "{input}: {text}");
            assert!(text.contains(expected), "{input}: {text}");
        }
    }

    #[test]
    fn lists_skip_blanks_and_report_every_bad_entry() {
        let list = parse_peer_list(&format!(" a:1 , ,b:2@{ID},")).unwrap();
        assert_eq!(list, vec![peer("a", 1, false), peer("b", 2, true)]);
        assert!(parse_peer_list("").unwrap().is_empty());
        assert!(parse_peer_list(" , ").unwrap().is_empty());
        let error = parse_peer_list("a:1,b,c:0").unwrap_err();
        assert_eq!(error.errors.len(), 2);
        let text = error.to_string();
        assert!(text.contains("`b`") && text.contains("`c:0`"), "{text}");
    }

    #[test]
    fn serde_uses_the_canonical_form() {
        let addr = peer("::1", 8000, true);
        let json = serde_json::to_string(&addr).unwrap();
        assert_eq!(json, format!("\"[::1]:8000@{ID}\""));
        assert_eq!(serde_json::from_str::<PeerAddr>(&json).unwrap(), addr);
    }

    #[tokio::test]
    async fn resolves_names_and_literals() {
        let addrs = peer("localhost", 8000, false).resolve().await.unwrap();
        assert!(
            addrs
                .iter()
                .all(|a| a.port() == 8000 && a.ip().is_loopback())
        );
        let addrs = peer("127.0.0.1", 1, false).resolve().await.unwrap();
        assert_eq!(addrs, vec!["127.0.0.1:1".parse().unwrap()]);
        let error = peer("no-such-host.invalid", 1, false)
            .resolve()
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("no-such-host.invalid:1"),
            "{error}"
        );
    }
}
