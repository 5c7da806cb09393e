//! OKX simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::okx::{auth_headers, iso_timestamp, signature};
use keywarden::exchange::{now_ms, Credentials, ExchangeKind, Facts, Markets, ProblemKind};
use keywarden::secret::ExposeSecret;
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;

const KIND: ExchangeKind = ExchangeKind::Okx;
const SECRET: &str = "5B6A3E8F1C2D4E6F8A9B0C1D2E3F4A5B";
const PASSPHRASE: &str = "Correct-Horse-1";

/// One UUID-shaped key per scenario, like OKX's.
fn key_for(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("6f1c2d3e-4a5b-4c6d-8e7f-0000000{index:05x}")
}

const CAST: Cast = Cast {
    kind: KIND,
    key: key_for,
    secret: |_| SECRET.to_string(),
    passphrase: Some(PASSPHRASE),
};

async fn probe_with(sim: &RunningSim, credentials: Credentials, futures: bool) -> Facts {
    let secret = credentials.api_secret.clone();
    let passphrase = credentials.passphrase.clone().unwrap();
    let facts = run_probe(
        KIND,
        &target(credentials, sim.base_url(KIND), markets(futures)),
    )
    .await;
    assert_nothing_leaks(
        &facts,
        &[
            ("secret", secret.expose_secret()),
            ("passphrase", passphrase.expose_secret()),
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
    // futures access is reported from the account mode even when the connection does not use it
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, None);
}

#[tokio::test]
async fn valid_key_futures_connection_reads_the_derivatives_account() {
    let facts = probe(Scenario::Valid, true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, T]);
    assert_eq!(facts.ip_restricted, Some(true));
}

#[tokio::test]
async fn withdraw_enabled_key_shows_the_withdraw_right() {
    for futures in [false, true] {
        let facts = probe(Scenario::WithdrawEnabled, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(rights(&facts), [T, T, T, T]);
    }
}

#[tokio::test]
async fn futures_missing_spot_connection_reports_spot_mode() {
    let facts = probe(Scenario::FuturesMissing, false).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(has_note(&facts, "spot mode"), "{facts:?}");
}

#[tokio::test]
async fn futures_missing_futures_connection_is_refused_the_derivatives_account() {
    let facts = probe(Scenario::FuturesMissing, true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
    assert_eq!(rights(&facts), [T, T, F, F]);
    assert!(has_note(&facts, "code 51010"), "{facts:?}");
}

#[tokio::test]
async fn trade_missing_key_cannot_trade() {
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
async fn no_ip_whitelist_key_is_unbound_without_a_predicted_expiry() {
    for futures in [false, true] {
        let facts = probe(Scenario::NoIpWhitelist, futures).await;
        assert!(facts.problems.is_empty(), "{facts:?}");
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(rights(&facts), [T, T, F, T]);
        // OKX deletes idle unbound trade keys after 14 days; checks are use, so no date
        assert_eq!(facts.expires_at, None);
        assert!(has_note(&facts, "14 days"), "{facts:?}");
    }
}

// ---- refusals ----

#[tokio::test]
async fn ip_not_whitelisted_names_the_ip_okx_saw() {
    for futures in [false, true] {
        let facts = probe(Scenario::IpNotWhitelisted, futures).await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::IpNotAllowed);
        assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
        assert!(problem.message.contains("code 50110"), "{problem:?}");
    }
}

#[tokio::test]
async fn per_key_maintenance_is_unavailable() {
    let facts = probe(Scenario::Maintenance, false).await;
    assert_problem(&facts, ProblemKind::Unavailable);
    assert!(facts.problems[0].message.contains("50001"), "{facts:?}");
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
    assert!(problem.message.contains("50011"), "{problem:?}");
}

#[tokio::test]
async fn clock_skew_key_is_refused_for_its_timestamp() {
    let facts = probe(Scenario::ClockSkew, false).await;
    let problem = only_problem(&facts);
    assert_eq!(problem.kind, ProblemKind::ClockSkew);
    assert!(problem.message.contains("50102"), "{problem:?}");
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
async fn exchange_clock_twenty_seconds_off_is_inside_okxs_window() {
    let sim = CAST.sim(Some(clock_offset(-20_000))).await;
    let facts = probe_with(&sim, CAST.creds(Scenario::Valid), true).await;
    assert!(facts.problems.is_empty(), "{facts:?}");
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    for futures in [false, true] {
        let facts = probe_with(&sim, CAST.creds(Scenario::Valid), futures).await;
        let problem = only_problem(&facts);
        assert_eq!(problem.kind, ProblemKind::Unavailable);
        assert!(problem.message.contains("ongoing"), "{problem:?}");
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
    assert_eq!(
        facts.problems[0].message,
        "GET /api/v5/account/config: code 50113 Invalid Sign"
    );
}

#[tokio::test]
async fn unknown_key_is_an_invalid_key() {
    let sim = CAST.sim(None).await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let facts = probe_with(&sim, creds(unknown, SECRET, Some(PASSPHRASE)), false).await;
    assert_problem(&facts, ProblemKind::InvalidKey);
    assert!(facts.problems[0].message.contains("50111"), "{facts:?}");
    assert!(!facts.problems[0].message.contains(unknown));
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
    assert!(message.contains("50105"), "{message}");
    assert!(!message.contains("battery"), "{message}");
}

#[tokio::test]
async fn missing_passphrase_is_an_invalid_key_without_asking_okx() {
    let sim = CAST.sim(None).await;
    let mut credentials = CAST.creds(Scenario::Valid);
    credentials.passphrase = None;
    let target = target(credentials, sim.base_url(KIND), Markets::default());
    let facts = run_probe(KIND, &target).await;
    assert_problem(&facts, ProblemKind::InvalidKey);
}

// ---- raw HTTP against the simulator ----

struct Raw {
    base: String,
    client: reqwest::Client,
}

impl Raw {
    async fn new() -> Raw {
        Raw::on(&CAST.sim(None).await)
    }

    fn on(sim: &RunningSim) -> Raw {
        Raw {
            base: sim.base_url(KIND),
            client: reqwest::Client::new(),
        }
    }

    /// Signs `signed_path` (and `signed_body`) at `ts` with `secret`, then sends a GET to
    /// `sent_path` with `sent_body`; `edit` may change headers.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        api_key: &str,
        secret: &str,
        ts: i64,
        signed_path: &str,
        sent_path: &str,
        (signed_body, sent_body): (&str, &str),
        edit: impl FnOnce(&mut reqwest::header::HeaderMap),
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let credentials = creds(api_key, secret, Some(PASSPHRASE));
        let mut headers = auth_headers(&credentials, ts, "GET", signed_path, signed_body).unwrap();
        edit(&mut headers);
        let response = self
            .client
            .get(format!("{}{sent_path}", self.base))
            .headers(headers)
            .body(sent_body.to_string())
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap())
    }

    /// The valid key, signing and sending the same thing, with `edit` applied to the headers.
    async fn valid(
        &self,
        ts: i64,
        edit: impl FnOnce(&mut reqwest::header::HeaderMap),
    ) -> (u16, Value) {
        let (status, _, body) = self
            .send(
                &key_for(Scenario::Valid),
                SECRET,
                ts,
                PATH,
                PATH,
                ("", ""),
                edit,
            )
            .await;
        (status, body)
    }
}

const PATH: &str = "/api/v5/account/balance?ccy=BTC%2CUSDT";

fn code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let raw = Raw::new().await;
    let (status, body) = raw.valid(now_ms(), |_| {}).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), Some("0"));
    assert!(body["data"][0]["details"].is_array());
}

#[tokio::test]
async fn raw_wrong_signature_is_401_50113() {
    let raw = Raw::new().await;
    let (status, _, body) = raw
        .send(
            &key_for(Scenario::Valid),
            "another-secret",
            now_ms(),
            PATH,
            PATH,
            ("", ""),
            |_| {},
        )
        .await;
    assert_eq!((status, code(&body)), (401, Some("50113")), "{body}");
    assert!(body.get("data").is_none(), "auth errors carry no data");
}

#[tokio::test]
async fn raw_stale_timestamp_is_401_50102() {
    let raw = Raw::new().await;
    let (status, body) = raw.valid(now_ms() - 31_000, |_| {}).await;
    assert_eq!((status, code(&body)), (401, Some("50102")), "{body}");
    let (status, body) = raw.valid(now_ms() + 40_000, |_| {}).await;
    assert_eq!((status, code(&body)), (401, Some("50102")), "{body}");
    // a Unix-ms timestamp instead of ISO-8601
    let (status, body) = raw
        .valid(now_ms(), |h| {
            h.insert("OK-ACCESS-TIMESTAMP", now_ms().to_string().parse().unwrap());
        })
        .await;
    assert_eq!((status, code(&body)), (401, Some("50112")), "{body}");
}

#[tokio::test]
async fn raw_tampered_query_or_body_is_401_50113() {
    let raw = Raw::new().await;
    let api_key = key_for(Scenario::Valid);
    // signed with the comma unencoded, sent encoded
    let unencoded = "/api/v5/account/balance?ccy=BTC,USDT";
    let (status, _, body) = raw
        .send(
            &api_key,
            SECRET,
            now_ms(),
            unencoded,
            PATH,
            ("", ""),
            |_| {},
        )
        .await;
    assert_eq!((status, code(&body)), (401, Some("50113")), "{body}");
    // another currency than the one signed
    let other = "/api/v5/account/balance?ccy=ETH";
    let (status, _, body) = raw
        .send(&api_key, SECRET, now_ms(), PATH, other, ("", ""), |_| {})
        .await;
    assert_eq!((status, code(&body)), (401, Some("50113")), "{body}");
    // a body that was not signed
    let (status, _, body) = raw
        .send(&api_key, SECRET, now_ms(), PATH, PATH, ("", "{}"), |_| {})
        .await;
    assert_eq!((status, code(&body)), (401, Some("50113")), "{body}");
    // a body signed and sent byte for byte is accepted (GET with a body is odd but signed)
    let (status, _, body) = raw
        .send(&api_key, SECRET, now_ms(), PATH, PATH, ("{}", "{}"), |_| {})
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn raw_wrong_passphrase_is_401_50105() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .valid(now_ms(), |h| {
            h.insert("OK-ACCESS-PASSPHRASE", "battery staple".parse().unwrap());
        })
        .await;
    assert_eq!((status, code(&body)), (401, Some("50105")), "{body}");
}

#[tokio::test]
async fn raw_unknown_key_missing_headers_and_demo_header_are_refused() {
    let raw = Raw::new().await;
    let (status, body) = raw
        .valid(now_ms(), |h| {
            h.insert(
                "OK-ACCESS-KEY",
                "00000000-0000-4000-8000-000000000000".parse().unwrap(),
            );
        })
        .await;
    assert_eq!((status, code(&body)), (401, Some("50111")), "{body}");
    for (name, want) in [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
    ] {
        let (status, body) = raw
            .valid(now_ms(), |h| {
                h.remove(name);
            })
            .await;
        assert_eq!((status, code(&body)), (401, Some(want)), "{name}: {body}");
    }
    let (status, body) = raw
        .valid(now_ms(), |h| {
            h.insert("x-simulated-trading", "1".parse().unwrap());
        })
        .await;
    assert_eq!((status, code(&body)), (401, Some("50101")), "{body}");
}

#[tokio::test]
async fn raw_signature_matches_the_docs_formula() {
    // the simulator accepts a signature computed from the documented prehash alone
    let raw = Raw::new().await;
    let ts = now_ms();
    let iso = iso_timestamp(ts);
    let sign = signature(SECRET, &iso, "GET", PATH, "");
    let (status, body) = raw
        .valid(ts, |h| {
            h.insert("OK-ACCESS-SIGN", sign.parse().unwrap());
        })
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn raw_public_endpoints_answer_okxs_shapes() {
    let raw = Raw::new().await;
    let time: Value = get_json(format!("{}/api/v5/public/time", raw.base)).await;
    assert_eq!(time["code"], "0");
    let ts: i64 = time["data"][0]["ts"].as_str().unwrap().parse().unwrap();
    assert!((ts - now_ms()).abs() < 5_000);
    let status: Value = get_json(format!("{}/api/v5/system/status", raw.base)).await;
    assert_eq!(
        status,
        serde_json::json!({"code": "0", "msg": "", "data": []})
    );

    let sim = CAST.sim(Some(exchange_maintenance())).await;
    let raw = Raw::on(&sim);
    let status: Value = get_json(format!("{}/api/v5/system/status", raw.base)).await;
    assert_eq!(status["data"][0]["state"], "ongoing");
    let (status, body) = raw.valid(now_ms(), |_| {}).await;
    assert_eq!((status, code(&body)), (503, Some("50001")), "{body}");
}

#[tokio::test]
async fn raw_rate_limit_is_429_50011_with_retry_after() {
    let raw = Raw::new().await;
    let (status, headers, body) = raw
        .send(
            &key_for(Scenario::RateLimited),
            SECRET,
            now_ms(),
            PATH,
            PATH,
            ("", ""),
            |_| {},
        )
        .await;
    assert_eq!((status, code(&body)), (429, Some("50011")), "{body}");
    assert_eq!(headers["retry-after"], "7");
}
