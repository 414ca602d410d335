//! `/metrics` is each server's own: two servers in one process count
//! apart (HTTP errors, the driver's acks), and the page is the registry's
//! Prometheus text encoding with the encoder's content type.

use axum::http::StatusCode;

use super::harness::*;

/// The value of `series` (name and labels as written); `None` if absent.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn two_servers_in_one_process_count_apart() {
    let (a, state_a) = app();
    let (b, state_b) = app();
    for _ in 0..3 {
        let (status, _) = call(&a, "GET", "/nothing", None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    let (status, _) = call(&a, "GET", "/stats", Some("wrong"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (page_a, page_b) = (metrics_page(&a).await, metrics_page(&b).await);
    let not_found = "huddle_http_errors_total{code=\"NOT_FOUND\"}";
    assert_eq!(sample(&page_a, not_found), Some(3.0), "{page_a}");
    let unauthorized = "huddle_http_errors_total{code=\"UNAUTHORIZED\"}";
    assert_eq!(sample(&page_a, unauthorized), Some(1.0), "{page_a}");
    assert_eq!(sample(&page_b, not_found), None, "{page_b}");
    assert_eq!(state_a.metrics.http_errors("NOT_FOUND"), 3);
    assert_eq!(state_b.metrics.http_errors("NOT_FOUND"), 0);
    // Each page has the driver's, the server's and the process's metrics.
    for page in [&page_a, &page_b] {
        for series in [
            "huddle_connections_open",
            "huddle_bytes_held{kind=\"elements\"}",
            "huddle_mutations_per_second",
            "huddle_uptime_seconds",
        ] {
            assert!(sample(page, series).is_some(), "{series} in\n{page}");
        }
        if cfg!(target_os = "linux") {
            assert!(
                sample(page, "process_cpu_seconds_total").is_some(),
                "{page}"
            );
            assert!(
                sample(page, "process_resident_memory_peak_bytes").is_some(),
                "{page}"
            );
        }
    }
}
