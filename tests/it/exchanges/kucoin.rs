//! KuCoin: its rows of the table, and raw requests its simulator must answer as KuCoin does.

use keywarden::domain::ExchangeKind;
use keywarden::exchange::http::sensitive_headers;
use keywarden::exchange::kucoin::{auth_header_values, passphrase_header};
use keywarden::exchange::now_ms;
use keywarden::sim::{Scenario, Scenario::*};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::one_secret_cast;
use super::raw::{remove_header, set_header, text_code, Raw};
use super::table::{every_right_told, row, Amend, Case::*, Market::*, Row, UnboundKeys::*};
use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Kucoin;
const SECRET: &str = "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3";
const PASSPHRASE: &str = "correct horse";

/// One 24-hex key per scenario, like KuCoin's.
fn key_for(scenario: Scenario) -> String {
    format!("6705f5c311545b0001{:06x}", index_of(scenario))
}

pub const CAST: Cast = one_secret_cast(KIND, key_for, SECRET, Some(PASSPHRASE));

// ---- the table's rows ----

/// KuCoin's rows: the key's own info tells every right, no expiry, and its error codes.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    let own = vec![
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1")).says("code 400006"),
        row(Maintenance, Both).unavailable().says("500000"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("429000"),
        row(ClockSkew, Both).clock_skew().says("400002"),
        row(Valid, Spot).clock(120_000).clock_skew().says("ahead of ours").rights([U, U, U, U]),
        row(Valid, Both).in_maintenance().unavailable().says("close"),
        row(WrongSecret, Spot).invalid_key(),
        row(ApiKey("000000000000000000000000"), Spot).invalid_key().says("400003"),
        row(WrongPassphrase, Spot).invalid_key().says("400004").hides("battery"),
    ];
    let told = every_right_told(ReportNoExpiry)
        .amend(FuturesMissing, Futures, |r| r.note("code 400007"));
    [told, own].concat()
}

// ---- raw HTTP against the simulator ----

/// Headers signed by the client's own code for a GET of `path` at `ts`, by the key that plays
/// `scenario`.
fn signed(scenario: Scenario, ts: i64, path: &str) -> HeaderMap {
    let values = auth_header_values(&CAST.creds(scenario), ts, "GET", path, "");
    sensitive_headers(values).unwrap()
}

/// Signs `signed_path` at `ts` and sends the request to `sent_path`; `edit` may change headers.
async fn send(
    raw: &Raw,
    ts: i64,
    signed_path: &str,
    sent_path: &str,
    edit: impl FnOnce(&mut HeaderMap),
) -> (u16, Value) {
    let mut headers = signed(Scenario::Valid, ts, signed_path);
    edit(&mut headers);
    status_and_json(raw.get(sent_path).headers(headers)).await
}

/// The valid key's request, signed now as it is sent, with `edit` applied to the headers.
async fn valid(raw: &Raw, edit: impl FnOnce(&mut HeaderMap)) -> (u16, Value) {
    send(raw, now_ms(), PATH, PATH, edit).await
}

const PATH: &str = "/api/v1/accounts?type=trade&currency=USDT";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = valid(&raw, |_| {}).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "200000");
    assert!(body["data"].is_array());
}

#[tokio::test]
async fn raw_wrong_signature_is_400005() {
    let raw = Raw::new(&CAST).await;
    // well-formed base64 of an HMAC-SHA256, but not this request's
    let forged = "Gi/XL3iadCgRnIK9XzPe7wtZgMHZInb7c3LUWsHnbHY=";
    let (status, body) = valid(&raw, set_header("KC-API-SIGN", forged)).await;
    assert_eq!((status, text_code(&body)), (401, Some("400005")), "{body}");
}

#[tokio::test]
async fn raw_stale_timestamp_is_400002() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = send(&raw, now_ms() - 30_000, PATH, PATH, |_| {}).await;
    assert_eq!((status, text_code(&body)), (401, Some("400002")), "{body}");
}

#[tokio::test]
async fn raw_reordered_query_not_resigned_is_400005() {
    let raw = Raw::new(&CAST).await;
    let reordered = "/api/v1/accounts?currency=USDT&type=trade";
    let (status, body) = send(&raw, now_ms(), PATH, reordered, |_| {}).await;
    assert_eq!((status, text_code(&body)), (401, Some("400005")), "{body}");
}

#[tokio::test]
async fn raw_wrong_passphrase_is_400004() {
    let raw = Raw::new(&CAST).await;
    // the HMAC of another passphrase with the right secret
    let other = passphrase_header(SECRET, "battery staple");
    let edit = set_header("KC-API-PASSPHRASE", &other);
    let (status, body) = valid(&raw, edit).await;
    assert_eq!((status, text_code(&body)), (401, Some("400004")), "{body}");
}

#[tokio::test]
async fn raw_plaintext_passphrase_with_version_2_is_400004() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = valid(&raw, |h| {
        h.insert("KC-API-PASSPHRASE", PASSPHRASE.parse().unwrap());
        h.insert("KC-API-KEY-VERSION", "2".parse().unwrap());
    })
    .await;
    assert_eq!((status, text_code(&body)), (401, Some("400004")), "{body}");
}

#[tokio::test]
async fn raw_missing_header_is_400001() {
    let raw = Raw::new(&CAST).await;
    for name in [
        "KC-API-KEY",
        "KC-API-SIGN",
        "KC-API-TIMESTAMP",
        "KC-API-PASSPHRASE",
    ] {
        let (status, body) = valid(&raw, remove_header(name)).await;
        assert_eq!(
            (status, text_code(&body)),
            (401, Some("400001")),
            "{name}: {body}"
        );
    }
}

#[tokio::test]
async fn raw_unknown_key_is_400003() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = valid(&raw, set_header("KC-API-KEY", "000000000000000000000000")).await;
    assert_eq!((status, text_code(&body)), (401, Some("400003")), "{body}");
}

#[tokio::test]
async fn raw_public_endpoints_answer_kucoins_shapes() {
    let raw = Raw::new(&CAST).await;
    let time: Value = get_json(format!("{}/api/v1/timestamp", raw.base)).await;
    assert_eq!(time["code"], "200000");
    assert!((time["data"].as_i64().unwrap() - now_ms()).abs() < 5_000);
    let status: Value = get_json(format!("{}/api/v1/status", raw.base)).await;
    assert_eq!(status["data"]["status"], "open");
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after_and_kucoins_headers() {
    let raw = Raw::new(&CAST).await;
    let headers = signed(Scenario::RateLimited, now_ms(), PATH);
    let (headers, body) = assert_throttled(raw.get(PATH).headers(headers)).await;
    assert!(headers.contains_key("gw-ratelimit-reset"));
    assert_eq!(body["code"], "429000");
}
