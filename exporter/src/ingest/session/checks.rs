//! The health checks one client may report: at most `--health.max-checks-per-client`
//! names, each report at most `--health.max-check-bytes` (its message cut and its last
//! details dropped to fit, its status always kept). No client can then crowd another's
//! checks out of `dawn_health_check_status`, and `/health` stays bounded by the number of
//! clients times these two limits (docs/exporter.md, "Memory budget").

use std::collections::HashSet;

use dawn_proto::{DetailValue, Health};

/// What becomes of a valid `Health` report.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Passed on; `cut` when it had to be shortened to fit.
    Keep { report: Health, cut: bool },
    /// A new check beyond the client's count: dropped.
    Drop,
}

/// The check names one connection reported, and its limits.
#[derive(Debug)]
pub(super) struct Checks {
    names: HashSet<String>,
    max_checks: usize,
    max_bytes: usize,
}

/// Marks a message that was cut.
const CUT: &str = "…";

/// Bytes a detail's number or boolean is counted as.
const SCALAR_BYTES: usize = 8;

impl Checks {
    pub(super) fn new(max_checks: usize, max_bytes: usize) -> Self {
        Checks {
            names: HashSet::new(),
            max_checks,
            max_bytes,
        }
    }

    /// The verdict on a report (already validated): a check seen before always passes, a
    /// new one only while the client has fewer than its maximum.
    pub(super) fn admit(&mut self, mut report: Health) -> Verdict {
        if !self.names.contains(&report.check) {
            if self.names.len() >= self.max_checks {
                return Verdict::Drop;
            }
            self.names.insert(report.check.clone());
        }
        let cut = fit(&mut report, self.max_bytes);
        Verdict::Keep { report, cut }
    }

    pub(super) fn max_checks(&self) -> usize {
        self.max_checks
    }

    pub(super) fn max_bytes(&self) -> usize {
        self.max_bytes
    }
}

/// The bytes a report is counted as: its name, message, and each detail's key and value.
pub(super) fn report_bytes(report: &Health) -> usize {
    report.check.len()
        + report.message.len()
        + report.details.iter().map(detail_bytes).sum::<usize>()
}

fn detail_bytes(d: &dawn_proto::Detail) -> usize {
    d.key.len()
        + match &d.value {
            DetailValue::Text(t) => t.len(),
            DetailValue::Int(_) | DetailValue::Float(_) | DetailValue::Bool(_) => SCALAR_BYTES,
        }
}

/// Shortens `report` to at most `max` bytes: the message is cut (marked with `…`) to what
/// the name leaves, then details are kept in order while they fit. Whether it cut anything.
fn fit(report: &mut Health, max: usize) -> bool {
    if report_bytes(report) <= max {
        return false;
    }
    let mut left = max.saturating_sub(report.check.len());
    if report.message.len() > left {
        let keep = floor_char_boundary(&report.message, left.saturating_sub(CUT.len()));
        report.message.truncate(keep);
        if left >= CUT.len() {
            report.message.push_str(CUT);
        }
    }
    left = left.saturating_sub(report.message.len());
    let mut kept = 0;
    for d in &report.details {
        let cost = detail_bytes(d);
        if cost > left {
            break;
        }
        left -= cost;
        kept += 1;
    }
    report.details.truncate(kept);
    true
}

/// The largest index `<= at` that is a char boundary of `s`.
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use dawn_proto::{Detail, HealthStatus};

    use super::*;

    fn report(check: &str, message: &str, details: Vec<Detail>) -> Health {
        Health {
            check: check.into(),
            status: HealthStatus::Unhealthy,
            message: message.into(),
            details,
        }
    }

    fn text(key: &str, value: &str) -> Detail {
        Detail {
            key: key.into(),
            value: DetailValue::Text(value.into()),
        }
    }

    #[test]
    fn new_names_beyond_the_count_are_dropped_known_ones_pass() {
        let mut c = Checks::new(2, 1000);
        for name in ["a", "b", "a"] {
            assert!(matches!(
                c.admit(report(name, "m", vec![])),
                Verdict::Keep { cut: false, .. }
            ));
        }
        assert_eq!(c.admit(report("c", "m", vec![])), Verdict::Drop);
        assert!(matches!(
            c.admit(report("b", "again", vec![])),
            Verdict::Keep { .. }
        ));
    }

    #[test]
    fn a_large_report_is_cut_to_fit_with_its_status() {
        let mut c = Checks::new(8, 40);
        let details = vec![
            Detail {
                key: "n".into(),
                value: DetailValue::Int(3),
            },
            text("path", "/var/lib/dawn"),
        ];
        // 7 + 10 + 9 + 17 = 43 bytes: the last detail goes.
        let Verdict::Keep { report: r, cut } =
            c.admit(report("storage", "disk full!", details.clone()))
        else {
            panic!("kept")
        };
        assert!(cut);
        assert_eq!(
            (r.status, r.message.as_str()),
            (HealthStatus::Unhealthy, "disk full!")
        );
        assert_eq!(r.details, details[..1]);
        assert!(report_bytes(&r) <= 40);
        // A message longer than the room: cut on a character boundary, marked, no details.
        let long = "é".repeat(40);
        let Verdict::Keep { report: r, cut } = c.admit(report("storage", &long, details)) else {
            panic!("kept")
        };
        assert!(
            cut && r.message.ends_with(CUT) && r.details.is_empty(),
            "{r:?}"
        );
        assert!(report_bytes(&r) <= 40, "{}", report_bytes(&r));
        assert!(r.message.starts_with("éé"));
    }

    #[test]
    fn a_report_that_fits_is_untouched() {
        let mut c = Checks::new(8, 64);
        let r = report("peers", "3 peers", vec![text("k", "v")]);
        assert_eq!(
            c.admit(r.clone()),
            Verdict::Keep {
                report: r,
                cut: false
            }
        );
    }
}
