//! `GET /metrics`: sessionkit's counters and histograms (loads, saves, compare-and-swap
//! conflicts, interrupted saves, suspicious cookies, store latency and errors, cleanup)
//! in Prometheus text format. Not behind the session layer: scraping creates no session.
//! In production, expose it only to the monitoring network.

use std::sync::OnceLock;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// The process-wide Prometheus recorder, installed on first use; `None` when another
/// recorder was installed first (then `/metrics` answers 503).
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed; /metrics is off"))
                .ok()
        })
        .as_ref()
}

/// The metrics page.
pub async fn render() -> Response {
    match handle() {
        Some(handle) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            handle.render(),
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not being recorded",
        )
            .into_response(),
    }
}
