//! Logging for both binaries, as docs/operations.md's "Logging" section describes.
//!
//! `LOG_LEVEL` (debug, info, warning, error, critical) and `LOG_FORMAT` (`text` or `json`)
//! choose the filter and format; `RUST_LOG` overrides the filter with tracing's directive
//! syntax when set; `PROJECT_DAWN_LOG_FILE` adds a file that receives the same lines as
//! stderr. A JSON line carries `timestamp`, `level`, `logger`, `message`, `context` and, when
//! an error is attached as a field named `error` or `exception`, `exception`.
//!
//! tracing has no CRITICAL level: an ERROR event with the field `critical = true` is logged
//! as `CRITICAL`, and `LOG_LEVEL=critical` keeps only ERROR events (critical or not) since
//! a filter cannot see field values.

mod json;
mod output;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{Flag, Invalid, Setting, Settings, ShowDefault, parsed};

/// Variable holding the level.
pub const LOG_LEVEL: &str = "LOG_LEVEL";
/// Variable holding the format.
pub const LOG_FORMAT: &str = "LOG_FORMAT";
/// Variable whose tracing directives override the level.
pub const RUST_LOG: &str = "RUST_LOG";
/// Variable naming an extra log file.
pub const LOG_FILE: &str = "PROJECT_DAWN_LOG_FILE";

/// Crates whose debug output drowns ours; capped at info unless `RUST_LOG` says otherwise.
const NOISY: &[&str] = &[
    "hyper",
    "h2",
    "rustls",
    "quinn_proto",
    "quinn_udp",
    "warp",
    "mio",
];

/// The `LOG_LEVEL` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Everything down to debug.
    Debug,
    /// The default.
    Info,
    /// Warnings and errors.
    Warning,
    /// Errors only.
    Error,
    /// Errors only (see the module docs).
    Critical,
}

impl FromStr for LogLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warning" | "warn" => Ok(LogLevel::Warning),
            "error" => Ok(LogLevel::Error),
            "critical" => Ok(LogLevel::Critical),
            _ => Err("unknown level".into()),
        }
    }
}

impl LogLevel {
    fn directive(self) -> &'static str {
        match self {
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Critical => "error",
        }
    }
}

/// The `LOG_FORMAT` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err("unknown format".into()),
        }
    }
}

/// A variant's name in lower case is how the variable spells it.
macro_rules! show_lowercase_name {
    ($($t:ty),*) => {$(
        impl ShowDefault for $t {
            fn show_default(&self) -> String {
                format!("{self:?}").to_ascii_lowercase()
            }
        }
    )*};
}

show_lowercase_name!(LogLevel, LogFormat);

/// `LOG_LEVEL`.
pub const LEVEL: Setting<LogLevel> = Setting {
    flag: Flag::None,
    env: Some(LOG_LEVEL),
    help: "Least severe level logged.",
    accepts: "one of debug, info, warning, error, critical",
    default: || LogLevel::Info,
    parse: parsed,
};

/// `LOG_FORMAT`.
pub const FORMAT: Setting<LogFormat> = Setting {
    flag: Flag::None,
    env: Some(LOG_FORMAT),
    help: "Human-readable lines, or one JSON object per line.",
    accepts: "text or json",
    default: || LogFormat::Text,
    parse: parsed,
};

/// `RUST_LOG`: empty counts as unset.
pub const DIRECTIVES: Setting<Option<String>> = Setting {
    flag: Flag::None,
    env: Some(RUST_LOG),
    help: "Filter directives in tracing's syntax; when set, they replace LOG_LEVEL.",
    accepts: "directives such as info,dawn_node=debug",
    default: || None,
    parse: directives,
};

/// `PROJECT_DAWN_LOG_FILE`: empty counts as unset.
pub const FILE: Setting<Option<PathBuf>> = Setting {
    flag: Flag::None,
    env: Some(LOG_FILE),
    help: "A file that receives every log line too (appended), besides stderr.",
    accepts: "a file path",
    default: || None,
    parse: |s| Ok(Some(PathBuf::from(s)).filter(|p| !p.as_os_str().is_empty())),
};

fn directives(text: &str) -> Result<Option<String>, Invalid> {
    if text.is_empty() {
        return Ok(None);
    }
    EnvFilter::try_new(text)
        .map(|_| Some(text.to_owned()))
        .map_err(|_| Invalid::NotAccepted)
}

/// Resolved logging settings.
#[derive(Debug, Clone)]
pub struct LogConfig {
    /// Filter directives in tracing's syntax.
    pub filter: String,
    /// Output format.
    pub format: LogFormat,
    /// Extra file receiving every line.
    pub file: Option<PathBuf>,
}

impl LogConfig {
    /// Reads [`LEVEL`], [`FORMAT`], [`DIRECTIVES`] and [`FILE`], recording bad values in
    /// `settings`. A binary lists these four in its settings table so `--help` shows them.
    pub fn from_settings(settings: &mut Settings<'_>) -> LogConfig {
        let level = settings.get(&LEVEL);
        let format = settings.get(&FORMAT);
        let filter = settings.get(&DIRECTIVES).unwrap_or_else(|| {
            let mut f = level.directive().to_owned();
            if level == LogLevel::Debug {
                for target in NOISY {
                    f.push_str(&format!(",{target}=info"));
                }
            }
            f
        });
        LogConfig {
            filter,
            format,
            file: settings.get(&FILE),
        }
    }
}

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log file cannot be opened for appending.
    #[error("cannot open log file {path} ({LOG_FILE}): {source}")]
    OpenFile {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The filter does not parse (checked earlier by [`LogConfig::from_settings`]).
    #[error("invalid log filter {0:?}")]
    Filter(String),
    /// A global subscriber was installed before.
    #[error("logging was already initialised")]
    AlreadyInstalled,
}

/// Keeps the log outputs open; hold it until the program ends.
pub struct LogGuard {
    _output: output::Output,
}

impl fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogGuard")
    }
}

/// Installs the global subscriber described by `config`.
pub fn install(config: LogConfig) -> Result<LogGuard, LogError> {
    let output = output::Output::open(config.file.as_deref())?;
    let filter =
        EnvFilter::try_new(&config.filter).map_err(|_| LogError::Filter(config.filter.clone()))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.format {
        LogFormat::Json => registry.with(json::layer(output.clone())).try_init(),
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(output.ansi())
                    .with_writer(output.clone()),
            )
            .try_init(),
    };
    result.map_err(|_| LogError::AlreadyInstalled)?;
    Ok(LogGuard { _output: output })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_show_as_the_variables_spell_them() {
        use LogLevel::*;
        for level in [Debug, Info, Warning, Error, Critical] {
            assert_eq!(level.show_default().parse::<LogLevel>(), Ok(level));
        }
        for format in [LogFormat::Text, LogFormat::Json] {
            assert_eq!(format.show_default().parse::<LogFormat>(), Ok(format));
        }
        assert_eq!(LogLevel::Warning.show_default(), "warning");
    }
}
