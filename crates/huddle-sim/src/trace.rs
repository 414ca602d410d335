//! The trace of a run: every step's decisions and observations, folded
//! into a 64-bit hash (FNV-1a) and, with `--verbose`, printed.
//!
//! Two runs of one seed give the same hash, or the simulation (or the
//! engine) is not deterministic.

use std::fmt::{self, Write as _};

/// The running trace of one seed.
#[derive(Debug)]
pub struct Trace {
    hash: u64,
    lines: u64,
    verbose: bool,
    buf: String,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl Trace {
    /// An empty trace; `verbose` prints every line to stderr.
    pub fn new(verbose: bool) -> Self {
        Trace {
            hash: FNV_OFFSET,
            lines: 0,
            verbose,
            buf: String::new(),
        }
    }

    /// Records one line (formatted without allocating a new string); with
    /// several hosts, it names the host in service (`h1`).
    pub fn line(&mut self, now: u64, host: Option<usize>, args: fmt::Arguments<'_>) {
        self.buf.clear();
        let _ = match host {
            Some(h) => write!(self.buf, "{now} h{h} {args}"),
            None => write!(self.buf, "{now} {args}"),
        };
        for b in self.buf.bytes().chain(std::iter::once(b'\n')) {
            self.hash ^= u64::from(b);
            self.hash = self.hash.wrapping_mul(FNV_PRIME);
        }
        self.lines += 1;
        if self.verbose {
            eprintln!("{}", self.buf);
        }
    }

    /// The hash of everything recorded so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lines recorded.
    pub fn lines(&self) -> u64 {
        self.lines
    }
}

/// Records a line: `trace!(world, "format", args...)`.
#[macro_export]
macro_rules! trace {
    ($world:expr, $($arg:tt)*) => {
        $world.trace.line(
            $world.clock.elapsed(),
            $world.cluster.is_some().then_some($world.current),
            format_args!($($arg)*),
        )
    };
}
