//! Bitget simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::bitget::{auth_headers, signed_query};
use keywarden::exchange::{now_ms, Credentials, ExchangeKind, Facts, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Bitget;
const SECRET: &str = "7b1e3c0d9f2a4e5b8c6d1f0a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e";
const PASSPHRASE: &str = "correct horse";

/// One key per scenario, shaped like Bitget's (`bg_` + 32 hex).
fn key_for(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("bg_5f0c2a9e7d4b1c3e8a6f0d2b{index:06x}")
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
    assert!(has_note(&facts, "code 40014"), "{facts:?}");
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
async fn no_ip_whitelist_key_is_not_ip_restricted_and_has_no_expiry() {
    for futures in [false, true] {
        let facts = probe(Scenario::NoIpWhitelist, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(rights(&facts), [T, T, F, T]);
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
    let sim = CAST.sim(Some(clock_offset(120_000))).await;
    let facts = probe_with(&sim, CAST.creds(Scenario::Valid), false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("ahead of ours"), "{problem:?}");
    assert_eq!(rights(&facts), [U, U, U, U]);
}

#[tokio::test]
async fn exchange_clock_behind_by_more_than_the_window_is_clock_skew() {
    let sim = CAST.sim(Some(clock_offset(-45_000))).await;
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
        assert!(problem.message.contains("40200"), "{problem:?}");
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
    let message = &facts.problems[0].message;
    assert!(message.contains("40009"), "{message}");
    assert!(!message.contains("wrong-secret"), "{message}");
}

#[tokio::test]
async fn unknown_key_is_an_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_with(
        &sim,
        creds(
            "bg_00000000000000000000000000000000",
            SECRET,
            Some(PASSPHRASE),
        ),
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
    let sim = CAST.sim(None).await;
    let facts = probe_with(
        &sim,
        creds(&key_for(Scenario::Valid), SECRET, Some("battery staple")),
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
    let sim = CAST.sim(None).await;
    let credentials = Credentials {
        passphrase: None,
        ..CAST.creds(Scenario::Valid)
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
        let sim = CAST.sim(None).await;
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
        let credentials = CAST.creds(Scenario::Valid);
        let mut headers = auth_headers(&credentials, ts, "GET", path, signed_query, "").unwrap();
        edit(&mut headers);
        let url = if sent_query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{sent_query}", self.base)
        };
        status_and_json(self.client.get(url).headers(headers).body(body.to_string())).await
    }
}

const ASSETS: &str = "/api/v2/spot/account/assets";
const QUERY: &str = "assetType=all&coin=USDT";

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let raw = Raw::new().await;
    let query = signed_query(&[("coin", "USDT"), ("assetType", "all")]);
    assert_eq!(query, QUERY);
    let (status, body) = raw.send(now_ms(), ASSETS, &query, &query, "", |_| {}).await;
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
        .send(now_ms(), ASSETS, QUERY, QUERY, "", |h| {
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
    for ts in [now_ms() - 45_000, now_ms() + 45_000] {
        let (status, body) = raw.send(ts, ASSETS, QUERY, QUERY, "", |_| {}).await;
        assert_eq!(refusal(status, &body), (400, Some("40008")), "{body}");
    }
    let (status, body) = raw
        .send(now_ms(), ASSETS, QUERY, QUERY, "", |h| {
            h.insert("ACCESS-TIMESTAMP", "yesterday".parse().unwrap());
        })
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40005")), "{body}");
}

#[tokio::test]
async fn raw_tampered_query_is_40009() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(
            now_ms(),
            ASSETS,
            QUERY,
            "assetType=all&coin=BTC",
            "",
            |_| {},
        )
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40009")), "{body}");
}

#[tokio::test]
async fn raw_reordered_query_is_40009_signed_either_way() {
    let raw = Raw::new().await;
    let reordered = "coin=USDT&assetType=all";
    for signed in [QUERY, reordered] {
        let (status, body) = raw
            .send(now_ms(), ASSETS, signed, reordered, "", |_| {})
            .await;
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
        .send(now_ms(), ASSETS, QUERY, QUERY, r#"{"coin":"BTC"}"#, |_| {})
        .await;
    assert_eq!(refusal(status, &body), (400, Some("40009")), "{body}");
}

#[tokio::test]
async fn raw_wrong_passphrase_is_40012() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .send(now_ms(), ASSETS, QUERY, QUERY, "", |h| {
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
            .send(now_ms(), ASSETS, QUERY, QUERY, "", |h| {
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
        .send(now_ms(), ASSETS, QUERY, QUERY, "", |h| {
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
    let time: Value = get_json(format!("{}/api/v2/public/time", raw.base)).await;
    assert_eq!(time["code"], "00000");
    let server: i64 = time["data"]["serverTime"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((server - now_ms()).abs() < 5_000);
}

#[tokio::test]
async fn raw_rate_limit_sends_retry_after() {
    let sim = CAST.sim(None).await;
    let credentials = CAST.creds(Scenario::RateLimited);
    let headers = auth_headers(&credentials, now_ms(), "GET", ASSETS, QUERY, "").unwrap();
    let (_, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{ASSETS}?{QUERY}", sim.base_url(KIND)))
            .headers(headers),
    )
    .await;
    assert_eq!(body["code"], "429");
}
