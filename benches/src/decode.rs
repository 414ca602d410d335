//! Decoding `mutate` frames, as the server's WebSocket pump does with
//! every client frame before the engine sees it
//! ([`ClientMessage::from_text_with`]): batches of 10 upserts to one page
//! (what `huddle load` sends), the message dropped after each decode.
//!
//! Baseline: the least any decoder must do, checking that the frame is
//! JSON (serde_json's parse into a borrowed [`RawValue`], no allocation).

use std::hint::black_box;
use std::time::Instant;

use huddle_wire::{ClientMessage, DecodeLimits};
use serde_json::value::RawValue;

use crate::apply::size_name;
use crate::case::{Case, Planned, Runner};
use crate::inputs::Batches;

/// Distinct frames cycled through (each with its own batch id, element
/// ids and payloads).
const FRAMES: usize = 256;

/// `mutate` frames of `batch` upserts with `payload`-byte data, as text.
pub fn frames(batch: usize, payload: usize) -> Vec<String> {
    Batches::new("d", batch, payload)
        .take(FRAMES)
        .into_iter()
        .map(|(batch, mutations)| {
            let message = ClientMessage::Mutate { batch, mutations };
            let text = message
                .to_json()
                .unwrap_or_else(|e| panic!("encoding a frame: {e}"));
            // The case measures what the server decodes: the same message.
            match ClientMessage::from_text_with(&text, &DecodeLimits::default()) {
                Ok(decoded) if decoded == message => text,
                other => panic!("the frame does not decode to its message: {other:?}"),
            }
        })
        .collect()
}

/// The decode case for one batch size and payload size.
pub fn case(batch: usize, payload: usize) -> Case {
    let engine_frames = frames(batch, payload);
    let baseline_frames = engine_frames.clone();
    let limits = DecodeLimits::default();
    let mut next = 0usize;
    let engine: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let frame = &engine_frames[next % FRAMES];
            next = next.wrapping_add(1);
            let message = ClientMessage::from_text_with(frame, &limits)
                .unwrap_or_else(|e| panic!("decode: {e}"));
            black_box(message);
        }
        start.elapsed()
    });
    let mut next = 0usize;
    let baseline: Runner = Box::new(move |iters| {
        let start = Instant::now();
        for _ in 0..iters {
            let frame = &baseline_frames[next % FRAMES];
            next = next.wrapping_add(1);
            let raw: &RawValue =
                serde_json::from_str(frame).unwrap_or_else(|e| panic!("parse: {e}"));
            black_box(raw);
        }
        start.elapsed()
    });
    Case {
        group: "decode_mutate",
        name: format!("batch={batch} payload={}", size_name(payload)),
        unit: "frame",
        items: batch as u64,
        engine,
        baseline,
        fixed_iters: None,
    }
}

/// The decode cases: the load generator's batches of 10, and of 1.
pub fn cases() -> Vec<Planned> {
    [(10, 64), (1, 64)]
        .into_iter()
        .map(|(batch, payload)| {
            let name = format!("batch={batch} payload={}", size_name(payload));
            Planned::new("decode_mutate", name, move || case(batch, payload))
        })
        .collect()
}
