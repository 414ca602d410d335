//! Deterministic events and what they should produce.

use std::sync::Arc;

use huddle_core::{
    BoardId, ElementId, Event, FlushBatch, Mutation, PageChanges, PageId, Pages, Payload, Timestamp,
};
use std::collections::BTreeMap;

use crate::{AppendBatch, Epoch, FlushWrite, Node, Store};

/// The start of the suite's time.
pub(crate) const T0: Timestamp = Timestamp::from_millis(1_767_225_600_000);

/// The node the cases that are not about leases write as: its leases run
/// for ten minutes, longer than any case.
pub fn node() -> Node {
    Node::new("conformance", "ws://conformance.test/ws")
        .with_lease_ttl(std::time::Duration::from_secs(600))
}

/// The events with sequences `first..=last`: upserts of a few elements on
/// three pages, with UTF-8, binary and empty payloads, and every fifth a
/// delete (some of elements that do not exist).
pub fn events(first: u64, last: u64) -> Vec<Event> {
    (first..=last).map(event).collect()
}

fn event(seq: u64) -> Event {
    let page = PageId::from(format!("page-{}", seq % 3));
    let element = ElementId::from(format!("el-{}", seq % 7));
    let mutation = if seq % 5 == 0 {
        Mutation::Delete { page, element }
    } else {
        let data = match seq % 4 {
            0 => Payload::from(vec![0u8, 159, 146, 150, 255, (seq % 256) as u8]),
            1 => Payload::from(""),
            _ => Payload::from(format!("{{\"seq\":{seq}}}").into_bytes()),
        };
        Mutation::Upsert {
            page,
            element,
            data,
        }
    };
    Event {
        seq,
        author: format!("user-{}", seq % 3).into(),
        batch: format!("batch-{}", seq / 4).into(),
        at: Timestamp::from_millis(T0.as_millis() + seq),
        mutation,
    }
}

/// The board state after the events up to `through`.
pub fn replay(events: &[Event], through: u64) -> Pages {
    let mut pages = Pages::new();
    for e in events.iter().filter(|e| e.seq <= through) {
        pages.apply(&e.mutation);
    }
    pages
}

/// An append of `first..=last`.
pub(crate) fn append(board: &BoardId, epoch: Epoch, first: u64, last: u64) -> AppendBatch {
    AppendBatch {
        board: board.clone(),
        epoch,
        events: events(first, last).into(),
    }
}

/// Appends one batch and panics unless it is stored.
pub(crate) async fn append_ok<S: Store>(
    store: &S,
    board: &BoardId,
    epoch: Epoch,
    first: u64,
    last: u64,
) {
    let result = store
        .append_events(vec![append(board, epoch, first, last)])
        .await;
    assert_eq!(result, vec![Ok(())], "append {first}..={last} to {board}");
}

/// What the engine would flush for `first..=through`: the last write per
/// element, grouped by page.
pub fn flush_batch(events: &[Event], first: u64, through: u64) -> FlushBatch {
    let mut last: BTreeMap<(PageId, ElementId), Option<Payload>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.seq >= first && e.seq <= through) {
        let key = (e.mutation.page().clone(), e.mutation.element().clone());
        last.insert(key, e.mutation.data().cloned());
    }
    let mut batch = FlushBatch {
        first_seq: first,
        through,
        pages: Default::default(),
    };
    for ((page, element), data) in last {
        let changes: &mut PageChanges = batch.pages.entry(page).or_default();
        match data {
            Some(data) => changes.upserts.push((element, data)),
            None => changes.deletes.push(element),
        }
    }
    batch
}

/// A flush write of `first..=through`.
pub(crate) fn flush(
    board: &BoardId,
    epoch: Epoch,
    events: &[Event],
    first: u64,
    through: u64,
) -> FlushWrite {
    FlushWrite {
        board: board.clone(),
        epoch,
        batch: Arc::new(flush_batch(events, first, through)),
    }
}

/// The whole log of a board, read in pages of 500.
pub(crate) async fn whole_log<S: Store>(store: &S, board: &BoardId) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    loop {
        let after = out.last().map_or(0, |e| e.seq);
        let page = store
            .read_events(board, after, 500)
            .await
            .expect("read_events");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// The sequences of events.
pub(crate) fn seqs(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}
