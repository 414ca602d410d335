//! Pre-encoded `mutate` frames: everything but the batch id is encoded
//! once, with the shared wire types, before the run.

use std::fmt::Write as _;
use std::sync::Arc;

use huddle_core::Mutation;
use huddle_wire::ClientMessage;

use crate::{LoadArgs, LoadError};

/// A batch id that cannot occur in the encoded mutations.
const PLACEHOLDER: &str = "\u{1}BATCH\u{1}";

/// The frames of every client.
pub(crate) struct FrameSet {
    clients: Vec<Arc<ClientFrames>>,
}

/// One client's frames: `head + batch id + tails[n % tails.len()]`.
pub(crate) struct ClientFrames {
    head: String,
    id_prefix: String,
    tails: Vec<String>,
    max_len: usize,
    /// Mutations in each batch.
    pub(crate) batch: u64,
    /// The page every upsert goes to.
    page: String,
    /// The client's index.
    client: usize,
    /// Distinct elements the client writes.
    elements: usize,
    /// Bytes of each upsert's data.
    payload_bytes: usize,
}

impl FrameSet {
    pub(crate) fn new(args: &LoadArgs) -> Result<Self, LoadError> {
        let clients = (0..args.clients)
            .map(|c| ClientFrames::new(args, c).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(FrameSet { clients })
    }

    pub(crate) fn for_client(&self, index: usize) -> Arc<ClientFrames> {
        self.clients[index].clone()
    }
}

impl ClientFrames {
    fn new(args: &LoadArgs, client: usize) -> Result<Self, LoadError> {
        let variants = args.elements.div_ceil(args.batch).max(1);
        let page = format!("p{}", client % 4);
        let mut head = None;
        let mut tails = Vec::with_capacity(variants);
        for v in 0..variants {
            let mutations = (0..args.batch)
                .map(|j| {
                    let k = (v * args.batch + j) % args.elements;
                    Mutation::Upsert {
                        page: page.as_str().into(),
                        element: format!("c{client}-e{k}").as_str().into(),
                        data: payload(k, args.payload_bytes).as_str().into(),
                    }
                })
                .collect();
            let msg = ClientMessage::Mutate {
                batch: PLACEHOLDER.into(),
                mutations,
            };
            let json = msg
                .to_json()
                .map_err(|e| LoadError::Args(format!("cannot encode a batch: {e}")))?;
            let encoded_placeholder = "\\u0001BATCH\\u0001";
            let at = json
                .find(encoded_placeholder)
                .ok_or_else(|| LoadError::Args("batch id placeholder not found".into()))?;
            head.get_or_insert_with(|| json[..at].to_owned());
            tails.push(json[at + encoded_placeholder.len()..].to_owned());
        }
        let head = head.unwrap_or_default();
        let max_len = head.len() + 32 + tails.iter().map(String::len).max().unwrap_or(0);
        Ok(ClientFrames {
            head,
            id_prefix: format!("c{client}-"),
            tails,
            max_len,
            batch: args.batch as u64,
            page,
            client,
            elements: args.elements,
            payload_bytes: args.payload_bytes,
        })
    }

    /// The frame of batch `n` (one allocation).
    pub(crate) fn frame(&self, n: u64) -> String {
        let mut out = String::with_capacity(self.max_len);
        out.push_str(&self.head);
        out.push_str(&self.id_prefix);
        let _ = write!(out, "{n}");
        out.push_str(&self.tails[(n % self.tails.len() as u64) as usize]);
        out
    }

    /// What batch `n` writes: `(page, element, data)` of each upsert, in
    /// order (the data of an element is the same in every batch).
    pub(crate) fn upserts(&self, n: u64) -> impl Iterator<Item = (&str, String, String)> + '_ {
        let v = (n % self.tails.len() as u64) as usize;
        let batch = self.batch as usize;
        (0..batch).map(move |j| {
            let k = (v * batch + j) % self.elements;
            (
                self.page.as_str(),
                format!("c{}-e{k}", self.client),
                payload(k, self.payload_bytes),
            )
        })
    }

    /// The batch number in one of this client's batch ids.
    pub(crate) fn batch_number(&self, id: &str) -> Option<u64> {
        id.strip_prefix(self.id_prefix.as_str())?.parse().ok()
    }
}

/// A JSON object of about `bytes` bytes.
fn payload(k: usize, bytes: usize) -> String {
    let base = format!(r#"{{"k":{k},"pad":""}}"#);
    let pad = bytes.saturating_sub(base.len());
    format!(r#"{{"k":{k},"pad":"{}"}}"#, "x".repeat(pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_as_mutate() {
        let mut args = LoadArgs::with_defaults("http://127.0.0.1:1", "k");
        args.batch = 3;
        args.elements = 7;
        args.payload_bytes = 40;
        let frames = ClientFrames::new(&args, 5).unwrap();
        for n in [0u64, 1, 2, 12345] {
            let frame = frames.frame(n);
            let ClientMessage::Mutate { batch, mutations } =
                ClientMessage::from_json(frame.as_bytes()).unwrap()
            else {
                panic!("not a mutate: {frame}");
            };
            assert_eq!(batch.as_str(), format!("c5-{n}"));
            assert_eq!(frames.batch_number(batch.as_str()), Some(n));
            assert_eq!(mutations.len(), 3);
            assert_eq!(mutations[0].data().unwrap().len(), 40);
            let expected: Vec<_> = frames.upserts(n).collect();
            assert_eq!(expected.len(), mutations.len());
            for ((page, element, data), m) in expected.iter().zip(&mutations) {
                let huddle_core::Mutation::Upsert {
                    page: p,
                    element: e,
                    data: d,
                } = m
                else {
                    panic!("not an upsert: {m:?}");
                };
                assert_eq!((p.as_str(), e.as_str()), (*page, element.as_str()));
                assert_eq!(d.as_bytes(), data.as_bytes());
            }
        }
        assert_eq!(frames.batch_number("c50-1"), None);
    }
}
