//! The live summary: one line per member saying what its exporter shows right now.

use std::time::{Duration, Instant};

use crate::member::Member;

/// Remembers each member's previous message total, to show messages per second.
pub(crate) struct Summary {
    started: Instant,
    previous: Vec<Option<(Instant, f64)>>,
}

impl Summary {
    /// A summary of `members` members, starting now.
    pub(crate) fn new(members: usize) -> Self {
        Summary {
            started: Instant::now(),
            previous: vec![None; members],
        }
    }

    /// One line per member: whether the exporter sees the node up, its peers, messages (and
    /// their rate since the last summary), errors, breakers not closed, rate-limit
    /// rejections and health.
    pub(crate) async fn lines(&mut self, members: &[Member]) -> Vec<String> {
        let elapsed = self.started.elapsed().as_secs();
        let mut lines = Vec::new();
        for (m, previous) in members.iter().zip(&mut self.previous) {
            let base = m.base_url();
            let timeout = Duration::from_secs(2);
            let metrics =
                dawn_daemon::http_get::get(&format!("{base}/metrics"), &[], timeout).await;
            let health = dawn_daemon::http_get::get(&format!("{base}/health"), &[], timeout).await;
            let part = match metrics {
                Ok(r) => {
                    let text = r.text();
                    let health = health
                        .map(|h| status_word(&h.text()))
                        .unwrap_or_else(|_| "?".into());
                    let msgs = sum(&text, "p2p_messages_total");
                    let now = Instant::now();
                    let rate = previous
                        .replace((now, msgs))
                        .map(|(at, before)| per_second(msgs - before, now - at))
                        .map_or_else(String::new, |r| format!(" ({r:.1}/s)"));
                    let breakers = samples(&text, "p2p_circuit_breaker_state");
                    let open = breakers.iter().filter(|&&s| s == 1.0).count();
                    let half_open = breakers.iter().filter(|&&s| s == 2.0).count();
                    let half_open = match half_open {
                        0 => String::new(),
                        n => format!(" (+{n} half-open)"),
                    };
                    format!(
                        "node-{}: up={} peers={} msgs={msgs}{rate} errors={} open_breakers={open}{half_open} \
                         rate_limited={} health={health}",
                        m.index,
                        sum(&text, "dawn_node_up"),
                        sum(&text, "p2p_peers"),
                        sum(&text, "p2p_errors_total"),
                        sum(&text, "p2p_rate_limit_rejections_total"),
                    )
                }
                Err(e) => format!("node-{}: exporter unreachable ({e})", m.index),
            };
            lines.push(format!("[{elapsed:>4}s] {part}"));
        }
        lines
    }
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
}
