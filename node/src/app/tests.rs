//! `run` end to end in-process: a temp data root, the fake exporter, a shutdown future the
//! test resolves.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::catalogue;
use dawn_proto::{HealthStatus, Value};

use super::{NodeConfig, run};
use crate::service::HealthCheck;
use dawn_telemetry::testing::{Answer, FakeExporter, TempDir, View};

fn config(dir: &TempDir, data_root: std::path::PathBuf) -> NodeConfig {
    NodeConfig {
        data_root,
        socket: dir.socket(),
        flush_interval: Duration::from_millis(20),
        storage_check_interval: Duration::from_millis(50),
        host: std::net::Ipv4Addr::LOCALHOST.into(),
        // Any free port: tests run in parallel.
        p2p_port: 0,
        ..NodeConfig::default()
    }
}

fn start(
    config: NodeConfig,
) -> (
    tokio::sync::oneshot::Sender<()>,
    std::thread::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let node = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(run(config, async move {
            let _ = stopped.await;
            "test"
        }))
        .unwrap();
    });
    (stop, node)
}

/// A fake exporter on `dir`'s socket that welcomes every client.
fn exporter(dir: &TempDir) -> FakeExporter {
    FakeExporter::start(
        &dir.socket(),
        Answer::Welcome,
        Arc::new(Mutex::new(View::default())),
    )
}

/// Runs a node known as `node_id` on `data_root`, which cannot be used, until `storage` is
/// unhealthy with `reason` in its message; the node must not be ready, and reports as
/// `node_id` all the same.
fn unusable_data_root_is_reported(data_root: &std::path::Path, node_id: &str, reason: &str) {
    let dir = TempDir::new();
    let exporter = exporter(&dir);
    let (stop, node) = start(NodeConfig {
        node_id: Some(node_id.into()),
        ..config(&dir, data_root.to_owned())
    });
    exporter.wait("unhealthy storage", |v| {
        v.health
            .get(HealthCheck::Storage.name())
            .is_some_and(|h| h.status == HealthStatus::Unhealthy && h.message.contains(reason))
    });
    {
        let v = exporter.view();
        assert_eq!(v.ready, Some(false));
        assert_eq!(v.hellos[0].node_id, node_id);
    }
    stop.send(()).unwrap();
    node.join().unwrap();
}

#[test]
fn run_reports_catalogue_health_and_readiness_then_shuts_down_cleanly() {
    let dir = TempDir::new();
    let exporter = exporter(&dir);
    let data_root = dir.socket().with_file_name("data");
    let (stop, node) = start(config(&dir, data_root.clone()));

    exporter.wait("ready with checks", |v| {
        v.ready == Some(true)
            && v.health
                .get(HealthCheck::Storage.name())
                .is_some_and(|h| h.status == HealthStatus::Healthy)
            && v.health.get("peers").is_some_and(|h| {
                h.status == HealthStatus::Degraded && h.message == "no peers connected"
            })
    });
    {
        let v = exporter.view();
        let defined: Vec<_> = v
            .frames
            .iter()
            .filter_map(|(_, f)| match f {
                dawn_proto::Frame::Define(d) => Some(d.name.clone()),
                _ => None,
            })
            .collect();
        for spec in catalogue::ALL {
            assert!(
                defined.contains(&spec.name.to_owned()),
                "{} not defined",
                spec.name
            );
        }
        assert_eq!(v.value("p2p_peers", &[]), Some(&Value::Gauge(0.0)));
        let node_id = &v.hellos[0].node_id;
        assert_eq!(
            node_id.len(),
            64,
            "hex of the Ed25519 public key: {node_id}"
        );
    }
    assert!(data_root.join(crate::p2p::IDENTITY_KEY_FILE).exists());

    stop.send(()).unwrap();
    node.join().unwrap();
    exporter.wait("not ready and goodbye", |v| {
        v.ready == Some(false) && v.goodbyes == 1
    });
    assert!(exporter.view().violations.is_empty());

    // Same data root, same node id.
    let first_id = exporter.view().hellos[0].node_id.clone();
    let (stop, node) = start(config(&dir, data_root));
    exporter.wait("second start", |v| v.hellos.len() == 2);
    assert_eq!(exporter.view().hellos[1].node_id, first_id);
    stop.send(()).unwrap();
    node.join().unwrap();
}

#[test]
fn an_unusable_data_root_is_reported_unhealthy_and_not_ready() {
    let dir = TempDir::new();
    let blocker = dir.socket().with_file_name("not-a-dir");
    std::fs::write(&blocker, b"x").unwrap();
    unusable_data_root_is_reported(&blocker.join("data"), "node-x", "not-a-dir");
}

#[test]
fn a_data_root_in_use_by_another_node_is_reported_unhealthy() {
    let dir = TempDir::new();
    let data_root = dir.socket().with_file_name("shared-data");
    let _held = crate::storage::DataRoot::open(&data_root).unwrap();
    unusable_data_root_is_reported(&data_root, "second", "in use by another dawn-node");
}

#[test]
fn telemetry_off_never_connects_to_the_exporter() {
    let dir = TempDir::new();
    let exporter = exporter(&dir);
    let data_root = dir.socket().with_file_name("data");
    let (stop, node) = start(NodeConfig {
        telemetry_enabled: false,
        ..config(&dir, data_root.clone())
    });
    // The node is up once its identity exists. Stopping it then is enough: a shipper, were
    // there one, makes its final flush (connecting first when it has not yet) before
    // `run` returns, so the fake exporter would have seen its Hello.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !data_root.join(crate::p2p::IDENTITY_KEY_FILE).exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the node did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.send(()).unwrap();
    node.join().unwrap();
    let v = exporter.view();
    assert!(v.hellos.is_empty(), "{:?}", v.hellos);
    assert!(v.frames.is_empty(), "{} frames", v.frames.len());
    assert_eq!(v.goodbyes, 0);
    assert_eq!(v.closed, 0, "no connection was even opened");
}
