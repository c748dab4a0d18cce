//! A blocking wire client for the exporter's socket (`std` Unix stream, frames from
//! `dawn_proto`), as `tests/src/support/wire.rs` speaks it: the benchmark's clients send
//! exactly the frames a node would, without the node's shipper in between.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_proto::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, Hello, encode_frame};

/// One connection to an exporter, past the handshake.
#[derive(Debug)]
pub(crate) struct WireClient {
    stream: UnixStream,
    decoder: FrameDecoder,
}

impl WireClient {
    /// Connects to `socket` and says `Hello` as `node_id`; fails unless `Welcome` comes back.
    pub(crate) fn handshake(
        socket: &Path,
        node_id: &str,
        incarnation: u64,
    ) -> anyhow::Result<WireClient> {
        let stream = UnixStream::connect(socket)
            .with_context(|| format!("cannot connect to {}", socket.display()))?;
        let mut client = WireClient {
            stream,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME_LEN),
        };
        let hello = Hello::new(
            "dawn-bench",
            env!("CARGO_PKG_VERSION"),
            node_id,
            incarnation,
            std::process::id(),
            1000,
        );
        let mut bytes = Vec::new();
        encode_frame(&Frame::Hello(hello), &mut bytes)?;
        client.write(&bytes)?;
        match client.replies(Duration::from_secs(10))?.first() {
            Some(Frame::Welcome(_)) => Ok(client),
            other => bail!("expected Welcome for {node_id}, got {other:?}"),
        }
    }

    /// Writes encoded frames.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream
            .write_all(bytes)
            .context("writing to the exporter failed")
    }

    /// The frames the exporter sent within `wait`, returning as soon as some arrived (at
    /// least one read is tried, so a zero `wait` collects what has already arrived).
    pub(crate) fn replies(&mut self, wait: Duration) -> anyhow::Result<Vec<Frame>> {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 8192];
        let mut tried = false;
        loop {
            let mut frames = Vec::new();
            while let Some(f) = self.decoder.next_frame()? {
                frames.push(f);
            }
            if !frames.is_empty() {
                return Ok(frames);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() && tried {
                return Ok(frames);
            }
            tried = true;
            if left.is_zero() {
                self.stream.set_nonblocking(true)?;
            } else {
                self.stream.set_read_timeout(Some(left))?;
            }
            let read = self.stream.read(&mut buf);
            self.stream.set_nonblocking(false)?;
            match read {
                Ok(0) => bail!("the exporter closed the connection"),
                Ok(n) => self.decoder.extend(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(e).context("reading from the exporter failed"),
            }
        }
    }

    /// Fails if the exporter answered anything (an `Error` frame) or closed the connection.
    pub(crate) fn expect_silence(&mut self, what: &str) -> anyhow::Result<()> {
        let frames = self.replies(Duration::ZERO)?;
        if !frames.is_empty() {
            bail!("the exporter answered {what} with {frames:?}");
        }
        Ok(())
    }
}
