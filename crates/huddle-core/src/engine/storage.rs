//! The storage side of the engine: reports of effects, loading, flushing,
//! snapshots, retries with backoff, and draining a session (archive or
//! close) until everything is stored.
//!
//! A report is first matched to the session it was issued for: a report
//! for a session that has ended only counts towards that session's
//! release (`lifecycle`). A fenced failure of any effect ends the session
//! (`Engine::abort_session`); an invalid one is handled per effect kind
//! (`docs/decisions.md`); a transient one is retried with backoff.

use std::sync::Arc;

use super::mutate::{append_stored, send_append, start_append};
use super::{Conn, EffectKind, Engine, Io};
use crate::board::{Board, Drain, Phase, SnapshotJob};
use crate::config::{Config, SessionType};
use crate::delta::BatchMeta;
use crate::error::{BoardError, ConfirmError, ErrorCode, JoinError, SessionError};
use crate::failure::{FailureKind, StorageFailure};
use crate::ids::{BoardId, ConnId, EffectId};
use crate::output::{CloseReason, Notice, SessionEnd, SessionState, Signal, SnapshotInfo};
use crate::storage::{Effect, LoadedBoard, Snapshot, SnapshotCause, StorageOutcome};
use crate::time::Timestamp;
use crate::timers::TimerKey;
use crate::user_session::UserSessionStatus;

impl Engine {
    /// The host reports the outcome of an effect.
    ///
    /// Every effect gets exactly one report. A report for an unknown or
    /// already reported effect, or one that does not fit the effect, is
    /// refused with [`ConfirmError`] and changes nothing. A report for an
    /// effect of a session that has ended is accepted and changes nothing
    /// but the count towards the session's [`Output::Released`](crate::Output::Released).
    ///
    /// A [`StorageOutcome::Failed`] is handled by its
    /// [`FailureKind`]: transient failures are retried with backoff; a
    /// fenced one ends the board's session at once
    /// ([`SessionEnd::Fenced`], connections get [`Notice::SessionClosed`]
    /// with [`CloseReason::Moved`]); an invalid one is not retried: a load
    /// fails its joins, a log append or flush ends the session
    /// ([`SessionEnd::WriteFailed`], [`CloseReason::Failed`]), so does an
    /// `archive` snapshot, other snapshots, prunes and user-session records
    /// are given up and reported.
    pub fn handle_storage(
        &mut self,
        now: Timestamp,
        effect: EffectId,
        outcome: StorageOutcome,
    ) -> Result<(), ConfirmError> {
        let now = self.tick(now);
        let Some(kind) = self.io.effects.get(&effect).map(|i| i.kind) else {
            return Err(ConfirmError::UnknownEffect(effect));
        };
        let fits = matches!(
            (kind, &outcome),
            (
                EffectKind::Load,
                StorageOutcome::Loaded(_) | StorageOutcome::NotFound | StorageOutcome::Failed(_)
            ) | (
                EffectKind::Append | EffectKind::Flush | EffectKind::Prune | EffectKind::Record,
                StorageOutcome::Stored | StorageOutcome::Failed(_)
            ) | (
                EffectKind::Snapshot,
                StorageOutcome::SnapshotStored(_) | StorageOutcome::Failed(_)
            )
        );
        if !fits {
            return Err(ConfirmError::MismatchedOutcome(effect));
        }
        let Some(issued) = self.io.reported(effect) else {
            return Err(ConfirmError::UnknownEffect(effect));
        };
        let board_id = issued.board;
        let current = self
            .boards
            .get(&board_id)
            .is_some_and(|b| b.opened == issued.session);
        if !current {
            // The session ended: the report only counts towards its release.
            self.settle(&board_id, issued.session);
        } else if let StorageOutcome::Failed(StorageFailure {
            kind: FailureKind::Fenced,
            message,
        }) = &outcome
        {
            self.fenced(now, &board_id, kind, message);
        } else {
            match kind {
                EffectKind::Load => self.on_load(now, &board_id, effect, outcome),
                EffectKind::Append => self.on_append(now, &board_id, effect, outcome),
                EffectKind::Flush => self.on_flush(now, &board_id, effect, outcome),
                EffectKind::Snapshot => self.on_snapshot(now, &board_id, effect, outcome),
                EffectKind::Prune => self.on_prune(&board_id, effect, outcome),
                EffectKind::Record => self.on_record(now, &board_id, effect, outcome),
            }
        }
        self.check_drained();
        Ok(())
    }

    /// A store fenced one of the session's effects off: another host owns
    /// the board. The session ends at once and for good.
    fn fenced(&mut self, now: Timestamp, board_id: &BoardId, kind: EffectKind, message: &str) {
        if let Some(board) = self.boards.get_mut(board_id) {
            board.failures = board.failures.saturating_add(1);
            let attempt = board.failures;
            self.io.signal(Signal::StorageFailed {
                board: board_id.clone(),
                message: message.to_owned(),
                kind: FailureKind::Fenced,
                attempt,
            });
        }
        if kind == EffectKind::Load {
            let error = JoinError::Moved(board_id.clone());
            self.fail_load(board_id, error, SessionEnd::Fenced);
        } else {
            self.abort_session(now, board_id, SessionEnd::Fenced, CloseReason::Moved);
        }
    }

    /// A store refused one of the session's writes as invalid or corrupt:
    /// retrying cannot help, so the session ends without it (its clients
    /// reconnect and get the board as the store holds it).
    fn write_failed(&mut self, now: Timestamp, board_id: &BoardId, failure: StorageFailure) {
        if let Some(board) = self.boards.get_mut(board_id) {
            board.failures = board.failures.saturating_add(1);
            let attempt = board.failures;
            self.io.signal(Signal::StorageFailed {
                board: board_id.clone(),
                message: failure.message.clone(),
                kind: failure.kind,
                attempt,
            });
        }
        let end = SessionEnd::WriteFailed(failure.message);
        self.abort_session(now, board_id, end, CloseReason::Failed);
    }

    fn on_prune(&mut self, board_id: &BoardId, effect: EffectId, outcome: StorageOutcome) {
        if let Some(board) = self
            .boards
            .get_mut(board_id)
            .filter(|b| b.prune == Some(effect))
        {
            board.prune = None;
            if outcome == StorageOutcome::Stored {
                board.snapshot_count = board.snapshot_count.min(self.config.snapshot_retention);
            }
        }
    }

    fn on_record(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
        let config = &self.config;
        let io = &mut self.io;
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        let failure = match outcome {
            StorageOutcome::Failed(f) => Some(f),
            _ => None,
        };
        match super::records::record_reported(board, io, effect, failure) {
            super::records::RecordReport::Done => {}
            super::records::RecordReport::Retry(f) => schedule_retry(config, board, io, now, f),
        }
        self.advance_drain(now, board_id);
    }

    /// Hands the host everything pending on the board as one
    /// [`Effect::Flush`] (grouped by page, last write per element). If a
    /// flush is in flight, another follows when it is confirmed. Nothing
    /// pending: nothing to do.
    pub fn flush_pending(&mut self, now: Timestamp, board: &str) -> Result<(), BoardError> {
        self.tick(now);
        let b = self
            .boards
            .get_mut(board)
            .ok_or_else(|| BoardError::BoardNotFound(board.into()))?;
        if b.phase != Phase::Ready {
            return Err(BoardError::Busy(b.id.clone()));
        }
        start_flush(b, &mut self.io);
        Ok(())
    }

    /// Closes a board session whatever its state: its participants are told
    /// ([`Notice::SessionClosed`]) and their user sessions end, the session
    /// disappears from [`Engine::session`] at once, and it leaves memory when
    /// its pending mutations are stored. A join meanwhile waits and then
    /// opens a fresh session from storage.
    pub fn close_session(&mut self, now: Timestamp, board: &str) -> Result<(), BoardError> {
        self.close_with(now, board, false)?;
        self.check_drained();
        Ok(())
    }

    /// Archives a board session now, whatever its state (what
    /// [`shutdown`](Self::shutdown) does with every session): like
    /// [`close_session`](Self::close_session)
    /// its participants are told ([`Notice::SessionClosed`]), their user
    /// sessions end and the session disappears from [`Engine::session`] at
    /// once; pending mutations are flushed and a persistent session also
    /// stores an `archive` snapshot of its final state. It leaves memory
    /// (with [`SessionEnd::Closed`]) only when all of that is confirmed
    /// stored; transient failures are retried with backoff.
    ///
    /// An ephemeral session gets no snapshot (as on an idle archive). A board
    /// still loading, or already closing, is refused with
    /// [`BoardError::Busy`] ([`shutdown`](Self::shutdown) archives those
    /// too, once loaded); an idle archive in progress becomes this one.
    pub fn archive_session(&mut self, now: Timestamp, board: &str) -> Result<(), BoardError> {
        self.close_with(now, board, true)?;
        self.check_drained();
        Ok(())
    }

    fn close_with(&mut self, now: Timestamp, board: &str, archive: bool) -> Result<(), BoardError> {
        let now = self.tick(now);
        let b = self
            .boards
            .get_mut(board)
            .ok_or_else(|| BoardError::BoardNotFound(board.into()))?;
        if b.phase != Phase::Ready {
            return Err(BoardError::Busy(b.id.clone()));
        }
        b.phase = Phase::Closing;
        // An idle archive in progress may already have stored its snapshot.
        let snapshot_version = match b.drain {
            Some(Drain::Archive { snapshot_version }) => snapshot_version,
            _ => None,
        };
        b.drain = Some(Drain::Close {
            archive,
            snapshot_version,
        });
        self.io.timers.cancel_slot(&mut b.idle_timer);
        self.io.timers.cancel_slot(&mut b.autosave_timer);
        let id = b.id.clone();
        let conns: Vec<ConnId> = b.conns.iter().copied().collect();
        self.io.broadcast(
            conns.iter().copied(),
            Notice::SessionClosed {
                board: id.clone(),
                reason: CloseReason::Closed,
            },
        );
        for conn in conns {
            self.end_user_session(now, conn, UserSessionStatus::Ended);
        }
        if let Some(b) = self.boards.get_mut(board) {
            start_flush(b, &mut self.io);
        }
        self.advance_drain(now, &id);
        Ok(())
    }

    /// A participant asks for a snapshot (`manual`): pending mutations are
    /// flushed and a snapshot of the board at its current sequence is
    /// stored; every participant is told when it is.
    pub fn request_snapshot(&mut self, now: Timestamp, conn: ConnId) -> Result<(), SessionError> {
        let now = self.tick(now);
        let live = match self.conns.get_mut(&conn) {
            Some(Conn::Live(live)) => live,
            Some(Conn::Expired(_)) => return Err(SessionError::SessionExpired),
            _ => return Err(SessionError::NotJoined),
        };
        let board = self
            .boards
            .get_mut(&live.record.board_id)
            .ok_or(SessionError::NotJoined)?;
        live.record.last_activity = now;
        start_flush(board, &mut self.io);
        take_snapshot(board, &mut self.io, now, SnapshotCause::Manual, Some(conn));
        Ok(())
    }

    fn on_load(
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
        if let Err(reason) = install(board, *loaded) {
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
            let _ = self.close_with(now, board_id.as_str(), true);
        }
    }

    fn fail_load(&mut self, board_id: &BoardId, error: JoinError, reason: SessionEnd) {
        let Some(mut board) = self.boards.swap_remove(board_id) else {
            return;
        };
        for (conn, _) in std::mem::take(&mut board.waiting_joins) {
            self.conns.remove(&conn);
            self.io.join_failed(conn, board_id.clone(), &error);
        }
        self.end_session(&board, reason);
    }

    fn on_append(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
        let config = &self.config;
        let io = &mut self.io;
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        match outcome {
            StorageOutcome::Stored => {
                let Some(durable) = board.log.stored(effect) else {
                    return;
                };
                board.failures = 0;
                append_stored(config, board, io, durable);
                if board.durable.saturating_sub(board.flushed_through) >= config.flush_threshold {
                    start_flush(board, io);
                }
            }
            StorageOutcome::Failed(failure) if failure.is_transient() => {
                if !board.log.failed(effect) {
                    return;
                }
                schedule_retry(config, board, io, now, failure);
            }
            StorageOutcome::Failed(failure) => return self.write_failed(now, board_id, failure),
            _ => {}
        }
        self.advance_drain(now, board_id);
    }

    fn on_flush(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
        let config = &self.config;
        let io = &mut self.io;
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        let Some((_, batch)) = board.flush.take_if(|(id, _)| *id == effect) else {
            return;
        };
        match outcome {
            StorageOutcome::Stored => {
                board.failures = 0;
                board.flushed_through = board.flushed_through.max(batch.through);
                board.last_flush = Some(now);
                if std::mem::take(&mut board.flush_wanted) {
                    start_flush(board, io);
                }
            }
            StorageOutcome::Failed(failure) if failure.is_transient() => {
                board.pending.restore(&batch);
                board.flush_wanted = true;
                schedule_retry(config, board, io, now, failure);
            }
            StorageOutcome::Failed(failure) => return self.write_failed(now, board_id, failure),
            _ => {}
        }
        self.advance_drain(now, board_id);
    }

    fn on_snapshot(
        &mut self,
        now: Timestamp,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
        let config = &self.config;
        let io = &mut self.io;
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        let Some(pos) = board.snapshot_jobs.iter().position(|j| j.effect == effect) else {
            return;
        };
        let job = board.snapshot_jobs.remove(pos);
        match outcome {
            StorageOutcome::SnapshotStored(id) => {
                board.failures = 0;
                board.snapshot_count = board.snapshot_count.saturating_add(1);
                board.snapshot_stored_version =
                    board.snapshot_stored_version.max(Some(job.version));
                let info = SnapshotInfo {
                    id,
                    version: job.version,
                    created_at: job.created_at,
                    created_by: job.cause,
                };
                io.broadcast(board.others(None), Notice::Snapshot(info));
                if board.snapshot_count > config.snapshot_retention && board.prune.is_none() {
                    let keep_last = config.snapshot_retention;
                    let id = board.id.clone();
                    let prune = io.effect(&id, board.opened, EffectKind::Prune, |eid| {
                        Effect::PruneSnapshots {
                            id: eid,
                            board: id.clone(),
                            keep_last,
                        }
                    });
                    board.prune = Some(prune);
                }
                if job.cause == SnapshotCause::Archive {
                    if let Some(
                        Drain::Archive { snapshot_version }
                        | Drain::Close {
                            snapshot_version, ..
                        },
                    ) = &mut board.drain
                    {
                        *snapshot_version = (*snapshot_version).max(Some(job.version));
                    }
                }
            }
            StorageOutcome::Failed(failure) => {
                if let Some(conn) = job.requester.filter(|c| board.conns.contains(c)) {
                    io.notify(
                        conn,
                        Notice::SnapshotFailed {
                            code: ErrorCode::Unavailable,
                            message: failure.message.clone(),
                        },
                    );
                }
                let archiving = job.cause == SnapshotCause::Archive && board.drain.is_some();
                if archiving && failure.is_transient() {
                    schedule_retry(config, board, io, now, failure);
                } else if archiving {
                    // The archive can never be stored: end without it.
                    return self.write_failed(now, board_id, failure);
                } else {
                    board.failures = board.failures.saturating_add(1);
                    io.signal(Signal::StorageFailed {
                        board: board.id.clone(),
                        message: failure.message,
                        kind: failure.kind,
                        attempt: board.failures,
                    });
                }
            }
            _ => {}
        }
        self.advance_drain(now, board_id);
    }

    /// The retry timer of a board fired: re-send what failed.
    pub(crate) fn retry_storage(&mut self, now: Timestamp, board_id: &BoardId) {
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        board.retry_timer = None;
        if let Some(events) = board.log.failed.take() {
            send_append(board, &mut self.io, events);
            start_append(&self.config, board, &mut self.io);
        }
        if std::mem::take(&mut board.flush_wanted) {
            start_flush(board, &mut self.io);
        }
        super::records::retry_records(board, &mut self.io);
        self.advance_drain(now, board_id);
    }

    /// Moves an archiving or closing session towards leaving memory: wait
    /// for the log, flush, snapshot (persistent archive), then drop it.
    pub(crate) fn advance_drain(&mut self, now: Timestamp, board_id: &BoardId) {
        let Some(board) = self.boards.get_mut(board_id) else {
            return;
        };
        let Some(drain) = board.drain else { return };
        if board.retry_timer.is_some()
            || !board.log.is_idle()
            || board.flush.is_some()
            || !board.records.is_idle()
        {
            return;
        }
        if !board.pending.is_empty() {
            start_flush(board, &mut self.io);
            return;
        }
        // The log is idle and everything flushed: `committed` is final.
        let (snapshot, archived_version) = match drain {
            Drain::Archive { snapshot_version } => (true, snapshot_version),
            Drain::Close {
                archive,
                snapshot_version,
            } => (archive, snapshot_version),
        };
        if snapshot
            && board.kind == SessionType::Persistent
            && archived_version != Some(board.committed)
        {
            let committed = board.committed;
            let current =
                |j: &SnapshotJob| j.cause == SnapshotCause::Archive && j.version == committed;
            if !board.snapshot_jobs.iter().any(current) {
                take_snapshot(board, &mut self.io, now, SnapshotCause::Archive, None);
            }
            return;
        }
        let Some(mut board) = self.boards.swap_remove(board_id) else {
            return;
        };
        for slot in [
            &mut board.idle_timer,
            &mut board.autosave_timer,
            &mut board.retry_timer,
        ] {
            self.io.timers.cancel_slot(slot);
        }
        match drain {
            Drain::Archive { .. } => {
                crate::engine::join::set_state(&mut board, &mut self.io, SessionState::Archived);
                self.end_session(&board, SessionEnd::Archived);
            }
            Drain::Close { .. } => {
                self.end_session(&board, SessionEnd::Closed);
                for (conn, request) in std::mem::take(&mut board.waiting_joins) {
                    self.conns.remove(&conn);
                    let board = request.board.clone();
                    if let Err(e) = self.join(now, conn, request) {
                        self.io.join_failed(conn, board, &e);
                    }
                }
            }
        }
    }
}

/// Installs a loaded board after checking it is consistent.
fn install(board: &mut Board, loaded: LoadedBoard) -> Result<(), String> {
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
                board.history.push(first, mutations);
            }
        }
    }
    board.commit(replayed);
    for event in replayed {
        board.pending.record(&event.mutation);
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
    batches.sort_by_key(|r| r.last_seq);
    for r in &batches {
        board.dedup.remember(&r.user, &r.batch, r.last_seq);
    }
    for (author, batch, last_seq) in board.history.batch_ends() {
        board.dedup.remember(author, batch, last_seq);
    }
    board.snapshot_count = snapshot_count;
    board.snapshot_stored_version = last_snapshot_version;
    board.phase = Phase::Ready;
    Ok(())
}

/// Hands the pending set to the store, unless a flush is in flight (then
/// one follows) or a retry is scheduled (then the retry does it).
pub(crate) fn start_flush(board: &mut Board, io: &mut Io) {
    if board.flush.is_some() {
        board.flush_wanted = true;
        return;
    }
    if board.pending.is_empty() {
        return;
    }
    if board.retry_timer.is_some() {
        board.flush_wanted = true;
        return;
    }
    let batch = Arc::new(
        board
            .pending
            .take(board.flushed_through.saturating_add(1), board.durable),
    );
    let id = board.id.clone();
    let effect_batch = batch.clone();
    let eid = io.effect(&id, board.opened, EffectKind::Flush, |eid| Effect::Flush {
        id: eid,
        board: id.clone(),
        batch: effect_batch,
    });
    board.flush = Some((eid, batch));
    board.flush_wanted = false;
}

/// Emits a snapshot of the board as clients see it now.
pub(crate) fn take_snapshot(
    board: &mut Board,
    io: &mut Io,
    now: Timestamp,
    cause: SnapshotCause,
    requester: Option<ConnId>,
) {
    let snapshot = Arc::new(Snapshot {
        board: board.id.clone(),
        version: board.committed,
        pages: board.pages.clone(),
        created_at: now,
        created_by: cause,
    });
    let version = snapshot.version;
    let effect = io.effect(
        &board.id.clone(),
        board.opened,
        EffectKind::Snapshot,
        |eid| Effect::StoreSnapshot { id: eid, snapshot },
    );
    board.snapshot_jobs.push(SnapshotJob {
        effect,
        cause,
        version,
        created_at: now,
        requester,
    });
}

/// Counts a failure and arms the board's retry timer with backoff.
fn schedule_retry(
    config: &Config,
    board: &mut Board,
    io: &mut Io,
    now: Timestamp,
    failure: StorageFailure,
) {
    board.failures = board.failures.saturating_add(1);
    io.signal(Signal::StorageFailed {
        board: board.id.clone(),
        message: failure.message,
        kind: failure.kind,
        attempt: board.failures,
    });
    if board.retry_timer.is_none() {
        let at = now.saturating_add(config.retry_delay(board.failures));
        board.retry_timer = Some(io.timers.arm(at, TimerKey::Retry(board.id.clone())));
    }
}
