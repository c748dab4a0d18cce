//! The shipper against an in-test fake exporter over a real Unix socket.

mod shipper;
pub(crate) mod specs;
