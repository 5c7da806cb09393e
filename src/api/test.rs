//! `POST /api/v1/test`: the dashboard's "Test connection". One check of a key the user is
//! about to save, answered with the verdict exactly as `keywarden check --json` prints it;
//! nothing stored, nothing recorded, no secret logged.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::body::JsonBody;
use super::ApiError;
use crate::config::RawConnection;
use crate::daemon::Daemon;

/// The name a tested key's verdict carries: it is no connection (yet).
const TESTED: &str = "test";

/// A key to test: the fields of a connection that a check needs.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// `mexc`, `kucoin`, `binance`, `okx`, `bybit`, `bitget`, `gate`, `htx`, `bingx` or `coinbase`.
    pub exchange: String,
    pub api_key: String,
    pub api_secret: String,
    /// Where the exchange has one (KuCoin, OKX, Bitget, Coinbase).
    pub passphrase: Option<String>,
    /// `["spot"]` (default), `["futures"]` or both.
    pub markets: Option<Vec<String>>,
    /// Whether a key open to every IP is a problem (default true).
    pub require_ip_whitelist: Option<bool>,
    /// Whether a key whose withdraw right the exchange will not reveal fails the test with
    /// `withdraw_unverified` (default false: it passes with that warning).
    pub require_withdraw_verified: Option<bool>,
    /// The exchange site the key was made on (`global` by default; `eea` or `us` on OKX, `eu`,
    /// `nl`, `tr`, ... on Bybit): picks its hosts.
    pub region: Option<String>,
    /// The exchange's base URL, for testing against a simulator.
    pub base_url: Option<String>,
    pub futures_base_url: Option<String>,
    /// Allows a plain `http://` base URL on another host.
    pub insecure: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/api/v1/test",
    request_body = TestRequest,
    responses(
        (status = 200, description = "The verdict, as `check --json` prints it", body = crate::domain::Verdict),
        (status = 400, description = "Malformed JSON, an unknown or invalid field", body = super::ErrorBody),
        (status = 401, description = "No or a wrong bearer token", body = super::ErrorBody),
        (status = 413, description = "Body over 64 KiB", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn test_key(
    State(daemon): State<Arc<Daemon>>,
    JsonBody(request): JsonBody<TestRequest>,
) -> Result<Response, ApiError> {
    let raw = RawConnection {
        exchange: request.exchange,
        api_key: request.api_key,
        api_secret: request.api_secret,
        passphrase: request.passphrase,
        markets: request.markets,
        require_ip_whitelist: request.require_ip_whitelist,
        require_withdraw_verified: request.require_withdraw_verified,
        owner_email: None,
        schedule: None,
        base_url: request.base_url,
        futures_base_url: request.futures_base_url,
        region: request.region,
        alerts: None,
        insecure: request.insecure,
    };
    let connection = crate::config::api_connection(TESTED, raw)
        .map_err(|problems| ApiError::invalid(TESTED, &problems))?;
    let verdict = daemon.test_connection(&connection).await;
    tracing::info!(
        exchange = %verdict.exchange,
        status = %verdict.status,
        latency_ms = verdict.latency_ms,
        "API: key tested"
    );
    Ok(verdict_response(&verdict))
}

/// A verdict as the answer's body, by the serializer `check --json` prints with.
pub(super) fn verdict_response(verdict: &crate::domain::Verdict) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::output::json_line(verdict),
    )
        .into_response()
}
