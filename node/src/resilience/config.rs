//! The breaker's and the rate limiter's settings: their defaults (docs/node.md), and their
//! entries in `dawn-node run`'s settings table (flag, variable, range, help).

use std::time::Duration;

use dawn_daemon::config::{Flag, PERIOD_EXPECT, Period, Setting, Settings, period, within};

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

/// Circuit breaker settings (defaults: threshold 5, open for 60 s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker; at least 1.
    pub threshold: u32,
    /// How long the breaker stays open before it lets a probe through.
    pub open_for: Duration,
}

impl BreakerConfig {
    /// The default threshold: five failures in a row open the breaker.
    pub const DEFAULT_THRESHOLD: u32 = 5;
    /// The default open period, after which one probe may go through.
    pub const DEFAULT_OPEN_FOR: Duration = Duration::from_secs(60);

    /// `--cb-threshold` / [`ENV_CB_THRESHOLD`].
    pub const THRESHOLD_SETTING: Setting<u32> = Setting {
        flag: Flag::Value("cb-threshold", "N"),
        env: Some(ENV_CB_THRESHOLD),
        help: "Consecutive failed calls to a peer that open its circuit breaker.",
        accepts: "an integer from 1 to 1000000",
        default: || Self::DEFAULT_THRESHOLD,
        parse: |s| within(s, 1..=MAX_CB_THRESHOLD),
    };
    /// `--cb-timeout` / [`ENV_CB_TIMEOUT`].
    pub const OPEN_FOR_SETTING: Setting<Period> = Setting {
        flag: Flag::Value("cb-timeout", "PERIOD"),
        env: Some(ENV_CB_TIMEOUT),
        help: "How long an open breaker refuses calls before letting one probe through.",
        accepts: PERIOD_EXPECT,
        default: || Period(Self::DEFAULT_OPEN_FOR),
        parse: period,
    };

    /// Each field from its flag, else its variable, else its default; a bad value is
    /// recorded in `settings` (naming the flag or variable and the accepted range) and the
    /// default is used so that the remaining settings are still checked.
    pub fn from_settings(settings: &mut Settings<'_>) -> Self {
        BreakerConfig {
            threshold: settings.get(&Self::THRESHOLD_SETTING),
            open_for: settings.get(&Self::OPEN_FOR_SETTING).0,
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

/// Rate limiter settings (default: 100 requests per 60 s per sender).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Requests allowed in any window; at least 1.
    pub max: u32,
    /// The sliding window.
    pub window: Duration,
}

impl RateLimitConfig {
    /// The default request count per window.
    pub const DEFAULT_MAX: u32 = 100;
    /// The default window.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);

    /// `--rate-limit-max` / [`ENV_RATE_LIMIT_MAX`].
    pub const MAX_SETTING: Setting<u32> = Setting {
        flag: Flag::Value("rate-limit-max", "N"),
        env: Some(ENV_RATE_LIMIT_MAX),
        help: "Requests (and notifications) one sender may make per window; more get error -32005 with retry_after.",
        accepts: "an integer from 1 to 10000",
        default: || Self::DEFAULT_MAX,
        parse: |s| within(s, 1..=MAX_RATE_LIMIT),
    };
    /// `--rate-limit-window` / [`ENV_RATE_LIMIT_WINDOW`].
    pub const WINDOW_SETTING: Setting<Period> = Setting {
        flag: Flag::Value("rate-limit-window", "PERIOD"),
        env: Some(ENV_RATE_LIMIT_WINDOW),
        help: "The rate limiter's sliding window.",
        accepts: PERIOD_EXPECT,
        default: || Period(Self::DEFAULT_WINDOW),
        parse: period,
    };

    /// Each field as in [`BreakerConfig::from_settings`].
    pub fn from_settings(settings: &mut Settings<'_>) -> Self {
        RateLimitConfig {
            max: settings.get(&Self::MAX_SETTING),
            window: settings.get(&Self::WINDOW_SETTING).0,
        }
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
    use super::*;

    /// Both configurations from the variables `env` alone, and the errors found.
    fn resolve(env: &[(&str, &str)]) -> (BreakerConfig, RateLimitConfig, Vec<String>) {
        let mut s = Settings::env_only(&env);
        let breaker = BreakerConfig::from_settings(&mut s);
        let limit = RateLimitConfig::from_settings(&mut s);
        let errors = s
            .finish()
            .err()
            .map_or_else(Vec::new, |e| e.0.iter().map(ToString::to_string).collect());
        (breaker, limit, errors)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let (breaker, limit, errors) = resolve(&[]);
        assert_eq!(
            breaker,
            BreakerConfig {
                threshold: 5,
                open_for: Duration::from_secs(60)
            }
        );
        assert_eq!(
            limit,
            RateLimitConfig {
                max: 100,
                window: Duration::from_secs(60)
            }
        );
        assert!(errors.is_empty());
        assert_eq!(BreakerConfig::default(), breaker);
        assert_eq!(RateLimitConfig::default(), limit);
    }

    #[test]
    fn values_from_variables() {
        let (breaker, limit, errors) = resolve(&[
            (ENV_CB_THRESHOLD, "3"),
            (ENV_CB_TIMEOUT, " 5m "),
            (ENV_RATE_LIMIT_MAX, "10"),
            (ENV_RATE_LIMIT_WINDOW, "500ms"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(breaker.threshold, 3);
        assert_eq!(breaker.open_for, Duration::from_secs(300));
        assert_eq!(limit.max, 10);
        assert_eq!(limit.window, Duration::from_millis(500));
        assert_eq!(
            resolve(&[(ENV_CB_TIMEOUT, "2")]).0.open_for,
            Duration::from_secs(2)
        );
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
            let (breaker, limit, errors) = resolve(&[(key, value)]);
            assert_eq!(breaker, BreakerConfig::default(), "{key}={value}");
            assert_eq!(limit, RateLimitConfig::default(), "{key}={value}");
            assert_eq!(errors.len(), 1, "{key}={value}");
            assert!(errors[0].starts_with(&format!("{key}: ")), "{}", errors[0]);
            assert!(errors[0].contains("expected"), "{}", errors[0]);
        }
        let (_, _, errors) = resolve(&[(ENV_CB_THRESHOLD, "0"), (ENV_RATE_LIMIT_WINDOW, "x")]);
        assert_eq!(errors.len(), 2);
    }
}
