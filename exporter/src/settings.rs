//! The exporter's settings, each written once: flag, variable, help, accepted values,
//! default and parser. `--help` ([`crate::Cli`]) and [`crate::ExporterConfig::resolve`]
//! both read this table; a new setting is one entry here, one line in [`RunSettings`] and
//! its use in `config.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use dawn_daemon::config::{
    Entry, Flag, Flags, HumanDuration, Invalid, Setting, ShowDefault, Switch, Table, parsed, within,
};
use dawn_daemon::logging;

use crate::http::{HttpLimits, is_reserved_path};
use crate::ingest::{AllowedUids, IngestConfig};
use crate::store::StoreLimits;
use crate::web_config::WebConfig;

/// Socket path.
pub const ENV_SOCKET: &str = dawn_proto::ENV_SOCKET;
/// HTTP port (on 0.0.0.0) when `--web.listen-address` is not given.
pub(crate) const ENV_METRICS_PORT: &str = "PROJECT_DAWN_METRICS_PORT";
/// Metrics path.
pub(crate) const ENV_METRICS_PATH: &str = "PROJECT_DAWN_METRICS_PATH";
/// `--compat.seed-names`.
pub(crate) const ENV_COMPAT_SEED_NAMES: &str = "PROJECT_DAWN_COMPAT_SEED_NAMES";
/// `--ingest.max-clients`.
pub(crate) const ENV_MAX_CLIENTS: &str = "PROJECT_DAWN_EXPORTER_MAX_CLIENTS";
/// `--ingest.max-frame-bytes`.
pub(crate) const ENV_MAX_FRAME_BYTES: &str = "PROJECT_DAWN_EXPORTER_MAX_FRAME_BYTES";
/// `--ingest.handshake-timeout`.
pub(crate) const ENV_HANDSHAKE_TIMEOUT: &str = "PROJECT_DAWN_EXPORTER_HANDSHAKE_TIMEOUT";
/// `--store.max-series`.
pub(crate) const ENV_MAX_SERIES: &str = "PROJECT_DAWN_EXPORTER_MAX_SERIES";
/// `--store.max-series-per-metric`.
pub(crate) const ENV_MAX_SERIES_PER_METRIC: &str = "PROJECT_DAWN_EXPORTER_MAX_SERIES_PER_METRIC";
/// `--store.source-ttl`.
pub(crate) const ENV_SOURCE_TTL: &str = "PROJECT_DAWN_EXPORTER_SOURCE_TTL";
/// `--web.config.file`.
pub(crate) const ENV_WEB_CONFIG_FILE: &str = "PROJECT_DAWN_WEB_CONFIG_FILE";
/// `--health.liveness-timeout`.
pub(crate) const ENV_LIVENESS_TIMEOUT: &str = "PROJECT_DAWN_EXPORTER_LIVENESS_TIMEOUT";
/// `--ingest.allowed-uids`.
pub(crate) const ENV_ALLOWED_UIDS: &str = "PROJECT_DAWN_EXPORTER_ALLOWED_UIDS";
/// `--web.read-header-timeout`.
pub(crate) const ENV_READ_HEADER_TIMEOUT: &str = "PROJECT_DAWN_WEB_READ_HEADER_TIMEOUT";
/// `--web.idle-timeout`.
pub(crate) const ENV_IDLE_TIMEOUT: &str = "PROJECT_DAWN_WEB_IDLE_TIMEOUT";
/// `--web.max-connections`.
pub(crate) const ENV_MAX_CONNECTIONS: &str = "PROJECT_DAWN_WEB_MAX_CONNECTIONS";
/// `--ingest.max-pending`.
pub(crate) const ENV_MAX_PENDING: &str = "PROJECT_DAWN_EXPORTER_MAX_PENDING";
/// `--ingest.frame-timeout`.
pub(crate) const ENV_FRAME_TIMEOUT: &str = "PROJECT_DAWN_EXPORTER_FRAME_TIMEOUT";
/// `--ingest.max-client-bytes`.
pub(crate) const ENV_MAX_CLIENT_BYTES: &str = "PROJECT_DAWN_EXPORTER_MAX_CLIENT_BYTES";
/// `--store.max-definition-bytes`.
pub(crate) const ENV_MAX_DEFINITION_BYTES: &str = "PROJECT_DAWN_EXPORTER_MAX_DEFINITION_BYTES";
/// `--store.max-samples`.
pub(crate) const ENV_MAX_SAMPLES: &str = "PROJECT_DAWN_EXPORTER_MAX_SAMPLES";
/// `--store.max-samples-per-source`.
pub(crate) const ENV_MAX_SAMPLES_PER_SOURCE: &str = "PROJECT_DAWN_EXPORTER_MAX_SAMPLES_PER_SOURCE";
/// `--store.max-native-buckets`.
pub(crate) const ENV_MAX_NATIVE_BUCKETS: &str = "PROJECT_DAWN_EXPORTER_MAX_NATIVE_BUCKETS";
/// `--ingest.max-protocol-version`.
pub(crate) const ENV_MAX_PROTOCOL_VERSION: &str = "PROJECT_DAWN_EXPORTER_MAX_PROTOCOL_VERSION";
/// `--health.max-checks-per-client`.
pub(crate) const ENV_MAX_CHECKS_PER_CLIENT: &str = "PROJECT_DAWN_EXPORTER_MAX_CHECKS_PER_CLIENT";
/// `--health.max-check-bytes`.
pub(crate) const ENV_MAX_CHECK_BYTES: &str = "PROJECT_DAWN_EXPORTER_MAX_CHECK_BYTES";

/// Default HTTP address.
pub(crate) const DEFAULT_LISTEN_ADDRESS: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 9090);
/// Default metrics path.
pub(crate) const DEFAULT_TELEMETRY_PATH: &str = "/metrics";
/// Default liveness timeout (also the start-up grace and the clients' idle timeout).
pub(crate) const DEFAULT_LIVENESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags of the running exporter, as given on the command line.
pub type RunArgs = Flags<RunSettings>;

/// The table of the exporter's settings, in `--help` order.
#[derive(Debug)]
pub struct RunSettings;

impl Table for RunSettings {
    const SETTINGS: &'static [&'static dyn Entry] = &[
        &SOCKET,
        &LISTEN_ADDRESS,
        &METRICS_PORT,
        &WEB_CONFIG_FILE,
        &TELEMETRY_PATH,
        &READ_HEADER_TIMEOUT,
        &IDLE_TIMEOUT,
        &MAX_CONNECTIONS,
        &COMPAT_SEED_NAMES,
        &MAX_CLIENTS,
        &MAX_PENDING,
        &MAX_FRAME_BYTES,
        &HANDSHAKE_TIMEOUT,
        &FRAME_TIMEOUT,
        &MAX_PROTOCOL_VERSION,
        &ALLOWED_UIDS,
        &MAX_CLIENT_BYTES,
        &MAX_SERIES,
        &MAX_SERIES_PER_METRIC,
        &MAX_DEFINITION_BYTES,
        &MAX_SAMPLES,
        &MAX_SAMPLES_PER_SOURCE,
        &MAX_NATIVE_BUCKETS,
        &SOURCE_TTL,
        &LIVENESS_TIMEOUT,
        &MAX_CHECKS_PER_CLIENT,
        &MAX_CHECK_BYTES,
        &logging::LEVEL,
        &logging::FORMAT,
        &logging::DIRECTIVES,
        &logging::FILE,
    ];
    // `healthcheck` finds the exporter by the same address and web config.
    const GLOBAL: &'static [&'static str] = &["web.listen-address", "web.config.file"];
}

pub(crate) const SOCKET: Setting<std::path::PathBuf> = Setting {
    help: "Unix socket where nodes send telemetry. Its directory is created (mode 0750) when missing; a stale socket is replaced, a live exporter's is not.",
    ..dawn_daemon::config::SOCKET
};

pub(crate) const LISTEN_ADDRESS: Setting<SocketAddr> = Setting {
    flag: Flag::Value("web.listen-address", "HOST:PORT"),
    env: None,
    help: "Address and port of the HTTP server; port 0 picks a free port (logged at start-up). Without it, PROJECT_DAWN_METRICS_PORT sets the port (on 0.0.0.0).",
    accepts: "HOST:PORT, [IPV6]:PORT or :PORT",
    default: || DEFAULT_LISTEN_ADDRESS,
    parse: listen_address,
};

pub(crate) const METRICS_PORT: Setting<u16> = Setting {
    flag: Flag::None,
    env: Some(ENV_METRICS_PORT),
    help: "Port of the HTTP server (on 0.0.0.0) when --web.listen-address is not given.",
    accepts: "a port 1-65535",
    default: || DEFAULT_LISTEN_ADDRESS.port(),
    parse: |s| within(s, 1..=u16::MAX),
};

pub(crate) const WEB_CONFIG_FILE: Setting<Option<WebConfig>> = Setting {
    flag: Flag::Value("web.config.file", "FILE"),
    env: Some(ENV_WEB_CONFIG_FILE),
    help: "Web config file (Prometheus exporter-toolkit format) for TLS and basic authentication; read at start-up, re-read when it or its certificate files change (see docs/exporter.md). None: plain HTTP without authentication.",
    accepts: "the path of a web config file",
    default: || None,
    parse: web_config,
};

pub(crate) const TELEMETRY_PATH: Setting<String> = Setting {
    flag: Flag::Value("web.telemetry-path", "PATH"),
    env: Some(ENV_METRICS_PATH),
    help: "Path of the metrics endpoint.",
    accepts: "a path starting with '/' without spaces, '?' or '#', other than /, /health, /health/ready, /health/live and /-/healthy",
    default: || DEFAULT_TELEMETRY_PATH.to_owned(),
    parse: telemetry_path,
};

pub(crate) const READ_HEADER_TIMEOUT: Setting<HumanDuration> = Setting {
    flag: Flag::Value("web.read-header-timeout", "DURATION"),
    env: Some(ENV_READ_HEADER_TIMEOUT),
    help: "Time an HTTP connection has, from connecting (TLS handshake included), to send a complete request head; then it is closed and counted.",
    accepts: "a duration 100ms-10m like 5s",
    default: || HumanDuration(HttpLimits::default().read_header_timeout),
    parse: |s| within(s, durations(Duration::from_millis(100), 10 * MINUTE)),
};

pub(crate) const IDLE_TIMEOUT: Setting<HumanDuration> = Setting {
    flag: Flag::Value("web.idle-timeout", "DURATION"),
    env: Some(ENV_IDLE_TIMEOUT),
    help: "Time a keep-alive HTTP connection has, after an answer, to send its next request head; then it is closed and counted.",
    accepts: "a duration 1s-1h like 2m",
    default: || HumanDuration(HttpLimits::default().idle_timeout),
    parse: |s| within(s, durations(Duration::from_secs(1), HOUR)),
};

pub(crate) const MAX_CONNECTIONS: Setting<usize> = Setting {
    flag: Flag::Value("web.max-connections", "N"),
    env: Some(ENV_MAX_CONNECTIONS),
    help: "Most HTTP connections open at once (at most half the file descriptor limit). A new connection beyond it replaces the one that has waited longest for a request, so scrapes and probes always get in.",
    accepts: "an integer 1-1048576",
    default: || HttpLimits::default().max_connections,
    parse: |s| within(s, 1..=1_048_576),
};

pub(crate) const COMPAT_SEED_NAMES: Setting<Switch> = Setting {
    flag: Flag::Switch("compat.seed-names"),
    env: Some(ENV_COMPAT_SEED_NAMES),
    help: "Also expose p2p_peers as p2p_peers_total (a gauge, same value), the name the original system used, for existing dashboards.",
    accepts: "true or false",
    default: || Switch(false),
    parse: parsed,
};

pub(crate) const MAX_CLIENTS: Setting<usize> = Setting {
    flag: Flag::Value("ingest.max-clients", "N"),
    env: Some(ENV_MAX_CLIENTS),
    help: "Most telemetry clients past their handshake at once. At the limit, the client longest without a whole frame gives way to a new one if that frame is over a second old; otherwise the new one is refused. Both are counted.",
    accepts: "an integer 1-65536",
    default: || IngestConfig::default().max_clients,
    parse: |s| within(s, 1..=65_536),
};

pub(crate) const MAX_PENDING: Setting<usize> = Setting {
    flag: Flag::Value("ingest.max-pending", "N"),
    env: Some(ENV_MAX_PENDING),
    help: "Most telemetry connections that have not completed their handshake; they take no client slot, and at the limit the oldest gives way to a new one (counted).",
    accepts: "an integer 1-65536",
    default: || IngestConfig::default().max_pending,
    parse: |s| within(s, 1..=65_536),
};

pub(crate) const MAX_FRAME_BYTES: Setting<usize> = Setting {
    flag: Flag::Value("ingest.max-frame-bytes", "BYTES"),
    env: Some(ENV_MAX_FRAME_BYTES),
    help: "Largest telemetry frame accepted, in bytes; a larger frame disconnects its client.",
    accepts: "an integer 256-1048576",
    default: || IngestConfig::default().max_frame_bytes,
    parse: |s| within(s, 256..=dawn_proto::MAX_FRAME_LEN_LIMIT),
};

pub(crate) const HANDSHAKE_TIMEOUT: Setting<HumanDuration> = Setting {
    flag: Flag::Value("ingest.handshake-timeout", "DURATION"),
    env: Some(ENV_HANDSHAKE_TIMEOUT),
    help: "Time a new client has to say Hello before it is disconnected.",
    accepts: "a duration 10ms-1h like 500ms, 5s or 1m",
    default: || HumanDuration(IngestConfig::default().handshake_timeout),
    parse: |s| within(s, durations(Duration::from_millis(10), HOUR)),
};

pub(crate) const FRAME_TIMEOUT: Setting<HumanDuration> = Setting {
    flag: Flag::Value("ingest.frame-timeout", "DURATION"),
    env: Some(ENV_FRAME_TIMEOUT),
    help: "Time a telemetry frame has to arrive whole after its first byte, however slowly its bytes trickle; then its client is disconnected (stalled).",
    accepts: "a duration 10ms-1h like 5s",
    default: || HumanDuration(IngestConfig::default().frame_timeout),
    parse: |s| within(s, durations(Duration::from_millis(10), HOUR)),
};

pub(crate) const MAX_PROTOCOL_VERSION: Setting<u16> = Setting {
    flag: Flag::Value("ingest.max-protocol-version", "1|2"),
    env: Some(ENV_MAX_PROTOCOL_VERSION),
    help: "Newest wire protocol version clients are welcomed at. 1 behaves exactly as an exporter from before native histograms (version 2): clients send classic histogram buckets only, for a staged rollout or to keep native buckets out of the store.",
    accepts: "1 or 2",
    default: || dawn_proto::MAX_SUPPORTED_VERSION,
    parse: |s| {
        within(
            s,
            dawn_proto::MIN_SUPPORTED_VERSION..=dawn_proto::MAX_SUPPORTED_VERSION,
        )
    },
};

pub(crate) const ALLOWED_UIDS: Setting<AllowedUids> = Setting {
    flag: Flag::Value("ingest.allowed-uids", "UIDS"),
    env: Some(ENV_ALLOWED_UIDS),
    help: "Users whose telemetry clients are served, by uid as the kernel reports it (SO_PEERCRED); others are refused and counted. Default: any user who can open the socket.",
    accepts: AllowedUids::ACCEPTS,
    default: AllowedUids::default,
    parse: AllowedUids::parse,
};

pub(crate) const MAX_CLIENT_BYTES: Setting<usize> = Setting {
    flag: Flag::Value("ingest.max-client-bytes", "BYTES"),
    env: Some(ENV_MAX_CLIENT_BYTES),
    help: "Most bytes of definitions one telemetry client may have the exporter keep (names, help, label names and values, bucket bounds, and 64 per id); definitions beyond it are refused and counted.",
    accepts: "an integer 65536-1073741824",
    default: || IngestConfig::default().max_client_bytes,
    parse: |s| within(s, 65_536..=1 << 30),
};

pub(crate) const MAX_SERIES: Setting<usize> = Setting {
    flag: Flag::Value("store.max-series", "N"),
    env: Some(ENV_MAX_SERIES),
    help: "Most series held in total; new series beyond it are rejected and counted.",
    accepts: SERIES_RANGE,
    default: || StoreLimits::default().max_series,
    parse: series_cap,
};

pub(crate) const MAX_SERIES_PER_METRIC: Setting<usize> = Setting {
    flag: Flag::Value("store.max-series-per-metric", "N"),
    env: Some(ENV_MAX_SERIES_PER_METRIC),
    help: "Most series held per metric.",
    accepts: SERIES_RANGE,
    default: || StoreLimits::default().max_series_per_metric,
    parse: series_cap,
};

pub(crate) const MAX_DEFINITION_BYTES: Setting<usize> = Setting {
    flag: Flag::Value("store.max-definition-bytes", "BYTES"),
    env: Some(ENV_MAX_DEFINITION_BYTES),
    help: "Most bytes of metric definitions and series labels held in total; new ones beyond it are refused and counted.",
    accepts: "an integer 65536-17179869184",
    default: || StoreLimits::default().max_definition_bytes,
    parse: |s| within(s, 65_536..=1 << 34),
};

pub(crate) const MAX_SAMPLES: Setting<usize> = Setting {
    flag: Flag::Value("store.max-samples", "N"),
    env: Some(ENV_MAX_SAMPLES),
    help: "Most samples (one per series and node) held in total; a node's first value of a series beyond it is dropped and counted.",
    accepts: SERIES_RANGE,
    default: || StoreLimits::default().max_samples,
    parse: series_cap,
};

pub(crate) const MAX_SAMPLES_PER_SOURCE: Setting<usize> = Setting {
    flag: Flag::Value("store.max-samples-per-source", "N"),
    env: Some(ENV_MAX_SAMPLES_PER_SOURCE),
    help: "Most samples held per node (client name and node id).",
    accepts: SERIES_RANGE,
    default: || StoreLimits::default().max_samples_per_source,
    parse: series_cap,
};

pub(crate) const SOURCE_TTL: Setting<HumanDuration> = Setting {
    flag: Flag::Value("store.source-ttl", "DURATION"),
    env: Some(ENV_SOURCE_TTL),
    help: "How long the values of a disconnected node are kept before they are dropped.",
    accepts: "a duration 0s-720h like 30s, 5m or 1h",
    default: || HumanDuration(StoreLimits::default().source_ttl),
    parse: |s| within(s, durations(Duration::ZERO, 720 * HOUR)),
};

pub(crate) const LIVENESS_TIMEOUT: Setting<HumanDuration> = Setting {
    flag: Flag::Value("health.liveness-timeout", "DURATION"),
    env: Some(ENV_LIVENESS_TIMEOUT),
    help: "/health/live fails once the node has been silent this long; also the start-up grace and the idle timeout of telemetry clients.",
    accepts: "a duration 1s-1h like 30s or 2m",
    default: || HumanDuration(DEFAULT_LIVENESS_TIMEOUT),
    parse: |s| within(s, durations(Duration::from_secs(1), HOUR)),
};

pub(crate) const MAX_CHECKS_PER_CLIENT: Setting<usize> = Setting {
    flag: Flag::Value("health.max-checks-per-client", "N"),
    env: Some(ENV_MAX_CHECKS_PER_CLIENT),
    help: "Most health checks one client may report; its further new checks are dropped and counted. dawn_health_check_status has room for this many per client.",
    accepts: "an integer 1-1024",
    default: || IngestConfig::default().max_checks_per_client,
    parse: |s| within(s, 1..=1024),
};

pub(crate) const MAX_CHECK_BYTES: Setting<usize> = Setting {
    flag: Flag::Value("health.max-check-bytes", "BYTES"),
    env: Some(ENV_MAX_CHECK_BYTES),
    help: "Largest health check report kept whole (name, message and details); a larger one keeps its status, its message is cut and its last details dropped to fit (counted).",
    accepts: "an integer 256-65536",
    default: || IngestConfig::default().max_check_bytes,
    parse: |s| within(s, 256..=65_536),
};

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);

pub(crate) const MAX_NATIVE_BUCKETS: Setting<usize> = Setting {
    flag: Flag::Value("store.max-native-buckets", "N"),
    env: Some(ENV_MAX_NATIVE_BUCKETS),
    help: "Most native histogram buckets held over all samples (16 bytes each); a value whose native buckets would pass it is dropped and counted, and its series keeps its last value. 0 keeps none.",
    accepts: "an integer 0-1000000000",
    default: || StoreLimits::default().max_native_buckets,
    parse: |text| within(text, 0..=1_000_000_000),
};

/// What the two series caps accept.
const SERIES_RANGE: &str = "an integer 1-100000000";

fn series_cap(text: &str) -> Result<usize, Invalid> {
    within(text, 1..=100_000_000)
}

/// The durations from `min` to `max`.
fn durations(min: Duration, max: Duration) -> RangeInclusive<HumanDuration> {
    HumanDuration(min)..=HumanDuration(max)
}

/// An address as Prometheus exporters take it: `HOST:PORT`, `[V6]:PORT` or `:PORT` (all
/// interfaces).
fn listen_address(text: &str) -> Result<SocketAddr, Invalid> {
    match text.strip_prefix(':') {
        Some(port) => parsed(&format!("0.0.0.0:{port}")),
        None => parsed(text),
    }
}

fn telemetry_path(text: &str) -> Result<String, Invalid> {
    let valid = text.starts_with('/')
        && !text
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#'))
        && !is_reserved_path(text);
    if valid {
        Ok(text.to_owned())
    } else {
        Err(Invalid::OutOfRange)
    }
}

/// The web config, read and checked now: a file that cannot be used is a configuration
/// error naming the problem.
fn web_config(text: &str) -> Result<Option<WebConfig>, Invalid> {
    if text.is_empty() {
        return Err(Invalid::Malformed("empty".to_owned()));
    }
    WebConfig::load(Path::new(text))
        .map(Some)
        .map_err(|e| Invalid::Unusable(e.to_string()))
}

/// A web config shows as its file.
impl ShowDefault for WebConfig {
    fn show_default(&self) -> String {
        self.path.display().to_string()
    }
}
