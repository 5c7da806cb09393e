//! HTX: its rows of the table, and raw requests its simulator must answer as HTX does.

use keywarden::domain::ExchangeKind;
use keywarden::domain::Warning::*;
use keywarden::exchange::htx::signed_query;
use keywarden::exchange::{now_ms, ProbeTarget};
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::one_secret_cast;
use super::raw::get_in_maintenance;
use super::table::{row, Case::*, Market::*, Row};
use crate::probe_support::*;

const HTX: ExchangeKind = ExchangeKind::Htx;
const SECRET: &str = "b0a1c2d3-e4f5a6b7-c8d9e0f1-2a3b4";

/// The access key that plays `scenario` (HTX keys look like `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxx`).
fn key(scenario: Scenario) -> String {
    format!(
        "{}-4a92c5da-718ba144-dbuqg6hkte",
        scenario.name().replace('_', "")
    )
}

pub const CAST: Cast = one_secret_cast(HTX, key, SECRET, None);

// ----- the table's rows ----------------------------------------------------------------------

/// HTX's rows: no futures right of its own (`trade` covers futures once the account opened
/// contract trading, which only the futures account read shows), `validDays` for unbound keys,
/// and its error codes.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    vec![
        row(Valid, Spot).connected().rights([T, T, F, U]).ip(T).never_expires().note("no separate futures right"),
        row(Valid, Futures).connected().rights([T, T, F, T]).ip(T).never_expires(),
        row(WithdrawEnabled, Spot).withdraw_enabled().rights([T, T, T, U]).ip(T),
        row(WithdrawEnabled, Futures).withdraw_enabled().rights([T, T, T, T]).ip(T),
        row(FuturesMissing, Spot).connected().rights([T, T, F, U]).ip(T),
        row(FuturesMissing, Futures).no_futures().rights([T, T, F, F]).ip(T).note("code 1220"),
        // Without `trade` an HTX key can trade nothing, futures included, even where the
        // account has opened contract trading.
        row(TradeMissing, Spot).no_trade().rights([T, F, F, F]),
        row(TradeMissing, Futures).no_trade().rights([T, F, F, F]).note("no trade right"),
        row(ReadOnly, Both).no_trade().rights([T, F, F, F]),
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(Some("127.0.0.1")).says_exactly(
            "GET /v1/account/accounts: code api-signature-not-valid Signature not valid: \
             Incorrect IP address [IP地址错误]:127.0.0.1"),
        row(NoIpWhitelist, Spot).connected().rights([T, T, F, U]).ip(F).expires_within_five_days()
            .warns(&[IpWhitelistMissing, KeyExpiresSoon]),
        row(NoIpWhitelist, Futures).connected().rights([T, T, F, T]).ip(F).expires_within_five_days()
            .warns(&[IpWhitelistMissing, KeyExpiresSoon]),
        row(Maintenance, Both).unavailable().says("system-maintenance"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("base-request-exceed-frequency-limit"),
        row(ClockSkew, Both).clock_skew().says("Invalid submission time"),
        row(Valid, Spot).clock(360_000).clock_skew().says("ahead of ours"),
        row(Valid, Futures).in_maintenance().unavailable().says("marketStatus 2"),
        row(WrongSecret, Spot).invalid_key().says_exactly(
            "GET /v1/account/accounts: code api-signature-not-valid Signature not valid: \
             Verification failure [校验失败]"),
        row(ApiKey("deadbeef-00000000-11111111-22222"), Spot).invalid_key().says("Incorrect Access key"),
    ]
}

#[tokio::test]
async fn in_maintenance_the_swap_heartbeat_is_down() {
    let heartbeat = get_in_maintenance(&CAST, "/heartbeat/").await;
    let heartbeat: Value = heartbeat.json().await.unwrap();
    assert_eq!(heartbeat["data"]["linear_swap_heartbeat"], 0);
}

#[tokio::test]
async fn futures_host_override_is_signed_with_its_own_host() {
    // The futures base names `localhost`, the spot base `127.0.0.1`: each request must sign the
    // host it is sent to, or the simulator refuses it.
    let sim = CAST.sim(None).await;
    let target = ProbeTarget {
        futures_base_url: Some(format!("http://localhost:{}/htx", sim.addr.port())),
        ..target(
            HTX,
            CAST.creds(Scenario::Valid),
            sim.base_url(HTX),
            markets(true),
        )
    };
    let facts = run_probe(HTX, &target).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

const ACCOUNTS: &str = "/v1/account/accounts";

async fn raw_get(sim: &RunningSim, path: &str, query: &str) -> (u16, Value) {
    let url = format!("{}{path}?{query}", sim.base_url(HTX));
    status_and_json(reqwest::Client::new().get(url)).await
}

fn signed(api_key: &str, secret: &str, path: &str, params: &[(&str, &str)], ts: i64) -> String {
    signed_query(api_key, secret, "127.0.0.1", path, params, ts)
}

/// The query of a GET of `path` without parameters, signed now.
fn signed_now(api_key: &str, secret: &str, path: &str) -> String {
    signed(api_key, secret, path, &[], now_ms())
}

fn err(body: &Value) -> (String, String) {
    (
        body["err-code"].as_str().unwrap_or("").to_string(),
        body["err-msg"].as_str().unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let sim = CAST.sim(None).await;
    let query = signed_now(&key(Scenario::Valid), SECRET, ACCOUNTS);
    let (status, body) = raw_get(&sim, ACCOUNTS, &query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["data"][0]["type"], "spot");
}

#[tokio::test]
async fn raw_wrong_signature_is_verification_failure_with_http_200() {
    let sim = CAST.sim(None).await;
    let query = signed_now(
        &key(Scenario::Valid),
        "ffffffff-ffffffff-ffffffff-fffff",
        ACCOUNTS,
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, &query).await;
    assert_eq!(status, 200);
    assert_eq!(
        err(&body),
        (
            "api-signature-not-valid".to_string(),
            "Signature not valid: Verification failure [校验失败]".to_string()
        )
    );
}

#[tokio::test]
async fn raw_stale_timestamp_is_invalid_submission_time() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    // HTX's documented window is 5 minutes (htx.md §2): six minutes either side is refused.
    for ts in [now_ms() - 360_000, now_ms() + 360_000] {
        let query = signed(&valid, SECRET, ACCOUNTS, &[], ts);
        let (status, body) = raw_get(&sim, ACCOUNTS, &query).await;
        assert_eq!(status, 200);
        let (code, msg) = err(&body);
        assert_eq!(code, "api-signature-not-valid");
        assert!(msg.contains("Invalid submission time"), "{msg}");
    }
    // Two minutes off is inside the window: accepted (issue 18).
    for ts in [now_ms() - 120_000, now_ms() + 120_000] {
        let query = signed(&valid, SECRET, ACCOUNTS, &[], ts);
        let (status, body) = raw_get(&sim, ACCOUNTS, &query).await;
        assert_eq!(
            (status, &body["status"]),
            (200, &Value::from("ok")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn raw_tampered_query_is_refused_but_reordering_is_not() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    let ts = now_ms();
    let query = signed(&api_key, SECRET, "/v2/user/uid", &[], ts);
    let (_, body) = raw_get(&sim, "/v2/user/uid", &query).await;
    assert_eq!(body["code"], 200, "{body}");
    let uid = body["data"].as_i64().unwrap().to_string();

    let params = [("uid", uid.as_str()), ("accessKey", api_key.as_str())];
    let query = signed(&api_key, SECRET, "/v2/user/api-key", &params, ts);
    let (status, body) = raw_get(&sim, "/v2/user/api-key", &query).await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(200)), "{body}");
    assert_eq!(body["data"][0]["permission"], "readOnly,trade");

    // A parameter changed after signing (v2 refuses with code 1003).
    let tampered = query.replace(&format!("uid={uid}"), "uid=1");
    let (status, body) = raw_get(&sim, "/v2/user/api-key", &tampered).await;
    assert_eq!((status, body["code"].as_i64()), (200, Some(1003)), "{body}");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("Verification failure"));
    // A parameter added after signing.
    let added = format!("{query}&note=1");
    let (_, body) = raw_get(&sim, "/v2/user/api-key", &added).await;
    assert_eq!(body["code"], 1003, "{body}");
    // Signed for another path.
    let (_, body) = raw_get(
        &sim,
        "/v2/user/api-key",
        &signed(&api_key, SECRET, "/v2/user/uid", &params, ts),
    )
    .await;
    assert_eq!(body["code"], 1003, "{body}");
    // HTX sorts the parameters itself, so the order they travel in is not signed.
    let mut parts: Vec<&str> = query.split('&').collect();
    parts.reverse();
    let (_, body) = raw_get(&sim, "/v2/user/api-key", &parts.join("&")).await;
    assert_eq!(body["code"], 200, "{body}");
}

#[tokio::test]
async fn raw_body_is_not_signed_on_htx() {
    // HTX signs only the query (POST bodies are documented as unsigned); a GET with a body is
    // verified on its query alone, as the exchange does.
    let sim = CAST.sim(None).await;
    let query = signed_now(&key(Scenario::Valid), SECRET, ACCOUNTS);
    let url = format!("{}{ACCOUNTS}?{query}", sim.base_url(HTX));
    let body: Value = reqwest::Client::new()
        .get(url)
        .body("{\"anything\":1}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ok", "{body}");
}

#[tokio::test]
async fn raw_unknown_key_and_swap_host_errors_use_htx_shapes() {
    let sim = CAST.sim(None).await;
    let query = signed_now("deadbeef-00000000-11111111-22222", SECRET, ACCOUNTS);
    let (status, body) = raw_get(&sim, ACCOUNTS, &query).await;
    assert_eq!(status, 200);
    assert_eq!(
        err(&body).1,
        "Signature not valid: Incorrect Access key [Access key错误]"
    );

    // The swap host: err_code 403 with the reason, and 1220 for an account without contracts.
    let path = "/linear-swap-api/v3/unified_account_info";
    let wrong = signed_now(&key(Scenario::Valid), "nope", path);
    let (status, body) = raw_get(&sim, path, &wrong).await;
    assert_eq!(
        (status, body["err_code"].as_i64()),
        (200, Some(403)),
        "{body}"
    );
    assert_eq!(body["err_msg"], "Verification failure [校验失败]");
    let missing = signed_now(&key(Scenario::FuturesMissing), SECRET, path);
    let (_, body) = raw_get(&sim, path, &missing).await;
    assert_eq!(body["code"], 1220, "{body}");
    let ok = signed_now(&key(Scenario::Valid), SECRET, path);
    let (_, body) = raw_get(&sim, path, &ok).await;
    assert_eq!(body["code"], 200, "{body}");
    assert_eq!(body["data"][0]["margin_asset"], "USDT");
}
