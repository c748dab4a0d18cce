//! A set of user ids as a setting writes it (`0,1000,10001`): which local users the
//! exporter takes telemetry from (`--ingest.allowed-uids`), and which exporter users the
//! node sends it to (`PROJECT_DAWN_TELEMETRY_EXPORTER_UIDS`). Both sides read the other's
//! uid from the kernel (`SO_PEERCRED`), so neither trusts what the peer says about itself
//! (docs/security.md).

use std::fmt;
use std::str::FromStr;

use crate::config::ShowDefault;

/// User ids, sorted and without repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Uids(Vec<u32>);

/// Why a list of uids does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item:?} is not a user id (a number 0-4294967294, comma-separated)")]
pub struct UidsError {
    item: String,
}

impl Uids {
    /// What a uid list setting accepts, for `--help` and error messages.
    pub const ACCEPTS: &'static str = "user ids separated by commas, like 0,1000,10001";

    /// The ids, sorted.
    pub fn new(ids: impl IntoIterator<Item = u32>) -> Self {
        let mut ids: Vec<u32> = ids.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        Uids(ids)
    }

    /// Whether `uid` is one of them.
    pub fn contains(&self, uid: u32) -> bool {
        self.0.binary_search(&uid).is_ok()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ids, sorted.
    pub fn as_slice(&self) -> &[u32] {
        &self.0
    }
}

impl FromStr for Uids {
    type Err = UidsError;

    /// `0,1000, 10001`: numbers separated by commas, spaces around them allowed; an empty
    /// item, a name or `-1` (`(uid_t)-1`, "no user") is an error.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parse = |item: &str| {
            let item = item.trim();
            item.parse::<u32>()
                .ok()
                .filter(|&uid| uid != u32::MAX && item.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| UidsError {
                    item: item.to_owned(),
                })
        };
        s.split(',')
            .map(parse)
            .collect::<Result<Vec<u32>, _>>()
            .map(Uids::new)
    }
}

impl fmt::Display for Uids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, uid) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{uid}")?;
        }
        Ok(())
    }
}

/// An empty list shows as `none`.
impl ShowDefault for Uids {
    fn show_default(&self) -> String {
        if self.is_empty() {
            "none".to_owned()
        } else {
            self.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sorts_and_shows_lists() {
        let u: Uids = " 10001,0 ,1000,0".parse().unwrap();
        assert_eq!(u.as_slice(), &[0, 1000, 10001]);
        assert!(u.contains(1000) && !u.contains(65534));
        assert_eq!(u.to_string(), "0,1000,10001");
        assert_eq!(u.show_default(), "0,1000,10001");
        assert_eq!(Uids::default().show_default(), "none");
    }

    #[test]
    fn refuses_what_is_not_a_uid() {
        for bad in ["", "1,,2", "root", "-1", "+5", "4294967295", "1 2", "0x10"] {
            assert!(bad.parse::<Uids>().is_err(), "{bad:?}");
        }
        assert_eq!(
            "1,x".parse::<Uids>().unwrap_err().to_string(),
            "\"x\" is not a user id (a number 0-4294967294, comma-separated)"
        );
    }
}
