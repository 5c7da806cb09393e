//! The Binance simulator: spot (`/api/v3`), wallet (`/sapi/v1`) and USDⓈ-M futures (`/fapi`)
//! endpoints on one router (their paths do not clash), verifying every signed request the way
//! Binance does.
//!
//! - The key (`X-MBX-APIKEY`) must be there and look like a Binance key (64 letters and digits),
//!   else -2014; a key the exchange does not hold is -2008.
//! - The signature is recomputed here, independently of the client's signing code, over the raw
//!   query exactly as received (everything before the trailing `signature=`) directly followed
//!   by the raw body; nothing is parsed and re-sorted, so a query reordered or a body added after
//!   signing is refused with -1022. `signature` must be the last parameter. HMAC signatures are
//!   not case-sensitive (request-security page), so the hex is compared ignoring case.
//! - The timestamp window is the documented rule: `timestamp < serverTime + 1000` and
//!   `serverTime - timestamp <= recvWindow` (default 5000, at most 60000), else -1021.
//!
//! The HTTP status of each code follows the exchange doc §6: 401 for the key codes (-2014,
//! -2015; -2008 is [uncertain] and answered 401 too), 400 for the request codes (-1022, -1021,
//! -1102, -1131). The probe keys on the JSON code, so either status reads the same.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};

use super::mac::hmac_hex;
use super::pipeline::{raw_param, signed, SignedApi, SignedRequest, Verified};
use super::refusal::{ErrorBody, ExchangeError};
use super::scenario::Grants;
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Binance;

/// Binance's default receive window and its maximum (ms). binance.md §2: "the request is
/// accepted only if `timestamp < serverTime + 1000` **and** `serverTime - timestamp <=
/// recvWindow`. Default `recvWindow` = 5000 ms; maximum 60000 ms."
const DEFAULT_RECV_WINDOW_MS: i64 = 5_000;
const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// A timestamp this far (or more) ahead of the server clock is refused whatever the recvWindow.
const MAX_AHEAD_MS: i64 = 1_000;

/// Days left before the trading authority of a key without IP binding lapses (`no_ip_whitelist`).
pub const UNBOUND_TRADE_DAYS_LEFT: i64 = 5;

/// A Binance error: HTTP status and the `{"code": n, "msg": ..}` body.
pub type BinanceError = ExchangeError<Binance>;

impl BinanceError {
    fn key_format() -> BinanceError {
        BinanceError::unauthorized(-2014, "API-key format invalid.")
    }

    fn unknown_key() -> BinanceError {
        BinanceError::unauthorized(-2008, "Invalid Api-Key ID.")
    }

    /// -2015: live replies append the IP the request came from (public reports).
    fn rejected(client_ip: &str) -> BinanceError {
        BinanceError::unauthorized(
            -2015,
            format!("Invalid API-key, IP, or permissions for action, request ip: {client_ip}"),
        )
    }

    fn bad_signature() -> BinanceError {
        BinanceError::new(
            StatusCode::BAD_REQUEST,
            -1022,
            "Signature for this request is not valid.",
        )
    }

    fn mandatory(name: &str) -> BinanceError {
        BinanceError::new(
            StatusCode::BAD_REQUEST,
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }

    /// The geo block: HTTP 451 with code 0 (binance.md §6; the body is from public reports,
    /// [unverified]). Live, it comes before any key is looked at; here the scenario's key
    /// plays it, before its signature is checked.
    fn restricted_location() -> BinanceError {
        BinanceError::new(
            StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
            0,
            "Service unavailable from a restricted location according to the terms of use.",
        )
    }

    fn maintenance() -> BinanceError {
        BinanceError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -1001,
            "Internal error; unable to process your request. Please try again.",
        )
    }
}

impl ErrorBody for Binance {
    type Code = i64;

    fn reply(error: BinanceError) -> Response {
        json_reply(error.status, json!({"code": error.code, "msg": error.msg}))
    }
}

/// Splits `params` into (what precedes `signature=`, the signature), or `None` when it holds no
/// signature.
fn split_signature(params: &str) -> Option<(&str, &str)> {
    if let Some(rest) = params.strip_prefix("signature=") {
        return Some(("", rest));
    }
    params
        .rfind("&signature=")
        .map(|i| (&params[..i], &params[i + "&signature=".len()..]))
}

/// Whether `api_key` has the shape of a Binance HMAC key: 64 ASCII letters and digits.
pub fn key_well_formed(api_key: &str) -> bool {
    api_key.len() == 64 && api_key.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Verifies a signed request as Binance does: mandatory `timestamp` and `signature`,
/// `recvWindow` at most 60000, the HMAC over raw query (before `signature`) + raw body, then
/// the timestamp window against `server_ms`.
pub fn verify(query: &str, body: &[u8], secret: &str, server_ms: i64) -> Result<(), BinanceError> {
    let body = std::str::from_utf8(body).map_err(|_| BinanceError::bad_signature())?;
    // The signature is the last parameter of the query (GET) or of the body (POST); what
    // precedes it, bytes as received, is what was signed.
    let (signed, signature) = match split_signature(query) {
        Some((before, sig)) => (format!("{before}{body}"), sig),
        None => match split_signature(body) {
            Some((before, sig)) => (format!("{query}{before}"), sig),
            None => return Err(BinanceError::mandatory("signature")),
        },
    };
    if signature.is_empty() {
        return Err(BinanceError::mandatory("signature"));
    }
    // A parameter in the query wins over the same one in the body (Binance's general rule).
    let param = |name| raw_param(query, name).or_else(|| raw_param(body, name));
    let Some(timestamp) = param("timestamp").and_then(|t| t.parse::<i64>().ok()) else {
        return Err(BinanceError::mandatory("timestamp"));
    };
    let recv_window = match param("recvWindow") {
        None => DEFAULT_RECV_WINDOW_MS,
        Some(raw) => match raw.parse::<i64>() {
            Ok(w) if (1..=MAX_RECV_WINDOW_MS).contains(&w) => w,
            // Wording [unverified] in the exchange doc.
            _ => {
                return Err(BinanceError::new(
                    StatusCode::BAD_REQUEST,
                    -1131,
                    "recvWindow must be less than 60000",
                ))
            }
        },
    };
    // Anything after the signature (an `&` in it) means it was not last: not what was signed.
    if signature.contains('&')
        || !signature.eq_ignore_ascii_case(&hmac_hex(secret, signed.as_bytes()))
    {
        return Err(BinanceError::bad_signature());
    }
    if timestamp >= server_ms + MAX_AHEAD_MS {
        return Err(BinanceError::new(
            StatusCode::BAD_REQUEST,
            -1021,
            format!("Timestamp for this request was {MAX_AHEAD_MS}ms ahead of the server's time."),
        ));
    }
    if server_ms - timestamp > recv_window {
        return Err(BinanceError::new(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(())
}

/// The Binance router; `sim::router` nests it under `/binance` (the prefix is stripped before
/// this router sees the request, so `Uri` is what Binance itself would see). Spot and futures
/// hosts are both served here: a connection's futures base defaults to its spot base.
pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/sapi/v1/system/status", get(system_status))
        .route("/sapi/v1/account/apiRestrictions", get(signed::<Binance>))
        .route("/api/v3/account", get(signed::<Binance>))
        .route("/fapi/v1/ping", get(ping))
        .route("/fapi/v1/time", get(time))
        .route("/fapi/v2/balance", get(signed::<Binance>))
        .route("/fapi/v3/balance", get(signed::<Binance>))
        .with_state(state)
}

async fn ping() -> Response {
    json_reply(StatusCode::OK, json!({}))
}

async fn time(State(state): State<Arc<SimState>>) -> Response {
    json_reply(
        StatusCode::OK,
        json!({"serverTime": state.server_time_ms(KIND, None)}),
    )
}

async fn system_status(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        json_reply(
            StatusCode::OK,
            json!({"status": 1, "msg": "system_maintenance"}),
        )
    } else {
        json_reply(StatusCode::OK, json!({"status": 0, "msg": "normal"}))
    }
}

fn rate_limited() -> Response {
    with_retry_after(BinanceError::new(
        StatusCode::TOO_MANY_REQUESTS,
        -1003,
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE. \
             Please use WebSocket Streams for live updates to avoid polling the API.",
    ))
}

/// Binance's signed API (spot and futures alike).
pub struct Binance;

impl SignedApi for Binance {
    const KIND: ExchangeKind = KIND;
    type Refusal = BinanceError;

    fn api_key(request: &SignedRequest) -> Result<String, BinanceError> {
        let api_key = request.header("x-mbx-apikey").unwrap_or("");
        if !key_well_formed(api_key) {
            return Err(BinanceError::key_format());
        }
        Ok(api_key.to_string())
    }

    fn unknown_key(_: &SignedRequest) -> BinanceError {
        BinanceError::unknown_key()
    }

    /// The geo block answers before any signature is read.
    fn refused_unverified(key: &SimKey) -> Option<BinanceError> {
        (key.scenario == Scenario::RestrictedLocation).then(BinanceError::restricted_location)
    }

    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), BinanceError> {
        verify(request.query(), &request.body, &key.api_secret, server_ms)
    }

    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        Some(BinanceError::maintenance().into_response())
    }

    fn rate_limited(_: &Verified) -> Response {
        rate_limited()
    }

    fn answer(verified: &Verified) -> Response {
        let Verified { key, request, .. } = *verified;
        let ip = &request.client_ip;
        let reply = match key.scenario {
            Scenario::Maintenance => Err(BinanceError::maintenance()),
            Scenario::IpNotWhitelisted => Err(BinanceError::rejected(ip)),
            // Binance's -1001 internal error, here as the body of an HTTP 200.
            Scenario::ErrorBody200 => Err(BinanceError {
                status: StatusCode::OK,
                ..BinanceError::maintenance()
            }),
            _ => answer(
                key,
                request.path(),
                ip,
                verified.state.server_time_ms(KIND, None),
            ),
        };
        reply.map(axum::Json).into_response()
    }
}

/// One signed endpoint, answered for a verified key playing its scenario.
fn answer(key: &SimKey, path: &str, ip: &str, now_ms: i64) -> Result<Value, BinanceError> {
    let grants = key.scenario.grants();
    match path {
        "/sapi/v1/account/apiRestrictions" => {
            if !grants.read {
                return Err(BinanceError::rejected(ip));
            }
            Ok(api_restrictions(grants, now_ms))
        }
        "/api/v3/account" => {
            if !grants.read {
                return Err(BinanceError::rejected(ip));
            }
            Ok(account())
        }
        "/fapi/v2/balance" | "/fapi/v3/balance" => {
            // A key without the futures right is refused with the same -2015 (doc §8).
            if !grants.futures {
                return Err(BinanceError::rejected(ip));
            }
            Ok(futures_balance(now_ms))
        }
        _ => Err(BinanceError::new(
            StatusCode::NOT_FOUND,
            -1000,
            "An unknown error occurred while processing the request.",
        )),
    }
}

/// `apiRestrictions` for a key with `grants`: exactly the granted rights are true. A key
/// without IP binding that can trade gets `tradingAuthorityExpirationTime` (Binance's policy
/// for unrestricted keys; the period is [unverified], so the simulator says 5 days left).
pub fn api_restrictions(grants: Grants, now_ms: i64) -> Value {
    let mut body = json!({
        "ipRestrict": grants.ip_bound,
        "createTime": 1_698_645_219_000_i64,
        "enableReading": grants.read,
        "enableSpotAndMarginTrading": grants.trade,
        "enableWithdrawals": grants.withdraw,
        "enableInternalTransfer": false,
        "enableMargin": false,
        "enableFutures": grants.futures,
        "permitsUniversalTransfer": false,
        "enableVanillaOptions": false,
        "enableFixApiTrade": false,
        "enableFixReadOnly": false,
        "enablePortfolioMarginTrading": false,
    });
    if !grants.ip_bound && grants.trade {
        body["tradingAuthorityExpirationTime"] =
            json!(now_ms + UNBOUND_TRADE_DAYS_LEFT * 86_400_000);
    }
    body
}

/// `GET /api/v3/account`. `canTrade`/`canWithdraw` describe the account, not the key: they are
/// true here whatever the key's rights, and the probe must not read them as key rights.
fn account() -> Value {
    json!({
        "makerCommission": 15, "takerCommission": 15, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": "0.00150000", "taker": "0.00150000",
                            "buyer": "0.00000000", "seller": "0.00000000"},
        "canTrade": true, "canWithdraw": true, "canDeposit": true,
        "brokered": false, "requireSelfTradePrevention": false, "preventSor": false,
        "updateTime": 123_456_789, "accountType": "SPOT",
        "balances": [
            {"asset": "BTC", "free": "0.01200000", "locked": "0.00000000"},
            {"asset": "USDT", "free": "1020.50000000", "locked": "0.00000000"}
        ],
        "permissions": ["SPOT"], "uid": 354_937_868
    })
}

/// `GET /fapi/v3/balance`: one entry per asset.
fn futures_balance(now_ms: i64) -> Value {
    json!([{
        "accountAlias": "SgsR", "asset": "USDT", "balance": "122.60000000",
        "crossWalletBalance": "122.60000000", "crossUnPnl": "0.00000000",
        "availableBalance": "122.60000000", "maxWithdrawAmount": "122.60000000",
        "marginAvailable": true, "updateTime": now_ms
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pairs` joined as sent, then `&signature=` over them with the simulator's own HMAC (pinned
    /// to the docs by `the_docs_worked_examples_verify`).
    fn signed_query(secret: &str, pairs: &[(&str, &str)]) -> String {
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let signature = hmac_hex(secret, query.as_bytes());
        format!("{query}&signature={signature}")
    }

    /// A probe's query: its parameters, then `timestamp` and `recvWindow` (the order ccxt and
    /// our probe use, binance.md §3).
    fn probe_query(secret: &str, params: &[(&str, &str)], now: i64) -> String {
        let now = now.to_string();
        let mut pairs = params.to_vec();
        pairs.extend([("timestamp", now.as_str()), ("recvWindow", "5000")]);
        signed_query(secret, &pairs)
    }

    #[test]
    fn the_docs_worked_examples_verify() {
        // binance.md §3: the probe's apiRestrictions request as ccxt sends it.
        let doc = "timestamp=1700000000000&recvWindow=10000&signature=\
                   8e4b66ac13b25a40ae878a403212a27fe7c52814c8a360208aaeef2525e77612";
        assert_eq!(verify(doc, b"", SECRET, NOW + 10), Ok(()));
        assert_eq!(
            signed_query(
                SECRET,
                &[("timestamp", "1700000000000"), ("recvWindow", "10000")]
            ),
            doc
        );
    }

    const NOW: i64 = 1_700_000_000_000;
    const SECRET: &str = "testsecret";

    fn code(result: Result<(), BinanceError>) -> i64 {
        result.err().map_or(0, |e| e.code)
    }

    #[test]
    fn accepts_what_the_probe_signs_and_the_doc_examples() {
        let query = probe_query(SECRET, &[("omitZeroBalances", "true")], NOW);
        assert_eq!(verify(&query, b"", SECRET, NOW), Ok(()));
        // §3b minimal, as Binance would receive it.
        let doc = "timestamp=1700000000000&signature=\
                   dd273985d88b32eaeeb19cafcc2dbaa9ac658e274cd4095d474395560c4b09b7";
        assert_eq!(verify(doc, b"", SECRET, NOW + 10), Ok(()));
        // §3a mixed: query + body, signature last in the body.
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=\
                    0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77";
        assert_eq!(
            verify(
                "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC",
                body.as_bytes(),
                secret,
                1_499_827_319_559 + 100
            ),
            Ok(())
        );
        // Upper-case hex is accepted: HMAC signatures are not case-sensitive.
        let (rest, sig) = query.split_once("&signature=").unwrap();
        let upper = format!("{rest}&signature={}", sig.to_uppercase());
        assert_eq!(verify(&upper, b"", SECRET, NOW), Ok(()));
    }

    #[test]
    fn refuses_a_wrong_secret_and_a_missing_or_misplaced_signature() {
        let query = probe_query(SECRET, &[], NOW);
        assert_eq!(code(verify(&query, b"", "othersecret", NOW)), -1022);
        let unsigned = query.split("&signature=").next().unwrap();
        assert_eq!(code(verify(unsigned, b"", SECRET, NOW)), -1102);
        let (rest, sig) = query.split_once("&signature=").unwrap();
        let first = format!("signature={sig}&{rest}");
        assert_eq!(code(verify(&first, b"", SECRET, NOW)), -1022);
        let trailing = format!("{query}&extra=1");
        assert_eq!(code(verify(&trailing, b"", SECRET, NOW)), -1022);
    }

    #[test]
    fn signs_bytes_in_the_order_sent() {
        let query = probe_query(SECRET, &[("omitZeroBalances", "true")], NOW);
        let (rest, sig) = query.split_once("&signature=").unwrap();
        let mut parts: Vec<&str> = rest.split('&').collect();
        parts.reverse();
        let reordered = format!("{}&signature={sig}", parts.join("&"));
        assert_eq!(code(verify(&reordered, b"", SECRET, NOW)), -1022);
        // Bytes in the body are part of what is signed.
        assert_eq!(code(verify(&query, b"x=1", SECRET, NOW)), -1022);
    }

    #[test]
    fn window_is_binances_rule() {
        let query = probe_query(SECRET, &[], NOW);
        assert_eq!(verify(&query, b"", SECRET, NOW + 5_000), Ok(()));
        assert_eq!(code(verify(&query, b"", SECRET, NOW + 5_001)), -1021);
        assert_eq!(verify(&query, b"", SECRET, NOW - 999), Ok(()));
        let ahead = verify(&query, b"", SECRET, NOW - 1_000).unwrap_err();
        assert_eq!(ahead.code, -1021);
        assert!(ahead.msg.contains("ahead of the server's time"));
        let wide = signed_query(
            SECRET,
            &[("timestamp", "1700000000000"), ("recvWindow", "60000")],
        );
        assert_eq!(verify(&wide, b"", SECRET, NOW + 60_000), Ok(()));
        let too_wide = signed_query(
            SECRET,
            &[("timestamp", "1700000000000"), ("recvWindow", "60001")],
        );
        assert_eq!(code(verify(&too_wide, b"", SECRET, NOW)), -1131);
        let no_ts = signed_query(SECRET, &[("recvWindow", "5000")]);
        assert_eq!(code(verify(&no_ts, b"", SECRET, NOW)), -1102);
    }

    #[test]
    fn keys_must_look_like_binance_keys() {
        assert!(key_well_formed(
            "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
        ));
        assert!(!key_well_formed("testkey"));
        assert!(!key_well_formed(&"a-".repeat(32)));
    }

    #[test]
    fn restrictions_list_exactly_the_granted_rights() {
        let cases = [
            (Scenario::Valid, [true, true, false, true, true]),
            (Scenario::WithdrawEnabled, [true, true, true, true, true]),
            (Scenario::FuturesMissing, [true, true, false, false, true]),
            (Scenario::TradeMissing, [true, false, false, true, true]),
            (Scenario::ReadOnly, [true, false, false, false, true]),
            (Scenario::NoIpWhitelist, [true, true, false, true, false]),
        ];
        for (scenario, [read, trade, withdraw, futures, bound]) in cases {
            let body = api_restrictions(scenario.grants(), NOW);
            assert_eq!(body["enableReading"], read, "{scenario:?}");
            assert_eq!(body["enableSpotAndMarginTrading"], trade, "{scenario:?}");
            assert_eq!(body["enableWithdrawals"], withdraw, "{scenario:?}");
            assert_eq!(body["enableFutures"], futures, "{scenario:?}");
            assert_eq!(body["ipRestrict"], bound, "{scenario:?}");
            assert_eq!(
                body.get("tradingAuthorityExpirationTime").is_some(),
                !bound,
                "{scenario:?}"
            );
        }
        let body = api_restrictions(Scenario::NoIpWhitelist.grants(), NOW);
        assert_eq!(body["tradingAuthorityExpirationTime"], NOW + 5 * 86_400_000);
    }

    fn sim_key(scenario: Scenario) -> SimKey {
        SimKey {
            exchange: KIND,
            api_key: "k".repeat(64),
            api_secret: SECRET.into(),
            passphrase: None,
            scenario,
        }
    }

    #[test]
    fn refused_reads_are_2015_naming_the_ip() {
        let e = answer(
            &sim_key(Scenario::FuturesMissing),
            "/fapi/v3/balance",
            "127.0.0.1",
            NOW,
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (StatusCode::UNAUTHORIZED, -2015));
        assert!(e.msg.ends_with("request ip: 127.0.0.1"));
        for (scenario, path) in [
            (Scenario::Valid, "/fapi/v3/balance"),
            (Scenario::ReadOnly, "/api/v3/account"),
        ] {
            let reply = answer(&sim_key(scenario), path, "127.0.0.1", NOW);
            assert!(reply.is_ok(), "{scenario:?} {path}");
        }
    }
}
