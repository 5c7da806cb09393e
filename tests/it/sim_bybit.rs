//! Bybit simulator and probe, through the library.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use keywarden::exchange::bybit::{auth_headers, signature, POSITIONS_QUERY};
use keywarden::exchange::{
    for_kind, now_ms, Credentials, ExchangeKind, Facts, HttpClient, Markets, ProbeTarget,
    ProblemKind,
};
use keywarden::sim::{self, RunningSim, Scenario, ScenarioFile, SimExchangeSettings, SimKey};
use serde_json::Value;

const KIND: ExchangeKind = ExchangeKind::Bybit;
const SECRET: &str = "Xg2kQm7rT9vLp4sNw8yZc3bHf6dJa1eUq5iO";

/// One 18-character alphanumeric key per scenario, like Bybit's.
fn key_for(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("opjSlSOzqIeXRO{index:04}")
}

fn scenario_file(settings: Option<SimExchangeSettings>) -> ScenarioFile {
    ScenarioFile {
        exchanges: settings
            .map(|s| HashMap::from([(KIND, s)]))
            .unwrap_or_default(),
        keys: Scenario::ALL
            .iter()
            .map(|&scenario| SimKey {
                exchange: KIND,
                api_key: key_for(scenario),
                api_secret: SECRET.into(),
                passphrase: None,
                scenario,
            })
            .collect(),
    }
}

async fn start(settings: Option<SimExchangeSettings>) -> RunningSim {
    sim::spawn("127.0.0.1:0".parse().unwrap(), scenario_file(settings))
        .await
        .unwrap()
}

fn creds(key: &str, secret: &str) -> Credentials {
    Credentials {
        api_key: key.to_string().into(),
        api_secret: secret.to_string().into(),
        passphrase: None,
    }
}

async fn probe_with(sim: &RunningSim, credentials: Credentials, futures: bool) -> Facts {
    let key = credentials.api_key.clone();
    let secret = credentials.api_secret.clone();
    let exchange = for_kind(KIND, HttpClient::new(Duration::from_millis(1500))).unwrap();
    let target = ProbeTarget {
        credentials,
        markets: Markets {
            spot: true,
            futures,
        },
        base_url: Some(sim.base_url(KIND)),
        futures_base_url: None,
    };
    let facts = exchange.probe(&target).await;
    // Whatever happened, no message carries the key or the secret.
    use keywarden::secret::ExposeSecret;
    for text in facts
        .problems
        .iter()
        .map(|p| &p.message)
        .chain(&facts.notes)
    {
        assert!(!text.contains(secret.expose_secret()), "secret in {text:?}");
        assert!(!text.contains(key.expose_secret()), "key in {text:?}");
    }
    facts
}

/// Probes the key playing `scenario` on a fresh simulator.
async fn probe(scenario: Scenario, futures: bool) -> Facts {
    let sim = start(None).await;
    probe_with(&sim, creds(&key_for(scenario), SECRET), futures).await
}

fn only_problem(facts: &Facts) -> &keywarden::exchange::Problem {
    assert_eq!(facts.problems.len(), 1, "{facts:?}");
    &facts.problems[0]
}

fn assert_problem(facts: &Facts, kind: ProblemKind) {
    assert_eq!(only_problem(facts).kind, kind, "{facts:?}");
}

fn rights(facts: &Facts) -> [Option<bool>; 4] {
    let p = facts.permissions;
    [p.read, p.trade, p.withdraw, p.futures]
}

const Y: Option<bool> = Some(true);
const N: Option<bool> = Some(false);

// ---- healthy and rights scenarios, spot-only and futures connections ----

#[tokio::test]
async fn valid_key_spot_connection_is_fully_described() {
    let facts = probe(Scenario::Valid, false).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    // futures rights are reported from introspection even when the connection does not use them
    assert_eq!(rights(&facts), [Y, Y, N, Y]);
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, None);
}

#[tokio::test]
async fn valid_key_futures_connection_reads_the_positions() {
    let facts = probe(Scenario::Valid, true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [Y, Y, N, Y]);
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, None);
}

#[tokio::test]
async fn withdraw_enabled_key_shows_the_withdraw_right() {
    for futures in [false, true] {
        let facts = probe(Scenario::WithdrawEnabled, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [Y, Y, Y, Y]);
        assert_eq!(facts.ip_restricted, Some(true));
    }
}

#[tokio::test]
async fn futures_missing_spot_connection_reports_no_futures_right() {
    let facts = probe(Scenario::FuturesMissing, false).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [Y, Y, N, N]);
}

#[tokio::test]
async fn futures_missing_futures_connection_is_refused_the_positions() {
    let facts = probe(Scenario::FuturesMissing, true).await;
    assert!(
        facts.problems.is_empty(),
        "a missing right is a fact: {facts:?}"
    );
    assert_eq!(rights(&facts), [Y, Y, N, N]);
    assert!(
        facts.notes.iter().any(|n| n.contains("code 10005")),
        "{facts:?}"
    );
}

#[tokio::test]
async fn trade_missing_key_cannot_trade_spot() {
    for futures in [false, true] {
        let facts = probe(Scenario::TradeMissing, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [Y, N, N, Y]);
    }
}

#[tokio::test]
async fn read_only_key_has_neither_trade_nor_futures() {
    for futures in [false, true] {
        let facts = probe(Scenario::ReadOnly, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [Y, N, N, N]);
    }
}

#[tokio::test]
async fn no_ip_whitelist_key_is_unbound_and_expires_within_five_days() {
    for futures in [false, true] {
        let facts = probe(Scenario::NoIpWhitelist, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(rights(&facts), [Y, Y, N, Y]);
        let left = facts
            .expires_at
            .expect("Bybit reports when unbound keys expire")
            - Utc::now();
        assert!(
            left > chrono::Duration::days(4) && left <= chrono::Duration::days(5),
            "{left}"
        );
    }
}

// ---- refusals ----

#[tokio::test]
async fn ip_not_whitelisted_names_the_ip_bybit_saw() {
    for futures in [false, true] {
        let facts = probe(Scenario::IpNotWhitelisted, futures).await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::IpNotAllowed);
        assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
        assert!(problem.message.contains("code 10010"), "{problem:?}");
    }
}

#[tokio::test]
async fn per_key_maintenance_is_unavailable() {
    let facts = probe(Scenario::Maintenance, false).await;
    assert_problem(&facts, ProblemKind::Unavailable);
    assert!(facts.problems[0].message.contains("10016"), "{facts:?}");
}

#[tokio::test]
async fn http_503_is_unavailable() {
    assert_problem(
        &probe(Scenario::Http503, false).await,
        ProblemKind::Unavailable,
    );
}

#[tokio::test]
async fn cdn_html_page_is_unavailable() {
    let facts = probe(Scenario::CdnHtml, false).await;
    assert_problem(&facts, ProblemKind::Unavailable);
    assert!(facts.problems[0].message.contains("HTML"));
}

#[tokio::test]
async fn hanging_exchange_is_unavailable_after_the_timeout() {
    let started = std::time::Instant::now();
    let facts = probe(Scenario::Hang, false).await;
    assert_problem(&facts, ProblemKind::Unavailable);
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn malformed_json_is_unavailable() {
    assert_problem(
        &probe(Scenario::MalformedJson, false).await,
        ProblemKind::Unavailable,
    );
}

#[tokio::test]
async fn rate_limited_carries_retry_after() {
    let facts = probe(Scenario::RateLimited, false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::RateLimited);
    assert_eq!(problem.retry_after, Some(Duration::from_secs(7)));
    assert!(problem.message.contains("10006"), "{problem:?}");
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    for futures in [false, true] {
        let facts = probe(Scenario::ClockSkew, futures).await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::ClockSkew);
        assert!(problem.message.contains("code 10002"), "{problem:?}");
    }
}

#[tokio::test]
async fn exchange_clock_two_minutes_ahead_is_clock_skew() {
    let sim = start(Some(SimExchangeSettings {
        maintenance: false,
        clock_offset_ms: 120_000,
    }))
    .await;
    let facts = probe_with(&sim, creds(&key_for(Scenario::Valid), SECRET), false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("ahead of ours"), "{problem:?}");
    assert_eq!(rights(&facts), [None, None, None, None]);
}

#[tokio::test]
async fn exchange_clock_two_seconds_behind_is_clock_skew() {
    // Bybit refuses timestamps 1 s or more ahead of its clock, whatever the window.
    let sim = start(Some(SimExchangeSettings {
        maintenance: false,
        clock_offset_ms: -2_000,
    }))
    .await;
    let facts = probe_with(&sim, creds(&key_for(Scenario::Valid), SECRET), false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("behind ours"), "{problem:?}");
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = start(Some(SimExchangeSettings {
        maintenance: true,
        clock_offset_ms: 0,
    }))
    .await;
    for futures in [false, true] {
        let facts = probe_with(&sim, creds(&key_for(Scenario::Valid), SECRET), futures).await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::Unavailable);
        assert!(
            problem.message.contains("Bybit maintenance") && problem.message.contains("ongoing"),
            "{problem:?}"
        );
    }
}

#[tokio::test]
async fn wrong_secret_is_an_invalid_key() {
    let sim = start(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), "not-the-secret"),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert_eq!(
        facts.problems[0].message,
        "GET /v5/user/query-api: code 10004 Error sign, please check your signature generation algorithm."
    );
}

#[tokio::test]
async fn unknown_key_is_an_invalid_key() {
    let sim = start(None).await;
    let facts = probe_with(&sim, creds("XXXXXXXXXXXXXXXXXX", SECRET), false).await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert!(facts.problems[0].message.contains("10003"), "{facts:?}");
}

#[tokio::test]
async fn a_path_prefix_in_base_url_is_not_signed() {
    // sim.base_url ends in /bybit: every probe above already goes through a prefix; this
    // checks that a trailing slash is trimmed too.
    let sim = start(None).await;
    let exchange = for_kind(KIND, HttpClient::new(Duration::from_millis(1500))).unwrap();
    let target = ProbeTarget {
        credentials: creds(&key_for(Scenario::Valid), SECRET),
        markets: Markets {
            spot: true,
            futures: true,
        },
        base_url: Some(format!("{}/", sim.base_url(KIND))),
        futures_base_url: Some(format!("{}/", sim.base_url(KIND))),
    };
    let facts = exchange.probe(&target).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
}

// ---- raw HTTP against the simulator ----

fn now() -> i64 {
    now_ms()
}

/// Sends a GET of `sent` (path and query) with headers signed over `signed_query` at `ts`;
/// `edit` may change the headers.
async fn raw_get(
    sim: &RunningSim,
    ts: i64,
    signed_query: &str,
    sent: &str,
    edit: impl FnOnce(&mut reqwest::header::HeaderMap),
) -> (u16, Value) {
    let mut headers =
        auth_headers(&creds(&key_for(Scenario::Valid), SECRET), ts, signed_query).unwrap();
    edit(&mut headers);
    let response = reqwest::Client::new()
        .get(format!("{}{sent}", sim.base_url(KIND)))
        .headers(headers)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn code(body: &Value) -> i64 {
    body["retCode"].as_i64().unwrap_or(i64::MIN)
}

const WALLET_QUERY: &str = "accountType=UNIFIED";
const WALLET: &str = "/v5/account/wallet-balance?accountType=UNIFIED";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let sim = start(None).await;
    let (status, body) = raw_get(&sim, now(), WALLET_QUERY, WALLET, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
    assert!(body["result"]["list"].is_array());
    let positions = format!("/v5/position/list?{POSITIONS_QUERY}");
    let (status, body) = raw_get(&sim, now(), POSITIONS_QUERY, &positions, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
}

#[tokio::test]
async fn raw_wrong_signature_is_10004() {
    let sim = start(None).await;
    let (status, body) = raw_get(&sim, now(), WALLET_QUERY, WALLET, |h| {
        let other = signature(
            "ffffffff",
            now(),
            &key_for(Scenario::Valid),
            "5000",
            WALLET_QUERY,
        );
        h.insert("X-BAPI-SIGN", other.parse().unwrap());
    })
    .await;
    assert_eq!((status, code(&body)), (200, 10004), "{body}");
}

#[tokio::test]
async fn raw_stale_or_early_timestamp_is_10002() {
    let sim = start(None).await;
    let (status, body) = raw_get(&sim, now() - 6_000, WALLET_QUERY, WALLET, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 10002), "{body}");
    // 1 s or more ahead is refused whatever the recvWindow
    let (status, body) = raw_get(&sim, now() + 2_000, WALLET_QUERY, WALLET, |_| {}).await;
    assert_eq!((status, code(&body)), (200, 10002), "{body}");
}

#[tokio::test]
async fn raw_reordered_or_tampered_query_is_10004() {
    let sim = start(None).await;
    let signed = "category=linear&settleCoin=USDT";
    for sent in [
        "/v5/position/list?settleCoin=USDT&category=linear",
        "/v5/position/list?category=linear&settleCoin=USDC",
    ] {
        let (status, body) = raw_get(&sim, now(), signed, sent, |_| {}).await;
        assert_eq!((status, code(&body)), (200, 10004), "{sent}: {body}");
    }
    // Signed in that order, the same parameters are accepted: Bybit v5 signs bytes, not a map.
    let reordered = "settleCoin=USDT&category=linear";
    let (status, body) = raw_get(
        &sim,
        now(),
        reordered,
        &format!("/v5/position/list?{reordered}"),
        |_| {},
    )
    .await;
    assert_eq!((status, code(&body)), (200, 0), "{body}");
}

#[tokio::test]
async fn raw_post_signs_the_body_byte_for_byte() {
    let sim = start(None).await;
    let body = r#"{"setMarginMode":"REGULAR_MARGIN"}"#;
    let post = |sent: &'static str| {
        let headers = auth_headers(&creds(&key_for(Scenario::Valid), SECRET), now(), body).unwrap();
        let url = format!("{}/v5/account/set-margin-mode", sim.base_url(KIND));
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .headers(headers)
                .body(sent)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
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
    let sim = start(None).await;
    let (status, body) = raw_get(&sim, now(), WALLET_QUERY, WALLET, |h| {
        h.insert("X-BAPI-API-KEY", "XXXXXXXXXXXXXXXXXX".parse().unwrap());
    })
    .await;
    assert_eq!((status, code(&body)), (401, 10003), "{body}");
    let (status, body) = raw_get(&sim, now(), WALLET_QUERY, WALLET, |h| {
        h.remove("X-BAPI-API-KEY");
    })
    .await;
    assert_eq!((status, code(&body)), (401, 10003), "{body}");
}

#[tokio::test]
async fn raw_public_endpoints_answer_bybits_shapes() {
    let sim = start(None).await;
    let client = reqwest::Client::new();
    let time: Value = client
        .get(format!("{}/v5/market/time", sim.base_url(KIND)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(code(&time), 0);
    let nano: i128 = time["result"]["timeNano"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(((nano / 1_000_000) as i64 - now()).abs() < 5_000);
    assert!(time["result"]["timeSecond"].is_string());
    let status: Value = client
        .get(format!("{}/v5/system/status", sim.base_url(KIND)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["result"]["list"][0]["state"], "completed");
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after_and_bybits_headers() {
    let sim = start(None).await;
    let headers = auth_headers(
        &creds(&key_for(Scenario::RateLimited), SECRET),
        now(),
        WALLET_QUERY,
    )
    .unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}{WALLET}", sim.base_url(KIND)))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    assert!(response
        .headers()
        .contains_key("x-bapi-limit-reset-timestamp"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), 10006);
}
