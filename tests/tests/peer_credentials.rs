//! Who may talk to whom over the telemetry socket, by the uid the kernel reports for the other
//! end (`SO_PEERCRED`), never by what the peer says (docs/security.md):
//!
//! - the exporter with `--ingest.allowed-uids` serves clients of those users and refuses,
//!   counts and (once) logs the others, telling them why;
//! - the node refuses an exporter that runs as neither its own user, root, nor a user in
//!   `PROJECT_DAWN_TELEMETRY_EXPORTER_UIDS`, sends it nothing, says why once and keeps
//!   backing off.
//!
//! Other users are played with `setpriv` (util-linux) from root: these tests need both;
//! without them they are reported as ignored (with the reason after the run), and fail
//! under `CI=true`.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dawn_proto::Frame;
use dawn_tests::support::binaries::binaries;
use dawn_tests::support::harness;
use dawn_tests::support::process::{Proc, free_udp_port, temp_dir};
use dawn_tests::support::tools::{Root, SETPRIV};
use dawn_tests::support::wire::{Received, WellBehaved};
use dawn_tests::support::{Exporter, ExporterOptions, Node, RawClient, eventually};
use dawn_tests::trial;

/// The user the tests play besides root.
const NOBODY: u32 = 65534;

/// Root, to act as other users.
const ROOT: Root = Root {
    why: "act as other users",
};

/// `setpriv`, for a test that acts as other users (it also checks that the test runs as root).
fn setpriv() -> PathBuf {
    ROOT.check();
    SETPRIV.path()
}

/// `setpriv` arguments that run a command as [`NOBODY`], in root's group when `in_root_group`
/// (so it can open a root-owned socket of mode 0660).
fn as_nobody(in_root_group: bool) -> Vec<String> {
    let mut args = vec![format!("--reuid={NOBODY}"), format!("--regid={NOBODY}")];
    args.push(if in_root_group {
        "--groups=0".to_owned()
    } else {
        "--clear-groups".to_owned()
    });
    args
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

/// A directory of [`NOBODY`]'s, mode 0700, under `parent`.
fn nobody_dir(parent: &Path, name: &str, mode: u32) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).expect("mkdir");
    set_mode(&dir, mode);
    std::os::unix::fs::chown(&dir, Some(NOBODY), Some(NOBODY)).expect("chown");
    dir
}

/// `dawn-node run` as [`NOBODY`] (in root's group) reporting to `socket`.
fn node_as_nobody(setpriv: &Path, dir: &Path, socket: &Path) -> Proc {
    let data = nobody_dir(dir, "node-data", 0o700);
    let mut args: Vec<OsString> = as_nobody(true).into_iter().map(OsString::from).collect();
    args.extend(["--".into(), binaries().node.clone().into(), "run".into()]);
    let envs: Vec<(OsString, OsString)> = vec![
        ("PROJECT_DAWN_DATA_ROOT".into(), data.into()),
        ("PROJECT_DAWN_TELEMETRY_SOCKET".into(), socket.into()),
        ("PROJECT_DAWN_TELEMETRY_FLUSH_MS".into(), "100".into()),
        ("PROJECT_DAWN_HOST".into(), "127.0.0.1".into()),
        (
            "PROJECT_DAWN_P2P_PORT".into(),
            free_udp_port().to_string().into(),
        ),
    ];
    Proc::start(
        "dawn-node (uid 65534)",
        setpriv,
        args,
        envs,
        dir.join("node.log"),
    )
}

/// An exporter on a socket in `dir` (mode 0750, root's group may enter), logging at debug,
/// serving the users `allowed`.
fn exporter_allowing(dir: &Path, allowed: &str) -> Exporter {
    set_mode(dir, 0o750);
    let opts = ExporterOptions {
        envs: vec![("LOG_LEVEL".into(), "debug".into())],
        ..ExporterOptions::default()
    };
    Exporter::start_with(
        opts.socket(&dir.join("telemetry.sock"))
            .arg("--ingest.allowed-uids", allowed),
    )
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(a_client_of_a_user_not_allowed_is_refused_counted_and_logged_once)
            .needs(ROOT)
            .needs(SETPRIV),
        trial!(a_client_of_an_allowed_user_is_served_and_others_are_told_why)
            .needs(ROOT)
            .needs(SETPRIV),
        trial!(the_node_refuses_an_exporter_of_a_foreign_user_and_says_why_once)
            .needs(ROOT)
            .needs(SETPRIV),
    ])
}

fn a_client_of_a_user_not_allowed_is_refused_counted_and_logged_once() {
    let setpriv = setpriv();
    let dir = temp_dir();
    let exporter = exporter_allowing(dir.path(), "0");
    let mut good = WellBehaved::connect(&exporter, "root-client");

    let mut node = node_as_nobody(&setpriv, dir.path(), &exporter.socket);
    // Refused twice: the node retries after its backoff, and the second refusal is only
    // counted.
    exporter.eventually_metrics("two refusals of uid 65534", |m| {
        let refused = m.get_or_zero(
            "dawn_exporter_refused_clients_total",
            &[("reason", "uid_not_allowed")],
        );
        if refused >= 2.0 {
            Ok(())
        } else {
            Err(format!("{refused} refused"))
        }
    });
    node.assert_running();
    let m = exporter.metrics();
    assert!(m.value("dawn_exporter_connections_total", &[("result", "rejected")]) >= 2.0);
    assert_eq!(
        m.value("dawn_exporter_connections_total", &[("result", "accepted")]),
        1.0,
        "only the root client got a session"
    );

    let log = exporter.log();
    let warned = lines_with(&log, "telemetry client refused");
    assert_eq!(
        warned.len(),
        1,
        "one full line, the rest counted: {warned:#?}"
    );
    assert!(
        warned[0].contains(&format!("uid {NOBODY} is not in --ingest.allowed-uids (0)")),
        "{}",
        warned[0]
    );
    assert!(
        log.lines()
            .any(|l| l.contains("telemetry client connected") && l.contains("uid=65534")),
        "each connection's uid and pid are logged (debug):\n{log}"
    );
    // The refused client was told why.
    eventually("the node logs the exporter's reason", || {
        let log = node.log();
        if log.contains("uid_not_allowed: uid 65534 may not send telemetry to this exporter") {
            Ok(())
        } else {
            Err(log)
        }
    });
    good.bump_and_check(&exporter);
}

fn a_client_of_an_allowed_user_is_served_and_others_are_told_why() {
    let setpriv = setpriv();
    let dir = temp_dir();
    let exporter = exporter_allowing(dir.path(), &NOBODY.to_string());
    let _node = node_as_nobody(&setpriv, dir.path(), &exporter.socket);
    exporter.eventually_metrics("the node of uid 65534 is up", |m| {
        match m.get_or_zero("dawn_node_up", &[]) {
            1.0 => Ok(()),
            v => Err(format!("dawn_node_up {v}")),
        }
    });
    // Root is not in the list: refused before its Hello is read, with the reason.
    let mut root = RawClient::connect(&exporter.socket);
    root.send(&Frame::Hello(RawClient::hello_frame("root", 1)));
    match root.recv() {
        Received::Frame(Frame::Reject(r)) => assert!(
            r.reason
                .starts_with("uid_not_allowed: uid 0 may not send telemetry"),
            "{}",
            r.reason
        ),
        other => panic!("expected a Reject, got {other:?}"),
    }
    let m = exporter.metrics();
    assert_eq!(
        m.value(
            "dawn_exporter_refused_clients_total",
            &[("reason", "uid_not_allowed")]
        ),
        1.0
    );
}

fn the_node_refuses_an_exporter_of_a_foreign_user_and_says_why_once() {
    let setpriv = setpriv();
    let dir = temp_dir();
    // The exporter runs as 65534 in a directory of its own, which its checks accept.
    set_mode(dir.path(), 0o755);
    let socket_dir = nobody_dir(dir.path(), "sock", 0o750);
    let nobody = as_nobody(false);
    let mut under: Vec<&str> = vec![setpriv.to_str().expect("a UTF-8 path")];
    under.extend(nobody.iter().map(String::as_str));
    under.push("--");
    let exporter = Exporter::start_with(
        ExporterOptions::default()
            .socket(&socket_dir.join("telemetry.sock"))
            .under(&under),
    );

    let refusing = Node::start(&exporter.socket, &[("LOG_LEVEL", "debug")]);
    let why = "runs as uid 65534";
    eventually("the node refused the exporter three times", || {
        let log = refusing.log();
        match lines_with(&log, why).len() {
            n if n >= 3 => Ok(()),
            n => Err(format!("{n} refusals so far:\n{log}")),
        }
    });
    let log = refusing.log();
    let warned: Vec<&str> = lines_with(&log, why)
        .into_iter()
        .filter(|l| l.contains("WARN"))
        .collect();
    assert_eq!(warned.len(), 1, "said once at warn: {warned:#?}");
    assert!(
        warned[0].contains("refusing the telemetry exporter")
            && warned[0].contains("nothing was sent to it"),
        "{}",
        warned[0]
    );
    let m = exporter.metrics();
    assert_eq!(
        m.get_or_zero("dawn_exporter_connections_total", &[("result", "accepted")]),
        0.0,
        "no Hello reached the exporter"
    );
    assert_eq!(m.value("dawn_node_up", &[]), 0.0);

    // Trusted by configuration, the same exporter gets its node.
    let _trusting = Node::start(
        &exporter.socket,
        &[("PROJECT_DAWN_TELEMETRY_EXPORTER_UIDS", "65534")],
    );
    exporter.eventually_metrics("the trusting node is up", |m| {
        match m.get_or_zero("dawn_node_up", &[]) {
            1.0 => Ok(()),
            v => Err(format!("dawn_node_up {v}")),
        }
    });
}
