//! The client's unacknowledged batches, in the order they were made: those
//! sent on the current transport, those waiting for a retry, and those
//! made while offline (the offline queue). One ordered list serves all
//! three, so a reconnect re-sends everything in the original order with the
//! original batch ids.

use std::collections::VecDeque;

use huddle_core::BatchId;
use huddle_core::Timestamp;
use huddle_core::{Mutation, Payload};
use huddle_wire::ClientMessage;

/// One unacknowledged batch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Outgoing {
    pub(crate) batch: BatchId,
    pub(crate) mutations: Vec<Mutation>,
    /// Retryable rejections so far.
    pub(crate) retries: u32,
    pub(crate) status: Status,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Not sent on the current transport (offline, or before the re-sync).
    Queued,
    /// Sent on the current transport; waiting for `ack` or `error`.
    Sent,
    /// Rejected with a retryable error; sent again at this time.
    RetryAt(Timestamp),
}

#[derive(Debug, Default)]
pub(crate) struct OutgoingQueue {
    batches: VecDeque<Outgoing>,
    mutations: usize,
}

impl OutgoingQueue {
    pub(crate) fn len_mutations(&self) -> usize {
        self.mutations
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }

    pub(crate) fn push(&mut self, item: Outgoing) {
        self.mutations += item.mutations.len();
        self.batches.push_back(item);
    }

    pub(crate) fn find_mut(&mut self, batch: &BatchId) -> Option<&mut Outgoing> {
        self.batches.iter_mut().find(|o| o.batch == *batch)
    }

    pub(crate) fn remove(&mut self, batch: &BatchId) -> Option<Outgoing> {
        let i = self.batches.iter().position(|o| o.batch == *batch)?;
        let item = self.batches.remove(i)?;
        self.mutations -= item.mutations.len();
        Some(item)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Outgoing> {
        self.batches.iter()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut Outgoing> {
        self.batches.iter_mut()
    }

    /// The transport is gone: nothing counts as sent any more.
    pub(crate) fn unsend_all(&mut self) {
        for o in &mut self.batches {
            if o.status == Status::Sent {
                o.status = Status::Queued;
            }
        }
    }

    /// The earliest pending retry.
    pub(crate) fn next_retry(&self) -> Option<Timestamp> {
        self.batches
            .iter()
            .filter_map(|o| match o.status {
                Status::RetryAt(t) => Some(t),
                _ => None,
            })
            .min()
    }
}

/// Drops the whitespace around each upsert's JSON data (already checked to
/// be one JSON value): the wire carries the value's text without it, so
/// this is the data the server stores and every other client sees, and the
/// replica (which applies the batch on its `ack`) must hold the same.
pub(crate) fn trim_data(mutations: &mut [Mutation]) {
    for m in mutations {
        if let Mutation::Upsert { data, .. } = m {
            let bytes = data.as_bytes();
            // JSON whitespace is ASCII; `is_json` refused any other.
            let trimmed = bytes.trim_ascii();
            if trimmed.len() != bytes.len() {
                *data = Payload::from(trimmed.to_vec());
            }
        }
    }
}

pub(crate) fn mutate_message(item: &Outgoing) -> ClientMessage {
    ClientMessage::Mutate {
        batch: item.batch.clone(),
        mutations: item.mutations.clone(),
    }
}
