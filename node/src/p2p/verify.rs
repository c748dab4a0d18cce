//! The TLS verification rule, the same on both sides of a connection.
//!
//! A peer is accepted when (1) it presents exactly one X.509 certificate whose key is
//! Ed25519, which gives its [`NodeId`]; (2) that id is the one the dialer expects, when it
//! expects one; (3) its TLS 1.3 `CertificateVerify` signature over the handshake transcript
//! verifies with that key, which proves it holds the private key. No CA, name or date is
//! checked: a Dawn identity *is* its key. A certificate copied from another node fails (3).

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, OtherError, PeerMisbehaved,
    SignatureScheme,
};

use super::cert::{CertError, node_id_from_cert};
use super::node_id::NodeId;

/// Records the id a server presented, so a failed dial can report which node answered.
#[derive(Debug, Default)]
pub(crate) struct PresentedId(Mutex<Option<NodeId>>);

impl PresentedId {
    /// The id from the server's certificate, once the handshake has read it.
    pub(crate) fn get(&self) -> Option<NodeId> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn set(&self, id: NodeId) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(id);
    }
}

/// The verifier for both directions: as `ClientCertVerifier` on the accepting side (any
/// valid node may connect; admission is decided later with its id in hand), as
/// `ServerCertVerifier` on the dialing side (with the expected id, if known).
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    expected: Option<NodeId>,
    presented: Arc<PresentedId>,
}

impl PeerVerifier {
    /// A verifier using `algorithms` (the crypto provider's) for the handshake signature.
    pub(crate) fn new(algorithms: WebPkiSupportedAlgorithms, expected: Option<NodeId>) -> Self {
        Self {
            algorithms,
            expected,
            presented: Arc::default(),
        }
    }

    /// Where the dialing side finds the server's id after the handshake, even a failed one.
    pub(crate) fn presented(&self) -> Arc<PresentedId> {
        Arc::clone(&self.presented)
    }

    fn check_certificate(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<NodeId, Error> {
        if !intermediates.is_empty() {
            return Err(reject(CertError::UnexpectedChain(intermediates.len() + 1)));
        }
        let actual = node_id_from_cert(end_entity).map_err(reject)?;
        self.presented.set(actual);
        match self.expected {
            Some(expected) if expected != actual => {
                Err(reject(CertError::IdMismatch { expected, actual }))
            }
            _ => Ok(actual),
        }
    }

    fn check_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        if dss.scheme != SignatureScheme::ED25519 {
            return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
        }
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }
}

/// Wraps our reason so it survives into the TLS error text and the alert sent to the peer.
fn reject(error: CertError) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
}

impl ServerCertVerifier for PeerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        self.check_certificate(end_entity, intermediates)?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        // QUIC is TLS 1.3 only; the configs never enable 1.2, so this is never reached.
        Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.check_certificate(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.check_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}
