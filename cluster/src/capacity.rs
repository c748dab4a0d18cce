//! Whether this machine can hold the cluster asked for, checked before anything starts:
//! its ports, the launcher's open files and the memory of its processes. Each refusal is
//! one line naming what does not fit and what to do, instead of a cluster that starts
//! and then fails half-way (a node that cannot bind, an exporter the launcher cannot
//! reach for lack of descriptors, the kernel's OOM killer).

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Open files the launcher holds whatever the size: its runtime, standard streams, the
/// lock, the traffic's and the mesh's QUIC sockets, Prometheus and its log, the HTTP and
/// RPC requests in flight (`fanout::WORKERS` of each), with room to spare.
pub(crate) const FILES_BASE: u64 = 64;
/// Open files per member: each child process is a handle (a pidfd) in the launcher, and
/// the launcher opens each member's four log files and passes them on while it starts it
/// (measured: 2 per member once running; see docs/cluster.md).
pub(crate) const FILES_PER_MEMBER: u64 = 4;

/// Memory one node and its exporter take, in MiB, rounded up from what they used in a
/// cluster of 100 with traffic (docs/cluster.md, *Large clusters*).
pub(crate) const MIB_PER_MEMBER: u64 = 40;
/// The launcher itself and Prometheus, in MiB.
pub(crate) const MIB_BASE: u64 = 200;

/// The ports the cluster asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub(crate) nodes: u16,
    /// The first exporter's HTTP (TCP) port.
    pub(crate) metrics: u16,
    /// The first node's P2P (UDP) port.
    pub(crate) p2p: u16,
    /// Prometheus' HTTP (TCP) port.
    pub(crate) prometheus: u16,
}

impl Ports {
    /// The last port of a range of `nodes` from `first`, if it is a port.
    fn last(first: u16, nodes: u16) -> Option<u16> {
        u16::try_from(u32::from(first) + u32::from(nodes) - 1).ok()
    }

    /// Whether the ranges fit below 65536 and Prometheus' port is not an exporter's. The
    /// P2P ports are UDP and the others TCP: the same number in both is no conflict.
    pub(crate) fn check(&self) -> Result<(), String> {
        let n = self.nodes;
        for (flag, first, what) in [
            ("--metrics-port", self.metrics, "TCP"),
            ("--p2p-port", self.p2p, "UDP"),
        ] {
            if Self::last(first, n).is_none() {
                return Err(format!(
                    "{n} nodes from {flag} {first} need {what} ports up to {}, past 65535: \
                     pass {flag} {} or lower, or fewer --nodes",
                    u32::from(first) + u32::from(n) - 1,
                    65536 - u32::from(n)
                ));
            }
        }
        let last = Self::last(self.metrics, n).unwrap_or(u16::MAX);
        if (self.metrics..=last).contains(&self.prometheus) {
            return Err(format!(
                "--prometheus-port {} is one of the exporters' ports {}-{last} \
                 (--metrics-port and --nodes): pass another --prometheus-port",
                self.prometheus, self.metrics
            ));
        }
        Ok(())
    }

    /// Binds every exporter and node port on 127.0.0.1 for a moment; names the first one
    /// something else holds. (Prometheus' port is not probed: it only matters when
    /// Prometheus is installed, and the cluster runs without it.)
    pub(crate) fn probe(&self) -> Result<(), String> {
        let busy = |port: u16, what: String, flag: &str| {
            format!(
                "port {port} ({what}) is already in use on 127.0.0.1: stop what holds it, \
                 or pass another {flag}"
            )
        };
        for i in 0..self.nodes {
            let port = self.metrics + i;
            if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                return Err(busy(
                    port,
                    format!("node-{i}'s exporter, TCP"),
                    "--metrics-port",
                ));
            }
            let port = self.p2p + i;
            if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
                return Err(busy(port, format!("node-{i}'s P2P, UDP"), "--p2p-port"));
            }
        }
        Ok(())
    }
}

/// Open files the launcher needs for `nodes` members.
pub(crate) fn files_needed(nodes: u16) -> u64 {
    FILES_BASE + FILES_PER_MEMBER * u64::from(nodes)
}

/// What to do about the open-files limit.
#[derive(Debug, PartialEq, Eq)]
enum Files {
    /// The soft limit is enough.
    Enough,
    /// Raise the soft limit to this (the hard limit allows it).
    Raise(u64),
}

/// `need` against a soft and a hard limit (`None`: unlimited).
fn files(nodes: u16, need: u64, soft: Option<u64>, hard: Option<u64>) -> Result<Files, String> {
    if soft.is_none_or(|s| s >= need) {
        return Ok(Files::Enough);
    }
    match hard {
        Some(h) if h < need => Err(format!(
            "{nodes} nodes need about {need} open files in the launcher, but its limit is {} \
             (hard limit {h}): raise it (ulimit -n {need}) or ask for fewer --nodes",
            soft.unwrap_or(h)
        )),
        _ => Ok(Files::Raise(need)),
    }
}

/// Checks the launcher's open-files limit (`RLIMIT_NOFILE`) for `nodes` members, raising
/// the soft limit when the hard one allows; returns the line to print when it did (the
/// members inherit the raised limit).
pub(crate) fn open_files(nodes: u16) -> Result<Option<String>, String> {
    let limit = getrlimit(Resource::Nofile);
    let need = files_needed(nodes);
    match files(nodes, need, limit.current, limit.maximum)? {
        Files::Enough => Ok(None),
        Files::Raise(to) => {
            setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: Some(to),
                    maximum: limit.maximum,
                },
            )
            .map_err(|e| {
                format!("cannot raise the open-files limit to {to} for {nodes} nodes: {e}")
            })?;
            Ok(Some(format!(
                "raised the open-files limit from {} to {to} for {nodes} nodes",
                limit.current.unwrap_or(0)
            )))
        }
    }
}

/// Memory `nodes` members need, in MiB.
pub(crate) fn mib_needed(nodes: u16) -> u64 {
    MIB_BASE + MIB_PER_MEMBER * u64::from(nodes)
}

/// Checks `nodes` members against `MemAvailable` in `meminfo` (the text of
/// `/proc/meminfo`); passes when it does not say (not Linux, another format).
pub(crate) fn memory(nodes: u16, meminfo: Option<&str>) -> Result<(), String> {
    let Some(available) = meminfo.and_then(mem_available_mib) else {
        return Ok(());
    };
    let need = mib_needed(nodes);
    if need <= available {
        return Ok(());
    }
    Err(format!(
        "{nodes} nodes need about {need} MiB ({MIB_PER_MEMBER} MiB per node and exporter, \
         {MIB_BASE} MiB for the rest), but only {available} MiB are available (MemAvailable): \
         ask for fewer --nodes (about {} fit) or free memory",
        available.saturating_sub(MIB_BASE) / MIB_PER_MEMBER
    ))
}

/// `MemAvailable` of a `/proc/meminfo` text, in MiB.
fn mem_available_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib / 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(nodes: u16, metrics: u16, p2p: u16, prometheus: u16) -> Ports {
        Ports {
            nodes,
            metrics,
            p2p,
            prometheus,
        }
    }

    #[test]
    fn port_ranges_must_fit_and_keep_prometheus_apart() {
        assert_eq!(ports(100, 9101, 8001, 9090).check(), Ok(()));
        assert_eq!(ports(1, 65535, 65535, 9090).check(), Ok(()));
        // TCP and UDP: the same numbers are no conflict.
        assert_eq!(ports(10, 9000, 9000, 9190).check(), Ok(()));
        assert_eq!(
            ports(100, 65500, 8001, 9090).check(),
            Err(
                "100 nodes from --metrics-port 65500 need TCP ports up to 65599, past 65535: \
                 pass --metrics-port 65436 or lower, or fewer --nodes"
                    .to_owned()
            )
        );
        assert!(ports(2, 9101, 65535, 9090).check().is_err_and(|e| {
            e.starts_with("2 nodes from --p2p-port 65535 need UDP ports up to 65536")
        }));
        assert_eq!(
            ports(100, 9101, 8001, 9190).check(),
            Err(
                "--prometheus-port 9190 is one of the exporters' ports 9101-9200 \
                 (--metrics-port and --nodes): pass another --prometheus-port"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_busy_port_is_named() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = held.local_addr().expect("addr").port();
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let free = udp.local_addr().expect("addr").port();
        drop(udp);
        assert_eq!(
            ports(1, port, free, 0).probe(),
            Err(format!(
                "port {port} (node-0's exporter, TCP) is already in use on 127.0.0.1: \
                 stop what holds it, or pass another --metrics-port"
            ))
        );
        let held_udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let port = held_udp.local_addr().expect("addr").port();
        drop(held);
        let free = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("addr")
            .port();
        assert_eq!(
            ports(1, free, port, 0).probe(),
            Err(format!(
                "port {port} (node-0's P2P, UDP) is already in use on 127.0.0.1: \
                 stop what holds it, or pass another --p2p-port"
            ))
        );
    }

    #[test]
    fn open_files_are_raised_within_the_hard_limit_or_refused() {
        assert_eq!(files(100, 464, Some(1024), Some(4096)), Ok(Files::Enough));
        assert_eq!(files(100, 464, None, None), Ok(Files::Enough));
        assert_eq!(
            files(100, 464, Some(256), Some(4096)),
            Ok(Files::Raise(464))
        );
        assert_eq!(files(100, 464, Some(256), None), Ok(Files::Raise(464)));
        assert_eq!(
            files(100, 464, Some(256), Some(256)),
            Err(
                "100 nodes need about 464 open files in the launcher, but its limit is 256 \
                 (hard limit 256): raise it (ulimit -n 464) or ask for fewer --nodes"
                    .to_owned()
            )
        );
        assert_eq!(files_needed(100), 464);
    }

    #[test]
    fn memory_is_checked_against_mem_available() {
        let meminfo = |kib: u64| format!("MemTotal:       24683972 kB\nMemAvailable:   {kib} kB\n");
        assert_eq!(mem_available_mib(&meminfo(2048 * 1024)), Some(2048));
        assert_eq!(memory(100, Some(&meminfo(8 * 1024 * 1024))), Ok(()));
        assert_eq!(memory(100, None), Ok(()));
        assert_eq!(memory(100, Some("no such field")), Ok(()));
        assert_eq!(
            memory(100, Some(&meminfo(1024 * 1024))),
            Err(
                "100 nodes need about 4200 MiB (40 MiB per node and exporter, 200 MiB for \
                 the rest), but only 1024 MiB are available (MemAvailable): ask for fewer \
                 --nodes (about 20 fit) or free memory"
                    .to_owned()
            )
        );
    }
}
