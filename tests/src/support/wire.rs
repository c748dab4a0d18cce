//! A raw telemetry client: frames encoded with `dawn_proto::encode_frame` over a
//! `std::os::unix::net::UnixStream`, for tests that must send what no well-behaved client
//! would.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use dawn_proto::{DEFAULT_MAX_FRAME_LEN, Frame, FrameDecoder, Hello, encode_frame};

use crate::support::eventually::patience;

/// One raw connection to an exporter's socket.
#[derive(Debug)]
pub struct RawClient {
    stream: UnixStream,
    decoder: FrameDecoder,
    closed: bool,
}

/// What reading from the exporter gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    /// A frame.
    Frame(Frame),
    /// The exporter closed the connection.
    Closed,
}

impl RawClient {
    /// Connects to `socket`.
    #[track_caller]
    pub fn connect(socket: &Path) -> RawClient {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        RawClient {
            stream,
            decoder: FrameDecoder::new(DEFAULT_MAX_FRAME_LEN),
            closed: false,
        }
    }

    /// A `Hello` for `node_id` offering every version this build supports.
    pub fn hello_frame(node_id: &str, incarnation: u64) -> Hello {
        Hello::new(
            "dawn-tests",
            "0.0.0-test",
            node_id,
            incarnation,
            std::process::id(),
            100,
        )
    }

    /// Connects and completes a handshake as `node_id`; fails the test unless `Welcome`.
    #[track_caller]
    pub fn handshake(socket: &Path, node_id: &str, incarnation: u64) -> RawClient {
        let mut c = RawClient::connect(socket);
        c.send(&Frame::Hello(RawClient::hello_frame(node_id, incarnation)));
        match c.recv() {
            Received::Frame(Frame::Welcome(_)) => c,
            other => panic!("expected Welcome for {node_id}, got {other:?}"),
        }
    }

    /// Sends one frame. A write error (the exporter already closed) is ignored: the test
    /// checks what the exporter answered instead.
    pub fn send(&mut self, frame: &Frame) {
        let mut bytes = Vec::new();
        encode_frame(frame, &mut bytes).expect("test frames encode");
        self.send_bytes(&bytes);
    }

    /// Sends raw bytes; write errors are ignored, as in [`RawClient::send`].
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Half-closes the connection: the exporter sees end of stream.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }

    /// The next frame from the exporter, or `Closed`; fails the test if neither comes within
    /// the patience.
    #[track_caller]
    pub fn recv(&mut self) -> Received {
        match self.recv_within(patience()) {
            Some(r) => r,
            None => panic!("the exporter sent nothing and kept the connection open"),
        }
    }

    /// Like [`RawClient::recv`], but `None` after `wait` without anything.
    pub fn recv_within(&mut self, wait: Duration) -> Option<Received> {
        let deadline = Instant::now() + wait;
        loop {
            match self.decoder.next_frame() {
                Ok(Some(f)) => return Some(Received::Frame(f)),
                Ok(None) => {}
                Err(e) => panic!("the exporter sent an undecodable stream: {e}"),
            }
            if self.closed {
                return Some(Received::Closed);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("set_read_timeout");
            let mut buf = [0u8; 8192];
            match self.stream.read(&mut buf) {
                Ok(0) => self.closed = true,
                Ok(n) => self.decoder.extend(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Reset by the exporter: it closed on us.
                Err(_) => self.closed = true,
            }
        }
    }

    /// Reads until the exporter closes the connection; returns every frame it sent before.
    /// Fails the test if the connection stays open past the patience.
    #[track_caller]
    pub fn frames_until_closed(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        loop {
            match self.recv() {
                Received::Frame(f) => frames.push(f),
                Received::Closed => return frames,
            }
        }
    }

    /// Every frame that arrives within `wait` (the connection may stay open).
    pub fn frames_within(&mut self, wait: Duration) -> Vec<Frame> {
        let deadline = Instant::now() + wait;
        let mut frames = Vec::new();
        while let Some(Received::Frame(f)) =
            self.recv_within(deadline.saturating_duration_since(Instant::now()))
        {
            frames.push(f);
        }
        frames
    }

    /// Whether the exporter has closed the connection (as far as seen so far).
    pub fn is_closed(&self) -> bool {
        self.closed
    }
}
