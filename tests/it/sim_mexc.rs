//! MEXC simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::mexc::{futures_signature, spot_signature, spot_signed_query};
use keywarden::exchange::{now_ms, ExchangeKind, Facts, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;

const MEXC: ExchangeKind = ExchangeKind::Mexc;
const SECRET: &str = "45d0b3c26f2644f19bfb98b07741b2f5";

/// The access key that plays `scenario` (MEXC keys are `mx0` + alphanumerics).
fn key(scenario: Scenario) -> String {
    format!("mx0sim{}", scenario.name().replace('_', ""))
}

const CAST: Cast = Cast {
    kind: MEXC,
    key,
    secret: |_| SECRET.to_string(),
    passphrase: None,
};

async fn probe_as(sim: &RunningSim, api_key: &str, secret: &str, futures: bool) -> Facts {
    probe_at(sim.base_url(MEXC), api_key, secret, futures).await
}

async fn probe_at(base_url: String, api_key: &str, secret: &str, futures: bool) -> Facts {
    let target = target(creds(api_key, secret, None), base_url, markets(futures));
    let facts = run_probe(MEXC, &target).await;
    assert_nothing_leaks(&facts, &[("secret", secret)]);
    facts
}

async fn spot(scenario: Scenario) -> Facts {
    let sim = CAST.sim(None).await;
    probe_as(&sim, &key(scenario), SECRET, false).await
}

async fn futures(scenario: Scenario) -> Facts {
    let sim = CAST.sim(None).await;
    probe_as(&sim, &key(scenario), SECRET, true).await
}

// ----- one test per scenario -----------------------------------------------------------------

#[tokio::test]
async fn valid_key_spot_has_read_trade_futures_and_no_withdraw_and_is_ip_bound() {
    let facts = spot(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, T);
    assert_eq!(facts.expires_at, None);
}

#[tokio::test]
async fn valid_key_futures_reads_the_futures_account() {
    let facts = futures(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, T);
}

#[tokio::test]
async fn withdraw_enabled_key_reports_withdraw() {
    let facts = spot(Scenario::WithdrawEnabled).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, T, T]);
}

#[tokio::test]
async fn futures_missing_key_spot_reports_futures_false_from_introspection() {
    let facts = spot(Scenario::FuturesMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, F, F]);
}

#[tokio::test]
async fn futures_missing_key_futures_is_refused_the_futures_account() {
    let facts = futures(Scenario::FuturesMissing).await;
    assert_eq!(
        problem_kind(&facts),
        None,
        "a missing right is a fact, not a problem"
    );
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(has_note(&facts, "code 701"), "{:?}", facts.notes);
}

#[tokio::test]
async fn trade_missing_key_reports_trade_false() {
    let facts = spot(Scenario::TradeMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, T]);
}

#[tokio::test]
async fn read_only_key_reports_no_trade_and_no_futures() {
    let facts = spot(Scenario::ReadOnly).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, F]);
    let facts = futures(Scenario::ReadOnly).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, F]);
}

#[tokio::test]
async fn ip_not_whitelisted_names_the_ip_mexc_saw() {
    let facts = spot(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
    let problem = &facts.problems[0];
    assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
    assert!(
        problem.message.contains("code 700006"),
        "{}",
        problem.message
    );
    let facts = futures(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
}

#[tokio::test]
async fn no_ip_whitelist_key_is_unbound_and_expires_within_five_days() {
    let facts = spot(Scenario::NoIpWhitelist).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(facts.ip_restricted, F);
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_expires_within_five_days(&facts, "unbound keys expire");
}

#[tokio::test]
async fn maintenance_is_unavailable() {
    let facts = spot(Scenario::Maintenance).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    let facts = futures(Scenario::Maintenance).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
}

#[tokio::test]
async fn http_503_is_unavailable() {
    let facts = spot(Scenario::Http503).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
}

#[tokio::test]
async fn cdn_html_page_is_unavailable() {
    let facts = spot(Scenario::CdnHtml).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    assert!(facts.problems[0].message.contains("HTML"));
}

#[tokio::test]
async fn hang_times_out_as_unavailable() {
    let started = std::time::Instant::now();
    let facts = spot(Scenario::Hang).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn malformed_json_is_unavailable() {
    let facts = spot(Scenario::MalformedJson).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
}

#[tokio::test]
async fn rate_limited_carries_retry_after() {
    let facts = spot(Scenario::RateLimited).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::RateLimited));
    assert_eq!(facts.problems[0].retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    let facts = spot(Scenario::ClockSkew).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
    assert!(facts.problems[0].message.contains("700003"));
    let facts = futures(Scenario::ClockSkew).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
}

#[tokio::test]
async fn exchange_clock_two_minutes_ahead_is_clock_skew() {
    let sim = CAST.sim(Some(clock_offset(120_000))).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
    assert!(
        facts.problems[0].message.contains("ahead of ours"),
        "{}",
        facts.problems[0].message
    );
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, true).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    let ping = reqwest::get(format!("{}/api/v3/ping", sim.base_url(MEXC)))
        .await
        .unwrap();
    assert_eq!(ping.status(), 503);
}

#[tokio::test]
async fn wrong_secret_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(
        &sim,
        &key(Scenario::Valid),
        "00000000000000000000000000000000",
        false,
    )
    .await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert_eq!(
        facts.problems[0].message,
        "GET /api/v3/account: code 700002 Signature for this request is not valid."
    );
}

#[tokio::test]
async fn unknown_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, "mx0nosuchkey12345", SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert!(facts.problems[0].message.contains("10072"));
    assert!(!facts.problems[0].message.contains("mx0nosuchkey12345"));
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

async fn spot_get(
    sim: &RunningSim,
    api_key: Option<&str>,
    query: &str,
    body: &str,
) -> (u16, Value) {
    let url = format!("{}/api/v3/account?{query}", sim.base_url(MEXC));
    let mut request = reqwest::Client::new().get(url).body(body.to_string());
    if let Some(api_key) = api_key {
        request = request.header("X-MEXC-APIKEY", api_key);
    }
    status_and_json(request).await
}

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(0)
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
    assert_eq!((status, code(&body)), (400, 700002));
}

#[tokio::test]
async fn raw_spot_stale_timestamp_is_700003() {
    let sim = CAST.sim(None).await;
    let query = spot_signed_query(SECRET, &[], now_ms() - 6_000);
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!((status, code(&body)), (400, 700003));
    // More than a second ahead is refused whatever the recvWindow.
    let query = spot_signed_query(SECRET, &[], now_ms() + 2_000);
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &query, "").await;
    assert_eq!((status, code(&body)), (400, 700003));
}

#[tokio::test]
async fn raw_spot_reordered_query_or_tampered_body_is_700002() {
    let sim = CAST.sim(None).await;
    let ts = now_ms();
    let signed = format!("timestamp={ts}&recvWindow=5000");
    let signature = spot_signature(SECRET, &signed, "");
    let reordered = format!("recvWindow=5000&timestamp={ts}&signature={signature}");
    let (status, body) = spot_get(&sim, Some(&key(Scenario::Valid)), &reordered, "").await;
    assert_eq!((status, code(&body)), (400, 700002));
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
    assert_eq!((status, code(&body)), (400, 700002));
}

#[tokio::test]
async fn raw_spot_unknown_or_missing_key_is_refused() {
    let sim = CAST.sim(None).await;
    let query = spot_signed_query(SECRET, &[], now_ms());
    let (status, body) = spot_get(&sim, Some("mx0nosuchkey12345"), &query, "").await;
    assert_eq!((status, code(&body)), (400, 10072));
    let (status, body) = spot_get(&sim, None, &query, "").await;
    assert_eq!((status, code(&body)), (400, 400));
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
        (status, body["success"].as_bool(), code(&body)),
        (200, Some(false), 602)
    );

    let stale = futures_headers(&api_key, SECRET, now_ms() - 11_000);
    let (status, body) = futures_get(&sim, &stale).await;
    assert_eq!((status, code(&body)), (200, 513));

    let unknown = futures_headers("mx0nosuchkey12345", SECRET, now_ms());
    let (status, body) = futures_get(&sim, &unknown).await;
    assert_eq!((status, code(&body)), (200, 401));
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
        let facts = probe_at(base, "mx0somekey", SECRET, false).await;
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
