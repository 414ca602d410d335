//! The tokio runtime `huddle serve` runs on, from its flags
//! (`--worker-threads`, `--event-interval`, `--global-queue-interval`).
//!
//! The server is a multi-thread runtime. Its work comes in small pieces
//! (a frame read, a message handed to a shard, an ack written), so what a
//! mutation costs in CPU depends as much on how often a worker is woken,
//! parks and polls the kernel for events as on the pieces themselves: the
//! flags set the runtime's counts of those. Their defaults are tokio's,
//! kept after measuring the alternatives (`docs/performance.md`,
//! "Session 10: inbound side and engine"; the reasons in
//! `docs/decisions.md`, "The server's runtime"). `huddle load` keeps
//! tokio's defaults whatever the flags say: it is the measuring side.

use std::io;

use tokio::runtime::{Builder, Runtime};

use crate::cli::ServeArgs;

/// The runtime settings the flags describe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeSettings {
    /// Worker threads; 0 = one per CPU core (tokio's default).
    pub worker_threads: usize,
    /// Tasks a worker polls between two looks at the kernel's events
    /// (timers, sockets) while it has tasks to run.
    pub event_interval: u32,
    /// Tasks a worker polls from its own queue between two looks at the
    /// runtime's shared queue; 0 = tokio's default.
    pub global_queue_interval: u32,
}

impl RuntimeSettings {
    /// The settings of `huddle serve`'s flags.
    pub fn from_args(args: &ServeArgs) -> Self {
        RuntimeSettings {
            worker_threads: args.worker_threads,
            event_interval: args.event_interval,
            global_queue_interval: args.global_queue_interval,
        }
    }

    /// A multi-thread runtime with these settings, every driver enabled.
    pub fn build(&self) -> io::Result<Runtime> {
        let mut builder = Builder::new_multi_thread();
        builder.enable_all();
        if self.worker_threads > 0 {
            builder.worker_threads(self.worker_threads);
        }
        // Both are refused as 0 by the flags; tokio would panic on 0.
        builder.event_interval(self.event_interval.max(1));
        if self.global_queue_interval > 0 {
            builder.global_queue_interval(self.global_queue_interval);
        }
        builder.build()
    }
}

/// The runtime `huddle load` and other commands run on: tokio's defaults.
pub fn default_runtime() -> io::Result<Runtime> {
    Builder::new_multi_thread().enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_with_the_default_flags_and_with_each_set() {
        let defaults = RuntimeSettings::from_args(&ServeArgs::defaults());
        for settings in [
            defaults,
            RuntimeSettings {
                worker_threads: 1,
                event_interval: 1,
                global_queue_interval: 1,
            },
        ] {
            let runtime = settings.build().unwrap();
            assert_eq!(runtime.block_on(async { 2 + 2 }), 4);
            if settings.worker_threads > 0 {
                assert_eq!(runtime.metrics().num_workers(), settings.worker_threads);
            }
        }
    }
}
