//! The telemetry socket setting, shared by the node (which connects) and the exporter
//! (which listens): one flag, one variable, one default and one length limit for both.

use std::path::PathBuf;

use super::setting::{Flag, Invalid, Setting};

/// Longest Unix socket path: `sun_path` holds 108 bytes including the final NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// `--socket PATH` / `PROJECT_DAWN_TELEMETRY_SOCKET`, default
/// [`dawn_proto::DEFAULT_SOCKET_PATH`]. A binary may give it its own `help` with struct
/// update syntax (`Setting { help: "…", ..SOCKET }`); nothing else differs between them.
pub const SOCKET: Setting<PathBuf> = Setting {
    flag: Flag::Value("socket", "PATH"),
    env: Some(dawn_proto::ENV_SOCKET),
    help: "Unix socket between the node and its exporter.",
    accepts: "a path of at most 107 bytes",
    default: || PathBuf::from(dawn_proto::DEFAULT_SOCKET_PATH),
    parse: socket_path,
};

fn socket_path(text: &str) -> Result<PathBuf, Invalid> {
    if text.is_empty() || text.len() > MAX_SOCKET_PATH {
        return Err(Invalid::OutOfRange);
    }
    Ok(PathBuf::from(text))
}
