//! The shard's appender: its group commits, several in flight at once,
//! each started in the order the shard sent it.
//!
//! With [`Config::appends_in_flight`] above one, a board can have appends
//! in two groups at the store at once, and the store must receive them in
//! order (it applies a board's appends in the order it gets them, and
//! refuses a gap). The `Store` contract says a call takes its place in
//! line when its future is first polled ([`Store::append_events`],
//! "Ordering between calls"); a task spawned per group could be polled
//! first in either order. So one task per shard takes the groups
//! from a channel, in order, and polls every running group in the order
//! sent: a new group is first polled after every older one. Each result
//! goes back to the shard as an [`Input::Stored`] as soon as it is ready.
//!
//! [`Config::appends_in_flight`]: huddle_core::Config::appends_in_flight
//! [`Store::append_events`]: huddle_store::Store::append_events

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use huddle_core::{Effect, StorageOutcome};
use huddle_store::{Performer, Store};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Input, Stored};
use crate::metrics::{Metrics, StorageOp};

/// One group commit: the appends.
pub(crate) struct Group {
    pub(crate) effects: Vec<Effect>,
}

type Running = Pin<Box<dyn Future<Output = Stored> + Send>>;

/// Starts the appender task of a shard; it ends when the returned sender
/// is dropped and every group sent has been reported.
pub(crate) fn spawn<S: Store + 'static>(
    performer: Arc<Performer<S>>,
    metrics: Arc<Metrics>,
    reply: mpsc::WeakUnboundedSender<Input>,
) -> mpsc::UnboundedSender<Group> {
    let (tx, mut groups) = mpsc::unbounded_channel::<Group>();
    tokio::spawn(async move {
        let mut running: VecDeque<Running> = VecDeque::new();
        let mut open = true;
        poll_fn(|cx| {
            while open {
                match groups.poll_recv(cx) {
                    Poll::Ready(Some(group)) => {
                        running.push_back(Box::pin(commit(
                            performer.clone(),
                            metrics.clone(),
                            group,
                        )));
                    }
                    Poll::Ready(None) => open = false,
                    Poll::Pending => break,
                }
            }
            running.retain_mut(|group| match group.as_mut().poll(cx) {
                Poll::Ready(stored) => {
                    if let Some(tx) = reply.upgrade() {
                        let _ = tx.send(Input::Stored(stored));
                    }
                    false
                }
                Poll::Pending => true,
            });
            if open || !running.is_empty() {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        })
        .await;
    });
    tx
}

/// Performs one group in one store call and describes the outcome.
async fn commit<S: Store + 'static>(
    performer: Arc<Performer<S>>,
    metrics: Arc<Metrics>,
    group: Group,
) -> Stored {
    let started = Instant::now();
    let outcomes = performer.perform_appends(&group.effects).await;
    metrics.storage_latency(StorageOp::Append, started.elapsed());
    let failures = outcomes
        .iter()
        .filter(|o| matches!(o, StorageOutcome::Failed(_)))
        .count();
    metrics.storage_failures.inc_by(failures as u64);
    Stored {
        outcomes: group.effects.iter().map(Effect::id).zip(outcomes).collect(),
        group: true,
    }
}
