//! Bybit simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::bybit::{auth_headers, signature, POSITIONS_QUERY};
use keywarden::exchange::{now_ms, Credentials, ExchangeKind, Facts, ProbeTarget, ProblemKind};
use keywarden::secret::ExposeSecret;
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Bybit;
const SECRET: &str = "Xg2kQm7rT9vLp4sNw8yZc3bHf6dJa1eUq5iO";

/// One 18-character alphanumeric key per scenario, like Bybit's.
fn key_for(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("opjSlSOzqIeXRO{index:04}")
}

const CAST: Cast = Cast {
    kind: KIND,
    key: key_for,
    secret: |_| SECRET.to_string(),
    passphrase: None,
};

async fn probe_with(sim: &RunningSim, credentials: Credentials, futures: bool) -> Facts {
    let key = credentials.api_key.clone();
    let secret = credentials.api_secret.clone();
    let facts = run_probe(
        KIND,
        &target(credentials, sim.base_url(KIND), markets(futures)),
    )
    .await;
    assert_nothing_leaks(
        &facts,
        &[
            ("secret", secret.expose_secret()),
            ("key", key.expose_secret()),
        ],
    );
    facts
}

/// Probes the key playing `scenario` on a fresh simulator.
async fn probe(scenario: Scenario, futures: bool) -> Facts {
    let sim = CAST.sim(None).await;
    probe_with(&sim, CAST.creds(scenario), futures).await
}

// ---- healthy and rights scenarios, spot-only and futures connections ----

#[tokio::test]
async fn valid_key_spot_connection_is_fully_described() {
    let facts = probe(Scenario::Valid, false).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    // futures rights are reported from introspection even when the connection does not use them
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, None);
}

#[tokio::test]
async fn valid_key_futures_connection_reads_the_positions() {
    let facts = probe(Scenario::Valid, true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, None);
}

#[tokio::test]
async fn withdraw_enabled_key_shows_the_withdraw_right() {
    for futures in [false, true] {
        let facts = probe(Scenario::WithdrawEnabled, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [T, T, T, T]);
        assert_eq!(facts.ip_restricted, Some(true));
    }
}

#[tokio::test]
async fn futures_missing_spot_connection_reports_no_futures_right() {
    let facts = probe(Scenario::FuturesMissing, false).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, F]);
}

#[tokio::test]
async fn futures_missing_futures_connection_is_refused_the_positions() {
    let facts = probe(Scenario::FuturesMissing, true).await;
    assert!(
        facts.problems.is_empty(),
        "a missing right is a fact: {facts:?}"
    );
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(has_note(&facts, "code 10005"), "{facts:?}");
}

#[tokio::test]
async fn trade_missing_key_cannot_trade_spot() {
    for futures in [false, true] {
        let facts = probe(Scenario::TradeMissing, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [T, F, F, T]);
    }
}

#[tokio::test]
async fn read_only_key_has_neither_trade_nor_futures() {
    for futures in [false, true] {
        let facts = probe(Scenario::ReadOnly, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [T, F, F, F]);
    }
}

#[tokio::test]
async fn no_ip_whitelist_key_is_unbound_and_expires_within_five_days() {
    for futures in [false, true] {
        let facts = probe(Scenario::NoIpWhitelist, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(rights(&facts), [T, T, F, T]);
        assert_expires_within_five_days(&facts, "Bybit reports when unbound keys expire");
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
    let sim = CAST.sim(Some(clock_offset(120_000))).await;
    let facts = probe_with(&sim, CAST.creds(Scenario::Valid), false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("ahead of ours"), "{problem:?}");
    assert_eq!(rights(&facts), [U, U, U, U]);
}

#[tokio::test]
async fn exchange_clock_two_seconds_behind_is_clock_skew() {
    // Bybit refuses timestamps 1 s or more ahead of its clock, whatever the window.
    let sim = CAST.sim(Some(clock_offset(-2_000))).await;
    let facts = probe_with(&sim, CAST.creds(Scenario::Valid), false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("behind ours"), "{problem:?}");
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    for futures in [false, true] {
        let facts = probe_with(&sim, CAST.creds(Scenario::Valid), futures).await;
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
    let sim = CAST.sim(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), "not-the-secret", None),
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
    let sim = CAST.sim(None).await;
    let facts = probe_with(&sim, creds("XXXXXXXXXXXXXXXXXX", SECRET, None), false).await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert!(facts.problems[0].message.contains("10003"), "{facts:?}");
}

#[tokio::test]
async fn a_path_prefix_in_base_url_is_not_signed() {
    // sim.base_url ends in /bybit: every probe above already goes through a prefix; this
    // checks that a trailing slash is trimmed too.
    let sim = CAST.sim(None).await;
    let prefixed = format!("{}/", sim.base_url(KIND));
    let target = ProbeTarget {
        futures_base_url: Some(prefixed.clone()),
        ..target(CAST.creds(Scenario::Valid), prefixed, markets(true))
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
    let (status, body) = raw_get(&sim, now_ms(), WALLET_QUERY, WALLET, |h| {
        let other = signature(
            "ffffffff",
            now_ms(),
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
    let (status, body) = raw_get(&sim, now_ms(), WALLET_QUERY, WALLET, |h| {
        h.insert("X-BAPI-API-KEY", "XXXXXXXXXXXXXXXXXX".parse().unwrap());
    })
    .await;
    assert_eq!((status, code(&body)), (401, 10003), "{body}");
    let (status, body) = raw_get(&sim, now_ms(), WALLET_QUERY, WALLET, |h| {
        h.remove("X-BAPI-API-KEY");
    })
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
