//! The daemon's HTTP side: `/metrics` and `/healthz` (from [`crate::metrics`]) and
//! `/history/{connection}`, which `keywarden history` asks while the daemon holds the store.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tokio::net::TcpListener;

use super::Daemon;

#[derive(Deserialize)]
struct HistoryQuery {
    limit: Option<usize>,
}

/// Serves until the task is aborted.
pub async fn serve(listener: TcpListener, daemon: Arc<Daemon>) {
    let health = Arc::clone(&daemon);
    let app = crate::metrics::router(
        Arc::clone(&daemon.metrics),
        Arc::new(move || health.healthy()),
    )
    .merge(
        Router::new()
            .route("/history/{connection}", get(history))
            .with_state(daemon),
    );
    if let Err(e) = axum::serve(listener, app).await {
        tracing::error!(error = %e, "metrics server stopped");
    }
}

async fn history(
    State(daemon): State<Arc<Daemon>>,
    Path(connection): Path<String>,
    Query(query): Query<HistoryQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(crate::store::DEFAULT_HISTORY_LIMIT);
    let store = daemon.store.clone();
    // Write and flush first: whatever this answer shows must survive a kill -9 right after it.
    let spans = tokio::task::spawn_blocking(move || {
        store.checkpoint(Some(&connection))?;
        store.spans(&connection, limit)
    })
    .await;
    match spans {
        Ok(Ok(spans)) => Json(spans).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
