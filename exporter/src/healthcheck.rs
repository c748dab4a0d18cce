//! `dawn-exporter healthcheck`: GET `/health/ready` and turn the answer into an exit code.
//! Over HTTPS when the web config turns TLS on (trusting exactly the certificate it names),
//! with basic credentials when given.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use dawn_daemon::http_get::{self, GetError, Response};
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::web_config::{Problem, TlsSettings, WebConfig, client_config_trusting_served_cert};

/// Basic credentials for the probe.
#[derive(Debug, Clone)]
pub struct Credentials {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
}

/// Result of a probe: `Ok` with a one-line summary when ready, `Err` with the reason.
pub async fn probe(
    url: &str,
    web: Option<&WebConfig>,
    credentials: Option<&Credentials>,
    timeout: Duration,
) -> Result<String, String> {
    let authorization = credentials.map(|c| {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.user, c.password));
        format!("Basic {token}")
    });
    let headers: Vec<(&str, &str)> = authorization
        .as_deref()
        .map(|a| ("Authorization", a))
        .into_iter()
        .collect();
    let response = if url.starts_with("https://") {
        let tls = web.and_then(|w| w.tls.as_ref()).ok_or_else(|| {
            format!("{url}: an https URL needs --web.config.file with tls_server_config, whose certificate is trusted")
        })?;
        https_get(url, tls, &headers, timeout).await
    } else {
        http_get::get(url, &headers, timeout)
            .await
            .map_err(ProbeError::from)
    }
    .map_err(|e| e.to_string())?;
    summarize(url, &response, web, credentials.is_some())
}

/// Why an HTTPS GET failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Connecting, the handshake, or the HTTP exchange.
    #[error(transparent)]
    Get(#[from] GetError),
    /// The web config's certificate cannot be read.
    #[error("web config: {0}")]
    WebConfig(#[from] Problem),
}

/// GETs `url` (`https://HOST:PORT/PATH`) from an exporter serving TLS as `tls` says,
/// trusting exactly the certificate it names, with extra request `headers`, within
/// `timeout`.
pub async fn https_get(
    url: &str,
    tls: &TlsSettings,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> Result<Response, ProbeError> {
    let config = Arc::new(client_config_trusting_served_cert(tls)?);
    match tokio::time::timeout(timeout, get_tls(url, config, headers)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(GetError::Timeout(url.to_owned()).into()),
    }
}

async fn get_tls(
    url: &str,
    config: Arc<rustls::ClientConfig>,
    headers: &[(&str, &str)],
) -> Result<Response, GetError> {
    let (authority, _) = http_get::split_url(url, "https")?;
    let io = |source| GetError::Io {
        url: url.to_owned(),
        source,
    };
    let host = match authority.rsplit_once(':') {
        Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']'),
        None => authority,
    };
    let name = ServerName::try_from(host.to_owned()).map_err(|_| GetError::Url(url.to_owned()))?;
    let tcp = TcpStream::connect(authority).await.map_err(io)?;
    let tls = TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(io)?;
    http_get::get_on(tls, url, headers).await
}

fn summarize(
    url: &str,
    response: &Response,
    web: Option<&WebConfig>,
    sent_credentials: bool,
) -> Result<String, String> {
    let body = response.text();
    let reason = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| {
            let status = v.get("status").or(v.get("error"))?.as_str()?.to_owned();
            Some(match v.get("reason").and_then(|r| r.as_str()) {
                Some(reason) => format!("{status}: {reason}"),
                None => status,
            })
        })
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    match response.status {
        200 => Ok(format!("{url}: {reason}")),
        401 if !sent_credentials => {
            let file = web.map_or_else(String::new, |w| format!(" in {}", w.path.display()));
            Err(format!(
                "{url} answered 401: {reason}; set dawn_health_without_auth: true{file}, or pass --basic-auth-user with PROJECT_DAWN_HEALTHCHECK_PASSWORD"
            ))
        }
        status => Err(format!("{url} answered {status}: {reason}")),
    }
}
