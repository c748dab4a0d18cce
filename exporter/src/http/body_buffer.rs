//! Buffers for large scrape bodies, sized so that the allocator gives their memory back to
//! the system once the response is sent.
//!
//! glibc's malloc serves an allocation from the calling thread's arena unless it is at
//! least its mmap threshold, and memory freed into an arena stays with the process (to be
//! reused by that arena). The threshold starts at 128 KiB and, each time a mapped block is
//! freed, rises to that block's size, up to 32 MiB on 64-bit systems. So once any large
//! block has come and gone (a scrape body, a hash table that grew), a body of a few MiB up
//! to 32 MiB comes from an arena, and after the response it stays resident, once per arena
//! that rendered one: the tokio blocking threads that render scrapes each have one (glibc
//! gives up to 8 per core). At 100k series that was a 29 MB plain text kept per arena, and
//! the exporter's resident memory after a few scrapes moved between 81 and 136 MiB from one
//! run to the next with how many threads had rendered one (docs/benchmarks.md).
//!
//! A request of 32 MiB or more is always mapped on its own and unmapped when freed, and the
//! pages of a mapping never written are never resident. So a body expected to be
//! [`LARGE`] or more gets a capacity of at least [`ALWAYS_MAPPED`]: it costs the pages it
//! fills and a fault for each, and nothing after the response (musl's malloc maps large
//! blocks on their own anyway). Smaller bodies keep the arena, which is faster for them and
//! holds at most [`LARGE`] per arena.

/// The smallest request glibc's malloc always maps on its own: its largest dynamic mmap
/// threshold on 64-bit systems (`DEFAULT_MMAP_THRESHOLD_MAX`).
pub(super) const ALWAYS_MAPPED: usize = 32 << 20;

/// Bodies expected to be at least this large get a buffer of their own mapping.
pub(super) const LARGE: usize = 8 << 20;

/// The capacity to allocate for a body expected to take `expected` bytes.
pub(super) fn capacity(expected: usize) -> usize {
    if expected >= LARGE {
        expected.max(ALWAYS_MAPPED)
    } else {
        expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_large_bodies_get_a_mapping_of_their_own() {
        assert_eq!(capacity(0), 0);
        assert_eq!(capacity(LARGE - 1), LARGE - 1);
        assert_eq!(capacity(LARGE), ALWAYS_MAPPED);
        assert_eq!(capacity(ALWAYS_MAPPED + 1), ALWAYS_MAPPED + 1);
    }
}
