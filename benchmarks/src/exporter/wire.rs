//! A blocking wire client for the exporter's socket (`std` Unix stream, frames from
//! `dawn_proto`), as `tests/src/support/wire.rs` speaks it: the benchmark's clients send
//! exactly the frames a node would, without the node's shipper in between.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use dawn_proto::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, Heartbeat, Hello, encode_frame};

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

    /// A second handle on the same connection, for writing from another thread (the
    /// [`Pulse`] of heartbeats).
    pub(crate) fn writer(&self) -> anyhow::Result<UnixStream> {
        self.stream
            .try_clone()
            .context("cannot clone the connection to the exporter")
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

/// A `Heartbeat` every [`Pulse::EVERY`] on each of some connections, from a thread of its
/// own, as a node's shipper sends one every flush: a client silent for the exporter's
/// liveness timeout (30 s) is disconnected, and a large store's checks take longer than
/// that. Stopped when dropped.
#[derive(Debug)]
pub(crate) struct Pulse {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Pulse {
    /// The interval: the node's default flush.
    const EVERY: Duration = Duration::from_secs(1);

    /// Starts the heartbeats of `clients`.
    pub(crate) fn start<'c>(
        clients: impl IntoIterator<Item = &'c WireClient>,
    ) -> anyhow::Result<Pulse> {
        let mut writers = clients
            .into_iter()
            .map(WireClient::writer)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (stop, stopped) = mpsc::channel::<()>();
        let started = Instant::now();
        let thread = std::thread::Builder::new()
            .name("heartbeats".into())
            .spawn(move || {
                let mut bytes = Vec::new();
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(Self::EVERY) {
                    bytes.clear();
                    let heartbeat = Heartbeat {
                        uptime_ms: started.elapsed().as_millis() as u64,
                        dropped: 0,
                    };
                    encode_frame(&Frame::Heartbeat(heartbeat), &mut bytes)?;
                    for w in &mut writers {
                        w.write_all(&bytes).context("sending a heartbeat failed")?;
                    }
                }
                Ok(())
            })?;
        Ok(Pulse {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Stops the heartbeats; fails if one could not be sent.
    pub(crate) fn stop(mut self) -> anyhow::Result<()> {
        self.halt()
    }

    fn halt(&mut self) -> anyhow::Result<()> {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => bail!("the heartbeat thread panicked"),
            None => Ok(()),
        }
    }
}

impl Drop for Pulse {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}
