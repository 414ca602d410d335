//! Timers firing: idle archive, auto-save, storage retries, inactivity and
//! coalesced cursor updates.

use super::{Conn, Engine};
use crate::board::{Drain, Phase};
use crate::output::SessionState;
use crate::storage::SnapshotCause;
use crate::time::Timestamp;
use crate::timers::TimerKey;
use crate::user_session::UserSessionStatus;

impl Engine {
    /// Does whatever is due at `now`. Harmless when called early or twice;
    /// afterwards [`poll_timeout`](Self::poll_timeout) is later than `now`
    /// or `None`. Cost: proportional to the timers that are due.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let now = self.tick(now);
        while let Some((handle, key)) = self.io.timers.pop_due(now) {
            match key {
                TimerKey::Idle(board) => {
                    let Some(b) = self.boards.get_mut(&board) else {
                        continue;
                    };
                    if b.idle_timer != Some(handle) {
                        continue;
                    }
                    b.idle_timer = None;
                    let idle = matches!(b.state, SessionState::Idle | SessionState::Created);
                    if idle
                        && b.participants.is_empty()
                        && b.phase == Phase::Ready
                        && b.drain.is_none()
                    {
                        b.drain = Some(Drain::Archive {
                            snapshot_version: None,
                        });
                        super::flush::start_flush(b, &mut self.io);
                        self.advance_drain(now, &board);
                    }
                }
                TimerKey::Autosave(board) => {
                    let interval = self.config.autosave_interval;
                    let max = self.config.limits.max_snapshot_bytes;
                    let Some(b) = self.boards.get_mut(&board) else {
                        continue;
                    };
                    if b.autosave_timer != Some(handle) {
                        continue;
                    }
                    b.autosave_timer = None;
                    if b.participants.is_empty() || b.phase != Phase::Ready {
                        continue;
                    }
                    if b.changed_since_snapshot() {
                        super::flush::start_flush(b, &mut self.io);
                        super::snapshot::take_snapshot(
                            b,
                            &mut self.io,
                            now,
                            SnapshotCause::AutoSave,
                            None,
                            max,
                        );
                    }
                    // Keep the cadence; after a clock jump, restart it from now.
                    let mut next = handle.deadline().saturating_add(interval);
                    if next <= now {
                        next = now.saturating_add(interval);
                    }
                    b.autosave_timer = Some(self.io.timers.arm(next, TimerKey::Autosave(board)));
                }
                TimerKey::Retry(board) => {
                    if self
                        .boards
                        .get(&board)
                        .is_some_and(|b| b.retry_timer == Some(handle))
                    {
                        self.retry_storage(now, &board);
                    }
                }
                TimerKey::Inactivity(conn) => {
                    let timeout = self.config.inactivity_timeout;
                    let Some(Conn::Live(live)) = self.conns.get_mut(&conn) else {
                        continue;
                    };
                    if live.inactivity != Some(handle) {
                        continue;
                    }
                    live.inactivity = None;
                    let deadline = live.record.last_activity.saturating_add(timeout);
                    if now >= deadline {
                        self.end_user_session(now, conn, UserSessionStatus::Timeout);
                    } else {
                        live.inactivity =
                            Some(self.io.timers.arm(deadline, TimerKey::Inactivity(conn)));
                    }
                }
                TimerKey::Presence(conn) => self.send_pending_cursor(now, conn, handle),
            }
        }
    }
}
