//! HTX simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::htx::signed_query;
use keywarden::exchange::{now_ms, ExchangeKind, Facts, ProbeTarget, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

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

const CAST: Cast = Cast {
    kind: HTX,
    key,
    secret: |_| SECRET.to_string(),
    passphrase: None,
};

async fn probe_as(sim: &RunningSim, api_key: &str, secret: &str, futures: bool) -> Facts {
    let target = target(
        creds(api_key, secret, None),
        sim.base_url(HTX),
        markets(futures),
    );
    let facts = run_probe(HTX, &target).await;
    assert_nothing_leaks(
        &facts,
        &[
            ("secret", secret),
            ("key", api_key),
            ("signature", "Signature="),
        ],
    );
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
async fn valid_key_spot_has_read_and_trade_no_withdraw_and_futures_unknown() {
    let facts = spot(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    // HTX has no futures right of its own; a spot-only check does not read the futures account.
    assert_eq!(rights(&facts), [T, T, F, None]);
    assert!(
        has_note(&facts, "no separate futures right"),
        "{:?}",
        facts.notes
    );
    assert_eq!(facts.ip_restricted, T);
    assert_eq!(facts.expires_at, None, "an IP-bound key is permanent");
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
    assert_eq!(rights(&facts), [T, T, T, None]);
    let facts = futures(Scenario::WithdrawEnabled).await;
    assert_eq!(rights(&facts), [T, T, T, T]);
}

#[tokio::test]
async fn futures_missing_key_spot_is_healthy_and_futures_unknown() {
    let facts = spot(Scenario::FuturesMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, F, None]);
}

#[tokio::test]
async fn futures_missing_key_futures_is_refused_with_1220() {
    let facts = futures(Scenario::FuturesMissing).await;
    assert_eq!(
        problem_kind(&facts),
        None,
        "a missing right is a fact, not a problem"
    );
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(has_note(&facts, "code 1220"), "{:?}", facts.notes);
}

#[tokio::test]
async fn trade_missing_key_has_neither_trade_nor_futures() {
    // Without `trade` an HTX key can trade nothing, futures included.
    let facts = spot(Scenario::TradeMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, F]);
    // The account has opened contract trading, but the key cannot use it.
    let facts = futures(Scenario::TradeMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, F, F]);
    assert!(has_note(&facts, "no trade right"), "{:?}", facts.notes);
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
async fn ip_not_whitelisted_names_the_ip_htx_saw() {
    let facts = spot(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
    let problem = &facts.problems[0];
    assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        problem.message,
        "GET /v1/account/accounts: code api-signature-not-valid Signature not valid: \
         Incorrect IP address [IP地址错误]:127.0.0.1"
    );
    let facts = futures(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
}

#[tokio::test]
async fn no_ip_whitelist_key_is_unbound_and_expires_within_five_days() {
    let facts = spot(Scenario::NoIpWhitelist).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(facts.ip_restricted, F);
    assert_eq!(rights(&facts), [T, T, F, None]);
    assert_expires_within_five_days(&facts, "validDays 5");
}

#[tokio::test]
async fn maintenance_is_unavailable() {
    let facts = spot(Scenario::Maintenance).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    assert!(
        facts.problems[0].message.contains("system-maintenance"),
        "{}",
        facts.problems[0].message
    );
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
    assert!(facts.problems[0]
        .message
        .contains("base-request-exceed-frequency-limit"));
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    let facts = spot(Scenario::ClockSkew).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
    assert!(
        facts.problems[0]
            .message
            .contains("Invalid submission time"),
        "{}",
        facts.problems[0].message
    );
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
    assert!(
        facts.problems[0].message.contains("marketStatus 2"),
        "{}",
        facts.problems[0].message
    );
    let heartbeat: Value = get_json(format!("{}/heartbeat/", sim.base_url(HTX))).await;
    assert_eq!(heartbeat["data"]["linear_swap_heartbeat"], 0);
}

#[tokio::test]
async fn wrong_secret_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(
        &sim,
        &key(Scenario::Valid),
        "00000000-00000000-00000000-00000",
        false,
    )
    .await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert_eq!(
        facts.problems[0].message,
        "GET /v1/account/accounts: code api-signature-not-valid Signature not valid: \
         Verification failure [校验失败]"
    );
}

#[tokio::test]
async fn unknown_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, "deadbeef-00000000-11111111-22222", SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert!(facts.problems[0].message.contains("Incorrect Access key"));
}

#[tokio::test]
async fn futures_host_override_is_signed_with_its_own_host() {
    // The futures base names `localhost`, the spot base `127.0.0.1`: each request must sign the
    // host it is sent to, or the simulator refuses it.
    let sim = CAST.sim(None).await;
    let target = ProbeTarget {
        futures_base_url: Some(format!("http://localhost:{}/htx", sim.addr.port())),
        ..target(
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

async fn raw_get(sim: &RunningSim, path: &str, query: &str) -> (u16, Value) {
    let url = format!("{}{path}?{query}", sim.base_url(HTX));
    status_and_json(reqwest::Client::new().get(url)).await
}

fn signed(api_key: &str, secret: &str, path: &str, params: &[(&str, &str)], ts: i64) -> String {
    signed_query(api_key, secret, "127.0.0.1", path, params, ts)
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
    let query = signed(
        &key(Scenario::Valid),
        SECRET,
        "/v1/account/accounts",
        &[],
        now_ms(),
    );
    let (status, body) = raw_get(&sim, "/v1/account/accounts", &query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["data"][0]["type"], "spot");
}

#[tokio::test]
async fn raw_wrong_signature_is_verification_failure_with_http_200() {
    let sim = CAST.sim(None).await;
    let query = signed(
        &key(Scenario::Valid),
        "ffffffff-ffffffff-ffffffff-fffff",
        "/v1/account/accounts",
        &[],
        now_ms(),
    );
    let (status, body) = raw_get(&sim, "/v1/account/accounts", &query).await;
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
    for ts in [now_ms() - 120_000, now_ms() + 120_000] {
        let query = signed(
            &key(Scenario::Valid),
            SECRET,
            "/v1/account/accounts",
            &[],
            ts,
        );
        let (status, body) = raw_get(&sim, "/v1/account/accounts", &query).await;
        assert_eq!(status, 200);
        let (code, msg) = err(&body);
        assert_eq!(code, "api-signature-not-valid");
        assert!(msg.contains("Invalid submission time"), "{msg}");
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
    let query = signed(
        &key(Scenario::Valid),
        SECRET,
        "/v1/account/accounts",
        &[],
        now_ms(),
    );
    let url = format!("{}/v1/account/accounts?{query}", sim.base_url(HTX));
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
    let query = signed(
        "deadbeef-00000000-11111111-22222",
        SECRET,
        "/v1/account/accounts",
        &[],
        now_ms(),
    );
    let (status, body) = raw_get(&sim, "/v1/account/accounts", &query).await;
    assert_eq!(status, 200);
    assert_eq!(
        err(&body).1,
        "Signature not valid: Incorrect Access key [Access key错误]"
    );

    // The swap host: err_code 403 with the reason, and 1220 for an account without contracts.
    let path = "/linear-swap-api/v3/unified_account_info";
    let wrong = signed(&key(Scenario::Valid), "nope", path, &[], now_ms());
    let (status, body) = raw_get(&sim, path, &wrong).await;
    assert_eq!(
        (status, body["err_code"].as_i64()),
        (200, Some(403)),
        "{body}"
    );
    assert_eq!(body["err_msg"], "Verification failure [校验失败]");
    let missing = signed(&key(Scenario::FuturesMissing), SECRET, path, &[], now_ms());
    let (_, body) = raw_get(&sim, path, &missing).await;
    assert_eq!(body["code"], 1220, "{body}");
    let ok = signed(&key(Scenario::Valid), SECRET, path, &[], now_ms());
    let (_, body) = raw_get(&sim, path, &ok).await;
    assert_eq!(body["code"], 200, "{body}");
    assert_eq!(body["data"][0]["margin_asset"], "USDT");
}
