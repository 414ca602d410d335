//! The encoded form of an event chunk: contiguous events of one board,
//! stored as one `event_chunks` row (`board, last_seq, first_seq, events`)
//! by both SQL backends (SQLite's schema version 4, PostgreSQL's 5).
//!
//! An append of `n` events used to be `n` rows of nine columns, each
//! repeating the board, author, batch and time; binding them and inserting
//! each into the log's B-tree was most of the store's CPU per mutation.
//! Now it is one row whose blob holds the events, with what the events of
//! a batch share (author, batch, time; the page) written once per run.
//! The row's key columns say which sequences the blob holds; [`decode`]
//! checks the blob against them.
//!
//! Layout (integers little-endian): `"HE" 0x01`, then per event a flags
//! byte and its fields. The first event's sequence is the row's
//! `first_seq`; each next event's is one more.
//! - flags bit 0 (`DELETE`): a delete (no data follows);
//! - bit 1 (`ORIGIN`): author, batch and time follow (else: the previous
//!   event's); set on the first event;
//! - bit 2 (`PAGE`): the page follows (else: the previous event's); set
//!   on the first event;
//! - then: `[u32 len + author UTF-8, u32 len + batch UTF-8, u64 at]`,
//!   `[u32 len + page UTF-8]`, `u32 len + element UTF-8`, and for an
//!   upsert `u32 len + data`.
//!
//! Decoding is defensive: a malformed blob is [`StoreError::Corrupt`],
//! never a panic or an allocation the blob asks for.

use huddle_core::{BatchId, BoardId, Event, Mutation, PageId, Payload, Timestamp, UserId};

use crate::StoreError;

const MAGIC: &[u8; 3] = b"HE\x01";

/// Flags bit: the event is a delete.
const DELETE: u8 = 1;
/// Flags bit: author, batch and time follow.
const ORIGIN: u8 = 2;
/// Flags bit: the page follows.
const PAGE: u8 = 4;

/// Encodes contiguous events (the caller checked them) into `out`,
/// cleared first, so that one buffer serves every chunk of a commit.
///
/// # Errors
///
/// [`StoreError::Invalid`] if an id or a payload is longer than `u32::MAX`
/// bytes.
pub fn encode<'e>(
    events: impl IntoIterator<Item = &'e Event>,
    out: &mut Vec<u8>,
) -> Result<(), StoreError> {
    out.clear();
    out.extend_from_slice(MAGIC);
    let mut prev: Option<&Event> = None;
    for e in events {
        let same_origin =
            prev.is_some_and(|p| p.author == e.author && p.batch == e.batch && p.at == e.at);
        let same_page = prev.is_some_and(|p| p.mutation.page() == e.mutation.page());
        let mut flags = 0;
        if matches!(e.mutation, Mutation::Delete { .. }) {
            flags |= DELETE;
        }
        if !same_origin {
            flags |= ORIGIN;
        }
        if !same_page {
            flags |= PAGE;
        }
        out.push(flags);
        if !same_origin {
            put_bytes(out, e.author.as_str().as_bytes())?;
            put_bytes(out, e.batch.as_str().as_bytes())?;
            out.extend_from_slice(&e.at.as_millis().to_le_bytes());
        }
        if !same_page {
            put_bytes(out, e.mutation.page().as_str().as_bytes())?;
        }
        put_bytes(out, e.mutation.element().as_str().as_bytes())?;
        if let Mutation::Upsert { data, .. } = &e.mutation {
            put_bytes(out, data.as_bytes())?;
        }
        prev = Some(e);
    }
    Ok(())
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), StoreError> {
    let n = u32::try_from(bytes.len()).map_err(|_| {
        StoreError::Invalid(format!(
            "a value of {} bytes does not fit an event chunk",
            bytes.len()
        ))
    })?;
    out.extend_from_slice(&n.to_le_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

/// The events of one row: its blob and the sequences its key columns say
/// the blob holds.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// The sequence of the blob's first event.
    pub first_seq: u64,
    /// The sequence of its last event.
    pub last_seq: u64,
    /// The encoded events.
    pub bytes: &'a [u8],
}

/// Decodes the next chunk of a board's log read in order (rows by
/// `last_seq`, events after `after` through `through`) onto `out`: a
/// chunk that starts past the next sequence (a lost row) or before it (two
/// rows holding one sequence) is corrupt, like a malformed blob. Both SQL
/// backends read their logs with it.
///
/// # Errors
///
/// [`StoreError::Corrupt`], naming the board and the chunk.
pub fn decode_next(
    board: &BoardId,
    chunk: &Chunk<'_>,
    after: u64,
    through: u64,
    limit: usize,
    out: &mut Vec<Event>,
) -> Result<(), StoreError> {
    let first_seq = chunk.first_seq;
    let next = out.last().map_or(after, |e| e.seq).saturating_add(1);
    if first_seq > next {
        return Err(StoreError::Corrupt(format!(
            "board {board}: the event log has no event {next} (the next starts at {first_seq})"
        )));
    }
    if !out.is_empty() && first_seq < next {
        return Err(StoreError::Corrupt(format!(
            "board {board}: event chunk at {first_seq} overlaps the one before it"
        )));
    }
    decode(chunk, after, through, limit, out)
        .map_err(|e| StoreError::Corrupt(format!("board {board}: event chunk at {first_seq}: {e}")))
}

/// Decodes a chunk, keeping the events with `after < seq <= through`
/// (appended to `out`, until `out` holds `limit`: decoding stops there).
/// A blob that holds other sequences than its row says is an error, as is
/// any malformed one (what is wrong, for [`StoreError::Corrupt`]).
///
/// # Errors
///
/// What is wrong with the blob, in words: the caller wraps it in
/// [`StoreError::Corrupt`] with the board and the row.
pub fn decode(
    chunk: &Chunk<'_>,
    after: u64,
    through: u64,
    limit: usize,
    out: &mut Vec<Event>,
) -> Result<(), String> {
    let Chunk {
        first_seq,
        last_seq,
        bytes,
    } = *chunk;
    let corrupt = |what: &str| what.to_owned();
    if first_seq == 0 || last_seq < first_seq {
        return Err(corrupt(&format!("sequences {first_seq} to {last_seq}")));
    }
    let mut r = Reader { rest: bytes };
    if r.take(MAGIC.len()).map_err(corrupt)? != MAGIC {
        return Err(corrupt("not an event chunk (bad magic or version)"));
    }
    let mut origin: Option<(UserId, BatchId, Timestamp)> = None;
    let mut page: Option<PageId> = None;
    let mut seq = first_seq;
    while seq <= last_seq && seq <= through && out.len() < limit {
        if r.rest.is_empty() {
            return Err(corrupt(&format!("ends before sequence {last_seq}")));
        }
        let flags = r.byte().map_err(corrupt)?;
        if flags & !(DELETE | ORIGIN | PAGE) != 0 {
            return Err(corrupt(&format!("unknown flags {flags:#x}")));
        }
        if flags & ORIGIN != 0 {
            let author = UserId::from(r.str().map_err(corrupt)?);
            let batch = BatchId::from(r.str().map_err(corrupt)?);
            let at = Timestamp::from_millis(r.u64().map_err(corrupt)?);
            origin = Some((author, batch, at));
        }
        if flags & PAGE != 0 {
            page = Some(PageId::from(r.str().map_err(corrupt)?));
        }
        let (Some((author, batch, at)), Some(page)) = (&origin, &page) else {
            return Err(corrupt("an event without an author or a page"));
        };
        let element = r.str().map_err(corrupt)?;
        let mutation = if flags & DELETE != 0 {
            Mutation::Delete {
                page: page.clone(),
                element: element.into(),
            }
        } else {
            Mutation::Upsert {
                page: page.clone(),
                element: element.into(),
                data: Payload::from(r.bytes().map_err(corrupt)?.to_vec()),
            }
        };
        if seq > after {
            out.push(Event {
                seq,
                author: author.clone(),
                batch: batch.clone(),
                at: *at,
                mutation,
            });
        }
        // seq <= last_seq, which came from SQL (<= i64::MAX): no overflow.
        seq += 1;
    }
    if seq > last_seq && !r.rest.is_empty() {
        return Err(corrupt(&format!("holds more than through {last_seq}")));
    }
    Ok(())
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        if n > self.rest.len() {
            return Err("truncated");
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, &'static str> {
        let (&first, tail) = self.rest.split_first().ok_or("truncated")?;
        self.rest = tail;
        Ok(first)
    }

    fn u64(&mut self) -> Result<u64, &'static str> {
        let b = self.take(8)?;
        let mut a = [0; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let b = self.take(4)?;
        let mut a = [0; 4];
        a.copy_from_slice(b);
        let n = usize::try_from(u32::from_le_bytes(a)).map_err(|_| "length out of range")?;
        self.take(n)
    }

    fn str(&mut self) -> Result<&'a str, &'static str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| "an id is not UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, author: &str, batch: &str, page: &str, data: Option<&str>) -> Event {
        let (page, element) = (PageId::from(page), format!("e{seq}").into());
        Event {
            seq,
            author: author.into(),
            batch: batch.into(),
            at: Timestamp::from_millis(1_000 + seq / 3),
            mutation: match data {
                Some(d) => Mutation::Upsert {
                    page,
                    element,
                    data: Payload::from(d),
                },
                None => Mutation::Delete { page, element },
            },
        }
    }

    /// Runs of shared and changing authors, batches, times and pages,
    /// upserts and deletes, an empty payload.
    fn sample() -> Vec<Event> {
        vec![
            event(7, "alice", "a-1", "p1", Some("{\"x\":1}")),
            event(8, "alice", "a-1", "p1", None),
            event(9, "alice", "a-1", "p2", Some("")),
            event(10, "bob", "b-1", "p2", Some("é")),
            event(11, "bob", "b-1", "p1", None),
            event(12, "bob", "b-2", "p1", Some("[]")),
        ]
    }

    fn decode_all(bytes: &[u8], first_seq: u64, last_seq: u64) -> Result<Vec<Event>, String> {
        let mut out = Vec::new();
        let chunk = Chunk {
            first_seq,
            last_seq,
            bytes,
        };
        decode(&chunk, 0, u64::MAX, usize::MAX, &mut out)?;
        Ok(out)
    }

    #[test]
    fn a_log_read_in_order_refuses_a_hole_and_an_overlap() {
        let events = sample();
        let (mut first, mut second) = (Vec::new(), Vec::new());
        encode(&events[..3], &mut first).unwrap(); // 7..=9
        encode(&events[3..], &mut second).unwrap(); // 10..=12
        let board = BoardId::from("b");
        let read = |rows: &[(u64, u64, &[u8])]| {
            let mut out = Vec::new();
            for &(first_seq, last_seq, bytes) in rows {
                let chunk = Chunk {
                    first_seq,
                    last_seq,
                    bytes,
                };
                decode_next(&board, &chunk, 6, u64::MAX, usize::MAX, &mut out)?;
            }
            Ok::<_, StoreError>(out)
        };
        assert_eq!(read(&[(7, 9, &first), (10, 12, &second)]).unwrap(), events);
        // The first row starts after `after + 1`: event 7 is lost.
        let hole = read(&[(10, 12, &second)]).unwrap_err();
        assert!(
            matches!(&hole, StoreError::Corrupt(m) if m.contains("no event 7")),
            "{hole}"
        );
        // Two rows hold event 9.
        let overlap = read(&[(7, 9, &first), (9, 11, &second)]).unwrap_err();
        assert!(
            matches!(&overlap, StoreError::Corrupt(m) if m.contains("overlaps")),
            "{overlap}"
        );
        // A malformed blob names the board and the chunk.
        let bad = read(&[(7, 9, b"nope")]).unwrap_err();
        assert!(
            matches!(&bad, StoreError::Corrupt(m) if m.starts_with("board b: event chunk at 7")),
            "{bad}"
        );
    }

    #[test]
    fn events_round_trip() {
        let events = sample();
        let mut bytes = vec![9, 9, 9];
        encode(&events, &mut bytes).unwrap();
        assert_eq!(decode_all(&bytes, 7, 12).unwrap(), events);
    }

    #[test]
    fn the_window_and_the_limit_select_events() {
        let events = sample();
        let mut bytes = Vec::new();
        encode(&events, &mut bytes).unwrap();
        let chunk = Chunk {
            first_seq: 7,
            last_seq: 12,
            bytes: &bytes,
        };
        let mut out = Vec::new();
        decode(&chunk, 8, 11, usize::MAX, &mut out).unwrap();
        assert_eq!(out, events[2..5]);
        let mut out = vec![events[0].clone()];
        decode(&chunk, 7, u64::MAX, 3, &mut out).unwrap();
        assert_eq!(out, events[..3]);
    }

    #[test]
    fn a_row_that_disagrees_with_its_blob_is_an_error() {
        let mut bytes = Vec::new();
        encode(&sample(), &mut bytes).unwrap();
        assert!(decode_all(&bytes, 7, 13)
            .unwrap_err()
            .contains("ends before"));
        assert!(decode_all(&bytes, 7, 11).unwrap_err().contains("more than"));
        assert!(decode_all(&bytes, 7, 6).is_err());
        assert!(decode_all(&bytes, 0, 5).is_err());
    }

    #[test]
    fn every_damaged_blob_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        encode(&sample(), &mut bytes).unwrap();
        for len in 0..bytes.len() {
            let cut = bytes.get(..len).unwrap();
            assert!(decode_all(cut, 7, 12).is_err(), "cut at {len}");
        }
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                if let Some(b) = damaged.get_mut(i) {
                    *b ^= flip;
                }
                // Some flips still decode (a byte of a payload); none panics.
                let _ = decode_all(&damaged, 7, 12);
            }
        }
        let mut bad_magic = bytes.clone();
        bad_magic[2] = 2;
        assert!(decode_all(&bad_magic, 7, 12).unwrap_err().contains("magic"));
        let mut bad_flags = bytes.clone();
        bad_flags[3] |= 8;
        assert!(decode_all(&bad_flags, 7, 12).unwrap_err().contains("flags"));
        // The first event must name its author and page.
        let mut no_origin = bytes.clone();
        no_origin[3] &= !ORIGIN;
        assert!(decode_all(&no_origin, 7, 12).is_err());
        // A length that asks for more than the blob holds.
        let mut long = MAGIC.to_vec();
        long.push(ORIGIN | PAGE);
        long.extend_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_all(&long, 1, 1).unwrap_err(), "truncated");
    }

    #[test]
    fn an_id_that_is_not_utf8_is_an_error() {
        let mut bytes = MAGIC.to_vec();
        bytes.push(ORIGIN | PAGE | DELETE);
        bytes.extend_from_slice(&2u32.to_le_bytes());
        bytes.extend_from_slice(&[0xff, 0xfe]);
        assert!(decode_all(&bytes, 1, 1).unwrap_err().contains("UTF-8"));
    }
}
