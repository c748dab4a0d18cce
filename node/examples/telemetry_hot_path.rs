//! Cost of recording through `dawn_node::telemetry` handles, next to a `Mutex<u64>` (what a
//! locking registry costs at best), on 1 and 2 threads. No exporter is needed: recording
//! never touches the socket.
//!
//! `cargo run --release -p dawn-node --example telemetry_hot_path`

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dawn_node::telemetry::{Telemetry, TelemetryConfig};
use dawn_proto::catalogue::{P2P_MESSAGE_LATENCY_SECONDS, P2P_MESSAGES_TOTAL, P2P_PEERS};

const N: u64 = 20_000_000;

fn per_op(threads: usize, op: impl Fn(u64) + Send + Sync + 'static) -> f64 {
    let op = Arc::new(op);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let op = op.clone();
            std::thread::spawn(move || {
                for i in 0..N {
                    op(black_box(i));
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    start.elapsed().as_nanos() as f64 / N as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join("dawn-bench-no-exporter");
    let telemetry = Telemetry::start(TelemetryConfig {
        flush_interval: Duration::from_millis(100),
        ..TelemetryConfig::new(dir.join("t.sock"), "bench")
    })?;
    let messages = telemetry.counter(&P2P_MESSAGES_TOTAL);
    let counter = messages.with_labels(&["request", "success"]);
    let gauge = telemetry.gauge(&P2P_PEERS).handle();
    let histogram = telemetry
        .histogram(&P2P_MESSAGE_LATENCY_SECONDS)
        .with_labels(&["request"]);
    let mutex = Arc::new(Mutex::new(0u64));

    println!("{:<44} {:>10} {:>10}", "operation", "1 thread", "2 threads");
    let row = |name: &str, run: &dyn Fn(usize) -> f64| {
        println!("{name:<44} {:>8.1}ns {:>8.1}ns", run(1), run(2));
    };
    row("Counter::inc", &|t| {
        let c = counter.clone();
        per_op(t, move |_| c.inc())
    });
    row("Gauge::add", &|t| {
        let g = gauge.clone();
        per_op(t, move |_| g.add(1.0))
    });
    row("Histogram::observe", &|t| {
        let h = histogram.clone();
        per_op(t, move |i| h.observe((i % 1000) as f64 * 0.001))
    });
    row("CounterFamily::with_labels(hit) + inc", &|t| {
        let m = messages.clone();
        per_op(t, move |_| m.with_labels(&["request", "success"]).inc())
    });
    row("Mutex<u64> += 1 (comparison)", &|t| {
        let m = mutex.clone();
        per_op(t, move |_| {
            if let Ok(mut v) = m.lock() {
                *v += 1;
            }
        })
    });
    assert_eq!(counter.get(), 6 * N);
    telemetry.shutdown();
    Ok(())
}
