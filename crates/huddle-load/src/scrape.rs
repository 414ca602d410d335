//! The server's own CPU time and memory, scraped from its `/metrics`
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_resident_memory_peak_bytes`, which `huddle serve` exposes on
//! Linux). Two scrapes around a measured window give the server's CPU
//! seconds in that window, whatever machine or container it runs in.

use std::time::Duration;

/// One scrape's figures; a figure the server did not expose is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessScrape {
    /// `process_cpu_seconds_total`.
    pub cpu_seconds: Option<f64>,
    /// `process_resident_memory_bytes`.
    pub resident_bytes: Option<u64>,
    /// `process_resident_memory_peak_bytes`.
    pub resident_peak_bytes: Option<u64>,
}

/// How long one scrape may take.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);

/// Scrapes `<base>/metrics`; `None` if the server did not answer it.
pub(crate) async fn scrape(http: &reqwest::Client, base: &str) -> Option<ProcessScrape> {
    let url = format!("{}/metrics", base.trim_end_matches('/'));
    let response = http.get(url).timeout(SCRAPE_TIMEOUT).send().await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    Some(parse(&response.text().await.ok()?))
}

/// Scrapes every node of `bases` and sums their figures (CPU seconds,
/// resident and peak resident bytes: the cluster's); `None` unless every
/// node answered.
pub(crate) async fn scrape_nodes(
    http: &reqwest::Client,
    bases: &[String],
) -> Option<ProcessScrape> {
    let mut scrapes = Vec::with_capacity(bases.len());
    for base in bases {
        scrapes.push(scrape(http, base).await?);
    }
    Some(sum(&scrapes))
}

/// The sum of several nodes' figures; a figure is known only if every
/// node exposed it.
pub(crate) fn sum(scrapes: &[ProcessScrape]) -> ProcessScrape {
    fn total<T: std::iter::Sum<T>>(
        scrapes: &[ProcessScrape],
        get: impl Fn(&ProcessScrape) -> Option<T>,
    ) -> Option<T> {
        scrapes.iter().map(get).sum()
    }
    ProcessScrape {
        cpu_seconds: total(scrapes, |s| s.cpu_seconds),
        resident_bytes: total(scrapes, |s| s.resident_bytes),
        resident_peak_bytes: total(scrapes, |s| s.resident_peak_bytes),
    }
}

/// The figures of a Prometheus text exposition.
pub(crate) fn parse(text: &str) -> ProcessScrape {
    let mut out = ProcessScrape::default();
    for line in text.lines() {
        let Some((name, value)) = line.split_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if !value.is_finite() || value < 0.0 {
            continue;
        }
        match name {
            "process_cpu_seconds_total" => out.cpu_seconds = Some(value),
            "process_resident_memory_bytes" => out.resident_bytes = Some(value as u64),
            "process_resident_memory_peak_bytes" => out.resident_peak_bytes = Some(value as u64),
            _ => {}
        }
    }
    out
}

/// What the server's process spent in a measured window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ServerCost {
    /// CPU seconds between the scrape at the window's start and the one at
    /// its end.
    pub cpu_seconds: Option<f64>,
    /// Those CPU seconds per 100 000 mutations acknowledged in the window.
    pub cpu_seconds_per_100k_mutations: Option<f64>,
    /// Peak resident memory of the server process (since it started) at
    /// the end of the run.
    pub peak_memory_bytes: Option<u64>,
    /// Resident memory at the end of the run.
    pub memory_bytes: Option<u64>,
}

impl ServerCost {
    /// The cost from scrapes at the window's `start` and `end` and one
    /// after the run (`last`), for `acked_mutations` in the window.
    pub(crate) fn from_scrapes(
        start: Option<ProcessScrape>,
        end: Option<ProcessScrape>,
        last: Option<ProcessScrape>,
        acked_mutations: u64,
    ) -> Self {
        let cpu = |s: Option<ProcessScrape>| s.and_then(|s| s.cpu_seconds);
        let cpu_seconds = match (cpu(start), cpu(end)) {
            (Some(a), Some(b)) if b >= a => Some(b - a),
            _ => None,
        };
        let per_100k = cpu_seconds
            .filter(|_| acked_mutations > 0)
            .map(|s| s * 100_000.0 / acked_mutations as f64);
        let last = last.or(end);
        ServerCost {
            cpu_seconds,
            cpu_seconds_per_100k_mutations: per_100k,
            peak_memory_bytes: last.and_then(|s| s.resident_peak_bytes),
            memory_bytes: last.and_then(|s| s.resident_bytes),
        }
    }

    /// Whether anything was scraped.
    pub fn is_known(&self) -> bool {
        self.cpu_seconds.is_some() || self.peak_memory_bytes.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_process_lines() {
        let text = "# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\n\
                    process_cpu_seconds_total 12.34\nprocess_resident_memory_bytes 1048576\n\
                    process_resident_memory_peak_bytes 2097152\nhuddle_x{a=\"b c\"} 3\n\
                    process_cpu_seconds_total_other 9\n";
        assert_eq!(
            parse(text),
            ProcessScrape {
                cpu_seconds: Some(12.34),
                resident_bytes: Some(1 << 20),
                resident_peak_bytes: Some(2 << 20),
            }
        );
        assert_eq!(
            parse("process_cpu_seconds_total NaN\n"),
            ProcessScrape::default()
        );
        assert_eq!(parse(""), ProcessScrape::default());
    }

    #[test]
    fn the_nodes_figures_are_summed() {
        let node = |cpu: f64, peak: Option<u64>| ProcessScrape {
            cpu_seconds: Some(cpu),
            resident_bytes: Some(1),
            resident_peak_bytes: peak,
        };
        assert_eq!(
            sum(&[node(1.5, Some(10)), node(2.0, Some(20))]),
            ProcessScrape {
                cpu_seconds: Some(3.5),
                resident_bytes: Some(2),
                resident_peak_bytes: Some(30),
            }
        );
        // A figure one node does not expose is unknown for the cluster.
        assert_eq!(
            sum(&[node(1.0, Some(10)), node(1.0, None)]).resident_peak_bytes,
            None
        );
    }

    #[test]
    fn cost_per_100k_mutations() {
        let at = |cpu: f64, peak: u64| {
            Some(ProcessScrape {
                cpu_seconds: Some(cpu),
                resident_bytes: Some(peak / 2),
                resident_peak_bytes: Some(peak),
            })
        };
        let cost = ServerCost::from_scrapes(at(1.0, 10), at(1.9, 20), at(2.0, 30), 200_000);
        assert!((cost.cpu_seconds.unwrap() - 0.9).abs() < 1e-9);
        assert!((cost.cpu_seconds_per_100k_mutations.unwrap() - 0.45).abs() < 1e-9);
        assert_eq!(cost.peak_memory_bytes, Some(30));
        assert_eq!(cost.memory_bytes, Some(15));
        let none = ServerCost::from_scrapes(None, at(1.0, 1), None, 10);
        assert_eq!(none.cpu_seconds, None);
        assert_eq!(none.peak_memory_bytes, Some(1));
        let idle = ServerCost::from_scrapes(at(1.0, 1), at(1.0, 1), None, 0);
        assert_eq!(idle.cpu_seconds, Some(0.0));
        assert_eq!(idle.cpu_seconds_per_100k_mutations, None);
        assert!(!ServerCost::default().is_known());
    }
}
