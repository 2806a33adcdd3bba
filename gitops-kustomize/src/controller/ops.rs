//! The controllers' operational endpoints, as Flux serves them: `/metrics` (Prometheus text format, Flux's
//! `--metrics-addr`, port 8080) and the probes `/healthz` and `/readyz` (Flux's `--health-addr`, port
//! 9440). Readiness turns true once the controllers' caches are filled.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::get,
};
use gitops_core::metrics::Metrics;
use tokio::net::TcpListener;

/// Whether the controllers are ready: false until their caches are synced.
#[derive(Clone, Debug, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// Not ready yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks ready (or not).
    pub fn set(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether ready.
    #[must_use]
    pub fn get(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// A router answering `/metrics` from `metrics`, `/healthz` always with 200 and `/readyz` with 200 once
/// `ready` is set (503 before).
pub fn router(metrics: Metrics, ready: Readiness) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State((m, _)): State<(Metrics, Readiness)>| async move {
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    m.render(),
                )
            }),
        )
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/readyz",
            get(|State((_, r)): State<(Metrics, Readiness)>| async move {
                if r.get() {
                    (StatusCode::OK, "ok").into_response()
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "caches not synced yet").into_response()
                }
            }),
        )
        .with_state((metrics, ready))
}

/// Serves [`router`] on `listener` until the future is dropped.
///
/// # Errors
/// The listener failed.
pub async fn serve(listener: TcpListener, metrics: Metrics, ready: Readiness) -> std::io::Result<()> {
    axum::serve(listener, router(metrics, ready)).await
}
