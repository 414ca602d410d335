//! Snapshots of a board (auto-save, on disconnect, manual, archive): taking
//! one of the board as clients see it, telling participants when it is
//! stored (or the requester when it failed), and pruning stored snapshots
//! down to the newest the configuration keeps.

use std::sync::Arc;

use super::flush::start_flush;
use super::retry::schedule_retry;
use super::{Conn, EffectKind, Engine, Io};
use crate::board::{Board, Drain, SnapshotJob};
use crate::error::{ErrorCode, SessionError, SnapshotError};
use crate::ids::{BoardId, ConnId, EffectId};
use crate::output::{Notice, Signal, SnapshotInfo};
use crate::storage::{Effect, Snapshot, SnapshotCause, StorageOutcome};
use crate::time::Timestamp;

impl Engine {
    /// A participant asks for a snapshot (`manual`): pending mutations are
    /// flushed and a snapshot of the board at its current sequence is
    /// stored; every participant is told when it is.
    ///
    /// Copying a board is the most expensive thing a participant can ask
    /// the store for, so it is refused (nothing changes, the request does
    /// not count as activity) when the board has not changed since its
    /// newest snapshot, stored or being stored ([`SnapshotError::Unchanged`]),
    /// while any snapshot of the board is being stored
    /// ([`SnapshotError::InFlight`]), and within
    /// [`Config::manual_snapshot_interval`](crate::Config::manual_snapshot_interval)
    /// of the board's previous manual snapshot ([`SnapshotError::TooSoon`]),
    /// and when the board holds more payload bytes than
    /// [`Limits::max_snapshot_bytes`](crate::Limits::max_snapshot_bytes)
    /// ([`SnapshotError::TooLarge`]).
    pub fn request_snapshot(&mut self, now: Timestamp, conn: ConnId) -> Result<(), SnapshotError> {
        let now = self.tick(now);
        let live = match self.conns.get_mut(&conn) {
            Some(Conn::Live(live)) => live,
            Some(Conn::Expired(_)) => return Err(SessionError::SessionExpired.into()),
            _ => return Err(SessionError::NotJoined.into()),
        };
        let board = self
            .boards
            .get_mut(&live.record.board_id)
            .ok_or(SessionError::NotJoined)?;
        if !board.changed_since_snapshot() {
            return Err(SnapshotError::Unchanged {
                version: board.newest_snapshot_version().unwrap_or(0),
            });
        }
        let max = self.config.limits.max_snapshot_bytes;
        if board.payload_bytes > max {
            return Err(SnapshotError::TooLarge {
                bytes: board.payload_bytes,
                max,
            });
        }
        if !board.snapshot_jobs.is_empty() {
            return Err(SnapshotError::InFlight);
        }
        let interval = self.config.manual_snapshot_interval;
        if let Some(at) = board.manual_snapshot_at {
            let since = now.saturating_duration_since(at);
            if since < interval {
                return Err(SnapshotError::TooSoon { since, interval });
            }
        }
        live.record.last_activity = now;
        board.manual_snapshot_at = Some(now);
        start_flush(board, &mut self.io);
        take_snapshot(
            board,
            &mut self.io,
            now,
            SnapshotCause::Manual,
            Some(conn),
            max,
        );
        Ok(())
    }

    pub(super) fn on_snapshot(
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

    pub(super) fn on_prune(
        &mut self,
        board_id: &BoardId,
        effect: EffectId,
        outcome: StorageOutcome,
    ) {
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
}

/// Emits a snapshot of the board as clients see it now, unless the board
/// holds more than `max` payload bytes: then it counts and signals the
/// skip and returns `false`.
pub(crate) fn take_snapshot(
    board: &mut Board,
    io: &mut Io,
    now: Timestamp,
    cause: SnapshotCause,
    requester: Option<ConnId>,
    max: usize,
) -> bool {
    if board.payload_bytes > max {
        board.snapshots_skipped = board.snapshots_skipped.saturating_add(1);
        io.signal(Signal::SnapshotSkipped {
            board: board.id.clone(),
            cause,
            bytes: board.payload_bytes,
            max,
        });
        return false;
    }
    let snapshot = Arc::new(Snapshot {
        board: board.id.clone(),
        version: board.committed,
        pages: board.pages.share(),
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
    true
}
