//! The daemon's HTTP side: `/metrics` and `/healthz` (from [`crate::metrics`]) and
//! `/history/{connection}`, which `keywarden history` asks while the daemon holds the store.
//!
//! Hostile clients must not starve it (issue 19: 1,100 connections that never finished their
//! headers held the daemon at its open-file limit, `/healthz` timed out and checks failed with
//! "Too many open files"). So connections are served here rather than by `axum::serve`:
//! - a client has [`HEADER_READ_TIMEOUT`] to send a request's headers (and an idle keep-alive
//!   connection as long to send the next one), then it is closed;
//! - at most [`MAX_CONNECTIONS`] are held at once: a new one closes the oldest, so a flood
//!   costs a bounded number of file descriptors and a health probe still gets in;
//! - with `daemon.http_token` set, `/history` (and `/metrics` with
//!   `daemon.http_token_for_metrics`) answers only `Authorization: Bearer <token>`, compared in
//!   constant time. `/healthz` stays open: it says "ok" and nothing else.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::task::AbortHandle;

use super::Daemon;
use crate::secret::ExposeSecret;

/// How long a client may take to send a request's headers, and how long an idle keep-alive
/// connection waits for its next request. Prometheus, `curl` and `keywarden history` send
/// theirs at once; a scraper reconnects after an idle close.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most HTTP connections held at once. A scraper, a health probe and an operator need a
/// handful; the cap keeps a flood far below the process's open-file limit (1,024 by default),
/// which the exchange checks need.
pub const MAX_CONNECTIONS: usize = 64;
/// The pause after a failed `accept` (out of file descriptors, say), so the loop does not spin.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// At most one log line per this long about refused requests and dropped connections.
const LOG_EVERY: Duration = Duration::from_secs(60);

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
            .with_state(Arc::clone(&daemon)),
    )
    .layer(middleware::from_fn_with_state(daemon, require_token));
    serve_router(listener, app, "metrics server").await
}

/// A listening socket the hardened loop of [`serve_router`] accepts from: TCP, or a Unix
/// socket for the API.
pub(crate) trait Accept: Send + 'static {
    type Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static;
    fn accept_one(&self)
        -> impl std::future::Future<Output = std::io::Result<Self::Stream>> + Send;
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

impl Accept for tokio::net::UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_one(&self) -> std::io::Result<Self::Stream> {
        self.accept().await.map(|(stream, _)| stream)
    }
}

/// Serves `app` on `listener` until the task is aborted, with the header-read timeout and the
/// cap on connections held described above; `what` names the server in the log.
pub(crate) async fn serve_router(listener: impl Accept, app: Router, what: &'static str) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let held = Held::default();
    let mut accept_failures = Throttled::new();
    let mut evictions = Throttled::new();
    loop {
        let stream = match listener.accept_one().await {
            Ok(stream) => stream,
            Err(e) => {
                if let Some(more) = accept_failures.hit() {
                    tracing::error!(error = %e, more, "{what} cannot accept a connection");
                }
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let evicted = held.serve(async move {
            // A client that stalls, resets or times out is its own problem: nothing to log.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "{what} connection ended");
            }
        });
        if evicted {
            if let Some(more) = evictions.hit() {
                tracing::warn!(
                    max = MAX_CONNECTIONS,
                    more,
                    "{what} at its connection cap: closed the oldest connection"
                );
            }
        }
    }
}

/// The connections being served, oldest first, each with the handle that closes it.
#[derive(Clone, Default)]
struct Held {
    inner: Arc<Mutex<HeldInner>>,
}

#[derive(Default)]
struct HeldInner {
    next_id: u64,
    tasks: BTreeMap<u64, AbortHandle>,
}

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HeldInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serves one connection on its own task; when that makes more than [`MAX_CONNECTIONS`],
    /// closes the oldest and returns `true`.
    fn serve(&self, connection: impl std::future::Future<Output = ()> + Send + 'static) -> bool {
        // Locked across the spawn, so the task's own removal always comes after its insertion.
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let held = self.clone();
        let task = tokio::spawn(async move {
            connection.await;
            held.lock().tasks.remove(&id);
        });
        inner.tasks.insert(id, task.abort_handle());
        if inner.tasks.len() <= MAX_CONNECTIONS {
            return false;
        }
        if let Some((_, oldest)) = inner.tasks.pop_first() {
            // Dropping the connection's future closes its socket.
            oldest.abort();
        }
        true
    }
}

/// Lets a repeated event through to the log at most once per [`LOG_EVERY`], with how many
/// were held back since.
struct Throttled {
    last: Option<tokio::time::Instant>,
    held_back: u64,
}

impl Throttled {
    fn new() -> Throttled {
        Throttled {
            last: None,
            held_back: 0,
        }
    }

    /// `Some(held back since the last line)` when this one should be logged.
    fn hit(&mut self) -> Option<u64> {
        let now = tokio::time::Instant::now();
        if self.last.is_some_and(|last| now - last < LOG_EVERY) {
            self.held_back += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.held_back))
    }
}

/// Answers 401 to a request for `/history` (or `/metrics`, when configured) without the
/// configured bearer token. Reads the config per request, so a reload can rotate the token.
async fn require_token(
    State(daemon): State<Arc<Daemon>>,
    request: Request,
    next: Next,
) -> Response {
    let config = daemon.config();
    let Some(token) = &config.daemon.http_token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    let guarded = path.starts_with("/history/")
        || (path == "/metrics" && config.daemon.http_token_for_metrics);
    if !guarded || bearer_matches(request.headers(), token.expose_secret()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"keywarden\"")],
        "a bearer token is required (daemon.http_token)\n",
    )
        .into_response()
}

/// Whether `headers` carry `Authorization: Bearer <expected>`.
pub(crate) fn bearer_matches(headers: &HeaderMap, expected: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            let (scheme, token) = value.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    given.is_some_and(|given| same_secret(given.as_bytes(), expected.as_bytes()))
}

/// Compares two secrets in time that does not depend on where they differ, nor (by comparing
/// their SHA-256 digests) on their lengths.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let (given, expected) = (Sha256::digest(given), Sha256::digest(expected));
    let difference = given
        .iter()
        .zip(expected.iter())
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(difference) == 0
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

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn only_the_exact_bearer_token_matches() {
        let token = "s3cret-token";
        assert!(bearer_matches(&headers("Bearer s3cret-token"), token));
        assert!(bearer_matches(&headers("bearer  s3cret-token "), token));
        for wrong in [
            "Bearer s3cret-tokeN",
            "Bearer s3cret-token-and-more",
            "Bearer s3cret",
            "Bearer ",
            "Basic s3cret-token",
            "s3cret-token",
        ] {
            assert!(!bearer_matches(&headers(wrong), token), "{wrong}");
        }
        assert!(!bearer_matches(&HeaderMap::new(), token));
    }

    #[tokio::test]
    async fn the_oldest_connection_is_closed_past_the_cap() {
        let held = Held::default();
        let (tx, _) = tokio::sync::broadcast::channel::<()>(1);
        let mut evicted = 0;
        for _ in 0..MAX_CONNECTIONS + 5 {
            let mut stop = tx.subscribe();
            evicted += usize::from(held.serve(async move {
                let _ = stop.recv().await;
            }));
        }
        assert_eq!(evicted, 5);
        assert_eq!(held.lock().tasks.len(), MAX_CONNECTIONS);
        assert_eq!(
            held.lock().tasks.keys().next(),
            Some(&5),
            "the oldest went first"
        );
        tx.send(()).unwrap();
        for _ in 0..100 {
            if held.lock().tasks.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("finished connections are forgotten");
    }
}
