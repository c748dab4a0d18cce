//! `dawn-exporter healthcheck`: GET `/health/ready` and turn the answer into an exit code.

use std::time::Duration;

use dawn_daemon::http_get;

/// Result of a probe: `Ok` with a one-line summary when ready, `Err` with the reason.
pub async fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let response = http_get::get(url, &[], timeout)
        .await
        .map_err(|e| e.to_string())?;
    let body = response.text();
    let reason = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let status = v.get("status")?.as_str()?.to_owned();
            Some(match v.get("reason").and_then(|r| r.as_str()) {
                Some(reason) => format!("{status}: {reason}"),
                None => status,
            })
        })
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    if response.status == 200 {
        Ok(format!("{url}: {reason}"))
    } else {
        Err(format!("{url} answered {}: {reason}", response.status))
    }
}
