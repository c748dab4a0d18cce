//! The socket's path on disk: its directory, a stale file left by a dead exporter, a live
//! exporter that must not be robbed, permissions, and removal on shutdown.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

/// Mode of a directory the exporter creates for the socket.
pub const SOCKET_DIR_MODE: u32 = 0o750;
/// Mode of the socket file.
pub const SOCKET_MODE: u32 = 0o660;

/// How long to wait for an existing socket to accept a probe connection.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The socket's directory is missing and cannot be created.
    #[error("cannot create the socket directory {}: {source}", dir.display())]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A running exporter serves the socket.
    #[error("socket {} is served by a running exporter; stop it or choose another --socket", path.display())]
    InUse {
        /// The socket.
        path: PathBuf,
    },
    /// Something that is not a socket is in the way.
    #[error("{} exists and is not a socket; refusing to replace it", path.display())]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The existing file could not be examined.
    #[error("cannot examine the existing socket {}: {source}", path.display())]
    Probe {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The stale socket could not be removed.
    #[error("cannot remove the stale socket {}: {source}", path.display())]
    RemoveStale {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Binding failed.
    #[error("cannot bind the telemetry socket {}: {source}", path.display())]
    Bind {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The socket's mode could not be set.
    #[error("cannot set mode {SOCKET_MODE:o} on the socket {}: {source}", path.display())]
    Permissions {
        /// The socket.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The bound socket file; removes it when dropped if it is still the one bound.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    /// (device, inode) of the bound socket, so that a successor's socket is never removed.
    identity: (u64, u64),
}

impl SocketFile {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.identity)
            .unwrap_or(false);
        if ours {
            match fs::remove_file(&self.path) {
                Ok(()) => info!(socket = %self.path.display(), "removed the telemetry socket"),
                Err(e) => {
                    warn!(socket = %self.path.display(), "cannot remove the telemetry socket: {e}")
                }
            }
        }
    }
}

fn ensure_dir(path: &Path) -> Result<(), IngestError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => return Ok(()),
    };
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(SOCKET_DIR_MODE)
        .create(dir)
        .map_err(|source| IngestError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
    info!(dir = %dir.display(), "created the socket directory");
    Ok(())
}

/// Removes `path` if it is a socket nobody serves; refuses if an exporter answers.
async fn clear_stale(path: &Path) -> Result<(), IngestError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(IngestError::Probe {
                path: path.to_owned(),
                source,
            });
        }
    };
    if !meta.file_type().is_socket() {
        return Err(IngestError::NotASocket {
            path: path.to_owned(),
        });
    }
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        // Something accepts connections there, or is too busy to answer: not ours to take.
        Ok(Ok(_)) | Err(_) => Err(IngestError::InUse {
            path: path.to_owned(),
        }),
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => {
            fs::remove_file(path).map_err(|source| IngestError::RemoveStale {
                path: path.to_owned(),
                source,
            })?;
            info!(socket = %path.display(), "removed a stale socket left by an exporter that is gone");
            Ok(())
        }
        Ok(Err(source)) => Err(IngestError::Probe {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Prepares `path` and binds a listener there with mode 0660.
pub(crate) async fn bind(path: &Path) -> Result<(UnixListener, SocketFile), IngestError> {
    ensure_dir(path)?;
    clear_stale(path).await?;
    let listener = UnixListener::bind(path).map_err(|source| IngestError::Bind {
        path: path.to_owned(),
        source,
    })?;
    let meta = fs::symlink_metadata(path).map_err(|source| IngestError::Bind {
        path: path.to_owned(),
        source,
    })?;
    let file = SocketFile {
        path: path.to_owned(),
        identity: (meta.dev(), meta.ino()),
    };
    fs::set_permissions(path, fs::Permissions::from_mode(SOCKET_MODE)).map_err(|source| {
        IngestError::Permissions {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok((listener, file))
}
