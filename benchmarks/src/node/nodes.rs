//! `dawn-node run` processes for the benchmarks: on loopback, on a free UDP port, in a
//! directory of their own, with the rate limit raised so that it never refuses the load;
//! and waiting until one answers.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_node::app::{
    ENV_BOOTSTRAP, ENV_DATA_ROOT, ENV_HOST, ENV_P2P_PORT, ENV_SOCKET, ENV_TELEMETRY,
};
use dawn_node::client::Client;
use dawn_node::p2p::{PeerAddr, PeerConnection};
use dawn_node::resilience::{ENV_RATE_LIMIT_MAX, ENV_RATE_LIMIT_WINDOW};

use crate::procs::{Binaries, Proc, free_udp_port};

/// The most requests per window the node accepts (`--rate-limit-max`'s upper bound).
pub(super) const RATE_LIMIT_MAX: &str = "10000";
/// The rate limit's window: 10000 per second is within reach of two cores (A is a single
/// sender to B), so the window is 100 ms, a limit of 100,000 calls/s per sender.
pub(super) const RATE_LIMIT_WINDOW: &str = "100ms";

/// A running `dawn-node run`.
#[derive(Debug)]
pub(super) struct NodeProc {
    /// The process (killed when dropped).
    pub(super) proc: Proc,
    /// `127.0.0.1:PORT` of its p2p endpoint.
    pub(super) addr: String,
}

impl NodeProc {
    /// Starts a node in `dir/name`. `socket`: the exporter to report to, or `None` for
    /// `--telemetry off`. `bootstrap`: a peer to join (`HOST:PORT@ID`).
    pub(super) fn start(
        bins: &Binaries,
        dir: &Path,
        name: &str,
        socket: Option<&Path>,
        bootstrap: Option<&str>,
    ) -> anyhow::Result<NodeProc> {
        let home = dir.join(name);
        std::fs::create_dir_all(&home)
            .with_context(|| format!("cannot create {}", home.display()))?;
        let port = free_udp_port()?.to_string();
        let data_root = home.join("data").to_string_lossy().into_owned();
        // Off: a socket nobody serves, so that a node that did try would not find one.
        let socket_text = socket
            .map_or_else(|| home.join("none.sock"), Path::to_path_buf)
            .to_string_lossy()
            .into_owned();
        let mut envs = vec![
            (ENV_DATA_ROOT, data_root.as_str()),
            (ENV_SOCKET, socket_text.as_str()),
            (ENV_TELEMETRY, if socket.is_some() { "on" } else { "off" }),
            (ENV_HOST, "127.0.0.1"),
            (ENV_P2P_PORT, port.as_str()),
            (ENV_RATE_LIMIT_MAX, RATE_LIMIT_MAX),
            (ENV_RATE_LIMIT_WINDOW, RATE_LIMIT_WINDOW),
        ];
        if let Some(peers) = bootstrap {
            envs.push((ENV_BOOTSTRAP, peers));
        }
        let proc = Proc::start(&bins.node, &["run"], &envs, home.join("node.log"))?;
        Ok(NodeProc {
            proc,
            addr: format!("127.0.0.1:{port}"),
        })
    }

    /// Connects `client` to the node once it answers `node/ping` (within `within`); returns
    /// the connection and the node's id.
    pub(super) async fn connect(
        &self,
        client: &Client,
        within: Duration,
    ) -> anyhow::Result<(PeerConnection, String)> {
        let peer: PeerAddr = self.addr.parse().context("a node address")?;
        let deadline = Instant::now() + within;
        let mut last = String::new();
        while Instant::now() < deadline {
            match client.connect(&peer).await {
                Ok(conn) => match client.call(&conn, "node/ping", None).await {
                    Ok(Ok(pong)) => {
                        let id = pong["node_id"]
                            .as_str()
                            .context("node/ping without a node_id")?
                            .to_owned();
                        return Ok((conn, id));
                    }
                    Ok(Err(e)) => last = format!("node/ping answered {e:?}"),
                    Err(e) => last = e.to_string(),
                },
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the node at {} did not answer within {within:?} ({last}); see {}",
            self.addr,
            self.proc.log.display()
        )
    }
}

/// Waits until the node behind `conn` lists `peer` among its connected peers.
pub(super) async fn wait_peered(
    client: &Client,
    conn: &PeerConnection,
    peer: &str,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Ok(v)) = client.call(conn, "node/peers", None).await
            && v["peers"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["node_id"] == peer))
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("no connection to peer {peer} within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
