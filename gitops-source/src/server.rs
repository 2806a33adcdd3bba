//! The artifact HTTP server: plain `GET` of storage paths, Flux's URL scheme.

use std::{
    io,
    path::{Component, Path},
};

use axum::{
    Router,
    body::Body,
    extract::{Path as UrlPath, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use tokio::net::TcpListener;

use crate::storage::Storage;

/// A router serving `storage` at `/<kind>/<namespace>/<name>/<file>` (`GET` and `HEAD` only).
///
/// Paths with `..`, hidden components or symlinks leading out of the storage root are answered with 404.
pub fn router(storage: Storage) -> Router {
    Router::new()
        .route("/{*path}", get(serve_file))
        .with_state(storage)
}

/// Serves `storage` on `listener` until the future is dropped.
///
/// # Errors
/// The listener failed.
pub async fn serve(listener: TcpListener, storage: Storage) -> io::Result<()> {
    axum::serve(listener, router(storage)).await
}

async fn serve_file(State(storage): State<Storage>, UrlPath(path): UrlPath<String>) -> Response {
    let rel = Path::new(&path);
    let clean = rel
        .components()
        .all(|c| matches!(c, Component::Normal(s) if !s.to_string_lossy().starts_with('.')));
    if !clean {
        return StatusCode::NOT_FOUND.into_response();
    }
    let full = storage.root().join(rel);
    let Ok(real) = tokio::fs::canonicalize(&full).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !real.starts_with(storage.root()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(file) = tokio::fs::File::open(&real).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(meta) = file.metadata().await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !meta.is_file() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let content_type = if path.ends_with(".yaml") {
        "application/x-yaml"
    } else {
        "application/octet-stream"
    };
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_LENGTH, meta.len().to_string()),
        ],
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 256 << 10)),
    )
        .into_response()
}
