//! What a session hands out: events for the applier and frames for the client, with the
//! connection's budget of `Error` frames.

use std::collections::VecDeque;

use dawn_proto::{ErrorReport, Frame, Reject};
use tracing::{debug, warn};

use super::End;
use super::event::Event;
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

    /// A non-fatal problem: counted, answered with an `Error` frame (up to the cap).
    pub(super) fn error(&mut self, reason: ProtocolError, message: String) {
        self.event(Event::ProtocolError(reason));
        self.error_frame(reason.as_str(), message);
    }

    /// An `Error` frame with `reason` (up to the cap), counted by the caller.
    pub(super) fn error_frame(&mut self, reason: &'static str, message: String) {
        let (conn, cap) = (self.conn, self.max_error_frames);
        if self.errors_sent < cap {
            warn!(conn, reason, "{message}");
            self.replies.push(Frame::Error(ErrorReport {
                reason: reason.to_owned(),
                message,
            }));
        } else {
            debug!(conn, reason, "{message}");
        }
        self.errors_sent = self.errors_sent.saturating_add(1);
        if self.errors_sent == cap {
            warn!(
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
