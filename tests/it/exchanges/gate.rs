//! Gate: its rows of the table, and raw requests its simulator must answer as Gate does.

use keywarden::domain::ExchangeKind;
use keywarden::domain::Warning::*;
use keywarden::exchange::gate::{auth_headers, timestamp_header, SignedParts};
use keywarden::exchange::now_ms;
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::one_secret_cast;
use super::raw::get_in_maintenance;
use super::table::{row, Case::*, Market::*, Row};
use crate::probe_support::*;

const GATE: ExchangeKind = ExchangeKind::Gate;
const SECRET: &str = "9b1c2f0e5d6a4b7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";

/// The key that plays `scenario` (Gate keys are 32 hex characters).
fn key(scenario: Scenario) -> String {
    format!("a1b2c3d4e5f6a7b8c9d0e1f2a3b4{:04x}", index_of(scenario))
}

pub const CAST: Cast = one_secret_cast(GATE, key, SECRET, None);

// ----- the table's rows ----------------------------------------------------------------------

/// Gate's rows: the withdraw right unknown unless the key lists it, the expiry inferred for
/// unbound keys, and its error labels.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    vec![
        row(Valid, Spot).connected().rights([T, T, U, T]).ip(T).never_expires().note("withdraw right not visible")
            .warns(&[FuturesNotNeeded, WithdrawUnverified]),
        row(Valid, Futures).connected().rights([T, T, U, T]).ip(T).never_expires().warns(&[WithdrawUnverified]),
        row(WithdrawEnabled, Spot).withdraw_enabled().rights([T, T, T, T]).ip(T).no_note("withdraw right not visible")
            .warns(&[FuturesNotNeeded]),
        row(WithdrawEnabled, Futures).withdraw_enabled().rights([T, T, T, T]).ip(T).no_note("withdraw right not visible"),
        row(FuturesMissing, Spot).connected().rights([T, T, U, F]).ip(T).warns(&[WithdrawUnverified]),
        row(FuturesMissing, Futures).no_futures().rights([T, T, U, F]).ip(T).note("label FORBIDDEN").warns(&[WithdrawUnverified]),
        row(TradeMissing, Spot).no_trade().rights([T, F, U, T]).warns(&[FuturesNotNeeded, WithdrawUnverified]),
        row(TradeMissing, Futures).no_trade().rights([T, F, U, T]).warns(&[WithdrawUnverified]),
        row(ReadOnly, Both).no_trade().rights([T, F, U, F]).warns(&[WithdrawUnverified]),
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1"))
            .says_exactly("GET /api/v4/account/detail: label IP_FORBIDDEN Request IP not in whitelist: 127.0.0.1"),
        row(NoIpWhitelist, Spot).connected().rights([T, T, U, T]).ip(F).expires_within_five_days().note("expiry inferred")
            .warns(&[IpWhitelistMissing, FuturesNotNeeded, KeyExpiresSoon, WithdrawUnverified]),
        row(NoIpWhitelist, Futures).connected().rights([T, T, U, T]).ip(F).expires_within_five_days().note("expiry inferred")
            .warns(&[IpWhitelistMissing, KeyExpiresSoon, WithdrawUnverified]),
        row(Maintenance, Both).unavailable().says("HTTP 503, label SERVER_ERROR"),
        row(RateLimited, Both).rate_limited().retry_after(7),
        row(ClockSkew, Both).clock_skew().says("label REQUEST_EXPIRED"),
        row(Valid, Spot).clock(120_000).clock_skew().says_first("GET /api/v4/spot/time").says("ms ahead of ours"),
        row(Valid, Futures).in_maintenance().unavailable(),
        row(WrongSecret, Spot).invalid_key().says_exactly("GET /api/v4/account/detail: label INVALID_SIGNATURE Signature mismatch"),
        row(ApiKey("ffffffffffffffffffffffffffffffff"), Spot).invalid_key()
            .says_exactly("GET /api/v4/account/detail: label INVALID_KEY Invalid key provided"),
        // Three keys on the account, each shown masked in /account/main_keys (issue 18): the
        // rights are this key's (a sibling's withdraw right would make it withdraw_enabled).
        row(MaskedSiblingKeys, Spot).connected().rights([T, T, U, T]).ip(T).note("withdraw right not visible")
            .warns(&[FuturesNotNeeded, WithdrawUnverified]),
        row(MaskedSiblingKeys, Futures).connected().rights([T, T, U, T]).ip(T).warns(&[WithdrawUnverified]),
        // Gate keys have no passphrase: one configured anyway is not sent, and changes nothing.
        // A key without the withdraw right: no withdrawal group in main_keys, so unverified.
        row(RightsUnrevealed, Spot).connected().rights([T, T, U, T]).ip(T).note("withdraw right not visible")
            .warns(&[FuturesNotNeeded, WithdrawUnverified]),
        row(RightsUnrevealed, Futures).connected().rights([T, T, U, T]).ip(T).warns(&[WithdrawUnverified]),
        row(StrayPassphrase, Spot).connected().rights([T, T, U, T]).ip(T).warns(&[FuturesNotNeeded, WithdrawUnverified]),
    ]
}

#[tokio::test]
async fn in_maintenance_the_server_time_is_a_503_server_error() {
    let time = get_in_maintenance(&CAST, "/api/v4/spot/time").await;
    assert_eq!(time.status(), 503);
    let body: Value = time.json().await.unwrap();
    assert_eq!(body["label"], "SERVER_ERROR");
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

/// A GET of `path?query` (the query sent verbatim) with `headers` and `body`.
async fn raw_get(
    sim: &RunningSim,
    path: &str,
    query: &str,
    headers: reqwest::header::HeaderMap,
    body: &str,
) -> (u16, Value) {
    let mut url = format!("{}{path}", sim.base_url(GATE));
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    status_and_json(
        reqwest::Client::new()
            .get(url)
            .headers(headers)
            .body(body.to_string()),
    )
    .await
}

/// Headers signed by the client's own code for `path?query` with `body` at `ms`.
fn signed(
    api_key: &str,
    secret: &str,
    ms: i64,
    path: &str,
    query: &str,
    body: &str,
) -> reqwest::header::HeaderMap {
    let timestamp = timestamp_header(ms);
    let request = SignedParts {
        body: body.as_bytes(),
        ..SignedParts::get(path, query, &timestamp)
    };
    auth_headers(&creds(api_key, secret, None), &request).unwrap()
}

/// Headers signed now for a GET of `path` without query or body.
fn signed_now(api_key: &str, secret: &str, path: &str) -> reqwest::header::HeaderMap {
    signed(api_key, secret, now_ms(), path, "", "")
}

fn label(body: &Value) -> &str {
    body["label"].as_str().unwrap_or("")
}

const ACCOUNTS: &str = "/api/v4/spot/accounts";

#[tokio::test]
async fn raw_correctly_signed_requests_are_accepted() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    let h = signed(&api_key, SECRET, now_ms(), ACCOUNTS, "currency=USDT", "");
    let (status, body) = raw_get(&sim, ACCOUNTS, "currency=USDT", h, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.is_array());
    // A fractional Timestamp, as in the official docs' example, is hashed as sent.
    let ts = format!("{:.3}", now_ms() as f64 / 1000.0);
    let mut h = signed_now(&api_key, SECRET, ACCOUNTS);
    h.insert("Timestamp", ts.parse().unwrap());
    h.insert(
        "SIGN",
        SignedParts::get(ACCOUNTS, "", &ts)
            .sign(SECRET)
            .parse()
            .unwrap(),
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn raw_wrong_signature_is_401_invalid_signature() {
    let sim = CAST.sim(None).await;
    let h = signed_now(&key(Scenario::Valid), "another-secret", ACCOUNTS);
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_SIGNATURE"));
    assert_eq!(body["message"], "Signature mismatch");
}

#[tokio::test]
async fn raw_stale_or_future_timestamp_is_401_request_expired() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    for ms in [now_ms() - 62_000, now_ms() + 62_000] {
        let h = signed(&api_key, SECRET, ms, ACCOUNTS, "", "");
        let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
        assert_eq!((status, label(&body)), (401, "REQUEST_EXPIRED"));
    }
    // Milliseconds where seconds belong.
    let ms = now_ms();
    let mut h = signed(&api_key, SECRET, ms, ACCOUNTS, "", "");
    let ts = ms.to_string();
    h.insert("Timestamp", ts.parse().unwrap());
    h.insert(
        "SIGN",
        SignedParts::get(ACCOUNTS, "", &ts)
            .sign(SECRET)
            .parse()
            .unwrap(),
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "REQUEST_EXPIRED"));
}

#[tokio::test]
async fn raw_tampered_or_reordered_query_and_unsigned_body_are_401_invalid_signature() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    let ms = now_ms();
    let query = "currency=USDT&limit=1";
    for (sent_query, body) in [
        ("currency=BTC&limit=1", ""),
        ("limit=1&currency=USDT", ""),
        ("currency=USDT&limit=1&extra=1", ""),
        (query, "{\"currency\":\"USDT\"}"),
    ] {
        let h = signed(&api_key, SECRET, ms, ACCOUNTS, query, "");
        let (status, resp) = raw_get(&sim, ACCOUNTS, sent_query, h, body).await;
        assert_eq!(
            (status, label(&resp)),
            (401, "INVALID_SIGNATURE"),
            "{sent_query} {body}"
        );
    }
    // Signed in the order sent, the same parameters are accepted: Gate signs bytes, not a map.
    let h = signed(&api_key, SECRET, ms, ACCOUNTS, "limit=1&currency=USDT", "");
    let (status, _) = raw_get(&sim, ACCOUNTS, "limit=1&currency=USDT", h, "").await;
    assert_eq!(status, 200);
    // A signed body is accepted too.
    let body = "{\"currency\":\"USDT\"}";
    let h = signed(&api_key, SECRET, ms, ACCOUNTS, "", body);
    let (status, _) = raw_get(&sim, ACCOUNTS, "", h, body).await;
    assert_eq!(status, 200);
    // The path signed must include /api/v4 (pitfall 1).
    let h = signed(&api_key, SECRET, ms, "/spot/accounts", "", "");
    let (status, resp) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&resp)), (401, "INVALID_SIGNATURE"));
}

#[tokio::test]
async fn raw_unknown_or_missing_key_is_refused() {
    let sim = CAST.sim(None).await;
    let h = signed_now("ffffffffffffffffffffffffffffffff", SECRET, ACCOUNTS);
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_KEY"));
    let mut h = signed_now(&key(Scenario::Valid), SECRET, ACCOUNTS);
    h.remove("SIGN");
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "MISSING_REQUIRED_HEADER"));
}

/// Gate keys have no passphrase, so there is no wrong one to send: a header Gate does not know
/// (carrying the real secret, even) changes nothing, and a wrong secret stays refused.
#[tokio::test]
async fn raw_gate_has_no_passphrase_header_to_get_wrong() {
    assert!(!GATE.needs_passphrase());
    let sim = CAST.sim(None).await;
    let mut h = signed_now(&key(Scenario::Valid), "another-secret", ACCOUNTS);
    h.insert("passphrase", SECRET.parse().unwrap());
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_SIGNATURE"));
}

#[tokio::test]
async fn raw_futures_account_is_signed_the_same_way_and_refused_without_the_right() {
    let sim = CAST.sim(None).await;
    let path = "/api/v4/futures/usdt/accounts";
    let h = signed_now(&key(Scenario::Valid), SECRET, path);
    let (status, body) = raw_get(&sim, path, "", h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["currency"], "USDT");
    let h = signed_now(&key(Scenario::FuturesMissing), SECRET, path);
    let (status, body) = raw_get(&sim, path, "", h, "").await;
    assert_eq!((status, label(&body)), (403, "FORBIDDEN"));
    let h = signed_now(&key(Scenario::Valid), "another-secret", path);
    let (status, body) = raw_get(&sim, path, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_SIGNATURE"));
}

#[tokio::test]
async fn raw_rate_limit_has_retry_after_and_gates_headers() {
    let sim = CAST.sim(None).await;
    let h = signed_now(&key(Scenario::RateLimited), SECRET, ACCOUNTS);
    let (headers, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{ACCOUNTS}", sim.base_url(GATE)))
            .headers(h),
    )
    .await;
    assert!(headers.contains_key("x-gate-ratelimit-reset-timestamp"));
    assert_eq!(label(&body), "TOO_MANY_REQUESTS");
}
