//! Settings from flags and environment variables, in the manner of linkerd's `app/src/env.rs`:
//! every key is named, values are read through the [`Env`] trait so tests pass a map, and
//! every bad setting is reported at once, before any port is bound.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Display};
use std::str::FromStr;
use std::time::Duration;

/// Exit status for invalid configuration (`EX_USAGE` from sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// A source of environment variables.
pub trait Env {
    /// The value of `key`, if set. A value that is not UTF-8 is returned lossily so the
    /// parser names it as invalid rather than treating it as unset.
    fn var(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var_os(key).map(|v| v.to_string_lossy().into_owned())
    }
}

impl Env for HashMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

impl Env for BTreeMap<String, String> {
    fn var(&self, key: &str) -> Option<String> {
        self.get(key).cloned()
    }
}

/// One bad setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable or flag concerned.
    pub key: String,
    /// What is wrong and what is accepted.
    pub message: String,
}

impl Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Every bad setting found; displayed one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Resolves settings (flag, then environment variable, then default) and collects every
/// error instead of stopping at the first.
pub struct Settings<'e> {
    env: &'e dyn Env,
    errors: Vec<ConfigError>,
}

impl fmt::Debug for Settings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("errors", &self.errors)
            .finish()
    }
}

impl<'e> Settings<'e> {
    /// Settings reading variables from `env`.
    pub fn new(env: &'e dyn Env) -> Self {
        Settings {
            env,
            errors: Vec::new(),
        }
    }

    /// The raw value of variable `key`, if set.
    pub fn raw(&self, key: &str) -> Option<String> {
        self.env.var(key)
    }

    /// `flag` if given, else variable `key` parsed, else `default`.
    ///
    /// A variable that does not parse is recorded as an error naming `key`, its value and
    /// `expect` (a description of accepted values), and `default` is returned so that the
    /// remaining settings are still checked.
    pub fn get<T>(&mut self, key: &str, flag: Option<T>, default: T, expect: &str) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get_checked(key, flag, default, expect, |_| true)
    }

    /// Like [`Settings::get`], and the value (from flag or variable) must pass `check`.
    pub fn get_checked<T>(
        &mut self,
        key: &str,
        flag: Option<T>,
        default: T,
        expect: &str,
        check: impl Fn(&T) -> bool,
    ) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.optional_checked(key, flag, expect, check) {
            Some(v) => v,
            None => default,
        }
    }

    /// `flag` if given, else variable `key` parsed, else `None`; errors as in
    /// [`Settings::get_checked`].
    pub fn optional_checked<T>(
        &mut self,
        key: &str,
        flag: Option<T>,
        expect: &str,
        check: impl Fn(&T) -> bool,
    ) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let (value, raw) = match flag {
            Some(v) => (v, None),
            None => {
                let raw = self.env.var(key)?;
                match raw.trim().parse::<T>() {
                    Ok(v) => (v, Some(raw)),
                    Err(e) => {
                        self.error(
                            key,
                            format!("invalid value {raw:?} ({e}); expected {expect}"),
                        );
                        return None;
                    }
                }
            }
        };
        if check(&value) {
            Some(value)
        } else {
            let shown = raw.map_or_else(|| "the given value".to_owned(), |r| format!("{r:?}"));
            self.error(key, format!("{shown} is out of range; expected {expect}"));
            None
        }
    }

    /// Parses a flag's raw text (`None` when the flag was not given), recording an error
    /// named after the flag when it does not parse or fails `check`.
    ///
    /// Flags are taken as text rather than parsed by clap so that a bad flag is reported
    /// together with every other bad setting, in the same words.
    pub fn flag<T>(
        &mut self,
        name: &str,
        raw: Option<&str>,
        expect: &str,
        check: impl Fn(&T) -> bool,
    ) -> Option<T>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw = raw?;
        match raw.trim().parse::<T>() {
            Ok(v) if check(&v) => Some(v),
            Ok(_) => {
                self.error(name, format!("{raw:?} is out of range; expected {expect}"));
                None
            }
            Err(e) => {
                self.error(
                    name,
                    format!("invalid value {raw:?} ({e}); expected {expect}"),
                );
                None
            }
        }
    }

    /// One setting: flag `flag_name` with raw text `raw` (errors named after the flag), else
    /// variable `key` (errors named after the variable), else `default`.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve<T>(
        &mut self,
        flag_name: &str,
        raw: Option<&str>,
        key: &str,
        default: T,
        expect: &str,
        check: impl Fn(&T) -> bool + Copy,
    ) -> T
    where
        T: FromStr,
        T::Err: Display,
    {
        let given = self.flag(flag_name, raw, expect, check);
        self.get_checked(key, given, default, expect, check)
    }

    /// Records an error found by the caller.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        self.errors.push(ConfigError {
            key: key.to_owned(),
            message: message.into(),
        });
    }

    /// Every error recorded, or `Ok` when the configuration is valid.
    pub fn finish(self) -> Result<(), ConfigErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(self.errors))
        }
    }
}

/// Prints every configuration error to stderr as `PROGRAM: invalid configuration: …` lines
/// and exits with [`EXIT_CONFIG`].
pub fn exit_config_errors(program: &str, errors: &ConfigErrors) -> ! {
    for e in &errors.0 {
        eprintln!("{program}: invalid configuration: {e}");
    }
    std::process::exit(EXIT_CONFIG)
}

/// A duration written as a number with a unit: `500ms`, `30s`, `5m`, `1h`.
///
/// Flags and variables holding durations use it so that `--x 30s` and `X=30s` read alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// Why a [`HumanDuration`] does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration like 500ms, 30s, 5m or 1h")]
pub struct DurationParseError(String);

impl FromStr for HumanDuration {
    type Err = DurationParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || DurationParseError(s.to_owned());
        let s = s.trim();
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (digits, unit) = s.split_at(split);
        let n: u64 = digits.parse().map_err(|_| err())?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => Duration::from_secs(n.checked_mul(60).ok_or_else(err)?),
            "h" => Duration::from_secs(n.checked_mul(3600).ok_or_else(err)?),
            _ => return Err(err()),
        };
        Ok(HumanDuration(d))
    }
}

impl Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// What a [`Period`] setting accepts, for error messages.
pub const PERIOD_EXPECT: &str =
    "seconds (e.g. 60) or a duration like 500ms, 30s, 5m, from 1ms to 24h";

/// A period as Dawn's variables write it: a bare number is seconds, as in the original
/// system (`PROJECT_DAWN_CB_TIMEOUT=60`); a unit allows the shorter periods tests need
/// (`500ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period(pub Duration);

impl Period {
    /// Longest period accepted: a day.
    pub const MAX: Duration = Duration::from_secs(24 * 60 * 60);

    /// Whether the period is within 1 ms ..= [`Period::MAX`] (what [`PERIOD_EXPECT`] says).
    pub fn in_range(&self) -> bool {
        self.0 >= Duration::from_millis(1) && self.0 <= Self::MAX
    }
}

/// Why a [`Period`] does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a number of seconds or a duration")]
pub struct PeriodParseError(String);

impl FromStr for Period {
    type Err = PeriodParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || PeriodParseError(s.to_owned());
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s
                .parse::<u64>()
                .map(|secs| Period(Duration::from_secs(secs)))
                .map_err(|_| err());
        }
        s.parse::<HumanDuration>()
            .map(|d| Period(d.0))
            .map_err(|_| err())
    }
}

/// A yes/no setting: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case), so
/// `PROJECT_DAWN_REJECT_UNKNOWN=1` means what its writer meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch(pub bool);

/// Why a [`Switch`] does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not true or false")]
pub struct SwitchParseError(String);

impl FromStr for Switch {
    type Err = SwitchParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Switch(true)),
            "false" | "0" | "no" | "off" => Ok(Switch(false)),
            _ => Err(SwitchParseError(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let e = env(&[("PORT", "81")]);
        let mut s = Settings::new(&e);
        assert_eq!(s.get("PORT", Some(80u16), 1, "a port"), 80);
        assert_eq!(s.get("PORT", None, 1u16, "a port"), 81);
        assert_eq!(s.get("OTHER", None, 1u16, "a port"), 1);
        assert!(s.finish().is_ok());
    }

    #[test]
    fn reports_every_bad_variable() {
        let e = env(&[("A", "x"), ("B", "0"), ("C", "7")]);
        let mut s = Settings::new(&e);
        s.get("A", None, 1u16, "a port 1-65535");
        s.get_checked("B", None, 1u16, "a port 1-65535", |p| *p > 0);
        s.get("C", None, 1u16, "a port 1-65535");
        let errors = s.finish().unwrap_err();
        assert_eq!(errors.0.len(), 2);
        let text = errors.to_string();
        assert!(text.contains("A: invalid value \"x\""), "{text}");
        assert!(text.contains("expected a port 1-65535"), "{text}");
        assert!(text.contains("B: \"0\" is out of range"), "{text}");
    }

    #[test]
    fn durations() {
        for (text, d) in [
            ("500ms", Duration::from_millis(500)),
            ("30s", Duration::from_secs(30)),
            ("5m", Duration::from_secs(300)),
            ("2h", Duration::from_secs(7200)),
        ] {
            let parsed: HumanDuration = text.parse().unwrap();
            assert_eq!(parsed.0, d);
            assert_eq!(parsed.to_string(), text);
        }
        for bad in ["", "5", "s", "5x", "-5s", "1.5s", "99999999999999999999h"] {
            assert!(bad.parse::<HumanDuration>().is_err(), "{bad}");
        }
    }

    #[test]
    fn periods_and_switches() {
        assert_eq!("60".parse::<Period>().unwrap().0, Duration::from_secs(60));
        assert_eq!(
            "500ms".parse::<Period>().unwrap().0,
            Duration::from_millis(500)
        );
        assert!("1.5".parse::<Period>().is_err());
        assert!(!Period(Duration::ZERO).in_range());
        assert!(!Period(Duration::from_secs(25 * 3600)).in_range());
        for yes in ["true", "1", "YES", "on"] {
            assert_eq!(yes.parse::<Switch>().unwrap(), Switch(true), "{yes}");
        }
        for no in ["false", "0", "No", "off"] {
            assert_eq!(no.parse::<Switch>().unwrap(), Switch(false), "{no}");
        }
        assert!("maybe".parse::<Switch>().is_err());
    }
}
