//! The self-signed certificate made from the identity key, and reading a node id back out
//! of a peer's certificate.

use std::fmt;

use ed25519_dalek::Signer;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::identity::Identity;
use super::node_id::{NODE_ID_LEN, NodeId};

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) } followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The DNS name in our certificates and the SNI clients send. Nobody checks it (the key is
/// the identity), but TLS needs some valid name.
pub(crate) const CERT_SERVER_NAME: &str = "dawn-node";

/// Why a peer's certificate cannot identify a Dawn node.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    /// The certificate is not valid DER X.509.
    #[error("the certificate is not valid X.509: {0}")]
    Malformed(String),
    /// The certificate's key is not an Ed25519 key, so it cannot carry a node id.
    #[error("the certificate's key is not an Ed25519 key")]
    NotEd25519,
    /// The peer sent a chain; a Dawn node presents exactly one self-signed certificate.
    #[error("the peer sent {0} certificates; a Dawn node presents exactly one")]
    UnexpectedChain(usize),
    /// The certificate is valid but belongs to another node than the one expected.
    #[error("the peer is {actual}, not the expected {expected}")]
    IdMismatch {
        /// The id the dialer expected.
        expected: NodeId,
        /// The id in the certificate.
        actual: NodeId,
    },
    /// The handshake signature does not verify with the certificate's key: the peer shows
    /// a node's certificate without holding that node's key.
    #[error(
        "the peer presents the certificate of node {claimed} but its handshake signature does \
         not verify with that node's key"
    )]
    BadSignature {
        /// The id in the certificate.
        claimed: NodeId,
    },
}

/// Debug is the message: rustls prints this error with `{:?}` inside its own text (e.g.
/// "invalid peer certificate: Other(OtherError(..))"), and that text reaches the logs.
impl fmt::Debug for CertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// This node's certificate and matching private key, in the forms rustls takes.
pub(crate) struct NodeCertificate {
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) key: PrivateKeyDer<'static>,
}

/// Makes the self-signed certificate for `identity`.
///
/// It is rebuilt at every start (it is cheap, and nothing but the key matters). The
/// validity period is rcgen's default (1975–4096) because peers never check dates: trust
/// comes from the key, not from a CA or a clock.
pub(crate) fn self_signed(identity: &Identity) -> Result<NodeCertificate, rcgen::Error> {
    let mut params = rcgen::CertificateParams::new(vec![CERT_SERVER_NAME.to_owned()])?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, identity.node_id().to_string());
    let signer = DalekSigner(identity.signing_key());
    let cert = params.self_signed(&signer)?;
    let pkcs8 = identity
        .signing_key()
        .to_pkcs8_der()
        .map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
    Ok(NodeCertificate {
        cert: cert.der().clone(),
        key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec())),
    })
}

/// Reads the node id out of a certificate: the Ed25519 key in its SubjectPublicKeyInfo.
///
/// This only identifies the peer; that the peer holds the matching private key is proven
/// separately by the TLS handshake signature (see `verify.rs`).
pub(crate) fn node_id_from_cert(cert: &CertificateDer<'_>) -> Result<NodeId, CertError> {
    let parsed = rustls::server::ParsedCertificate::try_from(cert)
        .map_err(|e| CertError::Malformed(e.to_string()))?;
    let spki = parsed.subject_public_key_info();
    node_id_from_spki(spki.as_ref())
}

fn node_id_from_spki(spki: &[u8]) -> Result<NodeId, CertError> {
    let key = spki
        .strip_prefix(&ED25519_SPKI_PREFIX[..])
        .ok_or(CertError::NotEd25519)?;
    let bytes: [u8; NODE_ID_LEN] = key.try_into().map_err(|_| CertError::NotEd25519)?;
    Ok(NodeId::from_bytes(bytes))
}

/// Lets rcgen sign the certificate with the ed25519-dalek key directly, so the identity key
/// exists in one form only.
struct DalekSigner<'a>(&'a ed25519_dalek::SigningKey);

impl rcgen::PublicKeyData for DalekSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        // Explicitly the *public* key: `SigningKey::as_bytes` would be the secret.
        <ed25519_dalek::SigningKey as AsRef<ed25519_dalek::VerifyingKey>>::as_ref(self.0).as_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for DalekSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.0.sign(msg).to_bytes().to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_carries_the_node_id() {
        let identity = Identity::generate().unwrap();
        let made = self_signed(&identity).unwrap();
        assert_eq!(node_id_from_cert(&made.cert).unwrap(), identity.node_id());
    }

    #[test]
    fn non_ed25519_and_garbage_certificates_are_refused() {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let params = rcgen::CertificateParams::new(vec!["x".to_owned()]).unwrap();
        let ecdsa = params.self_signed(&pair).unwrap();
        assert_eq!(node_id_from_cert(ecdsa.der()), Err(CertError::NotEd25519));

        let garbage = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x02]);
        assert!(matches!(
            node_id_from_cert(&garbage),
            Err(CertError::Malformed(_))
        ));
        assert_eq!(
            node_id_from_spki(&ED25519_SPKI_PREFIX),
            Err(CertError::NotEd25519)
        );
    }
}
