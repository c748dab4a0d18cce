//! The socket's path on disk: its directory (checked by [`super::socket_dir`]), a stale file
//! left by a dead exporter, a live exporter that must not be robbed, a symbolic link that
//! must not be followed, the socket's mode, and removal on shutdown.
//!
//! The socket's mode is set without a path race. `bind` creates the file with the mode
//! `0777 & !umask`, and there is no `fchmod` for it (on Linux, `fchmod` on a socket's
//! descriptor changes the socket, not the file), so the mode must be set by path; a
//! `chmod` on the final path follows whatever symbolic link someone swapped in after the
//! bind (the issue found a root-owned file turned 0600 -> 0660 that way). A restrictive
//! umask around `bind` would avoid the `chmod`, but the umask is per process: every
//! thread creating a file at that moment (another test's exporter, a log file) would get
//! it too. So the exporter binds in a private directory it creates inside the checked
//! socket directory (mode 0700: nobody else can enter it, let alone swap a link in),
//! sets the mode there, then hard-links the socket to its final name, which fails rather
//! than follows or replaces anything found there (`link` never follows its new name),
//! and removes the private name and directory.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use dawn_daemon::config::MAX_SOCKET_PATH;
use tokio::net::{UnixListener, UnixStream};
use tracing::{info, warn};

use super::socket_dir::{self, Unsafe};

/// Mode of the socket file.
pub(crate) const SOCKET_MODE: u32 = 0o660;

/// Mode of the private directory the socket is bound in before it takes its name.
const BIND_DIR_MODE: u32 = 0o700;

/// Name of the socket inside the private directory (short: socket paths are limited).
const BIND_NAME: &str = "s";

/// Private directory names tried before giving up (another exporter in another pid
/// namespace may use the same pid, or a crash may have left one behind).
const BIND_DIR_TRIES: u32 = 16;

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
    /// The socket's directory could not be examined.
    #[error("cannot examine the socket directory {}: {source}", dir.display())]
    ExamineDir {
        /// The directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The socket's directory is one that someone else could write (docs/security.md).
    #[error("refusing the socket directory {} (owner uid {owner}, mode {mode:o}): {}", dir.display(), problem.advice())]
    UnsafeDir {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
        /// What is wrong with it.
        problem: Unsafe,
    },
    /// A symbolic link is where the socket goes.
    #[error("{} is a symbolic link; refusing to follow or replace it (remove it or choose another --socket)", path.display())]
    Symlink {
        /// The path.
        path: PathBuf,
    },
    /// Something took the socket's name while the exporter was binding.
    #[error("{} appeared while the socket was being bound (another exporter starting?); not replacing it", path.display())]
    Appeared {
        /// The path.
        path: PathBuf,
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
    /// Binding failed (`path` may be the private name it is bound under first).
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
    if meta.file_type().is_symlink() {
        return Err(IngestError::Symlink {
            path: path.to_owned(),
        });
    }
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

/// Checks the socket's directory (creating it when missing), clears a stale socket, and
/// binds a listener at `path` with mode 0660 (see the module's comment for how).
pub(crate) async fn bind(path: &Path) -> Result<(UnixListener, SocketFile), IngestError> {
    let dir = socket_dir::of(path);
    socket_dir::prepare(dir, rustix::process::geteuid().as_raw())?;
    clear_stale(path).await?;
    let private = BindDir::create(dir, path)?;
    let temp = private.path.join(BIND_NAME);
    if temp.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(IngestError::Bind {
            path: path.to_owned(),
            source: std::io::Error::other(format!(
                "the exporter binds under {} first, {} bytes, above the limit of {MAX_SOCKET_PATH}; choose a shorter --socket",
                temp.display(),
                temp.as_os_str().len()
            )),
        });
    }
    let listener = UnixListener::bind(&temp).map_err(|source| IngestError::Bind {
        path: temp.clone(),
        source,
    })?;
    fs::set_permissions(&temp, fs::Permissions::from_mode(SOCKET_MODE)).map_err(|source| {
        IngestError::Permissions {
            path: temp.clone(),
            source,
        }
    })?;
    let meta = fs::symlink_metadata(&temp).map_err(|source| IngestError::Bind {
        path: temp.clone(),
        source,
    })?;
    fs::hard_link(&temp, path).map_err(|source| match source.kind() {
        ErrorKind::AlreadyExists => IngestError::Appeared {
            path: path.to_owned(),
        },
        _ => IngestError::Bind {
            path: path.to_owned(),
            source,
        },
    })?;
    let file = SocketFile {
        path: path.to_owned(),
        identity: (meta.dev(), meta.ino()),
    };
    drop(private);
    Ok((listener, file))
}

/// The private directory a socket is bound in before it takes its name; removed (with the
/// temporary name) when dropped.
struct BindDir {
    path: PathBuf,
}

impl BindDir {
    /// Creates `.dawn-<pid>-<n>` in `dir`, mode 0700, failing if it exists (short: the
    /// socket's path inside it must fit a socket address too).
    fn create(dir: &Path, socket: &Path) -> Result<BindDir, IngestError> {
        let mut last = None;
        for n in 0..BIND_DIR_TRIES {
            let path = dir.join(format!(".dawn-{}-{n}", std::process::id()));
            match fs::DirBuilder::new().mode(BIND_DIR_MODE).create(&path) {
                Ok(()) => return Ok(BindDir { path }),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
                Err(source) => return Err(IngestError::Bind { path, source }),
            }
        }
        Err(IngestError::Bind {
            path: socket.to_owned(),
            source: last.unwrap_or_else(|| std::io::Error::other("no private directory")),
        })
    }
}

impl Drop for BindDir {
    fn drop(&mut self) {
        // Only this exporter can write the directory, so nothing else can be in it; a
        // failure leaves an empty directory behind, which is worth a line, not an error.
        let _ = fs::remove_file(self.path.join(BIND_NAME));
        if let Err(e) = fs::remove_dir(&self.path) {
            warn!(dir = %self.path.display(), "cannot remove the private bind directory: {e}");
        }
    }
}
