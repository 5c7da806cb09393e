//! The KuCoin simulator: spot and futures endpoints on one router (their paths do not clash;
//! time and status are the same on both hosts).
//!
//! Signed requests are verified the way KuCoin does: the auth headers must all be there, the key
//! must exist, the timestamp must be less than 5 s from the server clock, the passphrase must be
//! the HMAC of the registered passphrase (key versions 2 and 3), and the signature must match
//! timestamp + METHOD + path + `?` + raw query (as received, in the order received) + raw body.
//! The HMAC is computed here independently of the client's signing code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::mac::hmac_base64;
use super::pipeline::{
    query_param, signed, timestamp_method_path_body_sign, SignedApi, SignedRequest, Verified,
};
use super::refusal::{ErrorBody, ExchangeError};
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Kucoin;

/// KuCoin refuses timestamps this far (or further) from its clock (kucoin.md: "the timestamp
/// must be less than 5 s from the server clock").
const WINDOW_MS: i64 = 5_000;

/// A KuCoin error: HTTP status, code, message.
pub type KucoinError = ExchangeError<Kucoin>;

impl KucoinError {
    fn missing_header() -> KucoinError {
        KucoinError::unauthorized(
            "400001",
            "Please check the header of your request for KC-API-KEY, KC-API-SIGN, \
             KC-API-TIMESTAMP, KC-API-PASSPHRASE",
        )
    }

    fn unknown_key() -> KucoinError {
        KucoinError::unauthorized("400003", "KC-API-KEY not exists")
    }

    fn bad_timestamp() -> KucoinError {
        KucoinError::unauthorized("400002", "KC-API-TIMESTAMP Invalid")
    }

    fn bad_passphrase() -> KucoinError {
        KucoinError::unauthorized("400004", "Invalid KC-API-PASSPHRASE")
    }

    fn bad_signature() -> KucoinError {
        KucoinError::unauthorized("400005", "Invalid KC-API-SIGN")
    }

    fn ip_refused(ip: &str) -> KucoinError {
        KucoinError::new(
            StatusCode::FORBIDDEN,
            "400006",
            format!("Invalid request ip, the current clientIp is: {ip}"),
        )
    }

    fn no_permission() -> KucoinError {
        KucoinError::new(
            StatusCode::FORBIDDEN,
            "400007",
            "Access denied, require more permission.",
        )
    }

    fn maintenance() -> KucoinError {
        KucoinError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "500000",
            "Service unavailable, the system is under maintenance.",
        )
    }

    fn not_found() -> KucoinError {
        KucoinError::new(StatusCode::NOT_FOUND, "404000", "Url Not Found")
    }

    /// KuCoin's internal error, as the body of an HTTP 200 (`error_body_200`).
    fn internal() -> KucoinError {
        KucoinError::new(StatusCode::OK, "500000", "Internal Server Error")
    }
}

impl ErrorBody for Kucoin {
    type Code = &'static str;

    fn reply(error: KucoinError) -> Response {
        json_reply(error.status, json!({"code": error.code, "msg": error.msg}))
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v1/timestamp", get(timestamp))
        .route("/api/v1/status", get(status))
        .route("/api/v1/user/api-key", get(signed::<Kucoin>))
        .route("/api/v1/accounts", get(signed::<Kucoin>))
        .route("/api/v1/account-overview", get(signed::<Kucoin>))
        .route("/api/v1/deposit-addresses", post(signed::<Kucoin>))
        .fallback(|| async { KucoinError::not_found() })
        .with_state(state)
}

fn ok(data: Value) -> Response {
    json_reply(StatusCode::OK, json!({"code": "200000", "data": data}))
}

async fn timestamp(State(state): State<Arc<SimState>>) -> Response {
    ok(json!(state.server_time_ms(KIND, None)))
}

async fn status(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        ok(json!({"status": "close", "msg": "System maintenance in progress"}))
    } else {
        ok(json!({"status": "open", "msg": ""}))
    }
}

/// The masked whitelist KuCoin shows: first and last octet, `**` between (`127.**.1`).
fn masked(ip: &str) -> String {
    let parts: Vec<&str> = ip.split('.').collect();
    if parts.len() == 4 {
        format!("{}.**.{}", parts[0], parts[3])
    } else {
        "**".to_string()
    }
}

/// One signed endpoint, answered for a verified key playing its scenario.
fn answer(key: &SimKey, uri: &Uri, client_ip: &str) -> Result<Value, KucoinError> {
    match key.scenario {
        Scenario::IpNotWhitelisted => return Err(KucoinError::ip_refused(client_ip)),
        Scenario::Maintenance => return Err(KucoinError::maintenance()),
        Scenario::ErrorBody200 => return Err(KucoinError::internal()),
        _ => {}
    }
    let grants = key.scenario.grants();
    match uri.path() {
        "/api/v1/user/api-key" => {
            if !grants.read {
                return Err(KucoinError::no_permission());
            }
            let mut permissions = vec![];
            for (granted, name) in [
                (grants.read, "General"),
                (grants.trade, "Spot"),
                (grants.futures, "Futures"),
                (grants.withdraw, "Transfer"),
            ] {
                if granted {
                    permissions.push(name);
                }
            }
            let mut data = json!({
                "remark": "keywarden-sim",
                "apiKey": key.api_key,
                "apiVersion": 3,
                "permission": permissions.join(","),
                "createdAt": 1_728_443_843_000_i64,
                "uid": 165_111_215,
                "isMaster": true,
            });
            if grants.ip_bound {
                data["ipWhitelist"] = json!(masked(client_ip));
            }
            Ok(data)
        }
        "/api/v1/accounts" => {
            if !grants.read {
                return Err(KucoinError::no_permission());
            }
            Ok(json!([
                {"id": "548674591753", "currency": "USDT", "type": "trade",
                 "balance": "26.66759503", "available": "26.66759503", "holds": "0"},
                {"id": "63355cd156298d0001b66e61", "currency": "USDT", "type": "main",
                 "balance": "0.01", "available": "0.01", "holds": "0"}
            ]))
        }
        "/api/v1/account-overview" => {
            if !grants.futures {
                return Err(KucoinError::no_permission());
            }
            let currency = query_param(uri, "currency").unwrap_or("XBT");
            Ok(json!({
                "accountEquity": 394.439280806, "unrealisedPNL": 20.15278,
                "marginBalance": 371.394298816, "positionMargin": 102.20664159,
                "orderMargin": 10.06002012, "frozenFunds": 0.0,
                "availableBalance": 290.326799096, "currency": currency,
                "riskRatio": 0.0065289525, "maxWithdrawAmount": 290.326419096
            }))
        }
        "/api/v1/deposit-addresses" => {
            if !grants.withdraw {
                return Err(KucoinError::no_permission());
            }
            Ok(
                json!({"address": "bc1qsimulatoraddress0000000000000000", "memo": "", "chain": "BTC"}),
            )
        }
        _ => Err(KucoinError::not_found()),
    }
}

/// KuCoin's signed API (spot and futures alike).
pub struct Kucoin;

impl SignedApi for Kucoin {
    const KIND: ExchangeKind = KIND;
    type Refusal = KucoinError;

    /// The key in `KC-API-KEY`, or KuCoin's one missing-header error when any auth header is
    /// absent.
    fn api_key(request: &SignedRequest) -> Result<String, KucoinError> {
        let also_required = ["KC-API-SIGN", "KC-API-TIMESTAMP", "KC-API-PASSPHRASE"];
        request.key_in_header("KC-API-KEY", &also_required, KucoinError::missing_header)
    }

    fn unknown_key(_: &SignedRequest) -> KucoinError {
        KucoinError::unknown_key()
    }

    /// Verifies a signed request for `key` exactly as KuCoin does: timestamp window against
    /// `server_now_ms`, passphrase (HMAC'd, key version 2 or 3), then the signature over
    /// timestamp + METHOD + path + `?query` as received + raw body.
    fn verify(
        key: &SimKey,
        server_now_ms: i64,
        request: &SignedRequest,
    ) -> Result<(), KucoinError> {
        let ts_text = request.header("KC-API-TIMESTAMP").unwrap_or_default();
        let ts: i64 = ts_text.parse().map_err(|_| KucoinError::bad_timestamp())?;
        if (ts - server_now_ms).abs() >= WINDOW_MS {
            return Err(KucoinError::bad_timestamp());
        }

        // Version 2 and 3 keys send the passphrase HMAC'd with the secret; the simulator's keys are
        // all such keys, so a missing or other version (a plaintext passphrase) is refused.
        let version = request.header("KC-API-KEY-VERSION").unwrap_or("");
        let sent = request.header("KC-API-PASSPHRASE").unwrap_or_default();
        let expected = hmac_base64(
            &key.api_secret,
            key.passphrase.as_deref().unwrap_or("").as_bytes(),
        );
        if !matches!(version, "2" | "3") || sent != expected {
            return Err(KucoinError::bad_passphrase());
        }

        let expected = timestamp_method_path_body_sign(&key.api_secret, ts_text, request);
        if request.header("KC-API-SIGN") != Some(expected.as_str()) {
            return Err(KucoinError::bad_signature());
        }
        Ok(())
    }

    /// KuCoin's signed endpoints do not look at exchange-wide maintenance: `/api/v1/status`
    /// reports it.
    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        None
    }

    fn rate_limited(_: &Verified) -> Response {
        let mut response = with_retry_after(json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": "429000", "msg": "Too many requests in a short period of time, please retry later."}),
        ));
        let h = response.headers_mut();
        h.insert("gw-ratelimit-limit", HeaderValue::from_static("2000"));
        h.insert("gw-ratelimit-remaining", HeaderValue::from_static("0"));
        // deliberately not 7 s, so a client that ignores Retry-After is caught
        h.insert("gw-ratelimit-reset", HeaderValue::from_static("6500"));
        response
    }

    fn answer(verified: &Verified) -> Response {
        let request = verified.request;
        answer(verified.key, &request.uri, &request.client_ip)
            .map(ok)
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::pipeline::{header_map, unsigned_changes, verify_as, with_header};
    use crate::sim::refusal::code;
    use axum::http::{HeaderMap, Method};

    const SECRET: &str = "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3";
    const NOW: i64 = 1_700_000_000_000;

    fn key(scenario: Scenario) -> SimKey {
        SimKey {
            exchange: KIND,
            api_key: "6705f5c311545b000157d3eb".into(),
            api_secret: SECRET.into(),
            passphrase: Some("correct horse".into()),
            scenario,
        }
    }

    /// Headers the way kucoin.md §3 says a key-version-2 client builds them, under `secret`:
    /// the sign over timestamp + METHOD + path?query + body, the passphrase HMAC'd (the recipe
    /// `the_official_example_signature_verifies` pins to the docs' worked example).
    fn signed_headers(
        secret: &str,
        ts: i64,
        method: &str,
        path_and_query: &str,
        body: &str,
    ) -> HeaderMap {
        let sign = hmac_base64(
            secret,
            format!("{ts}{method}{path_and_query}{body}").as_bytes(),
        );
        header_map([
            ("KC-API-KEY", "6705f5c311545b000157d3eb".to_string()),
            ("KC-API-SIGN", sign),
            ("KC-API-TIMESTAMP", ts.to_string()),
            ("KC-API-PASSPHRASE", hmac_base64(secret, b"correct horse")),
            ("KC-API-KEY-VERSION", "2".to_string()),
        ])
    }

    fn headers(ts: i64, method: &str, path_and_query: &str, body: &str) -> HeaderMap {
        signed_headers(SECRET, ts, method, path_and_query, body)
    }

    fn check(h: &HeaderMap, method: Method, uri: &str, body: &str) -> Result<(), KucoinError> {
        verify_as::<Kucoin>(&key(Scenario::Valid), NOW, h, method, uri, body)
    }

    #[test]
    fn a_correct_request_passes() {
        let h = headers(NOW, "GET", "/api/v1/accounts?type=trade&currency=USDT", "");
        check(
            &h,
            Method::GET,
            "/api/v1/accounts?type=trade&currency=USDT",
            "",
        )
        .unwrap();
        let body = r#"{"currency":"BTC"}"#;
        let h = headers(NOW, "POST", "/api/v1/deposit-addresses", body);
        check(&h, Method::POST, "/api/v1/deposit-addresses", body).unwrap();
    }

    #[test]
    fn the_official_example_signature_verifies() {
        // docs section 3f: same secret, timestamp, request; the signature is the docs' value
        let body = r#"{"currency":"BTC"}"#;
        let h = headers(1_547_015_186_532, "POST", "/api/v1/deposit-addresses", body);
        assert_eq!(
            h["KC-API-SIGN"],
            "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="
        );
        let h = with_header(
            &headers(1_547_015_186_532, "POST", "/x", ""),
            "KC-API-SIGN",
            "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4=",
        );
        Kucoin::verify(
            &key(Scenario::Valid),
            1_547_015_186_532,
            &SignedRequest::new(
                Method::POST,
                "/api/v1/deposit-addresses",
                h.clone(),
                br#"{"currency":"BTC"}"#,
            ),
        )
        .unwrap();
    }

    #[test]
    fn anything_else_is_refused_with_kucoins_code() {
        let path = "/api/v1/accounts?type=trade&currency=USDT";
        let good = headers(NOW, "GET", path, "");
        // reordered query, other method, other path, a body that was not signed, a prefix that
        // was signed
        for (method, uri, body) in unsigned_changes(path) {
            assert_eq!(
                code(check(&good, method, &uri, body)),
                "400005",
                "{uri} {body}"
            );
        }
        let prefixed = headers(NOW, "GET", &format!("/kucoin{path}"), "");
        assert_eq!(code(check(&prefixed, Method::GET, path, "")), "400005");
        // a tampered signature
        let h = with_header(
            &good,
            "KC-API-SIGN",
            "Gi/XL3iadCgRnIK9XzPe7wtZgMHZInb7c3LUWsHnbHY=",
        );
        assert_eq!(code(check(&h, Method::GET, path, "")), "400005");
        // timestamps at and beyond the window, either side; garbage
        for ts in [NOW - WINDOW_MS, NOW + WINDOW_MS, NOW + 60_000] {
            let h = headers(ts, "GET", path, "");
            assert_eq!(code(check(&h, Method::GET, path, "")), "400002");
        }
        let h = headers(NOW + WINDOW_MS - 1, "GET", path, "");
        check(&h, Method::GET, path, "").unwrap();
        let h = with_header(&good, "KC-API-TIMESTAMP", "soon");
        assert_eq!(code(check(&h, Method::GET, path, "")), "400002");
        // passphrase: plaintext with version 2, no version, version 1, wrong hash
        let h = with_header(&good, "KC-API-PASSPHRASE", "correct horse");
        assert_eq!(code(check(&h, Method::GET, path, "")), "400004");
        for version in [None, Some("1"), Some("4")] {
            let mut h = good.clone();
            match version {
                Some(v) => h.insert("KC-API-KEY-VERSION", HeaderValue::from_static(v)),
                None => h.remove("KC-API-KEY-VERSION"),
            };
            assert_eq!(code(check(&h, Method::GET, path, "")), "400004");
        }
        let h = with_header(&good, "KC-API-KEY-VERSION", "3");
        check(&h, Method::GET, path, "").unwrap();
        // every auth header is required
        for name in [
            "KC-API-KEY",
            "KC-API-SIGN",
            "KC-API-TIMESTAMP",
            "KC-API-PASSPHRASE",
        ] {
            let mut h = good.clone();
            h.remove(name);
            let err = check(&h, Method::GET, path, "").unwrap_err();
            assert_eq!((err.code, err.status), ("400001", StatusCode::UNAUTHORIZED));
        }
    }

    #[test]
    fn a_wrong_secret_fails_the_passphrase_and_the_signature() {
        let h = signed_headers("not-the-secret", NOW, "GET", "/api/v1/accounts", "");
        assert!(check(&h, Method::GET, "/api/v1/accounts", "").is_err());
        let mut good = headers(NOW, "GET", "/api/v1/accounts", "");
        good.insert("KC-API-SIGN", h.get("KC-API-SIGN").unwrap().clone());
        assert_eq!(
            code(check(&good, Method::GET, "/api/v1/accounts", "")),
            "400005"
        );
    }

    fn data(scenario: Scenario, path: &str) -> Result<Value, KucoinError> {
        answer(&key(scenario), &path.parse().unwrap(), "127.0.0.1")
    }

    #[test]
    fn introspection_lists_exactly_the_granted_rights() {
        let cases = [
            (Scenario::Valid, "General,Spot,Futures", true),
            (
                Scenario::WithdrawEnabled,
                "General,Spot,Futures,Transfer",
                true,
            ),
            (Scenario::FuturesMissing, "General,Spot", true),
            (Scenario::TradeMissing, "General,Futures", true),
            (Scenario::ReadOnly, "General", true),
            (Scenario::NoIpWhitelist, "General,Spot,Futures", false),
        ];
        for (scenario, permission, bound) in cases {
            let d = data(scenario, "/api/v1/user/api-key").unwrap();
            assert_eq!(d["permission"], permission, "{scenario:?}");
            assert_eq!(d.get("ipWhitelist").is_some(), bound, "{scenario:?}");
            if bound {
                assert_eq!(d["ipWhitelist"], "127.**.1");
            }
        }
    }

    #[test]
    fn scenarios_refuse_the_way_kucoin_does() {
        let e = data(Scenario::IpNotWhitelisted, "/api/v1/accounts").unwrap_err();
        assert_eq!((e.code, e.status), ("400006", StatusCode::FORBIDDEN));
        assert!(e.msg.ends_with("clientIp is: 127.0.0.1"));
        let e = data(Scenario::Maintenance, "/api/v1/user/api-key").unwrap_err();
        assert_eq!(
            (e.code, e.status),
            ("500000", StatusCode::SERVICE_UNAVAILABLE)
        );
        let e = data(Scenario::FuturesMissing, "/api/v1/account-overview").unwrap_err();
        assert_eq!((e.code, e.status), ("400007", StatusCode::FORBIDDEN));
        assert!(data(Scenario::Valid, "/api/v1/account-overview").is_ok());
        assert_eq!(
            data(Scenario::Valid, "/api/v1/deposit-addresses")
                .unwrap_err()
                .code,
            "400007"
        );
        assert!(data(Scenario::WithdrawEnabled, "/api/v1/deposit-addresses").is_ok());
    }
}
