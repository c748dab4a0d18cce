//! The web config in force, re-read when its file or a certificate, key or CA file it names
//! changes (checked every second), as exporter-toolkit picks up rotated certificates.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::ServerConfig;
use tracing::{info, warn};
use warp::http::{HeaderName, HeaderValue};

use super::{BasicAuth, Problem, RateLimiter, WebConfig, WebConfigError, tls};
use crate::metrics::ExporterMetrics;

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
    /// `rate_limit`'s bucket, when it limits.
    pub limiter: Option<RateLimiter>,
}

impl Served {
    fn build(config: WebConfig) -> Result<Served, Problem> {
        let tls = config
            .tls
            .as_ref()
            .map(|t| {
                let (built, left_out) = tls::server_config(t, config.http2)?;
                // Names Go knows and rustls lacks, left out: said once per version served.
                for note in left_out {
                    warn!(file = %config.path.display(), "{note}");
                }
                Ok::<_, Problem>(built)
            })
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
        let limiter = config.rate_limit.map(RateLimiter::new);
        Ok(Served {
            config,
            tls,
            auth,
            headers,
            limiter,
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

/// The files looked at and how they were when last looked at.
#[derive(Debug)]
struct Watched {
    files: Vec<PathBuf>,
    seen: Vec<Fingerprint>,
}

/// The web config in force.
#[derive(Debug)]
pub struct LiveWebConfig {
    current: RwLock<Arc<Served>>,
    watched: Mutex<Watched>,
    metrics: Arc<ExporterMetrics>,
}

impl LiveWebConfig {
    /// Starts from a loaded `config`; the outcome of each reload goes to `metrics`.
    pub fn new(
        config: WebConfig,
        metrics: Arc<ExporterMetrics>,
    ) -> Result<LiveWebConfig, WebConfigError> {
        let files = config.watched_files();
        let seen = fingerprints(&files);
        let path = config.path.clone();
        let served = Served::build(config).map_err(|problem| WebConfigError { path, problem })?;
        Ok(LiveWebConfig {
            current: RwLock::new(Arc::new(served)),
            watched: Mutex::new(Watched { files, seen }),
            metrics,
        })
    }

    /// The settings in force now.
    pub fn current(&self) -> Arc<Served> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the file if it or a file it names changed. A file that no longer loads, or
    /// that would switch TLS on or off (which needs a restart), is logged, counted in
    /// `dawn_exporter_web_config_last_reload_successful`, and the settings in force stay.
    ///
    /// The files watched are those of the settings in force and those the newest version of
    /// the file names, even when that version did not load: a config that names a CA file
    /// not written yet is tried again once the CA file appears.
    pub fn reload_if_changed(&self) {
        let current = self.current();
        let path = &current.config.path;
        // One reload at a time: the lock is held until the outcome is known.
        let mut watched = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
        let now = fingerprints(&watched.files);
        if watched.seen == now {
            return;
        }
        let read = WebConfig::read(path);
        // The files to watch from now on, fingerprinted as they were before this read (the
        // ones newly named: now, before they are read to build), so a change made while
        // reading is seen at the next look.
        let mut files = current.config.watched_files();
        if let Ok(config) = &read {
            files.extend(config.watched_files());
        }
        files.extend(watched.files.iter().cloned());
        files.sort();
        files.dedup();
        let seen = files
            .iter()
            .map(|f| match watched.files.iter().position(|w| w == f) {
                Some(i) => now[i],
                None => fingerprints(std::slice::from_ref(f))[0],
            })
            .collect();
        *watched = Watched { files, seen };
        // Building checks every file it names, so the file is only read above, not loaded.
        let loaded = read.and_then(|config| {
            Served::build(config).map_err(|problem| WebConfigError {
                path: path.clone(),
                problem,
            })
        });
        match loaded {
            Ok(served) if served.tls.is_some() != current.tls.is_some() => {
                self.metrics.web_config_reload(false);
                warn!(
                    file = %path.display(),
                    "web config changed whether TLS is on; that needs a restart, keeping the settings in force"
                );
            }
            Ok(served) => {
                // Only the files of what is in force (and of newer attempts) matter now.
                let files = served.config.watched_files();
                let seen = files
                    .iter()
                    .map(|f| {
                        let i = watched.files.iter().position(|w| w == f);
                        i.and_then(|i| watched.seen[i])
                    })
                    .collect();
                *watched = Watched { files, seen };
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(served);
                self.metrics.web_config_reload(true);
                info!(file = %path.display(), "web config reloaded");
            }
            Err(e) => {
                self.metrics.web_config_reload(false);
                warn!("{e}; keeping the settings in force");
            }
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
