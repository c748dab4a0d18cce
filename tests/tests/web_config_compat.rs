//! exporter-toolkit compatibility, case by case: each configuration of exporter-toolkit's
//! `web/testdata` (its `TestYAMLFiles` and `TestServerBehaviour` tables), rewritten here with
//! certificates made at test time (rcgen; the RSA server key by `openssl`, which ring cannot
//! make), with the outcome exporter-toolkit's tests expect, or the documented difference
//! (docs/exporter.md, "exporter-toolkit compatibility").
//!
//! A configuration either loads or is refused with the expected words; a loaded one is served
//! to a rustls client per case (TLS version, cipher suites in order, curve, client
//! certificate), in memory, through the very `ServerConfig` the exporter serves with.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use dawn_exporter::ExporterMetrics;
use dawn_exporter::web_config::{LiveWebConfig, WebConfig};
use dawn_tests::support::harness;
use dawn_tests::support::process::temp_dir;
use dawn_tests::support::tools::OPENSSL;
use dawn_tests::trial;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    CipherSuite, ClientConfig, ClientConnection, NamedGroup, RootCertStore, ServerConfig,
    ServerConnection, SupportedProtocolVersion,
};

fn main() -> ExitCode {
    harness::main(vec![
        trial!(every_testdata_configuration_loads_or_is_refused_as_expected).needs(OPENSSL),
        trial!(loaded_configurations_answer_each_client_as_exporter_toolkit_expects).needs(OPENSSL),
    ])
}

/// The certificates of exporter-toolkit's testdata, made anew: `server.crt` (RSA, for
/// `localhost`, signed by `ca.pem`), `client_selfsigned` (self-signed, CA:TRUE, client auth,
/// no SAN), `client2_selfsigned` (the same with SAN DNS `test3`), and `stranger` (a client
/// certificate from a CA the server does not know).
struct Fixtures {
    dir: PathBuf,
    ca: CertificateDer<'static>,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write fixture");
    p
}

fn self_signed_client(dir: &Path, name: &str, cn: &str, sans: &[&str]) {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names = sans
        .iter()
        .map(|s| SanType::DnsName((*s).try_into().expect("dns name")))
        .collect();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("self-signed");
    write(dir, &format!("{name}.pem"), &cert.pem());
    write(dir, &format!("{name}.key"), &key.serialize_pem());
}

impl Fixtures {
    #[track_caller]
    fn make(dir: &Path) -> Fixtures {
        let openssl = OPENSSL.path();
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "compat CA");
        let ca =
            CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA");
        write(dir, "ca.pem", &ca.pem());

        // ring signs with RSA keys but cannot make one.
        let key_path = dir.join("server.key");
        let out = std::process::Command::new(&openssl)
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&key_path)
            .output()
            .expect("run openssl");
        assert!(out.status.success(), "openssl genpkey: {out:?}");
        let key_pem = std::fs::read_to_string(&key_path).expect("read RSA key");
        let key = KeyPair::from_pem(&key_pem).expect("RSA key for rcgen");
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let cert = params.signed_by(&key, &ca).expect("server certificate");
        write(dir, "server.crt", &cert.pem());

        self_signed_client(dir, "client_selfsigned", "test", &[]);
        self_signed_client(dir, "client2_selfsigned", "test3", &["test3"]);

        // Not in exporter-toolkit's testdata: the other kinds of SAN Go matches.
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![
            SanType::IpAddress("10.1.2.3".parse().expect("ip")),
            // IPv4-mapped: Go prints it as 10.9.8.7.
            SanType::IpAddress("::ffff:10.9.8.7".parse().expect("ip")),
            SanType::URI("spiffe://dawn/scraper".try_into().expect("uri")),
            SanType::Rfc822Name("scraper@dawn.example".try_into().expect("email")),
        ];
        params
            .distinguished_name
            .push(DnType::CommonName, "san kinds");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("self-signed");
        write(dir, "client_san_kinds.pem", &cert.pem());
        write(dir, "client_san_kinds.key", &key.serialize_pem());

        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "unknown CA");
        let other_ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key"))
            .expect("other CA");
        let mut params = CertificateParams::new(vec!["stranger".to_owned()]).expect("params");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &other_ca).expect("stranger");
        write(dir, "stranger.pem", &cert.pem());
        write(dir, "stranger.key", &key.serialize_pem());

        Fixtures {
            dir: dir.to_owned(),
            ca: CertificateDer::from_pem_slice(ca.pem().as_bytes()).expect("CA DER"),
        }
    }

    fn indented(&self, file: &str) -> String {
        let text = std::fs::read_to_string(self.dir.join(file)).expect("read fixture");
        text.lines().map(|l| format!("    {l}\n")).collect()
    }

    /// exporter-toolkit's testdata configurations, same names, same keys (inline PEM where
    /// they inline it).
    fn configs(&self) -> Vec<(&'static str, String)> {
        let tls = "tls_server_config:\n  cert_file: \"server.crt\"\n  key_file: \"server.key\"\n";
        let verify = format!("{tls}  client_auth_type: \"VerifyClientCertIfGiven\"\n");
        let users = "basic_auth_users:\n  alice: $2y$12$1DpfPeqF9HzHJt.EWswy1exHluGfbhnn3yXhR7Xes6m3WJqFg0Wby\n  bob: $2y$18$4VeFDzXIoPHKnKTU3O3GH.N.vZu06CVqczYZ8WvfzrddFU6tGqjR.\n  carol: $2y$10$qRTBuFoULoYNA7AQ/F3ck.trZBPyjV64.oA4ZsSBCIWvXuvQlQTuu\n  dave: $2y$10$2UXri9cIDdgeKjBo4Rlpx.U3ZLDV8X1IxKmsfOvhcM5oXQt/mLmXq\n";
        vec![
            ("tls_config_noAuth.requireandverifyclientcert.good.yml", format!("{tls}  client_auth_type: \"RequireAndVerifyClientCert\"\n  client_ca_file: \"client_selfsigned.pem\"\n")),
            ("tls_config_noAuth.requireanyclientcert.good.yml", format!("{tls}  client_auth_type: \"RequireAnyClientCert\"\n")),
            ("tls_config_noAuth.requireanyclientcertkeyinline.good.yml", format!("tls_server_config:\n  cert_file: \"server.crt\"\n  key: |\n{}  client_auth_type: \"RequireAnyClientCert\"\n", self.indented("server.key"))),
            ("web_config_auth_clientCAs_invalid.bad.yml", format!("{tls}  client_ca_file: \"somefile\"\n")),
            ("web_config_auth_clientCAs_missing.bad.yml", format!("{tls}  client_auth_type: \"RequireAndVerifyClientCert\"\n")),
            ("web_config_auth_client_san.bad.yaml", format!("{tls}  client_auth_type: \"RequireAndVerifyClientCert\"\n  client_ca_file: \"client2_selfsigned.pem\"\n  client_allowed_sans:\n    - \"bad\"\n")),
            ("web_config_auth_client_san.good.yaml", format!("{tls}  client_auth_type: \"RequireAndVerifyClientCert\"\n  client_ca_file: \"client2_selfsigned.pem\"\n  client_allowed_sans:\n    - \"one\"\n    - \"test3\"\n    - \"two\"\n")),
            ("web_config_auth_user_list_invalid.bad.yml", format!("{tls}basic_auth_users:\n  john: doe\n")),
            ("web_config_empty.yml", String::new()),
            ("web_config_headers.good.yml", "http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=31536000; includeSubDomains\n    X-Content-Type-Options: nosniff\n    X-XSS-Protection: 1\n    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n".to_owned()),
            ("web_config_headers_content_type_options.bad.yml", "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n".to_owned()),
            ("web_config_headers_extra_header.bad.yml", "http_server_config:\n  headers:\n    Content-Type: foo\n".to_owned()),
            ("web_config_headers_frame_options.bad.yml", "http_server_config:\n  headers:\n    X-Frame-Options: foo\n".to_owned()),
            ("web_config_junk.yml", "hWkNKCp3fvIx3jKnsaBI\nTuEjdwNS8A2vYdFbiKqr\nay3RiOtykgt4m6m3KOol\n".to_owned()),
            ("web_config_junk_key.yml", "tls_server_config:\n  cert_filse: \"server.crt\"\n".to_owned()),
            ("web_config_noAuth.bad.yml", format!("{tls}  client_ca_file: \"/dev/null\"\n")),
            ("web_config_noAuth.good.blocking.yml", format!("{tls}  client_auth_type: \"RequireAndVerifyClientCert\"\n")),
            ("web_config_noAuth.good.yml", verify.clone()),
            ("web_config_noAuth_allCiphers.good.yml", format!("{verify}  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n  - TLS_AES_128_GCM_SHA256\n  - TLS_AES_256_GCM_SHA384\n  - TLS_CHACHA20_POLY1305_SHA256\n  - TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA\n  - TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA\n  - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n  - TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA\n")),
            ("web_config_noAuth_allCurves.good.yml", format!("{verify}  curve_preferences:\n    - CurveP256\n    - CurveP384\n    - CurveP521\n    - X25519\n")),
            ("web_config_noAuth_certPath_empty.bad.yml", "tls_server_config:\n  cert_file: \"\"\n  key_file: \"server.key\"\n".to_owned()),
            ("web_config_noAuth_certPath_invalid.bad.yml", "tls_server_config:\n  cert_file: \"somefile\"\n  key_file: \"server.key\"\n".to_owned()),
            ("web_config_noAuth_certPath_keyPath_empty.bad.yml", "tls_server_config:\n  cert_file: \"\"\n  key_file: \"\"\n  client_auth_type: \"x\"\n".to_owned()),
            ("web_config_noAuth_certPath_keyPath_invalid.bad.yml", "tls_server_config:\n  cert_file: \"somefile\"\n  key_file: \"somefile\"\n".to_owned()),
            ("web_config_noAuth_cert_empty.bad.yml", "tls_server_config:\n  cert: \"\"\n  key_file: \"server.key\"\n".to_owned()),
            ("web_config_noAuth_inventedCiphers.bad.yml", format!("{verify}  cipher_suites:\n  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\n")),
            ("web_config_noAuth_inventedCurves.bad.yml", format!("{verify}  curve_preferences:\n    - CurveP257\n")),
            ("web_config_noAuth_keyPath_empty.bad.yml", "tls_server_config:\n  cert_file: \"server.crt\"\n  key_file: \"\"\n".to_owned()),
            ("web_config_noAuth_keyPath_invalid.bad.yml", "tls_server_config:\n  cert_file: \"server.cert\"\n  key_file: \"somefile\"\n".to_owned()),
            ("web_config_noAuth_key_empty.bad.yml", "tls_server_config:\n  cert_file: \"server.crt\"\n  key: \"\"\n".to_owned()),
            ("web_config_noAuth_noHTTP2.good.yml", format!("{verify}  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\nhttp_server_config:\n  http2: false\n")),
            ("web_config_noAuth_noHTTP2Cipher.bad.yml", format!("{verify}  cipher_suites:\n    - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n")),
            ("web_config_noAuth_someCiphers.good.yml", format!("{verify}  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  min_version: TLS12\n  max_version: TLS12\n")),
            ("web_config_noAuth_someCiphers_noOrder.good.yml", format!("{verify}  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  prefer_server_cipher_suites: false\n  min_version: TLS12\n  max_version: TLS12\n")),
            ("web_config_noAuth_someCurves.good.yml", format!("{verify}  min_version: TLS13\n  curve_preferences:\n  - CurveP521\n")),
            ("web_config_noAuth_tlsInline.good.yml", format!("tls_server_config:\n  cert: |\n{}  key: |\n{}  client_auth_type: \"VerifyClientCertIfGiven\"\n", self.indented("server.crt"), self.indented("server.key"))),
            ("web_config_noAuth_wrongTLSVersion.bad.yml", format!("{verify}  min_version: TLS111\n")),
            ("web_config_rate_limiter_nonblocking.yaml", "rate_limit:\n  interval: 0\n  burst: 0\n".to_owned()),
            ("web_config_rate_limiter_one_second.yaml", "rate_limit:\n  interval: \"1s\"\n  burst: 0\n".to_owned()),
            ("web_config_users.good.yml", format!("{tls}{users}")),
            ("web_config_users_noTLS.good.yml", users.to_owned()),
        ]
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// What loading a configuration must give: `Ok(())`, or refusal with these words.
type Expected = Result<(), &'static str>;

/// Each testdata configuration and its outcome in exporter-toolkit's tests (the words of
/// Dawn's message where exporter-toolkit's differ); the documented differences are marked.
const LOAD: &[(&str, Expected)] = &[
    (
        "tls_config_noAuth.requireandverifyclientcert.good.yml",
        Ok(()),
    ),
    ("tls_config_noAuth.requireanyclientcert.good.yml", Ok(())),
    (
        "tls_config_noAuth.requireanyclientcertkeyinline.good.yml",
        Ok(()),
    ),
    // exporter-toolkit reads the CA file first ("no such file"); Dawn names the missing policy
    // first. Refused in both.
    (
        "web_config_auth_clientCAs_invalid.bad.yml",
        Err("configured without a Client Auth Policy"),
    ),
    // Not in exporter-toolkit's tables; it loads there (system roots), and here.
    ("web_config_auth_clientCAs_missing.bad.yml", Ok(())),
    ("web_config_auth_client_san.bad.yaml", Ok(())),
    ("web_config_auth_client_san.good.yaml", Ok(())),
    (
        "web_config_auth_user_list_invalid.bad.yml",
        Err("basic_auth_users.john: not a bcrypt hash"),
    ),
    ("web_config_empty.yml", Ok(())),
    ("web_config_headers.good.yml", Ok(())),
    (
        "web_config_headers_content_type_options.bad.yml",
        Err("\"sniff\" is not accepted; expected nosniff"),
    ),
    (
        "web_config_headers_extra_header.bad.yml",
        Err("headers.Content-Type: not a header that can be set"),
    ),
    (
        "web_config_headers_frame_options.bad.yml",
        Err("\"foo\" is not accepted; expected deny or sameorigin"),
    ),
    ("web_config_junk.yml", Err("invalid type")),
    ("web_config_junk_key.yml", Err("unknown field `cert_filse`")),
    (
        "web_config_noAuth.bad.yml",
        Err("configured without a Client Auth Policy"),
    ),
    ("web_config_noAuth.good.blocking.yml", Ok(())),
    ("web_config_noAuth.good.yml", Ok(())),
    ("web_config_noAuth_allCiphers.good.yml", Ok(())),
    ("web_config_noAuth_allCurves.good.yml", Ok(())),
    (
        "web_config_noAuth_certPath_empty.bad.yml",
        Err("tls_server_config.cert_file: missing"),
    ),
    (
        "web_config_noAuth_certPath_invalid.bad.yml",
        Err("No such file"),
    ),
    (
        "web_config_noAuth_certPath_keyPath_empty.bad.yml",
        Err("tls_server_config.cert_file: missing"),
    ),
    (
        "web_config_noAuth_certPath_keyPath_invalid.bad.yml",
        Err("No such file"),
    ),
    (
        "web_config_noAuth_cert_empty.bad.yml",
        Err("tls_server_config.cert_file: missing"),
    ),
    (
        "web_config_noAuth_inventedCiphers.bad.yml",
        Err("unknown cipher \"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA2048\""),
    ),
    (
        "web_config_noAuth_inventedCurves.bad.yml",
        Err("unknown curve \"CurveP257\""),
    ),
    (
        "web_config_noAuth_keyPath_empty.bad.yml",
        Err("tls_server_config.key_file: missing"),
    ),
    (
        "web_config_noAuth_keyPath_invalid.bad.yml",
        Err("No such file"),
    ),
    (
        "web_config_noAuth_key_empty.bad.yml",
        Err("tls_server_config.key_file: missing"),
    ),
    ("web_config_noAuth_noHTTP2.good.yml", Ok(())),
    (
        "web_config_noAuth_noHTTP2Cipher.bad.yml",
        Err("missing an HTTP/2-required suite"),
    ),
    ("web_config_noAuth_someCiphers.good.yml", Ok(())),
    ("web_config_noAuth_someCiphers_noOrder.good.yml", Ok(())),
    // Documented difference: ring has no P-521, and it is the only curve listed.
    (
        "web_config_noAuth_someCurves.good.yml",
        Err("CurveP521 is not supported, because ring"),
    ),
    ("web_config_noAuth_tlsInline.good.yml", Ok(())),
    (
        "web_config_noAuth_wrongTLSVersion.bad.yml",
        Err("unknown TLS version \"TLS111\""),
    ),
    ("web_config_rate_limiter_nonblocking.yaml", Ok(())),
    ("web_config_rate_limiter_one_second.yaml", Ok(())),
    ("web_config_users.good.yml", Ok(())),
    ("web_config_users_noTLS.good.yml", Ok(())),
];

fn load(path: &Path) -> Result<LiveWebConfig, String> {
    let config = WebConfig::load(path).map_err(|e| e.to_string())?;
    LiveWebConfig::new(config, Arc::new(ExporterMetrics::new())).map_err(|e| e.to_string())
}

fn every_testdata_configuration_loads_or_is_refused_as_expected() {
    let dir = temp_dir();
    let fx = Fixtures::make(dir.path());
    let configs = fx.configs();
    assert_eq!(
        configs.len(),
        LOAD.len(),
        "one expectation per configuration"
    );
    for (name, text) in &configs {
        write(&fx.dir, name, text);
    }
    let mut wrong = Vec::new();
    for (name, expected) in LOAD {
        let got = load(&fx.path(name)).map(|_| ());
        let ok = match (expected, &got) {
            (Ok(()), Ok(())) => true,
            (Err(words), Err(message)) => message.contains(words),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{name}: expected {expected:?}, got {got:?}"));
        }
    }
    // exporter-toolkit's first case: a config path that does not exist.
    let missing = load(&fx.path("somefile")).map(|_| ());
    if !missing.as_ref().is_err_and(|e| e.contains("No such file")) {
        wrong.push(format!("somefile: {missing:?}"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// A client: TLS versions, TLS 1.2 suites in its order (empty: all), key-exchange groups
/// (empty: all), and the certificate it presents.
#[derive(Default)]
struct Client {
    versions: Option<&'static [&'static SupportedProtocolVersion]>,
    suites: &'static [CipherSuite],
    groups: &'static [NamedGroup],
    cert: Option<&'static str>,
}

/// What a handshake came to: the suite and group, or the server's (or client's) error.
type Outcome = Result<(CipherSuite, Option<NamedGroup>), String>;

fn client_config(fx: &Fixtures, c: &Client) -> Arc<ClientConfig> {
    let mut provider: CryptoProvider = rustls::crypto::ring::default_provider();
    if !c.suites.is_empty() {
        let mut chosen: Vec<_> = provider
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_some())
            .copied()
            .collect();
        for want in c.suites {
            let s = provider
                .cipher_suites
                .iter()
                .find(|s| s.suite() == *want)
                .expect("ring has the suite");
            chosen.push(*s);
        }
        provider.cipher_suites = chosen;
    }
    if !c.groups.is_empty() {
        provider.kx_groups = c
            .groups
            .iter()
            .map(|g| {
                *provider
                    .kx_groups
                    .iter()
                    .find(|k| k.name() == *g)
                    .expect("ring has the group")
            })
            .collect();
    }
    let mut roots = RootCertStore::empty();
    roots.add(fx.ca.clone()).expect("CA root");
    let builder = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(c.versions.unwrap_or(rustls::ALL_VERSIONS))
        .expect("versions")
        .with_root_certificates(roots);
    let config = match c.cert {
        None => builder.with_no_client_auth(),
        Some(name) => {
            let chain =
                vec![CertificateDer::from_pem_file(fx.path(&format!("{name}.pem"))).expect("cert")];
            let key = PrivateKeyDer::from_pem_file(fx.path(&format!("{name}.key"))).expect("key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
    };
    Arc::new(config)
}

/// Runs a handshake in memory, to the end: the client's first application data is read by
/// the server, so a TLS 1.3 client certificate the server refuses after the client thinks
/// it is done still shows.
fn handshake(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Outcome {
    let name = ServerName::try_from("localhost").expect("name");
    let mut c = ClientConnection::new(client, name).map_err(|e| format!("client: {e}"))?;
    let mut s = ServerConnection::new(server).map_err(|e| format!("server: {e}"))?;
    std::io::Write::write_all(&mut c.writer(), b"GET / HTTP/1.1\r\n\r\n").expect("buffer");
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).expect("client writes");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            s.read_tls(&mut rd).expect("server reads");
            if let Err(e) = s.process_new_packets() {
                return Err(format!("server: {e}"));
            }
        }
        let mut plain = [0u8; 64];
        if !s.is_handshaking()
            && std::io::Read::read(&mut s.reader(), &mut plain).is_ok_and(|n| n > 0)
        {
            let suite = s.negotiated_cipher_suite().expect("suite").suite();
            let group = s.negotiated_key_exchange_group().map(|g| g.name());
            return Ok((suite, group));
        }
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).expect("server writes");
        }
        let mut rd = &buf[..];
        while !rd.is_empty() {
            c.read_tls(&mut rd).expect("client reads");
            if let Err(e) = c.process_new_packets() {
                return Err(format!("client: {e}"));
            }
        }
    }
    Err("no progress".to_owned())
}

use rustls::CipherSuite::{
    TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 as RSA_AES128,
    TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384 as RSA_AES256,
    TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256 as RSA_CHACHA,
};

const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// What each case must come to: the suite it must get, or words of the refusal.
enum Want {
    Ok,
    Suite(CipherSuite),
    Refused(&'static str),
}

fn loaded_configurations_answer_each_client_as_exporter_toolkit_expects() {
    let dir = temp_dir();
    let fx = Fixtures::make(dir.path());
    for (name, text) in fx.configs() {
        write(&fx.dir, name, &text);
    }
    let cases: Vec<(&str, &str, Client, Want)> = vec![
        (
            "valid tls config yml and tls client",
            "web_config_noAuth.good.yml",
            Client::default(),
            Want::Ok,
        ),
        (
            "cert and key inline",
            "web_config_noAuth_tlsInline.good.yml",
            Client::default(),
            Want::Ok,
        ),
        (
            "all ciphers",
            "web_config_noAuth_allCiphers.good.yml",
            Client::default(),
            Want::Ok,
        ),
        (
            "some ciphers",
            "web_config_noAuth_someCiphers.good.yml",
            Client {
                suites: &[RSA_AES128],
                ..Client::default()
            },
            Want::Suite(RSA_AES128),
        ),
        // exporter-toolkit's client offers a CBC suite, which rustls (client and server) lacks:
        // a suite not in the server's list stands in for it.
        (
            "no common cipher",
            "web_config_noAuth_someCiphers.good.yml",
            Client {
                suites: &[RSA_CHACHA],
                ..Client::default()
            },
            Want::Refused("NoCipherSuitesInCommon"),
        ),
        (
            "multiple client ciphers",
            "web_config_noAuth_someCiphers.good.yml",
            Client {
                suites: &[RSA_AES128, RSA_AES256],
                ..Client::default()
            },
            Want::Suite(RSA_AES128),
        ),
        // Not in exporter-toolkit's table: the client's order reversed, the server's wins.
        (
            "client order reversed, server's preference",
            "web_config_noAuth_someCiphers.good.yml",
            Client {
                suites: &[RSA_AES256, RSA_AES128],
                ..Client::default()
            },
            Want::Suite(RSA_AES128),
        ),
        (
            "multiple client ciphers, client chooses cipher",
            "web_config_noAuth_someCiphers_noOrder.good.yml",
            Client {
                suites: &[RSA_AES128, RSA_AES256],
                ..Client::default()
            },
            Want::Suite(RSA_AES128),
        ),
        (
            "all curves",
            "web_config_noAuth_allCurves.good.yml",
            Client::default(),
            Want::Ok,
        ),
        (
            "all curves, P-384 client",
            "web_config_noAuth_allCurves.good.yml",
            Client {
                groups: &[NamedGroup::secp384r1],
                ..Client::default()
            },
            Want::Ok,
        ),
        (
            "non-http2 ciphers",
            "web_config_noAuth_noHTTP2.good.yml",
            Client {
                versions: Some(TLS12),
                ..Client::default()
            },
            Want::Suite(RSA_AES256),
        ),
        (
            "RequireAnyClientCert (present certificate)",
            "tls_config_noAuth.requireanyclientcert.good.yml",
            Client {
                cert: Some("client_selfsigned"),
                ..Client::default()
            },
            Want::Ok,
        ),
        (
            "RequireAnyClientCert (no certificate)",
            "tls_config_noAuth.requireanyclientcert.good.yml",
            Client::default(),
            Want::Refused("server: peer sent no certificates"),
        ),
        (
            "RequireAnyClientCert, key inline (present certificate)",
            "tls_config_noAuth.requireanyclientcertkeyinline.good.yml",
            Client {
                cert: Some("client_selfsigned"),
                ..Client::default()
            },
            Want::Ok,
        ),
        (
            "RequireAndVerifyClientCert (present certificate)",
            "tls_config_noAuth.requireandverifyclientcert.good.yml",
            Client {
                cert: Some("client_selfsigned"),
                ..Client::default()
            },
            Want::Ok,
        ),
        (
            "RequireAndVerifyClientCert (certificate from another CA)",
            "tls_config_noAuth.requireandverifyclientcert.good.yml",
            Client {
                cert: Some("stranger"),
                ..Client::default()
            },
            Want::Refused("server: invalid peer certificate: UnknownIssuer"),
        ),
        (
            "RequireAndVerifyClientCert (TLS 1.2, present certificate)",
            "tls_config_noAuth.requireandverifyclientcert.good.yml",
            Client {
                cert: Some("client_selfsigned"),
                versions: Some(TLS12),
                ..Client::default()
            },
            Want::Ok,
        ),
        (
            "good SAN DNS entry",
            "web_config_auth_client_san.good.yaml",
            Client {
                cert: Some("client2_selfsigned"),
                ..Client::default()
            },
            Want::Ok,
        ),
        (
            "invalid SAN DNS entries",
            "web_config_auth_client_san.bad.yaml",
            Client {
                cert: Some("client2_selfsigned"),
                ..Client::default()
            },
            Want::Refused("server: invalid peer certificate: NotValidForName"),
        ),
        (
            "VerifyClientCertIfGiven, no CA: no certificate",
            "web_config_noAuth.good.yml",
            Client::default(),
            Want::Ok,
        ),
        (
            "VerifyClientCertIfGiven, no CA: a certificate the system roots do not know",
            "web_config_noAuth.good.yml",
            Client {
                cert: Some("stranger"),
                ..Client::default()
            },
            Want::Refused("UnknownIssuer"),
        ),
        (
            "RequireAndVerifyClientCert, no CA (the reload test's blocking config)",
            "web_config_noAuth.good.blocking.yml",
            Client::default(),
            Want::Refused("server: peer sent no certificates"),
        ),
        (
            "users over TLS",
            "web_config_users.good.yml",
            Client::default(),
            Want::Ok,
        ),
    ];
    // Dawn's own: each kind of SAN matched as Go prints it, and RequireAnyClientCert with
    // client_allowed_sans.
    let sans = |allowed: &str| {
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: client_san_kinds.pem\n  client_allowed_sans: [{allowed}]\n"
        )
    };
    for (file, allowed) in [
        ("dawn_san_ip.yml", "\"10.1.2.3\""),
        ("dawn_san_mapped_ip.yml", "\"10.9.8.7\""),
        ("dawn_san_uri.yml", "\"spiffe://dawn/scraper\""),
        ("dawn_san_email.yml", "scraper@dawn.example"),
        (
            "dawn_san_none.yml",
            "\"10.1.2.4\", \"spiffe://dawn\", san kinds",
        ),
    ] {
        write(&fx.dir, file, &sans(allowed));
    }
    write(
        &fx.dir,
        "dawn_any_sans.yml",
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [test3]\n",
    );
    let kinds = || Client {
        cert: Some("client_san_kinds"),
        ..Client::default()
    };
    let cases: Vec<(&str, &str, Client, Want)> = cases
        .into_iter()
        .chain([
            ("SAN: IPv4 address", "dawn_san_ip.yml", kinds(), Want::Ok),
            (
                "SAN: IPv4-mapped IPv6 address",
                "dawn_san_mapped_ip.yml",
                kinds(),
                Want::Ok,
            ),
            ("SAN: URI", "dawn_san_uri.yml", kinds(), Want::Ok),
            (
                "SAN: e-mail address",
                "dawn_san_email.yml",
                kinds(),
                Want::Ok,
            ),
            (
                "SAN: none matches (the common name does not count)",
                "dawn_san_none.yml",
                kinds(),
                Want::Refused("NotValidForName"),
            ),
            (
                "RequireAnyClientCert with client_allowed_sans, name present",
                "dawn_any_sans.yml",
                Client {
                    cert: Some("client2_selfsigned"),
                    ..Client::default()
                },
                Want::Ok,
            ),
            (
                "RequireAnyClientCert with client_allowed_sans, name absent",
                "dawn_any_sans.yml",
                Client {
                    cert: Some("client_selfsigned"),
                    ..Client::default()
                },
                Want::Refused("NotValidForName"),
            ),
        ])
        .collect();
    let mut wrong = Vec::new();
    for (case, file, client, want) in &cases {
        let live = load(&fx.path(file)).unwrap_or_else(|e| panic!("{case}: {e}"));
        let server = live
            .current()
            .tls
            .clone()
            .unwrap_or_else(|| panic!("{case}: TLS"));
        let got = handshake(server, client_config(&fx, client));
        let ok = match (want, &got) {
            (Want::Ok, Ok(_)) => true,
            (Want::Suite(s), Ok((got, _))) => got == s,
            (Want::Refused(words), Err(e)) => e.contains(words),
            _ => false,
        };
        if !ok {
            wrong.push(format!("{case} ({file}): got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
