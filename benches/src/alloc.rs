//! A counting global allocator: measures the bytes a piece of code leaves
//! allocated, instead of estimating them from type sizes.
//!
//! Counts are per thread (the engine is single-threaded; threads of a test
//! harness or of criterion do not disturb a measurement) and count the
//! sizes requested (`Layout::size`), not the allocator's rounding.
//!
//! A binary opts in with
//! `#[global_allocator] static A: huddle_benches::alloc::Counting = huddle_benches::alloc::Counting;`
//! and reads [`live_bytes`] before and after.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    // `const` initialisation: no lazy registration and no allocation on
    // first use, so touching it from inside the allocator is sound.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn add(bytes: isize, allocations: u64) {
    // `try_with`: during thread teardown the slot may be gone; then the
    // change is simply not counted.
    let _ = LIVE.try_with(|l| l.set(l.get().wrapping_add(bytes)));
    let _ = ALLOCATIONS.try_with(|a| a.set(a.get().wrapping_add(allocations)));
}

/// Bytes allocated and not yet freed by this thread since it started
/// (negative if it freed memory another thread allocated).
pub fn live_bytes() -> isize {
    LIVE.try_with(Cell::get).unwrap_or(0)
}

/// Allocations made by this thread since it started.
pub fn allocations() -> u64 {
    ALLOCATIONS.try_with(Cell::get).unwrap_or(0)
}

/// Whether the running binary installed [`Counting`] as its global
/// allocator (a measurement without it would read zero).
pub fn installed() -> bool {
    let before = allocations();
    let v = std::hint::black_box(vec![0u8; 16]);
    drop(v);
    allocations() != before
}

/// The system allocator, counting per thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged and returns its result unchanged, so `System`'s guarantees hold.
// The bookkeeping only touches const-initialised thread-locals of `Copy`
// integers (no allocation, no panic: `try_with` and wrapping arithmetic).
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize, 1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `alloc_zeroed`'s contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize, 1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is; the caller upholds `dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) };
        add(-(layout.size() as isize), 0);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is; the caller upholds `realloc`'s contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize, 1);
        }
        p
    }
}
