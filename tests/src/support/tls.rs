//! TLS material and HTTPS requests for the `--web.config.file` tests: a CA, server
//! certificates it signs, bcrypt hashes, and GETs through the exporter's own HTTPS client
//! (the one `dawn-exporter healthcheck` uses, which trusts exactly the served certificate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::support::http::Response;

/// A test certificate authority writing its files into one directory.
pub struct Pki {
    dir: PathBuf,
    ca: CertifiedIssuer<'static, KeyPair>,
    /// The CA certificate (PEM), for Prometheus' `tls_config.ca_file`.
    pub ca_file: PathBuf,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish()
    }
}

impl Pki {
    /// A new CA in `dir` (`ca.pem`).
    #[track_caller]
    pub fn new(dir: &Path) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "Dawn test CA");
        let key = KeyPair::generate().expect("CA key");
        let ca = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).expect("write ca.pem");
        Pki {
            dir: dir.to_owned(),
            ca,
            ca_file,
        }
    }

    /// A server certificate for `localhost` and `127.0.0.1` signed by the CA, written as
    /// `<name>.crt` and `<name>.key`; returns their paths.
    #[track_caller]
    pub fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("server certificate");
        let cert_file = self.dir.join(format!("{name}.crt"));
        let key_file = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        (cert_file, key_file)
    }
}

/// A bcrypt hash of `password` as `basic_auth_users` takes it, at the lowest cost (4) so
/// that tests stay fast; the exporter checks it the same way at any cost.
#[track_caller]
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 4).expect("bcrypt hash")
}

/// `Authorization` header value for basic credentials.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {token}")
}

/// GETs `url` (`https://…`) from an exporter running with web config file `web_config`,
/// trusting the certificate that file names, with extra `headers`.
pub fn https_get(
    url: &str,
    web_config: &Path,
    headers: &[(&str, &str)],
) -> Result<Response, String> {
    let config =
        dawn_exporter::web_config::WebConfig::load(web_config).map_err(|e| e.to_string())?;
    let tls = config
        .tls
        .as_ref()
        .ok_or_else(|| format!("{} has no tls_server_config", web_config.display()))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime
        .block_on(dawn_exporter::https_get(
            url,
            tls,
            headers,
            Duration::from_secs(10),
        ))
        .map(Response)
        .map_err(|e| e.to_string())
}

impl Pki {
    /// A client certificate signed by the CA with the DNS names `sans`, written as
    /// `<name>.crt` and `<name>.key`; returns their paths.
    #[track_caller]
    pub fn issue_client(&self, name: &str, sans: &[&str]) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
                .expect("client params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("client key");
        let cert = params
            .signed_by(&key, &self.ca)
            .expect("client certificate");
        let cert_file = self.dir.join(format!("{name}.crt"));
        let key_file = self.dir.join(format!("{name}.key"));
        std::fs::write(&cert_file, cert.pem()).expect("write certificate");
        std::fs::write(&key_file, key.serialize_pem()).expect("write key");
        (cert_file, key_file)
    }
}

/// GETs `path` from `127.0.0.1:port` over HTTPS (one connection, closed after the answer),
/// trusting `ca_file`, presenting `client` (certificate and key files) when given. Returns
/// the status and the body, or the TLS or I/O error (a refused client certificate shows
/// here).
pub fn https_get_with_client_cert(
    port: u16,
    path: &str,
    ca_file: &Path,
    client: Option<(&Path, &Path)>,
) -> Result<(u16, String), String> {
    use std::io::{Read, Write};

    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let ca = CertificateDer::from_pem_file(ca_file).map_err(|e| e.to_string())?;
    roots.add(ca).map_err(|e| e.to_string())?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots);
    let config = match client {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = vec![CertificateDer::from_pem_file(cert).map_err(|e| e.to_string())?];
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| e.to_string())?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| e.to_string())?
        }
    };
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).map_err(|e| e.to_string())?;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP answer: {answer:?}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// One HTTPS connection kept open across requests (HTTP/1.1 keep-alive), without a client
/// certificate: to see what a reload does to connections already open.
pub struct KeptConnection {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
}

impl std::fmt::Debug for KeptConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeptConnection")
    }
}

impl KeptConnection {
    /// Connects to `127.0.0.1:port`, trusting `ca_file`, and completes the handshake.
    pub fn open(port: u16, ca_file: &Path) -> Result<KeptConnection, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};

        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(ca_file).map_err(|e| e.to_string())?;
        roots.add(ca).map_err(|e| e.to_string())?;
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
        let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
            .map_err(|e| e.to_string())?;
        let mut tcp =
            std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
        }
        Ok(KeptConnection {
            tls: rustls::StreamOwned::new(conn, tcp),
        })
    }

    /// GETs `path` on this connection: the status, or why no answer came (the server
    /// closed the connection, or refused it).
    pub fn get(&mut self, path: &str) -> Result<u16, String> {
        use std::io::{Read, Write};

        write!(self.tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .map_err(|e| e.to_string())?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match self.tls.read(&mut byte) {
                Ok(0) => return Err(format!("connection closed after {} bytes", head.len())),
                Ok(_) => head.push(byte[0]),
                Err(e) => return Err(e.to_string()),
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("not an HTTP answer: {head:?}"))?;
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .ok_or_else(|| format!("no Content-Length in {head:?}"))?;
        let mut body = vec![0u8; length];
        self.tls.read_exact(&mut body).map_err(|e| e.to_string())?;
        Ok(status)
    }
}

/// A TLS 1.2 handshake with `127.0.0.1:port` presenting `cert`/`key`: the server's verdict
/// on a client certificate arrives within a TLS 1.2 handshake (in TLS 1.3 it comes after
/// the client's last flight, racing the first request), so a refusal's alert is seen here.
pub fn tls12_handshake_with_client_cert(
    port: u16,
    ca_file: &Path,
    cert: &Path,
    key: &Path,
) -> Result<(), String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(ca_file).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let chain = vec![CertificateDer::from_pem_file(cert).map_err(|e| e.to_string())?];
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| e.to_string())?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name)
        .map_err(|e| e.to_string())?;
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| e.to_string())?;
    }
    Ok(())
}
