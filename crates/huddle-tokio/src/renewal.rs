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
//! the next tick, and so is one for a lease last confirmed a renewal period
//! ago ([`Performer::stalest_confirmation`]: an acquire the store answered
//! late, which the schedule alone would leave to its safe window's end). The task ends when every shard has.
//! Lease time is real time (`std::time::Instant`), also under a paused
//! tokio clock: a lease in the store runs in real time too.

use std::future::Future;
use std::pin::Pin;
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
                if renewal.is_none()
                    && renewal_due(now, performer.stalest_confirmation(), every)
                {
                    let performer = performer.clone();
                    renewal = Some(Box::pin(async move { performer.renew().await }));
                }
            }
            result = pending_renewal(&mut renewal) => {
                renewal = None;
                match result {
                    Ok(boards) => lost(&shards, boards),
                    // Nothing was confirmed, so the next tick tries again.
                    Err(e) => tracing::warn!(error = %e, "lease renewal failed"),
                }
            }
        }
        let held = i64::try_from(performer.leases_held()).unwrap_or(i64::MAX);
        metrics.leases_held.set(held);
        // The performer keeps the running total; the counter catches up.
        let takeovers = performer.takeovers();
        let counted = metrics.lease_takeovers.get();
        if takeovers > counted {
            metrics.lease_takeovers.inc_by(takeovers - counted);
        }
    }
}

/// Whether a renewal goes out at `now`: once the stalest lease held was
/// last confirmed a renewal period ago. A granted renewal confirms every
/// lease in it as of its sending, so this is the schedule; a failed one
/// confirms nothing, so it is tried again at the next tick; and a lease
/// acquired late (answered after the renewal went out) is renewed at the
/// next tick instead of the schedule's next turn.
fn renewal_due(
    now: std::time::Instant,
    stalest: Option<std::time::Instant>,
    every: Duration,
) -> bool {
    stalest.is_some_and(|c| now >= c + every)
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

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::renewal_due;

    #[test]
    fn a_renewal_is_due_on_schedule_or_for_a_stale_lease() {
        let every = Duration::from_secs(1);
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        // No lease held: nothing to renew.
        assert!(!renewal_due(at(5000), None, every));
        // On schedule: a period after the last granted renewal was sent.
        assert!(!renewal_due(at(900), Some(at(0)), every));
        assert!(renewal_due(at(1000), Some(at(0)), every));
        // A lease confirmed long before the last renewal was sent (an
        // acquire answered late, not in that renewal), or a renewal that
        // failed: due at the next tick, not a period later.
        assert!(renewal_due(at(1100), Some(at(100)), every));
        // Every lease confirmed recently: not due.
        assert!(!renewal_due(at(1100), Some(at(800)), every));
    }
}
