//! CPU time of this process (and optionally the server's) from Linux
//! `/proc`, to show what the generator itself costs. Elsewhere: nothing.

use std::time::{Duration, Instant};

/// CPU times at one instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sample {
    at: Instant,
    own: Option<Duration>,
    server: Option<Duration>,
}

/// CPU use over a run, in cores (1.0 = one core busy all the time).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuUsage {
    /// The load generator's process.
    pub generator: Option<f64>,
    /// The process given as `--server-pid`.
    pub server: Option<f64>,
}

pub(crate) fn sample(server_pid: Option<u32>) -> Sample {
    Sample {
        at: Instant::now(),
        own: cpu_time("/proc/self/stat"),
        server: server_pid.and_then(|pid| cpu_time(&format!("/proc/{pid}/stat"))),
    }
}

pub(crate) fn usage(start: Sample, end: Sample) -> CpuUsage {
    let wall = end.at.duration_since(start.at).as_secs_f64();
    let cores = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) if wall > 0.0 => Some(b.saturating_sub(a).as_secs_f64() / wall),
        _ => None,
    };
    CpuUsage {
        generator: cores(start.own, end.own),
        server: cores(start.server, end.server),
    }
}

/// utime + stime of a `/proc/<pid>/stat` file (clock ticks of 10 ms, the
/// value of `CLK_TCK` on Linux).
fn cpu_time(path: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(path).ok()?;
    // The command name (field 2) may contain spaces: skip past its `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_cpu_time_is_readable_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(cpu_time("/proc/self/stat").is_some());
        }
        assert_eq!(cpu_time("/nonexistent"), None);
    }
}
