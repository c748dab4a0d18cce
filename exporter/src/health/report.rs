//! The `/health` document.

use std::collections::BTreeMap;
use std::time::Duration;

use dawn_proto::{Detail, DetailValue, HealthStatus};
use serde_json::{Map, Value, json};

/// One check in a report.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Its status.
    pub status: HealthStatus,
    /// One line explaining it.
    pub message: String,
    /// Facts behind it.
    pub details: Vec<Detail>,
}

/// The `/health` verdict: every check and the worst of them.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthReport {
    /// The worst check's status.
    pub status: HealthStatus,
    /// One line: which checks are not healthy and why.
    pub message: String,
    /// Every check by name.
    pub checks: BTreeMap<String, CheckReport>,
    /// Time since the exporter started.
    pub uptime: Duration,
}

impl HealthReport {
    pub(crate) fn new(checks: BTreeMap<String, CheckReport>, uptime: Duration) -> Self {
        let status = checks
            .values()
            .map(|c| c.status)
            .max()
            .unwrap_or(HealthStatus::Healthy);
        let message = if status == HealthStatus::Healthy {
            format!("all {} checks healthy", checks.len())
        } else {
            let problems: Vec<String> = checks
                .iter()
                .filter(|(_, c)| c.status != HealthStatus::Healthy)
                .map(|(name, c)| format!("{name} {}: {}", c.status.as_str(), c.message))
                .collect();
            problems.join("; ")
        };
        HealthReport {
            status,
            message,
            checks,
            uptime,
        }
    }

    /// HTTP status of `/health`: 200 for healthy and degraded, 503 for unhealthy.
    pub fn http_status(&self) -> u16 {
        match self.status {
            HealthStatus::Healthy | HealthStatus::Degraded => 200,
            HealthStatus::Unhealthy => 503,
        }
    }

    /// The JSON document: `{status, message, details: {uptime, checks, check_details},
    /// timestamp}`.
    pub fn to_json(&self, timestamp: &str) -> Value {
        let checks: Map<String, Value> = self
            .checks
            .iter()
            .map(|(name, c)| (name.clone(), Value::from(c.status.as_str())))
            .collect();
        let check_details: Map<String, Value> = self
            .checks
            .iter()
            .map(|(name, c)| {
                (
                    name.clone(),
                    json!({
                        "status": c.status.as_str(),
                        "message": c.message,
                        "details": details_json(&c.details),
                    }),
                )
            })
            .collect();
        json!({
            "status": self.status.as_str(),
            "message": self.message,
            "details": {
                "uptime": (self.uptime.as_secs_f64() * 1000.0).round() / 1000.0,
                "checks": checks,
                "check_details": check_details,
            },
            "timestamp": timestamp,
        })
    }
}

/// Details as a JSON object of scalars; non-finite floats become `null`.
pub(crate) fn details_json(details: &[Detail]) -> Value {
    let map: Map<String, Value> = details
        .iter()
        .map(|d| {
            let v = match &d.value {
                DetailValue::Text(t) => Value::from(t.as_str()),
                DetailValue::Int(i) => Value::from(*i),
                DetailValue::Float(f) => {
                    serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
                }
                DetailValue::Bool(b) => Value::from(*b),
            };
            (d.key.clone(), v)
        })
        .collect();
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: HealthStatus, message: &str, details: Vec<Detail>) -> CheckReport {
        CheckReport {
            status,
            message: message.into(),
            details,
        }
    }

    #[test]
    fn json_shape_and_worst_status() {
        let mut checks = BTreeMap::new();
        checks.insert(
            "peers".to_owned(),
            check(
                HealthStatus::Degraded,
                "1 peer",
                vec![
                    Detail {
                        key: "count".into(),
                        value: DetailValue::Int(1),
                    },
                    Detail {
                        key: "ratio".into(),
                        value: DetailValue::Float(f64::NAN),
                    },
                    Detail {
                        key: "ok".into(),
                        value: DetailValue::Bool(false),
                    },
                    Detail {
                        key: "who".into(),
                        value: DetailValue::Text("x".into()),
                    },
                ],
            ),
        );
        checks.insert(
            "telemetry".to_owned(),
            check(HealthStatus::Healthy, "fine", vec![]),
        );
        let r = HealthReport::new(checks, Duration::from_millis(12_345));
        assert_eq!(r.status, HealthStatus::Degraded);
        assert_eq!(r.http_status(), 200);
        assert_eq!(
            r.to_json("2026-01-01T00:00:00.000Z"),
            json!({
                "status": "degraded",
                "message": "peers degraded: 1 peer",
                "details": {
                    "uptime": 12.345,
                    "checks": {"peers": "degraded", "telemetry": "healthy"},
                    "check_details": {
                        "peers": {
                            "status": "degraded",
                            "message": "1 peer",
                            "details": {"count": 1, "ratio": null, "ok": false, "who": "x"},
                        },
                        "telemetry": {"status": "healthy", "message": "fine", "details": {}},
                    },
                },
                "timestamp": "2026-01-01T00:00:00.000Z",
            })
        );
    }

    #[test]
    fn unhealthy_is_503() {
        let mut checks = BTreeMap::new();
        checks.insert(
            "storage".to_owned(),
            check(HealthStatus::Unhealthy, "disk full", vec![]),
        );
        let r = HealthReport::new(checks, Duration::ZERO);
        assert_eq!(r.http_status(), 503);
        assert_eq!(r.message, "storage unhealthy: disk full");
    }
}
