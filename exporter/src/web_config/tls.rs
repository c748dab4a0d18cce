//! rustls configurations from [`TlsSettings`]: the server's, and the one `dawn-exporter
//! healthcheck` uses to reach its own exporter.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, NamedGroup, ServerConfig, SignatureScheme,
    SupportedProtocolVersion,
};

use super::client_cert::ClientCerts;
use super::{ClientCertPolicy, Pem, Problem, TlsSettings, TlsVersion};

/// Go's curve names (what exporter-toolkit takes) and the groups rustls has for them; `None`:
/// known to Go but not available here, with the reason.
const CURVES: &[(&str, Result<NamedGroup, &str>)] = &[
    ("X25519", Ok(NamedGroup::X25519)),
    ("CurveP256", Ok(NamedGroup::secp256r1)),
    ("CurveP384", Ok(NamedGroup::secp384r1)),
    (
        "CurveP521",
        Err("ring, the crypto provider of this build of rustls, implements no P-521"),
    ),
];

/// TLS 1.3's suites: Go takes their names in `cipher_suites` and ignores them (TLS 1.3's
/// suites cannot be configured there); so does Dawn.
const TLS13_SUITES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites in Go's list of secure ones that rustls does not implement, with the reason.
const MISSING_SUITES: &[(&str, &str)] = &[
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", NO_CBC),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", NO_CBC),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", NO_CBC),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", NO_CBC),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", NO_CBC),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", NO_CBC),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", NO_RSA_KX),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", NO_RSA_KX),
];
const NO_CBC: &str = "rustls implements no CBC cipher suites (open to padding-oracle attacks such as Lucky Thirteen)";
const NO_RSA_KX: &str = "rustls implements no RSA key exchange (it has no forward secrecy)";

/// The suites Go's HTTP/2 server insists on when a TLS 1.2 suite list is given.
const HTTP2_REQUIRED: &[&str] = &[
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
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

/// ring's provider narrowed to the configured cipher suites and curves. Names Go knows but
/// rustls lacks are left out and returned (to be logged) when others remain; a list left
/// with nothing usable is refused, saying why.
fn provider(tls: &TlsSettings) -> Result<(CryptoProvider, Vec<String>), Problem> {
    let mut provider = rustls::crypto::ring::default_provider();
    let mut left_out = Vec::new();
    let tls12_on = tls.min_version <= TlsVersion::Tls12;
    let tls12_names: Vec<&String> = tls
        .cipher_suites
        .iter()
        .filter(|n| !TLS13_SUITES.contains(&n.as_str()))
        .collect();
    if !tls12_names.is_empty() {
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
        let mut missing = Vec::new();
        for name in tls12_names {
            if let Some(suite) = tls12.iter().find(|s| format!("{:?}", s.suite()) == *name) {
                chosen.push(*suite);
            } else if let Some((_, why)) = MISSING_SUITES.iter().find(|(n, _)| n == name) {
                missing.push(format!("{name} is not supported, because {why}"));
            } else {
                let known: Vec<String> = tls12.iter().map(|s| format!("{:?}", s.suite())).collect();
                return Err(Problem::field(
                    "tls_server_config.cipher_suites",
                    format!(
                        "unknown cipher {name:?}; expected any of {} (TLS 1.3's suites are always on)",
                        known.join(", ")
                    ),
                ));
            }
        }
        if tls12_on && chosen.iter().all(|s| s.tls13().is_some()) {
            return Err(Problem::field(
                "tls_server_config.cipher_suites",
                format!("no usable TLS 1.2 suite left: {}", missing.join("; ")),
            ));
        }
        left_out.extend(
            missing
                .into_iter()
                .map(|m| format!("tls_server_config.cipher_suites: {m}; left out")),
        );
        provider.cipher_suites = chosen;
    }
    if !tls.curve_preferences.is_empty() {
        let mut chosen = Vec::new();
        let mut missing = Vec::new();
        for name in &tls.curve_preferences {
            match CURVES.iter().find(|(n, _)| n == name) {
                Some((_, Ok(group))) => {
                    if let Some(kx) = provider.kx_groups.iter().find(|k| k.name() == *group) {
                        chosen.push(*kx);
                    }
                }
                Some((_, Err(why))) => {
                    missing.push(format!("{name} is not supported, because {why}"));
                }
                None => {
                    let known: Vec<&str> = CURVES.iter().map(|(n, _)| *n).collect();
                    return Err(Problem::field(
                        "tls_server_config.curve_preferences",
                        format!(
                            "unknown curve {name:?}; expected any of {}",
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        if chosen.is_empty() {
            return Err(Problem::field(
                "tls_server_config.curve_preferences",
                format!("no usable curve left: {}", missing.join("; ")),
            ));
        }
        left_out.extend(
            missing
                .into_iter()
                .map(|m| format!("tls_server_config.curve_preferences: {m}; left out")),
        );
        provider.kx_groups = chosen;
    }
    Ok((provider, left_out))
}

/// Go's HTTP/2 server refuses to start with a TLS 1.2 suite list that lacks the suite HTTP/2
/// requires (RFC 7540, 9.2.2); exporter-toolkit's tests expect that refusal, so Dawn makes it.
fn check_http2_suites(tls: &TlsSettings, http2: bool) -> Result<(), Problem> {
    let listed = tls
        .cipher_suites
        .iter()
        .any(|n| !TLS13_SUITES.contains(&n.as_str()));
    if !http2 || !listed || tls.min_version > TlsVersion::Tls12 {
        return Ok(());
    }
    if tls
        .cipher_suites
        .iter()
        .any(|n| HTTP2_REQUIRED.contains(&n.as_str()))
    {
        return Ok(());
    }
    Err(Problem::field(
        "tls_server_config.cipher_suites",
        format!(
            "TLSConfig.CipherSuites is missing an HTTP/2-required suite: with http_server_config.http2 on (the default), list {} (RFC 7540, 9.2.2), or set http2: false",
            HTTP2_REQUIRED.join(" or ")
        ),
    ))
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

/// The server's TLS configuration, reading the certificate and key files now, with the
/// configured names that were left out (known to Go, missing in rustls) to be logged.
pub(super) fn server_config(
    tls: &TlsSettings,
    http2: bool,
) -> Result<(Arc<ServerConfig>, Vec<String>), Problem> {
    let (provider, left_out) = provider(tls)?;
    check_http2_suites(tls, http2)?;
    let provider = Arc::new(provider);
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions(tls))?;
    let builder = if tls.client_auth.policy == ClientCertPolicy::NoClientCert {
        builder.with_no_client_auth()
    } else {
        let ca_certs = match &tls.client_auth.ca {
            Some(ca) => certificates(ca, "client_ca_file")?,
            None => Vec::new(),
        };
        let verifier = ClientCerts::new(&tls.client_auth, ca_certs, &provider)?;
        builder.with_client_cert_verifier(Arc::new(verifier))
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
    // rustls follows the client's order unless told otherwise; Go's default is the server's.
    config.ignore_client_order = tls.prefer_server_cipher_suites;
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok((Arc::new(config), left_out))
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
    use crate::web_config::ClientAuth;

    fn settings(suites: &[&str], curves: &[&str]) -> TlsSettings {
        TlsSettings {
            cert: Pem::Inline(String::new()),
            key: Pem::Inline(String::new()),
            client_auth: ClientAuth {
                policy: ClientCertPolicy::NoClientCert,
                ca: None,
                allowed_sans: None,
            },
            min_version: TlsVersion::Tls12,
            max_version: TlsVersion::Tls13,
            cipher_suites: suites.iter().map(|s| (*s).to_owned()).collect(),
            curve_preferences: curves.iter().map(|s| (*s).to_owned()).collect(),
            prefer_server_cipher_suites: true,
        }
    }

    fn tls12_names(p: &CryptoProvider) -> Vec<String> {
        p.cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    #[test]
    fn cipher_suites_and_curves_narrow_the_provider_in_the_given_order() {
        let (p, left_out) = provider(&settings(
            &[
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_AES_128_GCM_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ],
            &["CurveP256", "X25519"],
        ))
        .unwrap();
        assert!(left_out.is_empty(), "{left_out:?}");
        assert_eq!(
            tls12_names(&p),
            [
                "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"
            ]
        );
        assert_eq!(
            p.cipher_suites
                .iter()
                .filter(|s| s.tls13().is_some())
                .count(),
            3,
            "TLS 1.3 suites stay, all of them"
        );
        let groups: Vec<NamedGroup> = p.kx_groups.iter().map(|k| k.name()).collect();
        assert_eq!(groups, [NamedGroup::secp256r1, NamedGroup::X25519]);
    }

    #[test]
    fn tls13_suite_names_alone_leave_the_tls12_defaults() {
        let (p, left_out) = provider(&settings(
            &["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"],
            &[],
        ))
        .unwrap();
        assert!(left_out.is_empty());
        assert_eq!(
            tls12_names(&p).len(),
            rustls::crypto::ring::default_provider()
                .cipher_suites
                .iter()
                .filter(|s| s.tls13().is_none())
                .count()
        );
    }

    /// exporter-toolkit's `web_config_noAuth_allCiphers.good.yml` and `allCurves` lists: Go's
    /// CBC suites and P-521 are left out (and named), the rest is used.
    #[test]
    fn names_go_knows_but_rustls_lacks_are_left_out_with_the_reason() {
        let (p, left_out) = provider(&settings(
            &[
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
                "TLS_RSA_WITH_AES_128_GCM_SHA256",
            ],
            &["CurveP256", "CurveP384", "CurveP521", "X25519"],
        ))
        .unwrap();
        assert_eq!(tls12_names(&p), ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"]);
        assert_eq!(p.kx_groups.len(), 3);
        let all = left_out.join("\n");
        assert!(
            all.contains(
                "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is not supported, because rustls implements no CBC cipher suites"
            ),
            "{all}"
        );
        assert!(
            all.contains("TLS_RSA_WITH_AES_128_GCM_SHA256 is not supported, because rustls implements no RSA key exchange"),
            "{all}"
        );
        assert!(
            all.contains("CurveP521 is not supported, because ring"),
            "{all}"
        );
    }

    #[test]
    fn unknown_or_wholly_unsupported_suites_and_curves_are_refused_by_name() {
        let e = provider(&settings(&["TLS_RSA_WITH_RC4_128_SHA"], &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cipher_suites: unknown cipher \"TLS_RSA_WITH_RC4_128_SHA\""),
            "{e}"
        );
        assert!(
            e.contains("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
            "lists the choices: {e}"
        );
        let e = provider(&settings(&["TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"], &[]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no usable TLS 1.2 suite left: TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA is not supported, because rustls implements no CBC"),
            "{e}"
        );
        let e = provider(&settings(&[], &["CurveP521"]))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(
                "curve_preferences: no usable curve left: CurveP521 is not supported, because ring"
            ),
            "{e}"
        );
        let e = provider(&settings(&[], &["CurveP257"]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown curve \"CurveP257\""), "{e}");
    }

    #[test]
    fn http2_needs_its_suite_in_a_tls12_list() {
        let mut s = settings(&["TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"], &[]);
        let e = check_http2_suites(&s, true).unwrap_err().to_string();
        assert!(e.contains("missing an HTTP/2-required suite"), "{e}");
        assert!(check_http2_suites(&s, false).is_ok());
        s.min_version = TlsVersion::Tls13;
        assert!(check_http2_suites(&s, true).is_ok());
        let s = settings(&["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"], &[]);
        assert!(check_http2_suites(&s, true).is_ok());
        let s = settings(&["TLS_AES_128_GCM_SHA256"], &[]);
        assert!(check_http2_suites(&s, true).is_ok());
    }

    #[test]
    fn versions_follow_min_and_max() {
        let mut s = settings(&[], &[]);
        assert_eq!(versions(&s).len(), 2);
        s.min_version = TlsVersion::Tls13;
        assert_eq!(versions(&s), [&rustls::version::TLS13]);
    }
}
