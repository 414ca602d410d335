//! The store trait every backend implements.

use std::future::Future;
use std::sync::Arc;

use huddle_core::{
    BoardId, BoardOwner, Event, LoadedBoard, Snapshot, SnapshotId, UserSessionRecord,
};

use crate::epoch::Epoch;
use crate::error::StoreError;
use crate::lease::{Acquired, Node};
use crate::model::{AppendBatch, BoardSummary, FlushWrite, Room, SessionIndex, SnapshotMeta};

/// A Huddle store: rooms, event logs, board state, snapshots and user
/// session records.
///
/// Every method returns a `Send` future, so a tokio task can hold it; a
/// backend whose IO blocks performs it off the async runtime (a dedicated
/// thread or `spawn_blocking`). A method's work is done when its future
/// completes with `Ok`: for writes that means durable (see
/// `docs/storage.md`). A future dropped before completion may or may not
/// have written; every write is safe to repeat.
///
/// A board is owned by one node at a time through a lease on the store's
/// clock (see [`crate::lease`]). Writes to a board carry the writer's
/// ownership [`Epoch`] and are refused, writing nothing, unless it is the
/// board's current one ([`StoreError::Fenced`], see [`crate::epoch`]) and
/// its lease still runs ([`StoreError::LeaseExpired`]). Rooms are the
/// exception: creating one is guarded by the id's uniqueness instead.
///
/// Sequences must be at most [`crate::MAX_SEQUENCE`]; every backend checks
/// writes with the functions in [`crate::validate`], so all of them accept
/// and refuse the same requests. The [`crate::conformance`] suite checks a
/// backend against this contract.
pub trait Store: Send + Sync {
    /// Creates a room, or fails with [`StoreError::RoomExists`] (changing
    /// nothing) if the id is taken.
    fn create_room(&self, room: Room) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The room with this id.
    fn room(&self, id: &BoardId) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send;

    /// Makes `node` the board's owner if the board is free, its lease has
    /// expired, or `node` holds it already: raises the board's epoch by one
    /// (every earlier epoch is fenced off from then on) and runs the lease
    /// for the node's TTL, by the store's clock. While another node's lease
    /// runs it is refused with [`StoreError::OwnedElsewhere`] naming that
    /// node, changing nothing. Acquire before [`Store::load_board`], so
    /// that the state loaded is final: no earlier owner can change it
    /// afterwards.
    fn acquire_board(
        &self,
        board: &BoardId,
        node: &Node,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send;

    /// Runs every live lease of `node` among `boards` on for the node's TTL
    /// from now (the store's clock), in one statement, and answers the
    /// boards renewed: those the node still holds. A lease that has
    /// expired is not renewed, even if no other node took the board.
    fn renew_leases(
        &self,
        node: &Node,
        boards: &[BoardId],
    ) -> impl Future<Output = Result<Vec<BoardId>, StoreError>> + Send;

    /// Frees the board at once if `epoch` is its current one (on archive
    /// and shutdown): another node may acquire it without waiting, and
    /// writes with `epoch` are refused from then on. With another epoch it
    /// changes nothing.
    fn release_board(
        &self,
        board: &BoardId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The node whose lease on the board runs now, if any.
    fn board_owner(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardOwner>, StoreError>> + Send;

    /// Loads a board as the engine's [`LoadedBoard`] contract says: the
    /// state as of `pages_sequence`, and a contiguous run of the log that
    /// holds every event after it and at least the last
    /// [`crate::LOAD_HISTORY`] events, read consistently. `None` if the
    /// store knows nothing of the board (no room, no events, no state, no
    /// snapshots).
    fn load_board(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<LoadedBoard>, StoreError>> + Send;

    /// A board's stored sequence and snapshot count, without loading it:
    /// what a host needs to describe a room with no live session. `None`
    /// exactly when [`Store::load_board`] answers `None`. The default loads
    /// the board; a backend that can answer from its indexes should.
    fn board_summary(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardSummary>, StoreError>> + Send {
        async move {
            Ok(self
                .load_board(board)
                .await?
                .map(|loaded| BoardSummary::of(&loaded)))
        }
    }

    /// Appends event batches of many boards in one durable commit (group
    /// commit), answering each batch in order. A batch may repeat events
    /// the log already holds (they are skipped: an append is idempotent); the
    /// rest must start right after the log's end ([`StoreError::Gap`]
    /// otherwise). A batch that fails writes nothing; the others are not
    /// affected by it. Several batches for one board are applied in order.
    ///
    /// **Ordering between calls.** A call takes its place in line when its
    /// future is first polled: of two calls with batches of one board, the
    /// one first polled is applied first (the other may find a gap if the
    /// first fails, and is refused with [`StoreError::Gap`]). A caller with
    /// several calls in flight (pipelined appends) therefore polls them for
    /// the first time in the order it issued them; the driver's appender
    /// does. Their results may complete in any order.
    fn append_events(
        &self,
        batches: Vec<AppendBatch>,
    ) -> impl Future<Output = Vec<Result<(), StoreError>>> + Send;

    /// Up to `limit` events of a board's log with sequences after `after`,
    /// ascending.
    fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send;

    /// Writes a flush in one transaction: afterwards the board state is as
    /// of `through`, or (on any error) exactly as before. A flush whose
    /// `through` the state already reflects is a success that writes nothing.
    fn flush(&self, write: FlushWrite) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores a snapshot and returns the id the store gave it.
    fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> impl Future<Output = Result<SnapshotId, StoreError>> + Send;

    /// A board's snapshots, newest (most recently stored) first.
    fn list_snapshots(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Vec<SnapshotMeta>, StoreError>> + Send;

    /// One snapshot of a board.
    fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send;

    /// Deletes all but the newest `keep_last` snapshots of a board; returns
    /// how many it deleted.
    fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send;

    /// Inserts or replaces (by id) a user session record; the epoch is the
    /// one held for the record's board.
    fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// User session records by one index, ordered by start time, then id.
    fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> impl Future<Output = Result<Vec<UserSessionRecord>, StoreError>> + Send;

    /// Closes the store: completes once every call made before it is done
    /// (an append queued before it is committed and answered) and the
    /// backend has let go of what it holds (SQLite: its thread has
    /// committed the last write, closed the database and ended;
    /// PostgreSQL: no append transaction is open and the pool is closed).
    /// Calls made after it fail with [`StoreError::Unavailable`] (or, for
    /// a backend with nothing to let go of, still work). Harmless to
    /// repeat, from any clone. The default does nothing.
    ///
    /// The driver's `shutdown_within` calls it last, once every session is
    /// drained.
    fn close(&self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// A shared store is a store (so tasks can hold an `Arc` of one).
impl<S: Store + ?Sized> Store for Arc<S> {
    fn create_room(&self, room: Room) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).create_room(room)
    }
    fn room(&self, id: &BoardId) -> impl Future<Output = Result<Option<Room>, StoreError>> + Send {
        (**self).room(id)
    }
    fn acquire_board(
        &self,
        board: &BoardId,
        node: &Node,
    ) -> impl Future<Output = Result<Acquired, StoreError>> + Send {
        (**self).acquire_board(board, node)
    }
    fn renew_leases(
        &self,
        node: &Node,
        boards: &[BoardId],
    ) -> impl Future<Output = Result<Vec<BoardId>, StoreError>> + Send {
        (**self).renew_leases(node, boards)
    }
    fn release_board(
        &self,
        board: &BoardId,
        epoch: Epoch,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).release_board(board, epoch)
    }
    fn board_owner(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardOwner>, StoreError>> + Send {
        (**self).board_owner(board)
    }
    fn load_board(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<LoadedBoard>, StoreError>> + Send {
        (**self).load_board(board)
    }
    fn board_summary(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Option<BoardSummary>, StoreError>> + Send {
        (**self).board_summary(board)
    }
    fn append_events(
        &self,
        batches: Vec<AppendBatch>,
    ) -> impl Future<Output = Vec<Result<(), StoreError>>> + Send {
        (**self).append_events(batches)
    }
    fn read_events(
        &self,
        board: &BoardId,
        after: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Event>, StoreError>> + Send {
        (**self).read_events(board, after, limit)
    }
    fn flush(&self, write: FlushWrite) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).flush(write)
    }
    fn store_snapshot(
        &self,
        epoch: Epoch,
        snapshot: Arc<Snapshot>,
    ) -> impl Future<Output = Result<SnapshotId, StoreError>> + Send {
        (**self).store_snapshot(epoch, snapshot)
    }
    fn list_snapshots(
        &self,
        board: &BoardId,
    ) -> impl Future<Output = Result<Vec<SnapshotMeta>, StoreError>> + Send {
        (**self).list_snapshots(board)
    }
    fn get_snapshot(
        &self,
        board: &BoardId,
        id: &SnapshotId,
    ) -> impl Future<Output = Result<Option<Snapshot>, StoreError>> + Send {
        (**self).get_snapshot(board, id)
    }
    fn prune_snapshots(
        &self,
        board: &BoardId,
        epoch: Epoch,
        keep_last: usize,
    ) -> impl Future<Output = Result<usize, StoreError>> + Send {
        (**self).prune_snapshots(board, epoch, keep_last)
    }
    fn put_user_session(
        &self,
        epoch: Epoch,
        record: UserSessionRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put_user_session(epoch, record)
    }
    fn user_sessions(
        &self,
        index: SessionIndex,
    ) -> impl Future<Output = Result<Vec<UserSessionRecord>, StoreError>> + Send {
        (**self).user_sessions(index)
    }
    fn close(&self) -> impl Future<Output = ()> + Send {
        (**self).close()
    }
}
