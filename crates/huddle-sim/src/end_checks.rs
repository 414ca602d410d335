//! The checks at the end of the liveness phase: every replica equals the
//! server, and every batch was applied exactly once or dropped.

use std::collections::BTreeMap;

use huddle_core::BatchId;

use crate::world::World;

impl World {
    /// Every replica equals the server's board at the server's sequence:
    /// the board of the host the client is connected to, which (with
    /// several hosts) is the one whose lease on the board runs in the
    /// store.
    pub fn check_converged(&mut self) -> Result<(), String> {
        for i in 0..self.clients.len() {
            let board = self.boards[self.clients[i].board].id.clone();
            let host = self.net.client_link(i).map_or(0, |(_, l)| l.host);
            if self.cluster.is_some() {
                let owner = self.store.durable.model().board_owner(&board);
                let node = self.cluster.as_ref().map(|c| c.nodes[host].owner.clone());
                if owner != node {
                    return Err(format!(
                        "client {i} converged on host {host} but {board}'s lease is {owner:?}'s"
                    ));
                }
            }
            self.enter(host);
            let c = &self.clients[i];
            let info = self
                .engine
                .session(board.as_str())
                .ok_or(format!("{board} not live on host {host} after healing"))?;
            let pages = self
                .engine
                .pages(board.as_str())
                .ok_or(format!("{board} not loaded"))?;
            if c.client.replica().sequence() != Some(info.sequence) {
                return Err(format!(
                    "client {i} at sequence {:?}, {board} at {} on host {host}",
                    c.client.replica().sequence(),
                    info.sequence
                ));
            }
            if c.client.replica().pages() != pages {
                return Err(format!(
                    "client {i}'s replica differs from {board} on host {host}"
                ));
            }
        }
        Ok(())
    }

    /// Every batch made was applied exactly once (all its mutations,
    /// contiguously, at its acked sequence), or dropped and never applied.
    ///
    /// One exception, the engine's documented limit: the idempotency
    /// window holds each user's last `dedup_window` batches, so a batch
    /// re-sent after more of that user's batches than that were applied
    /// (two tabs of one busy user and a client restart, say) is applied
    /// again. Such a re-application is counted here; one within the window
    /// fails as the re-sent batch reaches the engine (`must_remember`).
    pub fn check_exactly_once(&mut self) -> Result<(), String> {
        let mut applied: BTreeMap<BatchId, Vec<u64>> = BTreeMap::new();
        for stored in self.store.boards().values() {
            for (k, e) in stored.events.iter().enumerate() {
                if e.seq != k as u64 + 1 {
                    return Err("stored log has a gap".into());
                }
                applied.entry(e.batch.clone()).or_default().push(e.seq);
            }
        }
        for (i, batch, len) in self.ledger.made.clone() {
            let seqs = applied.get(&batch).cloned().unwrap_or_default();
            if self.ledger.dropped.contains_key(&batch) {
                if seqs.is_empty() {
                    continue;
                }
                // Applied, later re-sent, refused (backpressure) and given
                // up: the engine had forgotten the batch id, which is legal
                // only beyond the dedup window; that was checked when the
                // re-sent batch reached the engine (`must_remember`).
                if seqs.len() % len != 0 {
                    return Err(format!(
                        "dropped batch {batch} of client {i} partly applied: {seqs:?}"
                    ));
                }
                self.counters.window_reapplied += 1;
                continue;
            }
            let runs: Vec<&[u64]> = seqs.chunks(len).collect();
            let whole = !runs.is_empty()
                && runs
                    .iter()
                    .all(|r| r.len() == len && r.windows(2).all(|w| w[1] == w[0] + 1));
            if !whole {
                return Err(format!(
                    "client {i} batch {batch} of {len} applied at {seqs:?}"
                ));
            }
            // Applied more than once: the engine had forgotten the batch
            // id, legal only beyond the dedup window; checked when the
            // re-sent batch reached the engine (`must_remember`).
            self.counters.window_reapplied += runs.len() as u64 - 1;
            if let Some(acked) = self.ledger.acked.get(&batch) {
                if !runs.iter().any(|r| r.last() == Some(acked)) {
                    return Err(format!(
                        "batch {batch} acked at {acked}, applied at {seqs:?}"
                    ));
                }
            }
        }
        Ok(())
    }
}
