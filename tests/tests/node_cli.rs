//! `dawn-node id`: the node id derived from the identity key under the data root.

use dawn_tests::support::binaries::binaries;
use dawn_tests::support::process::{run_to_end, temp_dir};

#[test]
fn id_is_stable_and_the_same_by_flag_or_variable() {
    let dir = temp_dir();
    let root = dir.path().join("data");
    let root = root.to_str().expect("utf-8 temp path");
    let first = run_to_end(&binaries().node, &["id", "--data-root", root], &[]);
    assert_eq!(first.code(), Some(0), "{first:?}");
    let id = first.stdout.trim().to_owned();
    assert_eq!(id.len(), 64, "64 hex digits: {id:?}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id:?}");

    let again = run_to_end(&binaries().node, &["id", "--data-root", root], &[]);
    assert_eq!(again.stdout.trim(), id, "the id must survive restarts");
    let by_env = run_to_end(
        &binaries().node,
        &["id"],
        &[("PROJECT_DAWN_DATA_ROOT", root)],
    );
    assert_eq!(by_env.stdout.trim(), id, "{by_env:?}");
}

#[test]
fn id_refuses_a_corrupt_key_naming_it_and_keeps_it() {
    let dir = temp_dir();
    let key = dir.path().join("identity.key");
    std::fs::write(&key, "garbage").expect("write key");
    let root = dir.path().to_str().expect("utf-8 temp path");
    let done = run_to_end(&binaries().node, &["id", "--data-root", root], &[]);
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert!(done.stdout.is_empty(), "no id on failure: {done:?}");
    assert!(
        done.stderr.contains("identity.key") && done.stderr.contains("corrupt"),
        "{}",
        done.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&key).expect("key kept"),
        "garbage",
        "a corrupt key must never be replaced"
    );
}
