//! The platform's HTTP API (issue 14): the dashboard's "test this key" and the connections
//! users add, replace and delete without anyone editing the config file.
//!
//! One file per concern: `errors` (the JSON error shape and its codes), `body` (reading a JSON
//! body: size cap, unknown fields), `test` (`POST /api/v1/test`), `connections` (the
//! connection endpoints), `openapi` (`GET /api/v1/openapi.json`, generated from the handlers
//! and types), `stored` (the stored connections read back, for the daemon and the CLI). Served on `api.listen` (TCP or a Unix socket) by the daemon's hardened HTTP
//! loop (`daemon::http::serve_router`: header-read timeout, cap on connections held). Every
//! route asks for one of `api.tokens` as a bearer token, compared in constant time, before
//! anything else is done.

mod body;
mod connections;
mod errors;
mod openapi;
pub mod stored;
mod test;

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::config::ApiListen;
use crate::daemon::Daemon;
use crate::secret::ExposeSecret;

pub use errors::{ApiError, ErrorBody};
pub use openapi::ApiDoc;

/// The largest request body taken: a connection's table is well under 2 KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// The API's bound socket.
pub enum Listener {
    Tcp(tokio::net::TcpListener),
    Unix(tokio::net::UnixListener, std::path::PathBuf),
}

impl Listener {
    /// Binds `api.listen`. A socket file left by a daemon that did not stop cleanly is
    /// replaced; any other file at that path is an error, not deleted.
    pub async fn bind(listen: &ApiListen) -> Result<Listener, String> {
        let failed = |e: std::io::Error| format!("api.listen: cannot listen on {listen}: {e}");
        match listen {
            ApiListen::Tcp(addr) => tokio::net::TcpListener::bind(addr)
                .await
                .map(Listener::Tcp)
                .map_err(failed),
            ApiListen::Unix(path) => {
                use std::os::unix::fs::FileTypeExt;
                if let Ok(meta) = std::fs::symlink_metadata(path) {
                    if meta.file_type().is_socket() {
                        std::fs::remove_file(path).map_err(failed)?;
                    }
                }
                tokio::net::UnixListener::bind(path)
                    .map(|l| Listener::Unix(l, path.clone()))
                    .map_err(failed)
            }
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(addr) => write!(f, "{addr}"),
                Err(_) => f.write_str("tcp"),
            },
            Listener::Unix(_, path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Serves the API until the task is aborted.
pub async fn serve(listener: Listener, daemon: Arc<Daemon>) {
    let app = router(daemon);
    match listener {
        Listener::Tcp(l) => crate::daemon::serve_router(l, app, "API server").await,
        Listener::Unix(l, _) => crate::daemon::serve_router(l, app, "API server").await,
    }
}

/// Every route, behind the bearer token.
pub fn router(daemon: Arc<Daemon>) -> Router {
    Router::new()
        .route("/api/v1/test", post(test::test_key))
        .route("/api/v1/connections", get(connections::list))
        .route(
            "/api/v1/connections/{name}",
            get(connections::show)
                .put(connections::put)
                .delete(connections::delete),
        )
        .route(
            "/api/v1/connections/{name}/history",
            get(connections::history),
        )
        .route("/api/v1/connections/{name}/check", post(connections::check))
        .route("/api/v1/openapi.json", get(openapi::document))
        .fallback(|| async {
            ApiError::not_found("no such endpoint; see GET /api/v1/openapi.json")
        })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&daemon),
            require_token,
        ))
        .with_state(daemon)
}

/// 401 for a request without one of `api.tokens`, before its body is read or anything done.
/// Every configured token is compared (in constant time), whichever matches.
async fn require_token(
    State(daemon): State<Arc<Daemon>>,
    request: Request,
    next: Next,
) -> Response {
    let tokens = daemon.api_tokens();
    let matched = tokens.iter().fold(false, |any, token| {
        any | crate::daemon::bearer_matches(request.headers(), token.expose_secret())
    });
    if matched {
        return next.run(request).await;
    }
    let mut response = ApiError::unauthorized().into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Bearer realm=\"keywarden-api\""),
    );
    response
}
