//! Applying mutations: validation, sequencing, idempotent batches, and the
//! release of acknowledgements and broadcasts once a batch is committed.

use std::sync::Arc;

use smallvec::SmallVec;

use super::{Conn, EffectKind, Engine, Io};
use crate::board::{Board, InFlightAppend, PendingBatch};
use crate::budget::reserve_growth;
use crate::config::{Config, Durability};
use crate::dedup::Seen;
use crate::digest::BatchDigest;
use crate::element_hash::KnownHashes;
use crate::encoded::CommittedEvents;
use crate::error::{Field, MutateError, SessionError};
use crate::ids::{BatchId, ConnId};
use crate::mutation::{Event, Mutation};
use crate::output::{Notice, Signal};
use crate::storage::Effect;
use crate::text_rule::check_text;
use crate::time::Timestamp;

/// What [`Engine::apply_mutations`] did with an accepted batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The sequence of the batch's last mutation.
    pub sequence: u64,
    /// The batch was applied before (same user and batch id); nothing was
    /// applied now and the original sequence is returned.
    pub duplicate: bool,
    /// The `ack` is already among the outputs. `false` means it follows
    /// once the batch's events are stored (the default durability).
    pub acked: bool,
}

impl Engine {
    /// Applies a batch of mutations from a joined connection.
    ///
    /// The batch is validated whole and applied whole: each mutation gets
    /// the next sequence number and the result is the last one. With the
    /// default [`Durability::AckOnStore`], the batch is appended to the log
    /// at once ([`Effect::AppendEvents`]) and becomes visible — `ack` to the
    /// author, `events` to everyone else, board state, history — when the
    /// store confirms it. A `(user, batch)` seen before with the same
    /// mutations is not applied again; it is answered with its original
    /// sequence. Seen before with other mutations, it is refused
    /// ([`MutateError::BatchIdReused`]): the first batch stands.
    ///
    /// Errors (nothing changes): not joined or expired, an empty or
    /// overlong batch, a malformed id, an oversize payload, too many
    /// mutations or payload bytes pending on the board (`RATE_LIMITED`), or
    /// a batch that could grow the board beyond its byte cap
    /// (`BOARD_TOO_LARGE`, see [`crate::Limits::max_board_bytes`]).
    pub fn apply_mutations(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        batch: BatchId,
        mutations: Vec<Mutation>,
    ) -> Result<Accepted, MutateError> {
        let now = self.tick(now);
        let live = match self.conns.get_mut(&conn) {
            Some(Conn::Live(live)) => live,
            Some(Conn::Expired(_)) => return Err(SessionError::SessionExpired.into()),
            _ => return Err(SessionError::NotJoined.into()),
        };
        let config = &self.config;
        let Some(board) = self.boards.get_mut(&live.record.board_id) else {
            return Err(SessionError::NotJoined.into());
        };
        let upsert_bytes = validate(config, &batch, &mutations)?;
        let user = live.record.user_id.clone();
        let digest = BatchDigest::of(&mutations);

        if let Some(seen) = board.dedup.lookup(&user, &batch) {
            if seen.digest.is_some_and(|d| d != digest) {
                return Err(MutateError::BatchIdReused {
                    sequence: seen.last_seq,
                });
            }
            let sequence = seen.last_seq;
            live.record.last_activity = now;
            let acked = sequence <= board.committed;
            if acked {
                self.io.notify(conn, Notice::Ack { batch, sequence });
            } else if let Some(b) = board
                .log
                .batches
                .iter_mut()
                .find(|b| b.user == user && b.batch == batch)
            {
                if b.origin != conn && !b.waiters.contains(&conn) {
                    b.waiters.push(conn);
                }
            }
            return Ok(Accepted {
                sequence,
                duplicate: true,
                acked,
            });
        }

        let n = mutations.len() as u64;
        let pending = board.pending_mutations();
        if pending.saturating_add(n) > config.limits.max_pending_per_board {
            return Err(MutateError::Backpressure {
                pending,
                max: config.limits.max_pending_per_board,
            });
        }
        let limits = &config.limits;
        let pending_bytes = board.pending_bytes.held();
        if pending_bytes > 0
            && pending_bytes.saturating_add(upsert_bytes) > limits.max_pending_bytes
        {
            return Err(MutateError::PendingBytes {
                pending: pending_bytes,
                len: upsert_bytes,
                max: limits.max_pending_bytes,
            });
        }
        let growth = reserve_growth(board, &mutations, upsert_bytes, limits.max_board_bytes)?;
        let last = board
            .assigned
            .checked_add(n)
            .ok_or(MutateError::SequenceExhausted)?;

        // Accepted: from here on nothing can fail.
        live.record.last_activity = now;
        let first = board.assigned + 1;
        let events: Arc<[Event]> = mutations
            .into_iter()
            .zip(first..=last)
            .map(|(mutation, seq)| Event {
                seq,
                author: user.clone(),
                batch: batch.clone(),
                at: now,
                mutation,
            })
            .collect();
        board.assigned = last;
        board.pending_bytes.accepted(last, upsert_bytes);
        board.dedup.remember(
            &user,
            &batch,
            Seen {
                last_seq: last,
                digest: Some(digest),
            },
            now,
        );
        board.log.queued.push(events.clone());

        let io = &mut self.io;
        let acked = match config.durability {
            Durability::AckOnStore => {
                board.reserved_bytes = board.reserved_bytes.saturating_add(growth);
                board.log.batches.push_back(PendingBatch {
                    user,
                    batch,
                    origin: conn,
                    waiters: SmallVec::new(),
                    events,
                    applied_at: now,
                    growth,
                });
                false
            }
            Durability::AckOnApply => {
                let encoded = board.commit(&events);
                io.notify(
                    conn,
                    Notice::Ack {
                        batch,
                        sequence: last,
                    },
                );
                let events = CommittedEvents::new(events, encoded);
                io.broadcast(board.others(Some(conn)), Notice::Events(events));
                true
            }
        };
        start_append(config, board, io);
        Ok(Accepted {
            sequence: last,
            duplicate: false,
            acked,
        })
    }
}

/// Checks a batch against the limits; returns its upserts' payload bytes.
fn validate(
    config: &Config,
    batch: &BatchId,
    mutations: &[Mutation],
) -> Result<usize, MutateError> {
    let limits = &config.limits;
    let bad_id = |s: &str| check_text(s, 1, limits.max_id_bytes).is_err();
    if bad_id(batch.as_str()) {
        return Err(MutateError::InvalidField {
            field: Field::Batch,
            index: 0,
        });
    }
    if mutations.is_empty() {
        return Err(MutateError::EmptyBatch);
    }
    if mutations.len() > limits.max_batch_len {
        return Err(MutateError::BatchTooLong {
            len: mutations.len(),
            max: limits.max_batch_len,
        });
    }
    let mut bytes = 0usize;
    for (index, m) in mutations.iter().enumerate() {
        if bad_id(m.page().as_str()) {
            return Err(MutateError::InvalidField {
                field: Field::Page,
                index,
            });
        }
        if bad_id(m.element().as_str()) {
            return Err(MutateError::InvalidField {
                field: Field::Element,
                index,
            });
        }
        if let Some(data) = m.data() {
            if data.len() > limits.max_payload_bytes {
                return Err(MutateError::PayloadTooLarge {
                    index,
                    len: data.len(),
                    max: limits.max_payload_bytes,
                });
            }
            bytes = bytes.saturating_add(data.len());
        }
    }
    Ok(bytes)
}

/// Sends the queued events to the store unless `appends_in_flight` appends
/// of the board are in flight already, or a failed one waits for its retry
/// (which must go first: the store's log takes no gap).
pub(crate) fn start_append(config: &Config, board: &mut Board, io: &mut Io) {
    if board.log.in_flight.len() >= config.appends_in_flight.max(1)
        || board.log.failed.is_some()
        || board.log.queued.is_empty()
    {
        return;
    }
    let queued = std::mem::take(&mut board.log.queued);
    let events: Arc<[Event]> = if queued.len() == 1 {
        queued
            .into_iter()
            .next()
            .unwrap_or_else(|| Arc::from(Vec::new()))
    } else {
        queued.iter().flat_map(|b| b.iter().cloned()).collect()
    };
    send_append(board, io, events);
}

/// Emits an append of `events` (first try or retry).
pub(crate) fn send_append(board: &mut Board, io: &mut Io, events: Arc<[Event]>) {
    let id = board.id.clone();
    let effect_events = events.clone();
    let eid = io.effect(&id, board.opened, EffectKind::Append, |eid| {
        Effect::AppendEvents {
            id: eid,
            board: id.clone(),
            events: effect_events,
        }
    });
    board.log.in_flight.push_back(InFlightAppend {
        effect: eid,
        events,
        stored: false,
    });
}

/// The store confirmed an append, which made `durable` (the events of the
/// stored prefix of the appends, oldest first) durable: advance `durable`,
/// commit the batches that completes (`AckOnStore`), and send what queued
/// meanwhile.
pub(crate) fn append_stored(
    config: &Config,
    board: &mut Board,
    io: &mut Io,
    durable: Vec<Arc<[Event]>>,
) {
    // The element hashes the pending set computes, kept for the commits
    // below (`AckOnStore`: the batches waiting for these very events).
    let mut known = KnownHashes::new(board.pages.hasher().clone());
    let keep = !board.log.batches.is_empty();
    for events in durable {
        for event in events.iter() {
            if event.seq > board.durable {
                let hash = board.pending.record_hashed(&event.mutation, known.hasher());
                if keep {
                    known.push(event.seq, hash);
                }
                board.durable = event.seq;
            }
        }
    }
    while board
        .log
        .batches
        .front()
        .is_some_and(|b| b.last_seq() <= board.durable)
    {
        let Some(b) = board.log.batches.pop_front() else {
            break;
        };
        board.reserved_bytes = board.reserved_bytes.saturating_sub(b.growth);
        let encoded = board.commit_known(&b.events, Some(&known));
        let sequence = b.last_seq();
        for conn in std::iter::once(b.origin).chain(b.waiters.iter().copied()) {
            if board.conns.contains(&conn) {
                io.notify(
                    conn,
                    Notice::Ack {
                        batch: b.batch.clone(),
                        sequence,
                    },
                );
            }
        }
        // Everyone else: not the origin, nor a connection that re-sent the
        // batch while it was in flight (it was just acked; the events
        // again, after the ack, would go back in sequence).
        let others = board
            .others(Some(b.origin))
            .filter(|c| !b.waiters.contains(c));
        io.broadcast(
            others,
            Notice::Events(CommittedEvents::new(b.events.clone(), encoded)),
        );
        io.signal(Signal::BatchDurable {
            board: board.id.clone(),
            user: b.user,
            batch: b.batch,
            sequence,
            applied_at: b.applied_at,
        });
    }
    start_append(config, board, io);
}
