//! Binance simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::binance::{probe_query, signature, signed_query};
use keywarden::exchange::{now_ms, ExchangeKind, Facts, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

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

const CAST: Cast = Cast {
    kind: BINANCE,
    key,
    secret: |_| SECRET.to_string(),
    passphrase: None,
};

async fn probe_as(sim: &RunningSim, api_key: &str, secret: &str, futures: bool) -> Facts {
    let target = target(
        creds(api_key, secret, None),
        sim.base_url(BINANCE),
        markets(futures),
    );
    let facts = run_probe_at_rate(BINANCE, 1000.0, &target).await;
    assert_nothing_leaks(&facts, &[("secret", secret), ("key", api_key)]);
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
async fn valid_key_futures_reads_the_futures_balances() {
    let facts = futures(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, T);
    assert!(facts.notes.is_empty(), "{:?}", facts.notes);
}

#[tokio::test]
async fn withdraw_enabled_key_reports_withdraw() {
    let facts = spot(Scenario::WithdrawEnabled).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, T, T]);
    let facts = futures(Scenario::WithdrawEnabled).await;
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
async fn futures_missing_key_futures_is_refused_the_futures_balances() {
    let facts = futures(Scenario::FuturesMissing).await;
    assert_eq!(
        problem_kind(&facts),
        None,
        "a missing right is a fact, not a problem: {facts:?}"
    );
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(
        facts
            .notes
            .iter()
            .any(|n| n.contains("futures refused") && n.contains("code -2015")),
        "{:?}",
        facts.notes
    );
}

#[tokio::test]
async fn trade_missing_key_reports_trade_false() {
    let facts = spot(Scenario::TradeMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, T]);
    let facts = futures(Scenario::TradeMissing).await;
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
async fn ip_not_whitelisted_names_the_ip_binance_saw() {
    for facts in [
        spot(Scenario::IpNotWhitelisted).await,
        futures(Scenario::IpNotWhitelisted).await,
    ] {
        assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
        let problem = &facts.problems[0];
        assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
        assert!(
            problem
                .message
                .starts_with("GET /sapi/v1/account/apiRestrictions: code -2015 Invalid API-key"),
            "{}",
            problem.message
        );
    }
}

#[tokio::test]
async fn no_ip_whitelist_key_is_unbound_and_its_trading_expires_within_five_days() {
    for facts in [
        spot(Scenario::NoIpWhitelist).await,
        futures(Scenario::NoIpWhitelist).await,
    ] {
        assert_eq!(problem_kind(&facts), None);
        assert_eq!(facts.ip_restricted, F);
        assert_eq!(rights(&facts), [T, T, F, T]);
        assert_expires_within_five_days(
            &facts,
            "Binance reports when an unbound key's trading lapses",
        );
    }
}

#[tokio::test]
async fn maintenance_is_unavailable() {
    for facts in [
        spot(Scenario::Maintenance).await,
        futures(Scenario::Maintenance).await,
    ] {
        assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
        assert!(
            facts.problems[0].message.contains("code -1001"),
            "{}",
            facts.problems[0].message
        );
    }
}

#[tokio::test]
async fn http_503_is_unavailable() {
    let facts = spot(Scenario::Http503).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    assert!(facts.problems[0].message.contains("503"));
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
    assert!(facts.problems[0].message.contains("timed out"));
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
    assert!(
        facts.problems[0].message.contains("code -1003"),
        "{}",
        facts.problems[0].message
    );
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    for facts in [
        spot(Scenario::ClockSkew).await,
        futures(Scenario::ClockSkew).await,
    ] {
        assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
        assert!(
            facts.problems[0].message.contains("code -1021"),
            "{}",
            facts.problems[0].message
        );
    }
}

#[tokio::test]
async fn exchange_clock_two_minutes_ahead_is_clock_skew() {
    let sim = CAST.sim(Some(clock_offset(120_000))).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
    let message = &facts.problems[0].message;
    assert!(message.starts_with("GET /api/v3/time:"), "{message}");
    assert!(message.contains("ahead of ours"), "{message}");
}

#[tokio::test]
async fn exchange_clock_behind_is_clock_skew_too() {
    let sim = CAST.sim(Some(clock_offset(-3_000))).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
    assert!(facts.problems[0].message.contains("behind ours"));
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, true).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    assert!(
        facts.problems[0].message.contains("system_maintenance"),
        "{}",
        facts.problems[0].message
    );
    let status: Value = get_json(format!("{}/sapi/v1/system/status", sim.base_url(BINANCE))).await;
    assert_eq!(
        status,
        serde_json::json!({"status": 1, "msg": "system_maintenance"})
    );
}

#[tokio::test]
async fn wrong_secret_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), OTHER_SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert_eq!(
        facts.problems[0].message,
        "GET /sapi/v1/account/apiRestrictions: code -1022 Signature for this request is not valid."
    );
}

#[tokio::test]
async fn unknown_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let unknown = "Z".repeat(64);
    let facts = probe_as(&sim, &unknown, SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert!(
        facts.problems[0].message.contains("code -2008"),
        "{}",
        facts.problems[0].message
    );
}

#[tokio::test]
async fn malformed_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, "not-a-binance-key", SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert!(facts.problems[0].message.contains("code -2014"));
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
    let mut request = reqwest::Client::new().get(url).body(body.to_string());
    if let Some(api_key) = api_key {
        request = request.header("X-MBX-APIKEY", api_key);
    }
    status_and_json(request).await
}

fn code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(0)
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
    assert_eq!((status, code(&body)), (400, -1022));
    assert_eq!(body["msg"], "Signature for this request is not valid.");
}

#[tokio::test]
async fn raw_stale_or_future_timestamp_is_1021() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    let query = probe_query(SECRET, &[], now_ms() - 6_000);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "").await;
    assert_eq!((status, code(&body)), (400, -1021));
    // More than a second ahead is refused whatever the recvWindow.
    let ts = (now_ms() + 2_000).to_string();
    let query = signed_query(SECRET, &[("timestamp", &ts), ("recvWindow", "60000")]);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "").await;
    assert_eq!((status, code(&body)), (400, -1021));
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
    assert_eq!((status, code(&body)), (400, -1022));
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
    assert_eq!((status, code(&body)), (400, -1022));
    // A body that was not signed.
    let query = probe_query(SECRET, &[], ts);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &query, "note=1").await;
    assert_eq!((status, code(&body)), (400, -1022));
}

#[tokio::test]
async fn raw_missing_parameters_and_too_wide_window_are_refused() {
    let sim = CAST.sim(None).await;
    let valid = key(Scenario::Valid);
    let unsigned = format!("timestamp={}", now_ms());
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &unsigned, "").await;
    assert_eq!((status, code(&body)), (400, -1102));
    let no_ts = signed_query(SECRET, &[("recvWindow", "5000")]);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &no_ts, "").await;
    assert_eq!((status, code(&body)), (400, -1102));
    let ts = now_ms().to_string();
    let wide = signed_query(SECRET, &[("timestamp", &ts), ("recvWindow", "70000")]);
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&valid), &wide, "").await;
    assert_eq!((status, code(&body)), (400, -1131));
}

#[tokio::test]
async fn raw_unknown_malformed_or_missing_key_is_refused_with_http_401() {
    let sim = CAST.sim(None).await;
    let query = probe_query(SECRET, &[], now_ms());
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some(&"Z".repeat(64)), &query, "").await;
    assert_eq!((status, code(&body)), (401, -2008));
    let (status, body) = raw_get(&sim, RESTRICTIONS, Some("testkey"), &query, "").await;
    assert_eq!((status, code(&body)), (401, -2014));
    let (status, body) = raw_get(&sim, RESTRICTIONS, None, &query, "").await;
    assert_eq!((status, code(&body)), (401, -2014));
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
    assert_eq!((status, code(&body)), (401, -2015));
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
    assert_eq!(code(&body), -1003);
}
