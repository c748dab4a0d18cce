//! Bad input to the real `dawn-node` over QUIC, and bad surroundings at start-up.
//!
//! Every malformed request gets the error reply of `docs/node-internals.md` (naming the
//! request's id when it comes before the damage), the node keeps serving the same
//! connection and other callers, and the exporter shows the counters rising by exactly the
//! number of bad messages sent. An oversized request is refused by the transport without
//! harming the connection. An unreachable bootstrap peer, a corrupt `agents/kv.json`, a data
//! root that is a regular file and a UDP port in use each give the documented outcome.

use std::net::UdpSocket;
use std::time::Duration;

use dawn_node::p2p::{DEFAULT_MAX_MESSAGE_SIZE, Role, TransportError, TransportSettings};
use dawn_tests::support::binaries::binaries;
use dawn_tests::support::p2p::RawLink;
use dawn_tests::support::process::{free_udp_port, run_to_end, temp_dir};
use dawn_tests::support::{Caller, Pair, eventually};
use serde_json::{Value, json};

/// How long a raw exchange may take before the test gives up on it.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A client connection that sends bytes exactly as given and returns the reply's bytes,
/// with its own (larger) message limit so that it can send what `Caller` never would.
struct RawConnection(RawLink);

impl RawConnection {
    #[track_caller]
    fn connect(addr: &str, max_message_size: usize) -> RawConnection {
        let settings = TransportSettings {
            max_message_size,
            ..TransportSettings::default()
        };
        RawConnection(RawLink::connect(addr, Role::Client, settings))
    }

    fn request(&self, bytes: &[u8]) -> Result<Vec<u8>, TransportError> {
        self.0.request(bytes, EXCHANGE_TIMEOUT)
    }

    /// Sends `bytes` and parses the reply as JSON; fails the test when there is none.
    #[track_caller]
    fn reply(&self, bytes: &[u8]) -> Value {
        let reply = self
            .request(bytes)
            .unwrap_or_else(|e| panic!("no reply to {:?}: {e}", shown(bytes)));
        serde_json::from_slice(&reply).unwrap_or_else(|e| {
            panic!(
                "the reply to {:?} is not JSON ({e}): {:?}",
                shown(bytes),
                String::from_utf8_lossy(&reply)
            )
        })
    }

    #[track_caller]
    fn notify(&self, bytes: &[u8]) {
        self.0
            .notify(bytes, EXCHANGE_TIMEOUT)
            .unwrap_or_else(|e| panic!("cannot send the notification {:?}: {e}", shown(bytes)));
    }

    /// `node/ping` on this connection answers with a result.
    #[track_caller]
    fn assert_serves_ping(&self, after: &str) {
        let reply = self.reply(br#"{"jsonrpc":"2.0","id":"ping","method":"node/ping"}"#);
        assert!(
            reply["result"]["node_id"].is_string() && reply["id"] == "ping",
            "after {after}: node/ping on the same connection answered {reply}"
        );
    }
}

/// At most 120 characters of `bytes`, for messages.
fn shown(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.chars().take(120).collect()
}

/// The value of a counter on the exporter now, 0 when the series does not exist yet.
#[track_caller]
fn counter(pair: &Pair, name: &str, labels: &[(&str, &str)]) -> f64 {
    pair.exporter.metrics().get_or_zero(name, labels)
}

/// Waits until the (not necessarily ready) node at `addr` answers `node/ping`, failing
/// the test if it exits; returns the reply.
#[track_caller]
fn ping_when_up(pair: &mut Pair, caller: &mut Caller, addr: &str) -> Value {
    eventually("the node answers node/ping", || {
        pair.node.proc.assert_running();
        match caller.try_call(addr, "node/ping", None) {
            Ok(Ok(v)) => Ok(v),
            other => Err(format!("{other:?}")),
        }
    })
}

/// `/health` once `check` satisfies `ok`; returns the whole body.
#[track_caller]
fn health_when(pair: &Pair, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    eventually(what, || {
        let r = pair.exporter.get("/health");
        let body = r.json();
        if ok(&body) {
            Ok((r.status, body))
        } else {
            Err(format!("{} {body}", r.status))
        }
    })
    .1
}

/// One bad request and what the node must answer and count.
struct Case {
    what: &'static str,
    bytes: Vec<u8>,
    code: i64,
    /// The `id` the reply must carry (`null` when it cannot be recovered).
    id: Value,
    /// Words the error message must contain.
    message_has: &'static [&'static str],
    /// `p2p_errors_total{error_type, component}` that rises by one.
    error_type: &'static str,
    component: &'static str,
    /// The `type` under which `p2p_messages_total{status="error"}` counts the input.
    counted_as: &'static str,
}

fn cases() -> Vec<Case> {
    let case = |what, bytes: &[u8], code, id, message_has, error_type, component| Case {
        what,
        bytes: bytes.to_vec(),
        code,
        id,
        message_has,
        error_type,
        component,
        counted_as: "request",
    };
    let deep: Vec<u8> = std::iter::repeat_n(b'[', 100_000).collect();
    vec![
        case(
            "truncated JSON with the id first",
            br#"{"jsonrpc":"2.0","id":42,"method":"node/ping","params":{"#,
            -32700,
            json!(42),
            &["Parse error"],
            "invalid_json",
            "rpc",
        ),
        case(
            "damage before the id",
            br#"{"jsonrpc":"2.0","method":"node/ping",oops,"id":7}"#,
            -32700,
            Value::Null,
            &["Parse error"],
            "invalid_json",
            "rpc",
        ),
        case(
            "a string id before trailing garbage",
            br#"{"jsonrpc":"2.0","id":"req-9","method":"node/ping"} trailing"#,
            -32700,
            json!("req-9"),
            &["Parse error"],
            "invalid_json",
            "rpc",
        ),
        case(
            "plain text",
            b"hello node",
            -32700,
            Value::Null,
            &["Parse error"],
            "invalid_json",
            "rpc",
        ),
        case(
            "an empty message",
            b"",
            -32700,
            Value::Null,
            &["Parse error"],
            "invalid_json",
            "rpc",
        ),
        case(
            "100 000 nested brackets",
            &deep,
            -32700,
            Value::Null,
            &["Parse error"],
            "invalid_json",
            "rpc",
        ),
        case(
            "garbage bytes",
            b"\x00\x01\x02garbage\xff\xfe\xfd",
            -32700,
            Value::Null,
            &["Parse error"],
            "invalid_utf8",
            "rpc",
        ),
        case(
            "invalid UTF-8 after the id",
            b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"node/\xffping\"}",
            -32700,
            json!(5),
            &["Parse error"],
            "invalid_utf8",
            "rpc",
        ),
        case(
            "a batch",
            br#"[{"jsonrpc":"2.0","id":1,"method":"node/ping"},{"jsonrpc":"2.0","id":2,"method":"node/ping"}]"#,
            -32600,
            Value::Null,
            &["Invalid Request", "atch"],
            "batch",
            "rpc",
        ),
        case(
            "an empty batch",
            b"[]",
            -32600,
            Value::Null,
            &["Invalid Request", "atch"],
            "batch",
            "rpc",
        ),
        case(
            "a fractional id",
            br#"{"jsonrpc":"2.0","id":1.5,"method":"node/ping"}"#,
            -32600,
            Value::Null,
            &["Invalid Request"],
            "invalid_request",
            "rpc",
        ),
        case(
            "params that are a number",
            br#"{"jsonrpc":"2.0","id":11,"method":"node/ping","params":5}"#,
            -32600,
            json!(11),
            &["Invalid Request"],
            "invalid_request",
            "rpc",
        ),
        case(
            "an unknown method",
            br#"{"jsonrpc":"2.0","id":"u-1","method":"node/nope"}"#,
            -32601,
            json!("u-1"),
            &["Method not found", "node/nope"],
            "method_not_found",
            "rpc",
        ),
        case(
            "node/ping with params",
            br#"{"jsonrpc":"2.0","id":12,"method":"node/ping","params":{"x":1}}"#,
            -32602,
            json!(12),
            &["Invalid params", "node/ping takes no params"],
            "invalid_params",
            "rpc",
        ),
        case(
            "agent/call with a numeric agent",
            br#"{"jsonrpc":"2.0","id":13,"method":"agent/call","params":{"agent":1}}"#,
            -32602,
            json!(13),
            &["Invalid params", "agent/call"],
            "invalid_params",
            "agents",
        ),
        case(
            "agent/call of an unknown agent",
            br#"{"jsonrpc":"2.0","id":14,"method":"agent/call","params":{"agent":"nobody","tool":"x"}}"#,
            -32601,
            json!(14),
            &["nobody"],
            "unknown_agent",
            "agents",
        ),
        Case {
            counted_as: "notification",
            ..case(
                "a notification on a request stream",
                br#"{"jsonrpc":"2.0","method":"node/ping"}"#,
                -32600,
                Value::Null,
                &["Invalid Request", "notification"],
                "unexpected_message",
                "rpc",
            )
        },
    ]
}

#[test]
fn malformed_requests_get_error_replies_and_are_counted() {
    let pair = Pair::start(&[]);
    let addr = pair.addr();
    let raw = RawConnection::connect(&addr, DEFAULT_MAX_MESSAGE_SIZE);
    let mut other = Caller::new();
    let cases = cases();

    // Baselines (a fresh node: normally all absent, read as 0).
    let mut errors: Vec<((&str, &str), f64)> = Vec::new();
    for c in &cases {
        let key = (c.error_type, c.component);
        if !errors.iter().any(|(k, _)| *k == key) {
            errors.push((
                key,
                counter(
                    &pair,
                    "p2p_errors_total",
                    &[("error_type", key.0), ("component", key.1)],
                ),
            ));
        }
    }
    let messages = |kind: &str, status: &str| {
        counter(
            &pair,
            "p2p_messages_total",
            &[("type", kind), ("status", status)],
        )
    };
    let request_errors = messages("request", "error");
    let notification_errors = messages("notification", "error");
    let error_replies = messages("error", "error");
    let request_successes = messages("request", "success");

    for c in &cases {
        let reply = raw.reply(&c.bytes);
        assert_eq!(reply["jsonrpc"], "2.0", "{}: {reply}", c.what);
        assert_eq!(reply["error"]["code"], c.code, "{}: {reply}", c.what);
        assert_eq!(reply["id"], c.id, "{}: the reply's id: {reply}", c.what);
        assert!(reply.get("result").is_none(), "{}: {reply}", c.what);
        let message = reply["error"]["message"].as_str().unwrap_or_default();
        for word in c.message_has {
            assert!(
                message.contains(word),
                "{}: {word:?} not in {reply}",
                c.what
            );
        }
        if c.code == -32601 && c.error_type == "method_not_found" {
            let available = &reply["error"]["data"]["available_methods"];
            assert!(
                available
                    .as_array()
                    .is_some_and(|a| a.contains(&json!("node/ping"))),
                "{}: {reply}",
                c.what
            );
        }
        raw.assert_serves_ping(c.what);
        let pong = other.call(&addr, "node/ping", None);
        assert!(
            pong["node_id"].is_string(),
            "{}: another caller: {pong}",
            c.what
        );
    }

    // Garbage and unknown methods as notifications: no reply, but counted.
    let bad_notifications_sent: [(&[u8], (&str, &str)); 2] = [
        (b"\xff\xfe not a notification", ("invalid_utf8", "rpc")),
        (
            br#"{"jsonrpc":"2.0","method":"node/nope"}"#,
            ("method_not_found", "rpc"),
        ),
    ];
    for (bytes, _) in &bad_notifications_sent {
        raw.notify(bytes);
    }
    raw.assert_serves_ping("two bad notifications");

    // Exact totals: every bad input counted once, under its own labels.
    let mut want_errors = errors.clone();
    let counted = cases
        .iter()
        .map(|c| (c.error_type, c.component))
        .chain(bad_notifications_sent.iter().map(|(_, key)| *key));
    for key in counted {
        if let Some((_, v)) = want_errors.iter_mut().find(|(k, _)| *k == key) {
            *v += 1.0;
        }
    }
    for ((error_type, component), want) in want_errors {
        pair.eventually_sample(
            "p2p_errors_total",
            &[("error_type", error_type), ("component", component)],
            &format!("== {want}"),
            |v| v == want,
        );
    }
    let bad_requests = cases.iter().filter(|c| c.counted_as == "request").count() as f64;
    let bad_notifications = cases.len() as f64 - bad_requests + bad_notifications_sent.len() as f64;
    let want = request_errors + bad_requests;
    pair.eventually_sample(
        "p2p_messages_total",
        &[("type", "request"), ("status", "error")],
        &format!("== {want}"),
        |v| v == want,
    );
    let want = notification_errors + bad_notifications;
    pair.eventually_sample(
        "p2p_messages_total",
        &[("type", "notification"), ("status", "error")],
        &format!("== {want}"),
        |v| v == want,
    );
    let want = error_replies + cases.len() as f64;
    pair.eventually_sample(
        "p2p_messages_total",
        &[("type", "error"), ("status", "error")],
        &format!("== {want}"),
        |v| v == want,
    );
    // The good pings (one per case on each connection, one more after the notifications)
    // were counted as successes, and nothing else was.
    let want = request_successes + (2 * cases.len() + 1) as f64;
    pair.eventually_sample(
        "p2p_messages_total",
        &[("type", "request"), ("status", "success")],
        &format!("== {want}"),
        |v| v == want,
    );
    assert_eq!(pair.exporter.get("/health/ready").status, 200);
}

#[test]
fn an_oversized_request_is_refused_and_the_connection_keeps_serving() {
    let pair = Pair::start(&[]);
    let addr = pair.addr();
    // This client would send up to 8 MiB; the node's limit is 1 MiB.
    let raw = RawConnection::connect(&addr, 8 * DEFAULT_MAX_MESSAGE_SIZE);
    let before = counter(
        &pair,
        "p2p_errors_total",
        &[("error_type", "message_too_large"), ("component", "p2p")],
    );

    // Exactly the limit is accepted: a valid echo request padded to 1 MiB.
    let head = r#"{"jsonrpc":"2.0","id":1,"method":"agent/call","params":{"agent":"echo","tool":"echo","params":{"pad":""#;
    let tail = r#""}}}"#;
    let pad = DEFAULT_MAX_MESSAGE_SIZE - head.len() - tail.len();
    let at_limit = format!("{head}{}{tail}", "x".repeat(pad));
    assert_eq!(at_limit.len(), DEFAULT_MAX_MESSAGE_SIZE);
    let reply = raw.reply(at_limit.as_bytes());
    assert_eq!(
        reply["result"]["pad"].as_str().map(str::len),
        Some(pad),
        "a message of exactly the limit must be served: {}",
        shown(&serde_json::to_vec(&reply).unwrap_or_default())
    );

    // One byte more, and 3 MiB: refused by the node's transport, the connection survives.
    for size in [DEFAULT_MAX_MESSAGE_SIZE + 1, 3 * DEFAULT_MAX_MESSAGE_SIZE] {
        let pad = size - head.len() - tail.len();
        let over = format!("{head}{}{tail}", "x".repeat(pad));
        assert_eq!(over.len(), size);
        match raw.request(over.as_bytes()) {
            Err(e @ TransportError::RefusedTooLarge) => {
                assert!(
                    e.to_string()
                        .contains("the peer refused the message as larger than its size limit"),
                    "{e}"
                );
            }
            Err(e) => panic!("a {size}-byte request: expected RefusedTooLarge, got {e:?}"),
            Ok(reply) => panic!("a {size}-byte request was answered: {}", shown(&reply)),
        }
        raw.assert_serves_ping(&format!("a {size}-byte request"));
        let pong = Caller::new().call(&addr, "node/ping", None);
        assert!(pong["node_id"].is_string(), "{pong}");
    }

    let want = before + 2.0;
    pair.eventually_sample(
        "p2p_errors_total",
        &[("error_type", "message_too_large"), ("component", "p2p")],
        &format!("== {want}"),
        |v| v == want,
    );
    // Refused by the transport, so never decoded: no rpc-level too_large.
    assert_eq!(
        counter(
            &pair,
            "p2p_errors_total",
            &[("error_type", "too_large"), ("component", "rpc")]
        ),
        0.0
    );
    assert_eq!(pair.exporter.get("/health/ready").status, 200);
}

#[test]
fn an_unreachable_bootstrap_peer_leaves_the_node_serving_and_discovery_degraded() {
    // A free UDP port nobody listens on.
    let nobody = format!("127.0.0.1:{}", free_udp_port());
    let pair = Pair::start(&[("PROJECT_DAWN_BOOTSTRAP", nobody.as_str())]);
    let addr = pair.addr();

    let pong = Caller::new().call(&addr, "node/ping", None);
    assert!(pong["node_id"].is_string(), "{pong}");
    pair.eventually_sample(
        "p2p_connections_total",
        &[("status", "failed")],
        ">= 1",
        |v| v >= 1.0,
    );
    assert_eq!(
        pair.sample("p2p_connections_total", &[("status", "success")]),
        Some(0.0)
    );
    let health = health_when(&pair, "discovery is reported degraded", |b| {
        b["details"]["checks"]["discovery"] == "degraded"
    });
    let discovery = &health["details"]["check_details"]["discovery"];
    assert!(
        discovery["message"]
            .as_str()
            .is_some_and(|m| m.contains("no bootstrap peer reached yet")),
        "{health}"
    );
    assert_eq!(discovery["details"]["bootstrap"], 1, "{health}");
    assert_eq!(discovery["details"]["connected"], 0, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(pair.exporter.get("/health").status, 200, "degraded is 200");
    assert_eq!(pair.exporter.get("/health/ready").status, 200);
    // Still serving after the failed dials.
    let pong = Caller::new().call(&addr, "node/ping", None);
    assert!(pong["node_id"].is_string(), "{pong}");
    let log = pair.node.log();
    assert!(
        log.contains(&nobody),
        "the failed dial is logged with the address:\n{log}"
    );
}

#[test]
fn a_corrupt_kv_file_leaves_echo_serving_and_agents_unhealthy() {
    let dir = temp_dir();
    let root = dir.path().join("data");
    let agents = root.join("agents");
    std::fs::create_dir_all(&agents).expect("create agents dir");
    let kv = agents.join("kv.json");
    let garbage = b"{\"version\":1,\"entries\":{\"a\": tor";
    std::fs::write(&kv, garbage).expect("write kv.json");
    let root_str = root.to_str().expect("utf-8 temp path");
    let mut pair = Pair::spawn(&[("PROJECT_DAWN_DATA_ROOT", root_str)]);
    let addr = pair.addr();
    let mut caller = Caller::new();

    let pong = ping_when_up(&mut pair, &mut caller, &addr);
    assert!(pong["node_id"].is_string(), "{pong}");
    let health = health_when(&pair, "agents is reported unhealthy", |b| {
        b["details"]["checks"]["agents"] == "unhealthy"
    });
    let agents_check = &health["details"]["check_details"]["agents"];
    let message = agents_check["message"].as_str().unwrap_or_default();
    let kv_path = kv.to_str().expect("utf-8 temp path");
    assert!(
        message.contains(kv_path) && message.contains("corrupt"),
        "the agents check names the file {kv_path}: {health}"
    );
    assert_eq!(health["status"], "unhealthy", "{health}");
    assert_eq!(pair.exporter.get("/health").status, 503);
    assert_eq!(
        health["details"]["checks"]["storage"], "healthy",
        "{health}"
    );

    // echo serves; kv is not there.
    let echoed = caller.call(
        &addr,
        "agent/call",
        Some(json!({"agent": "echo", "tool": "reverse", "params": {"text": "abc"}})),
    );
    assert_eq!(echoed, json!({"text": "cba"}));
    let listed = caller.call(&addr, "agent/list", None);
    let ids: Vec<&str> = listed["agents"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["echo"], "{listed}");
    let e = caller.call_err(
        &addr,
        "agent/call",
        Some(json!({"agent": "kv", "tool": "put", "params": {"key": "a", "value": 1}})),
    );
    assert_eq!(e.code, -32601, "{e:?}");

    assert_eq!(
        std::fs::read(&kv).expect("kv.json still there"),
        garbage,
        "the corrupt file must be left untouched"
    );
    let status = pair.node.proc.terminate();
    assert_eq!(status.code(), Some(0), "{status}");
    assert_eq!(std::fs::read(&kv).expect("kv.json still there"), garbage);
}

#[test]
fn a_data_root_that_is_a_file_is_unhealthy_not_ready_and_ping_still_answers() {
    let dir = temp_dir();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "a regular file").expect("write file");
    let file_str = file.to_str().expect("utf-8 temp path");
    let mut pair = Pair::spawn(&[("PROJECT_DAWN_DATA_ROOT", file_str)]);
    let addr = pair.addr();
    let mut caller = Caller::new();

    let pong = ping_when_up(&mut pair, &mut caller, &addr);
    assert!(pong["node_id"].is_string(), "{pong}");
    let health = health_when(&pair, "storage is reported unhealthy", |b| {
        b["details"]["checks"]["storage"] == "unhealthy"
    });
    let storage = &health["details"]["check_details"]["storage"];
    assert!(
        storage["message"]
            .as_str()
            .is_some_and(|m| m.contains(file_str) && m.contains("not a directory")),
        "the storage check names the path and the problem: {health}"
    );
    assert_eq!(pair.exporter.get("/health").status, 503);
    let ready = pair.exporter.get("/health/ready");
    assert_eq!(ready.status, 503, "{}", ready.text());
    assert_eq!(ready.json()["status"], "not_ready");
    // Still answering, and it stays not ready.
    let pong = caller.call(&addr, "node/ping", None);
    assert!(pong["node_id"].is_string(), "{pong}");
    pair.node.proc.assert_running();
    assert_eq!(pair.exporter.get("/health/ready").status, 503);
    assert_eq!(
        std::fs::read_to_string(&file).expect("file kept"),
        "a regular file"
    );
}

#[test]
fn a_port_in_use_stops_run_naming_the_address() {
    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP port");
    let port = taken.local_addr().expect("local addr").port().to_string();
    let dir = temp_dir();
    let root = dir.path().join("data");
    let socket = dir.path().join("telemetry.sock");
    let done = run_to_end(
        &binaries().node,
        &["run"],
        &[
            ("PROJECT_DAWN_DATA_ROOT", root.to_str().expect("utf-8")),
            (
                "PROJECT_DAWN_TELEMETRY_SOCKET",
                socket.to_str().expect("utf-8"),
            ),
            ("PROJECT_DAWN_HOST", "127.0.0.1"),
            ("PROJECT_DAWN_P2P_PORT", &port),
        ],
    );
    assert_ne!(done.code(), Some(0), "{done:?}");
    assert!(
        done.code().is_some(),
        "exited by itself, not by a signal: {done:?}"
    );
    assert!(
        done.stderr.contains(&format!("127.0.0.1:{port}"))
            && done.stderr.contains("already in use"),
        "{}",
        done.stderr
    );
    drop(taken);
}
