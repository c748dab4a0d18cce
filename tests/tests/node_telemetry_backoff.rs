//! The real node against an exporter that welcomes it and then sends garbage (issue 14):
//! the node must not spin reconnecting. It backs off as after a rejection, so in 20 s it
//! reconnects at most 10 times, and logs a few lines, not one per attempt
//! (docs/telemetry-client.md, "Reconnection").

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use dawn_proto::{Frame, MAX_SUPPORTED_VERSION, Welcome, encode_frame};
use dawn_tests::support::process::temp_dir;
use dawn_tests::support::{Node, patience};

/// How long the exporter misbehaves.
const WINDOW: Duration = Duration::from_secs(20);
/// The most reconnects allowed in [`WINDOW`].
const MAX_RECONNECTS: usize = 10;

#[test]
fn an_exporter_sending_garbage_after_welcome_gets_few_reconnects() {
    let dir = temp_dir();
    let socket = dir.path().join("telemetry.sock");
    let listener = UnixListener::bind(&socket).expect("bind the socket");
    listener.set_nonblocking(true).expect("nonblocking");
    let mut node = Node::start(&socket, &[]);

    let mut welcome = Vec::new();
    encode_frame(
        &Frame::Welcome(Welcome {
            version: MAX_SUPPORTED_VERSION,
            server: "garbage".into(),
        }),
        &mut welcome,
    )
    .expect("encode");
    welcome.extend_from_slice(&[0xff; 8]);

    // Sessions are counted from the node's first connection for WINDOW; each gets a
    // Welcome and then bytes that are no frame. The connections are kept open: the node
    // ends each session.
    let mut sessions = Vec::new();
    let mut first: Option<Instant> = None;
    let limit = Instant::now() + patience();
    while first.is_none_or(|t| t.elapsed() < WINDOW) {
        node.proc.assert_running();
        assert!(Instant::now() < limit, "the node never connected");
        match listener.accept() {
            Ok((mut stream, _)) => {
                first.get_or_insert_with(Instant::now);
                stream.set_nonblocking(false).expect("blocking");
                let mut hello = [0u8; 1024];
                let _ = stream.read(&mut hello);
                let _ = stream.write_all(&welcome);
                sessions.push(stream);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let reconnects = sessions.len().saturating_sub(1);
    let log = node.log();
    // The shipper's own lines (its log target).
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("dawn_telemetry::shipper"))
        .collect();
    eprintln!(
        "{} sessions in {WINDOW:?} ({reconnects} reconnects); the shipper's lines:\n{}",
        sessions.len(),
        lines.join("\n")
    );
    assert!(
        reconnects <= MAX_RECONNECTS,
        "{reconnects} reconnects in {WINDOW:?}:\n{log}"
    );
    let noisy: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" INFO "))
        .collect();
    assert!(
        noisy.len() <= 3,
        "{} shipper lines at info or warn:\n{log}",
        noisy.len()
    );
}
