//! In-process tests over real UDP on 127.0.0.1 (port 0): handshakes, messaging, peers,
//! clients.

mod clients;
mod handshake;
mod messaging;
mod parting;
mod peers;
mod support;
