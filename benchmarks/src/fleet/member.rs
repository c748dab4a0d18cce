//! A fleet: `n` real `dawn-node` processes, each with its own `dawn-exporter` (the node
//! pushes its telemetry over the exporter's Unix socket), in a directory of its own, every
//! one bootstrapped from node 0 only (a star). Ports are taken in one block, all checked
//! free at once; each node's identity is created before it starts, so its id is known
//! without asking it. Every process is killed when the fleet is dropped, on every path.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use dawn_node::app::{
    ENV_BOOTSTRAP, ENV_DATA_ROOT, ENV_GOSSIP_INTERVAL, ENV_HOST, ENV_MAX_PEERS, ENV_P2P_PORT,
    ENV_SOCKET, ENV_TELEMETRY,
};
use dawn_node::p2p::Identity;
use dawn_node::resilience::ENV_RATE_LIMIT_MAX;

use crate::procs::{Binaries, ExporterProc, Proc, free_tcp_ports, free_udp_ports};

/// How the fleet's nodes are configured.
#[derive(Debug, Clone, Copy)]
pub(super) struct Settings {
    /// `--max-peers` of every node.
    pub(super) max_peers: usize,
    /// `--gossip-interval` of every node.
    pub(super) gossip: Duration,
}

/// One node and its exporter.
#[derive(Debug)]
pub(super) struct Member {
    /// Its exporter (kept running while the node is killed and restarted).
    pub(super) exporter: ExporterProc,
    /// The node, `None` while killed.
    pub(super) node: Option<Proc>,
    /// The node's id (hex).
    pub(super) id: String,
    /// The node's UDP port on 127.0.0.1.
    pub(super) port: u16,
    /// The node's directory (data root and logs).
    home: PathBuf,
    /// Starts so far (each start logs to a file of its own).
    starts: u32,
}

/// The running fleet; node 0 is the bootstrap node.
#[derive(Debug)]
pub(super) struct Fleet {
    /// The members, by index.
    pub(super) members: Vec<Member>,
    settings: Settings,
    node_binary: PathBuf,
}

impl Fleet {
    /// Starts `n` exporters and waits until each is healthy; no node runs yet.
    pub(super) fn exporters(
        bins: &Binaries,
        dir: &Path,
        n: usize,
        settings: Settings,
    ) -> anyhow::Result<Fleet> {
        let http = free_tcp_ports(n)?;
        let udp = free_udp_ports(n)?;
        let mut members = Vec::with_capacity(n);
        for (i, (&http, &port)) in http.iter().zip(&udp).enumerate() {
            let home = dir.join(format!("m{i}"));
            let data = home.join("data");
            std::fs::create_dir_all(&data)
                .with_context(|| format!("cannot create {}", data.display()))?;
            let id = Identity::load_or_create(&data)
                .with_context(|| format!("cannot create an identity in {}", data.display()))?
                .node_id()
                .to_string();
            let exporter = ExporterProc::spawn_at(bins, &home, http, &[])?;
            members.push(Member {
                exporter,
                node: None,
                id,
                port,
                home,
                starts: 0,
            });
        }
        for m in &members {
            m.exporter.wait_healthy(Duration::from_secs(60))?;
        }
        Ok(Fleet {
            members,
            settings,
            node_binary: bins.node.clone(),
        })
    }

    /// `HOST:PORT@ID` of node 0, every other node's one bootstrap peer.
    pub(super) fn hub(&self) -> String {
        let hub = &self.members[0];
        format!("127.0.0.1:{}@{}", hub.port, hub.id)
    }

    /// Starts (or restarts, same port and identity) node `i`.
    pub(super) fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let hub = (i != 0).then(|| self.hub());
        let settings = self.settings;
        let m = &mut self.members[i];
        let data = m.home.join("data").to_string_lossy().into_owned();
        let socket = m.exporter.socket.to_string_lossy().into_owned();
        let port = m.port.to_string();
        let max_peers = settings.max_peers.to_string();
        let gossip = format!("{}ms", settings.gossip.as_millis());
        let mut envs = vec![
            (ENV_DATA_ROOT, data.as_str()),
            (ENV_SOCKET, socket.as_str()),
            (ENV_TELEMETRY, "on"),
            (ENV_HOST, "127.0.0.1"),
            (ENV_P2P_PORT, port.as_str()),
            (ENV_MAX_PEERS, max_peers.as_str()),
            (ENV_GOSSIP_INTERVAL, gossip.as_str()),
            // The benchmark's client asks every node for its peers a few times a second.
            (ENV_RATE_LIMIT_MAX, "10000"),
        ];
        if let Some(hub) = &hub {
            envs.push((ENV_BOOTSTRAP, hub.as_str()));
        }
        m.starts += 1;
        let log = m.home.join(format!("node-{}.log", m.starts));
        m.node = Some(Proc::start(&self.node_binary, &["run"], &envs, log)?);
        Ok(())
    }

    /// SIGKILLs node `i` (its exporter keeps running).
    pub(super) fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut node) = self.members[i].node.take() {
            node.kill()?;
        }
        Ok(())
    }

    /// Fails naming the first node that exited by itself, with its log's tail.
    pub(super) fn check_alive(&mut self) -> anyhow::Result<()> {
        for (i, m) in self.members.iter_mut().enumerate() {
            if let Some(node) = &mut m.node
                && let Some(status) = node.exit_status()?
            {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                let tail: String = log.lines().rev().take(10).collect::<Vec<_>>().join("\n");
                anyhow::bail!("node {i} exited ({status}); its log ends:\n{tail}");
            }
        }
        Ok(())
    }

    /// Node ids by index.
    pub(super) fn ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    /// `127.0.0.1:PORT@ID` of every node, by index.
    pub(super) fn addrs(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| format!("127.0.0.1:{}@{}", m.port, m.id))
            .collect()
    }

    /// `http://127.0.0.1:PORT/metrics` of every exporter, by index.
    pub(super) fn metrics_urls(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| m.exporter.url("/metrics"))
            .collect()
    }

    /// The fleet's size.
    pub(super) fn len(&self) -> usize {
        self.members.len()
    }
}
