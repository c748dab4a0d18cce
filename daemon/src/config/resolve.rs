//! Resolution: each setting from its flag, else its variable, else its default, every bad
//! value recorded instead of stopping at the first.

use std::collections::BTreeMap;
use std::fmt;

use super::env::Env;
use super::error::{ConfigError, ConfigErrors};
use super::flags::Flags;
use super::setting::{Entry, Setting, ShowDefault};

/// Resolves the settings of one table against the flags given and the environment, and
/// collects every error.
pub struct Settings<'a> {
    flags: Option<&'a BTreeMap<&'static str, String>>,
    env: &'a dyn Env,
    errors: Vec<ConfigError>,
}

impl fmt::Debug for Settings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("flags", &self.flags)
            .field("errors", &self.errors)
            .finish()
    }
}

impl<'a> Settings<'a> {
    /// Settings reading the flags given on the command line, then variables from `env`.
    pub fn new<T>(flags: &'a Flags<T>, env: &'a dyn Env) -> Self {
        Settings {
            flags: Some(flags.given()),
            env,
            errors: Vec::new(),
        }
    }

    /// Settings with no command line: variables from `env` only.
    pub fn env_only(env: &'a dyn Env) -> Self {
        Settings {
            flags: None,
            env,
            errors: Vec::new(),
        }
    }

    /// The flag's value if given, else the variable's, else the default.
    ///
    /// A value that is not accepted is recorded as an error naming the flag or variable,
    /// the value and what is accepted, and the default is returned so that the remaining
    /// settings are still checked.
    pub fn get<T: ShowDefault>(&mut self, setting: &Setting<T>) -> T {
        self.given(setting).unwrap_or_else(setting.default)
    }

    /// The flag's value if given, else the variable's, else `None` (also after an error,
    /// recorded as in [`Settings::get`]). A flag beats its variable even when the variable
    /// holds something bad: only the value in force is checked.
    pub fn given<T: ShowDefault>(&mut self, setting: &Setting<T>) -> Option<T> {
        let flag = setting
            .flag
            .name()
            .and_then(|name| Some((name, self.flags?.get(name)?)));
        match flag {
            Some((name, raw)) => self.parse(&format!("--{name}"), raw, setting),
            None => {
                let key = setting.env?;
                let raw = self.env.var(key)?;
                self.parse(key, &raw, setting)
            }
        }
    }

    fn parse<T: ShowDefault>(&mut self, key: &str, raw: &str, setting: &Setting<T>) -> Option<T> {
        match (setting.parse)(raw.trim()) {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.errors.push(ConfigError {
                    key: key.to_owned(),
                    message: invalid.message(raw, setting.accepts, example(setting).as_deref()),
                });
                None
            }
        }
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

/// A value to show beside what `setting` accepts in an error: its default, unless the
/// accepted text already gives examples or there is no default to show.
fn example<T: ShowDefault>(setting: &Setting<T>) -> Option<String> {
    let accepts = setting.accepts;
    if accepts.contains(" like ") || accepts.contains("such as") {
        return None;
    }
    Some(setting.default_text()).filter(|d| !d.is_empty() && d != "none")
}
