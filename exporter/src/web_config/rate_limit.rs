//! `rate_limit`: one token bucket for every request to the exporter, as exporter-toolkit's
//! (`golang.org/x/time/rate`: a token every `interval`, at most `burst` saved, full at the
//! start; `burst: 0` lets nothing through). A request without a token gets 429 with
//! `Retry-After`. Time is an argument, so tests move the clock instead of sleeping.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// `rate_limit` as configured; `interval: 0` (or no `rate_limit`) means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Time to earn one request.
    pub interval: Duration,
    /// Requests that can be saved up.
    pub burst: u32,
}

/// The bucket of one version of the web config (a reload starts a full one).
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    /// Tokens held and when they were counted.
    bucket: Mutex<(f64, Option<Instant>)>,
}

impl RateLimiter {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> RateLimiter {
        RateLimiter {
            limit,
            bucket: Mutex::new((f64::from(limit.burst), None)),
        }
    }

    /// Takes a token at `now`, or says how long until one is there (`None`: never, with
    /// `burst: 0`).
    pub fn take(&self, now: Instant) -> Result<(), Option<Duration>> {
        // Only arithmetic happens under the lock; a poisoned one still holds valid numbers.
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let (tokens, last) = *bucket;
        let burst = f64::from(self.limit.burst);
        let per_second = 1.0 / self.limit.interval.as_secs_f64();
        let earned = last.map_or(0.0, |l| now.saturating_duration_since(l).as_secs_f64());
        let tokens = (tokens + earned * per_second).min(burst);
        if tokens >= 1.0 {
            *bucket = (tokens - 1.0, Some(now));
            return Ok(());
        }
        *bucket = (tokens, Some(now));
        if self.limit.burst == 0 {
            return Err(None);
        }
        Err(Some(Duration::from_secs_f64((1.0 - tokens) / per_second)))
    }
}

/// Parses a Go duration (`time.ParseDuration`: `300ms`, `1.5h`, `2h45m`; `0` alone), as
/// exporter-toolkit's YAML takes `interval`.
pub(super) fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(format!("invalid duration {text:?}"));
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        let value: f64 = rest[..digits]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let nanos = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            u => return Err(format!("unknown unit {u:?} in duration {text:?}")),
        };
        total += value * nanos;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > u64::MAX as f64 {
        return Err(format!("duration {text:?} is too long"));
    }
    Ok(Duration::from_nanos(total as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        for (text, want) in [
            ("0", Duration::ZERO),
            ("1s", Duration::from_secs(1)),
            ("300ms", Duration::from_millis(300)),
            ("1.5h", Duration::from_secs(5400)),
            ("2h45m", Duration::from_secs(9900)),
            ("10us", Duration::from_micros(10)),
        ] {
            assert_eq!(parse_go_duration(text), Ok(want), "{text}");
        }
        for bad in ["", "1", "-1s", "1d", "s", "1..5s"] {
            assert!(parse_go_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_full_bucket_then_one_token_per_interval() {
        let start = Instant::now();
        let l = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 2,
        });
        assert_eq!(l.take(start), Ok(()));
        assert_eq!(l.take(start), Ok(()));
        let wait = l.take(start).unwrap_err().unwrap();
        assert_eq!(wait, Duration::from_secs(1));
        let half = start + Duration::from_millis(500);
        let wait = l.take(half).unwrap_err().unwrap();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6, "{wait:?}");
        assert_eq!(l.take(start + Duration::from_secs(1)), Ok(()));
        // Saved up to the burst, no more.
        let later = start + Duration::from_secs(60);
        assert_eq!(l.take(later), Ok(()));
        assert_eq!(l.take(later), Ok(()));
        assert!(l.take(later).is_err());
    }

    #[test]
    fn burst_zero_lets_nothing_through() {
        let l = RateLimiter::new(RateLimit {
            interval: Duration::from_secs(1),
            burst: 0,
        });
        let now = Instant::now();
        assert_eq!(l.take(now), Err(None));
        assert_eq!(l.take(now + Duration::from_secs(10)), Err(None));
    }
}
