//! The Bybit v5 simulator: one router for spot and derivatives (Bybit serves both from one
//! host and one path tree).
//!
//! Signed requests are verified the way Bybit does (shared/docs/exchanges/bybit.md §2): the
//! `X-BAPI-API-KEY`, `X-BAPI-TIMESTAMP` and `X-BAPI-SIGN` headers must be there, the key must
//! exist, the timestamp must satisfy `server - recvWindow <= timestamp < server + 1000`
//! (`X-BAPI-RECV-WINDOW`, optional, default 5000), and the signature must be the lowercase hex
//! HMAC-SHA256 of timestamp + key + recvWindow (the header's text, empty when absent) + the raw
//! query as received (GET) or the raw body (POST). Nothing is parsed and re-sorted, so a query
//! reordered after signing is refused. The HMAC is computed here, independently of the client.
//!
//! HTTP statuses: the docs give 401 for a wrong key or missing auth headers and no status per
//! code otherwise; most refusals are reported with HTTP 200 [uncertain]. So 10003 comes with
//! 401 here and everything else with 200 (429 for the rate limit); the probe keys on `retCode`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};

use super::mac::hmac_hex;
use super::pipeline::{query_param, signed, SignedApi, SignedRequest, Verified};
use super::refusal::{ErrorBody, ExchangeError};
use super::scenario::Grants;
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

/// bybit.md §2: "`X-BAPI-RECV-WINDOW` | ms, optional, default 5000" and "`server_time -
/// recv_window <= timestamp < server_time + 1000`".
pub const RECV_WINDOW_MS: i64 = 5_000;
pub const MAX_AHEAD_MS: i64 = 1_000;

const KIND: ExchangeKind = ExchangeKind::Bybit;

/// Days left on an unbound key playing `no_ip_whitelist` (Bybit expires keys without IP binding).
pub const UNBOUND_REMAINING_DAYS: i64 = 5;

/// The UID the simulated account has (reported by query-api).
pub const SIM_UID: i64 = 53_888_001;

/// A Bybit refusal: HTTP status, `retCode`, `retMsg`.
pub type BybitError = ExchangeError<Bybit>;

impl BybitError {
    /// Unknown key, key of another environment, or no key header: 10003 with HTTP 401.
    pub fn invalid_key() -> BybitError {
        BybitError::unauthorized(
            10003,
            "API key is invalid. Check whether the key and domain are matched, there are 4 env: \
             mainnet, testnet, mainnet-demo, testnet-demo",
        )
    }

    fn bad_signature() -> BybitError {
        BybitError::new(
            StatusCode::OK,
            10004,
            "Error sign, please check your signature generation algorithm.",
        )
    }

    /// The live form reported for 10002 (the docs' text is shorter); it names the three values.
    fn outside_window(ts: &str, server_ms: i64, recv_window: i64) -> BybitError {
        BybitError::new(
            StatusCode::OK,
            10002,
            format!(
                "invalid request, please check your server timestamp or recv_window param. \
                 req_timestamp[{ts}],server_timestamp[{server_ms}],recv_window[{recv_window}]"
            ),
        )
    }

    fn params(msg: &str) -> BybitError {
        BybitError::new(StatusCode::OK, 10001, msg)
    }

    fn no_permission() -> BybitError {
        BybitError::new(
            StatusCode::OK,
            10005,
            "Permission denied, please check your API key permissions.",
        )
    }

    /// The docs' 10010 text names no IP; legacy Bybit APIs appended the request IP, and the
    /// simulator does too, so the probe's IP extraction is exercised [uncertain for v5 live].
    fn ip_refused(ip: &str) -> BybitError {
        BybitError::new(
            StatusCode::OK,
            10010,
            format!(
                "Unmatched IP, please check your API key's bound IP addresses. Request IP: {ip}"
            ),
        )
    }

    fn not_found() -> BybitError {
        BybitError::new(StatusCode::NOT_FOUND, 10017, "Route not found.")
    }

    fn maintenance() -> BybitError {
        BybitError::new(
            StatusCode::OK,
            10016,
            "Server error. Service is restarting.",
        )
    }
}

impl ErrorBody for Bybit {
    type Code = i64;

    fn reply(error: BybitError) -> Response {
        json_reply(
            error.status,
            json!({
                "retCode": error.code, "retMsg": error.msg, "result": {}, "retExtInfo": {},
                "time": crate::exchange::now_ms(),
            }),
        )
    }
}

/// The Bybit router; `sim::router` nests it under `/bybit` (the prefix is stripped before
/// this router sees the request, so `Uri` is what Bybit itself would see).
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v5/market/time", get(market_time))
        .route("/v5/system/status", get(system_status))
        .route("/v5/user/query-api", get(signed::<Bybit>))
        .route("/v5/account/wallet-balance", get(signed::<Bybit>))
        .route("/v5/position/list", get(signed::<Bybit>))
        .route("/v5/account/set-margin-mode", post(signed::<Bybit>))
        .fallback(|| async { BybitError::not_found() })
        .with_state(state)
}

fn ok(result: Value, time_ms: i64) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {}, "time": time_ms}),
    )
}

async fn market_time(State(state): State<Arc<SimState>>) -> Response {
    let now = state.server_time_ms(KIND, None);
    ok(
        json!({
            "timeSecond": (now / 1000).to_string(),
            "timeNano": (now as i128 * 1_000_000 + 123_456).to_string(),
        }),
        now,
    )
}

/// Always one completed entry from the past (the docs' example); an ongoing one covering now
/// when the exchange-wide `maintenance` setting is on.
async fn system_status(State(state): State<Arc<SimState>>) -> Response {
    let now = state.server_time_ms(KIND, None);
    let mut list = vec![json!({
        "id": "4d95b2a0-587f-11f0-bcc9-56f28c94d6ea", "title": "t06", "state": "completed",
        "begin": "1751596902000", "end": "1751597011000", "href": "",
        "serviceTypes": [2, 3, 4, 5], "product": [1, 2], "uidSuffix": [],
        "maintainType": 1, "env": 1
    })];
    if state.settings(KIND).maintenance {
        list.insert(
            0,
            json!({
                "id": "9a1c3e50-0000-11f0-bcc9-56f28c94d6ea",
                "title": "Scheduled system upgrade", "state": "ongoing",
                "begin": (now - 600_000).to_string(), "end": (now + 3_000_000).to_string(),
                "href": "https://announcements.bybit.com/", "serviceTypes": [1, 2, 3, 4, 5],
                "product": [1, 2, 3, 4], "uidSuffix": [], "maintainType": 1, "env": 1
            }),
        );
    }
    ok(json!({"list": list}), now)
}

/// The `permissions` object query-api lists for `grants`: exactly the granted rights.
pub fn permissions(grants: Grants) -> Value {
    let when = |granted: bool, items: &[&str]| -> Vec<String> {
        if granted {
            items.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        }
    };
    json!({
        "ContractTrade": when(grants.futures, &["Order", "Position"]),
        "Spot": when(grants.trade, &["SpotTrade"]),
        "Wallet": when(grants.withdraw, &["Withdraw"]),
        "Options": [],
        "Derivatives": when(grants.futures, &["DerivativesTrade"]),
        "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": []
    })
}

/// `readOnly` for `grants`: 1 when the key holds no writing right at all.
pub fn read_only(grants: Grants) -> i64 {
    i64::from(!(grants.trade || grants.futures || grants.withdraw))
}

fn iso(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

/// One signed endpoint, answered for a verified key playing its scenario.
fn answer(key: &SimKey, uri: &Uri, client_ip: &str, server_ms: i64) -> Result<Value, BybitError> {
    let grants = key.scenario.grants();
    match uri.path() {
        "/v5/user/query-api" => {
            let mut result = json!({
                "id": "16651472", "note": format!("keywarden-sim {}", key.scenario.name()),
                "apiKey": key.api_key, "readOnly": read_only(grants), "secret": "",
                "permissions": permissions(grants),
                "ips": if grants.ip_bound { vec![client_ip.to_string()] } else { vec!["*".to_string()] },
                "type": 1, "deadlineDay": 0, "expiredAt": "",
                "createdAt": "2026-01-05T09:30:00Z",
                "unified": 0, "uta": 1, "userID": SIM_UID, "inviterID": 0,
                "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
                "rsaPublicKey": "", "isMaster": true, "parentUid": "0",
                "kycLevel": "LEVEL_DEFAULT", "kycRegion": ""
            });
            // Keys without an IP binding expire; Bybit reports when.
            if !grants.ip_bound {
                result["deadlineDay"] = json!(UNBOUND_REMAINING_DAYS);
                result["expiredAt"] =
                    json!(iso(server_ms + UNBOUND_REMAINING_DAYS * 86_400_000 - 60_000));
            }
            Ok(result)
        }
        "/v5/account/wallet-balance" => {
            if !grants.read {
                return Err(BybitError::no_permission());
            }
            // The simulated account is a unified trading account (uta = 1).
            match query_param(uri, "accountType") {
                Some("UNIFIED") => {}
                Some(_) => return Err(BybitError::params("accountType only support UNIFIED.")),
                None => return Err(BybitError::params("params error: accountType is required")),
            }
            Ok(json!({"list": [{
                "accountType": "UNIFIED", "totalEquity": "3.31216591", "accountIMRate": "0",
                "totalMarginBalance": "3.00326056", "totalInitialMargin": "0",
                "totalAvailableBalance": "3.00326056", "accountMMRate": "0",
                "totalPerpUPL": "0", "totalWalletBalance": "3.00326056", "accountLTV": "0",
                "totalMaintenanceMargin": "0",
                "coin": [{"coin": "USDT", "equity": "3.00326056", "walletBalance": "3.00326056",
                          "locked": "0", "unrealisedPnl": "0", "usdValue": "3.00290942"}]
            }]}))
        }
        "/v5/position/list" => {
            if !grants.futures {
                return Err(BybitError::no_permission());
            }
            let category = query_param(uri, "category");
            if !matches!(category, Some("linear" | "inverse" | "option")) {
                return Err(BybitError::params("params error: category is invalid"));
            }
            if category != Some("option")
                && query_param(uri, "symbol").is_none()
                && query_param(uri, "settleCoin").is_none()
            {
                return Err(BybitError::params(
                    "params error: symbol or settleCoin is required",
                ));
            }
            Ok(json!({"list": [], "nextPageCursor": "", "category": category}))
        }
        "/v5/account/set-margin-mode" => {
            if !grants.trade && !grants.futures {
                return Err(BybitError::no_permission());
            }
            Ok(json!({"reasons": []}))
        }
        _ => Err(BybitError::not_found()),
    }
}

fn rate_limited(server_ms: i64) -> Response {
    let mut response = with_retry_after(json_reply(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"retCode": 10006, "retMsg": "Too many visits!", "result": {}, "retExtInfo": {},
               "time": server_ms}),
    ));
    let h = response.headers_mut();
    h.insert("x-bapi-limit", HeaderValue::from_static("10"));
    h.insert("x-bapi-limit-status", HeaderValue::from_static("0"));
    // deliberately not 7 s, so a client that ignores Retry-After is caught
    h.insert("x-bapi-limit-reset-timestamp", (server_ms + 6_500).into());
    response
}

/// Bybit's v5 signed API.
pub struct Bybit;

impl SignedApi for Bybit {
    const KIND: ExchangeKind = KIND;
    type Refusal = BybitError;

    fn api_key(request: &SignedRequest) -> Result<String, BybitError> {
        request.key_in_header("X-BAPI-API-KEY", &[], BybitError::invalid_key)
    }

    fn unknown_key(_: &SignedRequest) -> BybitError {
        BybitError::invalid_key()
    }

    /// Verifies a signed request for `key` exactly as Bybit does: the timestamp window against
    /// `server_now_ms` (with the request's recvWindow), then the signature over timestamp + key +
    /// recvWindow (as received) + the raw query (GET) or raw body (anything else).
    fn verify(key: &SimKey, server_now_ms: i64, request: &SignedRequest) -> Result<(), BybitError> {
        let (method, uri, body) = request.parts();
        let (Some(ts_text), Some(sign)) = (
            request.filled_header("X-BAPI-TIMESTAMP"),
            request.filled_header("X-BAPI-SIGN"),
        ) else {
            // Missing auth headers: the docs' HTTP 401 case.
            return Err(BybitError::unauthorized(
                10003,
                "missing X-BAPI-TIMESTAMP or X-BAPI-SIGN header",
            ));
        };
        let window_text = request.filled_header("X-BAPI-RECV-WINDOW");
        let recv_window = match window_text {
            None => RECV_WINDOW_MS,
            Some(text) => match text.trim().parse::<i64>() {
                Ok(w) if w > 0 => w,
                _ => return Err(BybitError::params("recv_window is invalid")),
            },
        };
        let Ok(ts) = ts_text.trim().parse::<i64>() else {
            return Err(BybitError::outside_window(
                ts_text,
                server_now_ms,
                recv_window,
            ));
        };
        if !(server_now_ms - recv_window <= ts && ts < server_now_ms + MAX_AHEAD_MS) {
            return Err(BybitError::outside_window(
                ts_text,
                server_now_ms,
                recv_window,
            ));
        }

        let mut signed = Vec::with_capacity(64 + body.len());
        signed.extend_from_slice(ts_text.as_bytes());
        signed.extend_from_slice(key.api_key.as_bytes());
        signed.extend_from_slice(window_text.unwrap_or("").as_bytes());
        if method == Method::GET {
            signed.extend_from_slice(uri.query().unwrap_or("").as_bytes());
        } else {
            signed.extend_from_slice(body);
        }
        if sign != hmac_hex(&key.api_secret, &signed) {
            return Err(BybitError::bad_signature());
        }
        Ok(())
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(BybitError::maintenance().into_response())
    }

    fn rate_limited(verified: &Verified) -> Response {
        rate_limited(verified.server_ms)
    }

    fn answer(verified: &Verified) -> Response {
        let request = verified.request;
        let reply = match verified.key.scenario {
            Scenario::Maintenance => Err(BybitError::maintenance()),
            Scenario::IpNotWhitelisted => Err(BybitError::ip_refused(&request.client_ip)),
            // bybit.md §6: 10000 "Server Timeout" (10016, the other server error, is maintenance).
            Scenario::ErrorBody200 => Err(BybitError::new(StatusCode::OK, 10000, "Server Timeout")),
            _ => answer(
                verified.key,
                &request.uri,
                &request.client_ip,
                verified.server_ms,
            ),
        };
        reply
            .map(|result| ok(result, verified.server_ms))
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::pipeline::{header_map, verify_as};
    use crate::sim::refusal::code;
    use axum::http::HeaderMap;

    /// What a client signs, bybit.md §3: timestamp + key + recvWindow (as sent) + the query
    /// (GET) or body, HMAC'd by the simulator's own code (`the_docs_worked_examples_verify` pins
    /// it to the docs).
    fn signature(secret: &str, ts: i64, api_key: &str, window: &str, payload: &str) -> String {
        hmac_hex(secret, format!("{ts}{api_key}{window}{payload}").as_bytes())
    }

    /// A client's auth headers for `payload` with the default recvWindow.
    fn auth_headers(secret: &str, ts: i64, payload: &str) -> HeaderMap {
        header_map([
            ("X-BAPI-API-KEY", SimKey::TEST_KEY.to_string()),
            ("X-BAPI-TIMESTAMP", ts.to_string()),
            ("X-BAPI-RECV-WINDOW", "5000".to_string()),
            (
                "X-BAPI-SIGN",
                signature(secret, ts, SimKey::TEST_KEY, "5000", payload),
            ),
        ])
    }

    const SECRET: &str = SimKey::TEST_SECRET;
    const NOW: i64 = 1_700_000_000_000;

    fn key(scenario: Scenario) -> SimKey {
        SimKey::for_tests(KIND, scenario)
    }

    fn check(h: &HeaderMap, method: Method, uri: &str, body: &str) -> Result<(), BybitError> {
        verify_as::<Bybit>(&key(Scenario::Valid), NOW, h, method, uri, body)
    }

    #[test]
    fn the_docs_worked_examples_verify() {
        // 3b: query-api and wallet balance, headers exactly as the doc shows them
        let mut h = HeaderMap::new();
        h.insert("X-BAPI-API-KEY", HeaderValue::from_static("testkey"));
        h.insert(
            "X-BAPI-TIMESTAMP",
            HeaderValue::from_static("1700000000000"),
        );
        h.insert("X-BAPI-RECV-WINDOW", HeaderValue::from_static("5000"));
        h.insert(
            "X-BAPI-SIGN",
            HeaderValue::from_static(
                "2fc9e776b3f07b2ee447067e0f627438055b198bb14dba79e1a3d50e40a5bd8d",
            ),
        );
        check(&h, Method::GET, "/v5/user/query-api", "").unwrap();
        assert_eq!(
            auth_headers(SECRET, NOW, "")["X-BAPI-SIGN"],
            h["X-BAPI-SIGN"]
        );
        h.insert(
            "X-BAPI-SIGN",
            HeaderValue::from_static(
                "6ae139d80e1d2c505dcd529e73e2c6783ff785cc2fe3984d9029213334721a1a",
            ),
        );
        check(
            &h,
            Method::GET,
            "/v5/account/wallet-balance?accountType=UNIFIED",
            "",
        )
        .unwrap();
    }

    #[test]
    fn what_the_client_signs_verifies_get_and_post() {
        let q = "category=linear&settleCoin=USDT";
        let h = auth_headers(SECRET, NOW, q);
        check(&h, Method::GET, &format!("/v5/position/list?{q}"), "").unwrap();
        let body = r#"{"setMarginMode":"REGULAR_MARGIN"}"#;
        let h = auth_headers(SECRET, NOW, body);
        check(&h, Method::POST, "/v5/account/set-margin-mode", body).unwrap();
    }

    #[test]
    fn anything_else_is_refused_with_bybits_code() {
        let q = "category=linear&settleCoin=USDT";
        let path = format!("/v5/position/list?{q}");
        let good = auth_headers(SECRET, NOW, q);
        // reordered, tampered or extended query
        for sent in [
            "/v5/position/list?settleCoin=USDT&category=linear",
            "/v5/position/list?category=linear&settleCoin=USDC",
            "/v5/position/list?category=linear&settleCoin=USDT&limit=1",
            "/v5/position/list",
        ] {
            assert_eq!(code(check(&good, Method::GET, sent, "")), 10004, "{sent}");
        }
        // the path is not signed: another path with the same query passes the signature check
        check(&good, Method::GET, &format!("/v5/other?{q}"), "").unwrap();
        // a POST signs the body, byte for byte (spacing included)
        let body = r#"{"setMarginMode":"REGULAR_MARGIN"}"#;
        let h = auth_headers(SECRET, NOW, body);
        let spaced = r#"{"setMarginMode": "REGULAR_MARGIN"}"#;
        assert_eq!(
            code(check(
                &h,
                Method::POST,
                "/v5/account/set-margin-mode",
                spaced
            )),
            10004
        );
        // wrong secret, uppercase hex
        let wrong = auth_headers("othersecret", NOW, q);
        assert_eq!(code(check(&wrong, Method::GET, &path, "")), 10004);
        let mut upper = good.clone();
        let sign = good["X-BAPI-SIGN"].to_str().unwrap().to_uppercase();
        upper.insert("X-BAPI-SIGN", sign.parse().unwrap());
        assert_eq!(code(check(&upper, Method::GET, &path, "")), 10004);
        // recvWindow signed as sent: dropping the header changes what is signed
        let mut no_window = good.clone();
        no_window.remove("X-BAPI-RECV-WINDOW");
        assert_eq!(code(check(&no_window, Method::GET, &path, "")), 10004);
        let mut garbage = good.clone();
        garbage.insert("X-BAPI-RECV-WINDOW", HeaderValue::from_static("soon"));
        assert_eq!(code(check(&garbage, Method::GET, &path, "")), 10001);
        // missing headers: 401
        for name in ["X-BAPI-TIMESTAMP", "X-BAPI-SIGN"] {
            let mut h = good.clone();
            h.remove(name);
            let e = check(&h, Method::GET, &path, "").unwrap_err();
            assert_eq!((e.code, e.status), (10003, StatusCode::UNAUTHORIZED));
        }
    }

    #[test]
    fn the_window_is_bybits_rule() {
        let q = "accountType=UNIFIED";
        let path = format!("/v5/account/wallet-balance?{q}");
        let at = |ts: i64| auth_headers(SECRET, ts, q);
        // server - recvWindow <= ts
        check(&at(NOW - RECV_WINDOW_MS), Method::GET, &path, "").unwrap();
        let e = check(&at(NOW - RECV_WINDOW_MS - 1), Method::GET, &path, "").unwrap_err();
        assert_eq!((e.code, e.status), (10002, StatusCode::OK));
        assert!(e.msg.contains("recv_window[5000]"), "{}", e.msg);
        // ts < server + 1000
        check(&at(NOW + MAX_AHEAD_MS - 1), Method::GET, &path, "").unwrap();
        assert_eq!(
            code(check(&at(NOW + MAX_AHEAD_MS), Method::GET, &path, "")),
            10002
        );
        // a larger window, signed, lets an older timestamp in, but never one 1 s ahead
        let old = NOW - 20_000;
        let h = header_map([
            ("X-BAPI-API-KEY", SimKey::TEST_KEY.to_string()),
            ("X-BAPI-TIMESTAMP", old.to_string()),
            ("X-BAPI-RECV-WINDOW", "30000".to_string()),
            (
                "X-BAPI-SIGN",
                signature(SECRET, old, SimKey::TEST_KEY, "30000", q),
            ),
        ]);
        check(&h, Method::GET, &path, "").unwrap();
        // no recvWindow header: default 5000, and the prehash has no window part
        let h = header_map([
            ("X-BAPI-API-KEY", SimKey::TEST_KEY.to_string()),
            ("X-BAPI-TIMESTAMP", NOW.to_string()),
            (
                "X-BAPI-SIGN",
                signature(SECRET, NOW, SimKey::TEST_KEY, "", q),
            ),
        ]);
        check(&h, Method::GET, &path, "").unwrap();
        let mut garbage = at(NOW);
        garbage.insert("X-BAPI-TIMESTAMP", HeaderValue::from_static("soon"));
        assert_eq!(code(check(&garbage, Method::GET, &path, "")), 10002);
    }

    fn result(scenario: Scenario, path_and_query: &str) -> Result<Value, BybitError> {
        let uri: Uri = path_and_query.parse().unwrap();
        answer(&key(scenario), &uri, "127.0.0.1", NOW)
    }

    #[test]
    fn introspection_lists_exactly_the_granted_rights() {
        let cases = [
            (Scenario::Valid, 0, true, true, false, true),
            (Scenario::WithdrawEnabled, 0, true, true, true, true),
            (Scenario::FuturesMissing, 0, true, false, false, true),
            (Scenario::TradeMissing, 0, false, true, false, true),
            (Scenario::ReadOnly, 1, false, false, false, true),
            (Scenario::NoIpWhitelist, 0, true, true, false, false),
        ];
        for (scenario, read_only, spot, futures, withdraw, bound) in cases {
            let r = result(scenario, "/v5/user/query-api").unwrap();
            let p = &r["permissions"];
            assert_eq!(r["readOnly"], read_only, "{scenario:?}");
            assert_eq!(p["Spot"] == json!(["SpotTrade"]), spot, "{scenario:?}");
            assert_eq!(p["ContractTrade"] == json!(["Order", "Position"]), futures);
            assert_eq!(p["Derivatives"] == json!(["DerivativesTrade"]), futures);
            assert_eq!(p["Wallet"] == json!(["Withdraw"]), withdraw, "{scenario:?}");
            if bound {
                assert_eq!(r["ips"], json!(["127.0.0.1"]));
                assert_eq!(
                    (&r["expiredAt"], &r["deadlineDay"]),
                    (&json!(""), &json!(0))
                );
            } else {
                assert_eq!(r["ips"], json!(["*"]));
                assert_eq!(r["deadlineDay"], UNBOUND_REMAINING_DAYS);
                assert!(r["expiredAt"].as_str().unwrap().starts_with("2023-11-19T"));
            }
        }
    }

    #[test]
    fn reads_are_refused_the_way_bybit_does() {
        let e = result(
            Scenario::FuturesMissing,
            "/v5/position/list?category=linear&settleCoin=USDT",
        )
        .unwrap_err();
        assert_eq!((e.code, e.status), (10005, StatusCode::OK));
        assert!(result(
            Scenario::Valid,
            "/v5/position/list?category=linear&settleCoin=USDT"
        )
        .is_ok());
        assert_eq!(
            result(Scenario::Valid, "/v5/position/list?category=linear")
                .unwrap_err()
                .code,
            10001
        );
        assert!(result(
            Scenario::ReadOnly,
            "/v5/account/wallet-balance?accountType=UNIFIED"
        )
        .is_ok());
        assert_eq!(
            result(
                Scenario::Valid,
                "/v5/account/wallet-balance?accountType=SPOT"
            )
            .unwrap_err()
            .code,
            10001
        );
        assert_eq!(
            result(Scenario::ReadOnly, "/v5/account/set-margin-mode")
                .unwrap_err()
                .code,
            10005
        );
        let e = BybitError::ip_refused("127.0.0.1");
        assert_eq!(e.code, 10010);
        assert!(e.msg.ends_with("127.0.0.1"));
    }
}
