//! The progress bar (only on a TTY): elapsed time of the run, acked
//! mutations per second over the last interval, errors.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::Shared;
use crate::LoadArgs;

const TICK: Duration = Duration::from_millis(250);

/// A running progress display; [`Progress::finish`] removes it.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    task: Option<JoinHandle<()>>,
}

impl Progress {
    pub(crate) fn start(
        args: &LoadArgs,
        shared: Arc<Shared>,
        measure_from: Instant,
        stop_at: Instant,
    ) -> Self {
        if args.no_progress || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                task: None,
            };
        }
        let total = stop_at.duration_since(Instant::now()).as_millis() as u64;
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{bar:30}] {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let task = tokio::spawn({
            let bar = bar.clone();
            async move {
                let start = Instant::now();
                let mut last = (start, 0u64);
                loop {
                    tokio::time::sleep(TICK).await;
                    let now = Instant::now();
                    let acked = shared.acked_mutations.load(Ordering::Relaxed);
                    let rate = (acked - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                    last = (now, acked);
                    let phase = if now < measure_from {
                        "warm-up"
                    } else {
                        "measuring"
                    };
                    bar.set_position(now.duration_since(start).as_millis() as u64);
                    bar.set_message(format!(
                        "{phase}: {rate:>9.0} acked mutations/s, {acked} acked, {} errors",
                        shared.errors.load(Ordering::Relaxed)
                    ));
                }
            }
        });
        Progress {
            bar: Some(bar),
            task: Some(task),
        }
    }

    pub(crate) fn finish(self) {
        if let Some(task) = self.task {
            task.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}
