//! Hash maps keyed by integer ids that the engine or the host assigns
//! (effects, connections), never a client: they need no protection from
//! hash flooding, so they use a multiply-rotate hash (FxHash's) instead of
//! SipHash, which costs more than the rest of a lookup. Iteration order
//! never reaches an output (the maps are only looked up).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A hash map keyed by an engine- or host-assigned id.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

/// FxHash: for each word, rotate, xor, multiply.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl IdHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ConnId, EffectId};

    #[test]
    fn maps_by_id() {
        let mut m: IdMap<EffectId, u64> = IdMap::default();
        for i in 0..10_000 {
            m.insert(EffectId(i), i * 2);
        }
        assert!((0..10_000).all(|i| m.get(&EffectId(i)) == Some(&(i * 2))));
        assert_eq!(m.remove(&EffectId(17)), Some(34));
        assert_eq!(m.len(), 9_999);
        let mut c: IdMap<ConnId, ()> = IdMap::default();
        c.insert(ConnId(u64::MAX), ());
        assert!(c.contains_key(&ConnId(u64::MAX)));
    }
}
