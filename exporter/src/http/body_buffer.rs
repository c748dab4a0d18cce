//! Buffers for scrape bodies, chosen so that what scrapes leave behind in memory is one
//! buffer, whichever threads rendered them.
//!
//! glibc's malloc serves an allocation from the calling thread's arena unless it is at
//! least its mmap threshold, and memory freed into an arena stays with the process, for that
//! arena to reuse. The threshold starts at 128 KiB and, each time a mapped block is freed,
//! rises to that block's size, up to 32 MiB on 64-bit systems. So once any large block has
//! come and gone (a scrape body, a hash table that grew), a body of a few MiB up to 32 MiB
//! comes from an arena and, after the response, stays resident, once for every arena that
//! rendered one: the tokio blocking threads that render scrapes each have one (glibc gives
//! up to 8 per core). At 100k series the plain text is 29 MB, and an exporter holding about
//! 50 MiB of series was at 81 to 137 MiB after a few dozen scrapes (docs/benchmarks.md).
//!
//! The plain text therefore renders into a buffer the exporter keeps itself
//! ([`BodyBuffers`]): a scrape takes it when it is free and the response gives it back once
//! sent, so it is reused without touching new memory. A buffer that is not kept (a text
//! over [`KEEP_MAX`], a second scrape's while the kept one is lent, the output of a gzip
//! body, which is built afresh each time) and is [`LARGE`] or more gets a capacity of at
//! least [`ALWAYS_MAPPED`], which glibc always maps on its own and unmaps when freed; the
//! pages of a mapping never written are never resident. Such a buffer costs a page fault
//! for each 4 KiB written (30-50 ms for 29 MB on the benchmark's VM, against 3 ms into a
//! buffer already resident), so it is not the way for a body that is rendered again and
//! again. musl's malloc maps large blocks on their own anyway.

use std::sync::{Arc, Mutex, MutexGuard};

use hyper::body::Bytes;

/// The smallest request glibc's malloc always maps on its own: its largest dynamic mmap
/// threshold on 64-bit systems (`DEFAULT_MMAP_THRESHOLD_MAX`).
pub(super) const ALWAYS_MAPPED: usize = 32 << 20;

/// Buffers of at least this many bytes that are not kept get a mapping of their own.
pub(super) const LARGE: usize = 8 << 20;

/// The largest buffer kept between scrapes: larger ones are mapped on their own anyway (a
/// million series take 292 MB of text, which would stay resident for the next scrape).
pub(super) const KEEP_MAX: usize = ALWAYS_MAPPED;

/// The capacity to allocate for a body of about `expected` bytes that will not be kept.
pub(super) fn capacity(expected: usize) -> usize {
    if expected >= LARGE {
        expected.max(ALWAYS_MAPPED)
    } else {
        expected
    }
}

/// The plain-text buffer kept between scrapes.
#[derive(Debug, Default)]
pub(super) struct BodyBuffers {
    kept: Mutex<Option<Vec<u8>>>,
}

impl BodyBuffers {
    fn lock(&self) -> MutexGuard<'_, Option<Vec<u8>>> {
        // Nothing is left half-done under this lock: a buffer is taken or put back whole.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An empty buffer with room for about `expected` bytes: the kept one if it is free and
    /// `expected` is within [`KEEP_MAX`], else one of its own ([`capacity`]).
    pub(super) fn take(&self, expected: usize) -> Vec<u8> {
        if expected <= KEEP_MAX
            && let Some(mut buf) = self.lock().take()
        {
            buf.clear();
            buf.reserve(expected);
            return buf;
        }
        Vec::with_capacity(capacity(expected))
    }

    /// `buf` as a response body, whose buffer comes back to `buffers` once the body is
    /// dropped (sent, or its connection gone) if it is within [`KEEP_MAX`] and no other is
    /// kept.
    pub(super) fn body(buffers: &Arc<BodyBuffers>, buf: Vec<u8>) -> Bytes {
        if buf.capacity() > KEEP_MAX {
            return Bytes::from(buf);
        }
        Bytes::from_owner(Lent {
            buf,
            home: Arc::clone(buffers),
        })
    }

    fn give_back(&self, buf: Vec<u8>) {
        let mut kept = self.lock();
        if kept.is_none() {
            *kept = Some(buf);
        }
    }

    /// The capacity of the buffer kept now (0 when none is, or it is lent).
    #[cfg(test)]
    fn kept_capacity(&self) -> usize {
        self.lock().as_ref().map_or(0, Vec::capacity)
    }
}

/// A kept buffer lent to a response body.
struct Lent {
    buf: Vec<u8>,
    home: Arc<BodyBuffers>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.home.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_not_kept_get_a_mapping_of_their_own_when_large() {
        assert_eq!(capacity(0), 0);
        assert_eq!(capacity(LARGE - 1), LARGE - 1);
        assert_eq!(capacity(LARGE), ALWAYS_MAPPED);
        assert_eq!(capacity(ALWAYS_MAPPED + 1), ALWAYS_MAPPED + 1);
    }

    #[test]
    fn the_buffer_comes_back_once_the_body_is_dropped_and_is_reused() {
        let buffers = Arc::new(BodyBuffers::default());
        let mut buf = buffers.take(1000);
        buf.extend_from_slice(b"x 1\n");
        let at = buf.as_ptr();
        let body = BodyBuffers::body(&buffers, buf);
        assert_eq!(&body[..], b"x 1\n");
        // Lent: a scrape at the same time gets a buffer of its own.
        assert_eq!(buffers.kept_capacity(), 0);
        let other = buffers.take(1000);
        assert_ne!(other.as_ptr(), at);
        let clone = body.clone();
        drop(body);
        assert_eq!(
            buffers.kept_capacity(),
            0,
            "a clone of the body still holds it"
        );
        drop(clone);
        assert!(buffers.kept_capacity() >= 1000);
        // The second body's buffer is not kept: one is.
        drop(BodyBuffers::body(&buffers, other));
        let again = buffers.take(500);
        assert_eq!(again.as_ptr(), at, "the first buffer, reused");
        assert!(again.is_empty());
        assert_eq!(buffers.kept_capacity(), 0);
    }

    #[test]
    fn bodies_over_the_limit_are_never_kept() {
        let buffers = Arc::new(BodyBuffers::default());
        let buf = buffers.take(KEEP_MAX + 1);
        assert!(buf.capacity() > KEEP_MAX);
        drop(BodyBuffers::body(&buffers, buf));
        assert_eq!(buffers.kept_capacity(), 0);
        // Nor handed out for them.
        drop(BodyBuffers::body(&buffers, buffers.take(10)));
        let kept = buffers.kept_capacity();
        assert!(kept >= 10);
        let _big = buffers.take(KEEP_MAX + 1);
        assert_eq!(buffers.kept_capacity(), kept);
    }
}
