//! The socket side of one connection: connect and handshake, timed writes, and frames read
//! from the exporter. Everything else about the session is in [`super::session`].

use std::io;
use std::path::Path;
use std::time::Duration;

use dawn_proto::{
    DEFAULT_MAX_FRAME_LEN, DecodeError, Frame, FrameDecoder, Hello, Welcome, encode_frame,
    supported_versions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::session::SessionError;

/// Why a connection failed or ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("cannot connect: {0}")]
    Connect(#[source] io::Error),
    #[error(
        "the exporter runs as uid {uid} (pid {pid}), which is neither this process' uid {own}, root, nor an allowed exporter uid {allowed:?}; nothing was sent to it"
    )]
    UntrustedExporter {
        uid: u32,
        pid: i64,
        own: u32,
        allowed: Vec<u32>,
    },
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("exporter rejected the session: {0}")]
    Rejected(String),
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    #[error("exporter closed the connection")]
    Closed,
    #[error("unreadable data from the exporter: {0}")]
    Decode(#[from] DecodeError),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Refuses an exporter whose uid, as the kernel reports it (`SO_PEERCRED`), is neither this
/// process' effective uid, root's, nor one of `allowed_uids`: whoever could create the
/// socket first would otherwise receive the `Hello` (the node's id) and every record
/// (docs/security.md).
fn check_exporter(stream: &UnixStream, allowed_uids: &[u32]) -> Result<(), ConnError> {
    let cred = stream.peer_cred()?;
    let (uid, own) = (cred.uid(), rustix::process::geteuid().as_raw());
    if trusts(uid, own, allowed_uids) {
        return Ok(());
    }
    Err(ConnError::UntrustedExporter {
        uid,
        pid: cred.pid().map_or(-1, i64::from),
        own,
        allowed: allowed_uids.to_vec(),
    })
}

/// Whether an exporter running as `uid` may have the telemetry of a process running as
/// `own`: the same user, root, or one of `allowed`.
fn trusts(uid: u32, own: u32, allowed: &[u32]) -> bool {
    uid == own || uid == 0 || allowed.contains(&uid)
}

/// An open, welcomed connection.
#[derive(Debug)]
pub(crate) struct Conn {
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    decoder: FrameDecoder,
    buf: Box<[u8]>,
}

impl Conn {
    /// Connects to `path`, checks who serves it ([`check_exporter`] with
    /// `allowed_uids`), sends `hello` and waits for the `Welcome`, all within `limit`.
    /// `Error` frames received meanwhile are passed to `on_error`.
    pub(crate) async fn open(
        path: &Path,
        allowed_uids: &[u32],
        hello: &Hello,
        limit: Duration,
        on_error: impl FnMut(&dawn_proto::ErrorReport),
    ) -> Result<(Conn, Welcome), ConnError> {
        let handshake = Self::handshake(path, allowed_uids, hello, on_error);
        match tokio::time::timeout(limit, handshake).await {
            Ok(result) => result,
            Err(_) => Err(ConnError::Timeout("connect and handshake")),
        }
    }

    async fn handshake(
        path: &Path,
        allowed_uids: &[u32],
        hello: &Hello,
        mut on_error: impl FnMut(&dawn_proto::ErrorReport),
    ) -> Result<(Conn, Welcome), ConnError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(ConnError::Connect)?;
        check_exporter(&stream, allowed_uids)?;
        let (reader, writer) = stream.into_split();
        let mut conn = Conn {
            reader,
            writer,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME_LEN),
            buf: vec![0; 8192].into_boxed_slice(),
        };
        // What this client offered: a capped `Hello` (`max_protocol_version`) takes no
        // version above its cap.
        let offered = hello.min_version.max(*supported_versions().start())
            ..=hello.max_version.min(*supported_versions().end());
        let mut bytes = Vec::new();
        encode_frame(&Frame::Hello(hello.clone()), &mut bytes).map_err(SessionError::from)?;
        conn.writer.write_all(&bytes).await?;
        loop {
            match conn.read_frame().await? {
                Frame::Welcome(w) if offered.contains(&w.version) => {
                    return Ok((conn, w));
                }
                Frame::Welcome(w) => {
                    return Err(ConnError::Protocol(format!(
                        "exporter chose version {} outside our {offered:?}",
                        w.version,
                    )));
                }
                Frame::Reject(r) => return Err(ConnError::Rejected(r.reason)),
                Frame::Error(report) => on_error(&report),
                other => {
                    return Err(ConnError::Protocol(format!(
                        "expected welcome, got {}",
                        other.kind_name()
                    )));
                }
            }
        }
    }

    /// Writes `bytes` whole, or fails after `limit` (the connection is then unusable: a frame
    /// may be half-written).
    pub(crate) async fn write(&mut self, bytes: &[u8], limit: Duration) -> Result<(), ConnError> {
        if bytes.is_empty() {
            return Ok(());
        }
        match tokio::time::timeout(limit, self.writer.write_all(bytes)).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(ConnError::Timeout("write to the exporter")),
        }
    }

    /// The next frame from the exporter. Cancel-safe: bytes read are kept in the decoder.
    pub(crate) async fn read_frame(&mut self) -> Result<Frame, ConnError> {
        loop {
            if let Some(frame) = self.decoder.next_frame()? {
                return Ok(frame);
            }
            let n = self.reader.read(&mut self.buf).await?;
            if n == 0 {
                return Err(ConnError::Closed);
            }
            self.decoder.extend(self.buf.get(..n).unwrap_or_default());
        }
    }

    /// Closes our direction after the last frame, within `limit`.
    pub(crate) async fn close(mut self, limit: Duration) {
        // The exporter may already be gone: nothing is left to do about it.
        let _ = tokio::time::timeout(limit, self.writer.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::trusts;

    #[test]
    fn the_exporter_must_be_us_root_or_allowed() {
        assert!(trusts(1000, 1000, &[]));
        assert!(trusts(0, 1000, &[]));
        assert!(!trusts(65534, 1000, &[]));
        assert!(trusts(10001, 1000, &[10001]));
        assert!(!trusts(10002, 1000, &[10001]));
        assert!(trusts(0, 0, &[]));
    }
}
