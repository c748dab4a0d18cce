//! Sources: the clients whose values the store keeps, keyed by (client name, node id).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Instant;

/// Who a value comes from: the `client_name` and `node_id` of a `Hello`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceKey {
    /// Program name, e.g. `dawn-node`.
    pub client_name: String,
    /// The node's id.
    pub node_id: String,
}

impl SourceKey {
    /// A key from its parts.
    pub fn new(client_name: impl Into<String>, node_id: impl Into<String>) -> Self {
        SourceKey {
            client_name: client_name.into(),
            node_id: node_id.into(),
        }
    }
}

impl fmt::Display for SourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.client_name, self.node_id)
    }
}

/// A source's state in the store.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) key: SourceKey,
    /// The incarnation whose values the store holds.
    pub(crate) incarnation: u64,
    /// Open connections of this source.
    pub(crate) connections: u32,
    /// When the last connection closed, while none is open.
    pub(crate) disconnected_at: Option<Instant>,
    /// (family slot, series slot) of every series holding a sample of this source.
    pub(crate) held: HashSet<(u32, u32)>,
    /// The last cumulative `Heartbeat::dropped` of this incarnation.
    pub(crate) dropped: u64,
}

/// Sources in a slab, with a lookup by key.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    slots: Vec<Option<Source>>,
    free: Vec<u32>,
    by_key: HashMap<SourceKey, u32>,
}

impl Sources {
    pub(crate) fn find(&self, key: &SourceKey) -> Option<u32> {
        self.by_key.get(key).copied()
    }

    pub(crate) fn insert(&mut self, key: SourceKey, incarnation: u64) -> u32 {
        let source = Source {
            key: key.clone(),
            incarnation,
            connections: 0,
            disconnected_at: None,
            held: HashSet::new(),
            dropped: 0,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(source);
                slot
            }
            None => {
                self.slots.push(Some(source));
                (self.slots.len() - 1) as u32
            }
        };
        self.by_key.insert(key, slot);
        slot
    }

    pub(crate) fn get(&self, slot: u32) -> Option<&Source> {
        self.slots.get(slot as usize).and_then(Option::as_ref)
    }

    pub(crate) fn get_mut(&mut self, slot: u32) -> Option<&mut Source> {
        self.slots.get_mut(slot as usize).and_then(Option::as_mut)
    }

    pub(crate) fn remove(&mut self, slot: u32) -> Option<Source> {
        let source = self.slots.get_mut(slot as usize)?.take()?;
        self.by_key.remove(&source.key);
        self.free.push(slot);
        Some(source)
    }

    /// Slots of sources without a connection since at least `cutoff`.
    pub(crate) fn disconnected_before(&self, cutoff: Instant) -> Vec<u32> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                let gone = s.connections == 0 && s.disconnected_at.is_some_and(|t| t <= cutoff);
                gone.then_some(i as u32)
            })
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}
