//! One setting, declared once: how it is spelled (flag, variable), what it does (help),
//! what it accepts, its default and its parser. A binary lists its settings in a table
//! ([`super::Table`]); `--help` ([`super::Flags`]) and resolution ([`super::Settings`])
//! both read that table, so nothing about a setting is written twice.

use std::fmt::{self, Display};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// How a setting is given on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Not at all: the setting is read from its variable only.
    None,
    /// `--NAME VALUE`: the long name without its dashes, then the value's placeholder in
    /// `--help` (`Value("p2p-port", "PORT")`).
    Value(&'static str, &'static str),
    /// `--NAME` alone, meaning true (`Switch("compat.seed-names")`); its variable still
    /// takes `true` or `false`.
    Switch(&'static str),
}

impl Flag {
    /// The long name without its dashes, if the setting has a flag.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Flag::None => None,
            Flag::Value(name, _) | Flag::Switch(name) => Some(name),
        }
    }
}

/// Why a setting's text is not accepted; [`super::Settings`] turns it into the line the
/// operator reads, with the flag or variable, the accepted values and an example. Every
/// reason is in the project's own words: a library's parse error never reaches the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The text is not a value of the setting's kind; what is accepted says what would be.
    NotAccepted,
    /// The text is not a value of the setting's kind, for the reason given (our words).
    Malformed(String),
    /// A value of the right kind, outside the accepted range.
    OutOfRange,
    /// A well-formed value that cannot be used (a file that does not load); the message
    /// stands alone.
    Unusable(String),
}

impl Invalid {
    /// The error line's message for `raw`, where `accepts` describes what is accepted and
    /// `example` (when there is one) is a value that would be.
    pub(crate) fn message(&self, raw: &str, accepts: &str, example: Option<&str>) -> String {
        let expected = match example {
            Some(example) => format!("expected {accepts}, for example {example}"),
            None => format!("expected {accepts}"),
        };
        match self {
            Invalid::NotAccepted => format!("invalid value {raw:?}; {expected}"),
            Invalid::Malformed(reason) => format!("invalid value {raw:?} ({reason}); {expected}"),
            Invalid::OutOfRange => format!("{raw:?} is out of range; {expected}"),
            Invalid::Unusable(message) => message.clone(),
        }
    }
}

/// One setting of type `T`: an entry of a binary's settings table.
///
/// Entries are `const` items written as struct literals; `default` and `parse` are plain
/// functions (closures that capture nothing), so a table is data.
#[derive(Clone, Copy)]
pub struct Setting<T> {
    /// The flag, if any.
    pub flag: Flag,
    /// The environment variable, if any.
    pub env: Option<&'static str>,
    /// What the setting does, for `--help`: a sentence or two.
    pub help: &'static str,
    /// What is accepted, for `--help` and error messages (`"a port 1-65535"`).
    pub accepts: &'static str,
    /// The value when neither the flag nor the variable is given.
    pub default: fn() -> T,
    /// Text (trimmed) to value, range check included.
    pub parse: fn(&str) -> Result<T, Invalid>,
}

impl<T> fmt::Debug for Setting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("flag", &self.flag)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

/// How a default value appears in `--help` (`[default: 8000]`).
pub trait ShowDefault {
    /// The value as the operator would write it.
    fn show_default(&self) -> String;
}

macro_rules! show_by_display {
    ($($t:ty),*) => {$(
        impl ShowDefault for $t {
            fn show_default(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

show_by_display!(u16, u32, u64, usize, String, IpAddr, SocketAddr);

impl ShowDefault for PathBuf {
    fn show_default(&self) -> String {
        self.display().to_string()
    }
}

/// Unset shows as `none`.
impl<T: ShowDefault> ShowDefault for Option<T> {
    fn show_default(&self) -> String {
        self.as_ref()
            .map_or_else(|| "none".to_owned(), ShowDefault::show_default)
    }
}

/// A list shows comma-separated, as it is written; an empty one as `none`.
impl<T: Display> ShowDefault for Vec<T> {
    fn show_default(&self) -> String {
        if self.is_empty() {
            return "none".to_owned();
        }
        let items: Vec<String> = self.iter().map(ToString::to_string).collect();
        items.join(",")
    }
}

/// A table entry with its value type erased: what `--help` needs to describe it.
pub trait Entry: Sync {
    /// The flag, if any.
    fn flag(&self) -> Flag;
    /// The environment variable, if any.
    fn env(&self) -> Option<&'static str>;
    /// What the setting does.
    fn help(&self) -> &'static str;
    /// What is accepted.
    fn accepts(&self) -> &'static str;
    /// The default as `--help` shows it.
    fn default_text(&self) -> String;
}

impl<T: ShowDefault> Entry for Setting<T> {
    fn flag(&self) -> Flag {
        self.flag
    }

    fn env(&self) -> Option<&'static str> {
        self.env
    }

    fn help(&self) -> &'static str {
        self.help
    }

    fn accepts(&self) -> &'static str {
        self.accepts
    }

    fn default_text(&self) -> String {
        (self.default)().show_default()
    }
}
