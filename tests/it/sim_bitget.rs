//! Bitget simulator and probe, through the library.

use std::collections::HashMap;
use std::time::Duration;

use keywarden::exchange::bitget::{auth_headers, signed_query};
use keywarden::exchange::{
    for_kind, Credentials, ExchangeKind, Facts, HttpClient, Markets, ProbeTarget, ProblemKind,
};
use keywarden::sim::{self, RunningSim, Scenario, ScenarioFile, SimExchangeSettings, SimKey};
use serde_json::Value;

const KIND: ExchangeKind = ExchangeKind::Bitget;
const SECRET: &str = "7b1e3c0d9f2a4e5b8c6d1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";
const PASSPHRASE: &str = "correct horse";

/// One key per scenario, shaped like Bitget's (`bg_` + 32 hex).
fn key_for(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("bg_5f0c2a9e7d4b1c3e8a6f0d2b{index:06x}")
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
                passphrase: Some(PASSPHRASE.into()),
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

fn creds(key: &str, secret: &str, passphrase: &str) -> Credentials {
    Credentials {
        api_key: key.to_string().into(),
        api_secret: secret.to_string().into(),
        passphrase: Some(passphrase.to_string().into()),
    }
}

async fn probe_with(sim: &RunningSim, credentials: Credentials, futures: bool) -> Facts {
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
    exchange.probe(&target).await
}

/// Probes the key playing `scenario` on a fresh simulator.
async fn probe(scenario: Scenario, futures: bool) -> Facts {
    let sim = start(None).await;
    probe_with(&sim, creds(&key_for(scenario), SECRET, PASSPHRASE), futures).await
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
async fn valid_key_futures_connection_reads_the_futures_account() {
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
async fn futures_missing_futures_connection_is_refused_the_futures_account() {
    let facts = probe(Scenario::FuturesMissing, true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [Y, Y, N, N]);
    assert!(
        facts.notes.iter().any(|n| n.contains("code 40014")),
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
async fn no_ip_whitelist_key_is_not_ip_restricted_and_has_no_expiry() {
    for futures in [false, true] {
        let facts = probe(Scenario::NoIpWhitelist, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(rights(&facts), [Y, Y, N, Y]);
        // Bitget reports no expiry date
        assert_eq!(facts.expires_at, None);
    }
}

// ---- refusals ----

#[tokio::test]
async fn ip_not_whitelisted_names_the_ip_bitget_saw() {
    let facts = probe(Scenario::IpNotWhitelisted, false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::IpNotAllowed);
    assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
    assert!(problem.message.contains("code 40018"), "{problem:?}");
}

#[tokio::test]
async fn per_key_maintenance_is_unavailable() {
    let facts = probe(Scenario::Maintenance, false).await;
    assert_problem(&facts, ProblemKind::Unavailable);
    assert!(facts.problems[0].message.contains("40200"), "{facts:?}");
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
    assert_problem(
        &probe(Scenario::CdnHtml, false).await,
        ProblemKind::Unavailable,
    );
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
    assert!(problem.message.contains("code 429"), "{problem:?}");
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    let facts = probe(Scenario::ClockSkew, false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("40008"), "{problem:?}");
}

#[tokio::test]
async fn exchange_clock_two_minutes_ahead_is_clock_skew() {
    let sim = start(Some(SimExchangeSettings {
        maintenance: false,
        clock_offset_ms: 120_000,
    }))
    .await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), SECRET, PASSPHRASE),
        false,
    )
    .await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("ahead of ours"), "{problem:?}");
    assert_eq!(rights(&facts), [None, None, None, None]);
}

#[tokio::test]
async fn exchange_clock_behind_by_more_than_the_window_is_clock_skew() {
    let sim = start(Some(SimExchangeSettings {
        maintenance: false,
        clock_offset_ms: -45_000,
    }))
    .await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), SECRET, PASSPHRASE),
        false,
    )
    .await;
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
        let facts = probe_with(
            &sim,
            creds(&key_for(Scenario::Valid), SECRET, PASSPHRASE),
            futures,
        )
        .await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::Unavailable);
        assert!(problem.message.contains("40200"), "{problem:?}");
    }
}

#[tokio::test]
async fn wrong_secret_is_an_invalid_key() {
    let sim = start(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), "wrong-secret", PASSPHRASE),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    let message = &facts.problems[0].message;
    assert!(message.contains("40009"), "{message}");
    assert!(!message.contains("wrong-secret"), "{message}");
}

#[tokio::test]
async fn unknown_key_is_an_invalid_key() {
    let sim = start(None).await;
    let facts = probe_with(
        &sim,
        creds("bg_00000000000000000000000000000000", SECRET, PASSPHRASE),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    let message = &facts.problems[0].message;
    assert!(message.contains("40006"), "{message}");
    assert!(!message.contains("bg_0000"), "{message}");
}

#[tokio::test]
async fn wrong_passphrase_is_an_invalid_key() {
    let sim = start(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), SECRET, "battery staple"),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    let message = &facts.problems[0].message;
    assert!(message.contains("40012"), "{message}");
    assert!(!message.contains("battery"), "{message}");
}

#[tokio::test]
async fn missing_passphrase_is_an_invalid_key_without_asking_bitget() {
    let sim = start(None).await;
    let credentials = Credentials {
        passphrase: None,
        ..creds(&key_for(Scenario::Valid), SECRET, PASSPHRASE)
    };
    let facts = probe_with(&sim, credentials, false).await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert!(facts.problems[0].message.contains("passphrase"));
}

// ---- raw HTTP against the simulator ----

struct Raw {
    base: String,
    client: reqwest::Client,
}

impl Raw {
    async fn new() -> Raw {
        let sim = start(None).await;
        Raw {
            base: sim.base_url(KIND),
            client: reqwest::Client::new(),
        }
    }

    /// Signs GET `path` with `signed_query` at `ts`, sends it to `path?sent_query` with `body`;
    /// `edit` may change the headers.
    async fn send(
        &self,
        ts: i64,
        path: &str,
        signed_query: &str,
        sent_query: &str,
        body: &str,
        edit: impl FnOnce(&mut reqwest::header::HeaderMap),
    ) -> (u16, Value) {
        let credentials = creds(&key_for(Scenario::Valid), SECRET, PASSPHRASE);
        let mut headers = auth_headers(&credentials, ts, "GET", path, signed_query, "").unwrap();
        edit(&mut headers);
        let url = if sent_query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{sent_query}", self.base)
        };
        let response = self
            .client
            .get(url)
            .headers(headers)
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }
}

fn now() -> i64 {
    keywarden::exchange::now_ms()
}

const ASSETS: &str = "/api/v2/spot/account/assets";
const QUERY: &str = "assetType=all&coin=USDT";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let raw = Raw::new().await;
    let query = signed_query(&[("coin", "USDT"), ("assetType", "all")]);
    assert_eq!(query, QUERY);
    let (status, body) = raw.send(now(), ASSETS, &query, &query, "", |_| {}).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "00000");
    assert!(body["data"].is_array());
}

fn refusal(status: u16, body: &Value) -> (u16, Option<&str>) {
    (status, body["code"].as_str())
}

#[tokio::test]
async fn raw_wrong_signature_is_40009() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now(), ASSETS, QUERY, QUERY, "", |h| {
            h.insert(
                "ACCESS-SIGN",
                "ROFFd4+DVLlr0tKiRPa/6C0QO/CEPEJP3qU/PNOmKXY="
                    .parse()
                    .unwrap(),
            );
        })
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40009")), "{body}");
    assert_eq!(body["msg"], "sign signature error");
}

#[tokio::test]
async fn raw_stale_and_future_timestamps_are_40008() {
    let raw = Raw::new().await;
    for ts in [now() - 45_000, now() + 45_000] {
        let (status, body) = raw.send(ts, ASSETS, QUERY, QUERY, "", |_| {}).await;
        assert_eq!(refusal(status, &body), (400, Some("40008")), "{body}");
    }
    let (status, body) = raw
        .send(now(), ASSETS, QUERY, QUERY, "", |h| {
            h.insert("ACCESS-TIMESTAMP", "yesterday".parse().unwrap());
        })
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40005")), "{body}");
}

#[tokio::test]
async fn raw_tampered_query_is_40009() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now(), ASSETS, QUERY, "assetType=all&coin=BTC", "", |_| {})
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40009")), "{body}");
}

#[tokio::test]
async fn raw_reordered_query_is_40009_signed_either_way() {
    let raw = Raw::new().await;
    let reordered = "coin=USDT&assetType=all";
    for signed in [QUERY, reordered] {
        let (status, body) = raw.send(now(), ASSETS, signed, reordered, "", |_| {}).await;
        assert_eq!(
            refusal(status, &body),
            (400, Some("40009")),
            "{signed}: {body}"
        );
    }
}

#[tokio::test]
async fn raw_unsigned_body_is_40009() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now(), ASSETS, QUERY, QUERY, r#"{"coin":"BTC"}"#, |_| {})
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40009")), "{body}");
}

#[tokio::test]
async fn raw_wrong_passphrase_is_40012() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now(), ASSETS, QUERY, QUERY, "", |h| {
            h.insert("ACCESS-PASSPHRASE", "battery staple".parse().unwrap());
        })
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40012")), "{body}");
}

#[tokio::test]
async fn raw_missing_headers_have_their_own_codes() {
    let raw = Raw::new().await;
    for (name, code) in [
        ("ACCESS-KEY", "40001"),
        ("ACCESS-SIGN", "40002"),
        ("ACCESS-TIMESTAMP", "40003"),
        ("ACCESS-PASSPHRASE", "40011"),
    ] {
        let (status, body) = raw
            .send(now(), ASSETS, QUERY, QUERY, "", |h| {
                h.remove(name);
            })
            .await;
        assert_eq!(refusal(status, &body), (400, Some(code)), "{name}: {body}");
    }
}

#[tokio::test]
async fn raw_unknown_key_is_40006() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now(), ASSETS, QUERY, QUERY, "", |h| {
            h.insert(
                "ACCESS-KEY",
                "bg_00000000000000000000000000000000".parse().unwrap(),
            );
        })
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40006")), "{body}");
}

#[tokio::test]
async fn raw_public_time_answers_bitgets_shape() {
    let raw = Raw::new().await;
    let time: Value = raw
        .client
        .get(format!("{}/api/v2/public/time", raw.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(time["code"], "00000");
    let server: i64 = time["data"]["serverTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((server - now()).abs() < 5_000);
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after() {
    let sim = start(None).await;
    let credentials = creds(&key_for(Scenario::RateLimited), SECRET, PASSPHRASE);
    let headers = auth_headers(&credentials, now(), "GET", ASSETS, QUERY, "").unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}{ASSETS}?{QUERY}", sim.base_url(KIND)))
        .headers(headers)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "429");
}
