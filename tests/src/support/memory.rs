//! A child's memory as the kernel reports it (`VmRSS` in `/proc/PID/status`), and a sampler
//! that records its peak while an attack runs, for the tests that bound what abuse may cost
//! the exporter.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// One MiB.
pub const MIB: u64 = 1 << 20;

/// How often [`PeakRss`] reads the resident size.
const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The resident set size of process `pid` in bytes, `None` when it is gone or the kernel
/// does not say.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The resident set size of running process `pid`; fails the test when it cannot be read.
#[track_caller]
pub fn rss(pid: u32) -> u64 {
    rss_bytes(pid).unwrap_or_else(|| panic!("cannot read VmRSS of process {pid}"))
}

/// Samples a process' resident size in a thread until [`PeakRss::stop`], keeping the peak.
#[derive(Debug)]
pub struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PeakRss {
    /// Starts sampling process `pid`.
    pub fn start(pid: u32) -> PeakRss {
        let peak = Arc::new(AtomicU64::new(rss_bytes(pid).unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (Arc::clone(&peak), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(now) = rss_bytes(pid) {
                        peak.fetch_max(now, Ordering::Relaxed);
                    }
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        PeakRss {
            peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The peak so far.
    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }

    /// Stops sampling; returns the peak.
    pub fn stop(mut self) -> u64 {
        self.finish();
        self.peak()
    }

    fn finish(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.finish();
    }
}
