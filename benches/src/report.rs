//! What the `compare` binary prints: a Markdown table (pasted into
//! `docs/performance.md`) and one JSON line per case.

use serde_json::json;

use crate::memory;
use crate::sample::Result;

/// A duration in nanoseconds, readably.
pub fn time(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The table's header.
pub fn header() -> String {
    "| case | unit | baseline (median) | engine (median) | engine per item | ratio |\n\
     |---|---|---:|---:|---:|---:|"
        .to_owned()
}

/// One table row.
pub fn row(r: &Result) -> String {
    let per_item = if r.items > 1 {
        time(r.engine_ns / r.items as f64)
    } else {
        "".to_owned()
    };
    format!(
        "| {} | {} | {} | {} | {} | {:.2}x |",
        r.id,
        r.unit,
        time(r.baseline_ns),
        time(r.engine_ns),
        per_item,
        r.ratio()
    )
}

/// One JSON line.
pub fn json(r: &Result) -> String {
    json!({
        "case": r.id,
        "unit": r.unit,
        "items": r.items,
        "rounds": r.rounds,
        "baseline_median_ns": round(r.baseline_ns),
        "engine_median_ns": round(r.engine_ns),
        "ratio": round(r.ratio() * 1000.0) / 1000.0,
    })
    .to_string()
}

/// The memory figures, as a table.
pub fn memory_table(m: &memory::Report) -> String {
    format!(
        "| memory | bytes | target |\n|---|---:|---:|\n\
         | per idle board ({} boards) | {:.0} | ≤ 2048 |\n\
         | per event beyond its payload, batches of 16 | {:.1} | ≤ 64 |\n\
         | per event beyond its payload, batches of 1 | {:.1} | — |",
        m.boards, m.idle_board, m.event_batch16, m.event_batch1
    )
}

/// The memory figures, as one JSON line.
pub fn memory_json(m: &memory::Report) -> String {
    json!({
        "case": "memory",
        "idle_boards": m.boards,
        "bytes_per_idle_board": round(m.idle_board),
        "bytes_per_event_beyond_payload_batch16": round(m.event_batch16 * 10.0) / 10.0,
        "bytes_per_event_beyond_payload_batch1": round(m.event_batch1 * 10.0) / 10.0,
    })
    .to_string()
}

fn round(x: f64) -> f64 {
    x.round()
}
