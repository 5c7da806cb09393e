//! Gate simulator and probe, through the library.

use std::time::Duration;

use keywarden::exchange::gate::{auth_headers, sign, timestamp_header};
use keywarden::exchange::{now_ms, ExchangeKind, Facts, ProblemKind};
use keywarden::sim::{RunningSim, Scenario};
use serde_json::Value;

use crate::probe_support::*;

const GATE: ExchangeKind = ExchangeKind::Gate;
const SECRET: &str = "9b1c2f0e5d6a4b7c8e9f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";

/// The key that plays `scenario` (Gate keys are 32 hex characters).
fn key(scenario: Scenario) -> String {
    let index = Scenario::ALL.iter().position(|s| *s == scenario).unwrap();
    format!("a1b2c3d4e5f6a7b8c9d0e1f2a3b4{index:04x}")
}

const CAST: Cast = Cast {
    kind: GATE,
    key,
    secret: |_| SECRET.to_string(),
    passphrase: None,
};

async fn probe_as(sim: &RunningSim, api_key: &str, secret: &str, futures: bool) -> Facts {
    let target = target(
        creds(api_key, secret, None),
        sim.base_url(GATE),
        markets(futures),
    );
    let facts = run_probe(GATE, &target).await;
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

/// Gate cannot show the withdraw right unless the key lists it.
const UNKNOWN: Option<bool> = U;

// ----- one test per scenario -----------------------------------------------------------------

#[tokio::test]
async fn valid_key_spot_is_ip_bound_with_withdraw_unknown_and_a_note_saying_so() {
    let facts = spot(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, UNKNOWN, T]);
    assert_eq!(facts.ip_restricted, T);
    assert_eq!(facts.expires_at, None);
    assert!(
        has_note(&facts, "withdraw right not visible"),
        "{:?}",
        facts.notes
    );
}

#[tokio::test]
async fn valid_key_futures_reads_the_futures_account() {
    let facts = futures(Scenario::Valid).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
    assert_eq!(rights(&facts), [T, T, UNKNOWN, T]);
    assert_eq!(facts.ip_restricted, T);
}

#[tokio::test]
async fn withdraw_enabled_key_reports_withdraw_from_its_withdrawal_permission() {
    for facts in [
        spot(Scenario::WithdrawEnabled).await,
        futures(Scenario::WithdrawEnabled).await,
    ] {
        assert_eq!(problem_kind(&facts), None);
        assert_eq!(rights(&facts), [T, T, T, T]);
        assert!(!has_note(&facts, "withdraw right not visible"));
    }
}

#[tokio::test]
async fn futures_missing_key_spot_reports_futures_false_from_the_key_list() {
    let facts = spot(Scenario::FuturesMissing).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, T, UNKNOWN, F]);
}

#[tokio::test]
async fn futures_missing_key_futures_is_refused_the_futures_account() {
    let facts = futures(Scenario::FuturesMissing).await;
    assert_eq!(
        problem_kind(&facts),
        None,
        "a missing right is a fact, not a problem"
    );
    assert_eq!(rights(&facts), [T, T, UNKNOWN, F]);
    assert!(has_note(&facts, "label FORBIDDEN"), "{:?}", facts.notes);
}

#[tokio::test]
async fn trade_missing_key_reports_trade_false() {
    for facts in [
        spot(Scenario::TradeMissing).await,
        futures(Scenario::TradeMissing).await,
    ] {
        assert_eq!(problem_kind(&facts), None);
        assert_eq!(rights(&facts), [T, F, UNKNOWN, T]);
    }
}

#[tokio::test]
async fn read_only_key_reports_no_trade_and_no_futures() {
    let facts = spot(Scenario::ReadOnly).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, UNKNOWN, F]);
    let facts = futures(Scenario::ReadOnly).await;
    assert_eq!(problem_kind(&facts), None);
    assert_eq!(rights(&facts), [T, F, UNKNOWN, F]);
}

#[tokio::test]
async fn ip_not_whitelisted_names_the_ip_gate_saw() {
    let facts = spot(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
    let problem = &facts.problems[0];
    assert_eq!(problem.seen_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        problem.message,
        "GET /api/v4/account/detail: label IP_FORBIDDEN Request IP not in whitelist: 127.0.0.1"
    );
    let facts = futures(Scenario::IpNotWhitelisted).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::IpNotAllowed));
}

#[tokio::test]
async fn no_ip_whitelist_key_is_unbound_and_expires_within_five_days() {
    for facts in [
        spot(Scenario::NoIpWhitelist).await,
        futures(Scenario::NoIpWhitelist).await,
    ] {
        assert_eq!(problem_kind(&facts), None);
        assert_eq!(facts.ip_restricted, F);
        assert_eq!(rights(&facts), [T, T, UNKNOWN, T]);
        assert_expires_within_five_days(&facts, "unbound keys expire");
        assert!(has_note(&facts, "expiry inferred"), "{:?}", facts.notes);
    }
}

#[tokio::test]
async fn maintenance_is_unavailable_quoting_gates_label() {
    for facts in [
        spot(Scenario::Maintenance).await,
        futures(Scenario::Maintenance).await,
    ] {
        assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
        assert!(
            facts.problems[0]
                .message
                .contains("HTTP 503, label SERVER_ERROR"),
            "{}",
            facts.problems[0].message
        );
    }
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
    for facts in [
        spot(Scenario::ClockSkew).await,
        futures(Scenario::ClockSkew).await,
    ] {
        assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
        assert!(
            facts.problems[0].message.contains("label REQUEST_EXPIRED"),
            "{}",
            facts.problems[0].message
        );
    }
}

#[tokio::test]
async fn exchange_clock_two_minutes_ahead_is_clock_skew_with_the_offset() {
    let sim = CAST.sim(Some(clock_offset(120_000))).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::ClockSkew));
    let message = &facts.problems[0].message;
    assert!(message.contains("ms ahead of ours"), "{message}");
    assert!(message.starts_with("GET /api/v4/spot/time"), "{message}");
}

#[tokio::test]
async fn exchange_wide_maintenance_is_unavailable() {
    let sim = CAST.sim(Some(exchange_maintenance())).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), SECRET, true).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::Unavailable));
    let time = reqwest::get(format!("{}/api/v4/spot/time", sim.base_url(GATE)))
        .await
        .unwrap();
    assert_eq!(time.status(), 503);
    let body: Value = time.json().await.unwrap();
    assert_eq!(body["label"], "SERVER_ERROR");
}

#[tokio::test]
async fn wrong_secret_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, &key(Scenario::Valid), "0000000000000000", false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert_eq!(
        facts.problems[0].message,
        "GET /api/v4/account/detail: label INVALID_SIGNATURE Signature mismatch"
    );
}

#[tokio::test]
async fn unknown_key_is_invalid_key() {
    let sim = CAST.sim(None).await;
    let facts = probe_as(&sim, "ffffffffffffffffffffffffffffffff", SECRET, false).await;
    assert_eq!(problem_kind(&facts), Some(ProblemKind::InvalidKey));
    assert_eq!(
        facts.problems[0].message,
        "GET /api/v4/account/detail: label INVALID_KEY Invalid key provided"
    );
}

/// Gate keys have no passphrase: one configured anyway is not sent, and changes nothing.
#[tokio::test]
async fn a_passphrase_is_not_part_of_gate_signing() {
    assert!(!GATE.needs_passphrase());
    let sim = CAST.sim(None).await;
    let target = target(
        creds(&key(Scenario::Valid), SECRET, Some("not-a-gate-thing")),
        sim.base_url(GATE),
        markets(false),
    );
    let facts = run_probe(GATE, &target).await;
    assert_eq!(problem_kind(&facts), None, "{facts:?}");
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

/// A GET of `path?query` (the query sent verbatim) with `headers` and `body`.
async fn raw_get(
    sim: &RunningSim,
    path: &str,
    query: &str,
    headers: reqwest::header::HeaderMap,
    body: &str,
) -> (u16, Value) {
    let mut url = format!("{}{path}", sim.base_url(GATE));
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    status_and_json(
        reqwest::Client::new()
            .get(url)
            .headers(headers)
            .body(body.to_string()),
    )
    .await
}

/// Headers signed by the client's own code for `path?query` with `body` at `ms`.
fn signed(
    api_key: &str,
    secret: &str,
    ms: i64,
    path: &str,
    query: &str,
    body: &str,
) -> reqwest::header::HeaderMap {
    auth_headers(
        &creds(api_key, secret, None),
        &timestamp_header(ms),
        "GET",
        path,
        query,
        body.as_bytes(),
    )
    .unwrap()
}

fn label(body: &Value) -> &str {
    body["label"].as_str().unwrap_or("")
}

const ACCOUNTS: &str = "/api/v4/spot/accounts";

#[tokio::test]
async fn raw_correctly_signed_requests_are_accepted() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    let h = signed(&api_key, SECRET, now_ms(), ACCOUNTS, "currency=USDT", "");
    let (status, body) = raw_get(&sim, ACCOUNTS, "currency=USDT", h, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.is_array());
    // A fractional Timestamp, as in the official docs' example, is hashed as sent.
    let ts = format!("{:.3}", now_ms() as f64 / 1000.0);
    let mut h = signed(&api_key, SECRET, now_ms(), ACCOUNTS, "", "");
    h.insert("Timestamp", ts.parse().unwrap());
    h.insert(
        "SIGN",
        sign(SECRET, "GET", ACCOUNTS, "", b"", &ts).parse().unwrap(),
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn raw_wrong_signature_is_401_invalid_signature() {
    let sim = CAST.sim(None).await;
    let h = signed(
        &key(Scenario::Valid),
        "another-secret",
        now_ms(),
        ACCOUNTS,
        "",
        "",
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_SIGNATURE"));
    assert_eq!(body["message"], "Signature mismatch");
}

#[tokio::test]
async fn raw_stale_or_future_timestamp_is_401_request_expired() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    for ms in [now_ms() - 62_000, now_ms() + 62_000] {
        let h = signed(&api_key, SECRET, ms, ACCOUNTS, "", "");
        let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
        assert_eq!((status, label(&body)), (401, "REQUEST_EXPIRED"));
    }
    // Milliseconds where seconds belong.
    let ms = now_ms();
    let mut h = signed(&api_key, SECRET, ms, ACCOUNTS, "", "");
    let ts = ms.to_string();
    h.insert("Timestamp", ts.parse().unwrap());
    h.insert(
        "SIGN",
        sign(SECRET, "GET", ACCOUNTS, "", b"", &ts).parse().unwrap(),
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "REQUEST_EXPIRED"));
}

#[tokio::test]
async fn raw_tampered_or_reordered_query_and_unsigned_body_are_401_invalid_signature() {
    let sim = CAST.sim(None).await;
    let api_key = key(Scenario::Valid);
    let ms = now_ms();
    let query = "currency=USDT&limit=1";
    for (sent_query, body) in [
        ("currency=BTC&limit=1", ""),
        ("limit=1&currency=USDT", ""),
        ("currency=USDT&limit=1&extra=1", ""),
        (query, "{\"currency\":\"USDT\"}"),
    ] {
        let h = signed(&api_key, SECRET, ms, ACCOUNTS, query, "");
        let (status, resp) = raw_get(&sim, ACCOUNTS, sent_query, h, body).await;
        assert_eq!(
            (status, label(&resp)),
            (401, "INVALID_SIGNATURE"),
            "{sent_query} {body}"
        );
    }
    // Signed in the order sent, the same parameters are accepted: Gate signs bytes, not a map.
    let h = signed(&api_key, SECRET, ms, ACCOUNTS, "limit=1&currency=USDT", "");
    let (status, _) = raw_get(&sim, ACCOUNTS, "limit=1&currency=USDT", h, "").await;
    assert_eq!(status, 200);
    // A signed body is accepted too.
    let body = "{\"currency\":\"USDT\"}";
    let h = signed(&api_key, SECRET, ms, ACCOUNTS, "", body);
    let (status, _) = raw_get(&sim, ACCOUNTS, "", h, body).await;
    assert_eq!(status, 200);
    // The path signed must include /api/v4 (pitfall 1).
    let h = signed(&api_key, SECRET, ms, "/spot/accounts", "", "");
    let (status, resp) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&resp)), (401, "INVALID_SIGNATURE"));
}

#[tokio::test]
async fn raw_unknown_or_missing_key_is_refused() {
    let sim = CAST.sim(None).await;
    let h = signed(
        "ffffffffffffffffffffffffffffffff",
        SECRET,
        now_ms(),
        ACCOUNTS,
        "",
        "",
    );
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_KEY"));
    let mut h = signed(&key(Scenario::Valid), SECRET, now_ms(), ACCOUNTS, "", "");
    h.remove("SIGN");
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "MISSING_REQUIRED_HEADER"));
}

/// Gate keys have no passphrase, so there is no wrong one to send: a header Gate does not know
/// (carrying the real secret, even) changes nothing, and a wrong secret stays refused.
#[tokio::test]
async fn raw_gate_has_no_passphrase_header_to_get_wrong() {
    let sim = CAST.sim(None).await;
    let mut h = signed(
        &key(Scenario::Valid),
        "another-secret",
        now_ms(),
        ACCOUNTS,
        "",
        "",
    );
    h.insert("passphrase", SECRET.parse().unwrap());
    let (status, body) = raw_get(&sim, ACCOUNTS, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_SIGNATURE"));
}

#[tokio::test]
async fn raw_futures_account_is_signed_the_same_way_and_refused_without_the_right() {
    let sim = CAST.sim(None).await;
    let path = "/api/v4/futures/usdt/accounts";
    let h = signed(&key(Scenario::Valid), SECRET, now_ms(), path, "", "");
    let (status, body) = raw_get(&sim, path, "", h, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["currency"], "USDT");
    let h = signed(
        &key(Scenario::FuturesMissing),
        SECRET,
        now_ms(),
        path,
        "",
        "",
    );
    let (status, body) = raw_get(&sim, path, "", h, "").await;
    assert_eq!((status, label(&body)), (403, "FORBIDDEN"));
    let h = signed(
        &key(Scenario::Valid),
        "another-secret",
        now_ms(),
        path,
        "",
        "",
    );
    let (status, body) = raw_get(&sim, path, "", h, "").await;
    assert_eq!((status, label(&body)), (401, "INVALID_SIGNATURE"));
}

#[tokio::test]
async fn raw_rate_limit_has_retry_after_and_gates_headers() {
    let sim = CAST.sim(None).await;
    let h = signed(
        &key(Scenario::RateLimited),
        SECRET,
        now_ms(),
        ACCOUNTS,
        "",
        "",
    );
    let (headers, body) = assert_throttled(
        reqwest::Client::new()
            .get(format!("{}{ACCOUNTS}", sim.base_url(GATE)))
            .headers(h),
    )
    .await;
    assert!(headers.contains_key("x-gate-ratelimit-reset-timestamp"));
    assert_eq!(label(&body), "TOO_MANY_REQUESTS");
}
