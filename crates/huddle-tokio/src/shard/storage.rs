//! The shard's storage side: draining the engine's outputs, performing
//! effects in store tasks, group commit of appends, and feeding outcomes
//! back.
//!
//! Appends (`AppendEvents`) are not performed one by one: the shard
//! collects them while it handles a wake-up's inputs, then sends all of
//! them — many batches of many boards — in one
//! [`Performer::perform_appends`] call, through its [`appender`]. Up to
//! `appends_in_flight` (the engine's setting) such calls are in flight per
//! shard; appends produced meanwhile wait and go together in the next one
//! (group commit: under load, each store round trip carries more, and the
//! SQLite store merges the calls queued at once into one transaction). The
//! engine acknowledges a batch only when its append is reported `Stored`.
//! Other effects (loads, flushes, snapshots, prunes) each get their own
//! task. Every task reports back through the shard's own input channel, so
//! the shard keeps serving inputs meanwhile.
//!
//! [`appender`]: super::appender
//!
//! [`Performer::perform_appends`]: huddle_store::Performer::perform_appends

use std::sync::atomic::Ordering;

use huddle_core::{
    BoardId, Effect, EngineEvent, Output, StorageOutcome, Timestamp, UserSessionRecord,
};
use huddle_store::Store;
use tokio::time::Instant;

use super::appender::Group;
use super::{Input, Shard, Stored};
use crate::metrics::StorageOp;

fn op_of(effect: &Effect) -> StorageOp {
    match effect {
        Effect::LoadBoard { .. } => StorageOp::Load,
        Effect::AppendEvents { .. } => StorageOp::Append,
        Effect::Flush { .. } => StorageOp::Flush,
        Effect::StoreSnapshot { .. } => StorageOp::Snapshot,
        Effect::PruneSnapshots { .. } => StorageOp::Prune,
    }
}

impl<S: Store + 'static> Shard<S> {
    /// Drains every engine output.
    pub(super) fn drain(&mut self, now: Timestamp) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Notify { conn, notice } => self.notify(now, conn, notice),
                Output::Broadcast { conns, notice } => self.broadcast(now, &conns, notice),
                Output::Effect(effect) => self.on_effect(effect),
                Output::Event(event) => self.on_event(event),
            }
        }
    }

    fn on_effect(&mut self, effect: Effect) {
        match effect {
            Effect::AppendEvents { .. } => self.appends.push(effect),
            Effect::LoadBoard { ref board, .. } => {
                // A new session: it acquires a new epoch, which must stay.
                self.release_after.remove(board);
                self.board_opened(board.clone());
                self.perform(effect);
            }
            effect => self.perform(effect),
        }
    }

    fn on_event(&mut self, event: EngineEvent) {
        match &event {
            EngineEvent::SessionEnded { board, reason } => {
                tracing::debug!(shard = self.index, %board, ?reason, "session ended");
                // Its store work is done: drop the ownership epoch, once
                // what is still in flight for it (a prune) has come back.
                if self.board_tasks.contains_key(board) {
                    self.release_after.insert(board.clone());
                } else {
                    self.performer.release(board);
                }
                self.board_ended(board);
            }
            EngineEvent::StateChanged { board, to, .. } => self.board_state(board, *to),
            EngineEvent::UserSessionStarted(record) | EngineEvent::UserSessionEnded(record)
                if self.config.store_user_sessions =>
            {
                self.store_record(record.clone());
            }
            EngineEvent::StorageFailed {
                board,
                message,
                attempt,
            } => {
                tracing::warn!(shard = self.index, %board, %message, attempt, "storage failed");
            }
            _ => {}
        }
    }

    /// Sends the appends collected so far in one store call, unless
    /// `appends_in_flight` calls are in flight already (they go with the
    /// next).
    pub(super) fn commit_appends(&mut self) {
        let limit = self.config.engine.appends_in_flight.max(1);
        if self.groups_in_flight >= limit || self.appends.is_empty() {
            return;
        }
        let effects = std::mem::take(&mut self.appends);
        let boards = self.track(&effects);
        self.groups_in_flight += 1;
        if self.appender.send(Group { effects, boards }).is_err() {
            // Only if the appender task panicked; nothing to report to.
            tracing::error!(shard = self.index, "the appender task is gone");
        }
    }

    /// Counts a store task in flight, and one per effect for its board.
    fn track(&mut self, effects: &[Effect]) -> Vec<BoardId> {
        self.tasks_in_flight += 1;
        let boards: Vec<BoardId> = effects.iter().map(|e| e.board().clone()).collect();
        for board in &boards {
            *self.board_tasks.entry(board.clone()).or_default() += 1;
        }
        boards
    }

    /// Spawns a store task for one effect (not an append) that reports
    /// back as [`Input::Stored`].
    fn perform(&mut self, effect: Effect) {
        let performer = self.performer.clone();
        let metrics = self.metrics.clone();
        let reply = self.self_tx.clone();
        let boards = self.track(std::slice::from_ref(&effect));
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = performer.perform(&effect).await;
            metrics
                .storage_latency(op_of(&effect))
                .observe(started.elapsed());
            if matches!(outcome, StorageOutcome::Failed(_)) {
                metrics.storage_failures.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(tx) = reply.upgrade() {
                let _ = tx.send(Input::Stored(Stored {
                    outcomes: vec![(effect.id(), outcome)],
                    boards,
                    group: false,
                    records: false,
                }));
            }
        });
    }

    /// Queues a user session record for storing (best effort), under the
    /// epoch held for its board now.
    fn store_record(&mut self, record: UserSessionRecord) {
        let board = record.board_id.clone();
        let Some(epoch) = self.performer.epoch(&board) else {
            tracing::debug!(shard = self.index, %board, "no epoch for a user session record");
            return;
        };
        *self.board_tasks.entry(board).or_default() += 1;
        self.records.push((epoch, record));
    }

    /// Writes the queued user session records, in order, in one task (one
    /// at a time per shard, so that a session's end is never overwritten by
    /// its start).
    pub(super) fn commit_records(&mut self) {
        if self.records_in_flight || self.records.is_empty() {
            return;
        }
        let records = std::mem::take(&mut self.records);
        let boards: Vec<BoardId> = records.iter().map(|(_, r)| r.board_id.clone()).collect();
        let performer = self.performer.clone();
        let metrics = self.metrics.clone();
        let reply = self.self_tx.clone();
        self.tasks_in_flight += 1;
        self.records_in_flight = true;
        tokio::spawn(async move {
            for (epoch, record) in records {
                let board = record.board_id.clone();
                if let Err(e) = performer.store().put_user_session(epoch, record).await {
                    tracing::warn!(%board, error = %e, "storing a user session record failed");
                    metrics.storage_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Some(tx) = reply.upgrade() {
                let _ = tx.send(Input::Stored(Stored {
                    outcomes: Vec::new(),
                    boards,
                    group: false,
                    records: true,
                }));
            }
        });
    }

    /// A store task reported: hand each outcome to the engine.
    pub(super) fn on_stored(&mut self, now: Timestamp, stored: Stored) {
        self.tasks_in_flight = self.tasks_in_flight.saturating_sub(1);
        if stored.group {
            self.groups_in_flight = self.groups_in_flight.saturating_sub(1);
        }
        if stored.records {
            self.records_in_flight = false;
        }
        for board in stored.boards {
            if let Some(n) = self.board_tasks.get_mut(&board) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.board_tasks.remove(&board);
                    if self.release_after.remove(&board) {
                        self.performer.release(&board);
                    }
                }
            }
        }
        for (effect, outcome) in stored.outcomes {
            if let Err(e) = self.engine.handle_storage(now, effect, outcome) {
                tracing::debug!(shard = self.index, error = %e, "storage report refused");
            }
            self.drain(now);
        }
    }
}
