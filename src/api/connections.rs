//! The connection endpoints: create or replace (`PUT`), read (`GET`, one or a page), check
//! now, history, delete. A `PUT` body is a `[connections.NAME]` table as JSON, validated by the
//! file's own rules (`config::api_connection`). The file's connections can be read, not
//! changed (409).

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::JsonBody;
use super::test::verdict_response;
use super::ApiError;
use crate::config::{Connection, RawConnection};
use crate::daemon::{ChangeError, Daemon};
use crate::domain::{ExchangeKind, Status, Verdict};
use crate::secret::{mask_key, ExposeSecret};
use crate::store::Span;

/// The most connections one page holds.
const MAX_PER_PAGE: usize = 1000;
const DEFAULT_PER_PAGE: usize = 100;

/// Where a connection comes from.
#[derive(Serialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The operator's config file: read-only here.
    File,
    /// Stored over this API.
    Api,
}

/// A connection as the dashboard shows it: what it is (key masked, never a secret), and its
/// current verdict with since when and when it was last checked (the "Connected" badge).
#[derive(Serialize, ToSchema)]
pub struct ConnectionView {
    pub name: String,
    pub source: Source,
    pub exchange: ExchangeKind,
    /// The API key masked (`mx0v…9f2a`).
    pub api_key: String,
    pub markets: Vec<String>,
    pub require_ip_whitelist: bool,
    pub require_withdraw_verified: bool,
    /// The exchange site the key belongs to (`global` unless set).
    pub region: String,
    pub owner_email: Option<String>,
    /// The connection's own schedule, when it has one (else the daemon's).
    pub schedule: Option<String>,
    /// The current verdict's status; `null` before the first check.
    pub status: Option<Status>,
    /// When the current verdict was first seen.
    pub since: Option<DateTime<Utc>>,
    /// When the connection was last checked.
    pub last_checked: Option<DateTime<Utc>>,
    /// The latest check's verdict, as `check --json` prints it.
    pub verdict: Option<Verdict>,
}

impl ConnectionView {
    fn of(daemon: &Daemon, connection: &Connection) -> ConnectionView {
        let span = daemon.latest_span(&connection.name);
        let verdict = daemon.last_verdict(&connection.name);
        ConnectionView {
            name: connection.name.clone(),
            source: if daemon.is_file_connection(&connection.name) {
                Source::File
            } else {
                Source::Api
            },
            exchange: connection.exchange,
            api_key: mask_key(connection.credentials.api_key.expose_secret()),
            markets: [
                (connection.markets.spot, "spot"),
                (connection.markets.futures, "futures"),
            ]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name.to_string())
            .collect(),
            require_ip_whitelist: connection.require_ip_whitelist,
            require_withdraw_verified: connection.require_withdraw_verified,
            region: connection.region.name.to_string(),
            owner_email: connection.owner_email.clone(),
            schedule: connection.schedule.as_ref().map(|s| s.as_str().to_string()),
            status: verdict.as_ref().map(|v| v.status),
            since: span.as_ref().map(|s| s.first_seen),
            last_checked: verdict.as_ref().map(|v| v.checked_at),
            verdict,
        }
    }
}

/// What a `PUT` answers: the connection with its first verdict.
#[derive(Serialize, ToSchema)]
pub struct PutAnswer {
    /// `true` when no connection of that name existed (201), `false` when one was replaced (200).
    pub created: bool,
    pub connection: ConnectionView,
}

/// One page of connections.
#[derive(Serialize, ToSchema)]
pub struct ConnectionPage {
    pub connections: Vec<ConnectionView>,
    pub page: usize,
    pub per_page: usize,
    /// How many connections match the filter, on all pages.
    pub total: usize,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only connections whose current status is this (`connected`, `withdraw_enabled`, ...).
    pub status: Option<String>,
    /// Only connections of this exchange.
    pub exchange: Option<String>,
    /// From 1 (default 1).
    pub page: Option<usize>,
    /// 1 to 1000 (default 100).
    pub per_page: Option<usize>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// At most this many spans, newest first (default 20).
    pub limit: Option<usize>,
}

/// A connection's history.
#[derive(Serialize, ToSchema)]
pub struct HistoryAnswer {
    pub connection: String,
    /// Status spans, newest first.
    pub spans: Vec<Span>,
}

#[utoipa::path(
    put,
    path = "/api/v1/connections/{name}",
    params(("name" = String, Path, description = "The connection's name: [a-z0-9_.-]+")),
    request_body(content = RawConnection, description = "A `[connections.NAME]` table as JSON; secrets are the values themselves"),
    responses(
        (status = 201, description = "Created, stored, scheduled; with its first verdict", body = PutAnswer),
        (status = 200, description = "Replaced; with its first verdict", body = PutAnswer),
        (status = 400, description = "Malformed JSON, an unknown or invalid field", body = super::ErrorBody),
        (status = 401, body = super::ErrorBody),
        (status = 409, description = "The name belongs to the config file", body = super::ErrorBody),
        (status = 413, body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn put(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    JsonBody(raw): JsonBody<RawConnection>,
) -> Result<Response, ApiError> {
    if daemon.is_file_connection(&name) {
        return Err(from_file(&name));
    }
    let connection = crate::config::api_connection(&name, raw.clone())
        .map_err(|problems| ApiError::invalid(&name, &problems))?;
    let put = daemon
        .put_api_connection(raw, connection)
        .await
        .map_err(change_error)?;
    let running = daemon.running();
    let connection = running
        .connection(&name)
        .ok_or_else(|| ApiError::not_found(format!("connection {name:?} was removed meanwhile")))?;
    let mut view = ConnectionView::of(&daemon, connection);
    view.verdict = Some(put.verdict);
    let status = if put.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(PutAnswer {
            created: put.created,
            connection: view,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/connections/{name}",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "The connection and its current verdict", body = ConnectionView),
        (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn show(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
) -> Result<Json<ConnectionView>, ApiError> {
    let running = daemon.running();
    let connection = running.connection(&name).ok_or_else(|| unknown(&name))?;
    Ok(Json(ConnectionView::of(&daemon, connection)))
}

#[utoipa::path(
    get,
    path = "/api/v1/connections",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of connections, in name order", body = ConnectionPage),
        (status = 400, description = "An unknown status or exchange", body = super::ErrorBody),
        (status = 401, body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn list(
    State(daemon): State<Arc<Daemon>>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConnectionPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_field", e.body_text()))?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            serde_json::from_value::<Status>(serde_json::Value::String(s.to_string())).map_err(
                |_| ApiError::bad_request("invalid_field", format!("status: unknown status {s:?}")),
            )
        })
        .transpose()?;
    let exchange = query
        .exchange
        .as_deref()
        .map(|e| {
            ExchangeKind::from_str(e)
                .map_err(|why| ApiError::bad_request("invalid_field", format!("exchange: {why}")))
        })
        .transpose()?;
    let page = query.page.unwrap_or(1);
    let per_page = query.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if page == 0 {
        return Err(ApiError::bad_request(
            "invalid_field",
            "page: pages count from 1",
        ));
    }
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::bad_request(
            "invalid_field",
            format!("per_page: use 1 to {MAX_PER_PAGE}"),
        ));
    }
    let running = daemon.running();
    let matching: Vec<&Connection> = running
        .connections
        .iter()
        .filter(|c| exchange.is_none_or(|e| c.exchange == e))
        .filter(|c| {
            status.is_none_or(|s| daemon.last_verdict(&c.name).is_some_and(|v| v.status == s))
        })
        .collect();
    let connections = matching
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|c| ConnectionView::of(&daemon, c))
        .collect();
    Ok(Json(ConnectionPage {
        connections,
        page,
        per_page,
        total: matching.len(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/connections/{name}/history",
    params(("name" = String, Path), HistoryQuery),
    responses(
        (status = 200, description = "Status spans, newest first", body = HistoryAnswer),
        (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn history(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HistoryAnswer>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_field", e.body_text()))?;
    let limit = query.limit.unwrap_or(crate::store::DEFAULT_HISTORY_LIMIT);
    let spans = daemon
        .history(&name, limit)
        .await
        .map_err(|e| ApiError::internal("store_failed", e))?;
    // A deleted connection's history stays until retention: it is still answered.
    if spans.is_empty() && daemon.running().connection(&name).is_none() {
        return Err(unknown(&name));
    }
    Ok(Json(HistoryAnswer {
        connection: name,
        spans,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/connections/{name}/check",
    params(("name" = String, Path)),
    responses(
        (status = 200, description = "Checked now and recorded; the verdict as `check --json` prints it", body = Verdict),
        (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn check(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let verdict = daemon
        .check_now(&name)
        .await
        .ok_or_else(|| unknown(&name))?;
    Ok(verdict_response(&verdict))
}

#[utoipa::path(
    delete,
    path = "/api/v1/connections/{name}",
    params(("name" = String, Path)),
    responses(
        (status = 204, description = "Removed: no more checks, its metrics gone; history kept to retention"),
        (status = 401, body = super::ErrorBody),
        (status = 404, body = super::ErrorBody),
        (status = 409, description = "The name belongs to the config file", body = super::ErrorBody),
    ),
    security(("bearer" = []))
)]
pub(super) async fn delete(
    State(daemon): State<Arc<Daemon>>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    daemon
        .delete_api_connection(&name)
        .await
        .map_err(change_error)?;
    Ok(StatusCode::NO_CONTENT)
}

fn unknown(name: &str) -> ApiError {
    ApiError::not_found(format!("no connection named {name:?}"))
}

fn from_file(name: &str) -> ApiError {
    ApiError::conflict(format!(
        "connection {name:?} belongs to the config file; the API can read it but not change it"
    ))
}

fn change_error(e: ChangeError) -> ApiError {
    match e {
        ChangeError::FromFile(name) => from_file(&name),
        ChangeError::NotFound(name) => unknown(&name),
        ChangeError::NoApi => ApiError::not_found("the API is not configured"),
        ChangeError::Store(why) => ApiError::internal("store_failed", why),
    }
}
