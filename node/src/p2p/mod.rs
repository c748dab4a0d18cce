//! QUIC transport and identity: who this node is, how peers prove who they are, and how
//! messages travel between them. `docs/p2p.md` is the user-facing description.
//!
//! Layers, one concern per file:
//!
//! - identity: [`NodeId`] (`node_id.rs`), the persistent Ed25519 key ([`Identity`],
//!   `identity.rs`, on disk through `key_file.rs`);
//! - TLS: the self-signed certificate (`cert.rs`), the verification rule on both sides
//!   (`verify.rs`), the rustls/quinn configurations and the ALPN protocol ids (`tls.rs`);
//! - transport: the [`Endpoint`] (`endpoint.rs`) yielding authenticated
//!   [`PeerConnection`]s (`connection.rs`: request/notify), the serving side with its
//!   [`Handler`] and the client idle timeout (`serve.rs`), who sent a message ([`Sender`],
//!   and the [`SourceAddress`] per-address limits count, `source.rs`), wire codes
//!   (`codes.rs`), limits ([`TransportSettings`]);
//! - clients: their slots and the fair share per source address (`client_slots.rs`);
//! - what strangers can repeat at will, logged rate-limited (`noise.rs`);
//! - peers: [`PeerTable`] and the admission rules (`peer_table.rs`), [`PeerEvent`]s
//!   (`events.rs`), peer addresses and `PROJECT_DAWN_BOOTSTRAP` parsing (`bootstrap.rs`),
//!   the [`AddressBook`] of known addresses and the dial plan (`address_book.rs`, sans-IO),
//!   the dialers that keep peers connected (`dialer.rs`, waiting by `dawn_telemetry`'s
//!   [`Backoff`](dawn_telemetry::Backoff), the schedule the telemetry shipper uses too);
//! - [`Network`] (`network.rs`) wires them into the node's running peer-to-peer network.

mod address_book;
mod bootstrap;
mod cert;
mod client_slots;
mod codes;
mod connection;
mod dialer;
mod endpoint;
mod error;
mod events;
mod identity;
mod key_file;
mod network;
mod node_id;
mod noise;
mod peer_table;
mod rotation;
mod serve;
mod settings;
mod source;
mod tls;
mod verify;

#[cfg(test)]
mod tests;

pub use address_book::{
    AddressBook, BookConfig, DEFAULT_BOOK_CAPACITY, DialOutcome, MAX_DIAL_FAILURES,
};
pub use bootstrap::{PeerAddr, PeerAddrError, PeerListError, parse_peer_list};
pub use cert::CertError;
pub use client_slots::{FAIR_SHARE_DIVISOR, MAX_CLIENTS};
pub use codes::{CloseCode, DisconnectReason, RejectReason, StreamCode};
pub use connection::{Direction, PeerConnection, Role};
pub use endpoint::{Endpoint, IncomingPeer};
pub use error::TransportError;
pub use events::{NoObserver, PeerEvent, PeerObserver};
pub use identity::{IDENTITY_KEY_FILE, Identity, IdentityError};
pub use key_file::KeyFileError;
pub use network::{DEFAULT_REDIAL_BACKOFF, Network, NetworkConfig};
pub use node_id::{
    NODE_ID_LEN, NodeId, NodeIdListError, NodeIdParseError, ShortNodeId, parse_node_id_list,
};
pub use peer_table::{Admission, DEFAULT_MAX_PEERS, PeerInfo, PeerPolicy, PeerTable};
pub use rotation::{Rotation, RotationConfig};
pub use serve::{BoxFuture, FnHandler, Handler, handler_fn};
pub use settings::{DEFAULT_MAX_MESSAGE_SIZE, TransportSettings};
pub use source::{Sender, SourceAddress};
pub use tls::{ALPN, CLIENT_ALPN, TlsError};
