//! A second core for a large gzip scrape: counted across concurrent scrapes, and the helper
//! thread started on it rather than behind the scrape's own thread.
//!
//! A new thread is not always placed on an idle core: a kernel may queue it on the core of
//! the thread that spawned it and leave it there until that thread blocks, which for a
//! scrape means until its own half is compressed: the halves then run one after the other.
//! On this project's 2-core VMs, whose kernel packs threads onto few cores, about half the
//! helpers did. So the helper's first act is to move itself off the scrape thread's core,
//! while the scrape thread yields until it has (see [`Placement`]); the helper then allows
//! itself every core again, so nothing stays pinned.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rustix::thread::{CpuSet, sched_getaffinity, sched_getcpu, sched_setaffinity};

/// Threads deflating a first half right now, across concurrent scrapes.
static HELPERS: AtomicUsize = AtomicUsize::new(0);

/// How long the scrape thread yields for its helper to move: far longer than starting a
/// thread takes (under 0.1 ms), far shorter than compressing a half (milliseconds).
const MOVE_WITHIN: Duration = Duration::from_millis(1);

/// A core beyond the scrape's own, held for one helper thread (released when dropped).
pub(super) struct SecondCore;

impl SecondCore {
    /// A core, unless every core but one already runs a helper (or there is only one).
    pub(super) fn take() -> Option<SecondCore> {
        static CORES: OnceLock<usize> = OnceLock::new();
        let cores =
            *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        HELPERS
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |busy| {
                (busy + 1 < cores).then_some(busy + 1)
            })
            .ok()
            .map(|_| SecondCore)
    }
}

impl Drop for SecondCore {
    fn drop(&mut self) {
        HELPERS.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Where the scrape thread runs, taken before it spawns its helper, and whether the helper
/// has moved off that core yet.
pub(super) struct Placement {
    /// The scrape thread's core.
    avoid: usize,
    moved: AtomicBool,
}

impl Placement {
    /// The calling (scrape) thread's placement.
    pub(super) fn here() -> Placement {
        Placement {
            avoid: sched_getcpu(),
            moved: AtomicBool::new(false),
        }
    }

    /// Called first by the helper thread: moves it to another core the process may use,
    /// then allows it every one of them again; gives the core it moved to. Where the
    /// process may use no other core, or the kernel refuses, the helper stays where the
    /// kernel put it (`None`).
    pub(super) fn leave(&self) -> Option<usize> {
        let moved_to = self.move_elsewhere();
        self.moved.store(true, Ordering::Release);
        moved_to
    }

    fn move_elsewhere(&self) -> Option<usize> {
        if self.avoid >= CpuSet::MAX_CPU {
            return None;
        }
        let allowed = sched_getaffinity(None).ok()?;
        if !allowed.is_set(self.avoid) || allowed.count() < 2 {
            return None;
        }
        let mut elsewhere = allowed;
        elsewhere.unset(self.avoid);
        // Setting the mask moves the thread at once; restoring it leaves the thread where
        // it now runs.
        sched_setaffinity(None, &elsewhere).ok()?;
        let moved_to = sched_getcpu();
        // Should the restore fail, the helper keeps to the other cores until it ends with
        // the scrape.
        let _ = sched_setaffinity(None, &allowed);
        Some(moved_to)
    }

    /// Called by the scrape thread after spawning its helper: yields its core until the
    /// helper has moved off it ([`MOVE_WITHIN`] at most), so that a helper queued behind it
    /// gets to run and move.
    pub(super) fn wait_for_helper(&self) {
        let since = Instant::now();
        while !self.moved.load(Ordering::Acquire) && since.elapsed() < MOVE_WITHIN {
            std::thread::yield_now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cores this thread may use, as a list.
    fn allowed() -> Vec<usize> {
        let set = sched_getaffinity(None).unwrap();
        (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()
    }

    #[test]
    fn the_helper_starts_off_the_scrape_threads_core_and_stays_unpinned() {
        let before = allowed();
        let placement = Placement::here();
        let (moved_to, after) = std::thread::scope(|scope| {
            let helper = scope.spawn(|| (placement.leave(), allowed()));
            placement.wait_for_helper();
            helper.join().unwrap()
        });
        if before.len() > 1 {
            let core = moved_to.expect("with two cores allowed, the helper moves");
            assert_ne!(core, placement.avoid);
            assert!(before.contains(&core), "{core} not in {before:?}");
        } else {
            assert_eq!(moved_to, None, "one core: nowhere to go");
        }
        // Nothing stays pinned: the helper may use every core again, and so may the
        // scrape thread, which was never pinned.
        assert_eq!(after, before);
        assert_eq!(allowed(), before);
        assert!(placement.moved.load(Ordering::Acquire));
    }

    #[test]
    fn the_scrape_thread_stops_waiting_for_a_helper_that_never_moves() {
        // A helper that never starts (or never gets to run): the wait is bounded, and the
        // scrape goes on compressing its own half. Unbounded, this test would not return.
        let placement = Placement::here();
        placement.wait_for_helper();
        assert!(!placement.moved.load(Ordering::Acquire));
    }

    #[test]
    fn a_core_the_process_may_not_use_is_not_left() {
        let before = allowed();
        let not_allowed = (0..CpuSet::MAX_CPU).find(|c| !before.contains(c));
        for avoid in not_allowed.into_iter().chain([CpuSet::MAX_CPU, usize::MAX]) {
            let placement = Placement {
                avoid,
                moved: AtomicBool::new(false),
            };
            assert_eq!(placement.leave(), None, "core {avoid}");
            assert_eq!(allowed(), before);
            // The scrape thread does not wait for a helper that stayed where it was.
            assert!(placement.moved.load(Ordering::Acquire));
        }
    }
}
