//! Loading a board session from the host's store on its first join: the
//! loaded board is checked for consistency and installed (flushed pages,
//! replayed events, history, remembered batches), then the joins that
//! waited for it are admitted. A board that is not found, fails to load or
//! is inconsistent fails its waiting joins and its session ends. A board
//! whose lease another node holds is not this host's to serve: its waiting
//! joins are redirected to that node and its session ends the same way.

use super::Engine;
use crate::board::{Board, Phase};
use crate::dedup::Seen;
use crate::delta::BatchMeta;
use crate::error::JoinError;
use crate::failure::StorageFailure;
use crate::ids::{BoardId, EffectId};
use crate::output::{CloseReason, Notice, SessionEnd};
use crate::storage::{BoardOwner, LoadedBoard, StorageOutcome};
use crate::time::Timestamp;
use crate::timers::TimerKey;

impl Engine {
    pub(super) fn on_load(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
        let Some(board) = self
            .boards
            .get_mut(board_id)
            .filter(|b| b.phase == Phase::Loading(effect))
        else {
            return;
        };
        let loaded = match outcome {
            StorageOutcome::Loaded(loaded) => loaded,
            StorageOutcome::NotFound => {
                let error = JoinError::BoardNotFound(board_id.clone());
                return self.fail_load(board_id, error, SessionEnd::NotFound);
            }
            StorageOutcome::OwnedElsewhere(owner) => {
                return self.redirect_load(board_id, owner);
            }
            StorageOutcome::Failed(StorageFailure {
                message: reason, ..
            }) => {
                // Transient or invalid: the joins fail with `UNAVAILABLE`
                // (the client retries the join, which loads again).
                let error = JoinError::LoadFailed {
                    board: board_id.clone(),
                    reason: reason.clone(),
                };
                return self.fail_load(board_id, error, SessionEnd::LoadFailed(reason));
            }
            _ => return,
        };
        if let Err(reason) = install(board, *loaded, now) {
            let error = JoinError::LoadFailed {
                board: board_id.clone(),
                reason: reason.clone(),
            };
            return self.fail_load(board_id, error, SessionEnd::LoadFailed(reason));
        }
        let at = board
            .created_at
            .saturating_add(self.config.idle_timeout(board.kind))
            .max(now);
        board.idle_timer = Some(self.io.timers.arm(at, TimerKey::Idle(board_id.clone())));
        board.idle_since = Some(board.created_at);
        let joins = std::mem::take(&mut board.waiting_joins);
        for (conn, request) in joins {
            self.conns.remove(&conn);
            let board = request.board.clone();
            if let Err(e) = self.admit(now, conn, request) {
                self.io.join_failed(conn, board, &e);
            }
        }
        if self.shutting_down {
            // Loaded during shutdown: archive it now (it is ready).
            let _ = self.close_with(now, board_id.as_str(), true, CloseReason::Moved);
        }
    }

    pub(super) fn fail_load(&mut self, board_id: &BoardId, error: JoinError, reason: SessionEnd) {
        let Some(mut board) = self.remove_board(board_id) else {
            return;
        };
        for (conn, _) in std::mem::take(&mut board.waiting_joins) {
            self.conns.remove(&conn);
            self.io.join_failed(conn, board_id.clone(), &error);
        }
        self.end_session(&board, reason);
    }

    /// Another node holds the board's lease: each waiting join is told
    /// where the board is served ([`Notice::Redirect`]) instead of an
    /// error, and the session ends without having begun (nothing was
    /// loaded, nothing is kept, nothing was written).
    fn redirect_load(&mut self, board_id: &BoardId, owner: BoardOwner) {
        let Some(mut board) = self.remove_board(board_id) else {
            return;
        };
        for (conn, _) in std::mem::take(&mut board.waiting_joins) {
            self.conns.remove(&conn);
            let notice = Notice::Redirect {
                board: board_id.clone(),
                owner: owner.clone(),
            };
            self.io.notify(conn, notice);
        }
        self.end_session(&board, SessionEnd::OwnedElsewhere(owner));
    }
}

/// Installs a loaded board after checking it is consistent.
fn install(board: &mut Board, loaded: LoadedBoard, now: Timestamp) -> Result<(), String> {
    let LoadedBoard {
        session_type,
        pages,
        pages_sequence,
        events,
        snapshot_count,
        last_snapshot_version,
        mut batches,
    } = loaded;
    if events.first().is_some_and(|e| e.seq == 0) {
        return Err("a stored event has sequence 0".into());
    }
    // `checked_add`: a log that wraps around (`u64::MAX` then 0) is not
    // contiguous.
    if let Some(pair) = events
        .windows(2)
        .find(|w| w[0].seq.checked_add(1) != Some(w[1].seq))
    {
        return Err(format!(
            "stored events are not contiguous ({} then {})",
            pair[0].seq, pair[1].seq
        ));
    }
    let last = events.last().map_or(pages_sequence, |e| e.seq);
    if last > pages_sequence
        && events
            .first()
            .is_some_and(|e| e.seq > pages_sequence.saturating_add(1))
    {
        return Err(format!(
            "stored events start after the flushed state at {pages_sequence}: events are missing"
        ));
    }
    board.kind = session_type.unwrap_or(board.kind);
    board.payload_bytes = pages.payload_bytes();
    board.pages = pages;
    board.flushed_through = pages_sequence;
    board.committed = pages_sequence;
    // Events up to the flushed state feed only the history (and only if the
    // run reaches the board's sequence); later ones are replayed and become
    // pending again.
    // Each run of one batch becomes one chunk of the history.
    let history_usable = last >= pages_sequence;
    let split = events.partition_point(|e| e.seq <= pages_sequence);
    let (flushed, replayed) = events.split_at(split);
    if history_usable {
        for run in flushed.chunk_by(BatchMeta::continues) {
            if let Some(first) = run.first() {
                let mutations = run.iter().map(|e| e.mutation.clone()).collect();
                board.history.push(first, mutations, Default::default());
            }
        }
    }
    board.commit(replayed);
    if let Some(last) = replayed.last() {
        let bytes = crate::pending_bytes::payload_bytes(replayed.iter().map(|e| &e.mutation));
        board.pending_bytes.accepted(last.seq, bytes);
    }
    // With the loaded state's hasher (the set is empty: it takes it), so
    // later commits hash each element id once.
    for event in replayed {
        board
            .pending
            .record_hashed(&event.mutation, board.pages.hasher());
    }
    let sequence = last.max(pages_sequence);
    if let Some(r) = batches
        .iter()
        .find(|r| r.last_seq > sequence || r.last_seq == 0)
    {
        return Err(format!(
            "stored batch {} of {} ends at {}, outside the board's sequence 1..={sequence}",
            r.batch, r.user, r.last_seq
        ));
    }
    board.committed = sequence;
    board.assigned = sequence;
    board.durable = sequence;
    // Older batches first, so that each user's window keeps the newest.
    // They count as remembered now: a batch stored just before a long
    // outage is still recognised when its client re-sends it after the
    // restart. The history's batches (whose first events the loaded run
    // may not reach) add no digest to what the records know.
    batches.sort_by_key(|r| r.last_seq);
    for r in &batches {
        let seen = Seen {
            last_seq: r.last_seq,
            digest: r.digest,
        };
        board.dedup.remember(&r.user, &r.batch, seen, now);
    }
    for (author, batch, last_seq) in board.history.batch_ends() {
        let seen = Seen {
            last_seq,
            digest: None,
        };
        board.dedup.remember(author, batch, seen, now);
    }
    board.snapshot_count = snapshot_count;
    board.snapshot_stored_version = last_snapshot_version;
    board.phase = Phase::Ready;
    Ok(())
}
