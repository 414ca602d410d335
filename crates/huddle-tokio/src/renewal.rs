//! The lease renewal task: one per driver.
//!
//! Every [`Node::renew_every`](huddle_store::Node::renew_every) (a third of
//! the lease TTL) it renews all the node's leases in one store call
//! ([`Performer::renew`]) and ends the sessions of the boards the store no
//! longer holds for this node. It also ends, every twelfth of a TTL, the
//! sessions of boards whose safe window has closed without a renewal
//! ([`Performer::overdue`]): a store that stalls or is unreachable makes
//! the node stop acking three quarters of a TTL after the last renewal it was
//! granted (the performer refuses their writes from then on), and end
//! their sessions by five sixths, before the lease can expire in the
//! store. Each lost board goes
//! to its shard as [`Input::LeaseLost`], which ends the session as fenced
//! ([`huddle_core::Engine::lease_lost`]).
//!
//! A renewal call that takes longer than a tick is not doubled: the next
//! call goes out when it has answered. A call that fails is tried again at
//! the next tick. The task ends when every shard has.
//! Lease time is real time (`std::time::Instant`), also under a paused
//! tokio clock: a lease in the store runs in real time too.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use huddle_core::BoardId;
use huddle_store::{Performer, Store, StoreError};
use tokio::sync::mpsc::WeakUnboundedSender;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::driver::shard_index;
use crate::metrics::Metrics;
use crate::shard::Input;

type Renewal = Pin<Box<dyn Future<Output = Result<Vec<BoardId>, StoreError>> + Send>>;

/// Starts the renewal task of a driver's performer.
pub(crate) fn spawn<S: Store + 'static>(
    performer: Arc<Performer<S>>,
    shards: Vec<WeakUnboundedSender<Input>>,
    metrics: Arc<Metrics>,
) -> JoinHandle<()> {
    tokio::spawn(run(performer, shards, metrics))
}

async fn run<S: Store + 'static>(
    performer: Arc<Performer<S>>,
    shards: Vec<WeakUnboundedSender<Input>>,
    metrics: Arc<Metrics>,
) {
    let every = performer.node().renew_every();
    let mut ticker = tokio::time::interval((every / 4).max(Duration::from_millis(1)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut renewal: Option<Renewal> = None;
    let mut last_sent: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if !shards.iter().any(|s| s.upgrade().is_some()) {
                    break;
                }
                let late = performer.overdue(std::time::Instant::now());
                if !late.is_empty() {
                    tracing::warn!(boards = late.len(), "leases not renewed in time");
                }
                lost(&shards, late);
                let now = std::time::Instant::now();
                if renewal.is_none() && last_sent.is_none_or(|t| now >= t + every) {
                    last_sent = Some(now);
                    let performer = performer.clone();
                    renewal = Some(Box::pin(async move { performer.renew().await }));
                }
            }
            result = pending_renewal(&mut renewal) => {
                renewal = None;
                match result {
                    Ok(boards) => lost(&shards, boards),
                    Err(e) => {
                        // Tried again at the next tick, not a third of a
                        // TTL later: one failed call must not use up the
                        // safe window.
                        last_sent = None;
                        tracing::warn!(error = %e, "lease renewal failed");
                    }
                }
            }
        }
        let held = i64::try_from(performer.leases_held()).unwrap_or(i64::MAX);
        metrics.leases_held.store(held, Ordering::Relaxed);
        metrics
            .lease_takeovers
            .store(performer.takeovers(), Ordering::Relaxed);
    }
}

/// The renewal in flight, or never.
async fn pending_renewal(renewal: &mut Option<Renewal>) -> Result<Vec<BoardId>, StoreError> {
    match renewal {
        Some(call) => call.await,
        None => std::future::pending().await,
    }
}

/// Sends each lost board to its shard.
fn lost(shards: &[WeakUnboundedSender<Input>], boards: Vec<BoardId>) {
    for board in boards {
        let shard = &shards[shard_index(&board, shards.len())];
        if let Some(tx) = shard.upgrade() {
            let _ = tx.send(Input::LeaseLost { board });
        }
    }
}
