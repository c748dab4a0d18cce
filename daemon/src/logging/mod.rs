//! Logging for both binaries, as DESIGN's "Logging" section describes.
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

use crate::config::Settings;

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
    /// Reads `LOG_LEVEL`, `LOG_FORMAT`, `RUST_LOG` and `PROJECT_DAWN_LOG_FILE`, recording
    /// bad values in `settings`.
    pub fn from_settings(settings: &mut Settings<'_>) -> LogConfig {
        let level = settings.get(
            LOG_LEVEL,
            None,
            LogLevel::Info,
            "one of debug, info, warning, error, critical",
        );
        let format = settings.get(LOG_FORMAT, None, LogFormat::Text, "text or json");
        let filter = match settings.raw(RUST_LOG).filter(|v| !v.trim().is_empty()) {
            Some(directives) => match EnvFilter::try_new(&directives) {
                Ok(_) => directives,
                Err(e) => {
                    settings.error(
                        RUST_LOG,
                        format!("invalid directives {directives:?} ({e}); expected e.g. info,dawn_node=debug"),
                    );
                    level.directive().to_owned()
                }
            },
            None => {
                let mut f = level.directive().to_owned();
                if level == LogLevel::Debug {
                    for target in NOISY {
                        f.push_str(&format!(",{target}=info"));
                    }
                }
                f
            }
        };
        let file = settings
            .raw(LOG_FILE)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        LogConfig {
            filter,
            format,
            file,
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
