//! rustls and quinn configurations built from the identity: mutual TLS 1.3 with the
//! verifier of `verify.rs`, ALPN `dawn/1`, no session resumption.

use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls::crypto::CryptoProvider;
use rustls::server::NoServerSessionStorage;
use rustls::sign::{CertifiedKey, SingleCertAndKey};

use super::cert::{self, NodeCertificate};
use super::identity::Identity;
use super::node_id::NodeId;
use super::verify::{PeerVerifier, PresentedId};

/// The ALPN protocol id of Dawn's peer protocol; a peer speaking anything else is refused.
pub const ALPN: &[u8] = b"dawn/1";

/// The ALPN protocol id of a client (`dawn-node call`, tools): the same messages as
/// [`ALPN`], but the connection is served without becoming a peer, so a tool's call is
/// neither counted in `p2p_peers` nor gossiped.
pub const CLIENT_ALPN: &[u8] = b"dawn-client/1";

/// Why the TLS configuration could not be built (a bug or a broken crypto provider, never a
/// peer's doing).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The self-signed certificate could not be made.
    #[error("cannot create the node certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the key or the configuration.
    #[error("cannot configure TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The crypto provider lacks the cipher suite QUIC's initial packets need.
    #[error("cannot configure QUIC TLS: {0}")]
    Quic(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

/// Everything needed to make server and per-dial client configurations.
#[derive(Debug)]
pub(crate) struct TlsContext {
    provider: Arc<CryptoProvider>,
    certified: Arc<CertifiedKey>,
    transport: Arc<quinn::TransportConfig>,
}

impl TlsContext {
    /// Builds the certificate for `identity` and checks that rustls accepts it.
    pub(crate) fn new(
        identity: &Identity,
        transport: quinn::TransportConfig,
    ) -> Result<Self, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let NodeCertificate { cert, key } = cert::self_signed(identity)?;
        // `from_der` also checks that the key matches the certificate.
        let certified = CertifiedKey::from_der(vec![cert], key, &provider)?;
        Ok(Self::from_parts(provider, certified, transport))
    }

    /// A context presenting an arbitrary certificate/key pair. Tests use it to impersonate
    /// a node with its certificate but without its key.
    pub(crate) fn from_parts(
        provider: Arc<CryptoProvider>,
        certified: CertifiedKey,
        transport: quinn::TransportConfig,
    ) -> Self {
        Self {
            provider,
            certified: Arc::new(certified),
            transport: Arc::new(transport),
        }
    }

    /// The accepting side: a client certificate is mandatory and checked by [`PeerVerifier`].
    pub(crate) fn server_config(&self) -> Result<quinn::ServerConfig, TlsError> {
        let verifier = PeerVerifier::accepting(self.provider.signature_verification_algorithms);
        let mut tls = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(
                &self.certified,
            ))));
        tls.alpn_protocols = vec![ALPN.to_vec(), CLIENT_ALPN.to_vec()];
        // Every connection must prove possession of the key afresh: no resumption tickets.
        tls.session_storage = Arc::new(NoServerSessionStorage {});
        tls.send_tls13_tickets = 0;
        let mut config =
            quinn::ServerConfig::with_crypto(Arc::new(QuicServerConfig::try_from(tls)?));
        config.transport_config(Arc::clone(&self.transport));
        Ok(config)
    }

    /// The dialing side for one connection speaking `protocol` ([`ALPN`] or
    /// [`CLIENT_ALPN`]), expecting `expected` when known. The returned [`PresentedId`]
    /// tells, after a failed handshake, which node actually answered.
    pub(crate) fn client_config(
        &self,
        expected: Option<NodeId>,
        protocol: &[u8],
    ) -> Result<(quinn::ClientConfig, Arc<PresentedId>), TlsError> {
        let (verifier, presented) =
            PeerVerifier::dialing(self.provider.signature_verification_algorithms, expected);
        let mut tls = rustls::ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(
                &self.certified,
            ))));
        tls.alpn_protocols = vec![protocol.to_vec()];
        tls.resumption = rustls::client::Resumption::disabled();
        let mut config = quinn::ClientConfig::new(Arc::new(QuicClientConfig::try_from(tls)?));
        config.transport_config(Arc::clone(&self.transport));
        Ok((config, presented))
    }
}
