//! The content digest of a batch: what tells a re-sent batch (same id,
//! same mutations: acknowledged again, applied once) from a batch id used
//! again for other content (refused, `BATCH_ID_REUSED`).
//!
//! The digest is a 64-bit hash of the batch's mutations in order, each
//! written as its kind, then its page, element and data, each with its
//! length first, so that no two different batches are the same input. It
//! is computed the same way everywhere (here, by the engine when a batch
//! arrives, and by stores from the events they hold), and it is stored
//! with the batch records, so it must never change: the bytes are mixed 8
//! at a time (FNV-1a's prime over 64-bit words) and the result finished
//! with MurmurHash3's `fmix64`, all fixed here, independent of the
//! platform and of std's randomly keyed hashers.
//!
//! It is not cryptographic, and need not be: batch ids are per user, so a
//! collision could only make a user's own different batch pass for their
//! own earlier one.

use serde::{Deserialize, Serialize};

use crate::mutation::{Event, Mutation};

/// The content digest of one batch (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BatchDigest(u64);

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0000_0100_0000_01b3;

impl BatchDigest {
    /// The digest of a batch's mutations, in order.
    pub fn of<'a>(mutations: impl IntoIterator<Item = &'a Mutation>) -> Self {
        let mut h = Hasher(OFFSET);
        for m in mutations {
            match m {
                Mutation::Upsert {
                    page,
                    element,
                    data,
                } => {
                    h.word(0);
                    h.bytes(page.as_str().as_bytes());
                    h.bytes(element.as_str().as_bytes());
                    h.bytes(data.as_bytes());
                }
                Mutation::Delete { page, element } => {
                    h.word(1);
                    h.bytes(page.as_str().as_bytes());
                    h.bytes(element.as_str().as_bytes());
                }
            }
        }
        BatchDigest(fmix64(h.0))
    }

    /// The digest of a batch from its events (all of them, in order).
    pub fn of_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        BatchDigest::of(events.into_iter().map(|e| &e.mutation))
    }

    /// The stored form.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// From the stored form.
    pub const fn from_bits(bits: u64) -> Self {
        BatchDigest(bits)
    }
}

struct Hasher(u64);

impl Hasher {
    fn word(&mut self, w: u64) {
        self.0 = (self.0 ^ w).wrapping_mul(PRIME);
    }

    /// The length, then the bytes 8 at a time (the last word zero-padded).
    fn bytes(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches every output bit.
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mutation::Payload;

    fn up(page: &str, element: &str, data: &str) -> Mutation {
        Mutation::Upsert {
            page: page.into(),
            element: element.into(),
            data: Payload::from(data),
        }
    }

    fn del(page: &str, element: &str) -> Mutation {
        Mutation::Delete {
            page: page.into(),
            element: element.into(),
        }
    }

    #[test]
    fn the_digest_is_fixed() {
        // Stored with the batch records: a change here breaks every stored
        // digest, so these values must never change. (Computed by an
        // independent re-implementation of the module docs' definition.)
        assert_eq!(BatchDigest::of(&[]).bits(), fmix64(OFFSET));
        assert_eq!(
            BatchDigest::of(&[up("p", "e", "1")]).bits(),
            0xbb74_eadb_3af7_ac9f
        );
        assert_eq!(
            BatchDigest::of(&[del("p", "e")]).bits(),
            0x754c_b747_bf50_aae3
        );
    }

    #[test]
    fn different_content_gets_a_different_digest() {
        let base = [up("p", "e", "12345678"), del("p", "f")];
        let variants: Vec<Vec<Mutation>> = vec![
            vec![up("p", "e", "12345678")],
            vec![del("p", "f"), up("p", "e", "12345678")],
            vec![up("p", "e", "12345679"), del("p", "f")],
            vec![up("p", "e", "123456780"), del("p", "f")],
            vec![up("p", "e", "12345678\0"), del("p", "f")],
            vec![up("pe", "", "12345678"), del("p", "f")],
            vec![up("p", "e", "12345678"), del("p", "g")],
            vec![up("p", "e", "12345678"), up("p", "f", "")],
        ];
        let d = BatchDigest::of(&base);
        for v in &variants {
            assert_ne!(BatchDigest::of(v), d, "{v:?}");
        }
        assert_eq!(
            BatchDigest::of(&[up("p", "e", "12345678"), del("p", "f")]),
            d
        );
    }
}
