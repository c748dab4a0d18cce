//! The breaker's and the rate limits' settings: their defaults (docs/node.md), and their
//! entries in `dawn-node run`'s settings table (flag, variable, range, help).

use std::time::Duration;

use dawn_daemon::config::{
    Flag, PERIOD_EXPECT, Period, Setting, Settings, ShowDefault, period, within,
};

/// Variable: consecutive failures that open a peer's circuit breaker.
pub const ENV_CB_THRESHOLD: &str = "PROJECT_DAWN_CB_THRESHOLD";
/// Variable: how long an open breaker stays open before half-opening.
pub const ENV_CB_TIMEOUT: &str = "PROJECT_DAWN_CB_TIMEOUT";
/// Variable: requests a sender may make per window.
pub const ENV_RATE_LIMIT_MAX: &str = "PROJECT_DAWN_RATE_LIMIT_MAX";
/// Variable: the rate limiter's window.
pub const ENV_RATE_LIMIT_WINDOW: &str = "PROJECT_DAWN_RATE_LIMIT_WINDOW";
/// Variable: requests one source address may make per window.
pub const ENV_RATE_LIMIT_ADDRESS_MAX: &str = "PROJECT_DAWN_RATE_LIMIT_ADDRESS_MAX";
/// Variable: requests all senders but the trusted ones may make together per window.
pub const ENV_RATE_LIMIT_GLOBAL_MAX: &str = "PROJECT_DAWN_RATE_LIMIT_GLOBAL_MAX";

/// Longest accepted breaker timeout or rate-limit window: one day.
pub const MAX_PERIOD: Duration = Period::MAX;
/// Largest accepted breaker threshold.
pub const MAX_CB_THRESHOLD: u32 = 1_000_000;
/// Largest accepted rate limit per window; the limiter keeps one timestamp per allowed
/// request in the window, so this bounds its memory per sender (16 B each).
pub const MAX_RATE_LIMIT: u32 = 10_000;
/// Largest accepted per-address or global budget per window. Only requests that passed
/// every limit are kept (16 B each), and every one of them is in the global window, so the
/// global budget bounds the memory of all three limits together (16 MB at this value).
pub const MAX_BUDGET: u32 = 1_000_000;

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

/// A budget per window given as a number, or left to follow `--rate-limit-max` (shown in
/// `--help` as the rule it follows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// The number given, if any.
    pub given: Option<u32>,
    /// How it follows `--rate-limit-max` when not given, for `--help`.
    follows: &'static str,
}

impl ShowDefault for Budget {
    fn show_default(&self) -> String {
        self.given
            .map_or_else(|| self.follows.to_owned(), |n| n.to_string())
    }
}

/// The three rate limits, sharing one window (docs/node-internals.md, "Rate limits"):
/// per sender, per source address, and a global ceiling on what all senders but the
/// trusted ones may do together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimitsConfig {
    /// Per sender identity, and the window of all three.
    pub sender: RateLimitConfig,
    /// Per source address (clients and untrusted peers together), before the budget each
    /// untrusted peer connected from the address adds.
    pub address_max: u32,
    /// All senders but the trusted ones, together.
    pub global_max: u32,
}

impl RequestLimitsConfig {
    /// The global budget by default: as much as this many senders at their full rate.
    pub const GLOBAL_SENDERS: u32 = 64;

    const ADDRESS_FOLLOWS: &str = "1.5 x --rate-limit-max";
    const GLOBAL_FOLLOWS: &str = "64 x --rate-limit-max";

    /// `--rate-limit-address-max` / [`ENV_RATE_LIMIT_ADDRESS_MAX`].
    pub const ADDRESS_MAX_SETTING: Setting<Budget> = Setting {
        flag: Flag::Value("rate-limit-address-max", "N"),
        env: Some(ENV_RATE_LIMIT_ADDRESS_MAX),
        help: "Requests (and notifications) one source address (an IPv4 address, an IPv6 /64) may make per window, over all its clients and untrusted peers, plus --rate-limit-max for each untrusted peer connected from it; more get error -32005. Fresh identities from one address share this.",
        accepts: "an integer from 1 to 1000000",
        default: || Budget {
            given: None,
            follows: Self::ADDRESS_FOLLOWS,
        },
        parse: |s| {
            within(s, 1..=MAX_BUDGET).map(|n| Budget {
                given: Some(n),
                follows: Self::ADDRESS_FOLLOWS,
            })
        },
    };
    /// `--rate-limit-global-max` / [`ENV_RATE_LIMIT_GLOBAL_MAX`].
    pub const GLOBAL_MAX_SETTING: Setting<Budget> = Setting {
        flag: Flag::Value("rate-limit-global-max", "N"),
        env: Some(ENV_RATE_LIMIT_GLOBAL_MAX),
        help: "Requests (and notifications) all senders but the trusted peers may make together per window: the ceiling on the work strangers can cause; more get error -32005.",
        accepts: "an integer from 1 to 1000000",
        default: || Budget {
            given: None,
            follows: Self::GLOBAL_FOLLOWS,
        },
        parse: |s| {
            within(s, 1..=MAX_BUDGET).map(|n| Budget {
                given: Some(n),
                follows: Self::GLOBAL_FOLLOWS,
            })
        },
    };

    /// The limits for `sender` with the other two at their defaults.
    pub fn following(sender: RateLimitConfig) -> Self {
        RequestLimitsConfig {
            sender,
            address_max: sender.max.saturating_add(sender.max / 2).min(MAX_BUDGET),
            global_max: sender
                .max
                .saturating_mul(Self::GLOBAL_SENDERS)
                .min(MAX_BUDGET),
        }
    }

    /// Each field as in [`BreakerConfig::from_settings`]; the per-address and global
    /// budgets follow the per-sender one unless given.
    pub fn from_settings(settings: &mut Settings<'_>) -> Self {
        let sender = RateLimitConfig::from_settings(settings);
        let following = Self::following(sender);
        RequestLimitsConfig {
            sender,
            address_max: settings
                .get(&Self::ADDRESS_MAX_SETTING)
                .given
                .unwrap_or(following.address_max),
            global_max: settings
                .get(&Self::GLOBAL_MAX_SETTING)
                .given
                .unwrap_or(following.global_max),
        }
    }
}

impl Default for RequestLimitsConfig {
    fn default() -> Self {
        Self::following(RateLimitConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use dawn_daemon::config::Entry;

    use super::*;

    /// Both configurations from the variables `env` alone, and the errors found.
    fn resolve(env: &[(&str, &str)]) -> (BreakerConfig, RateLimitConfig, Vec<String>) {
        let (breaker, limits, errors) = resolve_all(env);
        (breaker, limits.sender, errors)
    }

    fn resolve_all(env: &[(&str, &str)]) -> (BreakerConfig, RequestLimitsConfig, Vec<String>) {
        let mut s = Settings::env_only(&env);
        let breaker = BreakerConfig::from_settings(&mut s);
        let limit = RequestLimitsConfig::from_settings(&mut s);
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

    #[test]
    fn address_and_global_budgets_follow_the_sender_limit_unless_given() {
        let (_, limits, errors) = resolve_all(&[]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(limits, RequestLimitsConfig::default());
        assert_eq!((limits.address_max, limits.global_max), (150, 6400));
        let (_, limits, _) = resolve_all(&[(ENV_RATE_LIMIT_MAX, "20")]);
        assert_eq!((limits.address_max, limits.global_max), (30, 1280));
        let (_, limits, _) = resolve_all(&[(ENV_RATE_LIMIT_MAX, "1")]);
        assert_eq!((limits.address_max, limits.global_max), (1, 64));
        let (_, limits, errors) = resolve_all(&[
            (ENV_RATE_LIMIT_MAX, "20"),
            (ENV_RATE_LIMIT_ADDRESS_MAX, "7"),
            (ENV_RATE_LIMIT_GLOBAL_MAX, "1000000"),
        ]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!((limits.address_max, limits.global_max), (7, 1_000_000));
        let (_, limits, errors) = resolve_all(&[
            (ENV_RATE_LIMIT_ADDRESS_MAX, "0"),
            (ENV_RATE_LIMIT_GLOBAL_MAX, "1000001"),
        ]);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(limits, RequestLimitsConfig::default());
        assert_eq!(
            RequestLimitsConfig::ADDRESS_MAX_SETTING.default_text(),
            "1.5 x --rate-limit-max"
        );
    }
}
