//! One pass over the registry, run every flush (connected or not): read every series, note
//! what changed, encode definitions and changed values into the session when there is one,
//! and retire series idle past the TTL that nothing but the registry holds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::registry::Registry;
use super::session::{Session, SessionError};
use super::tracker::{Seen, Tracker};

/// What one pass did, for logs and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Collected {
    /// Series whose value went into a batch.
    pub(crate) updates: usize,
    /// Series retired.
    pub(crate) retired: usize,
}

/// Runs one pass at `now`.
pub(crate) fn collect(
    registry: &Registry,
    tracker: &mut Tracker,
    mut session: Option<&mut Session>,
    now: Instant,
    ttl: Duration,
) -> Result<Collected, SessionError> {
    let mut done = Collected::default();
    for (index, family) in registry.families().iter().enumerate() {
        let family = family.ship();
        let mut metric_id = None;
        if let Some(s) = session.as_deref_mut() {
            metric_id = Some(if s.metric_defined(index) {
                u32::try_from(index).map_err(|_| SessionError::IdsExhausted)?
            } else {
                s.define_metric(index, family.spec())?
            });
        }
        let mut candidates = Vec::new();
        let snapshot = family.snapshot();
        for series in &snapshot {
            let uid = series.uid();
            let reading = series.read();
            let value = reading.to_value(session.as_deref().is_some_and(Session::sends_native));
            let seen = tracker.observe(uid, reading, now);
            if let (Some(s), Some(metric)) = (session.as_deref_mut(), metric_id) {
                let (id, send) = match s.series_id(uid) {
                    Some(id) => (id, seen != Seen::Same),
                    None => (s.define_series(uid, metric, series.labels())?, true),
                };
                if send {
                    s.update(id, value)?;
                    done.updates += 1;
                }
            }
            // Two references: the family's and this snapshot's. Confirmed under the family's
            // write lock once the snapshot is gone.
            if series.retirable()
                && Arc::strong_count(series) == 2
                && tracker.idle_for(uid, ttl, now)
            {
                candidates.push((series.hash(), uid));
            }
        }
        drop(snapshot);
        if !candidates.is_empty() {
            let retired = family.retire(&candidates, &mut |uid, reading| {
                tracker.is_unchanged(uid, reading)
            });
            for uid in retired {
                tracker.forget(uid);
                if let Some(s) = session.as_deref_mut() {
                    s.retire(uid);
                }
                done.retired += 1;
            }
        }
    }
    if let Some(s) = session {
        s.end_retire()?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OVERFLOW_LABEL_VALUE;
    use crate::cell::{CounterCell, GaugeCell, HistogramCell};
    use crate::families::{CounterFamily, GaugeFamily, HistogramFamily};
    use crate::tests::specs::{CONNECTIONS, LATENCY, PEERS};
    use dawn_proto::{
        DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, HistogramValue, Retire, SeriesDef, Update,
        Value,
    };

    const TTL: Duration = Duration::from_secs(60);

    struct Harness {
        registry: Registry,
        tracker: Tracker,
        now: Instant,
    }

    impl Harness {
        fn new(max_series: usize) -> Self {
            Harness {
                registry: Registry::new(max_series),
                tracker: Tracker::default(),
                now: Instant::now(),
            }
        }

        fn pass(&mut self, session: &mut Session) -> Vec<Frame> {
            collect(
                &self.registry,
                &mut self.tracker,
                Some(session),
                self.now,
                TTL,
            )
            .unwrap();
            let mut d = FrameDecoder::new(DEFAULT_MAX_FRAME_LEN);
            d.extend(&session.take_output());
            std::iter::from_fn(|| d.next_frame().unwrap()).collect()
        }
    }

    fn updates(frames: &[Frame]) -> Vec<Update> {
        frames
            .iter()
            .filter_map(|f| match f {
                Frame::Batch(b) => Some(b.updates.clone()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn first_pass_defines_everything_then_only_changes_are_sent() {
        let mut h = Harness::new(100);
        let peers = GaugeFamily(h.registry.register::<GaugeCell>(&PEERS).unwrap());
        let conns = CounterFamily(h.registry.register::<CounterCell>(&CONNECTIONS).unwrap());
        let ok = conns.with_labels(&["success"]);
        ok.add(3);
        let mut s = Session::new();
        let frames = h.pass(&mut s);
        assert_eq!(frames[0], Frame::Define(PEERS.to_define(0)));
        assert_eq!(
            frames[1],
            Frame::Series(SeriesDef {
                id: 0,
                metric: 0,
                label_values: vec![]
            })
        );
        assert_eq!(frames[2], Frame::Define(CONNECTIONS.to_define(1)));
        assert_eq!(
            frames[3],
            Frame::Series(SeriesDef {
                id: 1,
                metric: 1,
                label_values: vec!["success".into()]
            })
        );
        assert_eq!(
            updates(&frames),
            vec![
                Update {
                    series: 0,
                    value: Value::Gauge(0.0)
                },
                Update {
                    series: 1,
                    value: Value::Counter(3)
                },
            ]
        );

        assert!(h.pass(&mut s).is_empty(), "nothing changed, nothing sent");

        ok.inc();
        peers.handle().set(2.0);
        peers.handle().set(2.0);
        let frames = h.pass(&mut s);
        assert_eq!(
            updates(&frames),
            vec![
                Update {
                    series: 0,
                    value: Value::Gauge(2.0)
                },
                Update {
                    series: 1,
                    value: Value::Counter(4)
                },
            ]
        );
    }

    #[test]
    fn a_new_session_gets_every_cumulative_value_again() {
        let mut h = Harness::new(100);
        let lat = HistogramFamily(h.registry.register::<HistogramCell>(&LATENCY).unwrap());
        let req = lat.with_labels(&["request"]);
        req.observe(0.2);
        req.observe(7.0);
        let mut first = Session::new();
        h.pass(&mut first);
        assert!(h.pass(&mut first).is_empty());

        let mut second = Session::new();
        let frames = h.pass(&mut second);
        assert!(matches!(frames[0], Frame::Define(_)));
        assert!(matches!(frames[1], Frame::Series(_)));
        let mut buckets = vec![0; 12];
        buckets[5] = 1;
        buckets[10] = 1;
        assert_eq!(
            updates(&frames),
            vec![Update {
                series: 0,
                value: Value::Histogram(HistogramValue {
                    count: 2,
                    sum: 7.2,
                    buckets
                })
            }]
        );
    }

    #[test]
    fn idle_unreferenced_series_retire_after_the_ttl() {
        let mut h = Harness::new(100);
        let conns = CounterFamily(h.registry.register::<CounterCell>(&CONNECTIONS).unwrap());
        let kept = conns.with_labels(&["success"]);
        conns.with_labels(&["failed"]).inc();
        let mut s = Session::new();
        let failed_id = h
            .pass(&mut s)
            .iter()
            .find_map(|f| match f {
                Frame::Series(d) if d.label_values == ["failed"] => Some(d.id),
                _ => None,
            })
            .unwrap();

        h.now += TTL - Duration::from_millis(1);
        assert!(h.pass(&mut s).is_empty());

        h.now += Duration::from_millis(1);
        let frames = h.pass(&mut s);
        assert_eq!(
            frames,
            vec![Frame::Retire(Retire {
                series: vec![failed_id]
            })]
        );
        assert_eq!(conns.series_count(), 1, "the held series stays");
        assert_eq!(h.tracker.len(), 1);
        kept.inc();

        // Touching a series resets its TTL even without a connection.
        let recent = conns.with_labels(&["closed"]);
        collect(&h.registry, &mut h.tracker, None, h.now, TTL).unwrap();
        drop(recent);
        h.now += TTL / 2;
        conns.with_labels(&["closed"]).inc();
        collect(&h.registry, &mut h.tracker, None, h.now, TTL).unwrap();
        h.now += TTL / 2;
        collect(&h.registry, &mut h.tracker, None, h.now, TTL).unwrap();
        assert_eq!(conns.series_count(), 2);
        h.now += TTL / 2;
        let done = collect(&h.registry, &mut h.tracker, None, h.now, TTL).unwrap();
        assert_eq!(done.retired, 1);
        assert_eq!(conns.series_count(), 1);
    }

    #[test]
    fn the_overflow_series_is_shipped_with_marker_labels_and_never_retires() {
        let mut h = Harness::new(1);
        let conns = CounterFamily(h.registry.register::<CounterCell>(&CONNECTIONS).unwrap());
        conns.with_labels(&["success"]).inc();
        conns.with_labels(&["failed"]).inc();
        conns.with_labels(&["rejected"]).add(5);
        assert_eq!(h.registry.dropped(), 2);
        let mut s = Session::new();
        let frames = h.pass(&mut s);
        assert!(frames.contains(&Frame::Series(SeriesDef {
            id: 0,
            metric: 0,
            label_values: vec![OVERFLOW_LABEL_VALUE.into()],
        })));
        assert!(updates(&frames).contains(&Update {
            series: 0,
            value: Value::Counter(6)
        }));
        h.now += TTL * 2;
        let frames = h.pass(&mut s);
        assert_eq!(frames, vec![Frame::Retire(Retire { series: vec![1] })]);
    }
}
