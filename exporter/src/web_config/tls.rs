//! rustls configurations from [`TlsSettings`]: the server's, and the one `dawn-exporter
//! healthcheck` uses to reach its own exporter.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, NamedGroup, RootCertStore, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};

use super::{ClientAuth, Pem, Problem, TlsSettings, TlsVersion};

/// Go's curve names (what exporter-toolkit takes) and the groups rustls has for them.
const CURVES: &[(&str, NamedGroup)] = &[
    ("X25519", NamedGroup::X25519),
    ("CurveP256", NamedGroup::secp256r1),
    ("CurveP384", NamedGroup::secp384r1),
];

fn read(pem: &Pem) -> Result<Vec<u8>, Problem> {
    match pem {
        Pem::File(path) => std::fs::read(path).map_err(|source| Problem::Read {
            path: path.clone(),
            source,
        }),
        Pem::Inline(text) => Ok(text.as_bytes().to_vec()),
    }
}

fn describe(pem: &Pem) -> String {
    match pem {
        Pem::File(p) => p.display().to_string(),
        Pem::Inline(_) => "the inline PEM".to_owned(),
    }
}

fn certificates(pem: &Pem, field: &str) -> Result<Vec<CertificateDer<'static>>, Problem> {
    let bytes = read(pem)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Problem::field(
                format!("tls_server_config.{field}"),
                format!("{}: not PEM certificates: {e}", describe(pem)),
            )
        })?;
    if certs.is_empty() {
        return Err(Problem::field(
            format!("tls_server_config.{field}"),
            format!("{}: no CERTIFICATE block in it", describe(pem)),
        ));
    }
    Ok(certs)
}

fn private_key(pem: &Pem) -> Result<PrivateKeyDer<'static>, Problem> {
    let bytes = read(pem)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        Problem::field(
            "tls_server_config.key_file",
            format!("{}: no usable PEM private key: {e}", describe(pem)),
        )
    })
}

/// ring's provider narrowed to the configured cipher suites and curves.
fn provider(tls: &TlsSettings) -> Result<CryptoProvider, Problem> {
    let mut provider = rustls::crypto::ring::default_provider();
    if !tls.cipher_suites.is_empty() {
        // As in Go, the list governs TLS 1.2 only; TLS 1.3's suites are always offered.
        let tls12: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .copied()
            .collect();
        let mut chosen: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        for name in &tls.cipher_suites {
            let Some(suite) = tls12.iter().find(|s| format!("{:?}", s.suite()) == *name) else {
                let known: Vec<String> = tls12.iter().map(|s| format!("{:?}", s.suite())).collect();
                return Err(Problem::field(
                    "tls_server_config.cipher_suites",
                    format!(
                        "unknown or unsupported suite {name:?}; expected any of {}",
                        known.join(", ")
                    ),
                ));
            };
            chosen.push(*suite);
        }
        provider.cipher_suites = chosen;
    }
    if !tls.curve_preferences.is_empty() {
        let mut chosen = Vec::new();
        for name in &tls.curve_preferences {
            let group = CURVES
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, g)| provider.kx_groups.iter().find(|k| k.name() == *g));
            let Some(group) = group else {
                let known: Vec<&str> = CURVES.iter().map(|(n, _)| *n).collect();
                return Err(Problem::field(
                    "tls_server_config.curve_preferences",
                    format!(
                        "unknown or unsupported curve {name:?}; expected any of {}",
                        known.join(", ")
                    ),
                ));
            };
            chosen.push(*group);
        }
        provider.kx_groups = chosen;
    }
    Ok(provider)
}

fn versions(tls: &TlsSettings) -> Vec<&'static SupportedProtocolVersion> {
    [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (tls.min_version..=tls.max_version).contains(v))
    .map(|(_, p)| p)
    .collect()
}

fn client_verifier(
    ca: &Pem,
    provider: &Arc<CryptoProvider>,
    optional: bool,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, Problem> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca, "client_ca_file")? {
        roots.add(cert).map_err(|e| {
            Problem::field(
                "tls_server_config.client_ca_file",
                format!("{}: not a usable CA certificate: {e}", describe(ca)),
            )
        })?;
    }
    let builder =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider));
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map_err(|e| {
        Problem::field(
            "tls_server_config.client_ca_file",
            format!("{}: {e}", describe(ca)),
        )
    })
}

/// The server's TLS configuration, reading the certificate and key files now.
pub(super) fn server_config(tls: &TlsSettings, http2: bool) -> Result<Arc<ServerConfig>, Problem> {
    let provider = Arc::new(provider(tls)?);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(tls))?;
    let builder = match &tls.client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::VerifyIfGiven(ca) => {
            builder.with_client_cert_verifier(client_verifier(ca, &provider, true)?)
        }
        ClientAuth::Require(ca) => {
            builder.with_client_cert_verifier(client_verifier(ca, &provider, false)?)
        }
    };
    let chain = certificates(&tls.cert, "cert_file")?;
    let key = private_key(&tls.key)?;
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        Problem::field(
            "tls_server_config",
            format!(
                "certificate {} and key {} cannot be used together: {e}",
                describe(&tls.cert),
                describe(&tls.key)
            ),
        )
    })?;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

/// Accepts exactly the certificate the exporter serves, whatever names it carries: the
/// healthcheck talks to its own exporter on loopback, so pinning beats name checks.
#[derive(Debug)]
struct ServedCert {
    leaf: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ServedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.leaf.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "the server's certificate is not the one in the web config's cert_file".to_owned(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A client configuration that trusts only the certificate in `tls`'s `cert_file` (its
/// first, leaf certificate): for `dawn-exporter healthcheck` against its own exporter.
pub fn client_config_trusting_served_cert(tls: &TlsSettings) -> Result<ClientConfig, Problem> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let leaf = certificates(&tls.cert, "cert_file")?
        .into_iter()
        .next()
        .ok_or_else(|| Problem::field("tls_server_config.cert_file", "empty"))?;
    let verifier = ServedCert {
        leaf,
        algorithms: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(suites: &[&str], curves: &[&str]) -> TlsSettings {
        TlsSettings {
            cert: Pem::Inline(String::new()),
            key: Pem::Inline(String::new()),
            client_auth: ClientAuth::None,
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: suites.iter().map(|s| (*s).to_owned()).collect(),
            curve_preferences: curves.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn cipher_suites_and_curves_narrow_the_provider_in_the_given_order() {
        let p = provider(&settings(
            &[
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ],
            &["CurveP256", "X25519"],
        ))
        .unwrap();
        let tls12: Vec<String> = p
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| format!("{:?}", s.suite()))
            .collect();
        assert_eq!(
            tls12,
            [
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert!(
            p.cipher_suites.iter().any(|s| s.tls13().is_some()),
            "TLS 1.3 suites stay"
        );
        let groups: Vec<NamedGroup> = p.kx_groups.iter().map(|k| k.name()).collect();
        assert_eq!(groups, [NamedGroup::secp256r1, NamedGroup::X25519]);
    }

    #[test]
    fn unknown_suites_and_curves_are_named() {
        let e = provider(&settings(&["TLS_RSA_WITH_RC4_128_SHA"], &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cipher_suites: unknown or unsupported suite \"TLS_RSA_WITH_RC4_128_SHA\""),
            "{e}"
        );
        assert!(
            e.contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            "lists the choices: {e}"
        );
        let e = provider(&settings(&[], &["CurveP521"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("curve_preferences: unknown or unsupported curve \"CurveP521\""),
            "{e}"
        );
    }

    #[test]
    fn versions_follow_min_and_max() {
        let mut s = settings(&[], &[]);
        assert_eq!(versions(&s).len(), 2);
        s.min_version = TlsVersion::Tls13;
        assert_eq!(versions(&s), [&rustls::version::TLS13]);
    }
}
