//! The command-line side of a settings table: clap arguments and `--help` built from the
//! table, and the raw text of each flag given, which [`super::Settings`] parses together
//! with the variables so that a bad flag is reported with every other bad setting, in the
//! same words.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches, Command};

use super::setting::{Entry, Flag};

/// A binary's (or a subcommand's) settings, in `--help` order.
pub trait Table: 'static {
    /// Every setting, flags and variables alike.
    const SETTINGS: &'static [&'static dyn Entry];
    /// Flags also accepted after a subcommand (clap's `global`), by name without dashes.
    const GLOBAL: &'static [&'static str] = &[];
}

/// The flags of table `T` given on a command line, as raw text. As a clap [`clap::Args`]
/// it adds one argument per flag of the table (help naming the variable, what is
/// accepted and the default) and lists the variables without a flag after the options.
pub struct Flags<T> {
    given: BTreeMap<&'static str, String>,
    table: PhantomData<fn() -> T>,
}

impl<T> Flags<T> {
    /// The text given for flag `name` (without dashes; `"true"` for a switch), if given.
    pub fn raw(&self, name: &str) -> Option<&str> {
        self.given.get(name).map(String::as_str)
    }

    /// Each given flag's name (without dashes) and raw text.
    pub(crate) fn given(&self) -> &BTreeMap<&'static str, String> {
        &self.given
    }
}

impl<T> Default for Flags<T> {
    fn default() -> Self {
        Flags {
            given: BTreeMap::new(),
            table: PhantomData,
        }
    }
}

impl<T> Clone for Flags<T> {
    fn clone(&self) -> Self {
        Flags {
            given: self.given.clone(),
            table: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Flags<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Flags").field(&self.given).finish()
    }
}

/// The `--help` text of `entry`: what it does, what it accepts, its variable, its default.
fn describe(entry: &dyn Entry) -> String {
    let accepts = entry.accepts();
    let mut text = entry.help().to_owned();
    match (entry.flag(), entry.env()) {
        (Flag::Switch(_), Some(env)) => text.push_str(&format!(" [env: {env}, {accepts}]")),
        (Flag::Switch(_), None) => {}
        (Flag::Value(..), Some(env)) => {
            text.push_str(&format!(" Accepts {accepts}. [env: {env}]"));
        }
        // A variable without a flag is listed under its own name.
        (Flag::Value(..) | Flag::None, _) => text.push_str(&format!(" Accepts {accepts}.")),
    }
    text.push_str(&format!(" [default: {}]", entry.default_text()));
    text
}

/// The clap argument of `entry`, if it has a flag.
fn arg(entry: &dyn Entry, global: &[&str]) -> Option<Arg> {
    let named = |name: &'static str| {
        Arg::new(name)
            .long(name)
            .help(describe(entry))
            .global(global.contains(&name))
    };
    match entry.flag() {
        Flag::None => None,
        Flag::Switch(name) => Some(named(name).action(ArgAction::SetTrue)),
        Flag::Value(name, value_name) => Some(
            named(name)
                .value_name(value_name)
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(String))
                // Values are parsed later, with every other setting: "-5" is the parser's
                // to reject, in the same words as any other bad value.
                .allow_hyphen_values(true),
        ),
    }
}

/// The text after the options: the variables without a flag, and the precedence rule.
fn after_help(settings: &[&dyn Entry]) -> String {
    let mut text = String::new();
    let env_only = settings
        .iter()
        .filter_map(|e| Some((e.env()?, *e)).filter(|_| e.flag() == Flag::None));
    for (i, (env, entry)) in env_only.enumerate() {
        if i == 0 {
            text.push_str("Variables without a flag:\n");
        }
        text.push_str(&format!("  {env}\n          {}\n", describe(entry)));
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("Every flag beats its environment variable, which beats the default.");
    text
}

impl<T: Table> clap::FromArgMatches for Flags<T> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Flags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let internal = |e: clap::parser::MatchesError| clap::Error::raw(ErrorKind::InvalidValue, e);
        for entry in T::SETTINGS {
            match entry.flag() {
                Flag::None => {}
                Flag::Value(name, _) => {
                    if let Some(raw) = matches.try_get_one::<String>(name).map_err(internal)? {
                        self.given.insert(name, raw.clone());
                    }
                }
                Flag::Switch(name) => {
                    if matches.try_get_one::<bool>(name).map_err(internal)? == Some(&true) {
                        self.given.insert(name, "true".to_owned());
                    }
                }
            }
        }
        Ok(())
    }
}

impl<T: Table> clap::Args for Flags<T> {
    fn augment_args(cmd: Command) -> Command {
        let args = T::SETTINGS.iter().filter_map(|e| arg(*e, T::GLOBAL));
        cmd.args(args).after_help(after_help(T::SETTINGS))
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}
