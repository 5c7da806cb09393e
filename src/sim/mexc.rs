//! The MEXC simulator: spot v3 and futures/contract endpoints on one router (their paths do not
//! clash), verifying every signed request the way MEXC does.
//!
//! - Spot: the signature is recomputed over the raw query exactly as received (everything before
//!   the trailing `&signature=`) followed by the raw body; nothing is parsed and re-sorted, so a
//!   query reordered after signing is refused. The timestamp window is MEXC's documented rule:
//!   `timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow` (default 5000,
//!   at most 60000).
//! - Futures: the signature is recomputed over `ApiKey + Request-Time + sorted params`; the
//!   window is +-10 s (`Recv-Window`, seconds, at most 60). Futures answers errors with HTTP 200
//!   and `success: false`.
//!
//! The HTTP status MEXC sends with each spot error code is not documented ([uncertain]); most
//! reports show 400, so every client-side refusal here is a 400, and the probe keys on the code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::mac::hmac_hex;
use super::pipeline::{raw_param, signed, SignedApi, SignedRequest, Verified};
use super::scenario::Grants;
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Mexc;

/// mexc.md §2: "Optional `recvWindow` (ms, default **5000**, maximum **60000**; larger values
/// rejected with code 700005)."
pub const RECV_WINDOW_MS: i64 = 5_000;
pub const MAX_RECV_WINDOW_MS: i64 = 60_000;

/// mexc.md §2: "accept iff `timestamp < serverTime + 1000` **and** `serverTime - timestamp <=
/// recvWindow`."
pub const SPOT_MAX_AHEAD_MS: i64 = 1_000;

/// mexc.md §3: "request rejected if `Request-Time` differs from server time by more than **10
/// seconds** by default; optional header `Recv-Window` (in **seconds**, max 60)".
pub const FUTURES_WINDOW_MS: i64 = 10_000;
pub const FUTURES_MAX_WINDOW_S: i64 = 60;

/// Days left on an unbound key playing `no_ip_whitelist` (MEXC expires unbound keys after 90).
pub const UNBOUND_REMAINING_DAYS: i64 = 5;

/// The body MEXC has been seen to answer during maintenance (ccxt notes it).
fn maintenance_body() -> Value {
    json!({
        "code": 500,
        "message": "Under maintenance, please try again later",
        "announcement": "https://www.mexc.com/support/articles/",
    })
}

fn maintenance_reply() -> Response {
    json_reply(StatusCode::SERVICE_UNAVAILABLE, maintenance_body())
}

/// A refusal, with the code and text MEXC uses; rendered in the spot or futures shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: i64,
    pub msg: String,
}

impl Refusal {
    fn new(status: StatusCode, code: i64, msg: &str) -> Refusal {
        Refusal {
            status,
            code,
            msg: msg.to_string(),
        }
    }

    /// Spot: `{"code": n, "msg": "..."}`.
    fn spot(self) -> Response {
        json_reply(self.status, json!({"code": self.code, "msg": self.msg}))
    }

    /// Futures: `{"success": false, "code": n, "message": "..."}`, HTTP 200 as a rule.
    fn futures(self) -> Response {
        json_reply(
            self.status,
            json!({"success": false, "code": self.code, "message": self.msg}),
        )
    }
}

fn bad_signature() -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        700002,
        "Signature for this request is not valid.",
    )
}

fn outside_window() -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        700003,
        "Timestamp for this request is outside of the recvWindow.",
    )
}

/// The spot signature: HMAC-SHA256, lowercase hex, over the query string as sent (before
/// `&signature=`) followed by the body as sent (mexc.md §2: "totalParams = query string + request
/// body", no sorting).
pub fn spot_signature(secret: &str, signed_query: &str, body: &str) -> String {
    hmac_hex(secret, format!("{signed_query}{body}").as_bytes())
}

/// The futures `paramString` of a GET: the query's `key=value` pairs as received (their values
/// still encoded the way the client encoded them), sorted by key in byte order, joined by `&`
/// (mexc.md §3: "business parameters sorted by key in dictionary (byte) order").
pub fn futures_param_string(query: &str) -> String {
    let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    pairs.sort_by(|a, b| {
        let key = |pair: &&str| pair.split('=').next().unwrap_or("").as_bytes().to_vec();
        key(a).cmp(&key(b))
    });
    pairs.join("&")
}

/// The futures signature: HMAC-SHA256, lowercase hex, over `accessKey + Request-Time +
/// paramString` (mexc.md §3: "plain concatenation, no separators").
pub fn futures_signature(api_key: &str, secret: &str, request_time: &str, params: &str) -> String {
    hmac_hex(
        secret,
        format!("{api_key}{request_time}{params}").as_bytes(),
    )
}

/// Verifies a spot request as MEXC does: the signature over the raw query (before the trailing
/// `&signature=`) plus the raw body, then the timestamp window against `server_ms`.
pub fn verify_spot(query: &str, body: &str, secret: &str, server_ms: i64) -> Result<(), Refusal> {
    // The signature is appended last; what precedes it is what was signed, bytes as received.
    let (signed, signature) = if let Some(i) = query.rfind("&signature=") {
        (&query[..i], &query[i + "&signature=".len()..])
    } else if let Some(rest) = query.strip_prefix("signature=") {
        ("", rest)
    } else {
        return Err(bad_signature());
    };
    if signature.contains('&') {
        // Not last: MEXC's rule is that it is appended after everything it signs.
        return Err(bad_signature());
    }
    // Lowercase hex only: an exact string comparison refuses uppercase too.
    if signature != spot_signature(secret, signed, body) {
        return Err(bad_signature());
    }

    // A parameter in the query wins over the same one in the body.
    let param = |name| raw_param(signed, name).or_else(|| raw_param(body, name));
    let Some(timestamp) = param("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(outside_window());
    };
    let recv_window = match param("recvWindow") {
        None => RECV_WINDOW_MS,
        Some(raw) => match raw.parse::<i64>() {
            Ok(w) if (1..=MAX_RECV_WINDOW_MS).contains(&w) => w,
            _ => {
                return Err(Refusal::new(
                    StatusCode::BAD_REQUEST,
                    700005,
                    "recvWindow must be less than 60000",
                ))
            }
        },
    };
    if timestamp < server_ms + SPOT_MAX_AHEAD_MS && server_ms - timestamp <= recv_window {
        Ok(())
    } else {
        Err(outside_window())
    }
}

/// Verifies a futures GET as MEXC does: `Signature` over `ApiKey + Request-Time + sorted
/// params`, then `Request-Time` within `Recv-Window` seconds (default 10, at most 60).
pub fn verify_futures(
    api_key: &str,
    secret: &str,
    request_time: Option<&str>,
    signature: Option<&str>,
    recv_window: Option<&str>,
    query: &str,
    server_ms: i64,
) -> Result<(), Refusal> {
    let Some((time_text, time)) =
        request_time.and_then(|t| Some((t, t.trim().parse::<i64>().ok()?)))
    else {
        return Err(Refusal::new(StatusCode::OK, 10073, "invalid Request-Time"));
    };
    let expected = futures_signature(api_key, secret, time_text, &futures_param_string(query));
    if signature != Some(expected.as_str()) {
        return Err(Refusal::new(
            StatusCode::OK,
            602,
            "Signature verification failed!",
        ));
    }
    let window_ms = recv_window
        .and_then(|w| w.trim().parse::<i64>().ok())
        .map(|s| s.clamp(1, FUTURES_MAX_WINDOW_S) * 1000)
        .unwrap_or(FUTURES_WINDOW_MS);
    if (server_ms - time).abs() > window_ms {
        return Err(Refusal::new(
            StatusCode::OK,
            513,
            "Invalid request: Request-Time is outside the allowed window",
        ));
    }
    Ok(())
}

/// The MEXC router; `sim::router` nests it under `/mexc` (the prefix is stripped before this
/// router sees the request, so `Uri` is what MEXC itself would see).
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(spot_ping))
        .route("/api/v3/time", get(spot_time))
        .route("/api/v3/account", get(signed::<Spot>))
        .route("/api/v3/apiKeyInfo", get(signed::<Spot>))
        .route("/api/v1/contract/ping", get(contract_ping))
        .route("/api/v1/private/account/assets", get(signed::<Futures>))
        .with_state(state)
}

async fn spot_ping(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        return maintenance_reply();
    }
    json_reply(StatusCode::OK, json!({}))
}

async fn spot_time(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        return maintenance_reply();
    }
    json_reply(
        StatusCode::OK,
        json!({"serverTime": state.server_time_ms(KIND, None)}),
    )
}

async fn contract_ping(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        return futures_maintenance();
    }
    json_reply(
        StatusCode::OK,
        json!({"success": true, "code": 0, "data": state.server_time_ms(KIND, None)}),
    )
}

fn rate_limited(body: Value) -> Response {
    with_retry_after(json_reply(StatusCode::TOO_MANY_REQUESTS, body))
}

/// MEXC spot v3: key in `X-MEXC-APIKEY`, signature last in the query.
pub struct Spot;

impl SignedApi for Spot {
    const KIND: ExchangeKind = KIND;
    type Refusal = Response;

    fn api_key(request: &SignedRequest) -> Result<String, Response> {
        match request.header("x-mexc-apikey") {
            Some(api_key) => Ok(api_key.to_string()),
            None => Err(Refusal::new(StatusCode::BAD_REQUEST, 400, "api key required").spot()),
        }
    }

    fn unknown_key(_: &SignedRequest) -> Response {
        Refusal::new(StatusCode::BAD_REQUEST, 10072, "Api key info invalid").spot()
    }

    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), Response> {
        let Ok(body) = std::str::from_utf8(&request.body) else {
            return Err(bad_signature().spot());
        };
        verify_spot(request.query(), body, &key.api_secret, server_ms).map_err(Refusal::spot)
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(maintenance_reply())
    }

    fn rate_limited(_: &Verified) -> Response {
        rate_limited(json!({"code": 429, "msg": "Too Many Requests"}))
    }

    fn answer(verified: &Verified) -> Response {
        let Verified { key, request, .. } = *verified;
        match key.scenario {
            Scenario::Maintenance => return maintenance_reply(),
            Scenario::IpNotWhitelisted => {
                let msg = format!("IP [{}] not in the ip white list", request.client_ip);
                return Refusal::new(StatusCode::BAD_REQUEST, 700006, &msg).spot();
            }
            // mexc.md §6: code 500 "Internal error", here in an HTTP 200.
            Scenario::ErrorBody200 => {
                return Refusal::new(StatusCode::OK, 500, "Internal error").spot();
            }
            _ => {}
        }
        let grants = key.scenario.grants();
        match request.path() {
            "/api/v3/account" => account(grants),
            // Not in this region or version: a bare 404, the shape a missing route has.
            "/api/v3/apiKeyInfo" if key.scenario == Scenario::RightsUnrevealed => {
                StatusCode::NOT_FOUND.into_response()
            }
            "/api/v3/apiKeyInfo" => match raw_param(request.query(), "accessKey") {
                Some(access_key) if access_key == key.api_key => {
                    api_key_info(key, grants, &request.client_ip)
                }
                Some(_) => no_permission(),
                None => Refusal::new(
                    StatusCode::BAD_REQUEST,
                    700004,
                    "Mandatory parameter 'accessKey' was not sent",
                )
                .spot(),
            },
            _ => StatusCode::NOT_FOUND.into_response(),
        }
    }
}

fn no_permission() -> Response {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        700007,
        "No permission to access the endpoint.",
    )
    .spot()
}

fn account(grants: Grants) -> Response {
    if !grants.read {
        return no_permission();
    }
    // canTrade/canWithdraw describe the account, not the key: a healthy key on an account that
    // may withdraw still says canWithdraw true, and the probe must not read it as a key right.
    json_reply(
        StatusCode::OK,
        json!({
            "makerCommission": null, "takerCommission": null,
            "buyerCommission": null, "sellerCommission": null,
            "canTrade": true, "canWithdraw": true, "canDeposit": true,
            "updateTime": null,
            "accountType": "SPOT",
            "balances": [
                {"asset": "USDT", "free": "1020.5", "locked": "0"},
                {"asset": "MX", "free": "3.1", "locked": "0.5"}
            ],
            "permissions": ["SPOT"]
        }),
    )
}

/// The permission enums a key with `grants` holds, as apiKeyInfo lists them.
pub fn permission_names(grants: Grants) -> Vec<&'static str> {
    let mut names = Vec::new();
    if grants.read {
        names.extend(["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"]);
    }
    if grants.trade {
        names.push("SPOT_DEAL_WRITE");
    }
    if grants.withdraw {
        names.extend(["SPOT_WITHDRAW_READ", "SPOT_WITHDRAW_WRITE"]);
    }
    if grants.futures {
        names.extend([
            "CONTRACT_ACCOUNT_READ",
            "CONTRACT_DEAL_READ",
            "CONTRACT_DEAL_WRITE",
        ]);
    }
    names
}

fn api_key_info(key: &SimKey, grants: Grants, client_ip: &str) -> Response {
    // Shape from an SDK fixture (exchange doc 4.3): comma strings, remainingValidity in days
    // (unit [uncertain]) for keys without an IP binding, the only ones that expire.
    let mut body = json!({
        "note": format!("sim {}", key.scenario.name()),
        "accessKey": key.api_key,
        "createTime": "2026-01-05T09:30:00.000+00:00",
        "permissions": permission_names(grants).join(","),
        "ipWhiteList": if grants.ip_bound { client_ip } else { "" },
        "status": "VALID",
    });
    if !grants.ip_bound {
        body["remainingValidity"] = json!(UNBOUND_REMAINING_DAYS);
    }
    json_reply(StatusCode::OK, body)
}

/// MEXC futures: key, time and signature in headers; every error an HTTP 200.
pub struct Futures;

fn unauthorized() -> Response {
    Refusal::new(StatusCode::OK, 401, "Unauthorized").futures()
}

impl SignedApi for Futures {
    const KIND: ExchangeKind = KIND;
    type Refusal = Response;

    fn api_key(request: &SignedRequest) -> Result<String, Response> {
        request
            .header("apikey")
            .map(str::to_string)
            .ok_or_else(unauthorized)
    }

    fn unknown_key(_: &SignedRequest) -> Response {
        unauthorized()
    }

    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), Response> {
        verify_futures(
            &key.api_key,
            &key.api_secret,
            request.header("request-time"),
            request.header("signature"),
            request.header("recv-window"),
            request.query(),
            server_ms,
        )
        .map_err(Refusal::futures)
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(futures_maintenance())
    }

    fn rate_limited(_: &Verified) -> Response {
        rate_limited(json!({
            "success": false, "code": 510, "message": "Excessive frequency of requests"
        }))
    }

    fn answer(verified: &Verified) -> Response {
        match verified.key.scenario {
            Scenario::Maintenance => return futures_maintenance(),
            Scenario::IpNotWhitelisted => {
                return Refusal::new(StatusCode::OK, 406, "Accessed IP is not in the whitelist")
                    .futures();
            }
            // mexc.md §6: futures code 501 "System busy" (HTTP 200, as all futures errors).
            Scenario::ErrorBody200 => {
                return Refusal::new(StatusCode::OK, 501, "System busy").futures();
            }
            _ => {}
        }
        if !verified.key.scenario.grants().futures {
            return Refusal::new(StatusCode::OK, 701, "Account read permission is required")
                .futures();
        }
        json_reply(
            StatusCode::OK,
            json!({
                "success": true,
                "code": 0,
                "data": [{
                    "currency": "USDT", "positionMargin": 0, "availableBalance": 0.03176562,
                    "cashBalance": 0.03176562, "frozenBalance": 0, "equity": 0.03176562,
                    "unrealized": 0, "bonus": 0
                }]
            }),
        )
    }
}

fn futures_maintenance() -> Response {
    Refusal::new(StatusCode::OK, 801, "System under maintenance").futures()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spot query the way ccxt orders it (mexc.md §2: endpoint params, then `timestamp`, then
    /// `recvWindow`, then `signature`), signed with the simulator's own signer, which
    /// `spot_signature_is_the_docs_worked_example` pins to the docs.
    fn spot_signed_query(secret: &str, params: &[(&str, &str)], now: i64) -> String {
        let mut query: String = params.iter().map(|(k, v)| format!("{k}={v}&")).collect();
        query.push_str(&format!("timestamp={now}&recvWindow=5000"));
        let signature = spot_signature(secret, &query, "");
        format!("{query}&signature={signature}")
    }

    #[test]
    fn spot_signature_is_the_docs_worked_example() {
        // mexc.md §3a, §3b and the other order of §3a.
        assert_eq!(
            spot_signature(SECRET, "timestamp=1700000000000&recvWindow=5000", ""),
            "cb5c2be01b2379b41bbae5f66b957c30a91151b627b340a524e39358a07c76a5"
        );
        assert_eq!(
            spot_signed_query(SECRET, &[("accessKey", "testkey")], NOW),
            "accessKey=testkey&timestamp=1700000000000&recvWindow=5000&signature=\
             97559849ffdc2a07826842506e0fb32854101bb9cb637c479f599ddae2374f74"
        );
        assert_eq!(
            spot_signature(SECRET, "recvWindow=5000&timestamp=1700000000000", ""),
            "8cb8853c05d40eab178f77fce129c8a259dc4f9b10f028a5688db5b6372420be"
        );
        // mexc.md §3g, the official example split between query and body.
        assert_eq!(
            spot_signature(
                "45d0b3c26f2644f19bfb98b07741b2f5",
                "symbol=BTCUSDT&side=BUY&type=LIMIT",
                "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087"
            ),
            "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
        );
    }

    #[test]
    fn futures_signature_is_the_docs_worked_example() {
        // mexc.md §3e: sorted by key; §3f: a POST body as sent.
        let params = futures_param_string("symbol=BTC_USDT&page_size=10&page_num=1");
        assert_eq!(params, "page_num=1&page_size=10&symbol=BTC_USDT");
        assert_eq!(
            futures_signature("testkey", SECRET, "1700000000000", &params),
            "fc5d0e4d58e0a6682f5a483dfb0d8d0030a695c3ce7af09c2a74660b8eedff92"
        );
        assert_eq!(
            futures_signature(
                "testkey",
                SECRET,
                "1700000000000",
                r#"{"positionId":1,"leverage":20}"#
            ),
            "a7cab02b7864379cd4b3d6892b767ec1e4822d6f04884caf5d57ba4062eacf77"
        );
    }

    const NOW: i64 = 1_700_000_000_000;
    const SECRET: &str = "testsecret";

    fn code(result: Result<(), Refusal>) -> i64 {
        result.err().map_or(0, |r| r.code)
    }

    #[test]
    fn spot_accepts_what_the_probe_signs() {
        let query = spot_signed_query(SECRET, &[("accessKey", "testkey")], NOW);
        assert_eq!(verify_spot(&query, "", SECRET, NOW), Ok(()));
        // The doc's worked example, as MEXC would receive it.
        let doc = "timestamp=1700000000000&recvWindow=5000&signature=\
                   cb5c2be01b2379b41bbae5f66b957c30a91151b627b340a524e39358a07c76a5";
        assert_eq!(verify_spot(doc, "", SECRET, NOW + 10), Ok(()));
    }

    #[test]
    fn spot_refuses_a_wrong_secret_and_a_missing_or_misplaced_signature() {
        let query = spot_signed_query(SECRET, &[], NOW);
        assert_eq!(code(verify_spot(&query, "", "othersecret", NOW)), 700002);
        let unsigned = query.split("&signature=").next().unwrap();
        assert_eq!(code(verify_spot(unsigned, "", SECRET, NOW)), 700002);
        let (rest, sig) = query.split_once("&signature=").unwrap();
        let first = format!("signature={sig}&{rest}");
        assert_eq!(code(verify_spot(&first, "", SECRET, NOW)), 700002);
        let upper = format!("{rest}&signature={}", sig.to_uppercase());
        assert_eq!(code(verify_spot(&upper, "", SECRET, NOW)), 700002);
    }

    #[test]
    fn spot_signs_bytes_in_the_order_sent() {
        let query = spot_signed_query(SECRET, &[("accessKey", "testkey")], NOW);
        let (rest, sig) = query.split_once("&signature=").unwrap();
        let mut parts: Vec<&str> = rest.split('&').collect();
        parts.reverse();
        let reordered = format!("{}&signature={sig}", parts.join("&"));
        assert_eq!(code(verify_spot(&reordered, "", SECRET, NOW)), 700002);
        // Any body bytes are part of what is signed.
        assert_eq!(code(verify_spot(&query, "x=1", SECRET, NOW)), 700002);
    }

    #[test]
    fn spot_window_is_mexcs_rule() {
        let query = spot_signed_query(SECRET, &[], NOW);
        assert_eq!(
            verify_spot(&query, "", SECRET, NOW + RECV_WINDOW_MS),
            Ok(())
        );
        assert_eq!(
            code(verify_spot(&query, "", SECRET, NOW + RECV_WINDOW_MS + 1)),
            700003
        );
        assert_eq!(verify_spot(&query, "", SECRET, NOW - 999), Ok(()));
        assert_eq!(code(verify_spot(&query, "", SECRET, NOW - 1000)), 700003);
        let big = "timestamp=1700000000000&recvWindow=70000";
        let signed = format!("{big}&signature={}", spot_signature(SECRET, big, ""));
        assert_eq!(code(verify_spot(&signed, "", SECRET, NOW)), 700005);
        let none = "recvWindow=5000";
        let signed = format!("{none}&signature={}", spot_signature(SECRET, none, ""));
        assert_eq!(code(verify_spot(&signed, "", SECRET, NOW)), 700003);
    }

    fn futures_sig(time: i64, params: &str) -> String {
        futures_signature("testkey", SECRET, &time.to_string(), params)
    }

    #[test]
    fn futures_accepts_the_doc_examples() {
        let sig = futures_sig(NOW, "");
        assert_eq!(
            sig,
            "d07f4602ba7c6df8710307e9b5c1f37bd220b44415db3e0e4bd447a74193b189"
        );
        let ok = verify_futures(
            "testkey",
            SECRET,
            Some("1700000000000"),
            Some(&sig),
            None,
            "",
            NOW,
        );
        assert_eq!(ok, Ok(()));
        // Sorted before signing, so the order of the query does not matter on futures.
        let sig = "fc5d0e4d58e0a6682f5a483dfb0d8d0030a695c3ce7af09c2a74660b8eedff92";
        let query = "symbol=BTC_USDT&page_size=10&page_num=1";
        let ok = verify_futures(
            "testkey",
            SECRET,
            Some("1700000000000"),
            Some(sig),
            None,
            query,
            NOW,
        );
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn futures_refuses_bad_signature_time_and_window() {
        let sig = futures_sig(NOW, "");
        let time = Some("1700000000000");
        let verify = |secret, time, sig: Option<&str>, window, server| {
            code(verify_futures(
                "testkey", secret, time, sig, window, "", server,
            ))
        };
        assert_eq!(verify("othersecret", time, Some(&sig), None, NOW), 602);
        assert_eq!(verify(SECRET, time, None, None, NOW), 602);
        assert_eq!(verify(SECRET, None, Some(&sig), None, NOW), 10073);
        assert_eq!(verify(SECRET, Some("soon"), Some(&sig), None, NOW), 10073);
        assert_eq!(verify(SECRET, time, Some(&sig), None, NOW + 10_000), 0);
        assert_eq!(verify(SECRET, time, Some(&sig), None, NOW + 10_001), 513);
        assert_eq!(verify(SECRET, time, Some(&sig), None, NOW - 10_001), 513);
        assert_eq!(
            verify(SECRET, time, Some(&sig), Some("30"), NOW + 20_000),
            0
        );
        assert_eq!(
            verify(SECRET, time, Some(&sig), Some("600"), NOW + 61_000),
            513
        );
        // A parameter added after signing changes what is signed.
        let added = verify_futures("testkey", SECRET, time, Some(&sig), None, "a=1", NOW);
        assert_eq!(code(added), 602);
    }

    #[test]
    fn key_info_lists_exactly_the_granted_permissions() {
        let names = permission_names(Scenario::ReadOnly.grants());
        assert_eq!(names, vec!["SPOT_ACCOUNT_READ", "SPOT_DEAL_READ"]);
        let names = permission_names(Scenario::WithdrawEnabled.grants());
        assert!(names.contains(&"SPOT_WITHDRAW_WRITE"));
        assert!(names.contains(&"CONTRACT_DEAL_WRITE"));
        let names = permission_names(Scenario::TradeMissing.grants());
        assert!(!names.contains(&"SPOT_DEAL_WRITE"));
        assert!(!names.contains(&"SPOT_WITHDRAW_WRITE"));
    }
}
