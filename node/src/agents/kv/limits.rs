//! Bounds of the key-value agent, so that a peer cannot fill the disk or make every write
//! slow.

/// Limits of the key-value store. Sizes are of the JSON encoding, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvLimits {
    /// Longest key, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Largest value, as encoded JSON.
    pub max_value_bytes: usize,
    /// Most keys.
    pub max_entries: usize,
    /// Largest total of keys and values; the whole file is rewritten on every change, so
    /// this also bounds the cost of one write.
    pub max_total_bytes: usize,
}

impl Default for KvLimits {
    fn default() -> Self {
        KvLimits {
            max_key_bytes: 256,
            max_value_bytes: 64 * 1024,
            max_entries: 10_000,
            max_total_bytes: 8 * 1024 * 1024,
        }
    }
}

impl KvLimits {
    /// The largest file these limits can produce, plus slack for the envelope: a bigger
    /// file was not written by this node and is reported as corrupt rather than read.
    pub(super) fn max_file_bytes(&self) -> u64 {
        (self.max_total_bytes as u64).saturating_add(64 * 1024)
    }
}
