//! A client's side of "Large syncs in parts" (`docs/protocol.md`): a
//! `joined` that announces `parts` and the `joined_part` frames that
//! follow it, put together into one complete [`JoinedMessage`].
//!
//! The parts must come in order, of the same session and board, carry
//! what the sync carries (elements of a full sync, events of a delta), and
//! the last one must be marked as such and be the announced count; anything
//! else is a [`PartError`] (the client drops the connection and joins
//! again). Nothing is applied before the last part: a client replaces its
//! state with the assembled sync at once.

use thiserror::Error;

use super::server_message::{JoinedMessage, JoinedPartMessage, PartContent, WireSync};
use huddle_core::{BoardId, Mutation, UserSessionId};

/// Why a `joined_part` does not continue the sync being assembled.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PartError {
    /// A `joined_part` when no `joined` announced parts (none yet, or all
    /// of them arrived).
    #[error("a `joined_part` arrived without a `joined` announcing parts")]
    Unexpected,
    /// Not the next index.
    #[error("`joined_part` {got} arrived where part {expected} was due")]
    OutOfOrder {
        /// The index due.
        expected: u32,
        /// The index that came.
        got: u32,
    },
    /// A part of another user session or board.
    #[error("a `joined_part` of session {got_session} (board {got_board}) continues session {session} (board {board})")]
    OtherSession {
        /// The session being assembled.
        session: UserSessionId,
        /// Its board.
        board: BoardId,
        /// The part's session.
        got_session: UserSessionId,
        /// The part's board.
        got_board: BoardId,
    },
    /// Events in a full sync's part, or elements in a delta's.
    #[error("a `joined_part` carries {got} where the sync is {expected}")]
    WrongContent {
        /// What the sync carries (`pages` or `events`).
        expected: &'static str,
        /// What the part carries.
        got: &'static str,
    },
    /// `last` on a part that is not the announced last, or missing on it.
    #[error("`joined_part` {part} says last: {last}, but {parts} parts were announced")]
    WrongLast {
        /// The part's index.
        part: u32,
        /// Its `last`.
        last: bool,
        /// The parts announced.
        parts: u32,
    },
}

fn content_name(content: &PartContent) -> &'static str {
    match content {
        PartContent::Pages(_) => "pages",
        PartContent::Events(_) => "events",
    }
}

/// A `joined` whose parts are arriving.
#[derive(Clone, Debug, PartialEq)]
pub struct JoinAssembly {
    joined: JoinedMessage,
    received: u32,
}

impl JoinAssembly {
    /// Starts with the `joined` frame (complete at once if it announces no
    /// parts).
    pub fn new(joined: JoinedMessage) -> Self {
        JoinAssembly {
            joined,
            received: 0,
        }
    }

    /// Whether every announced part arrived.
    pub fn is_complete(&self) -> bool {
        self.received >= self.joined.parts
    }

    /// The parts received so far.
    pub fn received(&self) -> u32 {
        self.received
    }

    /// Adds the next part; refused (changing nothing) unless it continues
    /// the sync as the protocol says.
    pub fn add(&mut self, part: JoinedPartMessage) -> Result<(), PartError> {
        if self.is_complete() {
            return Err(PartError::Unexpected);
        }
        let joined = &mut self.joined;
        if part.session_id != joined.session_id || part.board != joined.board {
            return Err(PartError::OtherSession {
                session: joined.session_id,
                board: joined.board.clone(),
                got_session: part.session_id,
                got_board: part.board,
            });
        }
        let expected = self.received + 1;
        if part.part != expected {
            return Err(PartError::OutOfOrder {
                expected,
                got: part.part,
            });
        }
        if part.last != (expected == joined.parts) {
            return Err(PartError::WrongLast {
                part: part.part,
                last: part.last,
                parts: joined.parts,
            });
        }
        match (&mut joined.sync, part.content) {
            (WireSync::Full { pages, .. }, PartContent::Pages(more)) => {
                for (page, elements) in more.iter() {
                    for (element, data) in elements.iter() {
                        pages.apply(&Mutation::Upsert {
                            page: page.clone(),
                            element: element.clone(),
                            data: data.clone(),
                        });
                    }
                }
            }
            (WireSync::Delta { events }, PartContent::Events(more)) => events.extend(more),
            (sync, content) => {
                return Err(PartError::WrongContent {
                    expected: match sync {
                        WireSync::Full { .. } => "pages",
                        WireSync::Delta { .. } => "events",
                    },
                    got: content_name(&content),
                })
            }
        }
        self.received = expected;
        Ok(())
    }

    /// The assembled `joined` (its `parts` as announced): complete once
    /// [`is_complete`](Self::is_complete).
    pub fn into_joined(self) -> JoinedMessage {
        self.joined
    }
}
