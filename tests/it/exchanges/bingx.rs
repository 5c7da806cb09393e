//! BingX: its rows of the table, raw requests its simulator must answer as BingX does, and
//! refusals of single endpoints no scenario plays.

use keywarden::domain::ExchangeKind;
use keywarden::domain::Warning::*;
use keywarden::exchange::bingx::{signature, signed_query};
use keywarden::exchange::now_ms;
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::raw::{get_in_maintenance, send_with_key};
use super::table::{every_right_told, row, Amend, Case::*, Market::*, Row, UnboundKeys::*};
use super::{one_secret_cast, probe_stand_in};
use crate::probe_support::*;

const BINGX: ExchangeKind = ExchangeKind::Bingx;
const SECRET: &str =
    "mheO6dR8ovSsxZQCOYEFCtelpuxcWGTfHw7te326y6jOwq5WpvFQ9JNljoTwBXZGv5It07m9RXSPpDQEK2w";

/// The API key that plays `scenario` (BingX keys are long runs of letters and digits).
fn key(scenario: Scenario) -> String {
    format!(
        "hO6oQotzTE0S5FRYze2Jx2wGx7eVnJGMolpA1nZyehsoMgCc{}",
        scenario.name().replace('_', "")
    )
}

pub const CAST: Cast = one_secret_cast(BINGX, key, SECRET, None);

// ----- the table's rows ----------------------------------------------------------------------

/// BingX's rows: apiPermissions tells every right, no expiry is ever reported, and its error
/// codes (an IP refusal that names no IP).
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    let own = vec![
        // BingX's refusal names no IP, so there is none to put in the remedy.
        row(IpNotWhitelisted, Both).ip_not_allowed().seen_ip(None).says("code 100419 IP does not match IP whitelist"),
        row(Maintenance, Both).unavailable().says("109500"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("100410"),
        row(ClockSkew, Both).clock_skew().says("100421"),
        row(Valid, Spot).clock(120_000).clock_skew().says("ahead of ours").rights([U, U, U, U]),
        row(Valid, Both).in_maintenance().unavailable().says("100500"),
        row(WrongSecret, Spot).invalid_key()
            .says_exactly("GET /openApi/v1/account/apiPermissions: code 100001 Signature verification failed"),
        row(ApiKey("NoSuchBingxKey0123456789"), Spot).invalid_key().says("100413"),
        // BingX keys have no passphrase; one set by mistake is not sent and changes nothing.
        row(StrayPassphrase, Spot).connected().rights([T, T, F, T]).ip(T).warns(&[FuturesNotNeeded]),
    ];
    let told = every_right_told(ReportNoExpiry)
        .amend(Valid, Spot, |r| r.note("no expiry"));
    [told, own].concat()
}

#[tokio::test]
async fn in_maintenance_the_server_time_is_a_503() {
    let time = get_in_maintenance(&CAST, "/openApi/spot/v1/server/time").await;
    assert_eq!(time.status(), 503);
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

const PERMISSIONS: &str = "/openApi/v1/account/apiPermissions";
const SWAP_BALANCE: &str = "/openApi/swap/v3/user/balance";

async fn raw_get(sim: &RunningSim, path: &str, api_key: Option<&str>, query: &str) -> (u16, Value) {
    let url = format!("{}{path}?{query}", sim.base_url(BINGX));
    send_with_key(reqwest::Client::new().get(url), "X-BX-APIKEY", api_key).await
}

/// A GET of `path?query` by the valid key.
async fn valid_get(sim: &RunningSim, path: &str, query: &str) -> (u16, Value) {
    raw_get(sim, path, Some(&key(Scenario::Valid)), query).await
}

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(-1)
}

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let sim = CAST.sim(None).await;
    let query = signed_query(SECRET, &[], now_ms(), Some(5_000));
    let (status, body) = valid_get(&sim, PERMISSIONS, &query).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
    assert_eq!(body["data"]["permissions"], serde_json::json!([1, 2, 3]));
    assert_eq!(
        body["data"]["ipAddresses"],
        serde_json::json!(["127.0.0.1"])
    );
    // Without recvWindow too (the doc's §3a shape).
    let query = signed_query(SECRET, &[], now_ms(), None);
    let (status, body) = valid_get(&sim, SWAP_BALANCE, &query).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
    assert!(body["data"].is_array());
}

#[tokio::test]
async fn raw_wrong_signature_is_100001_with_401_on_spot_and_200_on_swap() {
    let sim = CAST.sim(None).await;
    let query = signed_query("ffffffffffffffff", &[], now_ms(), Some(5_000));
    let (status, body) = valid_get(&sim, PERMISSIONS, &query).await;
    assert_eq!((status, code(&body)), (401, 100001), "{body}");
    assert_eq!(body["msg"], "Signature verification failed");
    let (status, body) = valid_get(&sim, SWAP_BALANCE, &query).await;
    assert_eq!((status, code(&body)), (200, 100001), "{body}");
}

#[tokio::test]
async fn raw_stale_or_future_timestamp_is_100421() {
    let sim = CAST.sim(None).await;
    for ts in [now_ms() - 6_000, now_ms() + 6_000] {
        let query = signed_query(SECRET, &[], ts, Some(5_000));
        let (status, body) = valid_get(&sim, PERMISSIONS, &query).await;
        assert_eq!((status, code(&body)), (200, 100421), "{body}");
    }
    // A wider recvWindow, signed, lets the stale one through.
    let query = signed_query(SECRET, &[], now_ms() - 6_000, Some(10_000));
    let (status, body) = valid_get(&sim, PERMISSIONS, &query).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
}

#[tokio::test]
async fn raw_tampered_query_is_100001() {
    let sim = CAST.sim(None).await;
    let ts = now_ms();
    let sig = signature(SECRET, &format!("recvWindow=5000&timestamp={ts}"));
    for (what, query) in [
        (
            "reordered after signing",
            format!("timestamp={ts}&recvWindow=5000&signature={sig}"),
        ),
        (
            // still inside the window, so only the signature can fail
            "a value changed after signing",
            format!("recvWindow=6000&timestamp={ts}&signature={sig}"),
        ),
        (
            "a parameter slipped in before the signature",
            format!("recvWindow=5000&timestamp={ts}&uid=1&signature={sig}"),
        ),
        (
            "the signature not last",
            format!("signature={sig}&recvWindow=5000&timestamp={ts}"),
        ),
    ] {
        let (status, body) = valid_get(&sim, PERMISSIONS, &query).await;
        assert_eq!((status, code(&body)), (401, 100001), "{what}: {body}");
    }
}

#[tokio::test]
async fn raw_missing_signature_unknown_or_missing_key_are_refused() {
    let sim = CAST.sim(None).await;
    let (status, body) = valid_get(&sim, PERMISSIONS, &format!("timestamp={}", now_ms())).await;
    assert_eq!((status, code(&body)), (200, 100412), "{body}");
    let query = signed_query(SECRET, &[], now_ms(), Some(5_000));
    let (status, body) = raw_get(&sim, PERMISSIONS, Some("NoSuchKey"), &query).await;
    assert_eq!((status, code(&body)), (200, 100413), "{body}");
    let (status, body) = raw_get(&sim, PERMISSIONS, None, &query).await;
    assert_eq!((status, code(&body)), (200, 100413), "{body}");
    assert_eq!(body["msg"], "Null apiKey");
}

#[tokio::test]
async fn raw_rate_limit_and_ip_refusal_shapes() {
    let sim = CAST.sim(None).await;
    let query = signed_query(SECRET, &[], now_ms(), Some(5_000));
    let (_, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{PERMISSIONS}?{query}", sim.base_url(BINGX)))
            .header("X-BX-APIKEY", key(Scenario::RateLimited)),
    )
    .await;
    assert_eq!(code(&body), 100410);

    let blocked = key(Scenario::IpNotWhitelisted);
    let (status, body) = raw_get(&sim, PERMISSIONS, Some(&blocked), &query).await;
    assert_eq!((status, code(&body)), (200, 100419), "{body}");
    assert_eq!(body["success"], false);
}

#[tokio::test]
async fn raw_public_time_endpoints_answer_bingx_shapes() {
    let sim = CAST.sim(None).await;
    for path in [
        "/openApi/spot/v1/server/time",
        "/openApi/swap/v2/server/time",
    ] {
        let body: Value = get_json(format!("{}{path}", sim.base_url(BINGX))).await;
        assert_eq!(code(&body), 0, "{body}");
        let server = body["data"]["serverTime"].as_i64().unwrap();
        assert!((server - now_ms()).abs() < 5_000);
    }
}

// ----- refusals no scenario plays: a bare stand-in for BingX --------------------------------

/// A stand-in for BingX (no verification) whose apiPermissions, spot balance and swap balance
/// answer the given bodies, to see how the probe reads refusals of single endpoints.
async fn stand_in(permissions: &'static str, swap_balance: &'static str) -> String {
    use axum::routing::get;
    let json = |body: String| ([("content-type", "application/json")], body);
    // Spot and swap tell the same time.
    let time = move || async move {
        json(format!(
            r#"{{"code":0,"msg":"","data":{{"serverTime":{}}}}}"#,
            now_ms()
        ))
    };
    let app = axum::Router::new()
        .route("/openApi/spot/v1/server/time", get(time))
        .route("/openApi/swap/v2/server/time", get(time))
        .route(
            "/openApi/v1/account/apiPermissions",
            get(move || async move { json(permissions.to_string()) }),
        )
        .route(
            "/openApi/spot/v1/account/balance",
            get(move || async move {
                json(r#"{"code":0,"msg":"","data":{"balances":[]}}"#.to_string())
            }),
        )
        .route(
            "/openApi/swap/v3/user/balance",
            get(move || async move { json(swap_balance.to_string()) }),
        );
    serve(app).await
}

const DENIED: &str =
    r#"{"code":100004,"msg":"Permission denied, the API key was created without the permission"}"#;

#[tokio::test]
async fn a_refused_futures_account_means_no_futures_right() {
    let base = stand_in(
        r#"{"code":0,"msg":"","data":{"apiKey":"k","permissions":["1","2","3"],"ipAddresses":["127.0.0.1"]}}"#,
        DENIED,
    )
    .await;
    let facts = probe_stand_in(BINGX, base, "somekey", SECRET, true).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(
        facts
            .notes
            .iter()
            .any(|n| n.contains("futures refused") && n.contains("code 100004")),
        "{:?}",
        facts.notes
    );
}

#[tokio::test]
async fn a_refused_introspection_leaves_the_other_rights_unknown_with_a_note() {
    let base = stand_in(DENIED, r#"{"code":0,"msg":"","data":[]}"#).await;
    let facts = probe_stand_in(BINGX, base, "somekey", SECRET, false).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    // The spot balance read succeeded, so read is proven; the rest only apiPermissions tells.
    assert_eq!(rights(&facts), [T, None, None, None]);
    assert_eq!(facts.ip_restricted, None);
    assert!(has_note(&facts, "unknown"), "{:?}", facts.notes);
}
