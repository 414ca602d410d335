//! What the target checks after each output: every notice encodes for the
//! wire and a client decodes it, each connection's view stays gapless
//! (acks follow the replica's sequence), the shared invariants hold while
//! the store is honest, a board's sequence never goes back while in memory,
//! and a sequence is never reused for another event.

use huddle_core::*;
use huddle_wire as wire;

use crate::host::Host;

impl Host {
    pub(crate) fn check_notice(&mut self, conn: ConnId, notice: &Notice) {
        // Every notice can be encoded for the wire and decoded by a client,
        // unless the input gave the engine element data that is not JSON:
        // data is opaque to the engine, and the JSON encoder writes it
        // verbatim (it refuses only empty or non-UTF-8 data), so such data
        // makes a frame that fails or that no client can decode.
        match wire::encode_notice(notice) {
            Ok(frame) => {
                let decoded = wire::ServerMessage::from_json(&frame);
                assert!(
                    decoded.is_ok() || self.opaque_data,
                    "client cannot decode {}: {decoded:?}",
                    String::from_utf8_lossy(&frame)
                );
            }
            Err(e) => assert!(self.opaque_data, "{notice:?} does not encode: {e}"),
        }
        if let Notice::SessionClosed { reason, .. } = notice {
            if reason.reconnect() {
                // The client reconnects and re-syncs from scratch.
                self.replicas.remove(&conn);
                return;
            }
        }
        let replica = self.replicas.entry(conn).or_default();
        match notice {
            Notice::Ack { batch, sequence } => {
                let len = self.batches.get(&(conn, batch.clone())).copied();
                match (replica.sequence, len) {
                    // A repeated batch is answered with its old sequence.
                    (Some(cur), _) if *sequence <= cur => {}
                    (Some(cur), Some(len)) => {
                        assert_eq!(
                            cur + len,
                            *sequence,
                            "ack of {batch} (len {len}) does not follow {cur}"
                        );
                        replica.sequence = Some(*sequence);
                    }
                    _ => {}
                }
            }
            _ => {
                if let Err(e) = replica.apply(notice) {
                    panic!("conn {conn:?}: {e} at {notice:?}");
                }
            }
        }
    }

    pub(crate) fn check_sessions(&mut self) {
        if !self.tainted {
            if let Err(e) = self.inv.state(&self.engine, self.store.model()) {
                panic!("{e}");
            }
        }
        let boards: Vec<BoardId> = self.engine.boards().cloned().collect();
        for b in boards {
            let Some(info) = self.engine.session(b.as_str()) else {
                continue;
            };
            assert!(info.flushed_sequence <= info.sequence.max(info.durable_sequence));
            if !info.loading {
                let seen = self.sequences.entry(b.clone()).or_insert(info.sequence);
                assert!(
                    info.sequence >= *seen,
                    "{b}: sequence went back from {seen} to {}",
                    info.sequence
                );
                *seen = info.sequence;
            }
        }
        let _ = self.engine.stats();
    }

    /// A sequence is never reused: an append of a sequence appended before
    /// is a retry of the same event.
    pub(crate) fn check_reuse(&mut self, effect: &Effect) {
        let Effect::AppendEvents { board, events, .. } = effect else {
            return;
        };
        if self.tainted {
            return;
        }
        for e in events.iter() {
            match self.appended.get(&(board.clone(), e.seq)) {
                Some(prev) => assert_eq!(prev, e, "{board}: sequence {} reused", e.seq),
                None => {
                    self.appended.insert((board.clone(), e.seq), e.clone());
                }
            }
        }
    }
}
