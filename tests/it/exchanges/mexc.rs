//! MEXC: its rows of the table, raw requests its simulator must answer as MEXC does, and the
//! fallback when apiKeyInfo is not available.

use keywarden::domain::ExchangeKind;
use keywarden::domain::Warning::{IpBindingUnverified, WithdrawUnverified};
use keywarden::exchange::mexc::{futures_signature, spot_signature, spot_signed_query};
use keywarden::exchange::now_ms;
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::raw::{binance_code, get_in_maintenance, send_with_key};
use super::table::{every_right_told, row, Amend, Case::*, Market::*, Row, UnboundKeys::*};
use super::{one_secret_cast, probe_stand_in};
use crate::probe_support::*;

const MEXC: ExchangeKind = ExchangeKind::Mexc;
const SECRET: &str = "45d0b3c26f2644f19bfb98b07741b2f5";

/// The access key that plays `scenario` (MEXC keys are `mx0` + alphanumerics).
fn key(scenario: Scenario) -> String {
    format!("mx0sim{}", scenario.name().replace('_', ""))
}

pub const CAST: Cast = one_secret_cast(MEXC, key, SECRET, None);

// ----- the table's rows ----------------------------------------------------------------------

/// MEXC's rows: apiKeyInfo tells every right, MEXC sets an expiry on unbound keys, and its
/// error codes.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    let own = vec![
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1")).says("code 700006"),
        row(Maintenance, Both).unavailable(),
        row(RateLimited, Both).rate_limited().retry_after(7),
        row(ClockSkew, Both).clock_skew().says("700003"),
        row(Valid, Spot).clock(120_000).clock_skew().says("ahead of ours"),
        row(Valid, Futures).in_maintenance().unavailable(),
        row(WrongSecret, Spot).invalid_key()
            .says_exactly("GET /api/v3/account: code 700002 Signature for this request is not valid."),
        row(ApiKey("mx0nosuchkey12345"), Spot).invalid_key().says("10072"),
        // apiKeyInfo answers a bare 404: only the account read's right is known, and the
        // withdraw right and IP binding are said to be unverified.
        row(RightsUnrevealed, Both).connected().rights([T, U, U, U]).ip(U).note("apiKeyInfo not available")
            .warns(&[WithdrawUnverified, IpBindingUnverified]),
    ];
    let told = every_right_told(ExpireSoon)
        .amend(FuturesMissing, Futures, |r| r.note("code 701"));
    [told, own].concat()
}

#[tokio::test]
async fn in_maintenance_the_ping_is_a_503() {
    let ping = get_in_maintenance(&CAST, "/api/v3/ping").await;
    assert_eq!(ping.status(), 503);
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

async fn spot_get(
    sim: &RunningSim,
    api_key: Option<&str>,
    query: &str,
    body: &str,
) -> (u16, Value) {
    let url = format!("{}/api/v3/account?{query}", sim.base_url(MEXC));
    let request = reqwest::Client::new().get(url).body(body.to_string());
    send_with_key(request, "X-MEXC-APIKEY", api_key).await
}

#[tokio::test]
async fn raw_spot_correctly_signed_request_is_accepted() {
    let sim = CAST.sim(None).await;
    let query = spot_signed_query(SECRET, &[], now_ms());
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body["balances"].is_array());
}

#[tokio::test]
async fn raw_spot_wrong_signature_is_700002() {
    let sim = CAST.sim(None).await;
    let query = spot_signed_query("ffffffffffffffffffffffffffffffff", &[], now_ms());
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, 700002));
}

#[tokio::test]
async fn raw_spot_stale_timestamp_is_700003() {
    let sim = CAST.sim(None).await;
    let query = spot_signed_query(SECRET, &[], now_ms() - 6_000);
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, 700003));
    // More than a second ahead is refused whatever the recvWindow.
    let query = spot_signed_query(SECRET, &[], now_ms() + 2_000);
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, 700003));
}

#[tokio::test]
async fn raw_spot_reordered_query_or_tampered_body_is_700002() {
    let sim = CAST.sim(None).await;
    let ts = now_ms();
    let signed = format!("timestamp={ts}&recvWindow=5000");
    let signature = spot_signature(SECRET, &signed, "");
    let reordered = format!("recvWindow=5000&timestamp={ts}&signature={signature}");
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &reordered, "").await;
    assert_eq!((status, binance_code(&body)), (400, 700002));
    // Signed in that order, the same parameters are accepted: MEXC signs bytes, not a map.
    let resigned = format!(
        "recvWindow=5000&timestamp={ts}&signature={}",
        spot_signature(SECRET, &format!("recvWindow=5000&timestamp={ts}"), "")
    );
    let (status, _) = spot_get(&sim, Some(&key(Scenario::Valid)), &resigned, "").await;
    assert_eq!(status, 200);
    // A body that was not signed.
    let query = spot_signed_query(SECRET, &[], ts);
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "note=1").await;
    assert_eq!((status, binance_code(&body)), (400, 700002));
}

#[tokio::test]
async fn raw_spot_unknown_or_missing_key_is_refused() {
    let sim = CAST.sim(None).await;
    let query = spot_signed_query(SECRET, &[], now_ms());
    let (status, body) = spot_get(&sim, Some("mx0nosuchkey12345"), &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, 10072));
    let (status, body) = spot_get(&sim, None, &query, "").await;
    assert_eq!((status, binance_code(&body)), (400, 400));
}

async fn futures_get(sim: &RunningSim, headers: &[(&str, String)]) -> (u16, Value) {
    let url = format!("{}/api/v1/private/account/assets", sim.base_url(MEXC));
    let mut request = reqwest::Client::new().get(url);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    status_and_json(request).await
}

fn futures_headers(api_key: &str, secret: &str, time: i64) -> Vec<(&'static str, String)> {
    vec![
        ("ApiKey", api_key.to_string()),
        ("Request-Time", time.to_string()),
        ("Signature", futures_signature(api_key, secret, time, "")),
        ("Content-Type", "application/json".to_string()),
    ]
}

#[tokio::test]
async fn raw_futures_signed_request_is_accepted_and_bad_ones_get_http_200_errors() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    let (status, body) = futures_get(&sim, &futures_headers(&api_key, SECRET, now_ms())).await;
    assert_eq!(status, 200);
    assert_eq!(body["success"], true, "{body}");

    let wrong = futures_headers(&api_key, "ffffffffffffffffffffffffffffffff", now_ms());
    let (status, body) = futures_get(&sim, &wrong).await;
    assert_eq!(
        (status, body["success"].as_bool(), binance_code(&body)),
        (200, Some(false), 602)
    );

    let stale = futures_headers(&api_key, SECRET, now_ms() - 11_000);
    let (status, body) = futures_get(&sim, &stale).await;
    assert_eq!((status, binance_code(&body)), (200, 513));

    let unknown = futures_headers("mx0nosuchkey12345", SECRET, now_ms());
    let (status, body) = futures_get(&sim, &unknown).await;
    assert_eq!((status, binance_code(&body)), (200, 401));
}

// ----- when apiKeyInfo is not available -------------------------------------------------------

/// A bare stand-in for MEXC (no verification) whose apiKeyInfo answers `key_info`, to see the
/// probe fall back when the endpoint is missing (404) or refused (700007).
async fn without_key_info(key_info: (u16, &'static str)) -> String {
    use axum::http::StatusCode;
    use axum::routing::get;
    let (status, body) = key_info;
    let json = |body: String| ([("content-type", "application/json")], body);
    let app = axum::Router::new()
        .route(
            "/api/v3/time",
            get(move || async move { json(format!(r#"{{"serverTime":{}}}"#, now_ms())) }),
        )
        .route(
            "/api/v3/account",
            get(move || async move { json(r#"{"canWithdraw":true,"balances":[]}"#.to_string()) }),
        )
        .route(
            "/api/v3/apiKeyInfo",
            get(move || async move {
                (
                    StatusCode::from_u16(status).unwrap(),
                    json(body.to_string()),
                )
            }),
        );
    serve(app).await
}

#[tokio::test]
async fn without_api_key_info_only_read_is_known_and_a_note_says_why() {
    for key_info in [
        (404, "Not Found"),
        (
            400,
            r#"{"code":700007,"msg":"No permission to access the endpoint."}"#,
        ),
        (200, r#"{"something":"else"}"#),
    ] {
        let base = without_key_info(key_info).await;
        let facts = probe_stand_in(MEXC, base, "mx0somekey", SECRET, false).await;
        assert_eq!(problem_kind(&facts), None, "{key_info:?}: {facts:?}");
        // canWithdraw is an account flag, never read as the key's withdraw right.
        assert_eq!(rights(&facts), [T, None, None, None], "{key_info:?}");
        assert_eq!(facts.ip_restricted, None);
        assert!(
            has_note(&facts, "apiKeyInfo not available"),
            "{:?}",
            facts.notes
        );
    }
}
