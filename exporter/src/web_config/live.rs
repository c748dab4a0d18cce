//! The web config in force, re-read when its file or a certificate, key or CA file it names
//! changes (checked every second), as exporter-toolkit picks up rotated certificates.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use tracing::{info, warn};
use warp::http::{HeaderName, HeaderValue};

use super::{BasicAuth, Problem, WebConfig, WebConfigError, tls};

/// How often the files are looked at.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Everything built from one version of the file.
#[derive(Debug)]
pub struct Served {
    /// The settings.
    pub config: WebConfig,
    /// The server's TLS configuration, when TLS is on.
    pub tls: Option<Arc<ServerConfig>>,
    /// The users.
    pub auth: Arc<BasicAuth>,
    /// Headers added to every response.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Served {
    fn build(config: WebConfig) -> Result<Served, Problem> {
        let tls = config
            .tls
            .as_ref()
            .map(|t| tls::server_config(t, config.http2))
            .transpose()?;
        let auth = Arc::new(BasicAuth::new(&config.users)?);
        let headers = config
            .headers
            .iter()
            .map(|(name, value)| {
                let bad =
                    || Problem::field(format!("http_server_config.headers.{name}"), "invalid");
                Ok((
                    HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?,
                    HeaderValue::from_str(value).map_err(|_| bad())?,
                ))
            })
            .collect::<Result<_, Problem>>()?;
        Ok(Served {
            config,
            tls,
            auth,
            headers,
        })
    }
}

/// What identifies a version of a file without reading it.
type Fingerprint = Option<(SystemTime, u64)>;

fn fingerprints(files: &[PathBuf]) -> Vec<Fingerprint> {
    files
        .iter()
        .map(|f| {
            let meta = std::fs::metadata(f).ok()?;
            Some((meta.modified().ok()?, meta.len()))
        })
        .collect()
}

/// The web config in force.
#[derive(Debug)]
pub struct LiveWebConfig {
    current: RwLock<Arc<Served>>,
    seen: Mutex<Vec<Fingerprint>>,
}

impl LiveWebConfig {
    /// Starts from a loaded `config`.
    pub fn new(config: WebConfig) -> Result<LiveWebConfig, WebConfigError> {
        let seen = fingerprints(&config.watched_files());
        let path = config.path.clone();
        let served = Served::build(config).map_err(|problem| WebConfigError { path, problem })?;
        Ok(LiveWebConfig {
            current: RwLock::new(Arc::new(served)),
            seen: Mutex::new(seen),
        })
    }

    /// The settings in force now.
    pub fn current(&self) -> Arc<Served> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the file if it or a file it names changed. A file that no longer loads, or
    /// that would switch TLS on or off (which needs a restart), is logged and ignored.
    pub fn reload_if_changed(&self) {
        let current = self.current();
        let files = current.config.watched_files();
        let now = fingerprints(&files);
        {
            let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
            if *seen == now {
                return;
            }
            *seen = now;
        }
        let path = &current.config.path;
        // Building checks every file it names, so the file is only read here, not loaded.
        let loaded = WebConfig::read(path).and_then(|config| {
            Served::build(config).map_err(|problem| WebConfigError {
                path: path.clone(),
                problem,
            })
        });
        match loaded {
            Ok(served) if served.tls.is_some() != current.tls.is_some() => warn!(
                file = %path.display(),
                "web config changed whether TLS is on; that needs a restart, keeping the settings in force"
            ),
            Ok(served) => {
                // The new file may name other files: watch those from now on.
                let seen = fingerprints(&served.config.watched_files());
                *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = seen;
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(served);
                info!(file = %path.display(), "web config reloaded");
            }
            Err(e) => warn!("{e}; keeping the settings in force"),
        }
    }

    /// Checks for changes every second until `stop` resolves.
    pub async fn watch(self: Arc<Self>, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(CHECK_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => {
                    let this = Arc::clone(&self);
                    // Reading files and building TLS configurations is blocking work.
                    let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
                }
            }
        }
    }
}
