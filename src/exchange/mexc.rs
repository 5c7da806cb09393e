//! MEXC: spot v3 (`/api/v3/*`) and the futures/contract API (`/api/v1/*`).
//!
//! MEXC's key-introspection endpoint (`GET /api/v3/apiKeyInfo`) is recent and its field list is
//! only known from an SDK fixture, so the probe treats it as optional: when it is missing or
//! answers an unknown shape, the rights it alone reveals (trade, withdraw, futures, IP binding)
//! are reported unknown with a note, and the rest is inferred from which read-only calls succeed.
//!
//! No fallback reveals the withdraw right without apiKeyInfo (issue 17): every endpoint that
//! needs `SPOT_WITHDRAW_WRITE` can move funds or change the account (`POST
//! /api/v3/capital/withdraw`, `POST /api/v3/capital/transfer/internal`, `POST
//! /api/v3/capital/deposit/address`), and the read-only ones (`GET
//! /api/v3/capital/withdraw/history`, `GET /api/v3/capital/deposit/address`) need only
//! `SPOT_WITHDRAW_READ` (MEXC spot v3 docs, "Wallet Endpoints", each endpoint's "Permission:"
//! label; mexc.md §4.3). So the right stays unknown, which the check reports as
//! `withdraw_unverified`. `/api/v3/account`'s `canWithdraw` is the account's flag, not the key's.
//!
//! Signing, per the official docs:
//! - spot: HMAC-SHA256 (lowercase hex) over the query string exactly as sent, directly followed
//!   by the body; `signature=` is appended last; the key travels in `X-MEXC-APIKEY`;
//! - futures: HMAC-SHA256 (lowercase hex) over `accessKey + Request-Time + paramString`, where
//!   `paramString` is the GET parameters sorted by name (or the raw POST body); the key, time and
//!   signature travel in the `ApiKey`, `Request-Time` and `Signature` headers.

use super::signing::hmac_hex;
use super::signing::{encode_value, sorted_query};
use chrono::Utc;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::Value;

use super::expiry;
use super::facts::{self, msg_text, numeric_code, refusal_text, string_list, Answer, Meaning};
use super::http;
use super::http::{generic_problem, Reply};
use super::{Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::MEXC;

/// The spot receive window we send (`recvWindow`, ms): MEXC's default.
pub const RECV_WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();
/// The largest `recvWindow` spot accepts (larger is refused with 700005).
pub const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// Futures refuses a `Request-Time` more than this far from its clock (default `Recv-Window`).
pub const FUTURES_WINDOW_MS: i64 = 10_000;

/// The spot header that carries the access key.
pub const SPOT_KEY_HEADER: &str = "X-MEXC-APIKEY";

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (credentials, time, request parts).
// ---------------------------------------------------------------------------------------------

/// Spot `totalParams`: the query string as sent (without `?`) directly followed by the body as
/// sent, no separator between them.
pub fn spot_total_params(query: &str, body: &str) -> String {
    format!("{query}{body}")
}

/// The spot signature of a request whose query (without `signature`) and body are given.
pub fn spot_signature(secret: &str, query: &str, body: &str) -> String {
    hmac_hex(secret, spot_total_params(query, body))
}

/// The query string of a signed spot GET: the endpoint's own parameters in the order given,
/// then `timestamp`, then `recvWindow` (ccxt's order), then `signature` last.
pub fn spot_signed_query(secret: &str, params: &[(&str, &str)], timestamp_ms: i64) -> String {
    let mut query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_value(v)))
        .collect();
    query.push(format!("timestamp={timestamp_ms}"));
    query.push(format!("recvWindow={RECV_WINDOW_MS}"));
    let unsigned = query.join("&");
    let signature = spot_signature(secret, &unsigned, "");
    format!("{unsigned}&signature={signature}")
}

/// Futures `paramString` for a GET: parameters sorted by name (byte order), values encoded,
/// joined with `&`. No parameters give the empty string.
pub fn futures_param_string(params: &[(&str, &str)]) -> String {
    sorted_query(params, encode_value)
}

/// The futures signature: HMAC over `accessKey + Request-Time + paramString` (the sorted GET
/// parameters, or the raw JSON body of a POST).
pub fn futures_signature(
    api_key: &str,
    secret: &str,
    request_time_ms: i64,
    param_string: &str,
) -> String {
    hmac_hex(secret, format!("{api_key}{request_time_ms}{param_string}"))
}

/// The headers of a signed spot request.
fn spot_headers(credentials: &Credentials) -> Result<HeaderMap, Problem> {
    let mut headers = HeaderMap::new();
    headers.insert(
        HeaderName::from_static("x-mexc-apikey"),
        secret_header(credentials.api_key.expose_secret())?,
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(headers)
}

/// The headers of a signed futures GET with the given parameters.
fn futures_headers(
    credentials: &Credentials,
    request_time_ms: i64,
    params: &[(&str, &str)],
) -> Result<HeaderMap, Problem> {
    let key = credentials.api_key.expose_secret();
    let signature = futures_signature(
        key,
        credentials.api_secret.expose_secret(),
        request_time_ms,
        &futures_param_string(params),
    );
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("apikey"), secret_header(key)?);
    headers.insert(
        HeaderName::from_static("request-time"),
        HeaderValue::from(request_time_ms),
    );
    headers.insert(
        HeaderName::from_static("signature"),
        secret_header(&signature)?,
    );
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(headers)
}

fn secret_header(value: &str) -> Result<HeaderValue, Problem> {
    http::sensitive_header("the API key", value)
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// Reads a spot reply. Spot success bodies carry no `code`; errors are `{"code": n, "msg": ..}`.
/// The HTTP status of each error code is [uncertain] in the docs (most reports show 400), so the
/// decision keys on the JSON `code`, not on the status.
fn spot_answer(reply: &Reply, what: &str) -> Result<Answer, Problem> {
    if let Some(problem) = generic_problem(reply, what) {
        return Err(problem);
    }
    let status = reply.status.as_u16();
    if !reply.status.is_success() && reply.json::<Value>(what).is_err() {
        // e.g. a bare 404 for an endpoint this region or version does not have.
        return Ok(Answer::refused_without_code(reply));
    }
    let body: Value = reply.json(what)?;
    match numeric_code(&body) {
        // Some gateways wrap success as code 0/200; treat that as success too.
        Some(0 | 200) if reply.status.is_success() => Ok(Answer::Ok(body)),
        Some(code) => Ok(Answer::Refused {
            status,
            code: Some(code),
            msg: msg_text(&body),
        }),
        None if reply.status.is_success() => Ok(Answer::Ok(body)),
        None => Ok(Answer::refused_without_code(reply)),
    }
}

/// Reads a futures reply: HTTP 200 with `success: false` and a `code` is an error, so `success`
/// and `code` are always read; older docs omit `code` on success.
fn futures_answer(reply: &Reply, what: &str) -> Result<Answer, Problem> {
    if let Some(problem) = generic_problem(reply, what) {
        return Err(problem);
    }
    let status = reply.status.as_u16();
    let body: Value = reply.json(what)?;
    let success = body.get("success").and_then(Value::as_bool);
    let code = numeric_code(&body);
    if success == Some(true) || (success.is_none() && code == Some(0)) {
        return Ok(Answer::Ok(body.get("data").cloned().unwrap_or(Value::Null)));
    }
    Ok(Answer::Refused {
        status,
        code,
        msg: msg_text(&body),
    })
}

/// Spot v3 error codes (exchange doc, section 6).
fn spot_meaning(code: i64) -> Meaning {
    match code {
        // 400: api key required; 10072: invalid access key; 700001: API-key format invalid;
        // 700002: bad signature, which spot also answers for an expired key; 402: expired.
        400 | 401 | 402 | 10072 | 700001 | 700002 => Meaning::InvalidKey,
        // Account-level refusals: the key cannot be used, whatever its rights.
        730100 | 60005 | 140002 => Meaning::InvalidKey,
        700003 | 700005 => Meaning::ClockSkew,
        700006 => Meaning::IpNotAllowed,
        700007 | 403 => Meaning::NoPermission,
        429 | 418 | 510 => Meaning::RateLimited,
        // 500/503: server error or the maintenance body; futures-style maintenance codes too.
        _ => Meaning::Unavailable,
    }
}

/// Futures/contract error codes (exchange doc, section 6).
fn futures_meaning(code: i64) -> Meaning {
    match code {
        402 | 602 | 1000 | 10072 => Meaning::InvalidKey,
        513 | 10073 => Meaning::ClockSkew,
        406 => Meaning::IpNotAllowed,
        510 | 429 => Meaning::RateLimited,
        // 401 after the same key passed spot auth means contract access is not enabled.
        401 | 701 | 702 | 703 | 704 | 511 => Meaning::NoPermission,
        // 801/604/11444 maintenance, 501 busy, and anything we do not know.
        _ => Meaning::Unavailable,
    }
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// What `GET /api/v3/apiKeyInfo` says about a key. The field list comes from an SDK fixture
/// ([secondary] in the exchange doc); anything that does not fit is "not available".
#[derive(Debug, Clone, PartialEq)]
struct KeyInfo {
    permissions: Vec<String>,
    ip_whitelist: Vec<String>,
    /// `remainingValidity`: presumably days left before an unbound key expires (90-day rule).
    /// The unit is [uncertain]; days is the only reading consistent with the 90-day rule and
    /// the fixture's value of 82.
    remaining_validity_days: Option<f64>,
    status: Option<String>,
}

impl KeyInfo {
    /// Parses the documented shape; `permissions` and `ipWhiteList` may come as a comma string
    /// (as in the fixture) or as an array (accepted too, since the shape is unconfirmed).
    fn parse(body: &Value) -> Option<KeyInfo> {
        let permissions = string_list(Some(body.get("permissions")?))?;
        let ip_whitelist = string_list(body.get("ipWhiteList"))?;
        let remaining_validity_days = match body.get("remainingValidity") {
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string);
        Some(KeyInfo {
            permissions,
            ip_whitelist,
            remaining_validity_days,
            status,
        })
    }

    fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Mexc {
    http: HttpClient,
}

impl Mexc {
    pub fn new(http: HttpClient) -> Mexc {
        Mexc { http }
    }

    fn apply_key_info(&self, info: &KeyInfo, facts: &mut Facts) {
        let read = info.has("SPOT_ACCOUNT_READ");
        facts.permissions.read = Some(facts.permissions.read.unwrap_or(read));
        facts.permissions.trade = Some(info.has("SPOT_DEAL_WRITE"));
        facts.permissions.withdraw = Some(info.has("SPOT_WITHDRAW_WRITE"));
        facts.permissions.futures = Some(info.has("CONTRACT_DEAL_WRITE"));
        let bound = !info.ip_whitelist.is_empty();
        facts.ip_restricted = Some(bound);
        // A key without a linked IP expires 90 days after creation; `remainingValidity` is
        // read as days ([uncertain] unit) and only for unbound keys, which are the ones expiring.
        if !bound {
            // Any number (1e300, negative) is clamped rather than trusted (see `expiry`).
            if let Some(days) = info.remaining_validity_days {
                facts.expires_at = expiry::after(Utc::now(), days, expiry::Unit::Days);
            }
        }
        if let Some(status) = info.status.as_deref().filter(|s| *s != "VALID") {
            // Values other than VALID are undocumented ([uncertain]); the key just authenticated,
            // so say what MEXC reported rather than call the key invalid.
            facts
                .notes
                .push(format!("apiKeyInfo reports key status {status:?}"));
        }
    }

    async fn check_futures(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let base = target.futures_base();

        let what = "GET /api/v1/contract/ping";
        let (reply, round_trip) = self
            .http
            .get_timed(&format!("{base}/api/v1/contract/ping"), HeaderMap::new())
            .await?;
        match futures_answer(&reply, what)? {
            Answer::Ok(data) => {
                if let Some(server_ms) = data.as_i64() {
                    let offset = round_trip.clock_offset_ms(server_ms);
                    let inside = offset.abs() <= FUTURES_WINDOW_MS;
                    if let Some(problem) =
                        Problem::skew_outside_window(inside, what, "server clock", offset, || {
                            format!(
                                "MEXC futures accepts requests at most {FUTURES_WINDOW_MS} ms away"
                            )
                        })
                    {
                        return Err(problem);
                    }
                }
            }
            Answer::Refused { status, code, msg } => {
                return Err(Problem::unavailable(refusal_text(what, status, code, &msg)))
            }
        }

        let what = "GET /api/v1/private/account/assets";
        let reply = self
            .http
            .get_signed(base, |now| {
                let headers = futures_headers(&target.credentials, now, &[])?;
                Ok((format!("{base}/api/v1/private/account/assets"), headers))
            })
            .await?;
        match futures_answer(&reply, what)? {
            Answer::Ok(_) => facts::futures_readable(facts, "futures account"),
            Answer::Refused { status, code, msg } => {
                let meaning = code.map_or(Meaning::Unavailable, futures_meaning);
                let text = refusal_text(what, status, code, &msg);
                match meaning.problem(text.clone(), reply.retry_after()) {
                    Some(problem) => return Err(problem),
                    None => {
                        facts::futures_refused(facts, &text);
                    }
                }
            }
        }
        Ok(())
    }

    /// A signed spot GET of `path` with the endpoint's own `params` (the base may carry a path
    /// prefix; only the query is signed).
    async fn spot_get(
        &self,
        base: &str,
        path: &str,
        params: &[(&str, &str)],
        credentials: &Credentials,
    ) -> Result<Reply, Problem> {
        self.http
            .get_signed(base, |now| {
                let query = spot_signed_query(credentials.api_secret.expose_secret(), params, now);
                Ok((format!("{base}{path}?{query}"), spot_headers(credentials)?))
            })
            .await
    }
}

impl Probe for Mexc {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let spot = target.spot_base();
        let credentials = &target.credentials;

        // 1. Exchange up, and our clock inside the receive window. MEXC has no spot status
        // endpoint; maintenance shows as a 5xx or a maintenance body on the time call.
        let what = "GET /api/v3/time";
        let (reply, round_trip) = self
            .http
            .get_timed(&format!("{spot}/api/v3/time"), HeaderMap::new())
            .await?;
        let server_ms = match spot_answer(&reply, what)? {
            Answer::Ok(body) => {
                body.get("serverTime")
                    .and_then(Value::as_i64)
                    .ok_or_else(|| {
                        Problem::unavailable(format!(
                            "{what}: no serverTime in the reply: {}",
                            reply.snippet()
                        ))
                    })?
            }
            Answer::Refused { status, code, msg } => {
                return Err(Problem::unavailable(refusal_text(what, status, code, &msg)))
            }
        };
        let offset = round_trip.clock_offset_ms(server_ms);
        if let Some(problem) = SPEC.skew_problem_of_clock(what, "server clock", offset) {
            return Err(problem);
        }

        // 2. Key valid, signature accepted, read right: the spot account.
        let what = "GET /api/v3/account";
        let reply = self
            .spot_get(spot, "/api/v3/account", &[], credentials)
            .await?;
        match spot_answer(&reply, what)? {
            Answer::Ok(body) => {
                if body.get("balances").is_some_and(Value::is_array) {
                    facts.permissions.read = Some(true);
                } else {
                    return Err(Problem::unavailable(format!(
                        "{what}: no balances in the reply: {}",
                        reply.snippet()
                    )));
                }
            }
            Answer::Refused { status, code, msg } => {
                let meaning = code.map_or(Meaning::Unavailable, spot_meaning);
                let text = refusal_text(what, status, code, &msg);
                match meaning.problem(text, reply.retry_after()) {
                    Some(problem) => return Err(problem),
                    // The key is known and signed correctly, it just cannot read the account.
                    None => facts.permissions.read = Some(false),
                }
            }
        }

        // 3. The key's own rights, IP binding and expiry.
        let what = "GET /api/v3/apiKeyInfo";
        let key = credentials.api_key.expose_secret();
        let reply = self
            .spot_get(
                spot,
                "/api/v3/apiKeyInfo",
                &[("accessKey", key)],
                credentials,
            )
            .await?;
        let info = match spot_answer(&reply, what)? {
            Answer::Ok(body) => KeyInfo::parse(&body).ok_or("it answered an unknown shape"),
            Answer::Refused { status, code, msg } => {
                let meaning = code.map_or(Meaning::NoPermission, spot_meaning);
                let text = refusal_text(what, status, code, &msg);
                match meaning.problem(text, reply.retry_after()) {
                    Some(problem) => return Err(problem),
                    // 404 (not in this region/version) or 700007: fall back to inference.
                    None => Err("it was refused"),
                }
            }
        };
        match info {
            Ok(info) => self.apply_key_info(&info, facts),
            Err(why) => facts.notes.push(format!(
                "trade, withdraw and futures rights, IP binding and expiry unknown: apiKeyInfo \
                 not available ({why})"
            )),
        }

        // 4. Futures, only when the connection trades futures.
        if target.markets.futures {
            self.check_futures(target, facts).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
