//! Recovery: the client's unacknowledged work, exported with a timestamp so
//! that a restarted process can import it and send it again (with the same
//! batch ids, so nothing is applied twice). Also the persistent form of the
//! offline queue.

use serde::ser::SerializeStruct;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::value::RawValue;

use super::error::RecoveryError;
use huddle_core::Timestamp;
use huddle_core::{BatchId, BoardId};
use huddle_core::{Mutation, Payload};
use huddle_wire::MutationsView;

/// The format version written into exports.
pub const RECOVERY_FORMAT: u32 = 1;

/// Unacknowledged work of one client, as of `exported_at`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// When it was exported.
    pub exported_at: Timestamp,
    /// The board.
    pub board: BoardId,
    /// The client id its batch ids are made from.
    pub client_id: String,
    /// The next batch number (new batches continue after it).
    pub next_batch: u64,
    /// The batches, oldest first.
    pub batches: Vec<RecoveredBatch>,
}

/// One unacknowledged batch.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredBatch {
    /// Its id (reused when it is sent again).
    pub batch: BatchId,
    /// Its mutations.
    pub mutations: Vec<Mutation>,
    /// Retryable rejections it already had.
    pub retries: u32,
}

impl Recovery {
    /// The JSON form (element data embedded as JSON).
    pub fn to_json(&self) -> Result<String, RecoveryError> {
        serde_json::to_string(self).map_err(|e| RecoveryError::Malformed(e.to_string()))
    }

    /// Reads the JSON form.
    pub fn from_json(bytes: &[u8]) -> Result<Self, RecoveryError> {
        serde_json::from_slice(bytes).map_err(|e| RecoveryError::Malformed(e.to_string()))
    }

    /// Mutations held.
    pub fn mutation_count(&self) -> usize {
        self.batches.iter().map(|b| b.mutations.len()).sum()
    }
}

impl Serialize for Recovery {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Recovery", 6)?;
        st.serialize_field("format", &RECOVERY_FORMAT)?;
        st.serialize_field("exported_at", &self.exported_at.to_string())?;
        st.serialize_field("board", self.board.as_str())?;
        st.serialize_field("client_id", &self.client_id)?;
        st.serialize_field("next_batch", &self.next_batch)?;
        st.serialize_field("batches", &Batches(&self.batches))?;
        st.end()
    }
}

struct Batches<'a>(&'a [RecoveredBatch]);

impl Serialize for Batches<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct One<'b>(&'b RecoveredBatch);
        impl Serialize for One<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut st = s.serialize_struct("Batch", 3)?;
                st.serialize_field("batch", self.0.batch.as_str())?;
                st.serialize_field("mutations", &MutationsView(&self.0.mutations))?;
                st.serialize_field("retries", &self.0.retries)?;
                st.end()
            }
        }
        s.collect_seq(self.0.iter().map(One))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecoveryFields {
    format: u32,
    exported_at: String,
    board: String,
    client_id: String,
    next_batch: u64,
    batches: Vec<BatchFields>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchFields {
    batch: String,
    mutations: Vec<MutationFields>,
    retries: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MutationFields {
    op: String,
    page: String,
    element: String,
    /// `Some` whenever present, JSON `null` included.
    #[serde(default, deserialize_with = "present")]
    data: Option<Box<RawValue>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Box<RawValue>>, D::Error> {
    Box::<RawValue>::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for Recovery {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let f = RecoveryFields::deserialize(d)?;
        if f.format != RECOVERY_FORMAT {
            return Err(D::Error::custom(format!(
                "unsupported recovery format {}",
                f.format
            )));
        }
        let exported_at = Timestamp::parse_rfc3339(&f.exported_at)
            .ok_or_else(|| D::Error::custom("exported_at is not an RFC 3339 time"))?;
        let mut batches = Vec::with_capacity(f.batches.len());
        for b in f.batches {
            let mut mutations = Vec::with_capacity(b.mutations.len());
            for m in b.mutations {
                mutations.push(match (m.op.as_str(), m.data) {
                    ("upsert", Some(data)) => Mutation::Upsert {
                        page: m.page.into(),
                        element: m.element.into(),
                        data: Payload::from(data.get()),
                    },
                    ("upsert", None) => return Err(D::Error::custom("upsert without data")),
                    ("delete", _) => Mutation::Delete {
                        page: m.page.into(),
                        element: m.element.into(),
                    },
                    (other, _) => return Err(D::Error::custom(format!("unknown op {other}"))),
                });
            }
            batches.push(RecoveredBatch {
                batch: b.batch.into(),
                mutations,
                retries: b.retries,
            });
        }
        Ok(Recovery {
            exported_at,
            board: f.board.into(),
            client_id: f.client_id,
            next_batch: f.next_batch,
            batches,
        })
    }
}
