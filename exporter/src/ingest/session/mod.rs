//! One connection's protocol state machine, without side effects, in the manner of
//! quinn-proto's `Connection`: bytes and time in; reply frames and [`Event`]s out.
//!
//! The session owns only protocol state: where the handshake stands, the connection's id
//! tables, the error-frame budget, the frame decoder and its deadlines. It touches no
//! store, health model, metric, socket or clock (it logs what it decides, as quinn-proto
//! does). Where a decision belongs to the shared
//! store (a definition that conflicts with another client's, a series over a cap), the
//! session emits the event and the applier reports the store's verdict back through
//! [`Session::define_held`] and its siblings; until then the definition counts as refused.
//!
//! Driving it:
//!
//! 1. input: [`Session::handle_bytes`], [`Session::handle_eof`],
//!    [`Session::handle_timeout`] at [`Session::deadline`], [`Session::handle_write_timeout`],
//!    [`Session::abort`];
//! 2. [`Session::poll`] until `None`, applying each event (and answering verdicts) before
//!    the next poll: frames are decoded one at a time, as events are taken;
//! 3. send [`Session::replies`]; stop reading once [`Session::ended`];
//! 4. [`Session::close`] when the connection is done, and apply its last events.

mod active;
mod event;
mod output;
mod tables;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use dawn_proto::{
    Batch, DecodeError, Frame, FrameDecoder, Hello, Value, Welcome, negotiate, supported_versions,
    validate_hello,
};
use tracing::{debug, warn};

use crate::metrics::{ProtocolError, SeriesRejection};
use active::Active;
use output::Output;

pub(crate) use event::Event;
pub(crate) use tables::Handles;

/// Limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionLimits {
    /// Largest frame body accepted.
    pub(crate) max_frame_bytes: usize,
    /// Time a new connection has to say `Hello`.
    pub(crate) handshake_timeout: Duration,
    /// A client silent for this long is disconnected.
    pub(crate) idle_timeout: Duration,
    /// Most metric ids one connection may define.
    pub(crate) max_metric_ids: usize,
    /// Most series ids one connection may hold (admitted or refused).
    pub(crate) max_series_ids: usize,
    /// Error frames sent per connection before further problems are only counted.
    pub(crate) max_error_frames: u32,
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// The client said `Goodbye`.
    Goodbye,
    /// The client closed the connection.
    Eof,
    /// The exporter is shutting down.
    Shutdown,
    /// Reading or writing failed.
    Io(String),
    /// The client broke the protocol; a `Reject` was queued unless it cannot be delivered.
    Protocol {
        reason: ProtocolError,
        message: String,
    },
}

impl End {
    /// The `reason` of the disconnect log line.
    pub(crate) fn label(&self) -> &'static str {
        match self {
            End::Goodbye => "goodbye",
            End::Eof => "eof",
            End::Shutdown => "shutdown",
            End::Io(_) => "io_error",
            End::Protocol { reason, .. } => reason.as_str(),
        }
    }

    /// What went wrong, empty for an orderly end.
    pub(crate) fn detail(&self) -> &str {
        match self {
            End::Protocol { message, .. } | End::Io(message) => message,
            End::Goodbye | End::Eof | End::Shutdown => "",
        }
    }
}

enum State<H: Handles> {
    Handshake,
    Active(Active<H>),
    Closed,
}

/// The protocol state of one connection.
pub(crate) struct Session<H: Handles> {
    limits: SessionLimits,
    state: State<H>,
    out: Output<H>,
    decoder: FrameDecoder,
    /// Set once: no frame is handled after it.
    end: Option<End>,
    /// The client closed its side; the session ends once the frames received are handled.
    eof: bool,
    started: Instant,
    last_read: Instant,
    /// The batch at hand and its valid updates as (series, index), until the next frame.
    batch: Option<Batch>,
    valid: Vec<(H::Series, usize)>,
}

impl<H: Handles> Session<H> {
    /// A session for connection number `conn`, opened at `now`, waiting for `Hello`.
    pub(crate) fn new(conn: u64, limits: SessionLimits, now: Instant) -> Self {
        Session {
            limits,
            state: State::Handshake,
            out: Output::new(conn, limits.max_error_frames),
            decoder: FrameDecoder::new(limits.max_frame_bytes),
            end: None,
            eof: false,
            started: now,
            last_read: now,
            batch: None,
            valid: Vec::new(),
        }
    }

    /// Bytes read from the client at `now`.
    pub(crate) fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        if self.end.is_none() {
            self.last_read = now;
            self.decoder.extend(bytes);
        }
    }

    /// The client closed its side of the connection.
    pub(crate) fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// When the session times out unless bytes arrive: the handshake deadline until `Hello`,
    /// then the idle (liveness) deadline.
    pub(crate) fn deadline(&self) -> Instant {
        match self.state {
            State::Handshake => self.started + self.limits.handshake_timeout,
            State::Active(_) | State::Closed => self.last_read + self.limits.idle_timeout,
        }
    }

    /// Ends the session if its [`Session::deadline`] has passed at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.end.is_some() || now < self.deadline() {
            return;
        }
        let (reason, message) = match self.state {
            State::Handshake => (
                ProtocolError::HandshakeTimeout,
                format!(
                    "no Hello within {}s",
                    self.limits.handshake_timeout.as_secs_f64()
                ),
            ),
            State::Active(_) | State::Closed if self.decoder.buffered() > 0 => (
                ProtocolError::Stalled,
                format!(
                    "stalled for {}s in the middle of a frame ({} bytes buffered)",
                    self.limits.idle_timeout.as_secs_f64(),
                    self.decoder.buffered()
                ),
            ),
            State::Active(_) | State::Closed => (
                ProtocolError::IdleTimeout,
                format!(
                    "silent for {}s (the liveness timeout)",
                    self.limits.idle_timeout.as_secs_f64()
                ),
            ),
        };
        self.fail(reason, message);
    }

    /// The client did not read the replies within `after`: the session ends (no `Reject`,
    /// which could not be delivered). A session that already ended keeps its reason.
    pub(crate) fn handle_write_timeout(&mut self, after: Duration) {
        let message = format!(
            "the client did not read the exporter's replies within {}s",
            after.as_secs_f64()
        );
        self.fail(ProtocolError::WriteTimeout, message);
    }

    /// Turns the connection away: the exporter already serves `max_clients` clients.
    pub(crate) fn refuse_over_limit(&mut self, max_clients: usize) {
        if self.end.is_some() {
            return;
        }
        warn!(
            conn = self.out.conn,
            max_clients, "client rejected: the exporter already serves its maximum of clients"
        );
        self.out.event(Event::Rejected);
        let message = format!(
            "the exporter already serves its maximum of {max_clients} clients (--ingest.max-clients)"
        );
        self.end = Some(self.out.fatal(ProtocolError::ClientLimit, message));
        self.state = State::Closed;
    }

    /// Ends the session for a reason outside the protocol (shutdown, a socket error). A
    /// session that already ended keeps its reason.
    pub(crate) fn abort(&mut self, end: End) {
        self.end.get_or_insert(end);
    }

    /// The next event for the applier, decoding and handling the next frame when none is
    /// queued. Apply each event (answering its verdict) before polling again.
    pub(crate) fn poll(&mut self) -> Option<Event<H>> {
        loop {
            if let Some(event) = self.out.events.pop_front() {
                return Some(event);
            }
            if self.end.is_some() {
                return None;
            }
            self.batch = None;
            match self.decoder.next_frame() {
                Ok(Some(frame)) => self.on_frame(frame),
                Ok(None) if self.eof => match self.decoder.finish() {
                    Ok(()) => self.end = Some(End::Eof),
                    Err(e) => self.decode_failed(&e),
                },
                Ok(None) => return None,
                Err(e) => self.decode_failed(&e),
            }
        }
    }

    /// The frames to send the client, in order.
    pub(crate) fn replies(&mut self) -> std::vec::Drain<'_, Frame> {
        self.out.replies.drain(..)
    }

    /// Why the session ended, once it has: no frame is handled after that.
    pub(crate) fn ended(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// The valid updates of the batch at hand, as (series, value, wire series id), for the
    /// [`Event::Apply`] just polled.
    pub(crate) fn batch(&self) -> impl Iterator<Item = (H::Series, &Value, u32)> {
        let updates = self.batch.as_ref().map_or(&[][..], |b| &b.updates[..]);
        self.valid
            .iter()
            .filter_map(move |&(series, i)| updates.get(i).map(|u| (series, &u.value, u.series)))
    }

    /// The store admitted metric `id` ([`Event::Define`]) as `family`.
    pub(crate) fn define_held(&mut self, id: u32, family: H::Family) {
        if let State::Active(active) = &mut self.state {
            active.tables.hold_metric(id, family);
        }
    }

    /// The store refused metric `id` ([`Event::Define`]) for `reason`, explained by
    /// `message`; its series will be refused quietly.
    pub(crate) fn define_refused(
        &mut self,
        id: u32,
        reason: ProtocolError,
        message: impl fmt::Display,
    ) {
        if let State::Active(active) = &mut self.state
            && let Some(slot) = active.tables.metrics.get_mut(&id)
        {
            slot.family = None;
        }
        self.out
            .error(reason, format!("{message}; its series are ignored"));
    }

    /// The store admitted series `id` ([`Event::Series`]) as `series`.
    pub(crate) fn series_held(&mut self, id: u32, series: H::Series) {
        if let State::Active(active) = &mut self.state {
            active.tables.hold_series(id, series);
        }
    }

    /// The store refused series `id` ([`Event::Series`]) for `reason`, explained by
    /// `message`; its updates will be dropped and counted.
    pub(crate) fn series_refused(
        &mut self,
        id: u32,
        reason: SeriesRejection,
        message: impl fmt::Display,
    ) {
        if let State::Active(active) = &mut self.state
            && let Some(slot) = active.tables.series.get_mut(&id)
        {
            slot.held = None;
        }
        self.out.event(Event::SeriesRejected(reason));
        self.out.error_frame(reason.as_str(), message.to_string());
    }

    /// The store kept back the update of wire series `tag` ([`Event::Apply`]): a counter or
    /// histogram went backwards.
    pub(crate) fn counter_decreased(&mut self, tag: u32) {
        if let State::Active(active) = &self.state {
            active.counter_decreased(&mut self.out, tag);
        }
    }

    /// Closes the session at `now`: an attached client's holds come back in
    /// [`Event::Detach`]; a connection that never completed its handshake is counted as
    /// rejected. A session closed before it ended had its task end under it (a panic),
    /// which is its reason. Idempotent.
    pub(crate) fn close(&mut self, now: Instant) {
        let end = self
            .end
            .get_or_insert_with(|| End::Io("connection task ended".to_owned()))
            .clone();
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Active(mut active) => {
                let (families, series) = active.tables.take_holds();
                self.out.event(Event::Detach {
                    end,
                    families,
                    series,
                    now,
                });
            }
            State::Handshake => {
                // Gone before saying Hello; protocol errors were counted by `reject`.
                self.out.event(Event::Rejected);
                debug!(
                    conn = self.out.conn,
                    reason = end.label(),
                    "connection closed before Hello"
                );
            }
            State::Closed => {}
        }
    }

    fn on_frame(&mut self, frame: Frame) {
        self.out.event(Event::Received {
            kind: frame.kind_index(),
        });
        let end = match &mut self.state {
            State::Closed => None,
            State::Handshake => match frame {
                Frame::Hello(hello) => self.on_hello(hello),
                other => {
                    let message =
                        format!("the first frame must be Hello, got {}", other.kind_name());
                    Some(self.reject(ProtocolError::UnexpectedFrame, message))
                }
            },
            State::Active(active) => {
                let out = &mut self.out;
                out.event(Event::Seen {
                    now: self.last_read,
                });
                match frame {
                    Frame::Define(def) => active.define(out, &self.limits, def),
                    Frame::Series(series) => active.series(out, &self.limits, series),
                    Frame::Batch(batch) => {
                        active.batch(out, &batch, &mut self.valid);
                        self.batch = Some(batch);
                        None
                    }
                    Frame::Health(health) => {
                        active::health(out, health);
                        None
                    }
                    Frame::Ready(ready) => {
                        out.event(Event::Ready(ready));
                        None
                    }
                    Frame::Heartbeat(hb) => {
                        out.event(Event::Heartbeat {
                            dropped: hb.dropped,
                        });
                        None
                    }
                    Frame::Retire(retire) => {
                        active.retire(out, retire);
                        None
                    }
                    Frame::Goodbye => Some(End::Goodbye),
                    other @ (Frame::Hello(_)
                    | Frame::Welcome(_)
                    | Frame::Reject(_)
                    | Frame::Error(_)) => {
                        let message = format!(
                            "a client does not send {} after the handshake; ignored",
                            other.kind_name()
                        );
                        out.error(ProtocolError::UnexpectedFrame, message);
                        None
                    }
                }
            }
        };
        if let Some(end) = end {
            self.end.get_or_insert(end);
        }
    }

    fn on_hello(&mut self, hello: Hello) -> Option<End> {
        let version = match negotiate(&hello, supported_versions()) {
            Ok(v) => v,
            Err(e) => return Some(self.reject((&e).into(), e.to_string())),
        };
        if let Err(e) = validate_hello(&hello) {
            return Some(self.reject((&e).into(), e.to_string()));
        }
        self.out.replies.push(Frame::Welcome(Welcome {
            version,
            server: format!("dawn-exporter {}", env!("CARGO_PKG_VERSION")),
        }));
        self.state = State::Active(Active::new(hello.incarnation));
        self.out.event(Event::Attach {
            hello: Box::new(hello),
            version,
            now: self.last_read,
        });
        None
    }

    fn decode_failed(&mut self, e: &DecodeError) {
        self.fail(ProtocolError::from(e), e.to_string());
    }

    /// A fatal problem: before the handshake completed it rejects the client, after it
    /// ends the session. A session that already ended keeps its reason.
    fn fail(&mut self, reason: ProtocolError, message: String) {
        if self.end.is_some() {
            return;
        }
        let end = match self.state {
            State::Handshake => self.reject(reason, message),
            State::Active(_) | State::Closed => self.out.fatal(reason, message),
        };
        self.end = Some(end);
    }

    /// Turns the client away before a session began.
    fn reject(&mut self, reason: ProtocolError, message: String) -> End {
        self.out.event(Event::Rejected);
        warn!(
            conn = self.out.conn,
            reason = reason.as_str(),
            "client rejected: {message}"
        );
        let end = self.out.fatal(reason, message);
        self.state = State::Closed;
        end
    }
}
