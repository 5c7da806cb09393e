//! Reading a connection's history for `keywarden history`: straight from the store when no
//! daemon holds it, or from the running daemon's `/history` endpoint when one does (sled allows
//! one process at a time).

use crate::config::Config;
use crate::secret::ExposeSecret;
use crate::store::{HistoryStore, Span, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the store at {dir} is held by a running keywarden, and asking it on http://{listen} failed: {reason}")]
    Daemon {
        dir: String,
        listen: String,
        reason: String,
    },
}

/// The spans of `connection`, newest first, at most `limit`.
pub async fn fetch(
    config: &Config,
    connection: &str,
    limit: usize,
) -> Result<Vec<Span>, HistoryError> {
    let dir = config.daemon.state_dir.clone();
    if !HistoryStore::exists(&dir) {
        // Never create a store just to read it: that would also race a daemon starting up.
        return Ok(Vec::new());
    }
    let name = connection.to_string();
    let direct = tokio::task::spawn_blocking(move || {
        HistoryStore::open(&dir).and_then(|store| store.spans(&name, limit))
    })
    .await
    .expect("history read task does not panic");
    match direct {
        Err(e) if e.is_locked() => ask_daemon(config, connection, limit).await,
        other => Ok(other?),
    }
}

async fn ask_daemon(
    config: &Config,
    connection: &str,
    limit: usize,
) -> Result<Vec<Span>, HistoryError> {
    let listen = config.daemon.metrics_listen;
    let failed = |reason: String| HistoryError::Daemon {
        dir: config.daemon.state_dir.display().to_string(),
        listen: listen.to_string(),
        reason,
    };
    let mut url =
        url::Url::parse(&format!("http://{listen}/history/")).expect("address makes a URL");
    url.path_segments_mut()
        .expect("http URL has segments")
        .pop_if_empty()
        .push(connection);
    url.query_pairs_mut()
        .append_pair("limit", &limit.to_string());
    let mut request = reqwest::Client::new()
        .get(url)
        .timeout(std::time::Duration::from_secs(10));
    if let Some(token) = &config.daemon.http_token {
        // reqwest marks the header sensitive: it is never shown in its Debug output.
        request = request.bearer_auth(token.expose_secret());
    }
    let response = request.send().await.map_err(|e| failed(e.to_string()))?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        return Err(failed(format!(
            "HTTP {}: the daemon asks for daemon.http_token, and this config's {}",
            response.status(),
            match config.daemon.http_token {
                Some(_) => "is not the one it has",
                None => "is not set",
            }
        )));
    }
    if !response.status().is_success() {
        return Err(failed(format!("HTTP {}", response.status())));
    }
    response.json().await.map_err(|e| failed(e.to_string()))
}
