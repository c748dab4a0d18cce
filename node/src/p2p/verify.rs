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

/// What the server showed during one dial, so a failed dial can say which node answered
/// and whether it failed to prove its key.
#[derive(Debug, Default)]
pub(crate) struct PresentedId(Mutex<Presented>);

#[derive(Debug, Default, Clone, Copy)]
struct Presented {
    id: Option<NodeId>,
    bad_signature: bool,
}

impl PresentedId {
    /// The id from the server's certificate, once the handshake has read it.
    pub(crate) fn id(&self) -> Option<NodeId> {
        self.lock().id
    }

    /// Whether the server's handshake signature failed to verify with that id's key.
    pub(crate) fn bad_signature(&self) -> bool {
        self.lock().bad_signature
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Presented> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The verifier for both directions: as `ClientCertVerifier` on the accepting side (any
/// valid node may connect; admission is decided later with its id in hand), as
/// `ServerCertVerifier` on the dialing side (with the expected id, if known).
#[derive(Debug)]
pub(crate) struct PeerVerifier {
    algorithms: WebPkiSupportedAlgorithms,
    expected: Option<NodeId>,
    /// Set for one dial only; the accepting side's verifier is shared by all handshakes.
    presented: Option<Arc<PresentedId>>,
}

impl PeerVerifier {
    /// The accepting side's verifier, using `algorithms` (the crypto provider's) for the
    /// handshake signature.
    pub(crate) fn accepting(algorithms: WebPkiSupportedAlgorithms) -> Self {
        Self {
            algorithms,
            expected: None,
            presented: None,
        }
    }

    /// The verifier for one dial; the returned [`PresentedId`] tells afterwards, even after
    /// a failed handshake, which node answered.
    pub(crate) fn dialing(
        algorithms: WebPkiSupportedAlgorithms,
        expected: Option<NodeId>,
    ) -> (Self, Arc<PresentedId>) {
        let presented = Arc::new(PresentedId::default());
        let verifier = Self {
            algorithms,
            expected,
            presented: Some(Arc::clone(&presented)),
        };
        (verifier, presented)
    }

    fn record(&self, update: impl FnOnce(&mut Presented)) {
        if let Some(presented) = &self.presented {
            update(&mut presented.lock());
        }
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
        self.record(|p| p.id = Some(actual));
        match self.expected {
            Some(expected) if expected != actual => {
                Err(reject(CertError::IdMismatch { expected, actual }))
            }
            _ => Ok(actual),
        }
    }
}

/// Wraps our reason so it survives into the TLS error text and the alert sent to the peer.
fn reject(error: CertError) -> Error {
    Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(error))))
}

/// The handshake-signature methods, alike in both verifier traits (rustls declares them in
/// each): only Ed25519 under TLS 1.3, and a signature that fails to verify with the
/// certificate's key marks the peer as an impostor.
macro_rules! signature_methods {
    () => {
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
            if dss.scheme != SignatureScheme::ED25519 {
                return Err(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
            }
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms).map_err(
                |error| match node_id_from_cert(cert) {
                    Ok(claimed) => {
                        self.record(|p| p.bad_signature = true);
                        reject(CertError::BadSignature { claimed })
                    }
                    Err(_) => error,
                },
            )
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            vec![SignatureScheme::ED25519]
        }
    };
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

    signature_methods!();
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

    signature_methods!();
}
