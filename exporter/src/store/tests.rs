//! Store semantics and whole-text exposition of a small store.

use std::time::{Duration, Instant};

use dawn_proto::{Define, HistogramValue, MetricKind, Value};

use super::*;
use crate::exposition::{Encoder, Format};

/// Definitions shaped like a node's, as test data: the store knows no metric by name.
mod defs {
    use dawn_proto::{Define, MetricKind};

    const SECONDS: &[f64] = &[
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    const BYTES: &[f64] = &[
        64.0, 256.0, 1024.0, 4096.0, 16384.0, 65536.0, 262144.0, 1048576.0, 4194304.0, 16777216.0,
    ];

    fn define(id: u32, name: &str, help: &str, kind: MetricKind, labels: &[&str]) -> Define {
        Define {
            id,
            name: name.to_owned(),
            help: help.to_owned(),
            kind,
            label_names: labels.iter().map(|l| (*l).to_owned()).collect(),
            buckets: Vec::new(),
        }
    }

    pub(super) fn peers(id: u32) -> Define {
        define(
            id,
            "p2p_peers",
            "Peers connected now.",
            MetricKind::Gauge,
            &[],
        )
    }

    pub(super) fn connections(id: u32) -> Define {
        let help = "Peer connection attempts and ends, by status.";
        define(
            id,
            "p2p_connections_total",
            help,
            MetricKind::Counter,
            &["status"],
        )
    }

    pub(super) fn latency(id: u32) -> Define {
        let help = "Request round-trip time and message handling time, in seconds.";
        Define {
            buckets: SECONDS.to_vec(),
            ..define(
                id,
                "p2p_message_latency_seconds",
                help,
                MetricKind::Histogram,
                &["type"],
            )
        }
    }

    pub(super) fn sizes(id: u32) -> Define {
        let help = "Encoded size of each message, in bytes.";
        Define {
            buckets: BYTES.to_vec(),
            ..define(
                id,
                "p2p_message_size_bytes",
                help,
                MetricKind::Histogram,
                &["type"],
            )
        }
    }

    pub(super) fn breaker_state(id: u32) -> Define {
        let help = "Circuit breaker state per peer: 0 closed, 1 open, 2 half_open.";
        define(
            id,
            "p2p_circuit_breaker_state",
            help,
            MetricKind::Gauge,
            &["peer_id"],
        )
    }
}

fn limits() -> StoreLimits {
    StoreLimits {
        max_series: 100,
        max_series_per_metric: 10,
        max_definition_bytes: 1 << 20,
        max_samples: 1000,
        max_samples_per_source: 100,
        max_native_buckets: 1000,
        source_ttl: Duration::from_secs(300),
    }
}

fn labels(values: &[&str]) -> Vec<String> {
    values.iter().map(|s| s.to_string()).collect()
}

fn render(store: &Store, format: Format, aliases: &[Alias]) -> String {
    let mut out = String::new();
    let mut e = Encoder::new(&mut out, format);
    store.render(&mut e, aliases);
    e.finish();
    out
}

/// A store with one connected source holding `def`, and a helper to set one series.
struct Fixture {
    store: Store,
    source: SourceId,
}

impl Fixture {
    fn new() -> Self {
        let store = Store::new(limits());
        let source = store.attach(&SourceKey::new("dawn-node", "n1"), 1).source;
        Fixture { store, source }
    }

    fn set(&self, def: &Define, values: &[&str], value: Value) -> ApplyOutcome {
        set(&self.store, self.source, 1, def, values, value)
    }
}

fn set(
    store: &Store,
    source: SourceId,
    incarnation: u64,
    def: &Define,
    values: &[&str],
    value: Value,
) -> ApplyOutcome {
    let family = store.define(def).unwrap();
    let series = store.series(family, &labels(values)).unwrap();
    store.apply(source, incarnation, [(series, &value, 0)])
}

fn hist(count: u64, sum: f64, buckets: &[u64]) -> Value {
    Value::Histogram(HistogramValue {
        count,
        sum,
        buckets: buckets.to_vec(),
    })
}

#[test]
fn exposition_of_a_small_store_text() {
    let f = Fixture::new();
    let conns = defs::connections(0);
    f.set(&conns, &["success"], Value::Counter(3));
    f.set(&conns, &["failed"], Value::Counter(1));
    f.set(&defs::peers(1), &[], Value::Gauge(2.0));
    let lat = Define {
        buckets: vec![0.005, 1.0],
        ..defs::latency(2)
    };
    f.set(&lat, &["request"], hist(3, 1.25, &[1, 1, 1]));
    let text = render(&f.store, Format::Text, &[]);
    assert_eq!(
        text,
        "# HELP p2p_connections_total Peer connection attempts and ends, by status.\n\
         # TYPE p2p_connections_total counter\n\
         p2p_connections_total{status=\"success\"} 3\n\
         p2p_connections_total{status=\"failed\"} 1\n\
         # HELP p2p_message_latency_seconds Request round-trip time and message handling time, in seconds.\n\
         # TYPE p2p_message_latency_seconds histogram\n\
         p2p_message_latency_seconds_bucket{type=\"request\",le=\"0.005\"} 1\n\
         p2p_message_latency_seconds_bucket{type=\"request\",le=\"1\"} 2\n\
         p2p_message_latency_seconds_bucket{type=\"request\",le=\"+Inf\"} 3\n\
         p2p_message_latency_seconds_sum{type=\"request\"} 1.25\n\
         p2p_message_latency_seconds_count{type=\"request\"} 3\n\
         # HELP p2p_peers Peers connected now.\n\
         # TYPE p2p_peers gauge\n\
         p2p_peers 2\n"
    );
}

#[test]
fn exposition_of_a_small_store_openmetrics_with_compat_alias() {
    let f = Fixture::new();
    f.set(&defs::connections(0), &["success"], Value::Counter(3));
    f.set(&defs::peers(1), &[], Value::Gauge(0.0));
    let lat = Define {
        buckets: vec![1.0],
        ..defs::sizes(2)
    };
    f.set(&lat, &["req\"uest"], hist(1, 64.0, &[1, 0]));
    let alias = [Alias {
        name: "p2p_peers".into(),
        alias: "p2p_peers_total".into(),
    }];
    let om = render(&f.store, Format::OpenMetrics, &alias);
    assert_eq!(
        om,
        "# HELP p2p_connections Peer connection attempts and ends, by status.\n\
         # TYPE p2p_connections counter\n\
         p2p_connections_total{status=\"success\"} 3\n\
         # HELP p2p_message_size_bytes Encoded size of each message, in bytes.\n\
         # TYPE p2p_message_size_bytes histogram\n\
         p2p_message_size_bytes_bucket{type=\"req\\\"uest\",le=\"1.0\"} 1\n\
         p2p_message_size_bytes_bucket{type=\"req\\\"uest\",le=\"+Inf\"} 1\n\
         p2p_message_size_bytes_sum{type=\"req\\\"uest\"} 64\n\
         p2p_message_size_bytes_count{type=\"req\\\"uest\"} 1\n\
         # HELP p2p_peers Peers connected now.\n\
         # TYPE p2p_peers gauge\n\
         p2p_peers 0\n\
         # HELP p2p_peers_total Peers connected now.\n\
         # TYPE p2p_peers_total gauge\n\
         p2p_peers_total 0\n\
         # EOF\n"
    );
}

#[test]
fn sums_across_sources() {
    let store = Store::new(limits());
    let a = store.attach(&SourceKey::new("dawn-node", "a"), 1).source;
    let b = store.attach(&SourceKey::new("dawn-node", "b"), 9).source;
    let conns = defs::connections(0);
    let peers = defs::peers(1);
    set(&store, a, 1, &conns, &["success"], Value::Counter(3));
    set(&store, b, 9, &conns, &["success"], Value::Counter(4));
    set(&store, a, 1, &peers, &[], Value::Gauge(1.5));
    set(&store, b, 9, &peers, &[], Value::Gauge(2.0));
    let text = render(&store, Format::Text, &[]);
    assert!(
        text.contains("p2p_connections_total{status=\"success\"} 7\n"),
        "{text}"
    );
    assert!(text.contains("p2p_peers 3.5\n"), "{text}");
    assert_eq!(store.series_count(), 2);
}

#[test]
fn new_incarnation_resets_and_same_incarnation_restores() {
    let store = Store::new(limits());
    let key = SourceKey::new("dawn-node", "n1");
    let conns = defs::connections(0);
    let first = store.attach(&key, 1);
    assert!(!first.reset);
    set(
        &store,
        first.source,
        1,
        &conns,
        &["success"],
        Value::Counter(10),
    );
    store.detach(first.source, Instant::now());

    // Same incarnation reconnects: the total is still there and the resend overwrites it.
    let again = store.attach(&key, 1);
    assert!(!again.reset);
    assert!(render(&store, Format::Text, &[]).contains("} 10\n"));
    set(
        &store,
        again.source,
        1,
        &conns,
        &["success"],
        Value::Counter(12),
    );
    assert!(render(&store, Format::Text, &[]).contains("} 12\n"));

    // A restarted process (new incarnation) is a genuine reset.
    let restarted = store.attach(&key, 2);
    assert!(restarted.reset);
    assert_eq!(render(&store, Format::Text, &[]), "");
    set(
        &store,
        restarted.source,
        2,
        &conns,
        &["success"],
        Value::Counter(1),
    );
    assert!(render(&store, Format::Text, &[]).contains("} 1\n"));

    // The old incarnation's connection can no longer write.
    let family = store.define(&conns).unwrap();
    let series = store.series(family, &labels(&["success"])).unwrap();
    let stale = store.apply(again.source, 1, [(series, &Value::Counter(99), 0)]);
    assert!(stale.stale_incarnation);
    assert!(render(&store, Format::Text, &[]).contains("} 1\n"));
}

#[test]
fn counter_decrease_is_refused_and_old_value_kept() {
    let f = Fixture::new();
    let conns = defs::connections(0);
    assert_eq!(f.set(&conns, &["success"], Value::Counter(5)).applied, 1);
    let family = f.store.define(&conns).unwrap();
    let series = f.store.series(family, &labels(&["success"])).unwrap();
    let outcome = f
        .store
        .apply(f.source, 1, [(series, &Value::Counter(4), 42)]);
    assert_eq!(outcome.applied, 0);
    assert_eq!(outcome.decreased, [42]);
    assert!(render(&f.store, Format::Text, &[]).contains("} 5\n"));
}

#[test]
fn conflicting_definitions_are_refused_help_may_differ() {
    let store = Store::new(limits());
    let peers = defs::peers(0);
    store.define(&peers).unwrap();
    let reworded = Define {
        help: "Other words.".into(),
        ..peers.clone()
    };
    assert!(store.define(&reworded).is_ok());
    let as_counter_labels = Define {
        label_names: vec!["x".into()],
        ..peers.clone()
    };
    let err = store.define(&as_counter_labels).unwrap_err();
    assert!(
        err.to_string().contains("metric p2p_peers conflicts"),
        "{err}"
    );
    let lat = defs::latency(1);
    store.define(&lat).unwrap();
    let other_buckets = Define {
        buckets: vec![1.0],
        ..lat
    };
    assert!(matches!(
        store.define(&other_buckets),
        Err(DefineError::Conflict { .. })
    ));
}

#[test]
fn reserved_names_are_refused() {
    let store = Store::new(limits());
    let def = Define {
        name: "dawn_exporter_clients".into(),
        ..defs::peers(0)
    };
    let err = store.define(&def).unwrap_err();
    assert!(matches!(err, DefineError::Reserved { .. }));
    assert!(err.to_string().contains("reserved"), "{err}");
}

#[test]
fn series_caps_total_and_per_metric() {
    let store = Store::new(StoreLimits {
        max_series: 3,
        max_series_per_metric: 2,
        ..limits()
    });
    let peers_by = Define {
        label_names: vec!["peer_id".into()],
        ..defs::peers(0)
    };
    let cb = defs::breaker_state(1);
    let f1 = store.define(&peers_by).unwrap();
    let f2 = store.define(&cb).unwrap();
    store.series(f1, &labels(&["a"])).unwrap();
    store.series(f1, &labels(&["b"])).unwrap();
    // An existing series never counts against a cap.
    store.series(f1, &labels(&["a"])).unwrap();
    let err = store.series(f1, &labels(&["c"])).unwrap_err();
    assert!(matches!(err, SeriesError::MetricAtCap { limit: 2, .. }));
    assert!(
        err.to_string().contains("--store.max-series-per-metric"),
        "{err}"
    );
    store.series(f2, &labels(&["x"])).unwrap();
    let err = store.series(f2, &labels(&["y"])).unwrap_err();
    assert!(matches!(err, SeriesError::TooManySeries { limit: 3, .. }));
    assert!(
        err.to_string()
            .contains("p2p_circuit_breaker_state{peer_id=\"y\"}"),
        "{err}"
    );
    assert_eq!(store.series_count(), 3);
}

#[test]
fn retire_removes_only_that_sources_value() {
    let store = Store::new(limits());
    let a = store.attach(&SourceKey::new("c", "a"), 1).source;
    let b = store.attach(&SourceKey::new("c", "b"), 1).source;
    let cb = defs::breaker_state(0);
    let family = store.define(&cb).unwrap();
    let series_a = store.series(family, &labels(&["p"])).unwrap();
    let series_b = store.series(family, &labels(&["p"])).unwrap();
    assert_eq!(series_a, series_b);
    store.apply(a, 1, [(series_a, &Value::Gauge(1.0), 0)]);
    store.apply(b, 1, [(series_b, &Value::Gauge(2.0), 0)]);
    store.retire(a, series_a);
    store.release_series(series_a);
    assert!(render(&store, Format::Text, &[]).contains("{peer_id=\"p\"} 2\n"));
    store.retire(b, series_b);
    store.release_series(series_b);
    assert_eq!(render(&store, Format::Text, &[]), "");
    assert_eq!(store.series_count(), 0);
}

#[test]
fn disconnected_sources_expire_after_the_ttl() {
    let store = Store::new(limits());
    let t0 = Instant::now();
    let key = SourceKey::new("dawn-node", "n1");
    let src = store.attach(&key, 1).source;
    let conns = defs::connections(0);
    let family = store.define(&conns).unwrap();
    let series = store.series(family, &labels(&["success"])).unwrap();
    store.apply(src, 1, [(series, &Value::Counter(5), 0)]);
    store.release_series(series);
    store.release_family(family);
    store.detach(src, t0);

    assert!(store.expire(t0 + Duration::from_secs(299)).is_empty());
    assert!(render(&store, Format::Text, &[]).contains("} 5\n"));
    assert_eq!(store.expire(t0 + Duration::from_secs(300)), [key]);
    assert_eq!(render(&store, Format::Text, &[]), "");
    assert_eq!(store.series_count(), 0);
    assert_eq!(store.source_count(), 0);
    // The family went with its last series, so a different definition is now welcome.
    let redefined = Define {
        label_names: vec!["other".into()],
        ..conns
    };
    assert!(store.define(&redefined).is_ok());
}

#[test]
fn connected_sources_never_expire() {
    let store = Store::new(limits());
    let t0 = Instant::now();
    store.attach(&SourceKey::new("c", "n"), 1);
    assert!(store.expire(t0 + Duration::from_secs(3600)).is_empty());
    assert_eq!(store.source_count(), 1);
}

#[test]
fn dropped_records_are_reported_as_increases() {
    let store = Store::new(limits());
    let key = SourceKey::new("c", "n");
    let src = store.attach(&key, 1).source;
    assert_eq!(store.report_dropped(src, 5), 5);
    assert_eq!(store.report_dropped(src, 5), 0);
    assert_eq!(store.report_dropped(src, 8), 3);
    // Reconnect of the same incarnation: the cumulative count continues.
    let src = store.attach(&key, 1).source;
    assert_eq!(store.report_dropped(src, 9), 1);
    // New incarnation: counting starts over.
    let src = store.attach(&key, 2).source;
    assert_eq!(store.report_dropped(src, 2), 2);
}

#[test]
fn kinds_render_with_their_type() {
    let f = Fixture::new();
    let def = Define {
        id: 0,
        name: "x_total".into(),
        help: "line\nbreak \\ and \"quotes\"".into(),
        kind: MetricKind::Counter,
        label_names: vec![],
        buckets: vec![],
    };
    f.set(&def, &[], Value::Counter(u64::MAX));
    assert_eq!(
        render(&f.store, Format::Text, &[]),
        "# HELP x_total line\\nbreak \\\\ and \"quotes\"\n\
         # TYPE x_total counter\n\
         x_total 18446744073709551615\n"
    );
}

#[test]
fn names_colliding_in_the_exposition_are_refused() {
    let store = Store::new(limits());
    let gauge = |name: &str| Define {
        name: name.into(),
        ..defs::peers(0)
    };
    let lat = defs::latency(1);
    store.define(&lat).unwrap();
    let err = store
        .define(&gauge("p2p_message_latency_seconds_count"))
        .unwrap_err();
    assert!(matches!(err, DefineError::Collision { .. }));
    assert!(
        err.to_string().contains(
            "would collide with metric p2p_message_latency_seconds in the exposition (both use the name p2p_message_latency_seconds_count)"
        ),
        "{err}"
    );
    // A counter x_total is the OpenMetrics family x: a gauge x would repeat it.
    let conns = defs::connections(2);
    let family = store.define(&conns).unwrap();
    assert!(matches!(
        store.define(&gauge("p2p_connections")),
        Err(DefineError::Collision { .. })
    ));
    // Once the counter is gone, the name is free.
    store.release_family(family);
    assert!(store.define(&gauge("p2p_connections")).is_ok());
}

#[test]
fn samples_are_capped_per_source_and_in_total_and_counted_back() {
    let store = Store::new(StoreLimits {
        max_samples: 3,
        max_samples_per_source: 2,
        ..limits()
    });
    let family = store.define(&defs::breaker_state(0)).unwrap();
    let series: Vec<SeriesId> = ["a", "b", "c"]
        .iter()
        .map(|p| store.series(family, &labels(&[p])).unwrap())
        .collect();
    let one = Value::Gauge(1.0);
    let a = store.attach(&SourceKey::new("c", "a"), 1).source;
    let all = |src| store.apply(src, 1, series.iter().zip(0..).map(|(s, t)| (*s, &one, t)));
    let outcome = all(a);
    assert_eq!(outcome.applied, 2);
    assert_eq!(
        outcome.refused,
        vec![(2, SampleError::MaxSamplesPerSource { limit: 2 })]
    );
    let b = store.attach(&SourceKey::new("c", "b"), 1).source;
    let outcome = all(b);
    assert_eq!(outcome.applied, 1);
    let over = SampleError::MaxSamples { limit: 3 };
    assert_eq!(outcome.refused, vec![(1, over), (2, over)]);
    assert!(
        outcome.refused[0]
            .1
            .to_string()
            .contains("--store.max-samples")
    );
    assert_eq!(store.sample_count(), 3);
    // Existing samples are updated whatever the caps.
    assert_eq!(all(a).applied, 2);
    // Memory comes back: a retire, a new incarnation, a source forgotten.
    store.retire(a, series[0]);
    assert_eq!(store.sample_count(), 2);
    store.attach(&SourceKey::new("c", "a"), 2);
    assert_eq!(store.sample_count(), 1);
    store.detach(b, Instant::now());
    assert_eq!(
        store
            .expire(Instant::now() + Duration::from_secs(300))
            .len(),
        1
    );
    assert_eq!(store.sample_count(), 0);
}

#[test]
fn definition_bytes_are_capped_and_returned() {
    let store = Store::new(limits());
    let empty = store.definition_bytes();
    assert_eq!(empty, 0);
    let family = store.define(&defs::breaker_state(0)).unwrap();
    let with_family = store.definition_bytes();
    assert!(with_family > 0);
    let series = store.series(family, &labels(&["a"])).unwrap();
    let with_series = store.definition_bytes();
    assert!(with_series > with_family);
    // A cap just above what is held refuses the next family and the next series.
    let tight = Store::new(StoreLimits {
        max_definition_bytes: with_series + 10,
        ..limits()
    });
    let f = tight.define(&defs::breaker_state(0)).unwrap();
    tight.series(f, &labels(&["a"])).unwrap();
    let err = tight.series(f, &labels(&["b"])).unwrap_err();
    assert!(
        matches!(err, SeriesError::DefinitionBudgetSpent { .. }),
        "{err}"
    );
    let err = tight.define(&defs::peers(1)).unwrap_err();
    assert!(
        err.to_string().contains("--store.max-definition-bytes"),
        "{err}"
    );
    // Released holds give every byte back.
    store.release_series(series);
    store.release_family(family);
    assert_eq!(store.definition_bytes(), 0);
}

#[test]
fn a_source_that_left_nothing_is_forgotten_at_once() {
    let store = Store::new(limits());
    let t0 = Instant::now();
    let src = store.attach(&SourceKey::new("c", "silent"), 1).source;
    assert!(store.detach(src, t0).is_empty());
    assert_eq!(store.source_count(), 0);
    // One that reported dropped records is kept, so its count continues exactly.
    let src = store.attach(&SourceKey::new("c", "dropper"), 1).source;
    store.report_dropped(src, 3);
    store.detach(src, t0);
    assert_eq!(store.source_count(), 1);
}

#[test]
fn beyond_the_most_departed_sources_the_oldest_is_forgotten_early() {
    let store = Store::new(StoreLimits {
        max_samples: 10_000,
        max_samples_per_source: 10,
        ..limits()
    });
    let t0 = Instant::now();
    let family = store.define(&defs::peers(0)).unwrap();
    let series = store.series(family, &[]).unwrap();
    for i in 0..=MAX_DEPARTED_SOURCES {
        let key = SourceKey::new("c", format!("n{i}"));
        let src = store.attach(&key, 1).source;
        store.apply(src, 1, [(series, &Value::Gauge(1.0), 0)]);
        let gone = store.detach(src, t0 + Duration::from_millis(i as u64));
        if i < MAX_DEPARTED_SOURCES {
            assert!(gone.is_empty());
        } else {
            assert_eq!(gone, [SourceKey::new("c", "n0")]);
        }
    }
    assert_eq!(store.source_count(), MAX_DEPARTED_SOURCES);
    assert_eq!(store.sample_count(), MAX_DEPARTED_SOURCES);
}

/// A histogram value whose native part has `n` positive buckets of one observation each
/// (keys 1..=n, one span), and the same `n` observations in the classic `+Inf` bucket.
fn native(n: u32) -> Value {
    use dawn_proto::{BucketSpan, NativeBuckets, NativeHistogramValue};
    let count = u64::from(n);
    Value::NativeHistogram(Box::new(NativeHistogramValue {
        classic: HistogramValue {
            count,
            sum: count as f64,
            buckets: vec![0, count],
        },
        native: NativeBuckets {
            schema: 0,
            zero_threshold: 0.0,
            zero_count: 0,
            positive_spans: vec![BucketSpan {
                offset: 1,
                length: n,
            }],
            positive_counts: vec![1; n as usize],
            negative_spans: Vec::new(),
            negative_counts: Vec::new(),
        },
    }))
}

#[test]
fn native_buckets_are_held_within_their_budget_and_given_back() {
    let store = Store::new(limits());
    let source = store.attach(&SourceKey::new("dawn-node", "a"), 1).source;
    let family = store
        .define(&Define {
            buckets: vec![1.0],
            ..defs::latency(0)
        })
        .unwrap();
    let series: Vec<SeriesId> = ["a", "b", "c"]
        .iter()
        .map(|v| store.series(family, &labels(&[v])).unwrap())
        .collect();
    // 600 + 400 fill the budget of 1000 exactly.
    let first = store.apply(
        source,
        1,
        [(series[0], &native(600), 0), (series[1], &native(400), 1)],
    );
    assert_eq!((first.applied, store.native_bucket_count()), (2, 1000));
    // A new series' native part past the budget is refused, named, and nothing is kept.
    let refused = store.apply(source, 1, [(series[2], &native(1), 2)]);
    assert_eq!(refused.applied, 0);
    assert!(matches!(
        refused.refused.as_slice(),
        [(
            2,
            SampleError::NativeBucketBudget {
                limit: 1000,
                held: 1000,
                more: 1
            }
        )]
    ));
    // So is a held series' growth; its last value stays. Classic-only and same-size
    // updates pass.
    let grown = store.apply(source, 1, [(series[1], &native(401), 3)]);
    assert_eq!((grown.applied, grown.refused.len()), (0, 1));
    let classic = store.apply(source, 1, [(series[1], &hist(500, 500.0, &[0, 500]), 4)]);
    assert_eq!((classic.applied, store.native_bucket_count()), (1, 1000));
    // Retiring a series gives its buckets back; a source leaving gives back all of its.
    store.retire(source, series[0]);
    assert_eq!(store.native_bucket_count(), 400);
    let now = store.apply(source, 1, [(series[2], &native(600), 5)]);
    assert_eq!((now.applied, store.native_bucket_count()), (1, 1000));
    store.detach(source, Instant::now());
    store.expire(Instant::now() + Duration::from_secs(3600));
    assert_eq!((store.sample_count(), store.native_bucket_count()), (0, 0));
}
