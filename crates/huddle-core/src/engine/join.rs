//! Joining and leaving: participants, colours, user sessions, sync, and the
//! lifecycle transitions they cause.

use smallvec::smallvec;

use super::{Conn, EffectKind, Engine, Io, LiveSession, Presence};
use crate::board::{Board, Drain, Participant, Phase};
use crate::config::Config;
use crate::error::{Field, JoinError, SessionError};
use crate::ids::ConnId;
use crate::output::{Joined, Notice, ParticipantInfo, SessionState, Signal};
use crate::request::JoinRequest;
use crate::storage::{Effect, SnapshotCause};
use crate::sync::sync_for;
use crate::text_rule::check_text;
use crate::time::Timestamp;
use crate::timers::TimerKey;
use crate::user_session::{UserSessionRecord, UserSessionStatus};

/// Moves a board to a lifecycle state, announcing the transition.
pub(crate) fn set_state(board: &mut Board, io: &mut Io, to: SessionState) {
    let from = board.state;
    if from == to {
        return;
    }
    debug_assert!(
        SessionState::is_legal_transition(from, to),
        "{from:?} -> {to:?}"
    );
    board.state = to;
    io.signal(Signal::StateChanged {
        board: board.id.clone(),
        from,
        to,
        kind: board.kind,
    });
}

fn check_id(s: &str, max: usize, field: Field) -> Result<(), JoinError> {
    check_text(s, 1, max).map_err(|_| JoinError::InvalidField(field))
}

impl Engine {
    /// A connection joins a board.
    ///
    /// If the board's session is in memory and loaded, the answer
    /// ([`Notice::Joined`]) is among the outputs at once. Otherwise the
    /// engine opens a `created` session, emits [`Effect::LoadBoard`] and
    /// answers once the load is reported ([`Notice::JoinFailed`] if the
    /// board is unknown or cannot be loaded).
    ///
    /// Errors (nothing changes): the connection already joined, a malformed
    /// id or display name, a full room, or the host is shutting down
    /// ([`JoinError::ShuttingDown`]).
    pub fn join(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        request: JoinRequest,
    ) -> Result<(), JoinError> {
        let now = self.tick(now);
        if let Some(existing) = self.conns.get(&conn) {
            let board = match existing {
                Conn::Joining(b) | Conn::Expired(b) => b.clone(),
                Conn::Live(s) => s.record.board_id.clone(),
            };
            return Err(JoinError::AlreadyJoined(board));
        }
        let limits = &self.config.limits;
        check_id(request.board.as_str(), limits.max_id_bytes, Field::Board)?;
        check_id(request.user.as_str(), limits.max_id_bytes, Field::User)?;
        check_id(
            &request.display_name,
            limits.max_display_name_bytes,
            Field::DisplayName,
        )?;

        if self.shutting_down {
            return Err(JoinError::ShuttingDown);
        }

        let Some(board) = self.boards.get_mut(request.board.as_str()) else {
            let kind = request
                .session_type
                .unwrap_or(self.config.default_session_type);
            let id = request.board.clone();
            self.boards_opened += 1;
            let opened = self.boards_opened;
            // A previous session of the board still has effects outstanding:
            // load once it is released (`lifecycle`).
            let phase = if self.awaiting_release(&id) {
                Phase::Waiting
            } else {
                let load = self
                    .io
                    .effect(&id, opened, EffectKind::Load, |eid| Effect::LoadBoard {
                        id: eid,
                        board: id.clone(),
                    });
                Phase::Loading(load)
            };
            let mut board = Board::new(id.clone(), opened, kind, phase, now, &self.config);
            board.waiting_joins.push((conn, request));
            self.boards.insert(id.clone(), board);
            self.conns.insert(conn, Conn::Joining(id));
            return Ok(());
        };
        if board.phase != Phase::Ready {
            let id = board.id.clone();
            board.waiting_joins.push((conn, request));
            self.conns.insert(conn, Conn::Joining(id));
            return Ok(());
        }
        self.admit(now, conn, request)
    }

    /// Admits a join to a loaded board.
    pub(crate) fn admit(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        request: JoinRequest,
    ) -> Result<(), JoinError> {
        let Some(board) = self.boards.get(request.board.as_str()) else {
            return Err(JoinError::BoardNotFound(request.board));
        };
        let max = self.config.limits.max_participants;
        if !board.participants.contains_key(&request.user) && board.participants.len() >= max {
            return Err(JoinError::RoomFull {
                board: board.id.clone(),
                max,
            });
        }
        // Accepted: from here on nothing can fail.
        let session_id = self.next_session_id();
        let config = &self.config;
        let io = &mut self.io;
        let Some(board) = self.boards.get_mut(request.board.as_str()) else {
            return Err(JoinError::BoardNotFound(request.board));
        };

        let color = match board.participants.get_mut(&request.user) {
            Some(p) => {
                p.conns.push(conn);
                p.info.color
            }
            None => {
                let color = config
                    .color_policy
                    .pick(board.participants.values().map(|p| p.info.color));
                let info = ParticipantInfo {
                    user: request.user.clone(),
                    display_name: request.display_name.clone(),
                    color,
                };
                io.broadcast(board.others(None), Notice::ParticipantJoined(info.clone()));
                board.participants.insert(
                    request.user.clone(),
                    Participant {
                        info,
                        conns: smallvec![conn],
                    },
                );
                color
            }
        };
        board.conns.insert(conn);

        if matches!(board.state, SessionState::Created | SessionState::Idle) {
            io.timers.cancel_slot(&mut board.idle_timer);
            board.idle_since = None;
            if matches!(board.drain, Some(Drain::Archive { .. })) {
                board.drain = None;
            }
            set_state(board, io, SessionState::Active);
        }
        if board.autosave_timer.is_none() {
            let at = now.saturating_add(config.autosave_interval);
            board.autosave_timer = Some(io.timers.arm(at, TimerKey::Autosave(board.id.clone())));
        }

        let record = UserSessionRecord {
            id: session_id,
            board_id: board.id.clone(),
            user_id: request.user.clone(),
            conn,
            started_at: now,
            last_activity: now,
            ended_at: None,
            status: UserSessionStatus::Active,
            client_info: request.client_info.clone(),
        };
        let inactivity = io.timers.arm(
            now.saturating_add(config.inactivity_timeout),
            TimerKey::Inactivity(conn),
        );
        let joined = Joined {
            session_id,
            board: board.id.clone(),
            color,
            participants: board.participant_infos(),
            sequence: board.committed,
            history_from: board.history_from(config.delta_threshold),
            sync: sync_for(board, request.last_sequence, config.delta_threshold),
        };
        io.notify(conn, Notice::Joined(Box::new(joined)));
        io.signal(Signal::UserSessionStarted(record.clone()));
        if config.store_user_sessions {
            super::records::write_record(board, io, record.clone());
        }
        let live = LiveSession {
            record,
            inactivity: Some(inactivity),
            presence: Presence::default(),
        };
        self.conns.insert(conn, Conn::Live(Box::new(live)));
        Ok(())
    }

    /// The connection leaves its board (status `ended`). A connection whose
    /// join still waits for the load withdraws it.
    pub fn leave(&mut self, now: Timestamp, conn: ConnId) -> Result<(), SessionError> {
        let now = self.tick(now);
        match self.conns.get(&conn) {
            None => Err(SessionError::NotJoined),
            Some(Conn::Expired(_)) => Err(SessionError::SessionExpired),
            Some(Conn::Joining(_)) => {
                self.withdraw_join(conn);
                Ok(())
            }
            Some(Conn::Live(_)) => {
                self.end_user_session(now, conn, UserSessionStatus::Ended);
                Ok(())
            }
        }
    }

    /// The host closed the connection (or lost it). Ends its user session
    /// with status `ended`, if it still has one: a late close of an old
    /// connection ends only that connection's session. Always harmless.
    pub fn disconnect(&mut self, now: Timestamp, conn: ConnId) {
        let now = self.tick(now);
        match self.conns.get(&conn) {
            None => {}
            Some(Conn::Expired(_)) => {
                self.conns.remove(&conn);
            }
            Some(Conn::Joining(_)) => self.withdraw_join(conn),
            Some(Conn::Live(_)) => self.end_user_session(now, conn, UserSessionStatus::Ended),
        }
    }

    /// A keep-alive ping: answered with [`Notice::Pong`]. Not activity.
    pub fn ping(&mut self, now: Timestamp, conn: ConnId) {
        self.tick(now);
        self.io.notify(conn, Notice::Pong);
    }

    fn withdraw_join(&mut self, conn: ConnId) {
        if let Some(Conn::Joining(board)) = self.conns.remove(&conn) {
            if let Some(b) = self.boards.get_mut(&board) {
                b.waiting_joins.retain(|(c, _)| *c != conn);
            }
        }
    }

    /// Ends a live user session with `status`; the participant leaves with
    /// its last session, and the board goes idle with its last participant.
    pub(crate) fn end_user_session(
        &mut self,
        now: Timestamp,
        conn: ConnId,
        status: UserSessionStatus,
    ) {
        let Some(Conn::Live(mut live)) = self.conns.remove(&conn) else {
            return;
        };
        let io = &mut self.io;
        io.timers.cancel_slot(&mut live.inactivity);
        io.timers.cancel_slot(&mut live.presence.timer);
        live.record.status = status;
        live.record.ended_at = Some(now);
        let board_id = live.record.board_id.clone();

        if status == UserSessionStatus::Timeout {
            io.notify(
                conn,
                Notice::SessionTimeout {
                    board: board_id.clone(),
                },
            );
            self.conns.insert(conn, Conn::Expired(board_id.clone()));
        }
        if let Some(board) = self.boards.get_mut(&board_id) {
            leave_board(&self.config, board, io, now, conn, &live.record);
            if self.config.store_user_sessions {
                super::records::write_record(board, io, live.record.clone());
            }
        }
        io.signal(Signal::UserSessionEnded(live.record));
    }
}

/// Removes a connection from its board's participants.
fn leave_board(
    config: &Config,
    board: &mut Board,
    io: &mut Io,
    now: Timestamp,
    conn: ConnId,
    record: &UserSessionRecord,
) {
    board.conns.shift_remove(&conn);
    let Some(p) = board.participants.get_mut(&record.user_id) else {
        return;
    };
    p.conns.retain(|c| *c != conn);
    if !p.conns.is_empty() {
        return;
    }
    let Some(gone) = board.participants.shift_remove(&record.user_id) else {
        return;
    };
    if board.phase != Phase::Ready {
        return; // closing: everyone is told `session_closed` instead
    }
    io.broadcast(board.others(None), Notice::ParticipantLeft(gone.info));
    if board.changed_since_snapshot() {
        let max = config.limits.max_snapshot_bytes;
        super::snapshot::take_snapshot(board, io, now, SnapshotCause::OnDisconnect, None, max);
    }
    if board.participants.is_empty() && board.state == SessionState::Active {
        io.timers.cancel_slot(&mut board.autosave_timer);
        board.idle_since = Some(now);
        let at = now.saturating_add(config.idle_timeout(board.kind));
        board.idle_timer = Some(io.timers.arm(at, TimerKey::Idle(board.id.clone())));
        set_state(board, io, SessionState::Idle);
    }
}
