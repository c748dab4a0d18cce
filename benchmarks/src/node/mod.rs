//! The `node` group: what telemetry costs two real `dawn-node` processes talking to each
//! other, and how fresh the exporter's `/metrics` is.
//!
//! - `node_throughput_ratio_telemetry_on_vs_off` (with `node_throughput_rps_telemetry_on`
//!   and `_off`): relayed `node/ping` calls per second through a pair of nodes (a client
//!   calls A's `node/relay`, A calls B), with an exporter attached to each node, against an
//!   identical pair started with `--telemetry off`; short runs of the two pairs alternate
//!   in random order and the ratio is of their upper deciles ([`throughput`]).
//! - `freshness_ms` (and `freshness_mean_ms`): time from a counter increment in a
//!   `dawn_telemetry::Telemetry` instance at the default 1 s flush to its new value on
//!   a real exporter's `/metrics`, at random phases of the flush ([`freshness`]).

mod freshness;
mod nodes;
mod throughput;

use std::time::{SystemTime, UNIX_EPOCH};

use crate::Mode;
use crate::procs::{Binaries, Workdir};
use crate::summary::Summary;

/// Runs the group.
pub(crate) fn run(mode: Mode, bins: &Binaries, summary: &mut Summary) -> anyhow::Result<()> {
    let work = Workdir::new("node")?;
    throughput::run(mode, bins, work.path(), summary)?;
    freshness::run(mode, bins, work.path(), summary)?;
    Ok(())
}

/// The last value of sample `name{labels}` in a text exposition.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    crate::exporter::expo::values(text, name, labels).next_back()
}

/// A small xorshift generator: random phases and orders need no cryptography (nor a
/// dependency).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new() -> Rng {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64);
        Rng(seed | 1)
    }

    /// A fraction in [0, 1).
    pub(crate) fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::sample;

    #[test]
    fn sample_finds_labelled_and_plain_series() {
        let text = "# TYPE p2p_messages_total counter\n\
                    p2p_messages_total{type=\"request\",status=\"error\"} 3\n\
                    p2p_messages_total{type=\"request\",status=\"success\"} 1234\n\
                    p2p_messages_total_created 5\n\
                    up 1\n";
        let ok = [("type", "request"), ("status", "success")];
        assert_eq!(sample(text, "p2p_messages_total", &ok), Some(1234.0));
        assert_eq!(sample(text, "up", &[]), Some(1.0));
        assert_eq!(sample(text, "p2p_messages", &[]), None);
    }
}
