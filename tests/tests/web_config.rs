//! `--web.config.file` (exporter-toolkit format): a real Prometheus scrapes the exporter over
//! TLS with basic auth while wrong or missing credentials are refused; the 401 answers, the
//! health exemption, `dawn-exporter healthcheck` over HTTPS, reloading a changed file and
//! rotated certificates, and files that must stop start-up.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dawn_tests::support::binaries::binaries;
use dawn_tests::support::harness;
use dawn_tests::support::process::{ExporterOptions, Finished, run_to_end, temp_dir};
use dawn_tests::support::prometheus::Prometheus;
use dawn_tests::support::tls::{
    KeptConnection, Pki, basic, bcrypt_hash, https_get, https_get_with_client_cert,
    tls12_handshake_with_client_cert,
};
use dawn_tests::support::tools::{OPENSSL, PROMETHEUS};
use dawn_tests::support::{Exporter, Node, Response, eventually, free_port, get};
use dawn_tests::trial;

const USER: &str = "prometheus";
const PASSWORD: &str = "correct horse battery staple";

/// A web config file with TLS from `cert`/`key` and one user, plus `extra` YAML lines.
fn write_web_config(
    dir: &Path,
    cert: &Path,
    key: &Path,
    users: &[(&str, &str)],
    extra: &str,
) -> PathBuf {
    let mut text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        cert.display(),
        key.display()
    );
    if !users.is_empty() {
        text.push_str("basic_auth_users:\n");
        for (user, password) in users {
            text.push_str(&format!("  {user}: {}\n", bcrypt_hash(password)));
        }
    }
    text.push_str(extra);
    let path = dir.join("web.yml");
    std::fs::write(&path, text).expect("write web.yml");
    path
}

/// Starts an exporter with `web_config` and waits until it answers `/-/healthy` over HTTPS
/// (with `auth` when given).
#[track_caller]
fn secured_exporter(web_config: &Path, auth: Option<&str>) -> Exporter {
    let mut exporter = Exporter::spawn(
        ExporterOptions::default().arg("--web.config.file", web_config.to_str().expect("utf-8")),
    );
    let headers: Vec<(&str, &str)> = auth.map(|a| ("Authorization", a)).into_iter().collect();
    let url = https_url(&exporter, "/-/healthy");
    eventually("the exporter serves HTTPS", || {
        if let Some(s) = exporter.proc.exit_status() {
            panic!("dawn-exporter exited ({s}):\n{}", exporter.log());
        }
        let r = https_get(&url, web_config, &headers)?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    });
    exporter
}

fn https_url(exporter: &Exporter, path: &str) -> String {
    format!("https://127.0.0.1:{}{path}", exporter.port)
}

#[track_caller]
fn https(exporter: &Exporter, web_config: &Path, path: &str, headers: &[(&str, &str)]) -> Response {
    https_get(&https_url(exporter, path), web_config, headers).unwrap_or_else(|e| panic!("{e}"))
}

/// `dawn-exporter healthcheck` against the exporter at `address` with web config `web`,
/// plus `extra` arguments and `envs`.
fn healthcheck(address: &str, web: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Finished {
    let mut args = vec![
        "healthcheck",
        "--web.listen-address",
        address,
        "--web.config.file",
        web.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    run_to_end(&binaries().exporter, &args, envs)
}

#[track_caller]
fn assert_unauthorized(r: &Response, reason: &str) {
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"dawn-exporter\", charset=\"UTF-8\""),
        "a 401 must carry the basic challenge"
    );
    let body = r.json();
    assert_eq!(body["error"], "unauthorized");
    assert!(
        body["reason"].as_str().is_some_and(|r| r.contains(reason)),
        "{body}"
    );
}

fn main() -> ExitCode {
    harness::main(vec![
        trial!(prometheus_scrapes_over_tls_with_basic_auth_and_wrong_or_missing_credentials_are_refused).needs(PROMETHEUS),
        trial!(credentials_are_checked_per_request_and_health_is_open_only_when_the_config_says_so),
        trial!(a_changed_file_and_rotated_certificates_apply_without_a_restart_and_a_broken_one_is_ignored),
        trial!(web_config_files_that_cannot_be_used_stop_start_up_with_the_reason),
        trial!(a_stricter_reload_takes_effect_and_a_failed_one_shows_in_the_metric),
        trial!(prometheus_scrapes_with_a_client_certificate_and_client_allowed_sans_picks_who).needs(PROMETHEUS),
        trial!(the_server_order_of_cipher_suites_wins_over_openssl_s_client_unless_told_otherwise).needs(OPENSSL),
        trial!(rate_limit_answers_429_with_retry_after),
    ])
}

fn prometheus_scrapes_over_tls_with_basic_auth_and_wrong_or_missing_credentials_are_refused() {
    let prometheus = PROMETHEUS.path();
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    let web = write_web_config(dir.path(), &cert, &key, &[(USER, PASSWORD)], "");
    let exporter = secured_exporter(&web, Some(&basic(USER, PASSWORD)));
    let _node = Node::start(&exporter.socket, &[]);

    let target = format!("127.0.0.1:{}", exporter.port);
    let https_job = |name: &str, auth: &str| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n{auth}    static_configs:\n      - targets: [\"{target}\"]\n",
            pki.ca_file.display()
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}{}  - job_name: plain_http\n    static_configs:\n      - targets: [\"{target}\"]\n",
        https_job(
            "secured",
            &format!("    basic_auth:\n      username: {USER}\n      password: {PASSWORD}\n")
        ),
        https_job(
            "wrong_password",
            &format!("    basic_auth:\n      username: {USER}\n      password: guess\n")
        ),
        https_job("no_credentials", ""),
    );
    let prometheus = Prometheus::run(&prometheus, temp_dir(), free_port(), &config, &[]);

    // The node's telemetry arrives through the secured scrape.
    prometheus.eventually_value("dawn_node_up{job=\"secured\"}", |v| v == 1.0);
    prometheus.eventually_value("up{job=\"secured\"}", |v| v == 1.0);
    eventually("the other jobs are refused, each for its reason", || {
        let targets = prometheus.targets();
        let mut seen = Vec::new();
        for (job, error) in [
            ("wrong_password", "401 Unauthorized"),
            ("no_credentials", "401 Unauthorized"),
            ("plain_http", "400 Bad Request"),
        ] {
            let t = targets
                .iter()
                .find(|t| t["labels"]["job"] == job)
                .ok_or_else(|| format!("no target of job {job}"))?;
            let last_error = t["lastError"].as_str().unwrap_or_default();
            if t["health"] != "down" || !last_error.contains(error) {
                return Err(format!(
                    "{job}: health {} lastError {last_error:?}",
                    t["health"]
                ));
            }
            seen.push(job);
        }
        Ok(seen)
    });
    for job in ["wrong_password", "no_credentials", "plain_http"] {
        prometheus.eventually_value(&format!("up{{job=\"{job}\"}}"), |v| v == 0.0);
    }
}

fn credentials_are_checked_per_request_and_health_is_open_only_when_the_config_says_so() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    let right = basic(USER, PASSWORD);
    let web = write_web_config(
        dir.path(),
        &cert,
        &key,
        &[(USER, PASSWORD), ("grafana", "another one")],
        "http_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n",
    );
    let exporter = secured_exporter(&web, Some(&right));

    let r = https(&exporter, &web, "/metrics", &[("Authorization", &right)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("dawn_node_up 0"), "{}", r.text());
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let other = basic("grafana", "another one");
    assert_eq!(
        https(&exporter, &web, "/metrics", &[("Authorization", &other)]).status,
        200
    );

    for (headers, reason) in [
        (vec![], "credentials required"),
        (
            vec![("Authorization", basic(USER, "guess"))],
            "wrong user name or password",
        ),
        (
            vec![("Authorization", basic("mallory", PASSWORD))],
            "wrong user name or password",
        ),
        (
            vec![("Authorization", basic("grafana", PASSWORD))],
            "wrong user name or password",
        ),
        (
            vec![("Authorization", "Bearer abc".to_owned())],
            "not Basic",
        ),
        (vec![("Authorization", "Basic %%%".to_owned())], "not Basic"),
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        for path in [
            "/metrics",
            "/",
            "/health",
            "/health/ready",
            "/health/live",
            "/-/healthy",
            "/nope",
        ] {
            let r = https(&exporter, &web, path, &headers);
            assert_unauthorized(&r, reason);
            assert_eq!(
                r.header("x-content-type-options"),
                Some("nosniff"),
                "configured headers go on refusals too"
            );
        }
    }
    // Plain HTTP on the HTTPS port gets a clear 400, not a hang or an empty reply.
    let r = get(&exporter.url("/metrics")).expect("plain HTTP answer");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("HTTPS server"), "{}", r.text());

    // The healthcheck needs credentials here, and says how to give them.
    let port = exporter.port.to_string();
    let address = format!("127.0.0.1:{port}");
    let done = healthcheck(&address, &web, &[], &[]);
    assert_eq!(done.code(), Some(1), "{done:?}");
    assert!(done.stdout.contains("answered 401"), "{done:?}");
    assert!(done.stdout.contains("dawn_health_without_auth"), "{done:?}");
    let _node = Node::start(&exporter.socket, &[]);
    let healthcheck_with = |password: &str| {
        healthcheck(
            &address,
            &web,
            &["--basic-auth-user", USER],
            &[("PROJECT_DAWN_HEALTHCHECK_PASSWORD", password)],
        )
    };
    eventually(
        "healthcheck with credentials passes once the node is ready",
        || {
            let done = healthcheck_with(PASSWORD);
            if done.code() == Some(0) && done.stdout.contains("https://") {
                Ok(())
            } else {
                Err(format!("{done:?}"))
            }
        },
    );
    assert_eq!(healthcheck_with("guess").code(), Some(1));

    // Opening the health endpoints to probes: only those, and only once the file says so.
    let opened = write_web_config(
        dir.path(),
        &cert,
        &key,
        &[(USER, PASSWORD)],
        "dawn_health_without_auth: true\n",
    );
    let exporter = secured_exporter(&opened, None);
    let _node = Node::start(&exporter.socket, &[]);
    for path in ["/health", "/health/live", "/-/healthy"] {
        assert_ne!(https(&exporter, &opened, path, &[]).status, 401, "{path}");
    }
    for path in ["/metrics", "/"] {
        assert_unauthorized(
            &https(&exporter, &opened, path, &[]),
            "credentials required",
        );
    }
    let address = format!("127.0.0.1:{}", exporter.port);
    eventually("healthcheck without credentials passes", || {
        let done = healthcheck(&address, &opened, &[], &[]);
        if done.code() == Some(0) {
            Ok(())
        } else {
            Err(format!("{done:?}"))
        }
    });
}

/// How many reloads the exporter has refused so far, keeping the settings in force (one log
/// line each).
fn reloads_refused(exporter: &Exporter) -> usize {
    exporter
        .log()
        .matches("keeping the settings in force")
        .count()
}

fn a_changed_file_and_rotated_certificates_apply_without_a_restart_and_a_broken_one_is_ignored() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("first");
    let web = write_web_config(dir.path(), &cert, &key, &[(USER, PASSWORD)], "");
    let exporter = secured_exporter(&web, Some(&basic(USER, PASSWORD)));
    let url = https_url(&exporter, "/metrics");

    // New password, and a new certificate in place of the old one (as cert-manager and
    // Kubernetes secrets rotate them). https_get trusts the certificate the file names now,
    // so it succeeds only once the exporter serves the new one.
    let (new_cert, new_key) = pki.issue("second");
    std::fs::copy(&new_cert, &cert).expect("rotate certificate");
    std::fs::copy(&new_key, &key).expect("rotate key");
    write_web_config(dir.path(), &cert, &key, &[(USER, "new password")], "");
    let new_auth = basic(USER, "new password");
    eventually("the new certificate and password are in force", || {
        let r = https_get(&url, &web, &[("Authorization", &new_auth)])?;
        if r.status == 200 {
            Ok(())
        } else {
            Err(format!("{} {}", r.status, r.text()))
        }
    });
    assert_unauthorized(
        &https(
            &exporter,
            &web,
            "/metrics",
            &[("Authorization", &basic(USER, PASSWORD))],
        ),
        "wrong user name or password",
    );

    // A broken edit is reported and the settings in force stay. (A check between the two
    // copies above may have refused the certificate with the old key: only a report after
    // the new settings took hold is the broken file's.)
    let refused_before = reloads_refused(&exporter);
    std::fs::write(&web, "tls_server_config: [\n").expect("break web.yml");
    eventually("the broken file is reported", || {
        if reloads_refused(&exporter) > refused_before {
            Ok(())
        } else {
            Err("not logged yet".to_owned())
        }
    });
    // The client reads the certificate to trust from a good copy of the file.
    let copy = dir.path().join("copy");
    std::fs::create_dir_all(&copy).expect("create dir");
    let good = write_web_config(&copy, &cert, &key, &[(USER, "new password")], "");
    let r = https_get(&url, &good, &[("Authorization", &new_auth)]).expect("still served");
    assert_eq!(r.status, 200, "the previous settings stay in force");
}

fn web_config_files_that_cannot_be_used_stop_start_up_with_the_reason() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    let (other_cert, _) = pki.issue("other");
    let d = dir.path();
    let file = |name: &str, text: String| {
        let p = d.join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let tls = |cert: &Path, key: &Path| {
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            cert.display(),
            key.display()
        )
    };
    let cases: Vec<(PathBuf, &str)> = vec![
        (d.join("missing.yml"), "cannot read"),
        (
            file(
                "yaml.yml",
                "basic_auth_users:\n  a: \"unterminated\n".to_owned(),
            ),
            "found unexpected end of stream at line 3",
        ),
        (
            file("unknown.yml", "basic_auth_user:\n  a: b\n".to_owned()),
            "unknown field `basic_auth_user`",
        ),
        (
            file("nocert.yml", tls(&d.join("nope.crt"), &key)),
            "nope.crt",
        ),
        (
            file(
                "notpem.yml",
                tls(&file("garbage.crt", "hello".to_owned()), &key),
            ),
            "no CERTIFICATE block",
        ),
        (
            file("mismatch.yml", tls(&other_cert, &key)),
            "cannot be used together",
        ),
        (
            file("nokey.yml", tls(&cert, &cert)),
            "no usable PEM private key",
        ),
        (
            file(
                "hash.yml",
                "basic_auth_users:\n  prometheus: secret\n".to_owned(),
            ),
            "basic_auth_users.prometheus: not a bcrypt hash",
        ),
        (
            file(
                "nossl.yml",
                format!("{}  min_version: SSL3\n", tls(&cert, &key)),
            ),
            "unknown TLS version",
        ),
    ];
    for (path, reason) in &cases {
        let socket = d.join("s.sock");
        let done = run_to_end(
            &binaries().exporter,
            &[
                "--socket",
                socket.to_str().expect("utf-8"),
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.config.file",
                path.to_str().expect("utf-8"),
            ],
            &[],
        );
        assert_eq!(done.code(), Some(64), "{path:?}: {done:?}");
        let line = done
            .stderr
            .lines()
            .find(|l| l.contains("--web.config.file"))
            .unwrap_or_default();
        assert!(
            line.contains(&path.display().to_string()) && line.contains(reason),
            "{path:?}: the one error line must name the file and {reason:?}: {}",
            done.stderr
        );
        assert!(
            !socket.exists(),
            "a misconfigured exporter must not create its socket"
        );
    }
    // The variable works like the flag, and an empty value is refused by name.
    let done = run_to_end(
        &binaries().exporter,
        &["--web.listen-address", "127.0.0.1:0"],
        &[("PROJECT_DAWN_WEB_CONFIG_FILE", "")],
    );
    assert_eq!(done.code(), Some(64), "{done:?}");
    assert!(
        done.stderr.contains(
            "PROJECT_DAWN_WEB_CONFIG_FILE: invalid value \"\" (empty); expected the path of a web config file"
        ),
        "{done:?}"
    );
    let done = run_to_end(
        &binaries().exporter,
        &["--web.listen-address", "127.0.0.1:0"],
        &[(
            "PROJECT_DAWN_WEB_CONFIG_FILE",
            cases[0].0.to_str().expect("utf-8"),
        )],
    );
    assert_eq!(done.code(), Some(64), "{done:?}");
    assert!(
        done.stderr
            .contains("PROJECT_DAWN_WEB_CONFIG_FILE: web config file"),
        "{done:?}"
    );
}

const RELOAD_METRIC: &str = "dawn_exporter_web_config_last_reload_successful";

/// Issue 19, finding 6: a permissive config rewritten as RequireAndVerifyClientCert, naming a
/// CA file written only afterwards, takes effect once the CA is there: clients without a
/// certificate are refused, one with a certificate from that CA gets in. A broken file
/// keeps the settings and sets the metric to 0; the next good reload sets it back to 1.
fn a_stricter_reload_takes_effect_and_a_failed_one_shows_in_the_metric() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    let (client_cert, client_key) = pki.issue_client("scraper", &["scraper"]);
    let web = write_web_config(dir.path(), &cert, &key, &[], "");
    let exporter = secured_exporter(&web, None);
    let port = exporter.port;
    let metric = |client: Option<(&Path, &Path)>| -> Result<String, String> {
        let (status, body) = https_get_with_client_cert(port, "/metrics", &pki.ca_file, client)?;
        if status != 200 {
            return Err(format!("{status} {body}"));
        }
        body.lines()
            .find(|l| l.starts_with(&format!("{RELOAD_METRIC} ")))
            .map(str::to_owned)
            .ok_or_else(|| format!("no {RELOAD_METRIC} in {body}"))
    };
    assert_eq!(metric(None).as_deref(), Ok(&*format!("{RELOAD_METRIC} 1")));
    // A connection opened under the permissive settings, kept open across the reloads.
    let mut kept = KeptConnection::open(port, &pki.ca_file).expect("connect");
    assert_eq!(kept.get("/-/healthy"), Ok(200));

    std::fs::write(&web, "tls_server_config: [\n").expect("break web.yml");
    eventually("the failed reload shows in the metric", || {
        let line = metric(None)?;
        if line == format!("{RELOAD_METRIC} 0") {
            Ok(())
        } else {
            Err(line)
        }
    });

    let ca_copy = dir.path().join("client-ca.pem");
    write_web_config(
        dir.path(),
        &cert,
        &key,
        &[],
        &format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
            ca_copy.display()
        ),
    );
    // The file names a CA that is not there yet: that reload fails too, the settings stay.
    eventually("the reload waiting for its CA file is reported", || {
        if reloads_refused(&exporter) >= 2 {
            Ok(())
        } else {
            Err(exporter.log())
        }
    });
    metric(None).expect("still permissive while the CA file is missing");
    assert_eq!(
        kept.get("/-/healthy"),
        Ok(200),
        "reloads that did not take leave open connections alone"
    );
    std::fs::copy(&pki.ca_file, &ca_copy).expect("write the CA file");
    eventually(
        "a client without a certificate is refused",
        || match https_get_with_client_cert(port, "/metrics", &pki.ca_file, None) {
            Err(e) => Ok(e),
            Ok((status, _)) => Err(format!("still answered {status}")),
        },
    );
    // The broken file and the rotated-in policy that waited for its CA did not touch it
    // until the policy took effect; now its next request ends it.
    let refused = kept.get("/-/healthy");
    assert!(
        refused.is_err(),
        "a connection from before the stricter policy is not answered: {refused:?}"
    );
    let line = metric(Some((&client_cert, &client_key))).expect("a client with a certificate");
    assert_eq!(
        line,
        format!("{RELOAD_METRIC} 1"),
        "the good reload resets it"
    );
}

/// A real Prometheus scrapes with a client certificate under RequireAndVerifyClientCert and
/// `client_allowed_sans`: the job whose certificate carries an allowed name is up, the other
/// (same CA, another name) is refused in the handshake.
fn prometheus_scrapes_with_a_client_certificate_and_client_allowed_sans_picks_who() {
    let prometheus = PROMETHEUS.path();
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    let (allowed_cert, allowed_key) = pki.issue_client("allowed", &["prometheus-a"]);
    let (other_cert, other_key) = pki.issue_client("other", &["prometheus-b"]);
    let web = write_web_config(
        dir.path(),
        &cert,
        &key,
        &[],
        &format!(
            "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n  client_allowed_sans: [prometheus-a]\n",
            pki.ca_file.display()
        ),
    );
    let mut exporter = Exporter::spawn(
        ExporterOptions::default().arg("--web.config.file", web.to_str().expect("utf-8")),
    );
    let port = exporter.port;
    eventually(
        "the exporter serves HTTPS to the allowed certificate",
        || {
            if let Some(s) = exporter.proc.exit_status() {
                panic!("dawn-exporter exited ({s}):\n{}", exporter.log());
            }
            let (status, body) = https_get_with_client_cert(
                port,
                "/-/healthy",
                &pki.ca_file,
                Some((&allowed_cert, &allowed_key)),
            )?;
            if status == 200 {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        },
    );
    let _node = Node::start(&exporter.socket, &[]);
    let target = format!("127.0.0.1:{port}");
    let job = |name: &str, cert: &Path, key: &Path| {
        format!(
            "  - job_name: {name}\n    scheme: https\n    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n      server_name: localhost\n    static_configs:\n      - targets: [\"{target}\"]\n",
            pki.ca_file.display(),
            cert.display(),
            key.display()
        )
    };
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{}{}",
        job("allowed_san", &allowed_cert, &allowed_key),
        job("other_san", &other_cert, &other_key),
    );
    let prometheus = Prometheus::run(&prometheus, temp_dir(), free_port(), &config, &[]);
    prometheus.eventually_value("dawn_node_up{job=\"allowed_san\"}", |v| v == 1.0);
    prometheus.eventually_value("up{job=\"allowed_san\"}", |v| v == 1.0);
    prometheus.eventually_value("up{job=\"other_san\"}", |v| v == 0.0);
    let refused = tls12_handshake_with_client_cert(port, &pki.ca_file, &other_cert, &other_key);
    assert!(
        refused
            .as_ref()
            .is_err_and(|e| e.contains("BadCertificate")),
        "the other name is refused with bad_certificate: {refused:?}"
    );
    tls12_handshake_with_client_cert(port, &pki.ca_file, &allowed_cert, &allowed_key)
        .expect("the allowed name gets through the same handshake");
}

/// `openssl s_client` offering the two suites in the reverse of the server's order gets the
/// server's first with `prefer_server_cipher_suites` (the default), its own first with false;
/// a TLS 1.1 client is refused.
fn the_server_order_of_cipher_suites_wins_over_openssl_s_client_unless_told_otherwise() {
    let openssl = OPENSSL.path();
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    // rcgen's default key is ECDSA P-256, so the ECDSA suites.
    let suites = "  cipher_suites:\n    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n    - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n  max_version: TLS12\n";
    for (prefer, expected) in [
        ("", "ECDHE-ECDSA-AES128-GCM-SHA256"),
        (
            "  prefer_server_cipher_suites: false\n",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
        ),
    ] {
        let web = write_web_config(dir.path(), &cert, &key, &[], &format!("{suites}{prefer}"));
        let exporter = secured_exporter(&web, None);
        let connect = format!("127.0.0.1:{}", exporter.port);
        let done = run_to_end(
            &openssl,
            &[
                "s_client",
                "-connect",
                &connect,
                "-tls1_2",
                "-cipher",
                "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256",
                "-CAfile",
                pki.ca_file.to_str().expect("utf-8"),
            ],
            &[],
        );
        assert!(
            done.stdout.contains(&format!("Cipher is {expected}")),
            "prefer {prefer:?}: expected {expected}: {done:?}"
        );
        // exporter-toolkit's "TLS 1.1 client" case: refused in the handshake (rustls has no
        // TLS 1.1; OpenSSL 3 offers it only at security level 0).
        let done = run_to_end(
            &openssl,
            &[
                "s_client",
                "-connect",
                &connect,
                "-tls1_1",
                "-cipher",
                "DEFAULT@SECLEVEL=0",
            ],
            &[],
        );
        assert!(
            done.stdout.contains("Cipher is (NONE)") && done.stderr.contains("alert"),
            "a TLS 1.1 client is refused: {done:?}"
        );
    }
}

/// `rate_limit` with a burst of 2 and a long interval: two answers, then 429 with
/// `Retry-After`, before credentials are even looked at.
fn rate_limit_answers_429_with_retry_after() {
    let dir = temp_dir();
    let pki = Pki::new(dir.path());
    let (cert, key) = pki.issue("exporter");
    let web = write_web_config(
        dir.path(),
        &cert,
        &key,
        &[(USER, PASSWORD)],
        "rate_limit:\n  interval: 1h\n  burst: 3\n",
    );
    // Waiting for the exporter takes the first token.
    let exporter = secured_exporter(&web, Some(&basic(USER, PASSWORD)));
    let auth = basic(USER, PASSWORD);
    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let r = https(&exporter, &web, "/metrics", &[("Authorization", &auth)]);
        statuses.push(r.status);
        last = Some(r);
    }
    assert_eq!(
        statuses,
        [200, 200, 429],
        "burst 3, the first taken by the start-up check"
    );
    let r = last.expect("an answer");
    assert!(
        r.header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s > 3000 && s <= 3600),
        "Retry-After in seconds, up to the interval: {:?}",
        r.header("retry-after")
    );
    assert!(r.text().contains("Too Many Requests"), "{}", r.text());
    let r = https(&exporter, &web, "/metrics", &[]);
    assert_eq!(r.status, 429, "the limit comes before credentials");
}
