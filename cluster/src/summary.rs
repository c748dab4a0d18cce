//! The live summary line: what each member's exporter says right now.

use std::time::Duration;

use crate::member::Member;

/// One line: per node, whether the exporter sees it up, its peers, messages and health.
pub(crate) async fn line(members: &[Member]) -> String {
    let mut parts = Vec::new();
    for m in members {
        let base = m.base_url();
        let timeout = Duration::from_secs(2);
        let metrics = dawn_daemon::http_get::get(&format!("{base}/metrics"), &[], timeout).await;
        let health = dawn_daemon::http_get::get(&format!("{base}/health"), &[], timeout).await;
        let part = match metrics {
            Ok(r) => {
                let text = r.text();
                let health = health
                    .map(|h| status_word(&h.text()))
                    .unwrap_or_else(|_| "?".into());
                format!(
                    "node-{}: up={} peers={} msgs={} errors={} health={health}",
                    m.index,
                    sum(&text, "dawn_node_up"),
                    sum(&text, "p2p_peers"),
                    sum(&text, "p2p_messages_total"),
                    sum(&text, "p2p_errors_total"),
                )
            }
            Err(e) => format!("node-{}: exporter unreachable ({e})", m.index),
        };
        parts.push(part);
    }
    parts.join(" | ")
}

/// Sum of every sample of metric `name` in a text exposition.
fn sum(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // An empty float sum is -0.0; adding 0.0 makes it print as 0.
        .sum::<f64>()
        + 0.0
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
}
