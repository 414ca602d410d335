//! Cursor presence: not sequenced, not stored, throttled per user session.
//! Updates closer together than `presence_interval` are coalesced: the
//! latest position goes out when the interval has passed, so the last
//! position a user leaves their cursor at is always delivered.

use super::{Conn, Engine};
use crate::error::{PresenceError, SessionError};
use crate::ids::ConnId;
use crate::output::Notice;
use crate::time::Timestamp;
use crate::timers::{TimerHandle, TimerKey};

impl Engine {
    /// A cursor move. Counts as activity. Broadcast to the board's other
    /// connections at most once per `presence_interval`.
    pub fn update_presence(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        x: f64,
        y: f64,
    ) -> Result<(), PresenceError> {
        let now = self.tick(now);
        let live = match self.conns.get_mut(&conn) {
            Some(Conn::Live(live)) => live,
            Some(Conn::Expired(_)) => return Err(SessionError::SessionExpired.into()),
            _ => return Err(SessionError::NotJoined.into()),
        };
        if !x.is_finite() || !y.is_finite() {
            return Err(PresenceError::InvalidCoordinate);
        }
        live.record.last_activity = now;
        let interval = self.config.presence_interval;
        let presence = &mut live.presence;
        match presence.last_sent {
            Some(sent) if now < sent.saturating_add(interval) => {
                presence.pending = Some((x, y));
                if presence.timer.is_none() {
                    presence.timer = Some(
                        self.io
                            .timers
                            .arm(sent.saturating_add(interval), TimerKey::Presence(conn)),
                    );
                }
            }
            _ => {
                presence.last_sent = Some(now);
                presence.pending = None;
                let (board, user) = (live.record.board_id.clone(), live.record.user_id.clone());
                if let Some(b) = self.boards.get(&board) {
                    let io = &mut self.io;
                    io.broadcast(b.others(Some(conn)), Notice::Cursor { user, x, y });
                }
            }
        }
        Ok(())
    }

    pub(crate) fn send_pending_cursor(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        handle: TimerHandle,
    ) {
        let Some(Conn::Live(live)) = self.conns.get_mut(&conn) else {
            return;
        };
        if live.presence.timer != Some(handle) {
            return;
        }
        live.presence.timer = None;
        let Some((x, y)) = live.presence.pending.take() else {
            return;
        };
        live.presence.last_sent = Some(now);
        let (board, user) = (live.record.board_id.clone(), live.record.user_id.clone());
        if let Some(b) = self.boards.get(&board) {
            let io = &mut self.io;
            io.broadcast(b.others(Some(conn)), Notice::Cursor { user, x, y });
        }
    }
}
