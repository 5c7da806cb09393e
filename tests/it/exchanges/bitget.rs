//! Bitget: its rows of the table, and raw requests its simulator must answer as Bitget does.

use keywarden::domain::ExchangeKind;
use keywarden::domain::Warning::{FuturesNotNeeded, IpBindingUnverified, WithdrawUnverified};
use keywarden::exchange::bitget::{auth_header_values, signed_query};
use keywarden::exchange::http::sensitive_headers;
use keywarden::exchange::now_ms;
use keywarden::sim::{Scenario, Scenario::*};
use reqwest::header::HeaderMap;
use serde_json::Value;

use super::one_secret_cast;
use super::raw::{remove_header, set_header, text_code, Raw};
use super::table::{every_right_told, row, Amend, Case::*, Market::*, Row, UnboundKeys::*};
use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Bitget;
const SECRET: &str = "7b1e3c0d9f2a4e5b8c6d1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";
const PASSPHRASE: &str = "correct horse";

/// One key per scenario, shaped like Bitget's (`bg_` + 32 hex).
fn key_for(scenario: Scenario) -> String {
    format!("bg_5f0c2a9e7d4b1c3e8a6f0d2b{:06x}", index_of(scenario))
}

pub const CAST: Cast = one_secret_cast(KIND, key_for, SECRET, Some(PASSPHRASE));

// ---- the table's rows ----

/// Bitget's rows: the key's own info tells every right, no expiry date, and its error codes.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    let own = vec![
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1")).says("code 40018"),
        row(Maintenance, Both).unavailable().says("40200"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("code 429"),
        row(ClockSkew, Both).clock_skew().says("40008"),
        row(Valid, Spot).clock(120_000).clock_skew().says("ahead of ours").rights([U, U, U, U]),
        row(Valid, Spot).clock(-45_000).clock_skew().says("behind ours"),
        row(Valid, Both).in_maintenance().unavailable().says("40200"),
        row(WrongSecret, Spot).invalid_key().says("40009"),
        row(ApiKey("bg_00000000000000000000000000000000"), Spot).invalid_key().says("40006").hides("bg_0000"),
        row(WrongPassphrase, Spot).invalid_key().says("40012").hides("battery"),
        // A missing passphrase is refused before anything is sent to Bitget.
        row(NoPassphrase, Spot).invalid_key().says("passphrase"),
        // A unified trading account (issue 18): the classic API's 40085 is not an outage; the
        // UTA API tells the rights, one trade right for spot and futures alike.
        row(UnifiedAccount, Spot).connected().rights([T, T, F, T]).ip(T).note("code 40085")
            .note("unified trading account").warns(&[FuturesNotNeeded]),
        row(UnifiedAccount, Futures).connected().rights([T, T, F, T]).ip(T).note("/api/v3/account/info"),
        // A futures-only key cannot describe itself (the key info needs spot read): it reads its
        // futures account, lacks spot trade, and its withdraw right is unknown, not absent.
        row(FuturesOnly, Both).no_trade().rights([T, F, U, U]).note("withdraw right unknown")
            .note("futures account readable").warns(&[WithdrawUnverified, IpBindingUnverified]),
    ];
    let told = every_right_told(ReportNoExpiry)
        .amend(FuturesMissing, Futures, |r| r.note("code 40014"));
    [told, own].concat()
}

// ---- raw HTTP against the simulator ----

/// Headers signed by the client's own code for a GET of `path?query` at `ts`, by the key that
/// plays `scenario`.
fn signed(scenario: Scenario, ts: i64, path: &str, query: &str) -> HeaderMap {
    let values = auth_header_values(&CAST.creds(scenario), ts, "GET", path, query, "");
    sensitive_headers(values).unwrap()
}

/// Signs GET [`ASSETS`] with `signed_query` at `ts`, sends it with `sent_query` and `body`;
/// `edit` may change the headers.
async fn send(
    raw: &Raw,
    ts: i64,
    signed_query: &str,
    sent_query: &str,
    body: &str,
    edit: impl FnOnce(&mut HeaderMap),
) -> (u16, Value) {
    let mut headers = signed(Scenario::Valid, ts, ASSETS, signed_query);
    edit(&mut headers);
    let request = raw.get(&format!("{ASSETS}?{sent_query}")).headers(headers);
    status_and_json(request.body(body.to_string())).await
}

/// The valid key's request for the USDT assets, signed now as it is sent, with `edit` applied to
/// the headers.
async fn valid(raw: &Raw, edit: impl FnOnce(&mut HeaderMap)) -> (u16, Value) {
    send(raw, now_ms(), QUERY, QUERY, "", edit).await
}

const ASSETS: &str = "/api/v2/spot/account/assets";
const QUERY: &str = "assetType=all&coin=USDT";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let raw = Raw::new(&CAST).await;
    let query = signed_query(&[("coin", "USDT"), ("assetType", "all")]);
    assert_eq!(query, QUERY);
    let (status, body) = send(&raw, now_ms(), &query, &query, "", |_| {}).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "00000");
    assert!(body["data"].is_array());
}

#[tokio::test]
async fn raw_wrong_signature_is_40009() {
    let raw = Raw::new(&CAST).await;
    // well-formed base64 of an HMAC-SHA256, but not this request's
    let forged = "ROFFd4+DVLlr0tKiRPa/6C0QO/CEPEJP3qU/PNOmKXY=";
    let (status, body) = valid(&raw, set_header("ACCESS-SIGN", forged)).await;
    assert_eq!((status, text_code(&body)), (400, Some("40009")), "{body}");
    assert_eq!(body["msg"], "sign signature error");
}

#[tokio::test]
async fn raw_stale_and_future_timestamps_are_40008() {
    let raw = Raw::new(&CAST).await;
    for ts in [now_ms() - 45_000, now_ms() + 45_000] {
        let (status, body) = send(&raw, ts, QUERY, QUERY, "", |_| {}).await;
        assert_eq!((status, text_code(&body)), (400, Some("40008")), "{body}");
    }
    let (status, body) = valid(&raw, set_header("ACCESS-TIMESTAMP", "yesterday")).await;
    assert_eq!((status, text_code(&body)), (400, Some("40005")), "{body}");
}

#[tokio::test]
async fn raw_tampered_query_is_40009() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = send(&raw, now_ms(), QUERY, "assetType=all&coin=BTC", "", |_| {}).await;
    assert_eq!((status, text_code(&body)), (400, Some("40009")), "{body}");
}

#[tokio::test]
async fn raw_reordered_query_is_40009_signed_either_way() {
    let raw = Raw::new(&CAST).await;
    let reordered = "coin=USDT&assetType=all";
    for signed in [QUERY, reordered] {
        let (status, body) = send(&raw, now_ms(), signed, reordered, "", |_| {}).await;
        assert_eq!(
            (status, text_code(&body)),
            (400, Some("40009")),
            "{signed}: {body}"
        );
    }
}

#[tokio::test]
async fn raw_unsigned_body_is_40009() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = send(&raw, now_ms(), QUERY, QUERY, r#"{"coin":"BTC"}"#, |_| {}).await;
    assert_eq!((status, text_code(&body)), (400, Some("40009")), "{body}");
}

#[tokio::test]
async fn raw_wrong_passphrase_is_40012() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = valid(&raw, set_header("ACCESS-PASSPHRASE", "battery staple")).await;
    assert_eq!((status, text_code(&body)), (400, Some("40012")), "{body}");
}

#[tokio::test]
async fn raw_missing_headers_have_their_own_codes() {
    let raw = Raw::new(&CAST).await;
    for (name, code) in [
        ("ACCESS-KEY", "40001"),
        ("ACCESS-SIGN", "40002"),
        ("ACCESS-TIMESTAMP", "40003"),
        ("ACCESS-PASSPHRASE", "40011"),
    ] {
        let (status, body) = valid(&raw, remove_header(name)).await;
        assert_eq!(
            (status, text_code(&body)),
            (400, Some(code)),
            "{name}: {body}"
        );
    }
}

#[tokio::test]
async fn raw_unknown_key_is_40006() {
    let raw = Raw::new(&CAST).await;
    let (status, body) = valid(
        &raw,
        set_header("ACCESS-KEY", "bg_00000000000000000000000000000000"),
    )
    .await;
    assert_eq!((status, text_code(&body)), (400, Some("40006")), "{body}");
}

#[tokio::test]
async fn raw_public_time_answers_bitgets_shape() {
    let raw = Raw::new(&CAST).await;
    let time: Value = get_json(format!("{}/api/v2/public/time", raw.base)).await;
    assert_eq!(time["code"], "00000");
    let server: i64 = time["data"]["serverTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((server - now_ms()).abs() < 5_000);
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after() {
    let raw = Raw::new(&CAST).await;
    let headers = signed(Scenario::RateLimited, now_ms(), ASSETS, QUERY);
    let (_, body) = assert_throttled(raw.get(&format!("{ASSETS}?{QUERY}")).headers(headers)).await;
    assert_eq!(body["code"], "429");
}
