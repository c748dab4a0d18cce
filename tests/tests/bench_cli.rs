//! `dawn-bench --exporter`: a path that names no exporter, or a selection of groups that runs
//! none, is refused with a message naming the flag before anything is built or measured.

use dawn_tests::support::binaries::bench;
use dawn_tests::support::process::{Finished, run_to_end, temp_dir};

#[track_caller]
fn assert_refused(done: &Finished, needles: &[&str]) {
    assert_eq!(done.code(), Some(1), "{done:?}");
    for needle in needles {
        assert!(
            done.stderr.contains(needle),
            "stderr must contain {needle:?}: {}",
            done.stderr
        );
    }
    // Refused before any group: nothing was measured or written.
    assert!(!done.stderr.contains("== "), "a group ran: {}", done.stderr);
}

#[test]
fn exporter_path_that_does_not_exist_is_refused_before_anything_runs() {
    let dir = temp_dir();
    let missing = dir.path().join("no-such-exporter");
    let out = dir.path().join("summary.json");
    let done = run_to_end(
        bench(),
        &[
            "--only",
            "exporter",
            "--exporter",
            missing.to_str().expect("utf-8 temp path"),
            "--out",
            out.to_str().expect("utf-8 temp path"),
        ],
        &[],
    );
    assert_refused(&done, &["--exporter", "no-such-exporter", "No such file"]);
    assert!(!out.exists(), "no summary may be written");
}

#[test]
fn exporter_path_that_is_a_directory_is_refused() {
    let dir = temp_dir();
    let path = dir.path().to_str().expect("utf-8 temp path");
    let done = run_to_end(bench(), &["--only", "exporter", "--exporter", path], &[]);
    assert_refused(&done, &["--exporter", "not a file"]);
}

#[test]
fn exporter_with_no_group_that_runs_one_is_refused() {
    let dir = temp_dir();
    let file = dir.path().join("dawn-exporter");
    std::fs::write(&file, b"").expect("write a stand-in file");
    let path = file.to_str().expect("utf-8 temp path");
    let done = run_to_end(bench(), &["--only", "hot", "--exporter", path], &[]);
    assert_refused(&done, &["--exporter", "no group selected runs an exporter"]);
}
