//! The BingX simulator: spot, perpetual-futures ("swap") and account endpoints on one router, as
//! on BingX's single host, verifying every signed request the way BingX does.
//!
//! Verification works on the raw query as received: the `signature` pair must be there (else
//! 100412) and must be the last parameter; every pair before it, in the order received, with its
//! value percent-decoded (BingX signs raw values), is what was signed. The HMAC-SHA256 is
//! recomputed here from those bytes, independently of the client's signing code, and compared
//! as hex ignoring case. The timestamp must lie within `recvWindow` ms of the server clock
//! (default 5000 when absent or 0) either side: the docs say "within 5 seconds of the API service
//! time" without saying how much ahead is tolerated [uncertain], so the window is symmetric.
//!
//! Which HTTP status goes with a bad signature is [uncertain] (one observed log shows 401, and
//! BingX answers most business errors with 200), so spot and account endpoints answer 100001
//! with 401 and swap endpoints with 200: the probe is held to both. Every other refusal is HTTP
//! 200 with BingX's code, except throttling (429) and exchange-wide outages (503).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::mac::hmac_hex;
use super::pipeline::{signed, SignedApi, SignedRequest, Verified};
use super::refusal::{ErrorBody, ExchangeError};
use super::scenario::Grants;
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Bingx;

/// The window BingX applies when a request sends no `recvWindow` (or 0).
pub const DEFAULT_WINDOW_MS: i64 = 5_000;

/// A BingX refusal: HTTP status, code, message.
pub type BingxError = ExchangeError<Bingx>;

impl BingxError {
    fn null_api_key() -> BingxError {
        BingxError::new(StatusCode::OK, 100413, "Null apiKey")
    }

    fn unknown_key() -> BingxError {
        BingxError::new(
            StatusCode::OK,
            100413,
            "Incorrect apiKey, please check your valid api key",
        )
    }

    fn null_signature() -> BingxError {
        BingxError::new(StatusCode::OK, 100412, "Null signature")
    }

    fn bad_signature(status: StatusCode) -> BingxError {
        BingxError::new(status, 100001, "Signature verification failed")
    }

    fn bad_timestamp() -> BingxError {
        BingxError::new(
            StatusCode::OK,
            100421,
            "Null timestamp or timestamp mismatch, try to run our sample code from the link \
             https://bingx-api.github.io/docs/#/en-us/spot/account-api.html#Query%20Assets",
        )
    }

    fn invalid_parameter(what: &str) -> BingxError {
        BingxError::new(StatusCode::OK, 100400, format!("Invalid parameter {what}"))
    }

    /// BingX's documented text names no IP, so neither does the simulator's.
    fn ip_refused() -> BingxError {
        BingxError::new(
            StatusCode::OK,
            100419,
            "IP does not match IP whitelist , please go to https://bingx.com/en/account/api/ \
             to verify the ip you have set",
        )
    }

    fn no_permission() -> BingxError {
        BingxError::new(
            StatusCode::OK,
            100004,
            "Permission denied, the API key was created without the permission, please check \
             your API key permission",
        )
    }

    /// A key playing `maintenance`: HTTP 200 with a busy code.
    fn busy() -> BingxError {
        BingxError::new(
            StatusCode::OK,
            109500,
            "The current system is busy, please try again later",
        )
    }

    /// Exchange-wide maintenance: the gateway answers 503 with a server-side code.
    fn outage() -> BingxError {
        BingxError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            100500,
            "We had a problem with our server",
        )
    }
}

impl ErrorBody for Bingx {
    type Code = i64;

    fn reply(error: BingxError) -> Response {
        let mut body = json!({"code": error.code, "msg": error.msg, "debugMsg": ""});
        if error.code == 100419 {
            // ccxt's recorded IP refusal also carries these two fields.
            body["success"] = json!(false);
            body["timestamp"] = json!(crate::exchange::now_ms());
        }
        json_reply(error.status, body)
    }
}

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/openApi/spot/v1/server/time", get(server_time))
        .route("/openApi/swap/v2/server/time", get(server_time))
        .route("/openApi/v1/account/apiPermissions", get(signed::<Bingx>))
        .route("/openApi/spot/v1/account/balance", get(signed::<Bingx>))
        .route("/openApi/swap/v3/user/balance", get(signed::<Bingx>))
        .fallback(not_found)
        .with_state(state)
}

fn ok(data: Value) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"code": 0, "msg": "", "debugMsg": "", "data": data}),
    )
}

async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

async fn server_time(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        return BingxError::outage().into_response();
    }
    ok(json!({"serverTime": state.server_time_ms(KIND, None)}))
}

/// Decodes `%XX` escapes (BingX signs raw values; the URL carries them encoded). Anything that is
/// not a valid escape stays as it is.
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// Verifies a signed request as BingX does, from the raw query: signature present and last,
/// timestamp present and inside the window against `server_ms`, HMAC over the decoded pairs in
/// received order. `signature_status` is the HTTP status a bad signature is answered with.
pub fn verify(
    query: &str,
    secret: &str,
    server_ms: i64,
    signature_status: StatusCode,
) -> Result<(), BingxError> {
    let pairs: Vec<(&str, &str)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let Some(position) = pairs.iter().position(|(k, _)| *k == "signature") else {
        return Err(BingxError::null_signature());
    };
    let sent_signature = pairs[position].1;
    if sent_signature.is_empty() {
        return Err(BingxError::null_signature());
    }
    // The signature is appended after everything it signs.
    if position != pairs.len() - 1 {
        return Err(BingxError::bad_signature(signature_status));
    }
    let signed = &pairs[..position];

    let param = |name: &str| signed.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    let Some(timestamp) = param("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(BingxError::bad_timestamp());
    };
    let window = match param("recvWindow") {
        None => DEFAULT_WINDOW_MS,
        Some(raw) => match raw.parse::<i64>() {
            // 0 appears in BingX's own signing example; read as "use the default" [uncertain].
            Ok(0) => DEFAULT_WINDOW_MS,
            Ok(w) if w > 0 => w,
            _ => return Err(BingxError::invalid_parameter("recvWindow")),
        },
    };
    if (server_ms - timestamp).abs() > window {
        return Err(BingxError::bad_timestamp());
    }

    let mut message = Vec::with_capacity(query.len());
    for (i, (k, v)) in signed.iter().enumerate() {
        if i > 0 {
            message.push(b'&');
        }
        message.extend_from_slice(k.as_bytes());
        message.push(b'=');
        message.extend_from_slice(&percent_decode(v));
    }
    if !hmac_hex(secret, &message).eq_ignore_ascii_case(sent_signature) {
        return Err(BingxError::bad_signature(signature_status));
    }
    Ok(())
}

/// The permission codes apiPermissions lists for a key with `grants`: exactly the granted ones.
pub fn permission_codes(grants: Grants) -> Vec<i64> {
    [
        (grants.trade, 1),
        (grants.read, 2),
        (grants.futures, 3),
        (grants.withdraw, 5),
    ]
    .into_iter()
    .filter_map(|(granted, code)| granted.then_some(code))
    .collect()
}

/// One signed endpoint, answered for a verified key playing its scenario.
fn answer(key: &SimKey, path: &str, client_ip: &str) -> Result<Value, BingxError> {
    match key.scenario {
        Scenario::IpNotWhitelisted => return Err(BingxError::ip_refused()),
        Scenario::Maintenance => return Err(BingxError::busy()),
        // bingx.md §6: 100500 is a server-side error; here in an HTTP 200.
        Scenario::ErrorBody200 => {
            return Err(BingxError {
                status: StatusCode::OK,
                ..BingxError::outage()
            })
        }
        _ => {}
    }
    let grants = key.scenario.grants();
    // All three endpoints need the Read right (official docs: "API KEY permission: Read").
    if !grants.read {
        return Err(BingxError::no_permission());
    }
    match path {
        "/openApi/v1/account/apiPermissions" => Ok(json!({
            "apiKey": key.api_key,
            "permissions": permission_codes(grants),
            "ipAddresses": if grants.ip_bound { vec![client_ip.to_string()] } else { vec![] },
            "note": format!("sim {}", key.scenario.name()),
        })),
        "/openApi/spot/v1/account/balance" => Ok(json!({
            "balances": [
                {"asset": "USDT", "free": "16.73971130673954", "locked": "0"},
                {"asset": "BTC", "free": "0.0012", "locked": "0"}
            ]
        })),
        "/openApi/swap/v3/user/balance" => Ok(json!([{
            "userId": "1234567", "asset": "USDT", "balance": "100.5", "equity": "100.5",
            "unrealizedProfit": "0", "realisedProfit": "0", "availableMargin": "100.5",
            "usedMargin": "0", "freezedMargin": "0", "shortUid": "1234567"
        }])),
        _ => Err(BingxError::new(StatusCode::NOT_FOUND, 100404, "Not Found")),
    }
}

/// BingX's signed API (spot and swap alike).
pub struct Bingx;

impl SignedApi for Bingx {
    const KIND: ExchangeKind = KIND;
    type Refusal = BingxError;

    fn api_key(request: &SignedRequest) -> Result<String, BingxError> {
        request.key_in_header("x-bx-apikey", &[], BingxError::null_api_key)
    }

    fn unknown_key(_: &SignedRequest) -> BingxError {
        BingxError::unknown_key()
    }

    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), BingxError> {
        // Swap answers a bad signature in an HTTP 200, spot with a 401.
        let signature_status = if request.path().starts_with("/openApi/swap/") {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        verify(
            request.query(),
            &key.api_secret,
            server_ms,
            signature_status,
        )
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(BingxError::outage().into_response())
    }

    fn rate_limited(_: &Verified) -> Response {
        with_retry_after(json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": 100410, "msg": "rate limited", "debugMsg": ""}),
        ))
    }

    fn answer(verified: &Verified) -> Response {
        let request = verified.request;
        answer(verified.key, request.path(), &request.client_ip)
            .map(ok)
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// HMAC hex of the parameter string as signed (bingx.md §3), by the simulator's own code
    /// (pinned to the docs by `accepts_what_the_probe_signs_and_the_doc_examples`).
    fn signature(secret: &str, signed: &str) -> String {
        hmac_hex(secret, signed.as_bytes())
    }

    /// A query the way ccxt sends one (bingx.md §3): `params` plus `timestamp` and an optional
    /// `recvWindow`, sorted by name, signed over the raw values, sent with values
    /// percent-encoded (here only the spaces the tests use) and `signature` last.
    fn signed_query(
        secret: &str,
        params: &[(&str, &str)],
        timestamp_ms: i64,
        recv_window_ms: Option<i64>,
    ) -> String {
        let timestamp = timestamp_ms.to_string();
        let window = recv_window_ms.map(|w| w.to_string());
        let mut all: Vec<(&str, &str)> = params.to_vec();
        all.push(("timestamp", &timestamp));
        if let Some(w) = &window {
            all.push(("recvWindow", w));
        }
        all.sort_by_key(|(k, _)| *k);
        let join = |encode: bool| {
            all.iter()
                .map(|(k, v)| match encode {
                    true => format!("{k}={}", v.replace(' ', "%20")),
                    false => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join("&")
        };
        format!(
            "{}&signature={}",
            join(true),
            signature(secret, &join(false))
        )
    }

    const NOW: i64 = 1_700_000_000_000;
    const SECRET: &str = "testsecret";

    fn code(result: Result<(), BingxError>) -> i64 {
        result.err().map_or(0, |e| e.code)
    }

    fn check(query: &str) -> i64 {
        code(verify(query, SECRET, NOW, StatusCode::UNAUTHORIZED))
    }

    #[test]
    fn accepts_what_the_probe_signs_and_the_doc_examples() {
        assert_eq!(check(&signed_query(SECRET, &[], NOW, Some(5_000))), 0);
        // §3a and §3b, as BingX would receive them.
        assert_eq!(
            check(
                "timestamp=1700000000000&signature=\
                 dd273985d88b32eaeeb19cafcc2dbaa9ac658e274cd4095d474395560c4b09b7"
            ),
            0
        );
        assert_eq!(
            check(
                "timestamp=1700000000000&uid=12345678&signature=\
                 1edb75f558dd7147805b5c0dd73aad52edcbaeefd5807b00986da74b5aa28749"
            ),
            0
        );
        // Hex compared ignoring case.
        assert_eq!(
            check(
                "recvWindow=5000&timestamp=1700000000000&signature=\
                 8CB8853C05D40EAB178F77FCE129C8A259DC4F9B10F028A5688DB5B6372420BE"
            ),
            0
        );
        // Encoded values are signed raw.
        let query = signed_query(SECRET, &[("symbol", "BTC USDT")], NOW, None);
        assert!(query.contains("BTC%20USDT"));
        assert_eq!(check(&query), 0);
    }

    #[test]
    fn signs_bytes_in_the_order_received() {
        let ts = NOW.to_string();
        let unsorted = format!("timestamp={ts}&recvWindow=5000");
        let sig = signature(SECRET, &unsorted);
        // Unsorted but signed as sent: accepted (BingX does not sort query parameters).
        assert_eq!(check(&format!("{unsorted}&signature={sig}")), 0);
        // The same pairs reordered after signing: refused.
        assert_eq!(
            check(&format!("recvWindow=5000&timestamp={ts}&signature={sig}")),
            100001
        );
        // A pair added or changed after signing: refused.
        assert_eq!(check(&format!("{unsorted}&uid=1&signature={sig}")), 100001);
        assert_eq!(
            check(&format!("timestamp={ts}&recvWindow=6000&signature={sig}")),
            100001
        );
    }

    #[test]
    fn refuses_wrong_missing_or_misplaced_signatures() {
        let good = signed_query(SECRET, &[], NOW, Some(5_000));
        let wrong = signed_query("othersecret", &[], NOW, Some(5_000));
        assert_eq!(check(&wrong), 100001);
        let err = verify(&wrong, SECRET, NOW, StatusCode::OK).unwrap_err();
        assert_eq!((err.status, err.code), (StatusCode::OK, 100001));
        let (rest, sig) = good.split_once("&signature=").unwrap();
        assert_eq!(check(rest), 100412);
        assert_eq!(check(&format!("{rest}&signature=")), 100412);
        assert_eq!(check(&format!("signature={sig}&{rest}")), 100001);
    }

    #[test]
    fn timestamp_window_is_recv_window_either_side() {
        let q = |ts: i64, w: Option<i64>| signed_query(SECRET, &[], ts, w);
        assert_eq!(check(&q(NOW - 5_000, Some(5_000))), 0);
        assert_eq!(check(&q(NOW + 5_000, Some(5_000))), 0);
        assert_eq!(check(&q(NOW - 5_001, Some(5_000))), 100421);
        assert_eq!(check(&q(NOW + 5_001, Some(5_000))), 100421);
        assert_eq!(check(&q(NOW - 5_001, None)), 100421);
        assert_eq!(check(&q(NOW - 9_000, Some(10_000))), 0);
        assert_eq!(check(&q(NOW - 4_000, Some(0))), 0);
        let bad = "recvWindow=soon&timestamp=1700000000000";
        let query = format!("{bad}&signature={}", signature(SECRET, bad));
        assert_eq!(check(&query), 100400);
        let none = "recvWindow=5000";
        let query = format!("{none}&signature={}", signature(SECRET, none));
        assert_eq!(check(&query), 100421);
    }

    #[test]
    fn introspection_lists_exactly_the_granted_rights() {
        let cases = [
            (Scenario::Valid, vec![1, 2, 3]),
            (Scenario::WithdrawEnabled, vec![1, 2, 3, 5]),
            (Scenario::FuturesMissing, vec![1, 2]),
            (Scenario::TradeMissing, vec![2, 3]),
            (Scenario::ReadOnly, vec![2]),
            (Scenario::NoIpWhitelist, vec![1, 2, 3]),
        ];
        for (scenario, codes) in cases {
            assert_eq!(permission_codes(scenario.grants()), codes, "{scenario:?}");
            let key = SimKey {
                exchange: KIND,
                api_key: "k".into(),
                api_secret: SECRET.into(),
                passphrase: None,
                scenario,
            };
            let data = answer(&key, "/openApi/v1/account/apiPermissions", "127.0.0.1").unwrap();
            let ips = data["ipAddresses"].as_array().unwrap();
            assert_eq!(!ips.is_empty(), scenario.grants().ip_bound, "{scenario:?}");
        }
    }

    #[test]
    fn scenarios_refuse_the_way_bingx_does() {
        let key = |scenario| SimKey {
            exchange: KIND,
            api_key: "k".into(),
            api_secret: SECRET.into(),
            passphrase: None,
            scenario,
        };
        let e = answer(&key(Scenario::IpNotWhitelisted), "/x", "127.0.0.1").unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::OK, 100419));
        let e = answer(&key(Scenario::Maintenance), "/x", "127.0.0.1").unwrap_err();
        assert_eq!(e.code, 109500);
        assert!(answer(
            &key(Scenario::FuturesMissing),
            "/openApi/swap/v3/user/balance",
            "127.0.0.1"
        )
        .is_ok());
    }

    #[test]
    fn percent_decoding_is_lenient() {
        assert_eq!(percent_decode("a%20b"), b"a b");
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz"), b"%zz");
        assert_eq!(percent_decode("%2"), b"%2");
    }
}
