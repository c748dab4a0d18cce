//! What a session hands out: events for the applier and frames for the client, with the
//! connection's budget of `Error` frames.

use std::collections::VecDeque;

use dawn_proto::{ErrorReport, Frame, Reject};
use tracing::debug;

use super::End;
use super::event::{Event, Warning};
use super::tables::Handles;
use crate::metrics::ProtocolError;

/// Queued events and replies of one session.
pub(super) struct Output<H: Handles> {
    /// The connection's number, for logs.
    pub(super) conn: u64,
    max_error_frames: u32,
    errors_sent: u32,
    pub(super) events: VecDeque<Event<H>>,
    pub(super) replies: Vec<Frame>,
}

impl<H: Handles> Output<H> {
    pub(super) fn new(conn: u64, max_error_frames: u32) -> Self {
        Output {
            conn,
            max_error_frames,
            errors_sent: 0,
            events: VecDeque::new(),
            replies: Vec::new(),
        }
    }

    pub(super) fn event(&mut self, event: Event<H>) {
        self.events.push_back(event);
    }

    /// A line for the exporter's log at warn, rate-limited by the applier (the first of a
    /// `reason` in full, then a count per interval); logged here at debug in full.
    pub(super) fn warn(&mut self, reason: &'static str, message: String) {
        debug!(conn = self.conn, reason, "{message}");
        self.event(Event::Warn(Warning { reason, message }));
    }

    /// Whether another `Error` frame may still be sent.
    pub(super) fn error_frames_left(&self) -> bool {
        self.errors_sent < self.max_error_frames
    }

    /// A non-fatal problem: counted, answered with an `Error` frame (up to the cap).
    pub(super) fn error(&mut self, reason: ProtocolError, message: String) {
        self.event(Event::ProtocolError(reason));
        self.error_frame(reason.as_str(), message);
    }

    /// [`Output::error`] with the message made only when it is used: sent (within the cap)
    /// or logged at debug. A batch's problems are found while the store's lock is held, so
    /// past the cap a flood of them costs no formatting there.
    pub(super) fn error_with(&mut self, reason: ProtocolError, message: impl FnOnce() -> String) {
        self.event(Event::ProtocolError(reason));
        self.error_frame_with(reason.as_str(), message);
    }

    /// [`Output::error_frame`] with the message made only when it is used.
    pub(super) fn error_frame_with(
        &mut self,
        reason: &'static str,
        message: impl FnOnce() -> String,
    ) {
        let used = self.error_frames_left() || tracing::enabled!(tracing::Level::DEBUG);
        let message = if used { message() } else { String::new() };
        self.error_frame(reason, message);
    }

    /// An `Error` frame with `reason` (up to the cap, each with a warning), counted by the
    /// caller; past the cap the problem is only logged at debug.
    pub(super) fn error_frame(&mut self, reason: &'static str, message: String) {
        let (conn, cap) = (self.conn, self.max_error_frames);
        if self.error_frames_left() {
            self.warn(reason, message.clone());
            self.replies.push(Frame::Error(ErrorReport {
                reason: reason.to_owned(),
                message,
            }));
        } else {
            debug!(conn, reason, "{message}");
        }
        self.errors_sent = self.errors_sent.saturating_add(1);
        if self.errors_sent == cap {
            debug!(
                conn,
                "{cap} error frames sent on this connection; further problems are only counted"
            );
        }
    }

    /// A fatal problem: counted and answered with a `Reject` (unless the client does not
    /// read); the caller ends the session with the returned [`End`].
    pub(super) fn fatal(&mut self, reason: ProtocolError, message: String) -> End {
        self.event(Event::ProtocolError(reason));
        if reason != ProtocolError::WriteTimeout {
            self.replies.push(Frame::Reject(Reject {
                reason: format!("{reason}: {message}"),
            }));
        }
        End::Protocol { reason, message }
    }
}
