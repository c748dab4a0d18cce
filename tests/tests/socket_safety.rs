//! The telemetry socket's directory and path, as an attacker on the same machine would try
//! them (docs/security.md): a directory someone else owns or may write is refused with one
//! clear line and exit 1; a symbolic link at the socket path is refused; and a link swapped
//! in and out of the socket path while the exporter starts, 200 times, never gets a file's
//! mode changed (the exporter used to `chmod` the path after `bind`, following such a link).

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dawn_tests::support::binaries::binaries;
use dawn_tests::support::harness;
use dawn_tests::support::process::{Proc, temp_dir};
use dawn_tests::support::tools::Root;
use dawn_tests::support::wire::WellBehaved;
use dawn_tests::support::{Exporter, ExporterOptions, patience};
use dawn_tests::trial;
use rustix::process::Signal;

/// Root, for the test that gives a directory to another user.
const ROOT: Root = Root {
    why: "give a directory to another user",
};

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

/// Starts an exporter on `socket`, expects it to exit 1, and returns its log.
#[track_caller]
fn refused(socket: &Path) -> String {
    let mut exporter = Exporter::spawn(ExporterOptions::default().socket(socket));
    let status = exporter.proc.wait_exit();
    let log = exporter.log();
    assert_eq!(status.code(), Some(1), "exit status {status}; log:\n{log}");
    log
}

/// The one line of `log` containing `needle`; fails unless there is exactly one.
#[track_caller]
fn one_line<'a>(log: &'a str, needle: &str) -> &'a str {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(needle)).collect();
    match lines.as_slice() {
        [line] => line,
        other => panic!("expected one line with {needle:?}, got {other:?} in\n{log}"),
    }
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(a_directory_owned_by_another_user_is_refused).needs(ROOT),
        trial!(a_directory_others_may_write_is_refused),
        trial!(a_private_directory_still_works_and_the_socket_is_0660),
        trial!(a_symbolic_link_at_the_socket_path_is_refused),
        trial!(the_symlink_race_cannot_change_a_files_mode),
    ])
}

fn a_directory_owned_by_another_user_is_refused() {
    ROOT.check();
    let dir = temp_dir();
    let socket_dir = dir.path().join("run");
    std::fs::create_dir(&socket_dir).expect("mkdir");
    set_mode(&socket_dir, 0o750);
    std::os::unix::fs::chown(&socket_dir, Some(65534), Some(65534)).expect("chown");
    let log = refused(&socket_dir.join("telemetry.sock"));
    let line = one_line(&log, "refusing the socket directory");
    for part in [
        &socket_dir.display().to_string(),
        "owner uid 65534",
        "mode 750",
        "belongs to another user",
        "choose another --socket",
    ] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
    assert!(!socket_dir.join("telemetry.sock").exists());
}

fn a_directory_others_may_write_is_refused() {
    for mode in [0o777, 0o1777, 0o770] {
        let dir = temp_dir();
        let socket_dir = dir.path().join("run");
        std::fs::create_dir(&socket_dir).expect("mkdir");
        set_mode(&socket_dir, mode);
        let log = refused(&socket_dir.join("telemetry.sock"));
        let line = one_line(&log, "refusing the socket directory");
        for part in [
            socket_dir.display().to_string(),
            format!("mode {mode:o}"),
            "writable by group or others".to_owned(),
            "chmod go-w".to_owned(),
        ] {
            assert!(line.contains(&part), "{part:?} missing from {line:?}");
        }
    }
}

fn a_private_directory_still_works_and_the_socket_is_0660() {
    let dir = temp_dir();
    let socket_dir = dir.path().join("run");
    std::fs::create_dir(&socket_dir).expect("mkdir");
    set_mode(&socket_dir, 0o755);
    let socket = socket_dir.join("telemetry.sock");
    let exporter = Exporter::start_with(ExporterOptions::default().socket(&socket));
    assert_eq!(mode(&socket), 0o660);
    // Nothing of the private bind directory is left behind.
    let left: Vec<_> = std::fs::read_dir(&socket_dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name())
        .collect();
    assert_eq!(left, vec![std::ffi::OsString::from("telemetry.sock")]);
    WellBehaved::connect(&exporter, "good");
}

fn a_symbolic_link_at_the_socket_path_is_refused() {
    let dir = temp_dir();
    let target = dir.path().join("precious");
    std::fs::write(&target, b"keep").expect("write");
    set_mode(&target, 0o600);
    let socket = dir.path().join("telemetry.sock");
    std::os::unix::fs::symlink(&target, &socket).expect("symlink");
    let log = refused(&socket);
    let line = one_line(&log, "is a symbolic link");
    assert!(line.contains(&socket.display().to_string()), "{line}");
    assert_eq!(mode(&target), 0o600);
    assert_eq!(std::fs::read(&target).expect("read"), b"keep");
    assert!(
        std::fs::symlink_metadata(&socket)
            .expect("still there")
            .file_type()
            .is_symlink()
    );
}

/// Swaps a link to `target` in and out of `path` until `stop`.
fn swap_links(
    path: PathBuf,
    target: PathBuf,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let staged = path.with_extension("link");
        let mut swaps = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let _ = std::fs::remove_file(&staged);
            if std::os::unix::fs::symlink(&target, &staged).is_ok()
                && std::fs::rename(&staged, &path).is_ok()
            {
                swaps += 1;
            }
            std::thread::yield_now();
            let _ = std::fs::remove_file(&path);
            std::thread::yield_now();
        }
        swaps
    })
}

fn the_symlink_race_cannot_change_a_files_mode() {
    const TRIES: usize = 200;
    let dir = temp_dir();
    let target = dir.path().join("root-owned");
    std::fs::write(&target, b"secret").expect("write");
    set_mode(&target, 0o600);
    let owner = std::fs::metadata(&target).expect("stat").uid();
    let socket = dir.path().join("telemetry.sock");
    let stop = Arc::new(AtomicBool::new(false));
    let racer = swap_links(socket.clone(), target.clone(), Arc::clone(&stop));

    let log = dir.path().join("exporter.log");
    let (mut started, mut refused) = (0, 0);
    for _ in 0..TRIES {
        let mut exporter = Proc::start(
            "dawn-exporter",
            &binaries().exporter,
            vec![
                "--socket".into(),
                socket.clone().into(),
                "--web.listen-address".into(),
                "127.0.0.1:0".into(),
            ],
            Vec::new(),
            log.clone(),
        );
        // Until it gave up (the link was there) or served (it won the race); then stop it.
        let deadline = std::time::Instant::now() + patience();
        loop {
            if exporter.exit_status().is_some() {
                refused += 1;
                break;
            }
            let served = exporter.log().matches("dawn-exporter started").count();
            if served > started {
                started += 1;
                exporter.signal(Signal::TERM);
                exporter.wait_exit();
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the exporter neither started nor exited:\n{}",
                exporter.log()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        assert_eq!(mode(&target), 0o600, "after {} tries", started + refused);
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().expect("the racer");
    eprintln!("{TRIES} starts: {started} served, {refused} refused; {swaps} link swaps");
    let meta = std::fs::metadata(&target).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), owner);
    assert_eq!(std::fs::read(&target).expect("read"), b"secret");
}
