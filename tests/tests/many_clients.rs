//! Acceptance: 20 concurrent clients (independent, distinct node ids and label values) plus
//! one raw connection sending garbage: every client's totals are exact, and the garbage is
//! counted in `dawn_exporter_decode_errors_total`.

use std::sync::{Arc, Barrier};

use dawn_tests::support::resync::{ResyncClient, check_totals};
use dawn_tests::support::{Exporter, RawClient, eventually};

const CLIENTS: usize = 20;
const GARBAGE_CONNECTIONS: usize = 10;

#[test]
fn twenty_clients_exact_and_garbage_counted() {
    let exporter = Arc::new(Exporter::start());
    let barrier = Arc::new(Barrier::new(CLIENTS + 2));

    let workers: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (exporter, barrier) = (Arc::clone(&exporter), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let mut c = ResyncClient::new(
                    &exporter.socket,
                    &format!("node-{i:02}"),
                    "dawn_test_events_total",
                    "dawn_test_values",
                );
                c.flush();
                barrier.wait();
                // Each client a different amount, so a mix-up between clients shows.
                for j in 0..(100 + i * 13) {
                    c.count(1 + (j % 3) as u64);
                    c.observe([0.25, 0.75, 2.0, 5.0][(i + j) % 4]);
                    if j % 20 == 0 {
                        c.flush();
                    }
                }
                c.flush();
                // Connected to the end, so the exporter still holds its values.
                barrier.wait();
                c
            })
        })
        .collect();

    // The garbage: framed bytes that are no frame (unknown variant 200), connection after
    // connection, interleaved with the clients' traffic.
    let garbage = {
        let (exporter, barrier) = (Arc::clone(&exporter), Arc::clone(&barrier));
        std::thread::spawn(move || {
            barrier.wait();
            for _ in 0..GARBAGE_CONNECTIONS {
                let mut raw = RawClient::connect(&exporter.socket);
                let body = [200u8, 1, 2, 3, 4, 5, 6, 7];
                let mut wire = (body.len() as u32).to_le_bytes().to_vec();
                wire.extend_from_slice(&body);
                raw.send_bytes(&wire);
                raw.frames_until_closed();
            }
            barrier.wait();
        })
    };

    barrier.wait();
    barrier.wait();
    garbage.join().expect("garbage thread");
    let clients: Vec<ResyncClient> = workers
        .into_iter()
        .map(|w| w.join().expect("client thread"))
        .collect();

    exporter.eventually_metrics("every client's totals are exact", |m| {
        for c in &clients {
            check_totals(m, c)?;
        }
        Ok(())
    });
    let m = exporter.metrics();
    assert_eq!(
        m.value(
            "dawn_exporter_decode_errors_total",
            &[("reason", "malformed")]
        ),
        GARBAGE_CONNECTIONS as f64
    );
    assert_eq!(m.value("dawn_exporter_clients", &[]), CLIENTS as f64);
    assert_eq!(
        m.value("dawn_exporter_connections_total", &[("result", "accepted")]),
        CLIENTS as f64
    );
    assert_eq!(m.find("dawn_test_events_total", &[]).len(), CLIENTS);
    // Keep the clients connected until here.
    drop(clients);
    eventually("the clients are gone", || {
        match exporter.metrics().get("dawn_exporter_clients", &[]) {
            Some(0.0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    });
}
