//! Bybit: its rows of the table, and raw requests its simulator must answer as Bybit does.

use keywarden::domain::ExchangeKind;
use keywarden::exchange::bybit::{auth_headers, signature, POSITIONS_QUERY};
use keywarden::exchange::{now_ms, ProbeTarget};
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::one_secret_cast;
use super::raw::{remove_header, set_header};
use super::table::{every_right_told, row, Amend, Case::*, Market::*, Row, UnboundKeys::*};
use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Bybit;
const SECRET: &str = "Xg2kQm7rT9vLp4sNw8yZc3bHf6dJa1eUq5iO";

/// One 18-character alphanumeric key per scenario, like Bybit's.
fn key_for(scenario: Scenario) -> String {
    format!("opjSlSOzqIeXRO{:04}", index_of(scenario))
}

pub const CAST: Cast = one_secret_cast(KIND, key_for, SECRET, None);

// ---- the table's rows ----

/// Bybit's rows: query-api tells every right and when an unbound key expires, and its error
/// codes.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    let own = vec![
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1")).says("code 10010"),
        row(Maintenance, Both).unavailable().says("10016"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("10006"),
        row(ClockSkew, Both).clock_skew().says("code 10002"),
        row(Valid, Spot).clock(120_000).clock_skew().says("ahead of ours").rights([U, U, U, U]),
        // Bybit refuses timestamps 1 s or more ahead of its clock, whatever the window.
        row(Valid, Spot).clock(-2_000).clock_skew().says("behind ours"),
        row(Valid, Both).in_maintenance().unavailable().says("Bybit maintenance").says("ongoing"),
        row(WrongSecret, Spot).invalid_key()
            .says_exactly("GET /v5/user/query-api: code 10004 Error sign, please check your signature generation algorithm."),
        row(ApiKey("XXXXXXXXXXXXXXXXXX"), Spot).invalid_key().says("10003").says("check the connection's region, one of global, nl, tr, kz, ge, ae, eu, id"),
    ];
    let told = every_right_told(ExpireSoon)
        .amend(FuturesMissing, Futures, |r| r.note("code 10005"));
    [told, own].concat()
}

#[tokio::test]
async fn a_path_prefix_in_base_url_is_not_signed() {
    // sim.base_url ends in /bybit: every row of the table already goes through a prefix; this
    // checks that a trailing slash is trimmed too.
    let sim = CAST.sim(None).await;
    let prefixed = format!("{}/", sim.base_url(KIND));
    let target = ProbeTarget {
        futures_base_url: Some(prefixed.clone()),
        ..target(
            ExchangeKind::Bybit,
            CAST.creds(Scenario::Valid),
            prefixed,
            markets(true),
        )
    };
    let facts = run_probe(KIND, &target).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
}

// ---- raw HTTP against the simulator ----

/// Sends a GET of `sent` (path and query) with headers signed over `signed_query` at `ts`;
/// `edit` may change the headers.
async fn raw_get(
    sim: &RunningSim,
    ts: i64,
    signed_query: &str,
    sent: &str,
    edit: impl FnOnce(&mut reqwest::header::HeaderMap),
) -> (u16, Value) {
    let mut headers = auth_headers(&CAST.creds(Scenario::Valid), ts, signed_query).unwrap();
    edit(&mut headers);
    status_and_json(
        reqwest::Client::new()
            .get(format!("{}{sent}", sim.base_url(KIND)))
            .headers(headers),
    )
    .await
}

fn code(body: &Value) -> i64 {
    body["retCode"].as_i64().unwrap_or(i64::MIN)
}

const WALLET_QUERY: &str = "accountType=UNIFIED";
const WALLET: &str = "/v5/account/wallet-balance?accountType=UNIFIED";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let sim = CAST.sim(None).await;
    let (status, body) = raw_get(&sim, now_ms(), WALLET_QUERY, WALLET, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
    assert!(body["result"]["list"].is_array());
    let positions = format!("/v5/position/list?{POSITIONS_QUERY}");
    let (status, body) = raw_get(&sim, now_ms(), POSITIONS_QUERY, &positions, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
}

#[tokio::test]
async fn raw_wrong_signature_is_10004() {
    let sim = CAST.sim(None).await;
    let valid = key_for(Scenario::Valid);
    let other = signature("ffffffff", now_ms(), &valid, "5000", WALLET_QUERY);
    let edit = set_header("X-BAPI-SIGN", &other);
    let (status, body) = raw_get(&sim, now_ms(), WALLET_QUERY, WALLET, edit).await;
    assert_eq!((status, code(&body)), (200, 10004), "{body}");
}

#[tokio::test]
async fn raw_stale_or_early_timestamp_is_10002() {
    let sim = CAST.sim(None).await;
    let (status, body) = raw_get(&sim, now_ms() - 6_000, WALLET_QUERY, WALLET, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 10002), "{body}");
    // 1 s or more ahead is refused whatever the recvWindow
    let (status, body) = raw_get(&sim, now_ms() + 2_000, WALLET_QUERY, WALLET, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 10002), "{body}");
}

#[tokio::test]
async fn raw_reordered_or_tampered_query_is_10004() {
    let sim = CAST.sim(None).await;
    let signed = "category=linear&settleCoin=USDT";
    for sent in [
        "/v5/position/list?settleCoin=USDT&category=linear",
        "/v5/position/list?category=linear&settleCoin=USDC",
    ] {
        let (status, body) = raw_get(&sim, now_ms(), signed, sent, |_| {}).await;
        assert_eq!((status, code(&body)), (200, 10004), "{sent}: {body}");
    }
    // Signed in that order, the same parameters are accepted: Bybit v5 signs bytes, not a map.
    let reordered = "settleCoin=USDT&category=linear";
    let (status, body) = raw_get(
        &sim,
        now_ms(),
        reordered,
        &format!("/v5/position/list?{reordered}"),
        |_| {},
    )
    .await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
}

#[tokio::test]
async fn raw_post_signs_the_body_byte_for_byte() {
    let sim = CAST.sim(None).await;
    let body = r#"{"setMarginMode":"REGULAR_MARGIN"}"#;
    let post = |sent: &'static str| {
        let headers = auth_headers(&CAST.creds(Scenario::Valid), now_ms(), body).unwrap();
        let url = format!("{}/v5/account/set-margin-mode", sim.base_url(KIND));
        async move {
            status_and_json(reqwest::Client::new().post(url).headers(headers).body(sent)).await
        }
    };
    let (status, reply) = post(r#"{"setMarginMode":"REGULAR_MARGIN"}"#).await;
    assert_eq!((status, code(&reply)), (200, 0), "{reply}");
    let (status, reply) = post(r#"{"setMarginMode": "REGULAR_MARGIN"}"#).await;
    assert_eq!((status, code(&reply)), (200, 10004), "{reply}");
    let (status, reply) = post(r#"{"setMarginMode":"PORTFOLIO_MARGIN"}"#).await;
    assert_eq!((status, code(&reply)), (200, 10004), "{reply}");
}

#[tokio::test]
async fn raw_unknown_or_missing_key_is_10003_with_http_401() {
    let sim = CAST.sim(None).await;
    let (status, body) = raw_get(
        &sim,
        now_ms(),
        WALLET_QUERY,
        WALLET,
        set_header("X-BAPI-API-KEY", "XXXXXXXXXXXXXXXXXX"),
    )
    .await;
    assert_eq!((status, code(&body)), (401, 10003), "{body}");
    let (status, body) = raw_get(
        &sim,
        now_ms(),
        WALLET_QUERY,
        WALLET,
        remove_header("X-BAPI-API-KEY"),
    )
    .await;
    assert_eq!((status, code(&body)), (401, 10003), "{body}");
}

#[tokio::test]
async fn raw_public_endpoints_answer_bybits_shapes() {
    let sim = CAST.sim(None).await;
    let time: Value = get_json(format!("{}/v5/market/time", sim.base_url(KIND))).await;
    assert_eq!(code(&time), 0);
    let nano: i128 = time["result"]["timeNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(((nano / 1_000_000) as i64 - now_ms()).abs() < 5_000);
    assert!(time["result"]["timeSecond"].is_string());
    let status: Value = get_json(format!("{}/v5/system/status", sim.base_url(KIND))).await;
    assert_eq!(status["result"]["list"][0]["state"], "completed");
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after_and_bybits_headers() {
    let sim = CAST.sim(None).await;
    let headers = auth_headers(&CAST.creds(Scenario::RateLimited), now_ms(), WALLET_QUERY).unwrap();
    let (headers, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{WALLET}", sim.base_url(KIND)))
            .headers(headers),
    )
    .await;
    assert!(headers.contains_key("x-bapi-limit-reset-timestamp"));
    assert_eq!(code(&body), 10006);
}
