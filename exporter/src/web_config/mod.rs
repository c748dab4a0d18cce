//! `--web.config.file`: TLS and HTTP basic authentication for the HTTP endpoints, in the
//! Prometheus exporter-toolkit format, so a secured Dawn exporter is set up and scraped like
//! every other exporter (`scheme: https`, `tls_config`, `basic_auth` in Prometheus).
//!
//! - [`WebConfig::load`] reads and checks the whole file (certificates, keys and password
//!   hashes included), so a missing or malformed file stops start-up with one clear line.
//! - [`LiveWebConfig`] is what the server uses: the file is re-read when it or a file it
//!   names changes, so rotated certificates and changed users apply without a restart (as
//!   in exporter-toolkit). A change that does not load is logged and the previous settings
//!   stay in force.
//! - Dawn adds one key, `dawn_health_without_auth`: when true, the health endpoints answer
//!   without credentials (still over TLS when TLS is on), for probes that cannot send any.

mod basic_auth;
mod client_cert;
mod file;
mod live;
mod rate_limit;
mod tls;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub use basic_auth::{AuthOutcome, BasicAuth};
pub use live::{LiveWebConfig, Served};
pub use rate_limit::{RateLimit, RateLimiter};
pub use tls::client_config_trusting_served_cert;

/// Where a PEM document comes from: a file (relative paths resolved against the web config
/// file's directory, as exporter-toolkit does) or the text itself, inline in the file.
#[derive(Clone, PartialEq, Eq)]
pub enum Pem {
    /// A file.
    File(PathBuf),
    /// Inline PEM text.
    Inline(String),
}

impl fmt::Debug for Pem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pem::File(p) => f.debug_tuple("File").field(p).finish(),
            // Inline keys are secrets.
            Pem::Inline(_) => f.write_str("Inline(..)"),
        }
    }
}

/// exporter-toolkit's `client_auth_type`: whether the server asks for a client certificate,
/// whether one is needed, and whether it must verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientCertPolicy {
    /// `NoClientCert` (the default): none is asked for.
    NoClientCert,
    /// `RequestClientCert`: asked for, optional, not verified (its key still proven).
    RequestClientCert,
    /// `RequireAnyClientCert` (or its old name `RequireClientCert`): needed, not verified
    /// against a CA, but the client must prove it holds the certificate's key.
    RequireAnyClientCert,
    /// `VerifyClientCertIfGiven`: optional, verified when given.
    VerifyClientCertIfGiven,
    /// `RequireAndVerifyClientCert`: needed and verified.
    RequireAndVerifyClientCert,
}

impl ClientCertPolicy {
    /// Whether a certificate must chain to the client CAs (or the system's roots).
    pub fn verifies(self) -> bool {
        matches!(
            self,
            ClientCertPolicy::VerifyClientCertIfGiven
                | ClientCertPolicy::RequireAndVerifyClientCert
        )
    }

    /// Whether a client without a certificate is turned away.
    pub fn mandatory(self) -> bool {
        matches!(
            self,
            ClientCertPolicy::RequireAnyClientCert | ClientCertPolicy::RequireAndVerifyClientCert
        )
    }
}

/// Client certificates: the policy, the CAs that verify them, the names a client must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// `client_auth_type`.
    pub policy: ClientCertPolicy,
    /// `client_ca_file` / `client_ca`; `None` with a verifying policy: the system's roots,
    /// as Go uses them when `ClientCAs` is unset.
    pub ca: Option<Pem>,
    /// `client_allowed_sans`: when set, a client certificate must carry one of these as a
    /// DNS name, e-mail address, IP address or URI (checked after verification); an empty
    /// list, as in exporter-toolkit, lets no client in.
    pub allowed_sans: Option<Vec<String>>,
}

/// A TLS protocol version as exporter-toolkit names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// `TLS12`.
    Tls12,
    /// `TLS13`.
    Tls13,
}

/// `tls_server_config`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The server certificate chain.
    pub cert: Pem,
    /// Its private key.
    pub key: Pem,
    /// Client certificates.
    pub client_auth: ClientAuth,
    /// Lowest version accepted.
    pub min_version: TlsVersion,
    /// Highest version accepted.
    pub max_version: TlsVersion,
    /// TLS 1.2 cipher suites by IANA name, in preference order; empty: rustls' defaults.
    pub cipher_suites: Vec<String>,
    /// Key-exchange groups by Go name (`X25519`, `CurveP256`, `CurveP384`), in preference
    /// order; empty: rustls' defaults.
    pub curve_preferences: Vec<String>,
    /// `prefer_server_cipher_suites` (default true): the server's order of cipher suites wins
    /// over the client's.
    pub prefer_server_cipher_suites: bool,
}

/// A checked web config file.
#[derive(Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// The file, for messages and to notice changes.
    pub path: PathBuf,
    /// HTTPS settings; `None` serves plain HTTP.
    pub tls: Option<TlsSettings>,
    /// Whether HTTP/2 is offered over TLS (`http_server_config.http2`, default true).
    pub http2: bool,
    /// Headers added to every response (`http_server_config.headers`).
    pub headers: Vec<(String, String)>,
    /// User name to bcrypt hash; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// `dawn_health_without_auth`: the health endpoints need no credentials.
    pub health_without_auth: bool,
    /// `rate_limit`, when it limits (`interval` above 0).
    pub rate_limit: Option<RateLimit>,
}

impl fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebConfig")
            .field("path", &self.path)
            .field("tls", &self.tls)
            .field("http2", &self.http2)
            .field("headers", &self.headers)
            // Hashes stay out of logs.
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .field("health_without_auth", &self.health_without_auth)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// What is wrong with a web config file.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// The file (or a file it names) cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not YAML of the expected shape (unknown keys included).
    #[error("{0}")]
    Yaml(#[from] serde_yaml_ng::Error),
    /// A value is missing, not allowed, or not supported by dawn-exporter.
    #[error("{field}: {why}")]
    Field {
        /// The key, dotted (`tls_server_config.cert_file`).
        field: String,
        /// What is wrong and what is accepted.
        why: String,
    },
    /// rustls refused the certificates or settings.
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

impl Problem {
    fn field(field: impl Into<String>, why: impl Into<String>) -> Problem {
        Problem::Field {
            field: field.into(),
            why: why.into(),
        }
    }
}

/// A web config file that cannot be used, with the file's name.
#[derive(Debug, thiserror::Error)]
#[error("web config file {path}: {problem}")]
pub struct WebConfigError {
    /// The web config file.
    pub path: PathBuf,
    /// What is wrong.
    pub problem: Problem,
}

impl WebConfig {
    /// Reads and checks `path`: the YAML, then every certificate, key and password hash it
    /// names, so that anything wrong is found now rather than at the first scrape.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let config = WebConfig::read(path)?;
        config.check().map_err(|problem| WebConfigError {
            path: path.to_owned(),
            problem,
        })?;
        Ok(config)
    }

    /// Reads and parses `path` without opening the files it names (for callers that build
    /// from it at once, which checks them).
    fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
        let wrap = |problem| WebConfigError {
            path: path.to_owned(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|source| {
            wrap(Problem::Read {
                path: path.to_owned(),
                source,
            })
        })?;
        file::parse(path, &text).map_err(wrap)
    }

    /// Builds everything the server will use, to find problems early.
    fn check(&self) -> Result<(), Problem> {
        if let Some(tls) = &self.tls {
            tls::server_config(tls, self.http2)?;
        }
        BasicAuth::new(&self.users)?;
        Ok(())
    }

    /// Whether `path` needs credentials.
    pub fn needs_auth(&self, is_health_path: bool) -> bool {
        let open_health = is_health_path && self.health_without_auth;
        !self.users.is_empty() && !open_health
    }

    /// The files this config depends on: itself and every certificate and key file.
    fn watched_files(&self) -> Vec<PathBuf> {
        let mut files = vec![self.path.clone()];
        if let Some(tls) = &self.tls {
            let ca = tls.client_auth.ca.as_ref();
            for pem in [Some(&tls.cert), Some(&tls.key), ca].into_iter().flatten() {
                if let Pem::File(p) = pem {
                    files.push(p.clone());
                }
            }
        }
        files
    }
}
