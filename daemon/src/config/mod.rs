//! Settings from flags and environment variables, in the manner of linkerd's
//! `app/src/env.rs`: each binary declares its settings once, as a table of [`Setting`]
//! entries (flag, variable, help, accepted values, default, parser). clap's arguments and
//! `--help` are built from that table ([`Flags`]), and [`Settings`] resolves each entry
//! (flag, else variable, else default), reading variables through the [`Env`] trait so that
//! tests pass a map, and reporting every bad value at once, before any port is bound.
//!
//! - `setting.rs`: a table entry ([`Setting`]) and its description for help ([`Entry`]);
//! - `flags.rs`: a table as clap arguments ([`Table`], [`Flags`]);
//! - `resolve.rs`: flag > variable > default, errors collected ([`Settings`]);
//! - `values.rs`: value kinds and parsers ([`HumanDuration`], [`Period`], [`within`], ...);
//! - `socket.rs`: the one setting both binaries share ([`SOCKET`]);
//! - `env.rs`, `error.rs`: where variables come from, what a bad setting reads like.

mod env;
mod error;
mod flags;
mod resolve;
mod setting;
mod socket;
mod values;

#[cfg(test)]
mod tests;

pub use env::{Env, ProcessEnv};
pub use error::{ConfigError, ConfigErrors};
pub use flags::{Flags, Table};
pub use resolve::Settings;
pub use setting::{Entry, Flag, Invalid, Setting, ShowDefault};
pub use socket::{MAX_SOCKET_PATH, SOCKET};
pub use values::{
    HumanDuration, OnOff, PERIOD_EXPECT, Period, Switch, ValueParseError, parsed, period, within,
};

/// Exit status for invalid configuration (`EX_USAGE` from sysexits.h).
pub const EXIT_CONFIG: i32 = 64;

/// Prints every configuration error to stderr as `PROGRAM: invalid configuration: …` lines
/// and exits with [`EXIT_CONFIG`].
pub fn exit_config_errors(program: &str, errors: &ConfigErrors) -> ! {
    for e in &errors.0 {
        eprintln!("{program}: invalid configuration: {e}");
    }
    std::process::exit(EXIT_CONFIG)
}
