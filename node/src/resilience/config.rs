//! The breaker's and the rate limiter's settings, their DESIGN defaults, and how they are
//! read from flags and `PROJECT_DAWN_*` variables.

use std::time::Duration;

use dawn_daemon::config::{PERIOD_EXPECT, Period, Settings};

/// Variable: consecutive failures that open a peer's circuit breaker.
pub const ENV_CB_THRESHOLD: &str = "PROJECT_DAWN_CB_THRESHOLD";
/// Variable: how long an open breaker stays open before half-opening.
pub const ENV_CB_TIMEOUT: &str = "PROJECT_DAWN_CB_TIMEOUT";
/// Variable: requests a sender may make per window.
pub const ENV_RATE_LIMIT_MAX: &str = "PROJECT_DAWN_RATE_LIMIT_MAX";
/// Variable: the rate limiter's window.
pub const ENV_RATE_LIMIT_WINDOW: &str = "PROJECT_DAWN_RATE_LIMIT_WINDOW";

/// Longest accepted breaker timeout or rate-limit window: one day.
pub const MAX_PERIOD: Duration = Period::MAX;
/// Largest accepted breaker threshold.
pub const MAX_CB_THRESHOLD: u32 = 1_000_000;
/// Largest accepted rate limit per window; the limiter keeps one timestamp per allowed
/// request in the window, so this bounds its memory per sender (16 B each).
pub const MAX_RATE_LIMIT: u32 = 10_000;

/// Circuit breaker settings (DESIGN: threshold 5, open for 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker; at least 1.
    pub threshold: u32,
    /// How long the breaker stays open before it lets a probe through.
    pub open_for: Duration,
}

impl BreakerConfig {
    /// DESIGN's default threshold.
    pub const DEFAULT_THRESHOLD: u32 = 5;
    /// DESIGN's default open period.
    pub const DEFAULT_OPEN_FOR: Duration = Duration::from_secs(60);

    /// Flag (raw text of `--cb-threshold` / `--cb-timeout`), else variable, else default,
    /// for each field; a bad value is recorded in `settings` naming the flag or variable
    /// and the accepted range, and the default is used so the remaining settings are still
    /// checked.
    pub fn from_settings(
        settings: &mut Settings<'_>,
        threshold: Option<&str>,
        open_for: Option<&str>,
    ) -> Self {
        let threshold = settings.resolve(
            "--cb-threshold",
            threshold,
            ENV_CB_THRESHOLD,
            Self::DEFAULT_THRESHOLD,
            "an integer from 1 to 1000000",
            |t: &u32| (1..=MAX_CB_THRESHOLD).contains(t),
        );
        let open_for = settings
            .resolve(
                "--cb-timeout",
                open_for,
                ENV_CB_TIMEOUT,
                Period(Self::DEFAULT_OPEN_FOR),
                PERIOD_EXPECT,
                Period::in_range,
            )
            .0;
        BreakerConfig {
            threshold,
            open_for,
        }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            threshold: Self::DEFAULT_THRESHOLD,
            open_for: Self::DEFAULT_OPEN_FOR,
        }
    }
}

/// Rate limiter settings (DESIGN: 100 requests per 60 s per sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests allowed in any window; at least 1.
    pub max: u32,
    /// The sliding window.
    pub window: Duration,
}

impl RateLimitConfig {
    /// DESIGN's default request count per window.
    pub const DEFAULT_MAX: u32 = 100;
    /// DESIGN's default window.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

    /// Flag (raw text of `--rate-limit-max` / `--rate-limit-window`), else variable, else
    /// default, for each field; errors as in [`BreakerConfig::from_settings`].
    pub fn from_settings(
        settings: &mut Settings<'_>,
        max: Option<&str>,
        window: Option<&str>,
    ) -> Self {
        let max = settings.resolve(
            "--rate-limit-max",
            max,
            ENV_RATE_LIMIT_MAX,
            Self::DEFAULT_MAX,
            "an integer from 1 to 10000",
            |m: &u32| (1..=MAX_RATE_LIMIT).contains(m),
        );
        let window = settings
            .resolve(
                "--rate-limit-window",
                window,
                ENV_RATE_LIMIT_WINDOW,
                Period(Self::DEFAULT_WINDOW),
                PERIOD_EXPECT,
                Period::in_range,
            )
            .0;
        RateLimitConfig { max, window }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            max: Self::DEFAULT_MAX,
            window: Self::DEFAULT_WINDOW,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_designs() {
        let e = env(&[]);
        let mut s = Settings::new(&e);
        assert_eq!(
            BreakerConfig::from_settings(&mut s, None, None),
            BreakerConfig {
                threshold: 5,
                open_for: Duration::from_secs(60)
            }
        );
        assert_eq!(
            RateLimitConfig::from_settings(&mut s, None, None),
            RateLimitConfig {
                max: 100,
                window: Duration::from_secs(60)
            }
        );
        assert!(s.finish().is_ok());
        assert_eq!(BreakerConfig::default().threshold, 5);
        assert_eq!(RateLimitConfig::default().max, 100);
    }

    /// Variables, threshold flag, expected breaker and limiter settings.
    type Case = (
        &'static [(&'static str, &'static str)],
        Option<&'static str>,
        BreakerConfig,
        RateLimitConfig,
    );

    #[test]
    fn values_from_variables_and_flags() {
        let table: &[Case] = &[
            (
                &[
                    (ENV_CB_THRESHOLD, "3"),
                    (ENV_CB_TIMEOUT, "2"),
                    (ENV_RATE_LIMIT_MAX, "10"),
                    (ENV_RATE_LIMIT_WINDOW, "500ms"),
                ],
                None,
                BreakerConfig {
                    threshold: 3,
                    open_for: Duration::from_secs(2),
                },
                RateLimitConfig {
                    max: 10,
                    window: Duration::from_millis(500),
                },
            ),
            (
                &[(ENV_CB_THRESHOLD, "3"), (ENV_CB_TIMEOUT, " 5m ")],
                Some("7"),
                BreakerConfig {
                    threshold: 7,
                    open_for: Duration::from_secs(300),
                },
                RateLimitConfig::default(),
            ),
        ];
        for (vars, threshold_flag, breaker, limit) in table {
            let e = env(vars);
            let mut s = Settings::new(&e);
            assert_eq!(
                BreakerConfig::from_settings(&mut s, *threshold_flag, None),
                *breaker
            );
            assert_eq!(RateLimitConfig::from_settings(&mut s, None, None), *limit);
            assert!(s.finish().is_ok(), "{vars:?}");
        }
    }

    #[test]
    fn every_bad_variable_is_reported_with_its_range() {
        let table: &[(&str, &str)] = &[
            (ENV_CB_THRESHOLD, "0"),
            (ENV_CB_THRESHOLD, "five"),
            (ENV_CB_THRESHOLD, "-1"),
            (ENV_CB_TIMEOUT, "0"),
            (ENV_CB_TIMEOUT, "soon"),
            (ENV_CB_TIMEOUT, "25h"),
            (ENV_CB_TIMEOUT, "1.5"),
            (ENV_RATE_LIMIT_MAX, "0"),
            (ENV_RATE_LIMIT_MAX, "10001"),
            (ENV_RATE_LIMIT_WINDOW, ""),
            (ENV_RATE_LIMIT_WINDOW, "99999999999999999999"),
        ];
        for (key, value) in table {
            let e = env(&[(key, value)]);
            let mut s = Settings::new(&e);
            let breaker = BreakerConfig::from_settings(&mut s, None, None);
            let limit = RateLimitConfig::from_settings(&mut s, None, None);
            assert_eq!(breaker, BreakerConfig::default(), "{key}={value}");
            assert_eq!(limit, RateLimitConfig::default(), "{key}={value}");
            let errors = s.finish().expect_err(key).0;
            assert_eq!(errors.len(), 1, "{key}={value}");
            assert_eq!(errors[0].key, *key);
            assert!(errors[0].message.contains("expected"), "{}", errors[0]);
        }

        let e = env(&[(ENV_CB_THRESHOLD, "0"), (ENV_RATE_LIMIT_WINDOW, "x")]);
        let mut s = Settings::new(&e);
        BreakerConfig::from_settings(&mut s, None, None);
        RateLimitConfig::from_settings(&mut s, None, None);
        assert_eq!(s.finish().expect_err("two errors").0.len(), 2);
    }
}
