//! The file format: exporter-toolkit's keys (unknown keys are errors, as there), turned into
//! a [`WebConfig`] with every value checked.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::rate_limit::{RateLimit, parse_go_duration};
use super::{ClientAuth, ClientCertPolicy, Pem, Problem, TlsSettings, TlsVersion, WebConfig};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tls_server_config: Option<RawTls>,
    http_server_config: Option<RawHttp>,
    basic_auth_users: Option<BTreeMap<String, String>>,
    rate_limit: Option<RawRateLimit>,
    dawn_health_without_auth: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: Option<String>,
    key: Option<String>,
    cert_file: Option<String>,
    key_file: Option<String>,
    client_auth_type: Option<String>,
    client_ca: Option<String>,
    client_ca_file: Option<String>,
    client_allowed_sans: Option<Vec<String>>,
    min_version: Option<String>,
    max_version: Option<String>,
    cipher_suites: Option<Vec<String>>,
    prefer_server_cipher_suites: Option<bool>,
    curve_preferences: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    /// A Go duration string, or an integer of nanoseconds (Go's YAML reads both).
    interval: Option<serde_yaml_ng::Value>,
    burst: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// Headers exporter-toolkit lets a config set; the same list here.
const SETTABLE_HEADERS: &[&str] = &[
    "Content-Security-Policy",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "X-XSS-Protection",
    "Strict-Transport-Security",
];

/// Parses the text of web config file `path`.
pub(super) fn parse(path: &Path, text: &str) -> Result<WebConfig, Problem> {
    // An empty file is a valid, empty config in exporter-toolkit.
    let raw: RawFile = if text.trim().is_empty() {
        RawFile::default()
    } else {
        serde_yaml_ng::from_str::<Option<RawFile>>(text)?.unwrap_or_default()
    };
    let rate_limit = raw.rate_limit.map(rate_limit).transpose()?.flatten();
    let dir = path.parent().unwrap_or(Path::new("."));
    let tls = raw.tls_server_config.map(|t| tls(dir, t)).transpose()?;
    let http = raw.http_server_config.unwrap_or_default();
    let headers = headers(http.headers.unwrap_or_default())?;
    let users = raw.basic_auth_users.unwrap_or_default();
    if let Some(user) = users.keys().find(|u| u.contains(':')) {
        return Err(Problem::field(
            format!("basic_auth_users.{user}"),
            "a user name cannot contain ':' (basic auth separates user and password with it)",
        ));
    }
    Ok(WebConfig {
        path: path.to_owned(),
        tls,
        http2: http.http2.unwrap_or(true),
        headers,
        users,
        health_without_auth: raw.dawn_health_without_auth.unwrap_or(false),
        rate_limit,
    })
}

/// `rate_limit`; `None` when `interval` is 0 or absent (no limit, as in exporter-toolkit).
fn rate_limit(raw: RawRateLimit) -> Result<Option<RateLimit>, Problem> {
    let interval = match raw.interval {
        None | Some(serde_yaml_ng::Value::Null) => Duration::ZERO,
        Some(serde_yaml_ng::Value::String(text)) => {
            parse_go_duration(&text).map_err(|why| Problem::field("rate_limit.interval", why))?
        }
        Some(serde_yaml_ng::Value::Number(n)) => match n.as_u64() {
            Some(nanos) => Duration::from_nanos(nanos),
            None => {
                return Err(Problem::field(
                    "rate_limit.interval",
                    format!("{n} is not a duration; expected e.g. 1s or 100ms"),
                ));
            }
        },
        Some(other) => {
            return Err(Problem::field(
                "rate_limit.interval",
                format!("{other:?} is not a duration; expected e.g. 1s or 100ms"),
            ));
        }
    };
    let burst = raw.burst.unwrap_or(0);
    let burst = u32::try_from(burst).map_err(|_| {
        Problem::field(
            "rate_limit.burst",
            format!("{burst} is out of range; expected 0 to {}", u32::MAX),
        )
    })?;
    Ok((!interval.is_zero()).then_some(RateLimit { interval, burst }))
}

/// One PEM source from its inline key and its file key, exactly one of which must be set.
fn pem(
    dir: &Path,
    inline: Option<String>,
    file: Option<String>,
    inline_key: &str,
    file_key: &str,
) -> Result<Option<Pem>, Problem> {
    match (inline, file) {
        (Some(_), Some(_)) => Err(Problem::field(
            format!("tls_server_config.{file_key}"),
            format!("give either {inline_key} or {file_key}, not both"),
        )),
        // An empty value counts as absent, as in exporter-toolkit.
        (Some(text), None) if text.trim().is_empty() => Ok(None),
        (Some(text), None) => Ok(Some(Pem::Inline(text))),
        (None, Some(f)) if f.trim().is_empty() => Ok(None),
        (None, Some(f)) => Ok(Some(Pem::File(dir.join(f)))),
        (None, None) => Ok(None),
    }
}

fn required(pem: Option<Pem>, inline_key: &str, file_key: &str) -> Result<Pem, Problem> {
    pem.ok_or_else(|| {
        Problem::field(
            format!("tls_server_config.{file_key}"),
            format!("missing: TLS needs {file_key} (or {inline_key})"),
        )
    })
}

fn version(field: &str, raw: Option<String>, default: TlsVersion) -> Result<TlsVersion, Problem> {
    match raw.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some("TLS12") => Ok(TlsVersion::Tls12),
        Some("TLS13") => Ok(TlsVersion::Tls13),
        Some(v @ ("TLS10" | "TLS11")) => Err(Problem::field(
            format!("tls_server_config.{field}"),
            format!(
                "{v} is not supported, because rustls implements only TLS 1.2 and 1.3 (1.0 and 1.1 are deprecated by RFC 8996); use TLS12 or TLS13"
            ),
        )),
        Some(v) => Err(Problem::field(
            format!("tls_server_config.{field}"),
            format!("unknown TLS version {v:?}; expected TLS12 or TLS13"),
        )),
    }
}

fn tls(dir: &Path, t: RawTls) -> Result<TlsSettings, Problem> {
    let cert = required(
        pem(dir, t.cert, t.cert_file, "cert", "cert_file")?,
        "cert",
        "cert_file",
    )?;
    let key = required(
        pem(dir, t.key, t.key_file, "key", "key_file")?,
        "key",
        "key_file",
    )?;
    let ca = pem(
        dir,
        t.client_ca,
        t.client_ca_file,
        "client_ca",
        "client_ca_file",
    )?;
    let policy = match t.client_auth_type.as_deref().map(str::trim).unwrap_or("") {
        "" | "NoClientCert" => ClientCertPolicy::NoClientCert,
        "RequestClientCert" => ClientCertPolicy::RequestClientCert,
        // `RequireClientCert` is exporter-toolkit's old name, still accepted there.
        "RequireAnyClientCert" | "RequireClientCert" => ClientCertPolicy::RequireAnyClientCert,
        "VerifyClientCertIfGiven" => ClientCertPolicy::VerifyClientCertIfGiven,
        "RequireAndVerifyClientCert" => ClientCertPolicy::RequireAndVerifyClientCert,
        other => {
            return Err(Problem::field(
                "tls_server_config.client_auth_type",
                format!(
                    "invalid ClientAuth {other:?}; expected NoClientCert, RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"
                ),
            ));
        }
    };
    if ca.is_some() && policy == ClientCertPolicy::NoClientCert {
        return Err(Problem::field(
            "tls_server_config.client_ca_file",
            "client CA's have been configured without a Client Auth Policy: set client_auth_type (RequireAndVerifyClientCert or VerifyClientCertIfGiven), or remove client_ca_file",
        ));
    }
    // exporter-toolkit checks the names whenever the key is present, even as an empty list
    // (which then matches no client).
    if t.client_allowed_sans.is_some() && !policy.mandatory() {
        return Err(Problem::field(
            "tls_server_config.client_allowed_sans",
            "requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert (with an optional certificate there is nothing to match)",
        ));
    }
    let allowed_sans = t.client_allowed_sans;
    let client_auth = ClientAuth {
        policy,
        ca,
        allowed_sans,
    };
    let min_version = version("min_version", t.min_version, TlsVersion::Tls12)?;
    let max_version = version("max_version", t.max_version, TlsVersion::Tls13)?;
    if min_version > max_version {
        return Err(Problem::field(
            "tls_server_config.min_version",
            "is above max_version",
        ));
    }
    Ok(TlsSettings {
        cert,
        key,
        client_auth,
        min_version,
        max_version,
        cipher_suites: t.cipher_suites.unwrap_or_default(),
        curve_preferences: t.curve_preferences.unwrap_or_default(),
        prefer_server_cipher_suites: t.prefer_server_cipher_suites.unwrap_or(true),
    })
}

fn headers(raw: BTreeMap<String, String>) -> Result<Vec<(String, String)>, Problem> {
    let mut out = Vec::new();
    for (name, value) in raw {
        let Some(canonical) = SETTABLE_HEADERS
            .iter()
            .find(|h| h.eq_ignore_ascii_case(&name))
        else {
            return Err(Problem::field(
                format!("http_server_config.headers.{name}"),
                format!(
                    "not a header that can be set; expected one of {}",
                    SETTABLE_HEADERS.join(", ")
                ),
            ));
        };
        if value.is_empty() {
            continue;
        }
        if warp::http::HeaderValue::from_str(&value).is_err() {
            return Err(Problem::field(
                format!("http_server_config.headers.{name}"),
                "not a valid header value (control characters or non-ASCII text)",
            ));
        }
        let lower = value.to_ascii_lowercase();
        let allowed: Option<&[&str]> = match *canonical {
            "X-Frame-Options" => Some(&["deny", "sameorigin"]),
            "X-Content-Type-Options" => Some(&["nosniff"]),
            _ => None,
        };
        if let Some(allowed) = allowed
            && !allowed.contains(&lower.as_str())
        {
            return Err(Problem::field(
                format!("http_server_config.headers.{name}"),
                format!(
                    "{value:?} is not accepted; expected {}",
                    allowed.join(" or ")
                ),
            ));
        }
        out.push(((*canonical).to_owned(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<WebConfig, String> {
        parse(Path::new("/etc/dawn/web.yml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn empty_file_is_an_open_plain_http_config() {
        for text in ["", "\n", "# nothing\n", "---\n"] {
            let c = parse_str(text).unwrap();
            assert!(c.tls.is_none() && c.users.is_empty() && c.http2, "{text:?}");
            assert!(!c.needs_auth(false));
        }
    }

    #[test]
    fn full_file() {
        let c = parse_str(
            "tls_server_config:\n  cert_file: tls/server.crt\n  key_file: /abs/server.key\n  min_version: TLS13\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ca.pem\n  prefer_server_cipher_suites: true\nhttp_server_config:\n  http2: false\n  headers:\n    x-frame-options: deny\n    Content-Security-Policy: \"\"\nbasic_auth_users:\n  prometheus: $2y$10$abc\ndawn_health_without_auth: true\n",
        )
        .unwrap();
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(tls.cert, Pem::File("/etc/dawn/tls/server.crt".into()));
        assert_eq!(tls.key, Pem::File("/abs/server.key".into()));
        assert_eq!(
            tls.client_auth,
            ClientAuth {
                policy: ClientCertPolicy::RequireAndVerifyClientCert,
                ca: Some(Pem::File("/etc/dawn/ca.pem".into())),
                allowed_sans: None,
            }
        );
        assert!(tls.prefer_server_cipher_suites);
        assert_eq!(tls.min_version, TlsVersion::Tls13);
        assert!(!c.http2);
        assert_eq!(
            c.headers,
            vec![("X-Frame-Options".to_owned(), "deny".to_owned())]
        );
        assert!(c.needs_auth(false));
        assert!(!c.needs_auth(true));
        assert_eq!(c.watched_files().len(), 4);
        assert!(
            !format!("{c:?}").contains("$2y$"),
            "hashes stay out of Debug"
        );
    }

    /// Every `client_auth_type` exporter-toolkit takes, the old `RequireClientCert` alias
    /// included; the verifying ones load without a CA (then the system's roots verify).
    #[test]
    fn client_auth_types_as_exporter_toolkit_takes_them() {
        let cases = [
            ("NoClientCert", ClientCertPolicy::NoClientCert),
            ("RequestClientCert", ClientCertPolicy::RequestClientCert),
            (
                "RequireAnyClientCert",
                ClientCertPolicy::RequireAnyClientCert,
            ),
            ("RequireClientCert", ClientCertPolicy::RequireAnyClientCert),
            (
                "VerifyClientCertIfGiven",
                ClientCertPolicy::VerifyClientCertIfGiven,
            ),
            (
                "RequireAndVerifyClientCert",
                ClientCertPolicy::RequireAndVerifyClientCert,
            ),
        ];
        for (name, policy) in cases {
            let c = parse_str(&format!(
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: {name}\n"
            ))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
            let auth = &c.tls.as_ref().unwrap().client_auth;
            assert_eq!(auth.policy, policy, "{name}");
            assert_eq!(auth.ca, None);
        }
        let c = parse_str(
            "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: [one, \"10.0.0.1\"]\n  prefer_server_cipher_suites: false\n",
        )
        .unwrap();
        let tls = c.tls.as_ref().unwrap();
        assert_eq!(
            tls.client_auth.allowed_sans,
            Some(vec!["one".to_owned(), "10.0.0.1".to_owned()])
        );
        assert!(!tls.prefer_server_cipher_suites);
    }

    #[test]
    fn rate_limit_as_exporter_toolkit_reads_it() {
        let c = parse_str("rate_limit:\n  interval: 0\n  burst: 0\n").unwrap();
        assert_eq!(c.rate_limit, None, "interval 0: no limit");
        let c = parse_str("rate_limit:\n  interval: \"1s\"\n  burst: 0\n").unwrap();
        assert_eq!(
            c.rate_limit,
            Some(RateLimit {
                interval: Duration::from_secs(1),
                burst: 0
            })
        );
        let c = parse_str("rate_limit:\n  interval: 250ms\n  burst: 5\n").unwrap();
        assert_eq!(c.rate_limit.map(|r| r.burst), Some(5));
    }

    #[test]
    fn health_needs_auth_unless_exempted() {
        let c = parse_str("basic_auth_users:\n  u: $2y$10$abc\n").unwrap();
        assert!(c.needs_auth(true) && c.needs_auth(false));
    }

    #[test]
    fn bad_files_name_the_problem() {
        let cases: &[(&str, &str)] = &[
            (
                "basic_auth_users:\n  a: \"unterminated\n",
                "found unexpected end of stream",
            ),
            ("- a\n- b\n", "invalid type: sequence"),
            (
                "basic_auth_user:\n  a: b\n",
                "unknown field `basic_auth_user`",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  keyfile: b\n",
                "unknown field `keyfile`",
            ),
            (
                "tls_server_config:\n  cert_file: a\n",
                "tls_server_config.key_file: missing",
            ),
            (
                "tls_server_config:\n  key_file: a\n",
                "tls_server_config.cert_file: missing",
            ),
            (
                "tls_server_config:\n  cert: \"\"\n  key_file: k\n",
                "tls_server_config.cert_file: missing",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  cert: b\n  key_file: k\n",
                "give either cert or cert_file, not both",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
                "TLS10 is not supported, because rustls implements only TLS 1.2 and 1.3",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS11\n",
                "TLS11 is not supported, because",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS14\n",
                "unknown TLS version \"TLS14\"",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
                "min_version: is above max_version",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: Maybe\n",
                "invalid ClientAuth \"Maybe\"",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: c\n",
                "client CA's have been configured without a Client Auth Policy",
            ),
            (
                "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [x]\n",
                "client_allowed_sans: requires client_auth_type to be one of RequireAnyClientCert or RequireAndVerifyClientCert",
            ),
            (
                "http_server_config:\n  headers:\n    Server: dawn\n",
                "headers.Server: not a header that can be set",
            ),
            (
                "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
                "expected deny or sameorigin",
            ),
            ("http_server_config:\n  http2: maybe\n", "invalid type"),
            ("basic_auth_users:\n  \"a:b\": x\n", "cannot contain ':'"),
            ("basic_auth_users:\n  a: [x]\n", "invalid type"),
            ("rate_limit:\n  interval: \"1\"\n", "missing unit"),
            (
                "rate_limit:\n  interval: 1s\n  burst: -1\n",
                "rate_limit.burst: -1 is out of range",
            ),
            ("rate_limit:\n  every: 1s\n", "unknown field `every`"),
            ("dawn_health_without_auth: sometimes\n", "invalid type"),
        ];
        for (text, needle) in cases {
            let err = parse_str(text).expect_err(text);
            assert!(err.contains(needle), "{text:?}: {err:?} lacks {needle:?}");
        }
    }
}
