//! KuCoin simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::kucoin::auth_headers;
use keywarden::exchange::{now_ms, Credentials, ExchangeKind, Facts, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Kucoin;
const SECRET: &str = "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3";
const PASSPHRASE: &str = "correct horse";

/// One 24-hex key per scenario, like KuCoin's.
fn key_for(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("6705f5c311545b0001{index:06x}")
}

const CAST: Cast = Cast {
    kind: KIND,
    key: key_for,
    secret: |_| SECRET.to_string(),
    passphrase: Some(PASSPHRASE),
};

async fn probe_with(sim: &RunningSim, credentials: Credentials, futures: bool) -> Facts {
    run_probe(
        KIND,
        &target(credentials, sim.base_url(KIND), markets(futures)),
    )
    .await
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
async fn valid_key_futures_connection_reads_the_futures_account() {
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
async fn futures_missing_futures_connection_is_refused_the_futures_account() {
    let facts = probe(Scenario::FuturesMissing, true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(has_note(&facts, "code 400007"), "{facts:?}");
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
async fn no_ip_whitelist_key_is_not_ip_restricted() {
    for futures in [false, true] {
        let facts = probe(Scenario::NoIpWhitelist, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(rights(&facts), [T, T, F, T]);
        assert_eq!(facts.expires_at, None);
    }
}

// ---- refusals ----

#[tokio::test]
async fn ip_not_whitelisted_names_the_ip_kucoin_saw() {
    let facts = probe(Scenario::IpNotWhitelisted, false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::IpNotAllowed);
    assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
    assert!(problem.message.contains("code 400006"), "{problem:?}");
}

#[tokio::test]
async fn per_key_maintenance_is_unavailable() {
    let facts = probe(Scenario::Maintenance, false).await;
    assert_problem(&facts, ProblemKind::Unavailable);
    assert!(facts.problems[0].message.contains("500000"), "{facts:?}");
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
    assert!(problem.message.contains("429000"), "{problem:?}");
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    let facts = probe(Scenario::ClockSkew, false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("400002"), "{problem:?}");
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
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    for futures in [false, true] {
        let facts = probe_with(&sim, CAST.creds(Scenario::Valid), futures).await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::Unavailable);
        assert!(problem.message.contains("close"), "{problem:?}");
    }
}

#[tokio::test]
async fn wrong_secret_is_an_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), "wrong-secret", Some(PASSPHRASE)),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert!(!facts.problems[0].message.contains("wrong-secret"));
}

#[tokio::test]
async fn unknown_key_is_an_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_with(
        &sim,
        creds("000000000000000000000000", SECRET, Some(PASSPHRASE)),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert!(facts.problems[0].message.contains("400003"), "{facts:?}");
}

#[tokio::test]
async fn wrong_passphrase_is_an_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), SECRET, Some("battery staple")),
        false,
    )
    .await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    let message = &facts.problems[0].message;
    assert!(message.contains("400004"), "{message}");
    assert!(!message.contains("battery"), "{message}");
}

// ---- raw HTTP against the simulator ----

struct Raw {
    base: String,
    client: reqwest::Client,
}

impl Raw {
    async fn new() -> Raw {
        let sim = CAST.sim(None).await;
        Raw {
            base: sim.base_url(KIND),
            client: reqwest::Client::new(),
        }
    }

    fn valid_creds() -> Credentials {
        CAST.creds(Scenario::Valid)
    }

    /// Signs `signed_path` at `ts` and sends the request to `sent_path`; `edit` may change headers.
    async fn send(
        &self,
        ts: i64,
        signed_path: &str,
        sent_path: &str,
        edit: impl FnOnce(&mut reqwest::header::HeaderMap),
    ) -> (u16, Value) {
        let mut headers = auth_headers(&Raw::valid_creds(), ts, "GET", signed_path, "").unwrap();
        edit(&mut headers);
        status_and_json(
            self.client
                .get(format!("{}{sent_path}", self.base))
                .headers(headers),
        )
        .await
    }
}

const PATH: &str = "/api/v1/accounts?type=trade&currency=USDT";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let raw = Raw::new().await;
    let (status, body) = raw.send(now_ms(), PATH, PATH, |_| {}).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code"], "200000");
    assert!(body["data"].is_array());
}

#[tokio::test]
async fn raw_wrong_signature_is_400005() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now_ms(), PATH, PATH, |h| {
            h.insert(
                "KC-API-SIGN",
                "Gi/XL3iadCgRnIK9XzPe7wtZgMHZInb7c3LUWsHnbHY="
                    .parse()
                    .unwrap(),
            );
        })
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("400005")),
        "{body}"
    );
}

#[tokio::test]
async fn raw_stale_timestamp_is_400002() {
    let raw = Raw::new().await;
    let (status, body) = raw.send(now_ms() - 30_000, PATH, PATH, |_| {}).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("400002")),
        "{body}"
    );
}

#[tokio::test]
async fn raw_reordered_query_not_resigned_is_400005() {
    let raw = Raw::new().await;
    let reordered = "/api/v1/accounts?currency=USDT&type=trade";
    let (status, body) = raw.send(now_ms(), PATH, reordered, |_| {}).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("400005")),
        "{body}"
    );
}

#[tokio::test]
async fn raw_wrong_passphrase_is_400004() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now_ms(), PATH, PATH, |h| {
            // the HMAC of another passphrase with the right secret
            let other = keywarden::exchange::kucoin::passphrase_header(SECRET, "battery staple");
            h.insert("KC-API-PASSPHRASE", other.parse().unwrap());
        })
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("400004")),
        "{body}"
    );
}

#[tokio::test]
async fn raw_plaintext_passphrase_with_version_2_is_400004() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now_ms(), PATH, PATH, |h| {
            h.insert("KC-API-PASSPHRASE", PASSPHRASE.parse().unwrap());
            h.insert("KC-API-KEY-VERSION", "2".parse().unwrap());
        })
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("400004")),
        "{body}"
    );
}

#[tokio::test]
async fn raw_missing_header_is_400001() {
    let raw = Raw::new().await;
    for name in [
        "KC-API-KEY",
        "KC-API-SIGN",
        "KC-API-TIMESTAMP",
        "KC-API-PASSPHRASE",
    ] {
        let (status, body) = raw
            .send(now_ms(), PATH, PATH, |h| {
                h.remove(name);
            })
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("400001")),
            "{name}: {body}"
        );
    }
}

#[tokio::test]
async fn raw_unknown_key_is_400003() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now_ms(), PATH, PATH, |h| {
            h.insert("KC-API-KEY", "000000000000000000000000".parse().unwrap());
        })
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("400003")),
        "{body}"
    );
}

#[tokio::test]
async fn raw_public_endpoints_answer_kucoins_shapes() {
    let raw = Raw::new().await;
    let time: Value = get_json(format!("{}/api/v1/timestamp", raw.base)).await;
    assert_eq!(time["code"], "200000");
    assert!((time["data"].as_i64().unwrap() - now_ms()).abs() < 5_000);
    let status: Value = get_json(format!("{}/api/v1/status", raw.base)).await;
    assert_eq!(status["data"]["status"], "open");
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after_and_kucoins_headers() {
    let sim = CAST.sim(None).await;
    let credentials = CAST.creds(Scenario::RateLimited);
    let headers = auth_headers(&credentials, now_ms(), "GET", PATH, "").unwrap();
    let (headers, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{PATH}", sim.base_url(KIND)))
            .headers(headers),
    )
    .await;
    assert!(headers.contains_key("gw-ratelimit-reset"));
    assert_eq!(body["code"], "429000");
}
