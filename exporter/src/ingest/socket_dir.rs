//! The socket's directory, checked the way OpenSSH's `StrictModes` checks a user's files:
//! whoever can write the directory can replace the socket with their own and receive the
//! node's telemetry (its `Hello` names the node), so the exporter refuses to start when
//! the directory is writable by group or others, or belongs to another user than the
//! exporter's (root aside: root can replace anything anyway). A missing directory is
//! created with mode 0750, which passes (docs/security.md).
//!
//! Only the socket's own directory is checked, not its parents: a shared volume's root
//! (an emptyDir, a compose volume) is world-writable, and the shipped deployments put the
//! socket in a private directory the exporter creates inside it.

use std::fs::{self, Metadata};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;

use tracing::info;

use super::socket_file::IngestError;

/// Mode of a directory the exporter creates for the socket.
pub(crate) const SOCKET_DIR_MODE: u32 = 0o750;

/// Write permission for group and others.
const GROUP_OR_OTHER_WRITE: u32 = 0o022;

/// What is wrong with a socket directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsafe {
    /// Group or others may write it.
    Writable,
    /// It belongs to another user (not root).
    ForeignOwner,
    /// It is a symbolic link that belongs to another user (not root).
    ForeignLink,
}

impl Unsafe {
    /// Why that matters and what to do, for the error line.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Unsafe::Writable => {
                "it is writable by group or others, who could replace the socket; remove their write permission (chmod go-w) or choose another --socket"
            }
            Unsafe::ForeignOwner => {
                "it belongs to another user, who could replace the socket; remove it (the exporter creates it), give it to the exporter's user, or choose another --socket"
            }
            Unsafe::ForeignLink => {
                "it is a symbolic link owned by another user, who could point it elsewhere; remove it or choose another --socket"
            }
        }
    }
}

/// The directory of `socket` (`.` for a bare file name).
pub(crate) fn of(socket: &Path) -> &Path {
    match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Creates `dir` (mode 0750) when missing, then checks it; `uid` is the exporter's own.
pub(crate) fn prepare(dir: &Path, uid: u32) -> Result<(), IngestError> {
    let link = match fs::symlink_metadata(dir) {
        Ok(meta) => meta,
        // A missing parent (or a file where one should be) is for `create` to report.
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            create(dir)?;
            fs::symlink_metadata(dir).map_err(|source| examine(dir, source))?
        }
        Err(source) => return Err(examine(dir, source)),
    };
    let meta = if link.file_type().is_symlink() {
        if let Some(problem) = check_link(&link, uid) {
            return Err(unsafe_dir(dir, &link, problem));
        }
        fs::metadata(dir).map_err(|source| examine(dir, source))?
    } else {
        link
    };
    if !meta.is_dir() {
        return Err(IngestError::CreateDir {
            dir: dir.to_owned(),
            source: std::io::Error::new(
                ErrorKind::NotADirectory,
                "it exists and is not a directory",
            ),
        });
    }
    match check(&meta, uid) {
        None => Ok(()),
        Some(problem) => Err(unsafe_dir(dir, &meta, problem)),
    }
}

fn create(dir: &Path) -> Result<(), IngestError> {
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

/// What is wrong with a directory of this owner and mode, for an exporter running as `uid`.
fn check(meta: &Metadata, uid: u32) -> Option<Unsafe> {
    if !trusted(meta.uid(), uid) {
        Some(Unsafe::ForeignOwner)
    } else if meta.mode() & GROUP_OR_OTHER_WRITE != 0 {
        Some(Unsafe::Writable)
    } else {
        None
    }
}

/// A symbolic link's own mode means nothing; only who may replace it matters.
fn check_link(meta: &Metadata, uid: u32) -> Option<Unsafe> {
    (!trusted(meta.uid(), uid)).then_some(Unsafe::ForeignLink)
}

/// The exporter's user and root may own what the exporter trusts.
fn trusted(owner: u32, uid: u32) -> bool {
    owner == uid || owner == 0
}

fn unsafe_dir(dir: &Path, meta: &Metadata, problem: Unsafe) -> IngestError {
    IngestError::UnsafeDir {
        dir: dir.to_owned(),
        owner: meta.uid(),
        mode: meta.mode() & 0o7777,
        problem,
    }
}

fn examine(dir: &Path, source: std::io::Error) -> IngestError {
    IngestError::ExamineDir {
        dir: dir.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// A fresh directory under the system's temp dir, removed on drop.
    struct Scratch(std::path::PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let path = std::env::temp_dir().join(format!(
                "dawn-socket-dir-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir(&path).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
            Scratch(path)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn me() -> u32 {
        rustix::process::geteuid().as_raw()
    }

    #[test]
    fn a_missing_directory_is_created_private_and_passes() {
        let s = Scratch::new("missing");
        let dir = s.0.join("a/b");
        prepare(&dir, me()).unwrap();
        let mode = fs::metadata(&dir).unwrap().mode() & 0o777;
        assert_eq!(mode, SOCKET_DIR_MODE);
        prepare(&dir, me()).unwrap();
    }

    #[test]
    fn writable_or_foreign_directories_are_refused_with_owner_and_mode() {
        let s = Scratch::new("modes");
        let uid = me();
        for (mode, ok) in [
            (0o700, true),
            (0o750, true),
            (0o755, true),
            (0o770, false),
            (0o777, false),
            (0o1777, false),
            (0o757, false),
        ] {
            fs::set_permissions(&s.0, fs::Permissions::from_mode(mode)).unwrap();
            let result = prepare(&s.0, uid);
            assert_eq!(result.is_ok(), ok, "mode {mode:o}: {result:?}");
            if let Err(e) = result {
                let text = e.to_string();
                assert!(
                    text.contains(&format!("mode {mode:o}"))
                        && text.contains(&format!("owner uid {uid}"))
                        && text.contains("chmod go-w"),
                    "{text}"
                );
            }
        }
        fs::set_permissions(&s.0, fs::Permissions::from_mode(0o700)).unwrap();
        // A directory of someone else: as root, give it away; otherwise, look at it as an
        // exporter running as another user would.
        let (owner, exporter) = if uid == 0 {
            std::os::unix::fs::chown(&s.0, Some(65534), None).unwrap();
            (65534, 0)
        } else {
            (uid, uid.wrapping_add(4242).max(1))
        };
        let e = prepare(&s.0, exporter).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("belongs to another user") && text.contains(&format!("uid {owner}")),
            "{text}"
        );
        assert!(prepare(&s.0, owner).is_ok(), "its owner's");
    }

    #[test]
    fn links_are_judged_by_their_owner_and_their_target() {
        let s = Scratch::new("links");
        let target = s.0.join("target");
        fs::create_dir(&target).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o750)).unwrap();
        let link = s.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        prepare(&link, me()).unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(prepare(&link, me()).is_err(), "the target is checked");
        let file = s.0.join("file");
        fs::write(&file, b"").unwrap();
        let e = prepare(&file, me()).unwrap_err();
        assert!(
            e.to_string().contains("cannot create the socket directory")
                && e.to_string().contains("exists and is not a directory"),
            "{e}"
        );
    }
}
