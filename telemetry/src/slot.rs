//! Recording slots: each recording thread owns one of [`SLOTS`] slot numbers for as long as
//! it lives, so that a counter can give every thread a word of its own ([`Striped`]).
//!
//! A word that only one thread writes needs no read-modify-write instruction: its owner adds
//! with a relaxed load and a relaxed store, which costs a fraction of a locked `fetch_add`
//! and never bounces a cache line between cores that update different words with a lock.
//! Readers sum the words with relaxed loads. Threads beyond [`SLOTS`] (and a thread whose
//! thread-locals are being destroyed) get no slot and record with `fetch_add` on a shared
//! word instead: slower, equally correct. Histograms, which keep a copy of their buckets
//! per [`Stripe`] rather than per slot, give the first [`OWNED_STRIPES`] slots a stripe of
//! their own on the same terms, and every other thread one shared stripe.
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
            STRIPE.set(SHARED_STRIPE as u8);
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

/// Stripes owned by one thread each: stripe `s` belongs to the thread holding slot `s`.
/// Three, so that with the shared one they are four, a power of two: a stripe's index is
/// then taken modulo [`STRIPES`] with a mask.
pub(crate) const OWNED_STRIPES: usize = 3;
/// Stripes in all: the owned ones, then the shared one ([`SHARED_STRIPE`]).
pub(crate) const STRIPES: usize = OWNED_STRIPES + 1;
/// The stripe of every thread whose slot is not below [`OWNED_STRIPES`], or that has none.
const SHARED_STRIPE: usize = OWNED_STRIPES;

/// The stripe of [`STRIPES`] that the calling thread records into ([`stripe`]): its own,
/// whose words only it writes, or the shared one. Its `add` methods are how a stripe's
/// words are added to: plain loads and stores on an owned stripe, read-modify-writes on the
/// shared one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stripe(usize);

impl Stripe {
    /// Below [`STRIPES`].
    #[inline]
    pub(crate) fn index(self) -> usize {
        self.0
    }

    /// Adds `n` (wrapping) to `word`, a word of this stripe.
    #[inline]
    pub(crate) fn add(self, word: &AtomicU64, n: u64) {
        if self.0 < OWNED_STRIPES {
            owned_add(word, n);
        } else {
            word.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Adds `delta` to the `f64` whose bits `word`, a word of this stripe, holds.
    #[inline]
    pub(crate) fn add_f64(self, word: &AtomicU64, delta: f64) {
        if self.0 < OWNED_STRIPES {
            // Only this thread writes the word: load + store loses nothing.
            let sum = f64::from_bits(word.load(Ordering::Relaxed)) + delta;
            word.store(sum.to_bits(), Ordering::Relaxed);
        } else {
            add_f64(word, delta);
        }
    }
}

/// Adds `delta` to the `f64` whose bits `cell` holds, whoever else adds to it: a
/// compare-and-swap loop, lock-free.
#[inline]
pub(crate) fn add_f64(cell: &AtomicU64, delta: f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let next = (f64::from_bits(current) + delta).to_bits();
        match cell.compare_exchange_weak(current, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return,
            Err(actual) => current = actual,
        }
    }
}

/// Adds `n` (wrapping) to `word`, which only the calling thread writes.
#[inline]
fn owned_add(word: &AtomicU64, n: u64) {
    word.store(
        word.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// The stripe that this thread records into: stripe `s` for the thread holding slot `s <`
/// [`OWNED_STRIPES`], so the first three threads to record (a node's main thread and, on two
/// cores, its runtime workers) each write a stripe of their own without a locked
/// instruction; the shared stripe for any other thread.
#[inline]
pub(crate) fn stripe() -> Stripe {
    let stripe = usize::from(STRIPE.get());
    if stripe < STRIPES {
        Stripe(stripe)
    } else {
        first_stripe()
    }
}

/// [`stripe`] the first time a thread asks: from its slot, claimed if need be, and kept.
#[cold]
#[inline(never)]
fn first_stripe() -> Stripe {
    let stripe = match current() {
        Some(word) => owned_stripe(slot_of(word)),
        None => SHARED_STRIPE,
    };
    STRIPE.set(stripe as u8);
    Stripe(stripe)
}

/// The stripe of the thread holding slot `slot`.
const fn owned_stripe(slot: usize) -> usize {
    if slot < OWNED_STRIPES {
        slot
    } else {
        SHARED_STRIPE
    }
}

/// The slot whose word is `word`: the inverse of [`word_of`] (an even slot `2k` sits in
/// word `k`, an odd one `2k + 1` in word `8 + k`).
const fn slot_of(word: usize) -> usize {
    (word % 8) * 2 + word / 8
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
                owned_add(&self.words[word], n);
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
    fn a_thread_owns_the_stripe_of_its_slot_or_shares_the_last() {
        // Stripes 0..OWNED_STRIPES are the first slots', so no two live threads write one;
        // later slots share the last. Other tests' threads may hold slots too, so the slots
        // held here are looked up.
        let barrier = Barrier::new(OWNED_STRIPES + 2);
        let held: Vec<(usize, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..OWNED_STRIPES + 2)
                .map(|_| {
                    s.spawn(|| {
                        let word = current().expect("a slot");
                        let stripe = stripe().index();
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
            assert_eq!(usize::from(slot), slot_of(word), "word {word}");
            let expected = if usize::from(slot) < OWNED_STRIPES {
                usize::from(slot)
            } else {
                SHARED_STRIPE
            };
            assert_eq!(stripe, expected, "slot {slot}");
        }
    }

    #[test]
    fn a_thread_without_a_slot_records_in_the_shared_stripe() {
        // More threads at once than slots: the excess get the shared stripe, and adding
        // through it from many threads loses nothing.
        let threads = SLOTS + 3;
        let barrier = Barrier::new(threads);
        let word = AtomicU64::new(0);
        let stripes: Vec<usize> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let stripe = stripe();
                        barrier.wait();
                        if stripe.index() == SHARED_STRIPE {
                            for _ in 0..10_000 {
                                stripe.add(&word, 1);
                            }
                        }
                        stripe.index()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("thread"))
                .collect()
        });
        let shared = stripes.iter().filter(|s| **s == SHARED_STRIPE).count();
        assert!(shared >= threads - OWNED_STRIPES, "{stripes:?}");
        assert_eq!(word.load(Ordering::Relaxed), shared as u64 * 10_000);
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
