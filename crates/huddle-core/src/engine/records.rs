//! User session records as effects (`Config::store_user_sessions`).
//!
//! A record is written at a user session's start and at its end, as
//! [`Effect::StoreUserSession`], and confirmed like any other write: a
//! transient failure is retried with the board's backoff, a fenced one
//! ends the board's session, an invalid one gives that record up (it is
//! reported as [`Signal::StorageFailed`]; the board's data is not
//! affected). A board's session leaves memory only when its records are
//! confirmed.
//!
//! Order: of one user session at most one record is in flight at a time.
//! A record wanted meanwhile (the end while the start is in flight) waits
//! in the session's slot and replaces any older waiting one; it is sent
//! when the one in flight is confirmed. A store replaces records by id, so
//! the last record written is always the newest: a session's end is never
//! overwritten by its start.

use std::collections::HashMap;
use std::sync::Arc;

use super::{EffectKind, Io};
use crate::board::Board;
use crate::failure::{FailureKind, StorageFailure};
use crate::ids::{EffectId, UserSessionId};
use crate::output::Signal;
use crate::storage::Effect;
use crate::user_session::UserSessionRecord;

/// One user session's record writes.
#[derive(Debug, Default)]
struct Slot {
    /// The record the store is working on.
    in_flight: Option<(EffectId, Arc<UserSessionRecord>)>,
    /// The newest record not yet sent.
    next: Option<Arc<UserSessionRecord>>,
}

/// The record writes of one board session: allocated only while some are
/// in flight or waiting, so that an idle board pays one pointer.
#[derive(Debug, Default)]
pub(crate) struct RecordWrites(Option<Box<Writes>>);

#[derive(Debug, Default)]
struct Writes {
    slots: HashMap<UserSessionId, Slot>,
    by_effect: HashMap<EffectId, UserSessionId>,
}

impl RecordWrites {
    /// Nothing waits for the store.
    pub(crate) fn is_idle(&self) -> bool {
        self.0.is_none()
    }

    fn writes(&mut self) -> &mut Writes {
        self.0.get_or_insert_with(Box::default)
    }

    /// Drops the allocation once nothing is left.
    fn tidy(&mut self) {
        if self.0.as_ref().is_some_and(|w| w.slots.is_empty()) {
            self.0 = None;
        }
    }
}

/// Has `record` written: now, or after the session's record in flight (or
/// the board's retry delay).
pub(crate) fn write_record(board: &mut Board, io: &mut Io, record: UserSessionRecord) {
    let id = record.id;
    let slot = board.records.writes().slots.entry(id).or_default();
    slot.next = Some(Arc::new(record));
    if slot.in_flight.is_none() && board.retry_timer.is_none() {
        send_next(board, io, id);
    }
}

/// Sends the slot's waiting record, if any and nothing is in flight.
fn send_next(board: &mut Board, io: &mut Io, id: UserSessionId) {
    let (board_id, session) = (board.id.clone(), board.opened);
    let writes = board.records.writes();
    let Some(slot) = writes.slots.get_mut(&id) else {
        board.records.tidy();
        return;
    };
    if slot.in_flight.is_some() {
        return;
    }
    let Some(record) = slot.next.take() else {
        writes.slots.remove(&id);
        board.records.tidy();
        return;
    };
    let sent = record.clone();
    let effect = io.effect(&board_id, session, EffectKind::Record, |eid| {
        Effect::StoreUserSession {
            id: eid,
            record: sent,
        }
    });
    slot.in_flight = Some((effect, record));
    writes.by_effect.insert(effect, id);
}

/// After the retry delay: send every waiting record.
pub(crate) fn retry_records(board: &mut Board, io: &mut Io) {
    let Some(writes) = board.records.0.as_ref() else {
        return;
    };
    let mut waiting: Vec<UserSessionId> = writes
        .slots
        .iter()
        .filter(|(_, s)| s.in_flight.is_none())
        .map(|(id, _)| *id)
        .collect();
    // Deterministic order: the slot map's is not.
    waiting.sort_unstable_by_key(|id| id.0);
    for id in waiting {
        send_next(board, io, id);
    }
}

/// What a record report asks of the board.
pub(crate) enum RecordReport {
    /// Nothing more to do.
    Done,
    /// A transient failure: schedule the board's retry.
    Retry(StorageFailure),
}

/// The store reported a record write (not fenced: that ends the session
/// before this is reached).
pub(crate) fn record_reported(
    board: &mut Board,
    io: &mut Io,
    effect: EffectId,
    failure: Option<StorageFailure>,
) -> RecordReport {
    let Some(writes) = board.records.0.as_mut() else {
        return RecordReport::Done;
    };
    let Some(id) = writes.by_effect.remove(&effect) else {
        return RecordReport::Done;
    };
    let Some(slot) = writes.slots.get_mut(&id) else {
        return RecordReport::Done;
    };
    let Some((_, record)) = slot.in_flight.take() else {
        return RecordReport::Done;
    };
    match failure {
        None => {
            board.failures = 0;
            if board.retry_timer.is_none() {
                send_next(board, io, id);
            }
            RecordReport::Done
        }
        Some(f) if f.kind == FailureKind::Transient => {
            // Keep the newest: a waiting later record supersedes this one.
            slot.next.get_or_insert(record);
            RecordReport::Retry(f)
        }
        Some(f) => {
            board.failures = board.failures.saturating_add(1);
            io.signal(Signal::StorageFailed {
                board: board.id.clone(),
                message: f.message,
                kind: f.kind,
                attempt: board.failures,
            });
            if board.retry_timer.is_none() {
                send_next(board, io, id);
            }
            RecordReport::Done
        }
    }
}
