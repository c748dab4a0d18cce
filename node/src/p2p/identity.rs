//! The node's persistent Ed25519 identity.

use std::fmt;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use rand::TryRngCore;
use rand::rngs::OsRng;

use super::key_file::{self, KeyFileError};
use super::node_id::NodeId;

/// Name of the key file inside the data root.
pub const IDENTITY_KEY_FILE: &str = "identity.key";

/// Why the identity could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file could not be read, parsed or written; the error names the file.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The operating system's random source failed while generating a new key.
    #[error("cannot generate an identity key: the system random source failed: {0}")]
    Random(String),
}

/// The node's long-term key pair and the [`NodeId`] derived from it.
///
/// The key is what peers authenticate (through the TLS certificate made from it), so it is
/// created once under the data root and reused on every start: same key, same node id.
pub struct Identity {
    key: SigningKey,
    node_id: NodeId,
}

impl Identity {
    /// Loads `<data_root>/identity.key`, or creates it (0600, atomically) on first start.
    ///
    /// A file that exists but cannot be read or parsed is an error, never silently replaced:
    /// replacing it would change the node id that peers and operators know.
    pub fn load_or_create(data_root: &Path) -> Result<Self, IdentityError> {
        let path = Self::key_path(data_root);
        if let Some(key) = key_file::read(&path)? {
            let identity = Self::from_signing_key(key);
            tracing::info!(
                node_id = %identity.node_id,
                path = %path.display(),
                "loaded node identity"
            );
            return Ok(identity);
        }
        let identity = Self::generate()?;
        key_file::write(&path, &identity.key)?;
        tracing::info!(
            node_id = %identity.node_id,
            path = %path.display(),
            "created new node identity"
        );
        Ok(identity)
    }

    /// A fresh identity kept only in memory, for one-shot clients (`dawn-node call`) and tests.
    pub fn generate() -> Result<Self, IdentityError> {
        let mut seed = [0u8; ed25519_dalek::SECRET_KEY_LENGTH];
        OsRng
            .try_fill_bytes(&mut seed)
            .map_err(|e| IdentityError::Random(e.to_string()))?;
        Ok(Self::from_signing_key(SigningKey::from_bytes(&seed)))
    }

    /// Where [`Identity::load_or_create`] keeps the key for a given data root.
    pub fn key_path(data_root: &Path) -> PathBuf {
        data_root.join(IDENTITY_KEY_FILE)
    }

    /// This node's id (its public key).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The secret key, for building the TLS certificate.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// 32 bytes derived one way from the identity key (SHA-256 of `label` and the key), for
    /// keys that must stay the same across restarts without revealing the identity key.
    pub(crate) fn derive_secret(&self, label: &str) -> [u8; 32] {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(label.as_bytes());
        ctx.update(&[0]);
        ctx.update(self.key.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        out
    }

    fn from_signing_key(key: SigningKey) -> Self {
        let node_id = NodeId::from_bytes(key.verifying_key().to_bytes());
        Self { key, node_id }
    }
}

/// Shows only the node id: the secret key must never reach a log line.
impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn temp_root(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dawn-p2p-identity-{name}-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn same_id_after_restart_and_key_file_is_private() {
        let root = temp_root("restart").join("nested");
        let first = Identity::load_or_create(&root).unwrap();
        let path = Identity::key_path(&root);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!path.with_extension("key.tmp").exists());

        let second = Identity::load_or_create(&root).unwrap();
        assert_eq!(first.node_id(), second.node_id());
        assert_eq!(
            first.signing_key().to_bytes(),
            second.signing_key().to_bytes()
        );
        std::fs::remove_dir_all(root.parent().unwrap()).unwrap();
    }

    #[test]
    fn generated_identities_differ_and_debug_hides_the_key() {
        let a = Identity::generate().unwrap();
        let b = Identity::generate().unwrap();
        assert_ne!(a.node_id(), b.node_id());
        let debug = format!("{a:?}");
        assert!(debug.contains(&a.node_id().to_string()), "{debug}");
        assert!(!debug.contains("key:"), "{debug}");
    }

    #[test]
    fn corrupt_key_is_an_error_naming_the_file_and_is_kept() {
        let root = temp_root("corrupt");
        std::fs::create_dir_all(&root).unwrap();
        let path = Identity::key_path(&root);
        for contents in [
            &b"garbage"[..],
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            &[0xff, 0xfe, 0x00],
        ] {
            std::fs::write(&path, contents).unwrap();
            let error = Identity::load_or_create(&root).unwrap_err();
            assert!(
                matches!(error, IdentityError::KeyFile(KeyFileError::Corrupt { .. })),
                "{error:?}"
            );
            assert!(error.to_string().contains(&path.display().to_string()));
            assert_eq!(std::fs::read(&path).unwrap(), contents, "file must be kept");
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn unreadable_key_is_a_read_error_naming_the_file() {
        let root = temp_root("unreadable");
        // A directory where the key file should be cannot be read as a file.
        std::fs::create_dir_all(Identity::key_path(&root)).unwrap();
        let error = Identity::load_or_create(&root).unwrap_err();
        assert!(
            matches!(error, IdentityError::KeyFile(KeyFileError::Read { .. })),
            "{error:?}"
        );
        assert!(error.to_string().contains(IDENTITY_KEY_FILE), "{error}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
