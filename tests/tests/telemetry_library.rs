//! Acceptance with the node's own telemetry client, `dawn_telemetry`, used in the test
//! process with a short flush interval against the real `dawn-exporter` binary:
//!
//! - a known number of counter increments and histogram observations recorded while the
//!   exporter is SIGKILLed and restarted several times: the totals on `/metrics` are exact;
//! - 20 independent instances (distinct node ids and label values) at once, plus garbage on
//!   a raw connection: every instance's totals exact, the garbage counted.

use std::time::Duration;

use dawn_node::catalogue::{P2P_AGENT_OPERATION_LATENCY_SECONDS, P2P_AGENT_OPERATIONS_TOTAL};
use dawn_telemetry::DEFAULT_SECONDS_BUCKETS as SECONDS_BUCKETS;
use dawn_telemetry::{Counter, Histogram, Telemetry, TelemetryConfig};
use dawn_tests::support::resync::check_histogram;
use dawn_tests::support::{Exporter, RawClient, eventually};

/// Observed values: powers of two, so every sum is exact, spread over the default buckets
/// (`+Inf` included).
const VALUES: &[f64] = &[
    0.00390625, 0.0078125, 0.015625, 0.03125, 0.0625, 0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0,
];

/// What one instance recorded, kept by the test independently of the library.
struct Expected {
    agent: String,
    count: u64,
    buckets: Vec<u64>,
    sum: f64,
}

impl Expected {
    fn new(agent: &str) -> Self {
        Expected {
            agent: agent.to_owned(),
            count: 0,
            buckets: vec![0; SECONDS_BUCKETS.len() + 1],
            sum: 0.0,
        }
    }

    fn record(&mut self, counter: &Counter, histogram: &Histogram, n: u64, v: f64) {
        counter.add(n);
        histogram.observe(v);
        self.count += n;
        let i = SECONDS_BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(SECONDS_BUCKETS.len());
        self.buckets[i] += 1;
        self.sum += v;
    }

    fn check(&self, m: &dawn_tests::support::Exposition) -> Result<(), String> {
        let labels = [
            ("agent_id", self.agent.as_str()),
            ("operation", "echo"),
            ("status", "success"),
        ];
        let got = m.get(P2P_AGENT_OPERATIONS_TOTAL.name, &labels);
        if got != Some(self.count as f64) {
            return Err(format!(
                "{} {labels:?} is {got:?}, want {}",
                P2P_AGENT_OPERATIONS_TOTAL.name, self.count
            ));
        }
        check_histogram(
            m,
            P2P_AGENT_OPERATION_LATENCY_SECONDS.name,
            &labels[..2],
            SECONDS_BUCKETS,
            &self.buckets,
            self.sum,
        )
    }
}

fn start(exporter: &Exporter, node_id: &str) -> Telemetry {
    let mut config = TelemetryConfig::new(&exporter.socket, node_id);
    config.flush_interval = Duration::from_millis(50);
    config.reconnect_min = Duration::from_millis(20);
    config.reconnect_max = Duration::from_millis(200);
    Telemetry::start(config).expect("start the telemetry client")
}

fn handles(t: &Telemetry, agent: &str) -> (Counter, Histogram) {
    (
        t.counter(&P2P_AGENT_OPERATIONS_TOTAL)
            .with_labels(&[agent, "echo", "success"]),
        t.histogram(&P2P_AGENT_OPERATION_LATENCY_SECONDS)
            .with_labels(&[agent, "echo"]),
    )
}

#[track_caller]
fn no_protocol_errors(exporter: &Exporter) {
    let m = exporter.metrics();
    for s in m.find("dawn_exporter_decode_errors_total", &[]) {
        assert_eq!(s.value, 0.0, "the client caused a protocol error: {s}");
    }
}

#[test]
fn library_totals_are_exact_across_exporter_restarts() {
    let mut exporter = Exporter::start();
    let telemetry = start(&exporter, "node-restarts");
    let (counter, histogram) = handles(&telemetry, "agent-r");
    let mut want = Expected::new("agent-r");
    eventually("the client connects", || {
        telemetry
            .is_connected()
            .then_some(())
            .ok_or_else(|| "not connected".to_owned())
    });

    const RESTARTS: usize = 5;
    for round in 0..RESTARTS {
        for i in 0..300 {
            want.record(&counter, &histogram, 1, VALUES[(i + round) % VALUES.len()]);
        }
        // Some of it shipped, some maybe not: kill the exporter either way.
        let sessions_before = telemetry.sessions();
        exporter.kill();
        for i in 0..200 {
            want.record(
                &counter,
                &histogram,
                2,
                VALUES[(i * 5 + round) % VALUES.len()],
            );
        }
        exporter.restart();
        // Each restart must be met by a new session, or the count below proves nothing.
        eventually("the client rejoins the restarted exporter", || {
            (telemetry.sessions() > sessions_before)
                .then_some(())
                .ok_or_else(|| format!("still {} sessions", telemetry.sessions()))
        });
    }
    for i in 0..100 {
        want.record(&counter, &histogram, 3, VALUES[i % VALUES.len()]);
    }
    assert_eq!(want.count, (RESTARTS * 700 + 300) as u64);

    exporter.eventually_metrics("the totals on /metrics are exact", |m| want.check(m));
    assert!(
        telemetry.sessions() as usize > RESTARTS,
        "{} sessions over {RESTARTS} exporter restarts",
        telemetry.sessions()
    );
    assert_eq!(telemetry.dropped(), 0);
    no_protocol_errors(&exporter);
    telemetry.shutdown();
}

#[test]
fn twenty_library_clients_exact_and_garbage_counted() {
    const CLIENTS: usize = 20;
    let exporter = Exporter::start();
    let clients: Vec<(Telemetry, Counter, Histogram, Expected)> = (0..CLIENTS)
        .map(|i| {
            let agent = format!("agent-{i:02}");
            let t = start(&exporter, &format!("node-{i:02}"));
            let (c, h) = handles(&t, &agent);
            (t, c, h, Expected::new(&agent))
        })
        .collect();

    // Record from one thread per client, all at once, while garbage arrives.
    let recorded: Vec<Expected> = std::thread::scope(|scope| {
        let workers: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, (_, c, h, e))| {
                let mut e = Expected::new(&e.agent);
                scope.spawn(move || {
                    for j in 0..(200 + i * 17) {
                        e.record(c, h, 1 + (j % 4) as u64, VALUES[(i + j) % VALUES.len()]);
                    }
                    e
                })
            })
            .collect();
        for _ in 0..5 {
            let mut raw = RawClient::connect(&exporter.socket);
            let body = [200u8, 0xde, 0xad, 0xbe, 0xef];
            let mut wire = (body.len() as u32).to_le_bytes().to_vec();
            wire.extend_from_slice(&body);
            raw.send_bytes(&wire);
            raw.frames_until_closed();
        }
        workers
            .into_iter()
            .map(|w| w.join().expect("recording thread"))
            .collect()
    });

    exporter.eventually_metrics("every client's totals are exact", |m| {
        for e in &recorded {
            e.check(m)?;
        }
        Ok(())
    });
    let m = exporter.metrics();
    assert_eq!(
        m.value(
            "dawn_exporter_decode_errors_total",
            &[("reason", "malformed")]
        ),
        5.0
    );
    assert_eq!(m.value("dawn_exporter_clients", &[]), CLIENTS as f64);
    assert_eq!(
        m.find(P2P_AGENT_OPERATIONS_TOTAL.name, &[("operation", "echo")])
            .len(),
        CLIENTS
    );
    for (t, ..) in &clients {
        t.shutdown();
    }
}
