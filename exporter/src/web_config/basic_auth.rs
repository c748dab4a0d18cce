//! HTTP basic authentication against bcrypt hashes.
//!
//! bcrypt is slow on purpose (tens of milliseconds at cost 10), far too slow to run on every
//! scrape, so a credential that passed is remembered (as a SHA-256 digest, never in clear)
//! and checked again at the cost of one hash. Failed attempts always pay the full bcrypt
//! price, one at a time, so guessing is slow and cannot take more than one core.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine;
use tokio::sync::Semaphore;

use super::Problem;

/// Credentials remembered at most; the memory is cleared when full (a handful of scrapers
/// use a handful of entries).
const REMEMBERED_MAX: usize = 1024;

/// The result of checking a request's `Authorization` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Valid credentials.
    Allowed,
    /// No `Authorization` header.
    Missing,
    /// Not `Basic` with base64 of `user:password`.
    Malformed,
    /// Unknown user or wrong password.
    Rejected,
}

/// The users of a web config and the credentials already verified.
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Digests of `(user, password, hash)` that passed.
    verified: Mutex<HashSet<[u8; 32]>>,
    /// One bcrypt computation at a time.
    bcrypt_slot: Semaphore,
}

impl BasicAuth {
    /// Users from `basic_auth_users` (name to bcrypt hash); every hash is checked now.
    pub fn new(users: &BTreeMap<String, String>) -> Result<BasicAuth, Problem> {
        for (user, hash) in users {
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                Problem::field(
                    format!("basic_auth_users.{user}"),
                    format!(
                        "not a bcrypt hash ({e}); make one with `htpasswd -nBC 10 \"\" | tr -d ':\\n'`"
                    ),
                )
            })?;
        }
        Ok(BasicAuth {
            users: users.clone(),
            verified: Mutex::new(HashSet::new()),
            bcrypt_slot: Semaphore::new(1),
        })
    }

    /// Checks the raw value of an `Authorization` header.
    pub async fn check(self: &Arc<Self>, authorization: Option<&[u8]>) -> AuthOutcome {
        let Some(raw) = authorization else {
            return AuthOutcome::Missing;
        };
        let Some((user, password)) = decode(raw) else {
            return AuthOutcome::Malformed;
        };
        // An unknown user is checked against a real hash too, so that the answer does not
        // tell which user names exist by how fast it comes.
        let (known, hash) = match self.users.get(&user) {
            Some(hash) => (true, hash.clone()),
            None => match self.users.values().next() {
                Some(hash) => (false, hash.clone()),
                None => return AuthOutcome::Rejected,
            },
        };
        let digest = digest(&user, &password, &hash);
        if known && self.remembered(&digest) {
            return AuthOutcome::Allowed;
        }
        let Ok(_slot) = self.bcrypt_slot.acquire().await else {
            return AuthOutcome::Rejected;
        };
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .is_ok_and(|r| r.unwrap_or(false));
        if known && matches {
            self.remember(digest);
            AuthOutcome::Allowed
        } else {
            AuthOutcome::Rejected
        }
    }

    fn remembered(&self, digest: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(digest)
    }

    fn remember(&self, digest: [u8; 32]) {
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= REMEMBERED_MAX {
            verified.clear();
        }
        verified.insert(digest);
    }
}

/// `Basic base64(user:password)` to its parts.
fn decode(raw: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn digest(user: &str, password: &str, hash: &str) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for part in [user, password, hash] {
        ctx.update(&(part.len() as u64).to_le_bytes());
        ctx.update(part.as_bytes());
    }
    let mut out = [0; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    fn auth() -> Arc<BasicAuth> {
        // Cost 4, the lowest, keeps the test fast; the check is the same at any cost.
        let hash = bcrypt::hash("s3cret:with:colons", 4).unwrap();
        let users = BTreeMap::from([("prometheus".to_owned(), hash)]);
        Arc::new(BasicAuth::new(&users).unwrap())
    }

    #[tokio::test]
    async fn right_credentials_pass_and_are_remembered() {
        let auth = auth();
        let good = header("prometheus", "s3cret:with:colons");
        assert_eq!(auth.check(Some(&good)).await, AuthOutcome::Allowed);
        assert_eq!(auth.verified.lock().unwrap().len(), 1);
        assert_eq!(auth.check(Some(&good)).await, AuthOutcome::Allowed);
        let lower = [b"basic ".as_slice(), &good[6..]].concat();
        assert_eq!(auth.check(Some(&lower)).await, AuthOutcome::Allowed);
    }

    #[tokio::test]
    async fn wrong_missing_and_malformed_credentials_fail() {
        let auth = auth();
        assert_eq!(auth.check(None).await, AuthOutcome::Missing);
        for (raw, want) in [
            (header("prometheus", "wrong"), AuthOutcome::Rejected),
            (
                header("nobody", "s3cret:with:colons"),
                AuthOutcome::Rejected,
            ),
            (header("prometheus", ""), AuthOutcome::Rejected),
            (b"Bearer abc".to_vec(), AuthOutcome::Malformed),
            (b"Basic !!!notbase64".to_vec(), AuthOutcome::Malformed),
            (b"Basic".to_vec(), AuthOutcome::Malformed),
            (
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode("no-colon")
                )
                .into_bytes(),
                AuthOutcome::Malformed,
            ),
            (vec![0xff, 0xfe], AuthOutcome::Malformed),
        ] {
            assert_eq!(auth.check(Some(&raw)).await, want, "{raw:?}");
        }
        assert!(auth.verified.lock().unwrap().is_empty());
    }

    #[test]
    fn a_bad_hash_names_its_user() {
        let users = BTreeMap::from([("alice".to_owned(), "plaintext".to_owned())]);
        let e = BasicAuth::new(&users).unwrap_err().to_string();
        assert!(
            e.contains("basic_auth_users.alice: not a bcrypt hash"),
            "{e}"
        );
    }
}
