//! The kinds of value both binaries' settings take (durations, periods, switches) and the
//! two parsers most table entries are made of: [`parsed`] and [`within`].

use std::fmt::{self, Display};
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use super::setting::{Invalid, ShowDefault};

/// `text` as a `T`. The type's own parse error is not shown (it is a library's words, such as
/// "number too large to fit in target type"): a whole number that does not parse is out of
/// the setting's range, anything else is not accepted, and the setting's `accepts` text says
/// what is.
pub fn parsed<T: FromStr>(text: &str) -> Result<T, Invalid> {
    text.parse().map_err(|_| {
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Invalid::OutOfRange
        } else {
            Invalid::NotAccepted
        }
    })
}

/// `text` as a `T` within `range`; a value outside it is [`Invalid::OutOfRange`].
pub fn within<T>(text: &str, range: RangeInclusive<T>) -> Result<T, Invalid>
where
    T: FromStr + PartialOrd,
{
    let value = parsed(text)?;
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Invalid::OutOfRange)
    }
}

/// `text` as a [`Period`] within [`Period::RANGE`] (what [`PERIOD_EXPECT`] says).
pub fn period(text: &str) -> Result<Period, Invalid> {
    within(text, Period::RANGE)
}

/// A duration written as a number with a unit: `500ms`, `30s`, `5m`, `1h`.
///
/// Flags and variables holding durations use it so that `--x 30s` and `X=30s` read alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

/// Why a [`HumanDuration`], [`Period`], [`Switch`] or [`OnOff`] does not parse: the text,
/// and what kind of value it is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {kind}")]
pub struct ValueParseError {
    text: String,
    kind: &'static str,
}

impl ValueParseError {
    fn new(text: &str, kind: &'static str) -> Self {
        ValueParseError {
            text: text.to_owned(),
            kind,
        }
    }
}

impl FromStr for HumanDuration {
    type Err = ValueParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ValueParseError::new(s, "a duration like 500ms, 30s, 5m or 1h");
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

impl ShowDefault for HumanDuration {
    fn show_default(&self) -> String {
        self.to_string()
    }
}

/// What a [`Period`] setting accepts, for `--help` and error messages.
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
    /// The periods accepted: 1 ms ..= [`Period::MAX`] (what [`PERIOD_EXPECT`] says).
    pub const RANGE: RangeInclusive<Period> = Period(Duration::from_millis(1))..=Period(Self::MAX);
}

impl FromStr for Period {
    type Err = ValueParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ValueParseError::new(s, "a number of seconds or a duration");
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

/// Whole seconds show bare, as the variables are usually written (`60`).
impl ShowDefault for Period {
    fn show_default(&self) -> String {
        if self.0.subsec_nanos() == 0 {
            self.0.as_secs().to_string()
        } else {
            HumanDuration(self.0).to_string()
        }
    }
}

/// A yes/no setting: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case), so
/// `PROJECT_DAWN_REJECT_UNKNOWN=1` means what its writer meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch(pub bool);

impl FromStr for Switch {
    type Err = ValueParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Switch(true)),
            "false" | "0" | "no" | "off" => Ok(Switch(false)),
            _ => Err(ValueParseError::new(s, "true or false")),
        }
    }
}

impl ShowDefault for Switch {
    fn show_default(&self) -> String {
        self.0.to_string()
    }
}

/// A [`Switch`] whose help speaks of `on` and `off` (`--telemetry on|off`); it accepts the
/// same words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnOff(pub bool);

impl FromStr for OnOff {
    type Err = ValueParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(|Switch(on)| OnOff(on))
    }
}

impl ShowDefault for OnOff {
    fn show_default(&self) -> String {
        if self.0 { "on" } else { "off" }.to_owned()
    }
}
