//! Who sent a message, as the layers above the transport see it: the authenticated node
//! id, the address it came from, and whether it is a peer or a client. The address is
//! also reduced to the unit that per-address limits count ([`SourceAddress`]).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::connection::Role;
use super::node_id::NodeId;

/// The unit per-address limits count (the client fair share, the per-address rate limit):
/// an IPv4 address, or the /64 prefix of an IPv6 address, the block one host is usually
/// given, so that a host cannot dodge the limit by rotating through its own addresses.
/// An IPv4-mapped IPv6 address counts as the IPv4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceAddress(IpAddr);

impl SourceAddress {
    /// The unit that `ip` belongs to.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
        }
    }
}

impl fmt::Display for SourceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

/// The sender of one incoming message, handed to the [`Handler`](super::Handler) with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sender {
    /// The authenticated id (the identity's public key).
    pub node_id: NodeId,
    /// The UDP address of the connection at handshake time.
    pub remote_addr: SocketAddr,
    /// A peer (admitted to the peer table) or a client.
    pub role: Role,
}

impl Sender {
    /// The per-address unit the message counts against.
    pub fn source(&self) -> SourceAddress {
        SourceAddress::of(self.remote_addr.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an IP address")
    }

    #[test]
    fn ipv4_is_itself_ipv6_is_its_64_prefix_and_mapped_ipv4_is_ipv4() {
        let cases = [
            ("192.0.2.7", "192.0.2.7"),
            ("::ffff:192.0.2.7", "192.0.2.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
            ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
            ("::1", "::/64"),
        ];
        for (input, unit) in cases {
            assert_eq!(SourceAddress::of(ip(input)).to_string(), unit, "{input}");
        }
        assert_eq!(
            SourceAddress::of(ip("2001:db8:1:2::1")),
            SourceAddress::of(ip("2001:db8:1:2:ffff::9"))
        );
        assert_ne!(
            SourceAddress::of(ip("2001:db8:1:2::1")),
            SourceAddress::of(ip("2001:db8:1:3::1"))
        );
        assert_ne!(
            SourceAddress::of(ip("127.0.0.1")),
            SourceAddress::of(ip("127.0.0.2"))
        );
    }
}
