//! The live summary: one line per member saying what its exporter shows right now, or,
//! above [`FLEET_ABOVE`] members, one line for the whole fleet (a hundred lines every few
//! seconds would be unreadable, and scroll away everything else the launcher prints).

use std::time::{Duration, Instant};

use crate::fanout;
use crate::member::Member;

/// Most members shown one line each; a larger cluster gets the fleet line.
pub(crate) const FLEET_ABOVE: usize = 16;

/// Whether a cluster of `members` is summarised in one fleet line.
pub(crate) fn fleet(members: usize) -> bool {
    members > FLEET_ABOVE
}

/// Remembers each member's previous message total, to show messages per second.
pub(crate) struct Summary {
    started: Instant,
    previous: Vec<Option<(Instant, f64)>>,
}

/// What one member's exporter shows.
#[derive(Debug, Clone, PartialEq)]
struct Reading {
    up: f64,
    peers: f64,
    msgs: f64,
    /// Messages per second since the previous reading, from the second reading on.
    rate: Option<f64>,
    errors: f64,
    open: usize,
    half_open: usize,
    rate_limited: f64,
    health: String,
}

impl Summary {
    /// A summary of `members` members, starting now.
    pub(crate) fn new(members: usize) -> Self {
        Summary {
            started: Instant::now(),
            previous: vec![None; members],
        }
    }

    /// One line per member (or one for the fleet): whether the exporter sees the node up,
    /// its peers, messages (and their rate since the last summary), errors, breakers not
    /// closed, rate-limit rejections and health.
    pub(crate) async fn lines(&mut self, members: &[Member]) -> Vec<String> {
        let elapsed = self.started.elapsed().as_secs();
        let urls: Vec<String> = members.iter().map(Member::base_url).collect();
        let fetched = fanout::map(urls, fetch).await;
        let mut readings = Vec::with_capacity(members.len());
        for (fetched, previous) in fetched.into_iter().zip(&mut self.previous) {
            let reading = match fetched {
                Some(Ok((metrics, health))) => Ok(read(&metrics, health, previous)),
                Some(Err(e)) => Err(e),
                None => Err("not asked".to_owned()),
            };
            readings.push(reading);
        }
        if fleet(members.len()) {
            return vec![format!("[{elapsed:>4}s] {}", fleet_line(&readings))];
        }
        members
            .iter()
            .zip(&readings)
            .map(|(m, r)| {
                let part = match r {
                    Ok(r) => node_line(m.index, r),
                    Err(e) => format!("node-{}: exporter unreachable ({e})", m.index),
                };
                format!("[{elapsed:>4}s] {part}")
            })
            .collect()
    }
}

/// A member's `/metrics` text and `/health` status word, or why its exporter did not answer.
async fn fetch(base: String) -> Result<(String, String), String> {
    let timeout = Duration::from_secs(2);
    let metrics = dawn_daemon::http_get::get(&format!("{base}/metrics"), &[], timeout)
        .await
        .map_err(|e| e.to_string())?;
    let health = dawn_daemon::http_get::get(&format!("{base}/health"), &[], timeout).await;
    let health = health
        .map(|h| status_word(&h.text()))
        .unwrap_or_else(|_| "?".into());
    Ok((metrics.text(), health))
}

/// The reading of an exposition, with the rate since `previous` (which it replaces).
fn read(text: &str, health: String, previous: &mut Option<(Instant, f64)>) -> Reading {
    let msgs = sum(text, "p2p_messages_total");
    let now = Instant::now();
    let rate = previous
        .replace((now, msgs))
        .map(|(at, before)| per_second(msgs - before, now - at));
    let breakers = samples(text, "p2p_circuit_breaker_state");
    Reading {
        up: sum(text, "dawn_node_up"),
        peers: sum(text, "p2p_peers"),
        msgs,
        rate,
        errors: sum(text, "p2p_errors_total"),
        open: breakers.iter().filter(|&&s| s == 1.0).count(),
        half_open: breakers.iter().filter(|&&s| s == 2.0).count(),
        rate_limited: sum(text, "p2p_rate_limit_rejections_total"),
        health,
    }
}

/// A member's line (docs/cluster.md, *The summary*).
fn node_line(index: usize, r: &Reading) -> String {
    let rate = r.rate.map_or_else(String::new, |r| format!(" ({r:.1}/s)"));
    let half_open = match r.half_open {
        0 => String::new(),
        n => format!(" (+{n} half-open)"),
    };
    format!(
        "node-{index}: up={} peers={} msgs={}{rate} errors={} open_breakers={}{half_open} \
         rate_limited={} health={}",
        r.up, r.peers, r.msgs, r.errors, r.open, r.rate_limited, r.health
    )
}

/// The fleet's line: members up of all, peers min/median/max, the sums, and how many are
/// not healthy or do not answer.
fn fleet_line(readings: &[Result<Reading, String>]) -> String {
    let ok: Vec<&Reading> = readings.iter().filter_map(|r| r.as_ref().ok()).collect();
    let up = ok.iter().filter(|r| r.up >= 1.0).count();
    let mut peers: Vec<f64> = ok.iter().map(|r| r.peers).collect();
    peers.sort_by(f64::total_cmp);
    let peers = match (peers.first(), peers.get(peers.len() / 2), peers.last()) {
        (Some(min), Some(median), Some(max)) => format!("{min}/{median}/{max}"),
        _ => "?".to_owned(),
    };
    let total = |f: fn(&Reading) -> f64| ok.iter().map(|r| f(r)).sum::<f64>() + 0.0;
    let rates: Vec<f64> = ok.iter().filter_map(|r| r.rate).collect();
    let rate = match rates.is_empty() {
        true => String::new(),
        false => format!(" ({:.1}/s)", rates.iter().sum::<f64>()),
    };
    let open: usize = ok.iter().map(|r| r.open).sum();
    let half_open = match ok.iter().map(|r| r.half_open).sum() {
        0 => String::new(),
        n => format!(" (+{n} half-open)"),
    };
    let not_healthy = ok.iter().filter(|r| r.health != "healthy").count();
    format!(
        "fleet: up={up}/{} peers={peers} msgs={}{rate} errors={} open_breakers={open}{half_open} \
         rate_limited={} not_healthy={not_healthy} unreachable={}",
        readings.len(),
        total(|r| r.msgs),
        total(|r| r.errors),
        total(|r| r.rate_limited),
        readings.len() - ok.len()
    )
}

fn per_second(delta: f64, over: Duration) -> f64 {
    match over.as_secs_f64() {
        s if s > 0.0 => delta / s,
        _ => 0.0,
    }
}

/// Every sample of metric `name` in a text exposition.
fn samples(exposition: &str, name: &str) -> Vec<f64> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect()
}

/// Sum of every sample of metric `name` in a text exposition.
pub(crate) fn sum(exposition: &str, name: &str) -> f64 {
    // An empty float sum is -0.0; adding 0.0 makes it print as 0.
    samples(exposition, name).into_iter().sum::<f64>() + 0.0
}

/// The `status` of a health JSON body, found without a JSON dependency.
fn status_word(body: &str) -> String {
    for word in ["unhealthy", "degraded", "healthy"] {
        if body.contains(&format!("\"status\":\"{word}\"")) {
            return word.to_owned();
        }
    }
    "?".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_samples_of_one_metric_only() {
        let text = "# TYPE p2p_peers gauge\np2p_peers 2\np2p_peers_total 9\n\
                    p2p_messages_total{type=\"a\"} 3\np2p_messages_total{type=\"b\"} 4\n";
        assert_eq!(sum(text, "p2p_peers"), 2.0);
        assert_eq!(sum(text, "p2p_messages_total"), 7.0);
        assert_eq!(sum(text, "missing").to_string(), "0");
    }

    #[test]
    fn lists_samples_of_a_labelled_gauge() {
        let text = "p2p_circuit_breaker_state{peer_id=\"a\"} 1\n\
                    p2p_circuit_breaker_state{peer_id=\"b\"} 0\n\
                    p2p_circuit_breaker_state{peer_id=\"c\"} 2\n";
        assert_eq!(samples(text, "p2p_circuit_breaker_state"), [1.0, 0.0, 2.0]);
        assert_eq!(per_second(10.0, Duration::from_secs(5)), 2.0);
        assert_eq!(per_second(10.0, Duration::ZERO), 0.0);
    }

    fn reading(peers: f64, msgs: f64, rate: Option<f64>, health: &str) -> Reading {
        Reading {
            up: 1.0,
            peers,
            msgs,
            rate,
            errors: 1.0,
            open: 0,
            half_open: 0,
            rate_limited: 0.0,
            health: health.to_owned(),
        }
    }

    #[test]
    fn the_fleet_line_sums_and_ranges_the_members() {
        let readings = vec![
            Ok(reading(5.0, 100.0, Some(10.0), "healthy")),
            Ok(reading(8.0, 200.0, Some(20.5), "healthy")),
            Err("connection refused".to_owned()),
            Ok(reading(6.0, 300.0, Some(1.0), "degraded")),
        ];
        assert_eq!(
            fleet_line(&readings),
            "fleet: up=3/4 peers=5/6/8 msgs=600 (31.5/s) errors=3 open_breakers=0 \
             rate_limited=0 not_healthy=1 unreachable=1"
        );
        let first = vec![Ok(reading(2.0, 7.0, None, "healthy"))];
        assert_eq!(
            fleet_line(&first),
            "fleet: up=1/1 peers=2/2/2 msgs=7 errors=1 open_breakers=0 rate_limited=0 \
             not_healthy=0 unreachable=0"
        );
        assert!(!fleet(FLEET_ABOVE) && fleet(FLEET_ABOVE + 1));
    }

    #[test]
    fn a_node_line_is_the_documented_one() {
        let mut r = reading(2.0, 222.0, Some(9.6), "healthy");
        r.errors = 44.0;
        r.open = 1;
        assert_eq!(
            node_line(0, &r),
            "node-0: up=1 peers=2 msgs=222 (9.6/s) errors=44 open_breakers=1 rate_limited=0 \
             health=healthy"
        );
    }
}
