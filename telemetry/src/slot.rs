//! Recording slots: each recording thread owns one of [`SLOTS`] slot numbers for as long as
//! it lives, so that a counter can give every thread a word of its own ([`Striped`]).
//!
//! A word that only one thread writes needs no read-modify-write instruction: its owner adds
//! with a relaxed load and a relaxed store, which costs a fraction of a locked `fetch_add`
//! and never bounces a cache line between cores that update different words with a lock.
//! Readers sum the words with relaxed loads. Threads beyond [`SLOTS`] (and a thread whose
//! thread-locals are being destroyed) get no slot and record with `fetch_add` on a shared
//! word instead: slower, equally correct.
//!
//! A slot is handed back when its thread exits (a thread-local's destructor) and may then be
//! given to a new thread, which goes on adding to the words the old one left: the release
//! of the slot and its next claim are a release/acquire pair on [`CLAIMED`], so the new owner
//! sees every value the old one stored.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// Slot numbers available to threads, process-wide; a counter keeps one word per slot.
pub(crate) const SLOTS: usize = 15;

/// Words of a [`Striped`]: one per slot, then the shared word.
const WORDS: usize = SLOTS + 1;
/// The shared word's index.
const SHARED: usize = SLOTS;

/// The word of slot `slot`: consecutive slots alternate between the two cache lines of a
/// [`Striped`] (even slots in words 0..8, odd ones in 8..15), so that the first two threads,
/// the usual pair on a 2-core machine, never write the same line.
const fn word_of(slot: u8) -> u8 {
    (slot % 2) * 8 + slot / 2
}

/// A thread that has not asked for a slot yet.
const UNCLAIMED: u8 = u8::MAX;
/// A thread that has no slot: all were taken when it asked, or it is exiting.
const NONE: u8 = u8::MAX - 1;

/// Bit `i` set: slot `i` belongs to a live thread.
static CLAIMED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The word of this thread's slot ([`word_of`]), [`UNCLAIMED`] or [`NONE`]. No
    /// destructor: always accessible, one thread-pointer-relative load.
    static WORD: Cell<u8> = const { Cell::new(UNCLAIMED) };
    /// This thread's stripe ([`stripe`]) once known, else [`UNCLAIMED`]: a histogram's
    /// observation reads it with one load and one compare, where deriving it from [`WORD`]
    /// took about twice the instructions. No destructor, as for `WORD`.
    static STRIPE: Cell<u8> = const { Cell::new(UNCLAIMED) };
    /// Hands the slot back when the thread exits; touched only when claiming.
    static GUARD: Guard = const { Guard(Cell::new(NONE)) };
}

struct Guard(Cell<u8>);

impl Drop for Guard {
    fn drop(&mut self) {
        let slot = self.0.get();
        if usize::from(slot) < SLOTS {
            // Recordings made later by other thread-local destructors use the shared word:
            // after `release`, another thread may own the slot.
            WORD.set(NONE);
            STRIPE.set(0);
            release(slot);
        }
    }
}

/// The word of this thread's slot (below [`SHARED`]), the slot claimed on first use; `None`
/// when the thread has none.
#[inline]
fn current() -> Option<usize> {
    let word = WORD.get();
    if usize::from(word) < SHARED {
        Some(usize::from(word))
    } else if word == UNCLAIMED {
        claim()
    } else {
        None
    }
}

/// Stripes a recording thread may be given by [`stripe`].
pub(crate) const STRIPES: usize = 4;

/// The stripe, of [`STRIPES`], that this thread records into: its slot number modulo
/// `STRIPES`, so the first four threads to record each get one of their own; stripe 0 for a
/// thread without a slot (stripes are updated with atomic read-modify-writes, so sharing
/// one loses nothing).
#[inline]
pub(crate) fn stripe() -> usize {
    let stripe = usize::from(STRIPE.get());
    if stripe < STRIPES {
        stripe
    } else {
        first_stripe()
    }
}

/// [`stripe`] the first time a thread asks: from its slot, claimed if need be, and kept.
#[cold]
#[inline(never)]
fn first_stripe() -> usize {
    let stripe = match current() {
        // The inverse of `word_of`, modulo 4: an even slot `2k` sits in word `k` (< 8), an
        // odd one `2k + 1` in word `8 + k`; `2k mod 4` is `(k & 1) << 1`.
        Some(word) => ((word & 1) << 1) | (word >> 3),
        None => 0,
    };
    STRIPE.set(stripe as u8);
    stripe
}

#[cold]
#[inline(never)]
fn claim() -> Option<usize> {
    let mut claimed = CLAIMED.load(Ordering::Relaxed);
    let slot = loop {
        let free = !claimed & ((1u64 << SLOTS) - 1);
        if free == 0 {
            WORD.set(NONE);
            return None;
        }
        let slot = free.trailing_zeros() as u8;
        match CLAIMED.compare_exchange_weak(
            claimed,
            claimed | 1 << slot,
            // Acquire: see everything the slot's previous owner stored before releasing it.
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => break slot,
            Err(now) => claimed = now,
        }
    };
    // The guard hands the slot back at thread exit. If this thread's thread-locals are
    // already being destroyed it cannot be registered: give the slot back at once.
    if GUARD.try_with(|guard| guard.0.set(slot)).is_err() {
        release(slot);
        WORD.set(NONE);
        return None;
    }
    WORD.set(word_of(slot));
    Some(usize::from(word_of(slot)))
}

fn release(slot: u8) {
    // Release: the next owner sees every value this thread stored in the slot's words.
    CLAIMED.fetch_and(!(1u64 << slot), Ordering::Release);
}

/// A `u64` total with one word per slot plus a shared word: adding is a plain load and store
/// on the calling thread's own word (a `fetch_add` on the shared word without a slot), and
/// the total is the sum of all the words.
///
/// The words fill two cache lines of their own, away from the series' other fields.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Striped {
    /// One per slot, at [`word_of`]; the shared word at [`SHARED`].
    words: [AtomicU64; WORDS],
}

impl Striped {
    /// Adds `n` (wrapping, as `fetch_add` does).
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        match current() {
            Some(word) => {
                // Only this thread writes this word: load + store loses nothing.
                let word = &self.words[word];
                word.store(
                    word.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            }
            None => {
                self.words[SHARED].fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// The total: monotonic for a reader as long as only additions are made, because each
    /// word only grows and a thread's successive loads of a word never go back.
    pub(crate) fn sum(&self) -> u64 {
        self.words
            .iter()
            .fold(0, |acc, w| acc.wrapping_add(w.load(Ordering::Relaxed)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Barrier};

    #[test]
    fn a_threads_stripe_is_its_slot_modulo_the_stripes() {
        // Consecutive slots (the first threads to record) then fall in different stripes.
        // Other tests' threads may hold slots too, so the slots held here are looked up.
        let barrier = Barrier::new(4);
        let held: Vec<(usize, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let word = current().expect("a slot");
                        let stripe = stripe();
                        barrier.wait();
                        (word, stripe)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        for (word, stripe) in held {
            let slot = (0..SLOTS as u8)
                .find(|s| usize::from(word_of(*s)) == word)
                .expect("a slot's word");
            assert_eq!(stripe, usize::from(slot) % STRIPES, "word {word}");
        }
    }

    #[test]
    fn threads_get_distinct_slots_and_give_them_back() {
        // More threads at once than slots: some record through the shared word.
        let threads = SLOTS + 5;
        let barrier = Arc::new(Barrier::new(threads));
        let counter = Arc::new(Striped::default());
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (barrier, counter) = (barrier.clone(), counter.clone());
                std::thread::spawn(move || {
                    counter.add(1);
                    let slot = current();
                    // Hold the slot until every thread has one or has been refused.
                    barrier.wait();
                    for _ in 0..10_000 {
                        counter.add(3);
                    }
                    slot
                })
            })
            .collect();
        let slots: Vec<Option<usize>> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        assert_eq!(counter.sum(), threads as u64 * 30_001);
        let mut owned: Vec<usize> = slots.iter().flatten().copied().collect();
        owned.sort_unstable();
        owned.dedup();
        assert_eq!(
            owned.len(),
            slots.iter().flatten().count(),
            "no slot is shared by two live threads: {slots:?}"
        );
        assert!(
            slots.iter().any(Option::is_none),
            "the excess threads had none"
        );

        // Slots come back at thread exit: new threads may get them and add to what was left.
        // (Other tests' threads may hold slots meanwhile, so whether these get one is not
        // asserted; their additions must count either way.)
        let again: Vec<_> = (0..4)
            .map(|_| {
                let counter = counter.clone();
                std::thread::spawn(move || counter.add(1))
            })
            .collect();
        for h in again {
            h.join().expect("thread");
        }
        assert_eq!(counter.sum(), threads as u64 * 30_001 + 4);
    }

    #[test]
    fn every_slot_has_its_own_word_and_the_first_two_are_a_line_apart() {
        let mut words: Vec<u8> = (0..SLOTS as u8).map(word_of).collect();
        assert_eq!(
            word_of(1) - word_of(0),
            8,
            "8 words of 8 bytes: one cache line"
        );
        words.sort_unstable();
        words.dedup();
        assert_eq!(words.len(), SLOTS);
        assert!(words.iter().all(|w| usize::from(*w) < SHARED));
    }

    #[test]
    fn additions_wrap_like_fetch_add() {
        let s = Striped::default();
        s.add(u64::MAX);
        s.add(2);
        assert_eq!(s.sum(), 1);
    }
}
