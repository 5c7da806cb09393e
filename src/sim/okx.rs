//! The OKX simulator (API v5): public time and status, the key's account configuration, the
//! trading-account balance and the derivatives positions, on one router (OKX has one host).
//!
//! Signed requests are verified the way OKX does (shared/docs/exchanges/okx.md §2, §6): every
//! auth header must be there (50103/50104/50106/50107), the key must exist (50111), a demo
//! header is refused for production keys (50101), the timestamp must be ISO-8601 with exactly
//! three fractional digits and `Z` (50112) and at most 30 s from the server clock (50102), the
//! passphrase (sent in clear) must match (50105), and the signature must match timestamp +
//! METHOD + path + `?` + raw query (as received, in the order received) + raw body (50113).
//! The HMAC is computed here from the raw bytes, independently of the client's signing code.
//! Auth failures answer HTTP 401 with a short `{"msg","code"}` body without `data` (the shape
//! seen in client logs, [uncertain]); business errors answer HTTP 200 with `data: []`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::pipeline::{
    query_param, signed, timestamp_method_path_body_sign, SignedApi, SignedRequest, Verified,
};
use super::refusal::{ErrorBody, ExchangeError};
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Okx;

/// OKX refuses timestamps more than this far from its clock (okx.md §2: "a request whose
/// timestamp is more than **30 seconds** away from server time is rejected").
pub const WINDOW_MS: i64 = 30_000;

/// An OKX error: HTTP status, code, message.
pub type OkxError = ExchangeError<Okx>;

impl OkxError {
    fn missing(code: &'static str, name: &str) -> OkxError {
        OkxError::unauthorized(code, format!("Request header \"{name}\" cannot be empty"))
    }

    fn unknown_key() -> OkxError {
        OkxError::unauthorized("50111", "Invalid OK-ACCESS-KEY")
    }

    fn wrong_environment() -> OkxError {
        OkxError::unauthorized("50101", "APIKey does not match current environment")
    }

    fn bad_timestamp() -> OkxError {
        OkxError::unauthorized("50112", "Invalid OK-ACCESS-TIMESTAMP")
    }

    fn expired() -> OkxError {
        OkxError::unauthorized("50102", "Timestamp request expired")
    }

    fn bad_passphrase() -> OkxError {
        OkxError::unauthorized("50105", "Request header \"OK-ACCESS-PASSPHRASE\" incorrect")
    }

    /// The docs say `Invalid signature`; live replies say `Invalid Sign`.
    fn bad_signature() -> OkxError {
        OkxError::unauthorized("50113", "Invalid Sign")
    }

    fn ip_refused(ip: &str) -> OkxError {
        OkxError::unauthorized(
            "50110",
            format!("Your IP {ip} is not included in your API key's IP whitelist."),
        )
    }

    /// A key made on another OKX site (EEA, US): the sites keep their keys apart, and this one
    /// says the key does not exist (okx.md §1, §6, from public reports).
    fn other_site() -> OkxError {
        OkxError::unauthorized("50119", "API key doesn't exist")
    }

    /// A key without the endpoint's right (mapping unverified in the docs, [uncertain]).
    fn not_permitted() -> OkxError {
        OkxError::unauthorized("50114", "Invalid authorization")
    }

    /// Derivatives asked of an account in spot mode [uncertain code for this endpoint].
    fn account_mode() -> OkxError {
        OkxError::new(
            StatusCode::OK,
            "51010",
            "You can't complete this request under your current account mode.",
        )
    }

    fn not_found() -> OkxError {
        OkxError::new(StatusCode::NOT_FOUND, "404", "Not Found")
    }

    fn maintenance() -> OkxError {
        OkxError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "50001",
            "Service temporarily unavailable. Please try again later",
        )
    }

    fn rate_limited() -> OkxError {
        OkxError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "50011",
            "Rate limit reached. Please refer to API documentation and throttle requests accordingly",
        )
    }
}

impl ErrorBody for Okx {
    type Code = &'static str;

    fn reply(error: OkxError) -> Response {
        let body = if error.status == StatusCode::OK {
            json!({"code": error.code, "msg": error.msg, "data": []})
        } else {
            json!({"msg": error.msg, "code": error.code})
        };
        let response = json_reply(error.status, body);
        if error.status == StatusCode::TOO_MANY_REQUESTS {
            return with_retry_after(response);
        }
        response
    }
}

/// The OKX router; `sim::router` nests it under `/okx` (the prefix is stripped before this
/// router sees the request, so `Uri` is what OKX itself would see).
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v5/public/time", get(time))
        .route("/api/v5/system/status", get(status))
        .route("/api/v5/account/config", get(signed::<Okx>))
        .route("/api/v5/account/balance", get(signed::<Okx>))
        .route("/api/v5/account/positions", get(signed::<Okx>))
        .fallback(|| async { OkxError::not_found() })
        .with_state(state)
}

fn ok(data: Value) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"code": "0", "msg": "", "data": data}),
    )
}

async fn time(State(state): State<Arc<SimState>>) -> Response {
    ok(json!([{"ts": state.server_time_ms(KIND, None).to_string()}]))
}

/// Only scheduled, ongoing and pre-open maintenance is listed by default, so a quiet exchange
/// answers an empty list.
async fn status(State(state): State<Arc<SimState>>) -> Response {
    if !state.settings(KIND).maintenance {
        return ok(json!([]));
    }
    let now = state.server_time_ms(KIND, None);
    ok(json!([{
        "title": "Trading system upgrade",
        "state": "ongoing",
        "begin": (now - 600_000).to_string(),
        "end": (now + 3_000_000).to_string(),
        "preOpenBegin": "",
        "href": "",
        "serviceType": "5",
        "system": "unified",
        "scheDesc": "",
        "maintType": "1",
        "env": "1"
    }]))
}

/// Parses `2023-11-14T22:13:20.000Z` strictly: exactly three fractional digits and `Z`.
pub fn parse_timestamp(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let shape_ok = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10 | 13 | 16 | 19 | 23) || c.is_ascii_digit());
    if !shape_ok {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(&text[..23], "%Y-%m-%dT%H:%M:%S%.3f")
        .ok()
        .map(|t| t.and_utc().timestamp_millis())
}

/// The permissions `account/config` lists for a key with these rights, in the documented
/// example's order (`read_only,withdraw,trade`), which is not alphabetical: a client must not
/// depend on the order.
pub fn perm_string(scenario: Scenario) -> String {
    let grants = scenario.grants();
    [
        (grants.read, "read_only"),
        (grants.withdraw, "withdraw"),
        (grants.trade, "trade"),
    ]
    .iter()
    .filter(|(granted, _)| *granted)
    .map(|(_, name)| *name)
    .collect::<Vec<_>>()
    .join(",")
}

/// One signed endpoint, answered for a verified key playing its scenario.
fn answer(key: &SimKey, uri: &Uri, client_ip: &str) -> Result<Value, OkxError> {
    let grants = key.scenario.grants();
    match uri.path() {
        "/api/v5/account/config" => {
            if !grants.read {
                return Err(OkxError::not_permitted());
            }
            // `acctLv` is the account's mode, `perm` the key's own rights (okx.md §5): a key
            // playing `trade_missing` is a read-only key (`perm` "read_only") on an account in
            // spot-and-futures mode, whose positions it can read: the case of issue 18 item 4,
            // a key that must not pass for one that may trade futures.
            Ok(json!([{
                "acctLv": if grants.futures { "2" } else { "1" },
                "acctStpMode": "cancel_maker", "autoLoan": false, "ctIsoMode": "automatic",
                "enableSpotBorrow": false, "greeksType": "PA",
                "ip": if grants.ip_bound { client_ip } else { "" },
                "type": "0", "kycLv": "2",
                "label": format!("keywarden-sim {}", key.scenario.name()),
                "level": "Lv1", "levelTmp": "", "liquidationGear": "-1",
                "mainUid": "44705892343619584", "mgnIsoMode": "automatic", "opAuth": "0",
                "perm": perm_string(key.scenario),
                "posMode": "net_mode", "roleType": "0", "spotBorrowAutoRepay": false,
                "spotOffsetType": "", "spotRoleType": "0", "spotTraderInsts": [],
                "traderInsts": [], "uid": "44705892343619584"
            }]))
        }
        "/api/v5/account/balance" => {
            if !grants.read {
                return Err(OkxError::not_permitted());
            }
            Ok(json!([{
                "totalEq": "4991.542013297616", "uTime": "1705474164160",
                "details": [{
                    "ccy": "USDT", "eq": "4992.890093622894", "cashBal": "4850.435693622894",
                    "availBal": "4834.317093622894", "frozenBal": "158.573",
                    "eqUsd": "4991.542013297616", "uTime": "1705449605015"
                }]
            }]))
        }
        "/api/v5/account/positions" => {
            if !grants.read {
                return Err(OkxError::not_permitted());
            }
            if let Some(t) = query_param(uri, "instType") {
                if !matches!(t, "MARGIN" | "SWAP" | "FUTURES" | "OPTION") {
                    return Err(OkxError::new(
                        StatusCode::OK,
                        "51000",
                        "Parameter instType error",
                    ));
                }
            }
            if !grants.futures {
                return Err(OkxError::account_mode());
            }
            Ok(json!([]))
        }
        _ => Err(OkxError::not_found()),
    }
}

/// OKX's signed API.
pub struct Okx;

impl SignedApi for Okx {
    const KIND: ExchangeKind = KIND;
    type Refusal = OkxError;

    /// The key in `OK-ACCESS-KEY`, or OKX's missing-header error for the first absent auth
    /// header.
    fn api_key(request: &SignedRequest) -> Result<String, OkxError> {
        for (name, code) in [
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
        ] {
            if request.filled_header(name).is_none() {
                return Err(OkxError::missing(code, name));
            }
        }
        Ok(request
            .header("OK-ACCESS-KEY")
            .unwrap_or_default()
            .to_string())
    }

    fn unknown_key(_: &SignedRequest) -> OkxError {
        OkxError::unknown_key()
    }

    /// A key of another OKX site is unknown here: 50119 before its signature is read (okx.md §8).
    fn refused_unverified(key: &SimKey) -> Option<OkxError> {
        (key.scenario == Scenario::OtherRegion).then(OkxError::other_site)
    }

    /// Verifies a signed request for `key` exactly as OKX does: environment, timestamp format and
    /// window against `server_now_ms`, passphrase, then the signature over timestamp + METHOD +
    /// path + `?query` as received + raw body.
    fn verify(key: &SimKey, server_now_ms: i64, request: &SignedRequest) -> Result<(), OkxError> {
        // The simulator's keys are production keys: a demo-trading request does not match them.
        if request.filled_header("x-simulated-trading") == Some("1") {
            return Err(OkxError::wrong_environment());
        }
        let ts_text = request
            .filled_header("OK-ACCESS-TIMESTAMP")
            .unwrap_or_default();
        let ts = parse_timestamp(ts_text).ok_or_else(OkxError::bad_timestamp)?;
        if (ts - server_now_ms).abs() > WINDOW_MS {
            return Err(OkxError::expired());
        }
        // Sent in clear and not signed: checked on its own, so a wrong passphrase is 50105 even
        // when the signature is right.
        if request.filled_header("OK-ACCESS-PASSPHRASE")
            != Some(key.passphrase.as_deref().unwrap_or(""))
        {
            return Err(OkxError::bad_passphrase());
        }
        let expected = timestamp_method_path_body_sign(&key.api_secret, ts_text, request);
        if request.filled_header("OK-ACCESS-SIGN") != Some(expected.as_str()) {
            return Err(OkxError::bad_signature());
        }
        Ok(())
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(OkxError::maintenance().into_response())
    }

    fn rate_limited(_: &Verified) -> Response {
        OkxError::rate_limited().into_response()
    }

    fn answer(verified: &Verified) -> Response {
        let request = verified.request;
        let reply = match verified.key.scenario {
            Scenario::Maintenance => Err(OkxError::maintenance()),
            // okx.md §6: 50026 "System error", documented as coming with HTTP 200 or 5xx.
            Scenario::ErrorBody200 => Err(OkxError::new(
                StatusCode::OK,
                "50026",
                "System error. Try again later.",
            )),
            Scenario::IpNotWhitelisted => Err(OkxError::ip_refused(&request.client_ip)),
            _ => answer(verified.key, &request.uri, &request.client_ip),
        };
        reply.map(ok).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::mac::hmac_base64;
    use crate::sim::pipeline::{header_map, unsigned_changes, verify_as, with_header};
    use crate::sim::refusal::code;
    use axum::http::{header, HeaderMap, HeaderValue, Method};

    const SECRET: &str = SimKey::TEST_SECRET;
    const NOW: i64 = 1_700_000_000_000;

    fn key(scenario: Scenario) -> SimKey {
        SimKey::for_tests(KIND, scenario)
    }

    /// Headers the way okx.md §2 says a client builds them, under `secret`: the ISO timestamp,
    /// the sign over timestamp + METHOD + path?query + body (the recipe
    /// `the_worked_example_request_verifies_byte_for_byte` pins to the docs).
    fn signed_headers(
        secret: &str,
        ts: i64,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> HeaderMap {
        let iso = chrono::DateTime::from_timestamp_millis(ts)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string();
        let sign = hmac_base64(
            secret,
            format!("{iso}{method}{path_and_query}{body}").as_bytes(),
        );
        header_map([
            ("OK-ACCESS-KEY", SimKey::TEST_KEY.to_string()),
            ("OK-ACCESS-SIGN", sign),
            ("OK-ACCESS-TIMESTAMP", iso),
            ("OK-ACCESS-PASSPHRASE", SimKey::TEST_PASSPHRASE.to_string()),
        ])
    }

    fn headers(ts: i64, method: &str, path_and_query: &str, body: &str) -> HeaderMap {
        signed_headers(SECRET, ts, method, path_and_query, body)
    }

    fn check(h: &HeaderMap, method: Method, uri: &str, body: &str) -> Result<(), OkxError> {
        verify_as::<Okx>(&key(Scenario::Valid), NOW, h, method, uri, body)
    }

    /// OKX does not know another site's key, so it never reads that request's signature: a
    /// wrongly signed request of such a key is 50119 too, not a signature error.
    #[tokio::test]
    async fn another_sites_key_is_refused_before_its_signature_is_read() {
        let state = crate::sim::SimState::new(crate::sim::ScenarioFile {
            exchanges: Default::default(),
            keys: vec![key(Scenario::OtherRegion)],
        });
        let forged = signed_headers("not-the-secret", NOW, "GET", "/api/v5/account/config", "");
        let request = SignedRequest::new(Method::GET, "/api/v5/account/config", forged, b"");
        let reply = crate::sim::pipeline::answer_signed::<Okx>(&state, &request).await;
        let body = axum::body::to_bytes(reply.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["code"], "50119", "{body}");
    }

    #[test]
    fn timestamps_parse_strictly() {
        assert_eq!(parse_timestamp("2023-11-14T22:13:20.000Z"), Some(NOW));
        for bad in [
            "1700000000000",
            "2023-11-14T22:13:20Z",
            "2023-11-14T22:13:20.00Z",
            "2023-11-14T22:13:20.0000Z",
            "2023-11-14T22:13:20.000",
            "2023-11-14 22:13:20.000Z",
            "2023-13-14T22:13:20.000Z",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_worked_example_request_verifies_byte_for_byte() {
        // okx.md 3b: the request exactly as printed there.
        let mut h = header_map([
            ("OK-ACCESS-KEY", "testkey"),
            ("OK-ACCESS-PASSPHRASE", "testpass"),
            ("OK-ACCESS-TIMESTAMP", "2023-11-14T22:13:20.000Z"),
            (
                "OK-ACCESS-SIGN",
                "wMtvZ0zkRT5cgEHcJps8w6jHjcH+ZxrPtkbynwRWsjo=",
            ),
        ]);
        check(&h, Method::GET, "/api/v5/account/config", "").unwrap();
        assert_eq!(
            headers(NOW, "GET", "/api/v5/account/config", "")["OK-ACCESS-SIGN"],
            h["OK-ACCESS-SIGN"]
        );
        // and the encoded balance query
        h.insert(
            "OK-ACCESS-SIGN",
            HeaderValue::from_static("fKA/4jEKiqVhldEz65nF6ZkmvqD0GxM7tTJVlLdIVPw="),
        );
        check(
            &h,
            Method::GET,
            "/api/v5/account/balance?ccy=BTC%2CUSDT",
            "",
        )
        .unwrap();
        // signed unencoded, sent encoded: refused
        h.insert(
            "OK-ACCESS-SIGN",
            HeaderValue::from_static("uMQsgnljDw0YyWITOF8REDwwlZVdl7nvhL8DUWdq2ME="),
        );
        assert_eq!(
            code(check(
                &h,
                Method::GET,
                "/api/v5/account/balance?ccy=BTC%2CUSDT",
                ""
            )),
            "50113"
        );
    }

    #[test]
    fn anything_else_is_refused_with_okxs_code() {
        let path = "/api/v5/account/positions?instType=SWAP&instId=BTC-USDT-SWAP";
        let good = headers(NOW, "GET", path, "");
        check(&good, Method::GET, path, "").unwrap();
        // reordered query, other method, other path, an unsigned body, a signed prefix
        for (method, uri, body) in unsigned_changes(path) {
            assert_eq!(
                code(check(&good, method, &uri, body)),
                "50113",
                "{uri} {body}"
            );
        }
        let prefixed = headers(NOW, "GET", &format!("/okx{path}"), "");
        assert_eq!(code(check(&prefixed, Method::GET, path, "")), "50113");
        // a POST signs its exact body
        let body = r#"{"ccy":"BTC"}"#;
        let h = headers(NOW, "POST", "/api/v5/x", body);
        check(&h, Method::POST, "/api/v5/x", body).unwrap();
        assert_eq!(
            code(check(&h, Method::POST, "/api/v5/x", r#"{"ccy": "BTC"}"#)),
            "50113"
        );
        // the window is 30 s either side, inclusive
        for ts in [NOW - WINDOW_MS, NOW + WINDOW_MS] {
            check(&headers(ts, "GET", path, ""), Method::GET, path, "").unwrap();
        }
        for ts in [NOW - WINDOW_MS - 1, NOW + WINDOW_MS + 1, NOW + 60_000] {
            let h = headers(ts, "GET", path, "");
            let err = check(&h, Method::GET, path, "").unwrap_err();
            assert_eq!((err.code, err.status), ("50102", StatusCode::UNAUTHORIZED));
        }
        let h = with_header(&good, "OK-ACCESS-TIMESTAMP", "1700000000000");
        assert_eq!(code(check(&h, Method::GET, path, "")), "50112");
        // wrong passphrase with a valid signature
        let h = with_header(&good, "OK-ACCESS-PASSPHRASE", "nope");
        let err = check(&h, Method::GET, path, "").unwrap_err();
        assert_eq!((err.code, err.status), ("50105", StatusCode::UNAUTHORIZED));
        // demo-trading header with a production key
        let h = with_header(&good, "x-simulated-trading", "1");
        assert_eq!(code(check(&h, Method::GET, path, "")), "50101");
        // every auth header is required, each with its own code
        for (name, want) in [
            ("OK-ACCESS-KEY", "50103"),
            ("OK-ACCESS-PASSPHRASE", "50104"),
            ("OK-ACCESS-SIGN", "50106"),
            ("OK-ACCESS-TIMESTAMP", "50107"),
        ] {
            let mut h = good.clone();
            h.remove(name);
            let err = check(&h, Method::GET, path, "").unwrap_err();
            assert_eq!((err.code, err.status), (want, StatusCode::UNAUTHORIZED));
        }
    }

    #[test]
    fn a_wrong_secret_fails_the_signature() {
        let h = signed_headers("not-the-secret", NOW, "GET", "/api/v5/account/config", "");
        assert_eq!(
            code(check(&h, Method::GET, "/api/v5/account/config", "")),
            "50113"
        );
    }

    fn data(scenario: Scenario, path: &str) -> Result<Value, OkxError> {
        answer(&key(scenario), &path.parse().unwrap(), "127.0.0.1")
    }

    #[test]
    fn introspection_lists_exactly_the_granted_rights() {
        let cases = [
            (Scenario::Valid, "read_only,trade", "2", true),
            (
                Scenario::WithdrawEnabled,
                "read_only,withdraw,trade",
                "2",
                true,
            ),
            (Scenario::FuturesMissing, "read_only,trade", "1", true),
            (Scenario::TradeMissing, "read_only", "2", true),
            (Scenario::ReadOnly, "read_only", "1", true),
            (Scenario::NoIpWhitelist, "read_only,trade", "2", false),
        ];
        for (scenario, perm, acct_lv, bound) in cases {
            let d = data(scenario, "/api/v5/account/config").unwrap();
            assert_eq!(d[0]["perm"], perm, "{scenario:?}");
            assert_eq!(d[0]["acctLv"], acct_lv, "{scenario:?}");
            assert_eq!(
                d[0]["ip"],
                if bound { "127.0.0.1" } else { "" },
                "{scenario:?}"
            );
        }
    }

    #[test]
    fn derivatives_reads_follow_the_account_mode() {
        assert_eq!(
            data(Scenario::Valid, "/api/v5/account/positions?instType=SWAP").unwrap(),
            json!([])
        );
        let e = data(
            Scenario::FuturesMissing,
            "/api/v5/account/positions?instType=SWAP",
        )
        .unwrap_err();
        assert_eq!((e.code, e.status), ("51010", StatusCode::OK));
        let e = data(Scenario::Valid, "/api/v5/account/positions?instType=SPOT").unwrap_err();
        assert_eq!(e.code, "51000");
        assert!(
            data(Scenario::ReadOnly, "/api/v5/account/balance").unwrap()[0]["details"].is_array()
        );
    }

    #[test]
    fn error_bodies_have_okxs_shapes() {
        let r = OkxError::ip_refused("127.0.0.1");
        assert_eq!(
            r.msg,
            "Your IP 127.0.0.1 is not included in your API key's IP whitelist."
        );
        let response = OkxError::rate_limited().into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(
            OkxError::maintenance().into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
