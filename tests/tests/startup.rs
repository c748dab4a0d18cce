//! Starting and stopping the real `dawn-exporter`: the socket's directory and file (missing,
//! stale, served by a live exporter, not a socket), graceful SIGTERM/SIGINT, the HTTP port in
//! use, and `dawn-exporter healthcheck`.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;

use dawn_proto::Frame;
use dawn_tests::support::binaries::binaries;
use dawn_tests::support::process::{run_to_end, temp_dir};
use dawn_tests::support::wire::WellBehaved;
use dawn_tests::support::{Exporter, ExporterOptions, RawClient, free_port};
use rustix::process::Signal;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn a_missing_socket_directory_is_created() {
    let dir = temp_dir();
    let socket = dir.path().join("run/dawn/telemetry.sock");
    let exporter = Exporter::start_with(ExporterOptions::default().socket(&socket));
    assert_eq!(
        mode(&dir.path().join("run/dawn")),
        0o750,
        "socket directory mode"
    );
    assert_eq!(mode(&socket), 0o660, "socket mode");
    WellBehaved::connect(&exporter, "good");
}

#[test]
fn an_uncreatable_socket_directory_is_a_clear_error() {
    let dir = temp_dir();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a directory").expect("write");
    let socket = blocker.join("telemetry.sock");
    let mut exporter = Exporter::spawn(ExporterOptions::default().socket(&socket));
    let status = exporter.proc.wait_exit();
    assert!(!status.success(), "{status}");
    let log = exporter.log();
    assert!(
        log.contains("cannot create the socket directory")
            && log.contains(&blocker.display().to_string()),
        "{log}"
    );
}

#[test]
fn a_socket_served_by_a_live_exporter_is_not_stolen() {
    let first = Exporter::start();
    let mut good = WellBehaved::connect(&first, "good");

    let mut second = Exporter::spawn(ExporterOptions::default().socket(&first.socket));
    let status = second.proc.wait_exit();
    assert!(
        !status.success(),
        "the second exporter must fail, got {status}"
    );
    let log = second.log();
    assert!(
        log.contains(&first.socket.display().to_string())
            && log.contains("served by a running exporter"),
        "the message must name the socket: {log}"
    );
    // The first one is untouched: its socket is still there and serving.
    assert!(first.socket.exists());
    good.bump_and_check(&first);
    RawClient::handshake(&first.socket, "another", 1);
}

#[test]
fn a_stale_socket_file_is_replaced() {
    let dir = temp_dir();
    let socket = dir.path().join("telemetry.sock");
    // A socket file nobody listens on, as a SIGKILLed exporter leaves behind.
    drop(UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());
    let exporter = Exporter::start_with(ExporterOptions::default().socket(&socket));
    WellBehaved::connect(&exporter, "good");
}

#[test]
fn a_stale_socket_left_by_a_killed_exporter_is_replaced() {
    let mut exporter = Exporter::start();
    exporter.kill();
    assert!(
        exporter.socket.exists(),
        "SIGKILL leaves the socket file behind"
    );
    exporter.restart();
    WellBehaved::connect(&exporter, "good");
}

#[test]
fn a_file_that_is_not_a_socket_is_not_replaced() {
    let dir = temp_dir();
    let path = dir.path().join("telemetry.sock");
    std::fs::write(&path, b"precious").expect("write");
    let mut exporter = Exporter::spawn(ExporterOptions::default().socket(&path));
    let status = exporter.proc.wait_exit();
    assert!(!status.success(), "{status}");
    assert!(
        exporter.log().contains("is not a socket"),
        "{}",
        exporter.log()
    );
    assert_eq!(std::fs::read(&path).expect("still there"), b"precious");
}

#[test]
fn sigterm_stops_gracefully_and_removes_the_socket() {
    for signal in [Signal::TERM, Signal::INT] {
        let mut exporter = Exporter::start();
        let _client = WellBehaved::connect(&exporter, "good");
        exporter.proc.signal(signal);
        let status = exporter.proc.wait_exit();
        assert_eq!(
            status.code(),
            Some(0),
            "{signal:?}: {status}\n{}",
            exporter.log()
        );
        assert!(
            !exporter.socket.exists(),
            "{signal:?}: the socket must be removed on shutdown"
        );
    }
}

#[test]
fn a_busy_http_port_is_a_clear_error() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = busy.local_addr().expect("addr").port();
    let mut exporter = Exporter::spawn(ExporterOptions::default().port(port));
    let status = exporter.proc.wait_exit();
    assert!(!status.success(), "{status}");
    let log = exporter.log();
    assert!(
        log.contains(&format!("127.0.0.1:{port}")) && log.contains("--web.listen-address"),
        "{log}"
    );
}

#[test]
fn healthcheck_exit_codes_follow_readiness() {
    let exporter = Exporter::start();
    let url = exporter.url("/health/ready");
    let exe = &binaries().exporter;

    // No node yet: not ready, exit 1 with a reason.
    let not_ready = run_to_end(exe, &["healthcheck", "--url", &url], &[]);
    assert_eq!(not_ready.code(), Some(1), "{not_ready:?}");
    assert!(not_ready.stdout.contains("not ready"), "{not_ready:?}");

    // A client that reports ready (and stays fresh: it announces a long flush interval).
    let mut hello = RawClient::hello_frame("node-1", 1);
    hello.flush_interval_ms = 3_600_000;
    let mut client = RawClient::handshake_with(&exporter.socket, hello);
    client.send(&Frame::Ready(true));
    dawn_tests::support::eventually("/health/ready answers 200", || {
        match exporter.get("/health/ready").status {
            200 => Ok(()),
            s => Err(format!("{s}")),
        }
    });
    let ready = run_to_end(exe, &["healthcheck", "--url", &url], &[]);
    assert_eq!(ready.code(), Some(0), "{ready:?}");
    // The address can also come from --web.listen-address.
    let addr = format!("127.0.0.1:{}", exporter.port);
    let by_addr = run_to_end(exe, &["healthcheck", "--web.listen-address", &addr], &[]);
    assert_eq!(by_addr.code(), Some(0), "{by_addr:?}");

    // Reported not ready: exit 1 again.
    client.send(&Frame::Ready(false));
    dawn_tests::support::eventually("/health/ready answers 503", || {
        match exporter.get("/health/ready").status {
            503 => Ok(()),
            s => Err(format!("{s}")),
        }
    });
    let not_again = run_to_end(exe, &["healthcheck", "--url", &url], &[]);
    assert_eq!(not_again.code(), Some(1), "{not_again:?}");

    // Nobody listening: exit 1.
    let nobody = format!("http://127.0.0.1:{}/health/ready", free_port());
    let down = run_to_end(
        exe,
        &["healthcheck", "--url", &nobody, "--timeout", "2s"],
        &[],
    );
    assert_eq!(down.code(), Some(1), "{down:?}");
}
