//! The identity key file on disk: PKCS#8 PEM, mode 0600, replaced atomically.
//!
//! PEM ("PRIVATE KEY") rather than raw bytes so an operator can inspect or back it up with
//! standard tools (`openssl pkey -in identity.key -noout -text`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};

/// A key file is a few hundred bytes; anything bigger is not ours and is not read whole.
const MAX_KEY_FILE_BYTES: u64 = 16 * 1024;

/// Why the key file could not be read, parsed or written; every variant names the file
/// involved.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// The key file exists but cannot be read (permissions, I/O error, a directory).
    #[error("cannot read identity key {}: {source}", .path.display())]
    Read {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The key file was read but does not hold an Ed25519 private key.
    #[error(
        "identity key {} is corrupt: {reason}; restore it from a backup, or move it away to \
         start with a new identity (and thus a new node id)",
        .path.display()
    )]
    Corrupt {
        /// The key file.
        path: PathBuf,
        /// What is wrong with its contents.
        reason: String,
    },
    /// The data root directory is missing and cannot be created.
    #[error("cannot create data root {}: {source}", .path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A new key could not be written.
    #[error("cannot write identity key {}: {source}", .path.display())]
    Write {
        /// The key file.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Reads the key file; `Ok(None)` when it does not exist yet (first start).
pub(super) fn read(path: &Path) -> Result<Option<SigningKey>, KeyFileError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(KeyFileError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    warn_if_shared(path, &file);
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| KeyFileError::Read {
            path: path.to_owned(),
            source,
        })?;
    let corrupt = |reason: String| KeyFileError::Corrupt {
        path: path.to_owned(),
        reason,
    };
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(corrupt(format!("larger than {MAX_KEY_FILE_BYTES} bytes")));
    }
    let text = String::from_utf8(bytes).map_err(|_| corrupt("not PEM text".into()))?;
    decode_pem(&text).map(Some).map_err(corrupt)
}

/// Decodes a PKCS#8 PEM Ed25519 private key; the error says what is wrong with it.
fn decode_pem(text: &str) -> Result<SigningKey, String> {
    let pair = rcgen::KeyPair::from_pem(text).map_err(|e| format!("not a PEM private key: {e}"))?;
    if pair.algorithm() != &rcgen::PKCS_ED25519 {
        return Err(format!(
            "holds a {:?} key, not an Ed25519 key",
            pair.algorithm()
        ));
    }
    SigningKey::from_pkcs8_der(pair.serialized_der())
        .map_err(|e| format!("not a valid Ed25519 PKCS#8 key: {e}"))
}

/// Encodes the key as PKCS#8 PEM.
fn encode_pem(key: &SigningKey) -> Result<String, String> {
    let der = key.to_pkcs8_der().map_err(|e| e.to_string())?;
    let pair = rcgen::KeyPair::try_from(der.as_bytes()).map_err(|e| e.to_string())?;
    Ok(pair.serialize_pem())
}

/// Writes the key so that a crash leaves either no file or the whole file, never a torn one:
/// a fresh 0600 temp file in the same directory, fsync, rename over the target, fsync the
/// directory. Creates the directory (0700) when it is missing.
pub(super) fn write(path: &Path, key: &SigningKey) -> Result<(), KeyFileError> {
    let write_error = |source: io::Error| KeyFileError::Write {
        path: path.to_owned(),
        source,
    };
    let pem = encode_pem(key).map_err(|reason| write_error(io::Error::other(reason)))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KeyFileError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = Path::new(&tmp_name);
    // A temp file left by a crash may have other permissions; `mode` only applies on create.
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => return Err(write_error(error)),
    }
    let result = write_synced(tmp, pem.as_bytes())
        .and_then(|()| fs::rename(tmp, path))
        .and_then(|()| File::open(dir)?.sync_all());
    if result.is_err() {
        // Best effort: the temp file is garbage now, and the next start removes it anyway.
        let _ = fs::remove_file(tmp);
    }
    result.map_err(write_error)
}

fn write_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Like ssh, tell the operator when the secret key is readable by others; do not refuse,
/// because the node's identity is worth keeping and the fix is one `chmod`.
fn warn_if_shared(path: &Path, file: &File) {
    if let Ok(metadata) = file.metadata() {
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{mode:o}"),
                "identity key is accessible to other users; run `chmod 600` on it"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let pem = encode_pem(&key).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "{pem}");
        let back = decode_pem(&pem).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }

    #[test]
    fn a_non_ed25519_key_is_named_as_such() {
        let ecdsa = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let error = decode_pem(&ecdsa.serialize_pem()).unwrap_err();
        assert!(error.contains("not an Ed25519 key"), "{error}");
    }
}
