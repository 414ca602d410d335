//! What a shard task receives: connection traffic from [`ConnSender`]s,
//! storage outcomes from the store tasks it spawned, and requests from the
//! [`Driver`](crate::Driver).
//!
//! [`ConnSender`]: crate::ConnSender

use std::sync::Arc;

use huddle_core::{
    BatchId, BoardId, ConnId, EffectId, ErrorCode, SessionInfo, Stats, StorageOutcome,
};
use huddle_wire::{ClientMessage, Identity};
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::connection::ConnShared;
use crate::outbound::OutboundSender;

/// One input of a shard.
#[derive(Debug)]
pub(crate) enum Input {
    /// A new connection.
    Open {
        conn: ConnId,
        identity: Identity,
        outbound: OutboundSender,
        shared: Arc<ConnShared>,
    },
    /// A client message.
    Message {
        conn: ConnId,
        msg: ClientMessage,
        received: Instant,
    },
    /// An error reply the host produced itself.
    Reject {
        conn: ConnId,
        code: ErrorCode,
        message: String,
        batch: Option<BatchId>,
    },
    /// The transport closed.
    Disconnect { conn: ConnId },
    /// A store task finished: the outcome of each of its effects.
    Stored(Stored),
    /// `Driver::session`.
    Session {
        board: BoardId,
        reply: oneshot::Sender<Option<SessionInfo>>,
    },
    /// `Driver::stats`.
    Stats { reply: oneshot::Sender<Stats> },
    /// The node lost the board's lease (the renewal task): end its
    /// session as fenced.
    LeaseLost { board: BoardId },
    /// `Driver::shutdown`.
    Shutdown,
}

/// The outcomes of one store task.
#[derive(Debug)]
pub(crate) struct Stored {
    pub(crate) outcomes: Vec<(EffectId, StorageOutcome)>,
    /// It was the shard's group commit of appends.
    pub(crate) group: bool,
}
