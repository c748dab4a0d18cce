//! Timing on a shared, noisy machine: the candidate and its baseline are measured in
//! alternating samples within the same run, and the ratio of their medians is reported, so
//! that load from other processes affects both alike.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// Per-operation times of a candidate and its baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Comparison {
    /// Median nanoseconds per operation of the candidate.
    pub(crate) candidate_ns: f64,
    /// Median nanoseconds per operation of the baseline.
    pub(crate) baseline_ns: f64,
}

impl Comparison {
    /// candidate / baseline: below 1 means the candidate is faster.
    pub(crate) fn ratio(&self) -> f64 {
        self.candidate_ns / self.baseline_ns
    }
}

/// How long to measure.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// Samples of each side (alternating).
    pub(crate) samples: usize,
    /// Target duration of one sample; the operation count per sample is calibrated to it.
    pub(crate) sample_time: Duration,
}

impl Plan {
    /// Quick mode: enough for a stable ratio in seconds.
    pub(crate) const QUICK: Plan = Plan {
        samples: 11,
        sample_time: Duration::from_millis(20),
    };
    /// Full mode.
    pub(crate) const FULL: Plan = Plan {
        samples: 31,
        sample_time: Duration::from_millis(100),
    };
}

/// Runs `op` `n` times and returns the elapsed time.
fn run(op: &mut dyn FnMut(u64), n: u64) -> Duration {
    let start = Instant::now();
    for i in 0..n {
        op(black_box(i));
    }
    start.elapsed()
}

/// Operations that take about `target` (at least 1).
fn calibrate(op: &mut dyn FnMut(u64), target: Duration) -> u64 {
    let mut n: u64 = 1;
    loop {
        let t = run(op, n);
        if t >= target / 4 || n >= 1 << 40 {
            let per = t.as_secs_f64() / n as f64;
            return ((target.as_secs_f64() / per.max(1e-12)) as u64).max(1);
        }
        n *= 2;
    }
}

/// The median of `v` (sorted in place).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Measures `candidate` against `baseline`, one sample of each in turn, after a warm-up;
/// each closure gets an increasing counter it may use as input.
pub(crate) fn compare(
    plan: Plan,
    mut candidate: impl FnMut(u64),
    mut baseline: impl FnMut(u64),
) -> Comparison {
    let n_candidate = calibrate(&mut candidate, plan.sample_time);
    let n_baseline = calibrate(&mut baseline, plan.sample_time);
    let (mut c, mut b) = (Vec::new(), Vec::new());
    for _ in 0..plan.samples {
        c.push(run(&mut candidate, n_candidate).as_nanos() as f64 / n_candidate as f64);
        b.push(run(&mut baseline, n_baseline).as_nanos() as f64 / n_baseline as f64);
    }
    Comparison {
        candidate_ns: median(&mut c),
        baseline_ns: median(&mut b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }

    #[test]
    fn compare_sees_the_cheaper_operation() {
        let plan = Plan {
            samples: 3,
            sample_time: Duration::from_millis(5),
        };
        let (mut cheap, mut dear) = (0u64, 0u64);
        let c = compare(
            plan,
            |i| cheap = cheap.wrapping_add(i),
            |i| {
                for j in 0..200 {
                    dear = black_box(dear.wrapping_mul(31).wrapping_add(i ^ j));
                }
            },
        );
        assert!(c.ratio() < 1.0, "{c:?}");
        black_box((cheap, dear));
    }
}
