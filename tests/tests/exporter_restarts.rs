//! Acceptance: a client records a known number of counter increments and histogram
//! observations while the exporter is SIGKILLed and restarted several times on the same
//! socket; at the end the totals on `/metrics` are exact (counter, histogram count, sum and
//! every bucket). Cumulative values plus a full resync after each reconnect make this work.

use dawn_tests::support::Exporter;
use dawn_tests::support::resync::{ResyncClient, check_totals};

/// Values whose sums are exact in binary floating point.
const VALUES: &[f64] = &[0.25, 0.5, 0.75, 1.0, 2.0, 3.0];

#[test]
fn totals_are_exact_across_exporter_restarts() {
    let mut exporter = Exporter::start();
    let mut client = ResyncClient::new(
        &exporter.socket,
        "restarts",
        "dawn_test_events_total",
        "dawn_test_values",
    );
    const RESTARTS: usize = 5;
    for round in 0..RESTARTS {
        for i in 0..200 {
            client.count(1);
            client.observe(VALUES[(i + round) % VALUES.len()]);
            if i % 40 == 0 {
                client.flush();
            }
        }
        client.flush();
        exporter.kill();
        // The exporter is gone: recording goes on, flushes fail or vanish.
        for i in 0..100 {
            client.count(2);
            client.observe(VALUES[(i * 7 + round) % VALUES.len()]);
            if i % 25 == 0 {
                client.flush();
            }
        }
        exporter.restart();
        // Right after the restart the exporter knows nothing; the next flush restores it.
    }
    for i in 0..50 {
        client.count(3);
        client.observe(VALUES[i % VALUES.len()]);
    }

    assert_eq!(
        client.counter_total(),
        (RESTARTS * (200 + 200) + 150) as u64
    );
    assert_eq!(client.histogram().count, (RESTARTS * 300 + 50) as u64);
    exporter.eventually_metrics("the totals on /metrics are exact", |m| {
        client.flush();
        check_totals(m, &client)
    });
    assert!(
        client.connects as usize > RESTARTS,
        "the client reconnected {} times over {RESTARTS} restarts",
        client.connects
    );
    // Nothing was counted as a protocol error on the way.
    let m = exporter.metrics();
    for s in m.find("dawn_exporter_decode_errors_total", &[]) {
        assert_eq!(s.value, 0.0, "{s}");
    }
}
