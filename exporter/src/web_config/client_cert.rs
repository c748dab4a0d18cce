//! Client certificates for every exporter-toolkit `client_auth_type`, as Go's crypto/tls and
//! exporter-toolkit treat them:
//!
//! - the verifying policies chain the certificate to `client_ca_file`, or to the system's
//!   roots when no CA is given (Go's `ClientCAs == nil`);
//! - a certificate that is itself one of the trusted CA certificates is accepted as it stands
//!   (Go puts a leaf found in the root pool in a chain of its own; webpki refuses a CA
//!   certificate as an end entity, so that case is checked here: same bytes, in its validity
//!   period, usable for client authentication);
//! - `RequestClientCert` and `RequireAnyClientCert` take any certificate without a chain, but
//!   rustls still checks the handshake signature made with its key, so a client cannot
//!   present someone else's certificate;
//! - `client_allowed_sans`: after that, the certificate must carry one of the names.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use super::{ClientAuth, Problem};

/// The verifier behind every `client_auth_type` but `NoClientCert`.
#[derive(Debug)]
pub(super) struct ClientCerts {
    mandatory: bool,
    /// Chain verification, for the verifying policies; `None` there when no root is trusted
    /// at all (no system roots on this machine), which turns every certificate away.
    chain: Option<Arc<dyn ClientCertVerifier>>,
    verifies: bool,
    /// The trusted certificates themselves, for a CA certificate a client presents as its own.
    anchors: Vec<CertificateDer<'static>>,
    allowed_sans: Option<Vec<String>>,
    /// The CAs' names, sent to the client as hints (Go sends `ClientCAs`' subjects).
    hints: Vec<DistinguishedName>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The system's root certificates, as Go finds them when `ClientCAs` is unset.
fn system_roots() -> Vec<CertificateDer<'static>> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::warn!("system root certificates: {e}");
    }
    found.certs
}

impl ClientCerts {
    /// Builds the verifier for `auth`, with `ca_certs` read from its CA file (if any).
    pub(super) fn new(
        auth: &ClientAuth,
        ca_certs: Vec<CertificateDer<'static>>,
        provider: &Arc<CryptoProvider>,
    ) -> Result<ClientCerts, Problem> {
        let verifies = auth.policy.verifies();
        let from_file = auth.ca.is_some();
        let anchors = if from_file || !verifies {
            ca_certs
        } else {
            system_roots()
        };
        let mut roots = RootCertStore::empty();
        for cert in &anchors {
            // A system root webpki cannot use is skipped, as Go skips what it cannot parse.
            if let Err(e) = roots.add(cert.clone())
                && from_file
            {
                return Err(Problem::field(
                    "tls_server_config.client_ca_file",
                    format!("not a usable CA certificate: {e}"),
                ));
            }
        }
        let hints = if from_file {
            roots.subjects()
        } else {
            Vec::new()
        };
        let chain = if verifies && !roots.is_empty() {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
                    .allow_unauthenticated()
                    .build()
                    .map_err(|e| {
                        Problem::field("tls_server_config.client_ca_file", e.to_string())
                    })?;
            Some(verifier)
        } else {
            None
        };
        Ok(ClientCerts {
            mandatory: auth.policy.mandatory(),
            chain,
            verifies,
            anchors,
            allowed_sans: auth.allowed_sans.clone(),
            hints,
            algorithms: provider.signature_verification_algorithms,
        })
    }

    /// Whether `end_entity` is one of the trusted certificates, valid now and usable for
    /// client authentication (no extended key usage, or one that allows it).
    fn is_trusted_as_it_stands(&self, end_entity: &CertificateDer<'_>, now: UnixTime) -> bool {
        if !self
            .anchors
            .iter()
            .any(|a| a.as_ref() == end_entity.as_ref())
        {
            return false;
        }
        let Ok((_, cert)) = X509Certificate::from_der(end_entity.as_ref()) else {
            return false;
        };
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let validity = cert.validity();
        if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
            return false;
        }
        match cert.extended_key_usage() {
            Ok(None) => true,
            Ok(Some(eku)) => eku.value.any || eku.value.client_auth,
            Err(_) => false,
        }
    }
}

/// A certificate's subject alternative names as Go prints them: DNS names, e-mail
/// addresses, IP addresses and URIs.
pub(super) fn subject_alt_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, Error> {
    let bad = || Error::InvalidCertificate(CertificateError::BadEncoding);
    let (_, cert) = X509Certificate::from_der(cert.as_ref()).map_err(|_| bad())?;
    let Some(san) = cert.subject_alternative_name().map_err(|_| bad())? else {
        return Ok(Vec::new());
    };
    let mut names = Vec::new();
    for name in &san.value.general_names {
        match name {
            GeneralName::DNSName(s) | GeneralName::RFC822Name(s) | GeneralName::URI(s) => {
                names.push((*s).to_owned());
            }
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                    // Go prints an IPv4-mapped address in its IPv4 form.
                    _ => <[u8; 16]>::try_from(*bytes)
                        .map(|b| IpAddr::V6(Ipv6Addr::from(b)).to_canonical()),
                };
                names.push(ip.map_err(|_| bad())?.to_string());
            }
            _ => {}
        }
    }
    Ok(names)
}

impl ClientCertVerifier for ClientCerts {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        if self.verifies {
            let chained = match &self.chain {
                Some(chain) => chain
                    .verify_client_cert(end_entity, intermediates, now)
                    .map(|_| ()),
                None => Err(Error::InvalidCertificate(CertificateError::UnknownIssuer)),
            };
            if let Err(e) = chained
                && !self.is_trusted_as_it_stands(end_entity, now)
            {
                return Err(e);
            }
        } else {
            // Not verified, but it must at least be a certificate.
            X509Certificate::from_der(end_entity.as_ref())
                .map_err(|_| Error::InvalidCertificate(CertificateError::BadEncoding))?;
        }
        if let Some(allowed) = &self.allowed_sans {
            let names = subject_alt_names(end_entity)?;
            if !names.iter().any(|n| allowed.contains(n)) {
                // Go's failed VerifyPeerCertificate sends bad_certificate; so does this.
                return Err(Error::InvalidCertificate(CertificateError::NotValidForName));
            }
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
