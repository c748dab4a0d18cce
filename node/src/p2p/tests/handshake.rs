//! Real handshakes: mutual authentication, expected ids, forged certificates, ports in use.

use std::sync::Arc;

use rustls::sign::CertifiedKey;

use super::support::{endpoint, expect_err, identity, loopback};
use crate::p2p::cert::self_signed;
use crate::p2p::tls::TlsContext;
use crate::p2p::{
    Direction, Endpoint, Identity, PeerConnection, TransportError, TransportSettings,
};

/// Accepts one connection attempt on `server` and completes its handshake.
async fn accept_one(server: &Endpoint) -> Result<PeerConnection, TransportError> {
    let incoming = server.accept().await.expect("endpoint open");
    incoming.handshake().await
}

/// An endpoint that presents `victim`'s certificate but signs with `attacker`'s key: what a
/// node that copied someone else's certificate would do.
fn impostor(victim: &Identity, attacker: &Identity) -> Endpoint {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let stolen_cert = self_signed(victim).expect("victim cert").cert;
    let own_key = provider
        .key_provider
        .load_private_key(self_signed(attacker).expect("attacker cert").key)
        .expect("attacker key");
    // `CertifiedKey::new` skips the key/certificate consistency check on purpose here.
    let forged = CertifiedKey::new(vec![stolen_cert], own_key);
    let settings = TransportSettings::default();
    let transport = settings.quinn_transport().expect("transport");
    let tls = TlsContext::from_parts(provider, forged, transport);
    Endpoint::bind_with(
        loopback(),
        victim.node_id(),
        tls,
        settings,
        quinn::EndpointConfig::default(),
    )
    .expect("bind impostor")
}

#[tokio::test]
async fn mutual_authentication_gives_both_sides_the_right_id() {
    let (server_id, client_id) = (identity(), identity());
    let (server, client) = (endpoint(&server_id), endpoint(&client_id));

    let accepted = tokio::spawn({
        let server = server.clone();
        async move { accept_one(&server).await }
    });
    let dialed = client
        .connect(server.local_addr(), Some(server_id.node_id()))
        .await
        .expect("dial with the right expected id");
    let accepted = accepted.await.expect("task").expect("accept");

    assert_eq!(dialed.node_id(), server_id.node_id());
    assert_eq!(dialed.direction(), Direction::Outbound);
    assert_eq!(dialed.remote_addr(), server.local_addr());
    assert_eq!(accepted.node_id(), client_id.node_id());
    assert_eq!(accepted.direction(), Direction::Inbound);
    assert_eq!(accepted.remote_addr(), client.local_addr());

    // Without an expected id the dialer learns it from the handshake.
    let accepted = tokio::spawn({
        let server = server.clone();
        async move { accept_one(&server).await }
    });
    let learned = client
        .connect(server.local_addr(), None)
        .await
        .expect("dial without id");
    assert_eq!(learned.node_id(), server_id.node_id());
    accepted.await.expect("task").expect("accept");
}

#[tokio::test]
async fn wrong_expected_id_is_refused_naming_both_ids() {
    let (server_id, client_id, other) = (identity(), identity(), identity());
    let (server, client) = (endpoint(&server_id), endpoint(&client_id));

    let accepted = tokio::spawn({
        let server = server.clone();
        async move { accept_one(&server).await }
    });
    let error = expect_err(
        client
            .connect(server.local_addr(), Some(other.node_id()))
            .await,
    );
    match &error {
        TransportError::IdMismatch {
            addr,
            expected,
            actual,
        } => {
            assert_eq!(*addr, server.local_addr());
            assert_eq!(*expected, other.node_id());
            assert_eq!(*actual, server_id.node_id());
        }
        other => panic!("expected IdMismatch, got {other:?}"),
    }
    let text = error.to_string();
    assert!(text.contains(&other.node_id().to_string()), "{text}");
    assert!(text.contains(&server_id.node_id().to_string()), "{text}");
    // The server sees the client's refusal as a failed handshake, not a connection.
    let server_side = expect_err(accepted.await.expect("task"));
    assert!(
        matches!(server_side, TransportError::Handshake { .. }),
        "{server_side:?}"
    );
}

#[tokio::test]
async fn server_with_a_stolen_certificate_is_refused() {
    let (victim, attacker, client_id) = (identity(), identity(), identity());
    let server = impostor(&victim, &attacker);
    let client = endpoint(&client_id);

    for expected in [Some(victim.node_id()), None] {
        let accepted = tokio::spawn({
            let server = server.clone();
            async move { accept_one(&server).await }
        });
        // The certificate carries the victim's id, so the id check passes; the handshake
        // signature, made with the attacker's key, does not.
        let error = expect_err(client.connect(server.local_addr(), expected).await);
        assert!(
            matches!(error, TransportError::ForgedCertificate { claimed, .. } if claimed == victim.node_id()),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains(&victim.node_id().to_string()), "{text}");
        expect_err(accepted.await.expect("task"));
    }
}

#[tokio::test]
async fn client_with_a_stolen_certificate_is_refused() {
    let (victim, attacker, server_id) = (identity(), identity(), identity());
    let server = endpoint(&server_id);
    let client = impostor(&victim, &attacker);

    let accepted = tokio::spawn({
        let server = server.clone();
        async move { accept_one(&server).await }
    });
    // The client may see its handshake complete before the server checks its signature;
    // either way no authenticated connection may survive on the server.
    let dialed = client
        .connect(server.local_addr(), Some(server_id.node_id()))
        .await;
    let server_side = expect_err(accepted.await.expect("task"));
    let text = server_side.to_string();
    assert!(
        text.contains("handshake signature does not verify")
            && text.contains(&victim.node_id().to_string()),
        "{text}"
    );
    if let Ok(connection) = dialed {
        let reason = tokio::time::timeout(super::support::PATIENCE, connection.closed())
            .await
            .expect("the impostor's connection must be closed");
        assert_ne!(reason, crate::p2p::DisconnectReason::Local);
    }
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_error_naming_the_address() {
    let first = endpoint(&identity());
    let addr = first.local_addr();
    let error = Endpoint::bind(addr, &identity(), TransportSettings::default())
        .expect_err("second bind must fail");
    assert!(
        matches!(error, TransportError::AddressInUse { addr: a } if a == addr),
        "{error:?}"
    );
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
