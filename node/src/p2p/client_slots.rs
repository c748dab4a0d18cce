//! The slots of the clients (`dawn-client/1` connections) served at once, and the fair
//! share rule: one source address ([`SourceAddress`]) may hold at most a quarter of them, so
//! a single host opening connections cannot lock every other client out. Trusted clients
//! are not held to the share, nor counted in it (they still need a free slot). A slot is held by a
//! [`ClientSlot`] and given back when it is dropped, i.e. as soon as the client's
//! connection has ended.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::codes::CloseCode;
use super::source::SourceAddress;

/// Clients (`dawn-client/1` connections) served at once; more are closed with
/// [`CloseCode::ClientLimit`].
pub const MAX_CLIENTS: usize = 64;

/// The fair share: one source address may hold at most `1 / FAIR_SHARE_DIVISOR` of the
/// client slots (16 of 64); more from it are closed with [`CloseCode::AddressClientLimit`].
pub const FAIR_SHARE_DIVISOR: usize = 4;

#[derive(Debug, Default)]
struct Held {
    total: usize,
    by_address: HashMap<SourceAddress, usize>,
}

/// The client slots of one network.
#[derive(Debug)]
pub(super) struct ClientSlots {
    max: usize,
    per_address: usize,
    held: Mutex<Held>,
}

/// One client's slot; dropping it gives the slot back.
#[derive(Debug)]
pub(super) struct ClientSlot {
    slots: Arc<ClientSlots>,
    /// The address whose share it counts in; `None` for a trusted client.
    address: Option<SourceAddress>,
}

impl ClientSlots {
    /// `max` slots, at most a fair share of them (at least one) per source address.
    pub(super) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            per_address: (max / FAIR_SHARE_DIVISOR).max(1),
            held: Mutex::default(),
        })
    }

    /// A slot for a client from `address`, or the code to close its connection with.
    pub(super) fn take(
        self: &Arc<Self>,
        address: SourceAddress,
        trusted: bool,
    ) -> Result<ClientSlot, CloseCode> {
        let mut held = self.lock();
        if held.total >= self.max {
            return Err(CloseCode::ClientLimit);
        }
        let from_address = held.by_address.get(&address).copied().unwrap_or(0);
        if !trusted && from_address >= self.per_address {
            return Err(CloseCode::AddressClientLimit);
        }
        held.total += 1;
        if !trusted {
            held.by_address.insert(address, from_address + 1);
        }
        Ok(ClientSlot {
            slots: Arc::clone(self),
            address: (!trusted).then_some(address),
        })
    }

    /// Slots held now, in all and by untrusted clients from `address`.
    pub(super) fn held(&self, address: SourceAddress) -> (usize, usize) {
        let held = self.lock();
        let by = held.by_address.get(&address).copied().unwrap_or(0);
        (held.total, by)
    }

    fn give_back(&self, address: Option<SourceAddress>) {
        let mut held = self.lock();
        held.total = held.total.saturating_sub(1);
        let Some(address) = address else {
            return;
        };
        if let Some(n) = held.by_address.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                held.by_address.remove(&address);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        // Every update is one step that leaves the counts consistent.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.slots.give_back(self.address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(last: u8) -> SourceAddress {
        SourceAddress::of(std::net::IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn an_address_gets_its_fair_share_and_slots_come_back_when_dropped() {
        let slots = ClientSlots::new(8);
        let mut a: Vec<ClientSlot> = (0..2)
            .map(|_| slots.take(addr(1), false).unwrap())
            .collect();
        assert_eq!(
            slots.take(addr(1), false).unwrap_err(),
            CloseCode::AddressClientLimit,
            "a quarter of 8 is 2"
        );
        // A trusted client from the same address is not held to the share.
        let trusted = slots.take(addr(1), true).unwrap();
        let others: Vec<ClientSlot> = (2..7)
            .map(|i| slots.take(addr(i), false).unwrap())
            .collect();
        assert_eq!(slots.held(addr(1)), (8, 2));
        assert_eq!(
            slots.take(addr(9), false).unwrap_err(),
            CloseCode::ClientLimit
        );
        a.pop();
        assert_eq!(slots.held(addr(1)), (7, 1));
        let again = slots.take(addr(1), false).unwrap();
        drop((a, trusted, others, again));
        assert_eq!(slots.held(addr(1)), (0, 0));
    }

    #[test]
    fn the_share_is_at_least_one() {
        let slots = ClientSlots::new(2);
        let held = slots.take(addr(1), false).unwrap();
        assert_eq!(
            slots.take(addr(1), false).unwrap_err(),
            CloseCode::AddressClientLimit
        );
        let other = slots.take(addr(2), false).unwrap();
        drop((held, other));
    }
}
