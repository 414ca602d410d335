//! Inputs as a host would hand them over: batches of mutations whose ids
//! and payloads are fresh allocations, as if just parsed from a message.
//! They are built before the measured loop; engine and baseline get equal
//! inputs.
//!
//! [`Batches::pooled`] makes the stricter variant: ids and payloads are
//! clones of a fixed pool, so no allocation of the inputs is freed in the
//! measured loop (by the engine or the baseline) and the ratio shows the
//! sequencing work alone.

use huddle_core::{BatchId, ElementId, Mutation, PageId, Payload};

/// Pages a batch may touch (each batch touches one, round robin).
pub const PAGES: u64 = 4;
/// Distinct elements per page: updates of existing elements dominate once
/// the board is warm, as on a whiteboard being drawn on.
pub const ELEMENTS_PER_PAGE: u64 = 1024;

/// The page of batch number `b`.
pub fn page_id(b: u64) -> PageId {
    PageId::from(format!("page-{}", b % PAGES))
}

/// The element of mutation number `n`.
pub fn element_id(n: u64) -> ElementId {
    ElementId::from(format!("el-{:05}", n % ELEMENTS_PER_PAGE))
}

/// A payload of `len` bytes (JSON-looking text, distinct per `n`).
pub fn payload(len: usize, n: u64) -> Payload {
    let mut s = format!(r#"{{"n":{n},"x":12.5,"y":40.25,"fill":""#);
    while s.len() + 2 < len {
        s.push('a');
    }
    s.push_str("\"}");
    s.truncate(len.max(1));
    Payload::from(s.into_bytes())
}

/// Makes the batches of a measurement.
#[derive(Debug, Clone)]
pub struct Batches {
    /// Mutations per batch.
    pub len: usize,
    /// Payload bytes per upsert.
    pub payload: usize,
    next_batch: u64,
    next_mutation: u64,
    /// Prefix of batch ids, so that different producers never collide.
    prefix: String,
    pool: Option<Pool>,
}

/// Pre-made ids and payloads for [`Batches::pooled`].
#[derive(Debug, Clone)]
struct Pool {
    pages: Vec<PageId>,
    elements: Vec<ElementId>,
    payloads: Vec<Payload>,
}

impl Batches {
    /// Batches of `len` upserts with `payload`-byte data.
    pub fn new(prefix: &str, len: usize, payload: usize) -> Self {
        Batches {
            len,
            payload,
            next_batch: 0,
            next_mutation: 0,
            prefix: prefix.to_owned(),
            pool: None,
        }
    }

    /// Like [`new`](Self::new), but ids and payloads are clones of a fixed
    /// pool (the same ids and 1024 distinct payloads, reused).
    pub fn pooled(prefix: &str, len: usize, payload_len: usize) -> Self {
        let pool = Pool {
            pages: (0..PAGES).map(page_id).collect(),
            elements: (0..ELEMENTS_PER_PAGE).map(element_id).collect(),
            payloads: (0..ELEMENTS_PER_PAGE)
                .map(|n| payload(payload_len, n))
                .collect(),
        };
        Batches {
            pool: Some(pool),
            ..Batches::new(prefix, len, payload_len)
        }
    }

    /// The next batch: its id and its mutations.
    pub fn next_batch(&mut self) -> (BatchId, Vec<Mutation>) {
        let b = self.next_batch;
        self.next_batch += 1;
        let mutations = (0..self.len)
            .map(|_| {
                let n = self.next_mutation;
                self.next_mutation += 1;
                match &self.pool {
                    None => Mutation::Upsert {
                        page: page_id(b),
                        element: element_id(n),
                        data: payload(self.payload, n),
                    },
                    Some(pool) => {
                        let (p, e) = ((b % PAGES) as usize, (n % ELEMENTS_PER_PAGE) as usize);
                        Mutation::Upsert {
                            page: pool.pages[p].clone(),
                            element: pool.elements[e].clone(),
                            data: pool.payloads[e].clone(),
                        }
                    }
                }
            })
            .collect();
        (BatchId::from(format!("{}-{b}", self.prefix)), mutations)
    }

    /// `count` batches.
    pub fn take(&mut self, count: usize) -> Vec<(BatchId, Vec<Mutation>)> {
        (0..count).map(|_| self.next_batch()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_have_the_length_asked() {
        for len in [1, 16, 64, 1024] {
            assert_eq!(payload(len, 123_456).len(), len);
        }
    }

    #[test]
    fn batches_are_fresh_and_distinct() {
        let mut b = Batches::new("x", 3, 64);
        let (id1, m1) = b.next_batch();
        let (id2, m2) = b.next_batch();
        assert_ne!(id1, id2);
        assert_eq!((m1.len(), m2.len()), (3, 3));
        assert_ne!(m1[0].page(), m2[0].page());
        assert_ne!(m1[0].element(), m1[1].element());
    }
}
