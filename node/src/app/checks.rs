//! The node's health rules, as pure functions from facts to a status, message and details.

use std::path::Path;

use dawn_proto::{Detail, DetailValue, HealthStatus};

/// A health report before it is sent: status, one-line message, details.
pub type Report = (HealthStatus, String, Vec<Detail>);

fn detail(key: &str, value: DetailValue) -> Detail {
    Detail {
        key: key.to_owned(),
        value,
    }
}

/// `storage`: healthy when the data root is writable, unhealthy with the error otherwise.
pub fn storage(path: &Path, result: Result<(), String>) -> Report {
    let path = detail("path", DetailValue::Text(path.display().to_string()));
    match result {
        Ok(()) => (
            HealthStatus::Healthy,
            "data root is writable".to_owned(),
            vec![path],
        ),
        Err(error) => (
            HealthStatus::Unhealthy,
            error.clone(),
            vec![path, detail("error", DetailValue::Text(error))],
        ),
    }
}

/// `peers`: degraded with no peer (the node works but is isolated, so it is not unhealthy
/// and stays ready), healthy with at least one.
pub fn peers(connected: usize) -> Report {
    let count = detail(
        "connected",
        DetailValue::Int(i64::try_from(connected).unwrap_or(i64::MAX)),
    );
    match connected {
        0 => (
            HealthStatus::Degraded,
            "no peers connected".to_owned(),
            vec![count],
        ),
        1 => (
            HealthStatus::Healthy,
            "1 peer connected".to_owned(),
            vec![count],
        ),
        n => (
            HealthStatus::Healthy,
            format!("{n} peers connected"),
            vec![count],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_rule() {
        assert_eq!(peers(0).0, HealthStatus::Degraded);
        assert_eq!(peers(0).1, "no peers connected");
        assert_eq!(peers(1).0, HealthStatus::Healthy);
        assert_eq!(peers(3).1, "3 peers connected");
        assert_eq!(peers(3).2[0].value, DetailValue::Int(3));
    }

    #[test]
    fn storage_rule() {
        let ok = storage(Path::new("/d"), Ok(()));
        assert_eq!(ok.0, HealthStatus::Healthy);
        assert_eq!(ok.2[0].value, DetailValue::Text("/d".into()));
        let bad = storage(Path::new("/d"), Err("read-only file system".into()));
        assert_eq!(bad.0, HealthStatus::Unhealthy);
        assert_eq!(bad.1, "read-only file system");
    }
}
