//! Binance: its rows of the table, and raw requests its simulator must answer as Binance does.

use keywarden::domain::ExchangeKind;
use keywarden::exchange::binance::{probe_query, signature, signed_query};
use keywarden::exchange::now_ms;
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::one_secret_cast;
use super::raw::{binance_code, get_in_maintenance, send_with_key};
use super::table::{every_right_told, row, Amend, Case::*, Market::*, Row, UnboundKeys::*};
use crate::probe_support::*;

const BINANCE: ExchangeKind = ExchangeKind::Binance;
/// The secret of the official signing example.
const SECRET: &str = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
const OTHER_SECRET: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The key that plays `scenario`: 64 letters and digits, like a Binance key.
fn key(scenario: Scenario) -> String {
    let stem = format!("kwsim{}", scenario.name().replace('_', ""));
    format!("{stem:X<64}")
}

pub const CAST: Cast = one_secret_cast(BINANCE, key, SECRET, None);

// ----- the table's rows ----------------------------------------------------------------------

/// A 64-character key Binance does not know (-2008), and one of the wrong shape (-2014).
const UNKNOWN_KEY: &str = "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";

/// Binance's rows: apiRestrictions tells every right, the trading authority of an unbound key
/// lapses, and its error codes.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    let own = vec![
        // Binance's geo block (HTTP 451, code 0; issue 18 item 5): not the key, not its
        // whitelist, so neither invalid_key nor ip_not_allowed.
        row(RestrictedLocation, Both).wrong_region().says("code 0 Service unavailable from a restricted location").says("this host's location"),
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1"))
            .says_first("GET /sapi/v1/account/apiRestrictions: code -2015 Invalid API-key"),
        row(Maintenance, Both).unavailable().says("code -1001"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("code -1003"),
        row(ClockSkew, Both).clock_skew().says("code -1021"),
        row(Valid, Spot).clock(120_000).clock_skew().says_first("GET /api/v3/time:").says("ahead of ours"),
        row(Valid, Spot).clock(-3_000).clock_skew().says("behind ours"),
        row(Valid, Futures).in_maintenance().unavailable().says("system_maintenance"),
        row(WrongSecret, Spot).invalid_key()
            .says_exactly("GET /sapi/v1/account/apiRestrictions: code -1022 Signature for this request is not valid."),
        row(ApiKey(UNKNOWN_KEY), Spot).invalid_key().says("code -2008"),
        row(ApiKey("not-a-binance-key"), Spot).invalid_key().says("code -2014"),
    ];
    let told = every_right_told(ExpireSoon)
        .amend(Valid, Futures, Row::without_notes)
        .amend(FuturesMissing, Futures, |r| r.note_with(&["futures refused", "code -2015"]));
    [told, own].concat()
}

#[tokio::test]
async fn the_system_status_says_maintenance_in_binances_shape() {
    let status = get_in_maintenance(&CAST, "/sapi/v1/system/status").await;
    let status: Value = status.json().await.unwrap();
    assert_eq!(
        status,
        serde_json::json!({"status": 1, "msg": "system_maintenance"})
    );
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

const RESTRICTIONS: &str = "/sapi/v1/account/apiRestrictions";

async fn raw_get(
    sim: &RunningSim,
    path: &str,
    api_key: Option<&str>,
    query: &str,
    body: &str,
) -> (u16, Value) {
    let url = format!("{}{path}?{query}", sim.base_url(BINANCE));
    let request = reqwest::Client::new().get(url).body(body.to_string());
    send_with_key(request, "X-MBX-APIKEY", api_key).await
}

#[tokio::test]
async fn raw_correctly_signed_requests_are_accepted_with_the_documented_shapes() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    let query = probe_query(SECRET, &[], now_ms());
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enableReading"], true);
    assert_eq!(body["enableWithdrawals"], false);
    assert_eq!(body["ipRestrict"], true);
    let query = probe_query(SECRET, &[("omitZeroBalances", "true")], now_ms());
    let (status, body) = raw_get(&sim, "/api/v3/account", Some(&valid), &query, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["balances"].is_array());
    let query = probe_query(SECRET, &[], now_ms());
    let (status, body) = raw_get(&sim, "/fapi/v3/balance", Some(&valid), &query, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body[0]["asset"], "USDT");
    // The same signature is good on another endpoint: the path is not signed.
    let (status, _) = raw_get(&sim, "/fapi/v2/balance", Some(&valid), &query, "").await;
    assert_eq!(status, 200);
    let time: Value = get_json(format!("{}/api/v3/time", sim.base_url(BINANCE))).await;
    assert!((time["serverTime"].as_i64().unwrap() - now_ms()).abs() < 5_000);
}

#[tokio::test]
async fn raw_wrong_signature_is_1022_with_http_400() {
    let sim = CAST.sim(None).await;
    let query = probe_query(OTHER_SECRET, &[], now_ms());
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1022));
    assert_eq!(body["msg"], "Signature for this request is not valid.");
}

#[tokio::test]
async fn raw_stale_or_future_timestamp_is_1021() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    let query = probe_query(SECRET, &[], now_ms() - 6_000);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1021));
    // More than a second ahead is refused whatever the recvWindow.
    let ts = (now_ms() + 2_000).to_string();
    let query = signed_query(SECRET, &[("timestamp", &ts), ("recvWindow", "60000")]);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1021));
    // A wider recvWindow lets an older timestamp through.
    let ts = (now_ms() - 6_000).to_string();
    let query = signed_query(SECRET, &[("timestamp", &ts), ("recvWindow", "10000")]);
    let (status, _) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn raw_reordered_query_or_tampered_body_is_1022() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    let ts = now_ms();
    let signed = format!("timestamp={ts}&recvWindow=5000");
    let sig = signature(SECRET, &signed, "");
    let reordered = format!("recvWindow=5000&timestamp={ts}&signature={sig}");
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &reordered, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1022));
    // Signed in that order, the same parameters are accepted: Binance signs bytes, not a map.
    let resigned = format!(
        "recvWindow=5000&timestamp={ts}&signature={}",
        signature(SECRET, &format!("recvWindow=5000&timestamp={ts}"), "")
    );
    let (status, _) = raw_get(&sim, RESTRICTIONS, Some(&valid), &resigned, "").await;
    assert_eq!(status, 200);
    // A parameter changed after signing.
    let tampered = format!("timestamp={ts}&recvWindow=6000&signature={sig}");
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &tampered, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1022));
    // A body that was not signed.
    let query = probe_query(SECRET, &[], ts);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "note=1").await;
    assert_eq!((status, binance_code(&body)), (400, -1022));
}

#[tokio::test]
async fn raw_missing_parameters_and_too_wide_window_are_refused() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    let unsigned = format!("timestamp={}", now_ms());
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &unsigned, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1102));
    let no_ts = signed_query(SECRET, &[("recvWindow", "5000")]);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &no_ts, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1102));
    let ts = now_ms().to_string();
    let wide = signed_query(SECRET, &[("timestamp", &ts), ("recvWindow", "70000")]);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &wide, "").await;
    assert_eq!((status, binance_code(&body)), (400, -1131));
}

#[tokio::test]
async fn raw_unknown_malformed_or_missing_key_is_refused_with_http_401() {
    let sim = CAST.sim(None).await;
    let query = probe_query(SECRET, &[], now_ms());
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&"Z".repeat(64)), &query, "").await;
    assert_eq!((status, binance_code(&body)), (401, -2008));
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some("testkey"), &query, "").await;
    assert_eq!((status, binance_code(&body)), (401, -2014));
    let (status, body) = raw_get(&sim, RESTRICTIONS, None, &query, "").await;
    assert_eq!((status, binance_code(&body)), (401, -2014));
}

#[tokio::test]
async fn raw_ip_refusal_and_rate_limit_use_binances_codes() {
    let sim = CAST.sim(None).await;
    let query = probe_query(SECRET, &[], now_ms());
    let (status, body) = raw_get(
        &sim,
        RESTRICTIONS,
        Some(&key(Scenario::IpNotWhitelisted)),
        &query,
        "",
    )
    .await;
    assert_eq!((status, binance_code(&body)), (401, -2015));
    assert_eq!(
        body["msg"],
        "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1"
    );
    let (_, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{RESTRICTIONS}?{query}", sim.base_url(BINANCE)))
            .header("X-MBX-APIKEY", key(Scenario::RateLimited)),
    )
    .await;
    assert_eq!(binance_code(&body), -1003);
}
