//! One connection's protocol state machine, without side effects, in the manner of
//! quinn-proto's `Connection`: bytes and time in; reply frames and [`Event`]s out.
//!
//! The session owns only protocol state: where the handshake stands, the connection's id
//! tables and their byte budget, its health checks, the error-frame budget, the frame
//! decoder and its deadlines (a whole handshake within the handshake timeout, a whole frame
//! within the frame timeout of its first byte, however the bytes trickle). It touches no
//! store, health model, metric, socket or clock (it logs what it decides at debug, as
//! quinn-proto does, and hands warnings out as events for a rate-limited log). Where a
//! decision belongs to shared state (a client slot, a definition that conflicts with another
//! client's, a series or sample over a cap), the session emits the event and the applier
//! reports the verdict back through [`Session::admitted`], [`Session::define_held`] and
//! their siblings; until then the client waits for its `Welcome`, the definition counts as
//! refused.
//!
//! Driving it:
//!
//! 1. input: [`Session::read_space`] and [`Session::handle_read`] (the bytes are read
//!    straight into the decoder's buffer), [`Session::handle_eof`],
//!    [`Session::handle_timeout`] at [`Session::deadline`], [`Session::handle_write_timeout`],
//!    [`Session::abort`];
//! 2. [`Session::poll`] until `None`, applying each event (and answering verdicts) before
//!    the next poll: frames are decoded one at a time, as events are taken;
//! 3. send [`Session::replies`]; stop reading once [`Session::ended`];
//! 4. [`Session::close`] when the connection is done, and apply its last events.

mod active;
mod checks;
mod event;
mod output;
mod tables;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::{Duration, Instant};

use dawn_proto::{
    BatchBuf, DecodeError, Decoded, Frame, FrameDecoder, Hello, NATIVE_HISTOGRAM_VERSION, ValueRef,
    Welcome, negotiate, supported_versions, validate_hello,
};
use tracing::debug;

use crate::metrics::{Eviction, IgnoredUpdate, ProtocolError, SeriesRejection};
use active::Active;
use output::Output;

pub(crate) use event::{Event, Warning};
pub(crate) use tables::Handles;

/// Where the session hands a batch's valid updates, one at a time as it checks them
/// ([`Session::store_batch`]): the store's writer, under its lock, so that a batch is
/// checked and stored in one pass; a stand-in in the tests.
pub(crate) trait Sink<H: Handles> {
    /// A valid update of held `series`, wire series id `wire_id`. The value is borrowed
    /// where the batch's iterator built it: passed by value into the store's writer, it was
    /// copied through the stack with 16-byte loads over the narrower stores that had just
    /// built it, which waited on those stores (about 30% of the samples of the check and
    /// store in a profile, counters only).
    fn update(&mut self, series: H::Series, value: &ValueRef<'_>, wire_id: u32);
}

/// A sink that keeps nothing: the batch of an applier that did not store it.
struct Discard;

impl<H: Handles> Sink<H> for Discard {
    fn update(&mut self, _: H::Series, _: &ValueRef<'_>, _: u32) {}
}

/// Limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionLimits {
    /// Largest frame body accepted.
    pub(crate) max_frame_bytes: usize,
    /// Time a new connection has to say `Hello`.
    pub(crate) handshake_timeout: Duration,
    /// A client silent for this long is disconnected.
    pub(crate) idle_timeout: Duration,
    /// A frame must be whole this long after its first byte arrived.
    pub(crate) frame_timeout: Duration,
    /// Most metric ids one connection may define.
    pub(crate) max_metric_ids: usize,
    /// Most series ids one connection may hold (admitted or refused).
    pub(crate) max_series_ids: usize,
    /// Error frames sent per connection before further problems are only counted.
    pub(crate) max_error_frames: u32,
    /// Most bytes of definitions the connection may have the exporter keep.
    pub(crate) max_client_bytes: usize,
    /// Most distinct health checks the connection may report.
    pub(crate) max_checks: usize,
    /// Largest health check report kept whole; larger ones are cut to it.
    pub(crate) max_check_bytes: usize,
    /// Newest protocol version offered ([`dawn_proto::MAX_SUPPORTED_VERSION`]; a lower one
    /// makes the session speak as an older exporter, which the mixed-version tests use).
    pub(crate) max_version: u16,
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
    /// The connection gave way to a newer one; a `Reject` was queued.
    Evicted { reason: Eviction, message: String },
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
            End::Evicted { reason, .. } => reason.as_str(),
        }
    }

    /// What went wrong, empty for an orderly end.
    pub(crate) fn detail(&self) -> &str {
        match self {
            End::Protocol { message, .. } | End::Evicted { message, .. } | End::Io(message) => {
                message
            }
            End::Goodbye | End::Eof | End::Shutdown => "",
        }
    }
}

enum State<H: Handles> {
    /// Waiting for `Hello`.
    Handshake,
    /// A valid `Hello` arrived; waiting for a client slot (`admitted`).
    Admitting {
        incarnation: u64,
    },
    /// Boxed: its tables make it far larger than the other states.
    Active(Box<Active<H>>),
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
    /// When the first byte of the frame being received arrived; `None` between frames.
    frame_started: Option<Instant>,
    /// When the last whole frame was received (the start, before any).
    last_frame: Instant,
    /// The protocol version negotiated in `Hello`.
    version: u16,
    /// The batch at hand, decoded into buffers kept from batch to batch.
    batch: BatchBuf,
    /// The batch at hand awaits [`Session::store_batch`] ([`Event::Apply`]).
    batch_ready: bool,
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
            frame_started: None,
            last_frame: now,
            version: 0,
            batch: BatchBuf::new(),
            batch_ready: false,
        }
    }

    /// Space for the next `len` bytes read from the client, in the decoder's own buffer:
    /// read into it, then [`Session::handle_read`] the count read. Nothing written there
    /// counts until then.
    pub(crate) fn read_space(&mut self, len: usize) -> &mut [u8] {
        self.decoder.spare(len)
    }

    /// `n` bytes were read from the client into the [`Session::read_space`] at `now`. Bytes
    /// arriving after the [`Session::deadline`] do not save the session: it times out
    /// instead, so that a client whose bytes are always ready to read still meets its
    /// deadlines.
    pub(crate) fn handle_read(&mut self, now: Instant, n: usize) {
        if self.end.is_some() {
            return;
        }
        if now >= self.deadline() {
            self.handle_timeout(now);
            return;
        }
        if self.decoder.buffered() == 0 && n > 0 {
            self.frame_started = Some(now);
        }
        self.last_read = now;
        self.decoder.commit(n);
    }

    /// Bytes read from the client at `now`: [`Session::handle_read`] with a copy of them.
    #[cfg(test)]
    pub(crate) fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) {
        self.read_space(bytes.len()).copy_from_slice(bytes);
        self.handle_read(now, bytes.len());
    }

    /// The client closed its side of the connection.
    pub(crate) fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// When the session times out: the handshake deadline (absolute from the connection's
    /// start) until the client is admitted; then the idle (liveness) deadline after the
    /// last read, or, in the middle of a frame, the frame deadline after its first byte if
    /// that is sooner.
    pub(crate) fn deadline(&self) -> Instant {
        match self.state {
            State::Handshake | State::Admitting { .. } => {
                self.started + self.limits.handshake_timeout
            }
            State::Active(_) | State::Closed => {
                let idle = self.last_read + self.limits.idle_timeout;
                self.frame_deadline().map_or(idle, |frame| frame.min(idle))
            }
        }
    }

    fn frame_deadline(&self) -> Option<Instant> {
        self.frame_started.map(|t| t + self.limits.frame_timeout)
    }

    /// Ends the session if its [`Session::deadline`] has passed at `now`.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.end.is_some() || now < self.deadline() {
            return;
        }
        let buffered = self.decoder.buffered();
        let (reason, message) = match self.state {
            State::Handshake | State::Admitting { .. } => (
                ProtocolError::HandshakeTimeout,
                format!(
                    "no Hello within {}s",
                    self.limits.handshake_timeout.as_secs_f64()
                ),
            ),
            State::Active(_) | State::Closed if self.frame_deadline().is_some_and(|t| now >= t) => {
                (
                    ProtocolError::Stalled,
                    format!(
                        "a frame was not whole within {}s of its first byte ({buffered} bytes buffered)",
                        self.limits.frame_timeout.as_secs_f64()
                    ),
                )
            }
            State::Active(_) | State::Closed if buffered > 0 => (
                ProtocolError::Stalled,
                format!(
                    "stalled for {}s in the middle of a frame ({buffered} bytes buffered)",
                    self.limits.idle_timeout.as_secs_f64()
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

    /// The verdict on [`Event::Attach`]: the client has a slot; it is welcomed.
    pub(crate) fn admitted(&mut self) {
        let State::Admitting { incarnation } = self.state else {
            return;
        };
        self.out.replies.push(Frame::Welcome(Welcome {
            version: self.version,
            server: format!("dawn-exporter {}", env!("CARGO_PKG_VERSION")),
        }));
        self.state = State::Active(Box::new(Active::new(incarnation, &self.limits)));
    }

    /// The verdict on [`Event::Attach`]: the exporter serves `max_clients` clients and none
    /// could give way, each having sent a whole frame within `active`; the client is turned
    /// away.
    pub(crate) fn refuse_over_limit(&mut self, max_clients: usize, active: Duration) {
        if self.end.is_some() || !matches!(self.state, State::Admitting { .. }) {
            return;
        }
        let message = format!(
            "the exporter already serves its maximum of {max_clients} clients (--ingest.max-clients), each with a whole frame within the last {}s",
            active.as_secs_f64()
        );
        let end = self.reject(ProtocolError::ClientLimit, message);
        self.end = Some(end);
    }

    /// The connection must give way to a newer one (the admission's choice): it ends with a
    /// `Reject` saying why. Before the handshake completed it is turned away
    /// ([`Eviction::PendingLimit`]); after, it was the client longest without a whole frame
    /// ([`Eviction::ClientLimit`]), which `now` measures. A session that already ended keeps
    /// its reason.
    pub(crate) fn evict(&mut self, now: Instant) {
        if self.end.is_some() {
            return;
        }
        let (reason, message) = match self.state {
            State::Handshake | State::Admitting { .. } => {
                self.out.event(Event::Rejected);
                self.state = State::Closed;
                (
                    Eviction::PendingLimit,
                    "the oldest connection that had not completed its handshake, closed for a newer one (--ingest.max-pending)".to_owned(),
                )
            }
            State::Active(_) | State::Closed => (
                Eviction::ClientLimit,
                format!(
                    "no whole frame for {:.3}s, the longest of all clients; closed for a newly arrived client (--ingest.max-clients)",
                    now.saturating_duration_since(self.last_frame).as_secs_f64()
                ),
            ),
        };
        self.out.event(Event::Evicted(reason));
        self.out
            .warn(reason.as_str(), format!("client evicted: {message}"));
        self.out.replies.push(Frame::Reject(dawn_proto::Reject {
            reason: format!("{reason}: {message}"),
        }));
        self.end = Some(End::Evicted { reason, message });
    }

    /// Ends the session for a reason outside the protocol (shutdown, a socket error). A
    /// session that already ended keeps its reason.
    pub(crate) fn abort(&mut self, end: End) {
        self.end.get_or_insert(end);
    }

    /// The next event for the applier, decoding and handling the next frame when none is
    /// queued. Apply each event (answering its verdict) before polling again. No frame
    /// after `Hello` is handled before the verdict on [`Event::Attach`].
    pub(crate) fn poll(&mut self) -> Option<Event<H>> {
        loop {
            if let Some(event) = self.out.events.pop_front() {
                return Some(event);
            }
            if self.end.is_some() || matches!(self.state, State::Admitting { .. }) {
                return None;
            }
            if self.batch_ready {
                // The applier did not store it: its problems are still answered.
                self.store_batch(&mut Discard);
                continue;
            }
            match self.decoder.next_frame_into(&mut self.batch) {
                Ok(Some(decoded)) => {
                    // What is left began with the read that completed this frame, at the
                    // latest.
                    self.frame_started = (self.decoder.buffered() > 0).then_some(self.last_read);
                    self.last_frame = self.last_read;
                    match decoded {
                        Decoded::Batch => self.on_batch(),
                        Decoded::Frame(frame) => self.on_frame(frame),
                    }
                }
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

    /// Whether the session is still waiting for its handshake to complete.
    pub(crate) fn pending(&self) -> bool {
        self.end.is_none() && matches!(self.state, State::Handshake | State::Admitting { .. })
    }

    /// Bytes of definitions the connection keeps now (`--ingest.max-client-bytes`).
    #[cfg(test)]
    pub(crate) fn kept_bytes(&self) -> usize {
        match &self.state {
            State::Active(active) => active.tables.bytes(),
            State::Handshake | State::Admitting { .. } | State::Closed => 0,
        }
    }

    /// Why the session ended, once it has: no frame is handled after that.
    pub(crate) fn ended(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// Checks the batch of the [`Event::Apply`] just polled and hands its valid updates to
    /// `sink` as it goes, in one pass: the problems of the others are answered (`Error`
    /// frames, events for the applier to take after). Once per batch; later calls find
    /// nothing.
    pub(crate) fn store_batch(&mut self, sink: &mut impl Sink<H>) {
        if !std::mem::take(&mut self.batch_ready) {
            return;
        }
        if let State::Active(active) = &self.state {
            active.batch(&mut self.out, &self.batch, sink);
        }
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
        if let State::Active(active) = &mut self.state {
            active.tables.refuse_metric(id);
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
        if let State::Active(active) = &mut self.state {
            active.tables.refuse_series(id);
        }
        self.out.event(Event::SeriesRejected(reason));
        self.out.error_frame(reason.as_str(), message.to_string());
    }

    /// The store did not keep the first value of wire series `tag` ([`Event::Apply`]) for
    /// this source: a sample cap, `reason`, explained by `message`. Counted; the series
    /// stays, and a later update is tried again.
    pub(crate) fn sample_refused(
        &mut self,
        tag: u32,
        reason: IgnoredUpdate,
        message: impl fmt::Display,
    ) {
        self.out.event(Event::IgnoredUpdates { reason, n: 1 });
        let state = &self.state;
        self.out.error_frame_with(reason.as_str(), || {
            let series = match state {
                State::Active(active) => active.tables.describe_series(tag),
                _ => format!("series id {tag}"),
            };
            format!("the value of {series} is not kept: {message}")
        });
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
            State::Handshake | State::Admitting { .. } => {
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
        let attached = matches!(self.state, State::Active(_));
        arrived(
            &mut self.out,
            frame.kind_index(),
            attached.then_some(self.last_read),
        );
        let end = match &mut self.state {
            // `poll` handles no frame while admitting.
            State::Closed | State::Admitting { .. } => None,
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
                match frame {
                    Frame::Define(def) => active.define(out, &self.limits, def),
                    Frame::Series(series) => active.series(out, &self.limits, series),
                    // Batches come decoded into `self.batch` (`on_batch`); an owned one is
                    // handled the same way.
                    Frame::Batch(batch) => {
                        self.batch = BatchBuf::from(&batch);
                        self.batch_ready = true;
                        out.event(Event::Apply);
                        None
                    }
                    Frame::Health(health) => {
                        active.health(out, health);
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

    /// A batch, decoded into `self.batch`.
    fn on_batch(&mut self) {
        match &self.state {
            State::Active(_) => {
                arrived(
                    &mut self.out,
                    Decoded::Batch.kind_index(),
                    Some(self.last_read),
                );
                if self.version < NATIVE_HISTOGRAM_VERSION && self.batch.has_native() {
                    // An exporter of that version could not even read it (`malformed`).
                    let message =
                        "a native histogram (Value tag 3) on a protocol version 1 connection"
                            .to_owned();
                    self.fail(ProtocolError::Malformed, message);
                    return;
                }
                self.batch_ready = true;
                self.out.event(Event::Apply);
            }
            // Refused like any frame but `Hello` before the handshake (and ignored once
            // closed): the rare case where it is made an owned frame.
            State::Handshake | State::Admitting { .. } | State::Closed => {
                let batch = Frame::Batch(self.batch.to_batch());
                self.on_frame(batch);
            }
        }
    }

    fn on_hello(&mut self, hello: Hello) -> Option<End> {
        let ours = *supported_versions().start()..=self.limits.max_version;
        let version = match negotiate(&hello, ours) {
            Ok(v) => v,
            Err(e) => return Some(self.reject((&e).into(), e.to_string())),
        };
        if let Err(e) = validate_hello(&hello) {
            return Some(self.reject((&e).into(), e.to_string()));
        }
        // Welcomed once the applier found it a slot (`admitted`).
        self.version = version;
        self.state = State::Admitting {
            incarnation: hello.incarnation,
        };
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
            State::Handshake | State::Admitting { .. } => self.reject(reason, message),
            State::Active(_) | State::Closed => self.out.fatal(reason, message),
        };
        self.end = Some(end);
    }

    /// Turns the client away before a session began.
    fn reject(&mut self, reason: ProtocolError, message: String) -> End {
        self.out.event(Event::Rejected);
        self.out
            .warn(reason.as_str(), format!("client rejected: {message}"));
        let end = self.out.fatal(reason, message);
        self.state = State::Closed;
        end
    }
}

/// The events of every frame: it arrived (`kind`, its position in `Frame::KIND_NAMES`), and,
/// from an attached client, at `seen`, which shows the client alive.
fn arrived<H: Handles>(out: &mut Output<H>, kind: usize, seen: Option<Instant>) {
    out.event(Event::Received { kind });
    if let Some(now) = seen {
        out.event(Event::Seen { now });
    }
}
