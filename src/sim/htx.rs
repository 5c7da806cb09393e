//! The HTX simulator: the spot/account host's endpoints and the USDT-M swap host's endpoints on
//! one router (their paths do not clash).
//!
//! Signed requests are verified the way HTX describes it (shared/docs/exchanges/htx.md §2):
//! the access key must exist; `SignatureMethod` must be `HmacSHA256` and `SignatureVersion` `2`;
//! `Timestamp` must be UTC `%Y-%m-%dT%H:%M:%S` within the window of the exchange's clock; and
//! the signature must be base64(HMAC-SHA256(secret, METHOD \n host \n path \n canonical query)),
//! where the canonical query is rebuilt here from the raw query as received: every parameter
//! but `Signature`, form-decoded, re-encoded (upper-case hex, RFC 3986 unreserved kept), sorted
//! by name. The host is the `Host` header without its port; the path is the one this router
//! sees (the `/htx` prefix stripped, as a proxy would). The HMAC is computed here, independently
//! of the client's signing code. HTX signs neither headers nor GET bodies, and has no passphrase.
//!
//! Error bodies: the spot v1 shape (`status`/`err-code`/`err-msg`, HTTP 200) as quoted in the
//! facts file; v2 endpoints answer `code`/`message` (signature failures are code 1003 there; the
//! docs quote only `invalid signature`, so carrying v1's reason text in `message` is an
//! assumption [uncertain]); the swap host answers `err_code` 403 with the reason text, as in the
//! real bodies quoted in htx.md §6, and its v3 endpoint `code`/`msg`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::mac::hmac_base64;
use super::pipeline::{signed, SignedApi, SignedRequest, Verified};
use super::scenario::Grants;
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

/// The `Timestamp` window the simulator enforces. htx.md §2 (the official spot docs,
/// "Authentication"): "requests whose `Timestamp` differs from server time by more than **5
/// minutes** are rejected". A key playing `clock_skew` runs further off here than at the others
/// (`scenario::clock_skew_ms`), so it is refused as at the others.
pub const WINDOW_MS: i64 = 300_000;

const KIND: ExchangeKind = ExchangeKind::Htx;

/// `validDays` of a key playing `no_ip_whitelist` (HTX keys without an IP binding expire;
/// third-party guides say after 90 days).
pub const UNBOUND_VALID_DAYS: i64 = 5;
/// The spot account id the simulator lists (the docs' example).
pub const SPOT_ACCOUNT_ID: i64 = 100009;

/// Which API family a path belongs to: it decides the error envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `/v1/...` on the spot host.
    V1,
    /// `/v2/...` on the spot host.
    V2,
    /// The swap host (`/linear-swap-api/...`).
    Swap,
}

impl Api {
    fn of(path: &str) -> Api {
        if path.starts_with("/v2/") {
            Api::V2
        } else if path.starts_with("/v1/") {
            Api::V1
        } else {
            Api::Swap
        }
    }
}

/// Why HTX refuses a signed request: the reasons its auth layer names (htx.md §6 and the swap
/// docs' 12001..12011 table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownKey,
    Verification,
    BadTime,
    TimeRequired,
    SignatureVersion,
    SignatureMethod,
    Ip(String),
    NoPermission,
}

impl Refusal {
    /// The reason text, English then Chinese, as HTX writes it (without v1's prefix).
    pub fn reason(&self) -> String {
        match self {
            Refusal::UnknownKey => "Incorrect Access key [Access key错误]".to_string(),
            Refusal::Verification => "Verification failure [校验失败]".to_string(),
            Refusal::BadTime => "Invalid submission time or incorrect time format \
                                 [无效的提交时间，或时间格式错误]"
                .to_string(),
            Refusal::TimeRequired => "Submission time is required [提交时间不能为空]".to_string(),
            Refusal::SignatureVersion => "Incorrect signature version [错误的签名版本]".to_string(),
            Refusal::SignatureMethod => "Incorrect signature method [错误的签名方法]".to_string(),
            Refusal::Ip(ip) => format!("Incorrect IP address [IP地址错误]:{ip}"),
            Refusal::NoPermission => "API key has no permission [API Key没有权限]".to_string(),
        }
    }

    /// The body HTX answers (always HTTP 200).
    pub fn body(&self, api: Api, now_ms: i64) -> Value {
        match api {
            Api::V1 => json!({
                "status": "error",
                "err-code": "api-signature-not-valid",
                "err-msg": format!("Signature not valid: {}", self.reason()),
                "data": null,
            }),
            Api::V2 => json!({
                "code": 1003,
                "message": format!("Signature not valid: {}", self.reason()),
            }),
            Api::Swap => json!({
                "status": "error",
                "err_code": 403,
                "err_msg": self.reason(),
                "ts": now_ms,
            }),
        }
    }

    fn into_response(self, api: Api) -> Response {
        json_reply(StatusCode::OK, self.body(api, crate::exchange::now_ms()))
    }
}

/// HTX's maintenance answer (a gateway answer, the same on every path [uncertain]).
fn maintenance_reply() -> Response {
    json_reply(
        StatusCode::OK,
        json!({"status": "error", "err-code": "system-maintenance",
               "err-msg": "System is in maintenance!", "data": null}),
    )
}

/// HTX's internal error, HTTP 200 as all its errors: the gateway's `gateway-internal-error`
/// (htx.md §6) on the spot host, the swap API's 1000 "System error" on the swap host.
fn internal_error_reply(api: Api, now_ms: i64) -> Response {
    let body = match api {
        Api::V1 | Api::V2 => json!({"status": "error", "err-code": "gateway-internal-error",
                                    "err-msg": "Failed to load data. Try again later.",
                                    "data": null}),
        Api::Swap => json!({"status": "error", "err_code": 1000, "err_msg": "System error.",
                            "ts": now_ms}),
    };
    json_reply(StatusCode::OK, body)
}

fn rate_limited_reply() -> Response {
    with_retry_after(json_reply(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"status": "error", "err-code": "base-request-exceed-frequency-limit",
               "err-msg": "Frequency of requests has exceeded the limit, please try again later",
               "data": null}),
    ))
}

/// Percent-encodes a value the way HTX canonicalises it (written here, not borrowed from the
/// client, so a client encoding bug cannot hide behind a shared one).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The host HTX signs: the `Host` header without its port, lower case.
pub fn host_of(host_header: &str) -> String {
    let host = host_header.trim();
    let bare = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    bare.to_ascii_lowercase()
}

/// The first value of `name` in a raw query, form-decoded.
pub fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Verifies a signed request as HTX does, given the raw query as received. `server_ms` is the
/// exchange's clock for this key.
pub fn verify(
    method: &str,
    host: &str,
    path: &str,
    raw_query: &str,
    secret: &str,
    server_ms: i64,
) -> Result<(), Refusal> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if get("SignatureVersion") != Some("2") {
        return Err(Refusal::SignatureVersion);
    }
    if get("SignatureMethod") != Some("HmacSHA256") {
        return Err(Refusal::SignatureMethod);
    }
    let Some(timestamp) = get("Timestamp") else {
        return Err(Refusal::TimeRequired);
    };
    let sent_ms = chrono::NaiveDateTime::parse_from_str(timestamp, "%Y-%m-%dT%H:%M:%S")
        .map_err(|_| Refusal::BadTime)?
        .and_utc()
        .timestamp_millis();
    if (server_ms - sent_ms).abs() > WINDOW_MS {
        return Err(Refusal::BadTime);
    }
    let Some(signature) = get("Signature") else {
        return Err(Refusal::Verification);
    };
    let mut signed: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, _)| k != "Signature")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let canonical = signed
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    if signature_of(method, host, path, &canonical, secret) != signature {
        return Err(Refusal::Verification);
    }
    Ok(())
}

/// HTX's signature, htx.md §3: base64 HMAC-SHA256 over `METHOD\nhost\npath\ncanonical query`.
pub fn signature_of(method: &str, host: &str, path: &str, canonical: &str, secret: &str) -> String {
    hmac_base64(
        secret,
        format!("{method}\n{host}\n{path}\n{canonical}").as_bytes(),
    )
}

/// A stable, plausible UID for a simulated key.
pub fn uid_of(api_key: &str) -> i64 {
    let hash = api_key.bytes().fold(0xcbf29ce484222325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    10_000_000 + (hash % 90_000_000) as i64
}

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v1/common/timestamp", get(timestamp))
        .route("/v2/market-status", get(market_status))
        .route("/heartbeat/", get(heartbeat))
        .route("/v1/account/accounts", get(signed::<Htx>))
        .route(
            "/v1/account/accounts/{account_id}/balance",
            get(signed::<Htx>),
        )
        .route("/v2/user/uid", get(signed::<Htx>))
        .route("/v2/user/api-key", get(signed::<Htx>))
        .route(
            "/linear-swap-api/v3/unified_account_info",
            get(signed::<Htx>),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn timestamp(State(state): State<Arc<SimState>>) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"status": "ok", "data": state.server_time_ms(KIND, None)}),
    )
}

async fn market_status(State(state): State<Arc<SimState>>) -> Response {
    let now = state.server_time_ms(KIND, None);
    let data = if state.settings(KIND).maintenance {
        json!({"marketStatus": 2, "haltStartTime": now - 600_000, "haltEndTime": now + 3_600_000,
               "haltReason": 3, "affectedSymbols": "all"})
    } else {
        json!({"marketStatus": 1})
    };
    json_reply(
        StatusCode::OK,
        json!({"code": 200, "message": "success", "data": data}),
    )
}

async fn heartbeat(State(state): State<Arc<SimState>>) -> Response {
    let now = state.server_time_ms(KIND, None);
    let (up, recovery) = if state.settings(KIND).maintenance {
        (0, json!(now + 3_600_000))
    } else {
        (1, Value::Null)
    };
    json_reply(
        StatusCode::OK,
        json!({"status": "ok", "data": {
            "heartbeat": up, "estimated_recovery_time": recovery,
            "swap_heartbeat": up, "swap_estimated_recovery_time": recovery,
            "option_heartbeat": up, "option_estimated_recovery_time": recovery,
            "linear_swap_heartbeat": up, "linear_swap_estimated_recovery_time": recovery,
        }, "ts": now}),
    )
}

async fn not_found() -> Response {
    json_reply(
        StatusCode::NOT_FOUND,
        json!({"status": "error", "err-code": "invalid-parameter", "err-msg": "invalid url",
               "data": null}),
    )
}

fn v1_ok(data: Value) -> Response {
    json_reply(StatusCode::OK, json!({"status": "ok", "data": data}))
}

fn v2_ok(data: Value) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"code": 200, "message": "success", "data": data}),
    )
}

fn v2_error(code: i64, message: &str) -> Response {
    json_reply(StatusCode::OK, json!({"code": code, "message": message}))
}

/// HTX's signed API (spot v1, v2 and the swap host): everything in the query.
pub struct Htx;

impl SignedApi for Htx {
    const KIND: ExchangeKind = KIND;
    type Refusal = Response;

    /// A missing AccessKeyId is answered like an unknown one [uncertain: the docs name
    /// `api-signature-check-failed` / `login-required` for missing parameters without bodies].
    fn api_key(request: &SignedRequest) -> Result<String, Response> {
        param(request.query(), "AccessKeyId").ok_or_else(|| Htx::unknown_key(request))
    }

    fn unknown_key(request: &SignedRequest) -> Response {
        Refusal::UnknownKey.into_response(Api::of(request.path()))
    }

    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), Response> {
        let host = host_of(request.header(header::HOST.as_str()).unwrap_or(""));
        verify(
            "GET",
            &host,
            request.path(),
            request.query(),
            &key.api_secret,
            server_ms,
        )
        .map_err(|refusal| refusal.into_response(Api::of(request.path())))
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(maintenance_reply())
    }

    fn rate_limited(_: &Verified) -> Response {
        rate_limited_reply()
    }

    fn answer(verified: &Verified) -> Response {
        let request = verified.request;
        let api = Api::of(request.path());
        match verified.key.scenario {
            Scenario::Maintenance => maintenance_reply(),
            Scenario::IpNotWhitelisted => Refusal::Ip(request.client_ip.clone()).into_response(api),
            Scenario::ErrorBody200 => internal_error_reply(api, verified.server_ms),
            _ => answer(
                verified.key,
                request.path(),
                request.query(),
                &request.client_ip,
                verified.server_ms,
            ),
        }
    }
}

/// One verified request, answered for the key's scenario.
fn answer(key: &SimKey, path: &str, query: &str, client_ip: &str, now: i64) -> Response {
    let grants = key.scenario.grants();
    let api = Api::of(path);
    if !grants.read {
        return Refusal::NoPermission.into_response(api);
    }
    match path {
        "/v1/account/accounts" => v1_ok(json!([
            {"id": SPOT_ACCOUNT_ID, "type": "spot", "subtype": "", "state": "working"},
            {"id": SPOT_ACCOUNT_ID + 1, "type": "otc", "subtype": "", "state": "working"}
        ])),
        "/v2/user/uid" => v2_ok(json!(uid_of(&key.api_key))),
        "/v2/user/api-key" => {
            let Some(uid) = param(query, "uid") else {
                return v2_error(2003, "missing mandatory field: uid");
            };
            if uid != uid_of(&key.api_key).to_string() {
                return v2_error(2002, "invalid field value: uid");
            }
            let entries = match param(query, "accessKey") {
                Some(k) if k != key.api_key => json!([]),
                _ => json!([key_entry(key, grants, client_ip)]),
            };
            v2_ok(entries)
        }
        "/linear-swap-api/v3/unified_account_info" => {
            if !grants.futures {
                return json_reply(
                    StatusCode::OK,
                    json!({"code": 1220, "msg": "You don't have access permission as you have \
                           not opened contracts trading.", "data": null, "ts": now}),
                );
            }
            json_reply(
                StatusCode::OK,
                json!({"code": 200, "msg": "", "ts": now, "data": [{
                    "margin_mode": "cross", "margin_asset": "USDT",
                    "margin_balance": 1020.5, "margin_static": 1020.5,
                    "cross_margin_static": 1020.5, "cross_profit_unreal": 0,
                    "withdraw_available": 1020.5, "cross_risk_rate": null,
                    "cross_swap": [], "cross_future": [], "isolated_swap": []
                }]}),
            )
        }
        _ => match path
            .strip_prefix("/v1/account/accounts/")
            .and_then(|rest| rest.strip_suffix("/balance"))
        {
            Some(id) if id == SPOT_ACCOUNT_ID.to_string() => v1_ok(json!({
                "id": SPOT_ACCOUNT_ID, "type": "spot", "state": "working",
                "list": [
                    {"currency": "usdt", "type": "trade", "balance": "91.850043797676510303",
                     "seq-num": "477"},
                    {"currency": "usdt", "type": "frozen", "balance": "5.160000000000000015",
                     "seq-num": "477"}
                ]
            })),
            _ => json_reply(
                StatusCode::OK,
                json!({"status": "error", "err-code": "base-record-invalid",
                       "err-msg": "record invalid", "data": null}),
            ),
        },
    }
}

/// The permission list of a key with `grants`, as `/v2/user/api-key` writes it. HTX has no
/// futures right of its own: `futures` is whether the account opened contract trading, which
/// shows only on the futures host.
pub fn permission_string(grants: Grants) -> String {
    let mut names = Vec::new();
    if grants.read {
        names.push("readOnly");
    }
    if grants.trade {
        names.push("trade");
    }
    if grants.withdraw {
        names.push("withdraw");
    }
    names.join(",")
}

fn key_entry(key: &SimKey, grants: Grants, client_ip: &str) -> Value {
    let mut entry = json!({
        "accessKey": key.api_key,
        "status": "normal",
        "note": format!("sim {}", key.scenario.name()),
        "permission": permission_string(grants),
        "validDays": -1,
        "createTime": 1_591_348_751_000_i64,
        "updateTime": 1_591_348_751_000_i64,
    });
    if grants.ip_bound {
        entry["ipAddresses"] = json!(client_ip);
    } else {
        entry["validDays"] = json!(UNBOUND_VALID_DAYS);
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query the way htx.md §3 says a client builds one: the auth parameters and `params`,
    /// sorted, encoded, signed by the simulator's own [`signature_of`] (which
    /// `the_doc_example_and_the_client_pass` holds to the docs' example), `Signature` last.
    fn signed_query(
        access_key: &str,
        secret: &str,
        host: &str,
        path: &str,
        params: &[(&str, &str)],
        now_ms: i64,
    ) -> String {
        let timestamp = chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap()
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        let mut pairs = vec![
            ("AccessKeyId", access_key),
            ("SignatureMethod", "HmacSHA256"),
            ("SignatureVersion", "2"),
            ("Timestamp", timestamp.as_str()),
        ];
        pairs.extend_from_slice(params);
        pairs.sort_by_key(|(k, _)| *k);
        let canonical = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let signature = signature_of("GET", host, path, &canonical, secret);
        format!("{canonical}&Signature={}", encode(&signature))
    }

    const NOW: i64 = 1_700_000_000_000;
    const SECRET: &str = "testsecret";

    fn check(host: &str, path: &str, query: &str, server: i64) -> Result<(), Refusal> {
        verify("GET", host, path, query, SECRET, server)
    }

    #[test]
    fn the_doc_example_and_the_client_pass() {
        // htx.md §3a, as HTX would receive it.
        let doc = "AccessKeyId=testkey&SignatureMethod=HmacSHA256&SignatureVersion=2\
                   &Timestamp=2023-11-14T22%3A13%3A20&accessKey=testkey&uid=12345678\
                   &Signature=GeuZil7RzaCbeLdtcC0ZC%2FUV4i10c3YsLVHfe5q5yJY%3D";
        assert_eq!(check("api.huobi.pro", "/v2/user/api-key", doc, NOW), Ok(()));
        let ours = signed_query(
            "testkey",
            SECRET,
            "api.huobi.pro",
            "/v2/user/api-key",
            &[("accessKey", "testkey"), ("uid", "12345678")],
            NOW,
        );
        assert_eq!(ours, doc);
        let q = signed_query("testkey", SECRET, "127.0.0.1", "/v2/user/uid", &[], NOW);
        assert_eq!(check("127.0.0.1", "/v2/user/uid", &q, NOW + 500), Ok(()));
        // HTX sorts before signing, so the order parameters arrive in does not matter.
        let mut parts: Vec<&str> = doc.split('&').collect();
        parts.reverse();
        assert_eq!(
            check("api.huobi.pro", "/v2/user/api-key", &parts.join("&"), NOW),
            Ok(())
        );
    }

    #[test]
    fn anything_else_is_refused_with_htx_reason() {
        let q = signed_query(
            "testkey",
            SECRET,
            "api.huobi.pro",
            "/v2/user/api-key",
            &[("uid", "1")],
            NOW,
        );
        let ok = |host, path, query: &str| check(host, path, query, NOW);
        assert_eq!(ok("api.huobi.pro", "/v2/user/api-key", &q), Ok(()));
        // other host, other path, an added or changed parameter, another secret
        for (host, path, query) in [
            ("api-aws.huobi.pro", "/v2/user/api-key", q.clone()),
            ("api.huobi.pro", "/v2/user/uid", q.clone()),
            (
                "api.huobi.pro",
                "/v2/user/api-key",
                format!("{q}&accessKey=x"),
            ),
            (
                "api.huobi.pro",
                "/v2/user/api-key",
                q.replace("uid=1", "uid=2"),
            ),
        ] {
            assert_eq!(
                ok(host, path, &query),
                Err(Refusal::Verification),
                "{query}"
            );
        }
        assert_eq!(
            verify("GET", "api.huobi.pro", "/v2/user/api-key", &q, "other", NOW),
            Err(Refusal::Verification)
        );
        // a signature sent with `+` unencoded decodes to a space and fails
        let raw_plus = q.replace("%2B", "+");
        if raw_plus != q {
            assert_eq!(
                ok("api.huobi.pro", "/v2/user/api-key", &raw_plus),
                Err(Refusal::Verification)
            );
        }
        let no_sig = q.split("&Signature=").next().unwrap();
        assert_eq!(
            ok("api.huobi.pro", "/v2/user/api-key", no_sig),
            Err(Refusal::Verification)
        );
        // the window, either side
        assert_eq!(
            check("api.huobi.pro", "/v2/user/api-key", &q, NOW + WINDOW_MS),
            Ok(())
        );
        for server in [NOW + WINDOW_MS + 1, NOW - WINDOW_MS - 1, NOW + 360_000] {
            assert_eq!(
                check("api.huobi.pro", "/v2/user/api-key", &q, server),
                Err(Refusal::BadTime)
            );
        }
        // auth parameters
        let cases = [
            (
                "SignatureVersion=2",
                "SignatureVersion=1",
                Refusal::SignatureVersion,
            ),
            (
                "SignatureMethod=HmacSHA256",
                "SignatureMethod=HmacSHA1",
                Refusal::SignatureMethod,
            ),
            (
                "Timestamp=2023-11-14T22%3A13%3A20",
                "Timestamp=1700000000000",
                Refusal::BadTime,
            ),
            (
                "Timestamp=2023-11-14T22%3A13%3A20",
                "Time=x",
                Refusal::TimeRequired,
            ),
        ];
        for (from, to, refusal) in cases {
            assert_eq!(
                ok("api.huobi.pro", "/v2/user/api-key", &q.replace(from, to)),
                Err(refusal)
            );
        }
    }

    #[test]
    fn host_header_loses_its_port() {
        assert_eq!(host_of("127.0.0.1:8080"), "127.0.0.1");
        assert_eq!(host_of("API.Huobi.pro"), "api.huobi.pro");
        assert_eq!(host_of("[::1]:443"), "[::1]");
    }

    #[test]
    fn bodies_have_each_family_shape() {
        let ip = Refusal::Ip("127.0.0.1".into());
        let v1 = ip.body(Api::V1, NOW);
        assert_eq!(v1["err-code"], "api-signature-not-valid");
        assert_eq!(
            v1["err-msg"],
            "Signature not valid: Incorrect IP address [IP地址错误]:127.0.0.1"
        );
        assert_eq!(Refusal::UnknownKey.body(Api::V2, NOW)["code"], 1003);
        let swap = Refusal::Verification.body(Api::Swap, NOW);
        assert_eq!(
            (swap["err_code"].clone(), swap["err_msg"].clone()),
            (json!(403), json!("Verification failure [校验失败]"))
        );
    }

    #[test]
    fn introspection_lists_exactly_the_granted_rights() {
        assert_eq!(
            permission_string(Scenario::Valid.grants()),
            "readOnly,trade"
        );
        assert_eq!(
            permission_string(Scenario::WithdrawEnabled.grants()),
            "readOnly,trade,withdraw"
        );
        assert_eq!(permission_string(Scenario::ReadOnly.grants()), "readOnly");
        assert_eq!(
            permission_string(Scenario::TradeMissing.grants()),
            "readOnly"
        );
    }
}
