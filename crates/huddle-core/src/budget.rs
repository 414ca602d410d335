//! The board's byte cap (`Limits::max_board_bytes`) applied to a batch
//! before it is accepted.
//!
//! A batch is checked against the board's payload bytes plus what the
//! batches accepted but not yet committed may still add (their reserved
//! growth): with `AckOnStore` those are applied only when stored. The
//! batch's own growth is first bounded by the sum of its upserts' data
//! (no lookup: the hot path). Only when that bound would pass the cap, and
//! nothing is waiting to be committed (so the board state is the one the
//! batch will apply to), is the growth computed against the elements it
//! overwrites: each upsert counts what it adds beyond the element's present
//! data, deletes count nothing. Both are upper bounds of what the batch
//! adds, so the board never passes the cap through the batches it accepts.
//! A batch that cannot grow the board (deletes, writes no larger than what
//! they replace) passes even on a board over the cap (loaded so, or the cap
//! lowered since): it can only shrink it.

use crate::board::Board;
use crate::error::MutateError;
use crate::mutation::Mutation;

/// The growth to reserve for `mutations` (whose upserts carry `upsert_bytes`
/// of data in all), or the error if it could pass `max` bytes.
pub(crate) fn reserve_growth(
    board: &Board,
    mutations: &[Mutation],
    upsert_bytes: usize,
    max: usize,
) -> Result<usize, MutateError> {
    let base = board.payload_bytes.saturating_add(board.reserved_bytes);
    if base.saturating_add(upsert_bytes) <= max {
        return Ok(upsert_bytes);
    }
    let growth = if board.committed == board.assigned {
        exact_growth(board, mutations)
    } else {
        upsert_bytes
    };
    // A batch that cannot grow the board passes even on a board over the
    // cap (loaded so, or the cap lowered since): it can only shrink it.
    if growth == 0 || base.saturating_add(growth) <= max {
        return Ok(growth);
    }
    Err(MutateError::BoardTooLarge {
        bytes: board.payload_bytes,
        reserved: board.reserved_bytes,
        growth,
        max,
    })
}

/// What `mutations` can add at most to the board as it is: each upsert's
/// data beyond the present data of its element (an element written twice
/// counts twice, an upper bound).
fn exact_growth(board: &Board, mutations: &[Mutation]) -> usize {
    mutations
        .iter()
        .filter_map(|m| {
            let data = m.data()?;
            let present = board
                .pages
                .get(m.page().as_str(), m.element().as_str())
                .map_or(0, |d| d.len());
            Some(data.len().saturating_sub(present))
        })
        .fold(0usize, usize::saturating_add)
}
