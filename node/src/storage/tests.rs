//! Data root checks, locking, atomic writes and JSON files, against a real file system.

use std::fs::{self, Permissions};
use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};

use super::testdir::{TestDir, permissions_are_bypassed};
use super::*;

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn open_creates_a_missing_root_private_and_locked() {
    let dir = TestDir::new("create");
    let path = dir.path().join("a/b/data");
    let root = DataRoot::open(&path).unwrap();
    assert_eq!(root.path(), path);
    assert_eq!(mode(&path), 0o700);
    assert_eq!(names(&path), vec![LOCK_FILE.to_string()]);
    let pid = fs::read_to_string(path.join(LOCK_FILE)).unwrap();
    assert_eq!(pid.trim(), std::process::id().to_string());
    assert_eq!(root.join("x.json"), path.join("x.json"));

    let sub = root.subdir("agents").unwrap();
    assert_eq!(mode(&sub), 0o700);
    assert_eq!(root.subdir("agents").unwrap(), sub, "idempotent");
    root.check_writable().unwrap();
    assert_eq!(
        names(&path),
        vec!["agents".to_string(), LOCK_FILE.to_string()]
    );
}

#[test]
fn bad_roots_are_named_in_the_error() {
    let dir = TestDir::new("bad");
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();

    let e = DataRoot::open(&file).unwrap_err();
    assert!(matches!(e, StorageError::NotADirectory { .. }), "{e}");
    assert_eq!(e.path(), file);
    assert!(e.to_string().contains(&*file.to_string_lossy()), "{e}");

    let under_file = file.join("data");
    let e = DataRoot::open(&under_file).unwrap_err();
    assert!(matches!(e, StorageError::Inaccessible { .. }), "{e}");
    assert!(e.to_string().contains("Not a directory"), "{e}");
    assert_eq!(e.path(), under_file);
    assert!(!e.is_permission_denied());
}

#[test]
fn permission_errors_are_told_apart() {
    let dir = TestDir::new("perm");
    if permissions_are_bypassed(dir.path()) {
        eprintln!("skipped: this process ignores file permissions");
        return;
    }
    let table: &[(&str, u32, &str)] = &[
        ("unreadable", 0o300, "is not readable"),
        ("read-only", 0o500, "is not writable"),
    ];
    for (name, m, text) in table {
        let root = dir.path().join(name);
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, Permissions::from_mode(*m)).unwrap();
        let e = DataRoot::open(&root).unwrap_err();
        assert!(e.to_string().contains(text), "{name}: {e}");
        assert!(e.is_permission_denied(), "{name}: {e}");
        fs::set_permissions(&root, Permissions::from_mode(0o700)).unwrap();
    }

    let closed = dir.path().join("closed");
    fs::create_dir(&closed).unwrap();
    fs::set_permissions(&closed, Permissions::from_mode(0o000)).unwrap();
    let e = DataRoot::open(closed.join("data")).unwrap_err();
    assert!(matches!(e, StorageError::Inaccessible { .. }), "{e}");
    assert!(e.is_permission_denied());
    fs::set_permissions(&closed, Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn two_nodes_cannot_share_a_root() {
    let dir = TestDir::new("lock");
    let first = DataRoot::open(dir.path()).unwrap();
    let e = DataRoot::open(dir.path()).unwrap_err();
    match &e {
        StorageError::Locked { holder, lock, .. } => {
            assert_eq!(*holder, Some(std::process::id()));
            assert_eq!(lock, &dir.path().join(LOCK_FILE));
        }
        other => panic!("expected Locked, got {other}"),
    }
    assert!(e.to_string().contains("in use by another dawn-node"), "{e}");
    drop(first);
    DataRoot::open(dir.path()).expect("the lock is released on drop");
}

#[test]
fn writability_is_rechecked_for_health() {
    let dir = TestDir::new("health");
    let path = dir.path().join("data");
    let root = DataRoot::open(&path).unwrap();
    root.check_writable().unwrap();
    fs::remove_dir_all(&path).unwrap();
    let e = root.check_writable().unwrap_err();
    assert!(matches!(e, StorageError::NotWritable { .. }), "{e}");
}

#[test]
fn atomic_write_creates_and_replaces_with_exact_mode() {
    let dir = TestDir::new("atomic");
    let path = dir.path().join("state.json");
    for (content, m) in [
        (&b"first"[..], 0o600),
        (b"second, longer", 0o644),
        (b"", 0o600),
    ] {
        atomic_write(&path, content, m).unwrap();
        assert_eq!(fs::read(&path).unwrap(), content);
        assert_eq!(mode(&path), m);
        assert_eq!(
            names(dir.path()),
            vec!["state.json".to_string()],
            "no temp left"
        );
    }
}

#[test]
fn a_failed_write_leaves_the_old_content_and_no_temp_file() {
    let dir = TestDir::new("fail");
    // The target is a non-empty directory: the rename fails after the temp file was written.
    let target = dir.path().join("taken");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("inside"), b"old").unwrap();
    let e = atomic_write(&target, b"new", 0o600).unwrap_err();
    assert!(matches!(e, StorageError::Write { .. }), "{e}");
    assert_eq!(e.path(), target);
    assert_eq!(names(dir.path()), vec!["taken".to_string()]);
    assert_eq!(fs::read(target.join("inside")).unwrap(), b"old");

    let missing_dir = dir.path().join("nope/file.json");
    let e = atomic_write(&missing_dir, b"x", 0o600).unwrap_err();
    assert!(e.to_string().contains("cannot write"), "{e}");

    let e = atomic_write(std::path::Path::new("/"), b"x", 0o600).unwrap_err();
    assert!(e.to_string().contains("does not name a file"), "{e}");
}

#[test]
fn temp_files_of_an_interrupted_write_are_removed_at_open() {
    let dir = TestDir::new("crash");
    {
        let root = DataRoot::open(dir.path()).unwrap();
        let sub = root.subdir("agents").unwrap();
        write_json(&sub.join("kv.json"), &json!({"k": "old"}), 0o600).unwrap();
        // What a SIGKILL between write and rename leaves: a torn temp file beside the
        // intact target.
        fs::write(sub.join(".kv.json.999.0.dawn-tmp"), b"{\"k\": \"ne").unwrap();
        fs::write(dir.path().join(".x.1.2.dawn-tmp"), b"").unwrap();
        fs::write(sub.join("notes.txt"), b"keep").unwrap();
    }
    let root = DataRoot::open(dir.path()).unwrap();
    let sub = root.subdir("agents").unwrap();
    assert_eq!(
        names(&sub),
        vec!["kv.json".to_string(), "notes.txt".to_string()]
    );
    assert_eq!(
        names(dir.path()),
        vec!["agents".to_string(), LOCK_FILE.to_string()]
    );
    let value: Option<Value> = read_json(&sub.join("kv.json"), 1024).unwrap();
    assert_eq!(value, Some(json!({"k": "old"})));
}

#[test]
fn json_files() {
    let dir = TestDir::new("json");
    let path = dir.path().join("v.json");
    assert_eq!(
        read_json::<Value>(&path, 100).unwrap(),
        None,
        "missing is None"
    );

    write_json(&path, &json!({"a": [1, 2]}), 0o600).unwrap();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.ends_with("}\n"), "{text:?}");
    assert_eq!(
        read_json::<Value>(&path, 100).unwrap(),
        Some(json!({"a": [1, 2]}))
    );

    let table: &[(&[u8], u64, &str)] = &[
        (
            b"{\"a\": ",
            100,
            "not valid JSON for this file: EOF while parsing",
        ),
        (b"\xff\xfe", 100, "not valid JSON"),
        (b"[1, 2, 3]", 100, "invalid type"),
        (b"{\"a\": [1, 2]}", 5, "larger than the 5 bytes"),
    ];
    for (content, max, text) in table {
        fs::write(&path, content).unwrap();
        let e = read_json::<std::collections::BTreeMap<String, Value>>(&path, *max).unwrap_err();
        assert!(matches!(e, StorageError::Corrupt { .. }), "{e}");
        let message = e.to_string();
        assert!(message.contains(text), "{message}");
        assert!(message.contains(&*path.to_string_lossy()), "{message}");
    }

    let e = read_json::<Value>(dir.path(), 100).unwrap_err();
    assert!(
        matches!(e, StorageError::Read { .. }),
        "reading a directory: {e}"
    );
}
