//! The Gate simulator: the public time, the account and key endpoints, the spot balances and
//! the USDT-settled futures account, all under `/api/v4` on one router (Gate serves every
//! product from one host).
//!
//! Signed requests are verified the way Gate does (shared/docs/exchanges/gate.md §2): `KEY`,
//! `SIGN` and `Timestamp` must be there, the key must exist, the `Timestamp` (seconds, fractions
//! allowed, hashed verbatim) must be at most 60 s from the server clock, and `SIGN` must be the
//! lowercase hex HMAC-SHA512 over METHOD, path, raw query (as received, in the order received),
//! hex SHA-512 of the raw body, and the `Timestamp` header, joined by `\n`. The HMAC is computed
//! here from the raw request, independently of the client's signing code.
//!
//! Refusals use Gate's `{"label", "message"}` body. Authentication failures are HTTP 401 (the
//! docs promise 401 for them); `FORBIDDEN` is sent with 403 ([uncertain]: 401 has been seen too,
//! and the probe keys on the label).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha512};

use super::mac::hmac_sha512_hex;
use super::pipeline::{signed, SignedApi, SignedRequest, Verified};
use super::refusal::{ErrorBody, ExchangeError};
use super::scenario::Grants;
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Gate;

/// Gate refuses a `Timestamp` more than this far from its clock (gate.md §2: "the server rejects
/// a `Timestamp` more than **60 s** away from server time").
const WINDOW_MS: i64 = 60_000;

/// Days left on an unbound key playing `no_ip_whitelist` (Gate: unbound keys live 90 days).
pub const UNBOUND_REMAINING_DAYS: i64 = 5;

/// When the simulator's keys were created (seconds), unless they play `no_ip_whitelist`.
const CREATED_AT: i64 = 1_700_000_000;

const USER_ID: i64 = 10_406_147;

/// A Gate error: HTTP status, label (its `code`), message.
pub type GateError = ExchangeError<Gate>;

impl GateError {
    fn missing_header() -> GateError {
        GateError::unauthorized(
            "MISSING_REQUIRED_HEADER",
            "Missing required header: KEY, SIGN or Timestamp",
        )
    }

    fn invalid_key() -> GateError {
        GateError::unauthorized("INVALID_KEY", "Invalid key provided")
    }

    fn bad_signature() -> GateError {
        GateError::unauthorized("INVALID_SIGNATURE", "Signature mismatch")
    }

    fn expired() -> GateError {
        GateError::unauthorized(
            "REQUEST_EXPIRED",
            "gap between request Timestamp and server time exceeds 60",
        )
    }

    fn ip_refused(ip: &str) -> GateError {
        GateError::unauthorized("IP_FORBIDDEN", format!("Request IP not in whitelist: {ip}"))
    }

    fn not_found() -> GateError {
        GateError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "Not found")
    }

    fn forbidden() -> GateError {
        GateError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "Account has no permission to request operation",
        )
    }

    /// Gate has no maintenance body of its own on record; a 503 with a server label is what
    /// its docs and ccxt describe for maintenance and overload.
    fn maintenance() -> GateError {
        GateError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_ERROR",
            "System under maintenance, please try again later",
        )
    }
}

impl ErrorBody for Gate {
    type Code = &'static str;

    fn reply(error: GateError) -> Response {
        json_reply(
            error.status,
            json!({"label": error.code, "message": error.msg}),
        )
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v4/spot/time", get(time))
        .route("/api/v4/account/detail", get(signed::<Gate>))
        .route("/api/v4/account/main_keys", get(signed::<Gate>))
        .route("/api/v4/spot/accounts", get(signed::<Gate>))
        .route("/api/v4/futures/usdt/accounts", get(signed::<Gate>))
        .fallback(|| async { GateError::not_found() })
        .with_state(state)
}

async fn time(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        return GateError::maintenance().into_response();
    }
    json_reply(
        StatusCode::OK,
        json!({"server_time": state.server_time_ms(KIND, None)}),
    )
}

/// Gate's `SIGN`: HMAC-SHA512 hex over the five fields joined by `\n` (gate.md §3: method, path
/// with `/api/v4`, the raw query, the SHA-512 hex of the body, the `Timestamp` header as sent).
pub fn sign(
    secret: &str,
    method: &str,
    path: &str,
    query: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let body_hash = hex::encode(Sha512::digest(body));
    let signed = format!("{method}\n{path}\n{query}\n{body_hash}\n{timestamp}");
    hmac_sha512_hex(secret, signed.as_bytes())
}

/// The `perms` list of a key with `grants`: exactly the granted groups.
///
/// The withdrawal group's name in this list is not documented ([uncertain]; the SDK's enum has
/// none); the simulator calls it `withdrawal`, the docs' name for the group, and lists it only
/// for keys that may withdraw, so a client that cannot see it reports the right unknown.
pub fn perms(grants: Grants) -> Vec<Value> {
    let mut perms = Vec::new();
    if grants.spot_read || grants.trade {
        perms.push(json!({"name": "spot", "read_only": !grants.trade}));
    }
    if grants.futures {
        perms.push(json!({"name": "futures", "read_only": false}));
    }
    if grants.read {
        perms.push(json!({"name": "wallet", "read_only": true}));
        perms.push(json!({"name": "account", "read_only": true}));
    }
    if grants.withdraw {
        perms.push(json!({"name": "withdrawal", "read_only": false}));
    }
    perms
}

/// How many leading characters of a key Gate leaves visible in a key list.
pub const MASK_VISIBLE: usize = 12;

/// A key as Gate's key list shows it: its first [`MASK_VISIBLE`] characters, then `*****`.
pub fn masked(api_key: &str) -> String {
    let head: String = api_key.chars().take(MASK_VISIBLE).collect();
    format!("{head}*****")
}

/// Another key of the same account: `api_key` with its character at `position` (within the
/// visible head) changed, so its masked form differs from `api_key`'s.
fn sibling_key(api_key: &str, position: usize) -> String {
    api_key
        .chars()
        .enumerate()
        .map(|(i, c)| match (i == position, c) {
            (false, c) => c,
            (true, '0') => '1',
            (true, _) => '0',
        })
        .collect()
}

/// One signed endpoint, answered for a verified key playing its scenario.
fn answer(key: &SimKey, path: &str, client_ip: &str, now_ms: i64) -> Result<Value, GateError> {
    // An IP outside the whitelist is refused before any permission check (doc §8).
    match key.scenario {
        Scenario::IpNotWhitelisted => return Err(GateError::ip_refused(client_ip)),
        Scenario::Maintenance => return Err(GateError::maintenance()),
        // gate.md §6: label INTERNAL (a server error), here in an HTTP 200.
        Scenario::ErrorBody200 => {
            return Err(GateError::new(
                StatusCode::OK,
                "INTERNAL",
                "Internal server error",
            ))
        }
        _ => {}
    }
    let grants = key.scenario.grants();
    let whitelist: Vec<&str> = if grants.ip_bound {
        vec![client_ip]
    } else {
        vec![]
    };
    match path {
        "/api/v4/account/detail" => Ok(json!({
            "user_id": USER_ID,
            "ip_whitelist": whitelist,
            "currency_pairs": [],
            "key": {"mode": 1},
            "tier": 0,
            "tier_expire_time": "0001-01-01T00:00:00Z",
            "copy_trading_role": 0
        })),
        "/api/v4/account/main_keys" => {
            // Unbound keys are valid 90 days from creation: make this one 85 days old.
            let created = if grants.ip_bound {
                CREATED_AT
            } else {
                now_ms / 1000 - (90 - UNBOUND_REMAINING_DAYS) * 86_400
            };
            // One object, as both official SDKs declare; timestamps as strings (python SDK).
            let entry = |name: String, shown_key: Value, perms: Vec<Value>| {
                json!({
                    "state": 1,
                    "mode": 1,
                    "name": [name],
                    "currency_pairs": [],
                    "user_id": USER_ID,
                    "ip_whitelist": whitelist,
                    "perms": perms,
                    "key": shown_key,
                    "created_at": created.to_string(),
                    "updated_at": created.to_string(),
                    "last_access": (now_ms / 1000).to_string()
                })
            };
            let own_name = format!("sim {}", key.scenario.name());
            if key.scenario != Scenario::MaskedSiblingKeys {
                return Ok(entry(own_name, json!({"mode": 1}), perms(grants)));
            }
            // An account with three keys, each shown masked as Gate shows keys (issue 18:
            // `"c5dcfbf1f3a7*****"`): the siblings' heads differ from this key's, and their
            // rights differ from its (one can withdraw, one only reads), so a client that takes
            // the wrong entry reports the wrong rights.
            let withdrawing = Grants {
                withdraw: true,
                ..grants
            };
            let reading = Scenario::ReadOnly.grants();
            Ok(json!([
                entry(
                    "sim sibling withdraw".into(),
                    json!(masked(&sibling_key(&key.api_key, 0))),
                    perms(withdrawing)
                ),
                entry(own_name, json!(masked(&key.api_key)), perms(grants)),
                entry(
                    "sim sibling read-only".into(),
                    json!(masked(&sibling_key(&key.api_key, 1))),
                    perms(reading)
                ),
            ]))
        }
        "/api/v4/spot/accounts" => {
            if !grants.spot_read {
                return Err(GateError::forbidden());
            }
            Ok(json!([
                {"currency": "USDT", "available": "125.50", "locked": "0"},
                {"currency": "BTC", "available": "0.0012", "locked": "0.0003"}
            ]))
        }
        "/api/v4/futures/usdt/accounts" => {
            if !grants.futures {
                return Err(GateError::forbidden());
            }
            Ok(json!({
                "user": USER_ID, "currency": "USDT", "total": "9707.803567115145",
                "unrealised_pnl": "3371.248828", "position_margin": "38.712189181",
                "order_margin": "0", "available": "9669.091377934145",
                "point": "0", "bonus": "0", "in_dual_mode": false
            }))
        }
        _ => Err(GateError::not_found()),
    }
}

/// Gate's v4 signed API.
pub struct Gate;

impl SignedApi for Gate {
    const KIND: ExchangeKind = KIND;
    type Refusal = GateError;

    /// The key in `KEY`, or Gate's one missing-header error when any auth header is absent.
    fn api_key(request: &SignedRequest) -> Result<String, GateError> {
        request.key_in_header("KEY", &["SIGN", "Timestamp"], GateError::missing_header)
    }

    fn unknown_key(_: &SignedRequest) -> GateError {
        GateError::invalid_key()
    }

    /// Verifies a signed request for `key` as Gate does: the `Timestamp` window against
    /// `server_now_ms`, then `SIGN` over the five fields built from the raw request.
    fn verify(key: &SimKey, server_now_ms: i64, request: &SignedRequest) -> Result<(), GateError> {
        let (method, uri, body) = request.parts();
        let timestamp = request.header("Timestamp").unwrap_or_default();
        // Seconds; the docs' own example sends a float (`time.time()`), so fractions are accepted.
        let seconds: f64 = timestamp.trim().parse().map_err(|_| GateError::expired())?;
        if !seconds.is_finite()
            || (server_now_ms as f64 - seconds * 1000.0).abs() > WINDOW_MS as f64
        {
            return Err(GateError::expired());
        }

        let expected = sign(
            &key.api_secret,
            method.as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            body,
            timestamp,
        );
        // Gate's behaviour on upper-case hex is undocumented; an exact comparison refuses it.
        if request.header("SIGN") != Some(expected.as_str()) {
            return Err(GateError::bad_signature());
        }
        Ok(())
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(GateError::maintenance().into_response())
    }

    fn rate_limited(verified: &Verified) -> Response {
        let mut response = with_retry_after(GateError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Request Rate limit Exceeded",
        ));
        let reset = verified.server_ms / 1000 + 10;
        let h = response.headers_mut();
        h.insert("x-gate-ratelimit-limit", HeaderValue::from_static("150"));
        h.insert(
            "x-gate-ratelimit-requests-remain",
            HeaderValue::from_static("0"),
        );
        // Deliberately not 7 s away, so a client that ignores Retry-After is caught.
        h.insert("x-gate-ratelimit-reset-timestamp", HeaderValue::from(reset));
        response
    }

    fn answer(verified: &Verified) -> Response {
        let request = verified.request;
        answer(
            verified.key,
            request.path(),
            &request.client_ip,
            verified.server_ms,
        )
        .map(axum::Json)
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::pipeline::{header_map, unsigned_changes, verify_as, with_header};
    use crate::sim::refusal::code;
    use axum::http::{HeaderMap, Method};

    /// gate.md §2: the `Timestamp` header is Unix seconds.
    fn timestamp_header(ms: i64) -> String {
        ms.div_euclid(1000).to_string()
    }

    const SECRET: &str = SimKey::TEST_SECRET;
    const NOW: i64 = 1_700_000_000_000;

    fn key(scenario: Scenario) -> SimKey {
        SimKey::for_tests(KIND, scenario)
    }

    /// Headers the way gate.md §3 says a client builds them, signed by the simulator's own
    /// [`sign`] (which `the_worked_examples_verify` holds to the docs' examples).
    fn headers(ts: &str, method: &str, path: &str, query: &str, body: &str) -> HeaderMap {
        let sign = sign(SECRET, method, path, query, body.as_bytes(), ts);
        header_map([
            ("KEY", SimKey::TEST_KEY),
            ("Timestamp", ts),
            ("SIGN", sign.as_str()),
        ])
    }

    fn check(
        h: &HeaderMap,
        method: Method,
        uri: &str,
        body: &str,
        now: i64,
    ) -> Result<(), GateError> {
        verify_as::<Gate>(&key(Scenario::Valid), now, h, method, uri, body)
    }

    /// [`check`] of a GET of `uri` without a body, the request most of these tests send.
    fn check_get(h: &HeaderMap, uri: &str, now: i64) -> Result<(), GateError> {
        check(h, Method::GET, uri, "", now)
    }

    #[test]
    fn the_worked_examples_verify() {
        // §3a as Gate receives it.
        let h = header_map([
            ("KEY", "testkey"),
            ("Timestamp", "1700000000"),
            (
                "SIGN",
                "36948941e0e3da66275b97186e291a6b05c438404ccc26f1f78e28d8b2cb5842\
                 d69950586c2ebb4fc5a1a0bdd57d1351df5c09610768032df7001acd02652656",
            ),
        ]);
        check_get(&h, "/api/v4/account/detail", NOW).unwrap();
        let ours = headers("1700000000", "GET", "/api/v4/account/detail", "", "");
        assert_eq!(ours["SIGN"], h["SIGN"]);
        // §3c, the official POST, with the docs' key and secret.
        let body = r#"{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}"#;
        let sim_key = SimKey {
            api_key: "key".into(),
            api_secret: "secret".into(),
            ..key(Scenario::Valid)
        };
        let h = header_map([
            ("KEY", "key"),
            ("Timestamp", "1541993715"),
            (
                "SIGN",
                "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f\
                 c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0",
            ),
        ]);
        Gate::verify(
            &sim_key,
            1_541_993_715_000,
            &SignedRequest::new(
                Method::POST,
                "/api/v4/futures/orders",
                h.clone(),
                body.as_bytes(),
            ),
        )
        .unwrap();
    }

    #[test]
    fn anything_else_is_refused_with_gates_label() {
        let ts = timestamp_header(NOW);
        let path = "/api/v4/spot/accounts";
        let good = headers(&ts, "GET", path, "currency=USDT&limit=1", "");
        let uri = "/api/v4/spot/accounts?currency=USDT&limit=1";
        check_get(&good, uri, NOW).unwrap();
        // reordered or tampered query, other method, other path, an unsigned body
        let tampered = [
            "/api/v4/spot/accounts?currency=BTC&limit=1",
            "/api/v4/spot/accounts?currency=USDT%2C&limit=1",
        ]
        .map(|uri| (Method::GET, uri.to_string(), ""));
        for (method, uri, body) in unsigned_changes(uri).into_iter().chain(tampered) {
            assert_eq!(
                code(check(&good, method.clone(), &uri, body, NOW)),
                "INVALID_SIGNATURE",
                "{method} {uri} {body}"
            );
        }
        // a signed path without /api/v4, or with a proxy prefix
        for signed_path in ["/spot/accounts", "/gate/api/v4/spot/accounts"] {
            let h = headers(&ts, "GET", signed_path, "", "");
            assert_eq!(code(check_get(&h, path, NOW)), "INVALID_SIGNATURE");
        }
        // upper-case hex
        let mut h = headers(&ts, "GET", path, "", "");
        let upper = h["SIGN"].to_str().unwrap().to_uppercase();
        h.insert("SIGN", HeaderValue::from_str(&upper).unwrap());
        assert_eq!(code(check_get(&h, path, NOW)), "INVALID_SIGNATURE");
        // a wrong secret
        let wrong = sign("othersecret", "GET", path, "", b"", &ts);
        let h = with_header(&headers(&ts, "GET", path, "", ""), "SIGN", &wrong);
        assert_eq!(code(check_get(&h, path, NOW)), "INVALID_SIGNATURE");
    }

    #[test]
    fn the_timestamp_window_is_60_seconds_either_side_and_hashed_verbatim() {
        let path = "/api/v4/account/detail";
        let h = headers("1700000000", "GET", path, "", "");
        check_get(&h, path, NOW + 60_000).unwrap();
        check_get(&h, path, NOW - 60_000).unwrap();
        assert_eq!(code(check_get(&h, path, NOW + 60_001)), "REQUEST_EXPIRED");
        assert_eq!(code(check_get(&h, path, NOW - 60_001)), "REQUEST_EXPIRED");
        // milliseconds instead of seconds (pitfall 2)
        let h = headers("1700000000000", "GET", path, "", "");
        assert_eq!(code(check_get(&h, path, NOW)), "REQUEST_EXPIRED");
        // a fractional timestamp is accepted, and signed as sent
        let h = headers("1700000000.123456", "GET", path, "", "");
        check_get(&h, path, NOW).unwrap();
        let mut h = headers("1700000000.5", "GET", path, "", "");
        h.insert("Timestamp", HeaderValue::from_static("1700000000.50"));
        assert_eq!(code(check_get(&h, path, NOW)), "INVALID_SIGNATURE");
        let mut h = headers("1700000000", "GET", path, "", "");
        h.insert("Timestamp", HeaderValue::from_static("soon"));
        assert_eq!(code(check_get(&h, path, NOW)), "REQUEST_EXPIRED");
    }

    #[test]
    fn every_auth_header_is_required() {
        let path = "/api/v4/account/detail";
        let good = headers("1700000000", "GET", path, "", "");
        for name in ["KEY", "SIGN", "Timestamp"] {
            let mut h = good.clone();
            h.remove(name);
            let e = check_get(&h, path, NOW).unwrap_err();
            assert_eq!(
                (e.code, e.status),
                ("MISSING_REQUIRED_HEADER", StatusCode::UNAUTHORIZED)
            );
        }
    }

    fn data(scenario: Scenario, path: &str) -> Result<Value, GateError> {
        answer(&key(scenario), path, "127.0.0.1", NOW)
    }

    fn perm_names(scenario: Scenario) -> Vec<String> {
        data(scenario, "/api/v4/account/main_keys").unwrap()["perms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                format!(
                    "{}:{}",
                    p["name"].as_str().unwrap(),
                    if p["read_only"] == true { "r" } else { "rw" }
                )
            })
            .collect()
    }

    #[test]
    fn main_keys_lists_exactly_the_granted_rights() {
        assert_eq!(
            perm_names(Scenario::Valid),
            ["spot:rw", "futures:rw", "wallet:r", "account:r"]
        );
        assert_eq!(
            perm_names(Scenario::WithdrawEnabled),
            [
                "spot:rw",
                "futures:rw",
                "wallet:r",
                "account:r",
                "withdrawal:rw"
            ]
        );
        assert_eq!(
            perm_names(Scenario::FuturesMissing),
            ["spot:rw", "wallet:r", "account:r"]
        );
        assert_eq!(
            perm_names(Scenario::TradeMissing),
            ["spot:r", "futures:rw", "wallet:r", "account:r"]
        );
        assert_eq!(
            perm_names(Scenario::ReadOnly),
            ["spot:r", "wallet:r", "account:r"]
        );
        for (scenario, bound) in [(Scenario::Valid, true), (Scenario::NoIpWhitelist, false)] {
            for path in ["/api/v4/account/main_keys", "/api/v4/account/detail"] {
                let list = data(scenario, path).unwrap()["ip_whitelist"].clone();
                assert_eq!(
                    list.as_array().unwrap().is_empty(),
                    !bound,
                    "{scenario:?} {path}"
                );
            }
        }
        let unbound = data(Scenario::NoIpWhitelist, "/api/v4/account/main_keys").unwrap();
        let created: i64 = unbound["created_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(NOW / 1000 - created, 85 * 86_400);
    }

    #[test]
    fn scenarios_refuse_the_way_gate_does() {
        let e = data(Scenario::IpNotWhitelisted, "/api/v4/account/detail").unwrap_err();
        assert_eq!(
            (e.code, e.status),
            ("IP_FORBIDDEN", StatusCode::UNAUTHORIZED)
        );
        assert!(e.msg.ends_with("whitelist: 127.0.0.1"));
        let e = data(Scenario::Maintenance, "/api/v4/spot/accounts").unwrap_err();
        assert_eq!(
            (e.code, e.status),
            ("SERVER_ERROR", StatusCode::SERVICE_UNAVAILABLE)
        );
        let e = data(Scenario::FuturesMissing, "/api/v4/futures/usdt/accounts").unwrap_err();
        assert_eq!((e.code, e.status), ("FORBIDDEN", StatusCode::FORBIDDEN));
        assert!(data(Scenario::Valid, "/api/v4/futures/usdt/accounts").is_ok());
        assert!(data(Scenario::ReadOnly, "/api/v4/spot/accounts").is_ok());
    }
}
