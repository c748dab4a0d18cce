//! Who is on the other end of a telemetry connection, in the kernel's words
//! (`SO_PEERCRED`, read with tokio's `peer_cred`) rather than the client's (its `Hello`
//! carries a pid it chose), and whether that user may send telemetry
//! (`--ingest.allowed-uids`; by default any user who can open the socket may).
//!
//! A refused client gets a `Reject` naming the reason and is closed before a byte of it is
//! read; it is counted in `dawn_exporter_refused_clients_total{reason="uid_not_allowed"}`
//! and `dawn_exporter_connections_total{result="rejected"}`, and logged through the
//! [`AbuseLog`] (the first in full, then a count per interval) (docs/security.md).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use dawn_daemon::config::{Invalid, ShowDefault};
use dawn_daemon::uids::Uids;
use dawn_proto::{Frame, Reject, encode_frame};
use tokio::net::UnixStream;
use tracing::{debug, warn};

use crate::abuse_log::{Abuse, AbuseLog};
use crate::metrics::{ClientRefusal, ConnectionResult, ExporterMetrics};

/// The users whose clients may send telemetry: `None`, any user who can open the socket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedUids(pub Option<Uids>);

impl AllowedUids {
    /// What `--ingest.allowed-uids` accepts.
    pub const ACCEPTS: &'static str = Uids::ACCEPTS;

    /// Whether a client of `uid` may connect.
    pub fn allows(&self, uid: u32) -> bool {
        self.0.as_ref().is_none_or(|uids| uids.contains(uid))
    }

    /// The setting's parser.
    pub fn parse(text: &str) -> Result<AllowedUids, Invalid> {
        Uids::from_str(text)
            .map(|uids| AllowedUids(Some(uids)))
            .map_err(|e| Invalid::Malformed(e.to_string()))
    }
}

impl fmt::Display for AllowedUids {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("any"),
            Some(uids) => uids.fmt(f),
        }
    }
}

/// Unrestricted shows as `any`.
impl ShowDefault for AllowedUids {
    fn show_default(&self) -> String {
        self.to_string()
    }
}

/// The check every accepted connection passes before it gets a task.
#[derive(Debug)]
pub(crate) struct Gate {
    pub(crate) allowed: AllowedUids,
    pub(crate) metrics: Arc<ExporterMetrics>,
    pub(crate) log: Arc<AbuseLog>,
}

impl Gate {
    /// Connection number `conn`, if its user may send telemetry; otherwise it is told why,
    /// closed, counted and (rate-limited) logged.
    pub(crate) fn admit(&self, stream: UnixStream, conn: u64) -> Option<UnixStream> {
        // Credentials of a connected Unix socket are always there on Linux; without them
        // the peer is nobody in particular, which an allow-list does not admit.
        let (uid, pid) = match stream.peer_cred() {
            Ok(cred) => (Some(cred.uid()), cred.pid()),
            Err(e) => {
                debug!(conn, "cannot read the client's credentials: {e}");
                (None, None)
            }
        };
        debug!(conn, uid, pid, "telemetry client connected");
        if uid.is_some_and(|uid| self.allowed.allows(uid)) || self.allowed.0.is_none() {
            return Some(stream);
        }
        let reason = ClientRefusal::UidNotAllowed;
        self.metrics.refused_client(reason);
        self.metrics.connection(ConnectionResult::Rejected);
        let uid_text = uid.map_or_else(|| "unknown".to_owned(), |u| u.to_string());
        let allowed = &self.allowed;
        self.log.event(Abuse::Refused(reason), || {
            warn!(
                conn,
                uid,
                pid,
                reason = reason.as_str(),
                "telemetry client refused: uid {uid_text} is not in --ingest.allowed-uids ({allowed}); further refusals are counted and summarised"
            );
        });
        let reject = Frame::Reject(Reject {
            reason: format!(
                "{reason}: uid {uid_text} may not send telemetry to this exporter (--ingest.allowed-uids)"
            ),
        });
        let mut bytes = Vec::new();
        // A fresh connection's send buffer is empty, so the few bytes of the answer fit
        // without waiting; if they do not, the client only misses the reason.
        if encode_frame(&reject, &mut bytes).is_ok() {
            let _ = stream.try_write(&bytes);
        }
        None
    }

    /// An `accept` that failed (out of file descriptors, ...): logged, rate-limited.
    pub(crate) fn accept_failed(&self, e: &std::io::Error) {
        self.log.event(Abuse::IngestAccept, || {
            warn!("cannot accept a telemetry client: {e}");
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_uids_parse_show_and_allow() {
        let any = AllowedUids::default();
        assert!(any.allows(0) && any.allows(65534));
        assert_eq!(any.show_default(), "any");
        let some = AllowedUids::parse("10001, 0").unwrap();
        assert!(some.allows(0) && some.allows(10001) && !some.allows(65534));
        assert_eq!(some.to_string(), "0,10001");
        assert!(matches!(
            AllowedUids::parse("nobody"),
            Err(Invalid::Malformed(_))
        ));
    }
}
