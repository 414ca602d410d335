//! The server process's own CPU time and memory, read from Linux `/proc`
//! at each `/metrics` scrape (the Prometheus client conventions'
//! `process_*` names, so a standard dashboard and `huddle load` read them).
//!
//! - `process_cpu_seconds_total`: user + system CPU time of every thread,
//!   `/proc/self/stat` fields 14 and 15 (clock ticks; `CLK_TCK` is 100 on
//!   Linux).
//! - `process_resident_memory_bytes` and
//!   `process_resident_memory_peak_bytes`: `VmRSS` and `VmHWM` (the
//!   high-water mark since the process started) of `/proc/self/status`.
//!
//! Elsewhere than Linux, or when a file cannot be read, the gauges are
//! left out (never reported as 0). [`ProcessCollector`] reads them at each
//! encoding of the registry it is in.

use huddle_tokio::prometheus_client::collector::Collector;
use huddle_tokio::prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use huddle_tokio::prometheus_client::metrics::counter::ConstCounter;
use huddle_tokio::prometheus_client::metrics::gauge::ConstGauge;

/// Clock ticks per second of `/proc/<pid>/stat` times (`CLK_TCK`; 100 on
/// every Linux architecture Rust targets).
const TICKS_PER_SECOND: f64 = 100.0;

/// One reading of the process's CPU and memory.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    /// User + system CPU seconds since the process started.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, bytes.
    pub resident_bytes: Option<u64>,
    /// Peak resident set size, bytes.
    pub resident_peak_bytes: Option<u64>,
}

impl ProcessStats {
    /// Reads this process's figures.
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        let status = std::fs::read_to_string("/proc/self/status").ok();
        ProcessStats {
            cpu_seconds: stat.as_deref().and_then(cpu_seconds),
            resident_bytes: status.as_deref().and_then(|s| status_kib(s, "VmRSS")),
            resident_peak_bytes: status.as_deref().and_then(|s| status_kib(s, "VmHWM")),
        }
    }

    /// Encodes the figures that were read.
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(cpu) = self.cpu_seconds {
            let counter = ConstCounter::new(cpu);
            // The counter's name without `_total`, which the encoder adds.
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        for (name, help, value) in [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                self.resident_bytes,
            ),
            (
                "process_resident_memory_peak_bytes",
                "Peak resident memory size in bytes since the process started (VmHWM).",
                self.resident_peak_bytes,
            ),
        ] {
            if let Some(value) = value {
                let gauge = ConstGauge::new(value);
                let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
                gauge.encode(metric)?;
            }
        }
        Ok(())
    }
}

/// Reads the process's figures ([`ProcessStats::read`]) at each scrape.
#[derive(Debug)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        ProcessStats::read().encode(&mut encoder)
    }
}

/// utime + stime of a `/proc/<pid>/stat` text, in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may contain spaces and parentheses: the
    // fields after it start past its last `)`. Field 3 is then the first.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace();
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// A `Key:   1234 kB` line of `/proc/<pid>/status`, in bytes.
fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status
        .lines()
        .find(|l| l.strip_prefix(key).is_some_and(|r| r.starts_with(':')))?;
    let mut words = line[key.len() + 1..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_and_status() {
        let stat = "4242 (huddle (x) y) S 1 2 3 4 5 6 7 8 9 10 250 125 0 0 20 0 9 0";
        assert_eq!(cpu_seconds(stat), Some(3.75));
        assert_eq!(cpu_seconds("4242 (huddle) S 1 2"), None);
        assert_eq!(cpu_seconds("garbage"), None);
        let status = "Name:\thuddle\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nVmRSSx:\t 1 kB\n";
        assert_eq!(status_kib(status, "VmRSS"), Some(10 * 1024 * 1024));
        assert_eq!(status_kib(status, "VmHWM"), Some(20 * 1024 * 1024));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(status_kib("VmRSS:\t12 pages\n", "VmRSS"), None);
    }

    /// Encodes fixed figures, as a collector would.
    #[derive(Debug)]
    struct Fixed(ProcessStats);

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            self.0.encode(&mut encoder)
        }
    }

    #[test]
    fn renders_what_was_read() {
        let mut registry = huddle_tokio::prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(Fixed(ProcessStats {
            cpu_seconds: Some(1.5),
            resident_bytes: None,
            resident_peak_bytes: Some(4096),
        })));
        let mut out = String::new();
        huddle_tokio::prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
            .unwrap();
        assert!(out.contains("\nprocess_cpu_seconds_total 1.5\n"), "{out}");
        assert!(
            out.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{out}"
        );
        assert!(!out.contains("process_resident_memory_bytes"), "{out}");
        assert!(
            out.contains("\nprocess_resident_memory_peak_bytes 4096\n"),
            "{out}"
        );
    }

    #[test]
    fn reads_this_process_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let stats = ProcessStats::read();
        assert!(stats.cpu_seconds.is_some_and(|s| s >= 0.0));
        let rss = stats.resident_bytes.expect("VmRSS");
        let peak = stats.resident_peak_bytes.expect("VmHWM");
        assert!(rss > 0 && peak >= rss, "rss {rss} peak {peak}");
    }
}
