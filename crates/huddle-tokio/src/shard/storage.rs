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
//! Other effects (loads, flushes, snapshots, prunes, user session records)
//! each get their own task. Every task reports back through the shard's own
//! input channel, so the shard keeps serving inputs meanwhile.
//!
//! The engine tells the shard when a board's session is over and every
//! effect of it is reported ([`Output::Released`]): the shard then drops
//! the board's ownership epoch ([`Performer::release`]) and frees its
//! lease in the store. A fenced write
//! ends the session inside the engine; the shard only delivers the
//! `session_closed` frames and closes the connections.
//!
//! [`Performer::release`]: huddle_store::Performer::release
//! [`appender`]: super::appender
//!
//! [`Performer::perform_appends`]: huddle_store::Performer::perform_appends

use huddle_core::{Effect, Output, Signal, StorageOutcome, Timestamp};
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
        Effect::StoreUserSession { .. } => StorageOp::Record,
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
                Output::Signal(event) => self.on_event(event),
                Output::Released { board } => {
                    // The session's last effect is reported: drop its epoch
                    // and free its lease in the store at once. (A new
                    // session's load, if any, comes after this; a release
                    // that lands after its acquire changes nothing.)
                    if let Some(epoch) = self.performer.release(&board) {
                        let performer = self.performer.clone();
                        self.releases.retain(|r| !r.is_finished());
                        self.releases.push(tokio::spawn(async move {
                            let store = performer.store();
                            if let Err(e) = store.release_board(&board, epoch).await {
                                tracing::warn!(%board, error = %e, "lease not released: it expires");
                            }
                        }));
                    }
                    self.metrics.boards_released.inc();
                }
                Output::Drained => tracing::debug!(shard = self.index, "engine drained"),
            }
        }
    }

    fn on_effect(&mut self, effect: Effect) {
        match effect {
            Effect::AppendEvents { .. } => self.appends.push(effect),
            Effect::LoadBoard { ref board, .. } => {
                self.board_opened(board.clone());
                self.perform(effect);
            }
            effect => self.perform(effect),
        }
    }

    fn on_event(&mut self, event: Signal) {
        match &event {
            Signal::SessionEnded { board, reason } => {
                tracing::debug!(shard = self.index, %board, ?reason, "session ended");
                self.board_ended(board);
            }
            Signal::StateChanged { board, to, .. } => self.board_state(board, *to),
            Signal::StorageFailed {
                board,
                message,
                kind,
                attempt,
            } => {
                tracing::warn!(shard = self.index, %board, %message, ?kind, attempt, "storage failed");
            }
            Signal::SnapshotSkipped {
                board,
                cause,
                bytes,
                max,
            } => {
                self.metrics.snapshots_skipped.inc();
                tracing::warn!(shard = self.index, %board, ?cause, bytes, max, "snapshot skipped: board over the snapshot size cap");
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
        self.groups_in_flight += 1;
        if self.appender.send(Group { effects }).is_err() {
            // Only if the appender task panicked; nothing to report to.
            tracing::error!(shard = self.index, "the appender task is gone");
        }
    }

    /// Spawns a store task for one effect (not an append) that reports
    /// back as [`Input::Stored`].
    fn perform(&mut self, effect: Effect) {
        let performer = self.performer.clone();
        let metrics = self.metrics.clone();
        let reply = self.self_tx.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let outcome = performer.perform(&effect).await;
            metrics.storage_latency(op_of(&effect), started.elapsed());
            if matches!(outcome, StorageOutcome::Failed(_)) {
                metrics.storage_failures.inc();
            }
            if let Some(tx) = reply.upgrade() {
                let _ = tx.send(Input::Stored(Stored {
                    outcomes: vec![(effect.id(), outcome)],
                    group: false,
                }));
            }
        });
    }

    /// A store task reported: hand each outcome to the engine.
    pub(super) fn on_stored(&mut self, now: Timestamp, stored: Stored) {
        if stored.group {
            self.groups_in_flight = self.groups_in_flight.saturating_sub(1);
        }
        for (effect, outcome) in stored.outcomes {
            if let Err(e) = self.engine.handle_storage(now, effect, outcome) {
                tracing::debug!(shard = self.index, error = %e, "storage report refused");
            }
            self.drain(now);
        }
    }
}
