//! Invalid flags and environment variables for both binaries: exit 64 (clap's 2 for an
//! unknown flag) with a message naming every bad variable or flag, before anything starts.

use dawn_tests::support::binaries::binaries;
use dawn_tests::support::process::{Finished, run_to_end, temp_dir};

/// Runs the exporter with `args` and `envs` and a socket/port that would work, so the only
/// problem is the one under test.
fn exporter(args: &[&str], envs: &[(&str, &str)]) -> Finished {
    let dir = temp_dir();
    let socket = dir.path().join("telemetry.sock");
    let socket = socket.to_str().expect("utf-8 temp path");
    let mut all = vec!["--socket", socket];
    all.extend_from_slice(args);
    let done = run_to_end(&binaries().exporter, &all, envs);
    assert!(
        !std::path::Path::new(socket).exists(),
        "a misconfigured exporter must not create its socket"
    );
    done
}

#[track_caller]
fn assert_config_error(done: &Finished, code: i32, names: &[&str]) {
    assert_eq!(done.code(), Some(code), "{done:?}");
    for name in names {
        assert!(
            done.stderr.contains(name),
            "stderr must name {name}: {}",
            done.stderr
        );
    }
}

#[test]
fn exporter_flags_out_of_range_exit_64_naming_the_flag() {
    let cases: &[(&[&str], &str)] = &[
        (&["--ingest.max-clients", "0"], "--ingest.max-clients"),
        (&["--ingest.max-clients", "many"], "--ingest.max-clients"),
        (
            &["--ingest.max-frame-bytes", "1"],
            "--ingest.max-frame-bytes",
        ),
        (&["--store.max-series", "-5"], "--store.max-series"),
        (
            &["--store.max-series-per-metric", "0"],
            "--store.max-series-per-metric",
        ),
        (&["--store.source-ttl", "forever"], "--store.source-ttl"),
        (
            &["--health.liveness-timeout", "5parsecs"],
            "--health.liveness-timeout",
        ),
        (
            &["--ingest.handshake-timeout", "0s"],
            "--ingest.handshake-timeout",
        ),
        (
            &["--web.listen-address", "localhost"],
            "--web.listen-address",
        ),
        (&["--web.telemetry-path", "metrics"], "--web.telemetry-path"),
        (&["--web.telemetry-path", "/health"], "--web.telemetry-path"),
    ];
    for (args, name) in cases {
        let done = exporter(args, &[]);
        assert_config_error(&done, 64, &[name]);
    }
}

#[test]
fn exporter_env_vars_invalid_exit_64_naming_the_variable() {
    let cases: &[(&str, &str)] = &[
        ("PROJECT_DAWN_METRICS_PORT", "70000"),
        ("PROJECT_DAWN_METRICS_PORT", "http"),
        ("PROJECT_DAWN_EXPORTER_MAX_CLIENTS", "0"),
        ("PROJECT_DAWN_EXPORTER_MAX_SERIES", "lots"),
        ("PROJECT_DAWN_EXPORTER_LIVENESS_TIMEOUT", "soon"),
        ("PROJECT_DAWN_COMPAT_SEED_NAMES", "maybe"),
        ("LOG_LEVEL", "loud"),
        ("LOG_FORMAT", "xml"),
    ];
    for (key, value) in cases {
        let done = exporter(&[], &[(key, value)]);
        assert_config_error(&done, 64, &[key]);
    }
}

#[test]
fn exporter_reports_every_bad_setting_at_once() {
    let done = exporter(
        &["--ingest.max-clients", "0"],
        &[("PROJECT_DAWN_METRICS_PORT", "0x"), ("LOG_LEVEL", "loud")],
    );
    assert_config_error(
        &done,
        64,
        &[
            "--ingest.max-clients",
            "PROJECT_DAWN_METRICS_PORT",
            "LOG_LEVEL",
        ],
    );
}

#[test]
fn exporter_env_socket_path_too_long_is_named() {
    let long = format!("/tmp/{}/telemetry.sock", "x".repeat(120));
    let done = run_to_end(
        &binaries().exporter,
        &[],
        &[("PROJECT_DAWN_TELEMETRY_SOCKET", &long)],
    );
    assert_config_error(&done, 64, &["PROJECT_DAWN_TELEMETRY_SOCKET"]);
}

#[test]
fn exporter_unknown_flag_is_a_usage_error() {
    let done = exporter(&["--no-such-flag"], &[]);
    assert_config_error(&done, 2, &["--no-such-flag"]);
}

#[test]
fn exporter_help_documents_every_flag_and_variable() {
    let done = run_to_end(&binaries().exporter, &["--help"], &[]);
    assert_eq!(done.code(), Some(0), "{done:?}");
    for needle in [
        "--socket",
        "--web.listen-address",
        "--web.telemetry-path",
        "--compat.seed-names",
        "--ingest.max-clients",
        "--ingest.max-frame-bytes",
        "--store.max-series",
        "--store.max-series-per-metric",
        "--store.source-ttl",
        "--health.liveness-timeout",
        "--ingest.max-protocol-version",
        "PROJECT_DAWN_EXPORTER_MAX_PROTOCOL_VERSION",
        "healthcheck",
        "PROJECT_DAWN_TELEMETRY_SOCKET",
        "PROJECT_DAWN_METRICS_PORT",
        "LOG_LEVEL",
        "LOG_FORMAT",
    ] {
        assert!(
            done.stdout.contains(needle),
            "--help lacks {needle}:\n{}",
            done.stdout
        );
    }
}

/// Runs `dawn-node run` with `envs` on top of a working base configuration.
fn node(envs: &[(&str, &str)]) -> Finished {
    let dir = temp_dir();
    let data = dir.path().join("data");
    let socket = dir.path().join("telemetry.sock");
    let (data, socket) = (
        data.to_str().expect("utf-8").to_owned(),
        socket.to_str().expect("utf-8").to_owned(),
    );
    let mut all = vec![
        ("PROJECT_DAWN_DATA_ROOT", data.as_str()),
        ("PROJECT_DAWN_TELEMETRY_SOCKET", socket.as_str()),
        ("PROJECT_DAWN_HOST", "127.0.0.1"),
        ("PROJECT_DAWN_P2P_PORT", "0"),
    ];
    for (k, v) in envs {
        all.retain(|(key, _)| key != k);
        all.push((k, v));
    }
    run_to_end(&binaries().node, &["run"], &all)
}

#[test]
fn node_env_vars_invalid_exit_64_naming_the_variable() {
    let cases: &[(&str, &str)] = &[
        ("PROJECT_DAWN_P2P_PORT", "99999"),
        ("PROJECT_DAWN_P2P_PORT", "udp"),
        ("PROJECT_DAWN_TELEMETRY_FLUSH_MS", "0"),
        ("PROJECT_DAWN_TELEMETRY_FLUSH_MS", "fast"),
        ("LOG_LEVEL", "loud"),
        ("LOG_FORMAT", "xml"),
    ];
    for (key, value) in cases {
        let done = node(&[(key, value)]);
        assert_config_error(&done, 64, &[key]);
    }
}

#[test]
fn node_reports_every_bad_variable_at_once() {
    let done = node(&[
        ("PROJECT_DAWN_P2P_PORT", "99999"),
        ("PROJECT_DAWN_TELEMETRY_FLUSH_MS", "0"),
        ("LOG_FORMAT", "xml"),
    ]);
    assert_config_error(
        &done,
        64,
        &[
            "PROJECT_DAWN_P2P_PORT",
            "PROJECT_DAWN_TELEMETRY_FLUSH_MS",
            "LOG_FORMAT",
        ],
    );
}

#[test]
fn node_unknown_flag_is_a_usage_error() {
    let done = run_to_end(&binaries().node, &["run", "--no-such-flag"], &[]);
    assert_config_error(&done, 2, &["--no-such-flag"]);
}

#[test]
fn node_run_help_documents_every_flag_and_variable() {
    let done = run_to_end(&binaries().node, &["run", "--help"], &[]);
    assert_eq!(done.code(), Some(0), "{done:?}");
    for needle in [
        "--data-root",
        "--socket",
        "--telemetry",
        "--flush-ms",
        "--native-histograms",
        "PROJECT_DAWN_TELEMETRY_NATIVE_HISTOGRAMS",
        "--telemetry-max-protocol-version",
        "PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION",
        "--host",
        "--p2p-port",
        "--node-id",
        "--bootstrap",
        "--gossip-interval",
        "--max-peers",
        "--reject-unknown",
        "--trusted-peers",
        "--cb-threshold",
        "--cb-timeout",
        "--rate-limit-max",
        "--rate-limit-window",
        "PROJECT_DAWN_DATA_ROOT",
        "PROJECT_DAWN_TELEMETRY_SOCKET",
        "PROJECT_DAWN_P2P_PORT",
        "PROJECT_DAWN_CB_THRESHOLD",
        "[default: 8000]",
        "LOG_LEVEL",
        "LOG_FORMAT",
    ] {
        assert!(
            done.stdout.contains(needle),
            "run --help lacks {needle}:\n{}",
            done.stdout
        );
    }
}

#[test]
fn node_bad_flags_exit_64_naming_the_flag() {
    let done = run_to_end(
        &binaries().node,
        &["run", "--p2p-port", "-1", "--max-peers", "0"],
        &[],
    );
    assert_config_error(&done, 64, &["--p2p-port", "--max-peers"]);
}

/// A bad value is told in the project's words, with the range and an example: never a
/// library's parse error ("number too large to fit in target type", "invalid digit").
#[test]
fn config_errors_give_the_range_and_an_example_in_our_words() {
    let done = node(&[("PROJECT_DAWN_P2P_PORT", "99999")]);
    assert_config_error(&done, 64, &["PROJECT_DAWN_P2P_PORT"]);
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains("PROJECT_DAWN_P2P_PORT"))
        .unwrap_or_default();
    assert!(
        line.contains("\"99999\" is out of range; expected a port 1-65535, for example "),
        "{line}"
    );
    let done = exporter(&["--ingest.max-clients", "many"], &[]);
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains("--ingest.max-clients"))
        .unwrap_or_default();
    assert!(
        line.contains("invalid value \"many\"; expected an integer 1-65536, for example "),
        "{line}"
    );
    for done in [&done, &node(&[("PROJECT_DAWN_P2P_PORT", "99999")])] {
        for library_words in ["too large to fit", "invalid digit", "target type"] {
            assert!(!done.stderr.contains(library_words), "{}", done.stderr);
        }
    }
}

/// The protocol version caps take the versions this release speaks and nothing else, each
/// bad value one line naming the setting and the range.
#[test]
fn protocol_version_caps_outside_1_or_2_exit_64_with_one_line_each() {
    for bad in ["0", "3", "latest"] {
        let done = exporter(&["--ingest.max-protocol-version", bad], &[]);
        assert_config_error(&done, 64, &["--ingest.max-protocol-version"]);
        let done = exporter(&[], &[("PROJECT_DAWN_EXPORTER_MAX_PROTOCOL_VERSION", bad)]);
        assert_config_error(&done, 64, &["PROJECT_DAWN_EXPORTER_MAX_PROTOCOL_VERSION"]);
        let done = node(&[("PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION", bad)]);
        assert_config_error(&done, 64, &["PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION"]);
        let lines: Vec<&str> = done
            .stderr
            .lines()
            .filter(|l| l.contains("PROJECT_DAWN_TELEMETRY_MAX_PROTOCOL_VERSION"))
            .collect();
        assert_eq!(lines.len(), 1, "{}", done.stderr);
        assert!(
            lines[0].contains(&format!("\"{bad}\"")) && lines[0].contains("expected 1 or 2"),
            "{}",
            lines[0]
        );
    }
    let done = run_to_end(
        &binaries().node,
        &["run", "--telemetry-max-protocol-version", "9"],
        &[],
    );
    assert_config_error(
        &done,
        64,
        &["--telemetry-max-protocol-version", "expected 1 or 2"],
    );
}
