//! Moves bytes between one client's socket and its [`Session`]: a fixed read buffer into a
//! [`FrameDecoder`], reply frames out with a write timeout, and the handshake and idle
//! timeouts. A misbehaving client ends only its own task.

use std::time::{Duration, Instant};

use dawn_proto::{DecodeError, Frame, FrameDecoder, encode_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tracing::debug;

use super::session::{End, Session};
use crate::metrics::ProtocolError;

/// Bytes read from the socket at a time.
const READ_BUFFER: usize = 64 * 1024;

/// Timeouts and sizes of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnectionLimits {
    pub(crate) max_frame_bytes: usize,
    pub(crate) handshake_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) write_timeout: Duration,
}

/// Why replies could not be sent.
enum SendError {
    /// The client did not read within the write timeout.
    Timeout(Duration),
    /// The socket failed.
    Io(std::io::Error),
}

impl SendError {
    /// The session's end: a write timeout is the client's fault and counted as such.
    fn into_end(self, session: &mut Session) -> End {
        match self {
            SendError::Timeout(t) => {
                let message = format!(
                    "the client did not read the exporter's replies within {}s",
                    t.as_secs_f64()
                );
                // No reply can be delivered; the Reject `fail` would queue is discarded.
                session.fail(ProtocolError::WriteTimeout, message, &mut Vec::new())
            }
            SendError::Io(e) => End::Io(format!("write failed: {e}")),
        }
    }
}

/// Encodes and sends `frames` (draining it), within `timeout`.
async fn send(
    writer: &mut OwnedWriteHalf,
    frames: &mut Vec<Frame>,
    bytes: &mut Vec<u8>,
    timeout: Duration,
) -> Result<(), SendError> {
    if frames.is_empty() {
        return Ok(());
    }
    bytes.clear();
    for frame in frames.drain(..) {
        // Replies are small and built by the exporter; a frame that cannot be encoded is
        // a bug worth a log line, not a reason to drop the client.
        if let Err(e) = encode_frame(&frame, bytes) {
            debug!("cannot encode reply {}: {e}", frame.kind_name());
        }
    }
    match tokio::time::timeout(timeout, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SendError::Io(e)),
        Err(_) => Err(SendError::Timeout(timeout)),
    }
}

/// Resolves once the exporter shuts down.
pub(crate) async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // An error means the sender is gone, which also means shutting down.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// The session's end when its deadline passed.
fn timed_out(
    session: &mut Session,
    decoder: &FrameDecoder,
    limits: ConnectionLimits,
    replies: &mut Vec<Frame>,
) -> End {
    let (reason, message) = if session.in_handshake() {
        (
            ProtocolError::HandshakeTimeout,
            format!(
                "no Hello within {}s",
                limits.handshake_timeout.as_secs_f64()
            ),
        )
    } else if decoder.buffered() > 0 {
        (
            ProtocolError::Stalled,
            format!(
                "stalled for {}s in the middle of a frame ({} bytes buffered)",
                limits.idle_timeout.as_secs_f64(),
                decoder.buffered()
            ),
        )
    } else {
        (
            ProtocolError::IdleTimeout,
            format!(
                "silent for {}s (the liveness timeout)",
                limits.idle_timeout.as_secs_f64()
            ),
        )
    };
    session.fail(reason, message, replies)
}

fn decode_failure(session: &mut Session, e: &DecodeError, out: &mut Vec<Frame>) -> End {
    session.fail(ProtocolError::from(e), e.to_string(), out)
}

/// Serves one client until it leaves, misbehaves or the exporter shuts down; `slot` is
/// its place under `--ingest.max-clients`.
pub(crate) async fn serve(
    stream: UnixStream,
    mut session: Session,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
    slot: OwnedSemaphorePermit,
) {
    let (mut reader, mut writer) = stream.into_split();
    let mut decoder = FrameDecoder::new(limits.max_frame_bytes);
    let mut buf = vec![0u8; READ_BUFFER];
    let mut replies = Vec::new();
    let mut bytes = Vec::new();
    let started = tokio::time::Instant::now();
    let mut last_read = started;

    let end = loop {
        let deadline = if session.in_handshake() {
            started + limits.handshake_timeout
        } else {
            last_read + limits.idle_timeout
        };
        let read = tokio::select! {
            biased;
            () = stopped(&mut shutdown) => break End::Shutdown,
            () = tokio::time::sleep_until(deadline) => None,
            read = reader.read(&mut buf) => Some(read),
        };
        let Some(read) = read else {
            let end = timed_out(&mut session, &decoder, limits, &mut replies);
            let _ = send(&mut writer, &mut replies, &mut bytes, limits.write_timeout).await;
            break end;
        };
        let n = match read {
            Ok(0) => {
                let end = match decoder.finish() {
                    Ok(()) => End::Eof,
                    Err(e) => decode_failure(&mut session, &e, &mut replies),
                };
                // The client may only have shut down its write side; tell it why if we can.
                let _ = send(&mut writer, &mut replies, &mut bytes, limits.write_timeout).await;
                break end;
            }
            Ok(n) => n,
            Err(e) => break End::Io(format!("read failed: {e}")),
        };
        last_read = tokio::time::Instant::now();
        decoder.extend(buf.get(..n).unwrap_or_default());
        let now = Instant::now();
        let mut ended = None;
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    if let Some(end) = session.on_frame(frame, now, &mut replies) {
                        ended = Some(end);
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    ended = Some(decode_failure(&mut session, &e, &mut replies));
                    break;
                }
            }
        }
        if let Err(e) = send(&mut writer, &mut replies, &mut bytes, limits.write_timeout).await {
            // A session that already ended keeps its own reason.
            break match ended {
                Some(end) => end,
                None => e.into_end(&mut session),
            };
        }
        if let Some(end) = ended {
            break end;
        }
    };
    let _ = writer.shutdown().await;
    // Free the client slot before the session stops counting as connected, so that
    // `dawn_exporter_clients` below the limit always means a slot is free.
    drop(slot);
    session.close(&end, Instant::now());
}
