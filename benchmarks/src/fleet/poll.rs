//! Asking the whole fleet at once: every node's `node/peers` as a client (one client
//! identity, one connection per node, kept between polls and redialed when lost), and every
//! exporter's `/metrics`. All requests of a poll run concurrently, so a node slow to answer
//! holds up only itself.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dawn_node::client::Client;
use dawn_node::p2p::{PeerAddr, PeerConnection};
use tokio::task::JoinSet;

use super::graph::Views;

/// How long one call or dial may take before the node counts as not answering this poll.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one exporter scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(10);

/// Asks every node of a fleet for its peers.
pub(super) struct Poller {
    client: Arc<Client>,
    addrs: Vec<PeerAddr>,
    conns: Vec<Option<PeerConnection>>,
}

impl Poller {
    /// A poller of the nodes at `addrs` (`HOST:PORT@ID`); must be called inside the runtime.
    pub(super) fn new(addrs: &[String]) -> anyhow::Result<Poller> {
        let addrs = addrs
            .iter()
            .map(|a| a.parse().with_context(|| format!("bad node address {a}")))
            .collect::<anyhow::Result<Vec<PeerAddr>>>()?;
        Ok(Poller {
            client: Arc::new(Client::new(None)?.with_timeout(CALL_TIMEOUT)),
            conns: vec![None; addrs.len()],
            addrs,
        })
    }

    /// Every node's peers now, by index.
    pub(super) async fn views(&mut self) -> Views {
        let mut calls = JoinSet::new();
        for (i, addr) in self.addrs.iter().enumerate() {
            let client = Arc::clone(&self.client);
            let conn = self.conns[i].take();
            let addr = addr.clone();
            calls.spawn(async move { (i, peers_of(&client, conn, &addr).await) });
        }
        let mut views = vec![None; self.addrs.len()];
        while let Some(done) = calls.join_next().await {
            if let Ok((i, (conn, view))) = done {
                self.conns[i] = conn;
                views[i] = view;
            }
        }
        views
    }

    /// Closes the client's connections, so the nodes free its slot at once.
    pub(super) async fn close(&self) {
        self.client.close().await;
    }
}

/// `node/peers` of one node over `conn` (dialed when `None`, redialed once when it fails):
/// the connection to keep and the peers' ids.
async fn peers_of(
    client: &Client,
    mut conn: Option<PeerConnection>,
    addr: &PeerAddr,
) -> (Option<PeerConnection>, Option<BTreeSet<String>>) {
    // A kept connection the node has closed (idle, restarted) fails once, then is redialed.
    for _ in 0..2 {
        let fresh = conn.is_none();
        let c = match conn.take() {
            Some(c) => c,
            None => match client.connect(addr).await {
                Ok(c) => c,
                Err(_) => return (None, None),
            },
        };
        match client.call(&c, "node/peers", None).await {
            Ok(Ok(reply)) => return (Some(c), peer_ids(&reply)),
            Ok(Err(_)) => return (Some(c), None),
            Err(_) if fresh => return (None, None),
            Err(_) => {}
        }
    }
    (None, None)
}

/// The `node_id`s of a `node/peers` reply.
fn peer_ids(reply: &serde_json::Value) -> Option<BTreeSet<String>> {
    reply["peers"]
        .as_array()?
        .iter()
        .map(|p| p["node_id"].as_str().map(str::to_owned))
        .collect()
}

/// Every URL's body now, by index (`None`: no 200 answer within the timeout).
pub(super) async fn scrape_all(urls: &[String]) -> Vec<Option<String>> {
    let mut gets = JoinSet::new();
    for (i, url) in urls.iter().enumerate() {
        let url = url.clone();
        gets.spawn(async move {
            let got = dawn_daemon::http_get::get(&url, &[], SCRAPE_TIMEOUT).await;
            (i, got.ok().filter(|r| r.status == 200).map(|r| r.text()))
        });
    }
    let mut bodies = vec![None; urls.len()];
    while let Some(done) = gets.join_next().await {
        if let Ok((i, body)) = done {
            bodies[i] = body;
        }
    }
    bodies
}

/// The sum of every sample `name{...}` of a text exposition whose labels include `labels`
/// (`None` when there is none).
pub(super) fn sum(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    crate::exporter::expo::values(text, name, labels)
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

#[cfg(test)]
mod tests {
    use super::sum;

    #[test]
    fn sum_adds_matching_series_only() {
        let text = "# TYPE p2p_messages_total counter\n\
                    p2p_messages_total{type=\"notification\",status=\"success\"} 30\n\
                    p2p_messages_total{type=\"notification\",status=\"error\"} 2\n\
                    p2p_messages_total{type=\"request\",status=\"success\"} 7\n\
                    p2p_messages_total_created 5\n\
                    dawn_node_up 1\n";
        let n = [("type", "notification")];
        assert_eq!(sum(text, "p2p_messages_total", &n), Some(32.0));
        assert_eq!(sum(text, "dawn_node_up", &[]), Some(1.0));
        assert_eq!(sum(text, "p2p_messages", &[]), None);
    }
}
