//! Coinbase simulator and probe, through the library.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::Engine as _;
use keywarden::exchange::coinbase::{jwt, jwt_claims, signing_key, PATH_KEY_PERMISSIONS};
use keywarden::exchange::{now_ms, ExchangeKind, Facts, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;
use crate::support::{coinbase_pem, key_for};

const COINBASE: ExchangeKind = ExchangeKind::Coinbase;

/// The key name that plays `scenario`.
fn key(scenario: Scenario) -> String {
    key_for(COINBASE, &format!("sim-{}", scenario.name()))
}

/// The private key of the key that plays `scenario`, with real newlines.
fn pem(scenario: Scenario) -> String {
    coinbase_pem(&format!("sim-{}", scenario.name()))
}

const CAST: Cast = Cast {
    kind: COINBASE,
    key,
    // as a scenario file holds it: one line, literal \n escapes
    secret: |scenario| pem(scenario).replace('\n', "\\n"),
    passphrase: None,
};

async fn probe_as(sim: &RunningSim, api_key: &str, secret: &str, futures: bool) -> Facts {
    let target = target(
        creds(api_key, secret, None),
        sim.base_url(COINBASE),
        markets(futures),
    );
    let facts = run_probe(COINBASE, &target).await;
    // No message carries the key name or any line of the private key.
    let mut never = vec![("key name", api_key)];
    for line in secret.lines().filter(|l| !l.starts_with("-----")) {
        never.push(("secret", line));
    }
    assert_nothing_leaks(&facts, &never);
    facts
}

async fn spot(scenario: Scenario) -> Facts {
    let sim = CAST.sim(None).await;
    probe_as(&sim, &key(scenario), &pem(scenario), false).await
}

async fn futures(scenario: Scenario) -> Facts {
    let sim = CAST.sim(None).await;
    probe_as(&sim, &key(scenario), &pem(scenario), true).await
}

// ----- one test per scenario -----------------------------------------------------------------

#[tokio::test]
async fn valid_key_spot_has_read_and_trade_no_withdraw_and_unknown_futures_and_ip_binding() {
    let facts = spot(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, U]);
    assert_eq!(facts.ip_restricted, None);
    assert_eq!(facts.expires_at, None);
    assert!(has_note(&facts, "IP allowlist"), "{:?}", facts.notes);
    assert!(
        has_note(&facts, "futures right unknown"),
        "{:?}",
        facts.notes
    );
}

#[tokio::test]
async fn valid_key_futures_reads_the_futures_account() {
    let facts = futures(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, None);
    assert!(!has_note(&facts, "futures right unknown"));
}

#[tokio::test]
async fn withdraw_enabled_key_reports_transfer_as_withdraw() {
    let facts = spot(Scenario::WithdrawEnabled).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, T, U]);
    let facts = futures(Scenario::WithdrawEnabled).await;
    assert_eq!(rights(&facts), [T, T, T, T]);
}

#[tokio::test]
async fn futures_missing_key_spot_cannot_tell_futures() {
    let facts = spot(Scenario::FuturesMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, F, U]);
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
    assert!(has_note(&facts, "PERMISSION_DENIED"), "{:?}", facts.notes);
}

#[tokio::test]
async fn trade_missing_key_reports_trade_false() {
    let facts = spot(Scenario::TradeMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, U]);
    let facts = futures(Scenario::TradeMissing).await;
    assert_eq!(rights(&facts), [T, F, F, T]);
}

#[tokio::test]
async fn read_only_key_reports_no_trade_and_no_futures_account() {
    let facts = spot(Scenario::ReadOnly).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, U]);
    let facts = futures(Scenario::ReadOnly).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, F]);
}

#[tokio::test]
async fn ip_not_whitelisted_is_coinbases_bare_401_and_the_message_says_it_may_be_the_ip() {
    let facts = spot(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    let message = &facts.problems[0].message;
    assert!(message.contains("HTTP 401 Unauthorized"), "{message}");
    assert!(
        message.contains("IP outside the key's allowlist"),
        "{message}"
    );
    let facts = futures(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
}

#[tokio::test]
async fn no_ip_whitelist_key_looks_like_any_healthy_key_since_coinbase_cannot_tell() {
    let facts = spot(Scenario::NoIpWhitelist).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(facts.ip_restricted, None);
    assert_eq!(facts.expires_at, None, "CDP keys do not expire by time");
    assert_eq!(rights(&facts), [T, T, F, U]);
}

#[tokio::test]
async fn maintenance_is_unavailable() {
    let facts = spot(Scenario::Maintenance).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    assert!(facts.problems[0].message.contains("UNAVAILABLE"));
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
    assert!(facts.problems[0].message.contains("RESOURCE_EXHAUSTED"));
}

#[tokio::test]
async fn clock_skew_key_a_minute_ahead_is_inside_the_two_minute_token() {
    // The scenario's server clock runs 60 s ahead for this key; a Coinbase token is valid for
    // 120 s from its nbf, so Coinbase (and the simulator) accept it.
    let facts = spot(Scenario::ClockSkew).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, U]);
}

#[tokio::test]
async fn exchange_clock_two_minutes_ahead_or_ten_seconds_behind_is_clock_skew() {
    for (offset, words) in [(120_000, "ahead of ours"), (-10_000, "behind ours")] {
        let sim = CAST.sim(Some(clock_offset(offset))).await;
        let facts = probe_as(&sim, &key(Scenario::Valid), &pem(Scenario::Valid), false).await;
        assert_eq!(
            problem_kind(&facts),
            Some(ProblemKind::ClockSkew),
            "{offset}"
        );
        assert!(
            facts.problems[0].message.contains(words),
            "{}",
            facts.problems[0].message
        );
    }
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), &pem(Scenario::Valid), true).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    let time = reqwest::get(format!("{}/api/v3/brokerage/time", sim.base_url(COINBASE)))
        .await
        .unwrap();
    assert_eq!(time.status(), 503);
}

#[tokio::test]
async fn wrong_private_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(
        &sim,
        &key(Scenario::Valid),
        &coinbase_pem("someone-else"),
        false,
    )
    .await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert!(
        facts.problems[0]
            .message
            .starts_with("GET /api/v3/brokerage/key_permissions: HTTP 401 Unauthorized"),
        "{}",
        facts.problems[0].message
    );
}

#[tokio::test]
async fn a_secret_that_is_not_a_pem_is_invalid_key_before_any_signed_request() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), "not-a-pem-at-all", false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert!(facts.problems[0].message.contains("EC P-256 private key"));
}

#[tokio::test]
async fn unknown_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let name = key_for(COINBASE, "never-registered");
    let facts = probe_as(&sim, &name, &pem(Scenario::Valid), false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
}

#[tokio::test]
async fn pem_with_literal_escapes_works_and_a_passphrase_is_irrelevant() {
    // Coinbase CDP keys have no passphrase; the "wrong passphrase" case does not exist there.
    let sim = CAST.sim(None).await;
    let escaped = pem(Scenario::Valid).replace('\n', "\\n");
    let facts = probe_as(&sim, &key(Scenario::Valid), &escaped, false).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

async fn raw_get(sim: &RunningSim, path_and_query: &str, token: Option<&str>) -> (u16, String) {
    let url = format!("{}{path_and_query}", sim.base_url(COINBASE));
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn token_for(scenario_pem: &str, name: &str, now_s: i64, path: &str) -> String {
    jwt(
        &signing_key(scenario_pem).unwrap(),
        name,
        "0123456789abcdef0123456789abcdef",
        now_s,
        "GET",
        path,
    )
}

fn now_s() -> i64 {
    now_ms() / 1000
}

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let sim = CAST.sim(None).await;
    let token = token_for(
        &pem(Scenario::Valid),
        &key(Scenario::Valid),
        now_s(),
        PATH_KEY_PERMISSIONS,
    );
    let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["can_view"], true);
    assert_eq!(body["can_transfer"], false);
}

#[tokio::test]
async fn raw_wrong_signature_unknown_key_and_missing_token_are_a_bare_401() {
    let sim = CAST.sim(None).await;
    let name = key(Scenario::Valid);
    let wrong = token_for(&coinbase_pem("other"), &name, now_s(), PATH_KEY_PERMISSIONS);
    let unknown = token_for(
        &pem(Scenario::Valid),
        &key_for(COINBASE, "nobody"),
        now_s(),
        PATH_KEY_PERMISSIONS,
    );
    for token in [
        Some(wrong.as_str()),
        Some(unknown.as_str()),
        None,
        Some("garbage"),
    ] {
        let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, token).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized"), "{token:?}");
    }
}

#[tokio::test]
async fn raw_stale_or_future_token_is_a_bare_401() {
    let sim = CAST.sim(None).await;
    let (name, secret) = (key(Scenario::Valid), pem(Scenario::Valid));
    for issued in [now_s() - 121, now_s() + 30] {
        let token = token_for(&secret, &name, issued, PATH_KEY_PERMISSIONS);
        let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&token)).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized"), "{issued}");
    }
}

#[tokio::test]
async fn raw_token_for_another_path_or_with_tampered_claims_is_a_bare_401() {
    let sim = CAST.sim(None).await;
    let (name, secret) = (key(Scenario::Valid), pem(Scenario::Valid));
    // signed for key_permissions, sent to accounts
    let token = token_for(&secret, &name, now_s(), PATH_KEY_PERMISSIONS);
    let (status, _) = raw_get(&sim, "/api/v3/brokerage/accounts?limit=250", Some(&token)).await;
    assert_eq!(status, 401);
    // the claims re-written for accounts without re-signing
    let parts: Vec<&str> = token.split('.').collect();
    let claims = jwt_claims(
        &name,
        now_s(),
        "GET api.coinbase.com/api/v3/brokerage/accounts",
    );
    let forged = format!("{}.{}.{}", parts[0], BASE64URL.encode(claims), parts[2]);
    let (status, _) = raw_get(&sim, "/api/v3/brokerage/accounts", Some(&forged)).await;
    assert_eq!(status, 401);
    // the path prefix of the base URL signed along: refused
    let prefixed = token_for(
        &secret,
        &name,
        now_s(),
        &format!("/coinbase{PATH_KEY_PERMISSIONS}"),
    );
    let (status, _) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&prefixed)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn raw_query_and_body_are_outside_the_token_as_at_coinbase() {
    // Coinbase's uri claim has no query and no body hash: a changed query (or a body on a GET)
    // is not something the exchange can detect, so the simulator accepts it too.
    let sim = CAST.sim(None).await;
    let (name, secret) = (key(Scenario::Valid), pem(Scenario::Valid));
    let token = token_for(
        &secret,
        &name,
        now_s(),
        "/api/v3/brokerage/accounts?limit=250",
    );
    let (status, body) = raw_get(&sim, "/api/v3/brokerage/accounts?limit=1", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let url = format!("{}/api/v3/brokerage/accounts", sim.base_url(COINBASE));
    let response = reqwest::Client::new()
        .get(url)
        .header("Authorization", format!("Bearer {token}"))
        .body("{\"tampered\":true}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn raw_time_answers_epochs_as_strings() {
    let sim = CAST.sim(None).await;
    let (status, body) = raw_get(&sim, "/api/v3/brokerage/time", None).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    let ms: i64 = body["epochMillis"].as_str().unwrap().parse().unwrap();
    assert!((ms - now_ms()).abs() < 5_000);
    assert!(body["epochSeconds"].is_string() && body["iso"].is_string());
}
