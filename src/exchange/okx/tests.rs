//! Unit tests of `okx.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use crate::exchange::ProblemKind;
use serde_json::json;

fn creds(key: &str, secret: &str, passphrase: &str) -> Credentials {
    test_credentials(key, secret, Some(passphrase))
}

/// 1700000000000 ms, the docs' common timestamp.
const TS: i64 = 1_700_000_000_000;
const ISO: &str = "2023-11-14T22:13:20.000Z";

#[test]
fn timestamps_are_iso_with_milliseconds() {
    assert_eq!(iso_timestamp(TS), ISO);
    assert_eq!(iso_timestamp(1_607_418_537_715), "2020-12-08T09:08:57.715Z");
    assert_eq!(iso_timestamp(1_607_418_537_005), "2020-12-08T09:08:57.005Z");
}

// 3a: the docs' prehash form, with the reference value computed for secret `testsecret`.
#[test]
fn worked_example_3a_documented_prehash() {
    let ts = "2020-12-08T09:08:57.715Z";
    let path = "/api/v5/account/balance?ccy=BTC";
    assert_eq!(
        prehash(ts, "GET", path, ""),
        "2020-12-08T09:08:57.715ZGET/api/v5/account/balance?ccy=BTC"
    );
    assert_eq!(
        signature("testsecret", ts, "GET", path, ""),
        "tIo2xfZqxiQFcz9betm1JatDBrl8kfcdIERDUPL6kR0="
    );
}

// 3b: account/config with the full header set (= ccxt sign()).
#[test]
fn worked_example_3b_account_config_headers() {
    assert_eq!(
        prehash(ISO, "get", PATH_CONFIG, ""),
        "2023-11-14T22:13:20.000ZGET/api/v5/account/config"
    );
    let values = auth_header_values(
        &creds("testkey", "testsecret", "testpass"),
        TS,
        "GET",
        PATH_CONFIG,
        "",
    );
    assert_signed_headers(
        values,
        [
            ("OK-ACCESS-KEY", "testkey"),
            (
                "OK-ACCESS-SIGN",
                "wMtvZ0zkRT5cgEHcJps8w6jHjcH+ZxrPtkbynwRWsjo=",
            ),
            ("OK-ACCESS-TIMESTAMP", ISO),
            ("OK-ACCESS-PASSPHRASE", "testpass"),
        ],
    );
}

// 3b: the balance read, where the query's encoding is part of what is signed.
#[test]
fn worked_example_3b_balance_encoded_and_unencoded() {
    assert_eq!(
        prehash(ISO, "GET", "/api/v5/account/balance?ccy=BTC%2CUSDT", ""),
        "2023-11-14T22:13:20.000ZGET/api/v5/account/balance?ccy=BTC%2CUSDT"
    );
    assert_eq!(
        signature(
            "testsecret",
            ISO,
            "GET",
            "/api/v5/account/balance?ccy=BTC%2CUSDT",
            ""
        ),
        "fKA/4jEKiqVhldEz65nF6ZkmvqD0GxM7tTJVlLdIVPw="
    );
    assert_eq!(
        signature(
            "testsecret",
            ISO,
            "GET",
            "/api/v5/account/balance?ccy=BTC,USDT",
            ""
        ),
        "uMQsgnljDw0YyWITOF8REDwwlZVdl7nvhL8DUWdq2ME="
    );
}

// 3b: funding-account balances.
#[test]
fn worked_example_3b_asset_balances() {
    assert_eq!(
        signature("testsecret", ISO, "GET", "/api/v5/asset/balances", ""),
        "HhfC6OU8Ths4B1TlJREanMqxl3eQ/XuyTCeU/lKGdnc="
    );
}

#[test]
fn a_post_signs_the_exact_body_and_a_get_signs_none() {
    let body = r#"{"ccy":"BTC"}"#;
    assert_eq!(
        prehash(ISO, "POST", "/api/v5/x", body),
        r#"2023-11-14T22:13:20.000ZPOST/api/v5/x{"ccy":"BTC"}"#
    );
    assert_ne!(
        signature("testsecret", ISO, "GET", PATH_CONFIG, "{}"),
        signature("testsecret", ISO, "GET", PATH_CONFIG, "")
    );
}

#[test]
fn a_value_that_cannot_be_a_header_is_refused_without_quoting_it() {
    for (key, passphrase, hidden) in [("bad\nkey", "p", "bad"), ("k", "pass\nphrase", "phrase\n")] {
        let values = auth_header_values(&creds(key, "s", passphrase), TS, "GET", "/x", "");
        assert_refused_without_quoting(http::sensitive_headers(values), hidden);
    }
}

use crate::exchange::http::{assert_code_table, assert_unavailable, test_reply as reply};

fn problem_of(r: &Reply) -> Problem {
    read_reply(r, "GET /api/v5/account/config", Some(SPEC.global())).expect_problem()
}

#[test]
fn success_code_is_a_string_but_a_number_is_tolerated() {
    let r = reply(200, &[], r#"{"code":"0","msg":"","data":[]}"#);
    assert!(matches!(
        read_reply(&r, "x", None),
        Outcome::Ok(Value::Array(_))
    ));
    let r = reply(200, &[], r#"{"code":0,"msg":"","data":[]}"#);
    assert!(matches!(read_reply(&r, "x", None), Outcome::Ok(_)));
}

#[test]
fn error_codes_map_to_problems_whatever_the_http_status() {
    let cases = [
        (401, "50111", ProblemKind::InvalidKey),
        (401, "50119", ProblemKind::WrongRegion),
        (401, "50101", ProblemKind::InvalidKey),
        (401, "50105", ProblemKind::InvalidKey),
        (401, "50113", ProblemKind::InvalidKey),
        (401, "50103", ProblemKind::InvalidKey),
        (400, "50100", ProblemKind::InvalidKey),
        (401, "50102", ProblemKind::ClockSkew),
        (200, "50102", ProblemKind::ClockSkew),
        (401, "50112", ProblemKind::ClockSkew),
        (401, "50110", ProblemKind::IpNotAllowed),
        (200, "50011", ProblemKind::RateLimited),
        (200, "50013", ProblemKind::Unavailable),
        (200, "50026", ProblemKind::Unavailable),
        (400, "59999", ProblemKind::Unavailable),
    ];
    assert_code_table(
        &cases,
        "GET /api/v5/account/config",
        |code| format!(r#"{{"msg":"words","code":"{code}"}}"#),
        problem_of,
    );
}

#[test]
fn a_key_unknown_to_this_site_names_the_other_sites() {
    let r = reply(
        401,
        &[],
        r#"{"msg":"API key doesn't exist","code":"50119"}"#,
    );
    let p = problem_of(&r);
    assert_eq!(p.kind, ProblemKind::WrongRegion);
    assert_says(
        &p,
        &[
            "OKX does not know this key",
            r#"region = "eea" (OKX EEA) or region = "us" (OKX US)"#,
        ],
    );
    let p = read_reply(&r, "x", Some(SPEC.region("eea").unwrap())).expect_problem();
    assert_says(
        &p,
        &[
            "OKX EEA does not know this key",
            r#"region = "global" (OKX)"#,
        ],
    );
}

#[test]
fn signature_error_quotes_code_and_msg() {
    let r = reply(401, &[], r#"{"msg":"Invalid Sign","code":"50113"}"#);
    assert_eq!(
        problem_of(&r).message,
        "GET /api/v5/account/config: code 50113 Invalid Sign"
    );
}

#[test]
fn missing_permission_and_account_mode_are_facts_not_problems() {
    let r = reply(
        401,
        &[],
        r#"{"msg":"Invalid authorization","code":"50114"}"#,
    );
    expect_denied(read_reply(&r, "x", None));
    let r = reply(
        200,
        &[],
        r#"{"code":"51010","msg":"not in this account mode","data":[]}"#,
    );
    expect_denied(read_reply(&r, "x", None));
}

#[test]
fn ip_refusal_names_the_ip() {
    let r = reply(
        401,
        &[],
        r#"{"msg":"Your IP 198.51.100.7 is not included in your API key's IP whitelist.","code":"50110"}"#,
    );
    assert_ip_refused(&problem_of(&r), Some("198.51.100.7"));
}

#[test]
fn rate_limit_carries_retry_after_and_quotes_the_code() {
    let body = r#"{"msg":"Too Many Requests","code":"50011"}"#;
    let p = problem_of(&reply(429, &[("retry-after", "7")], body));
    assert_rate_limited(&p, Some(Duration::from_secs(7)), "code 50011");
    assert_eq!(
        p.message,
        "GET /api/v5/account/config: HTTP 429, code 50011 Too Many Requests, retry after 7s"
    );
    // the code with HTTP 200 and no header
    assert_rate_limited(&problem_of(&reply(200, &[], body)), None, "code 50011");
}

#[test]
fn garbage_and_outages_are_unavailable() {
    assert_unavailable(
        [
            reply(200, &[], r#"{"code":"0","data":[{"perm":"read"#),
            reply(
                503,
                &[],
                r#"{"code":"50001","msg":"Service temporarily unavailable"}"#,
            ),
            reply(404, &[], "Not Found"),
        ],
        problem_of,
    );
    let p = problem_of(&reply(
        503,
        &[],
        r#"{"code":"50001","msg":"Service temporarily unavailable"}"#,
    ));
    assert_says(&p, &["code 50001"]);
}

#[test]
fn server_time_and_window() {
    assert_eq!(
        server_time(&json!([{"ts": "1700000000123"}])),
        Some(1_700_000_000_123)
    );
    assert_eq!(server_time(&json!([{"ts": 5}])), Some(5));
    assert_eq!(server_time(&json!([])), None);
    assert_skew_wording(
        |o| SPEC.skew_problem(&format!("GET {PATH_TIME}"), o),
        30_000,
        30_001,
    );
}

#[test]
fn status_ongoing_core_maintenance_is_unavailable_the_rest_are_notes() {
    assert_eq!(status_reading(&json!([]), "x"), Ok(vec![]));
    let entry = |state: &str, service: &str| {
        json!([{"title": "Trading system upgrade", "state": state, "serviceType": service,
                    "begin": "1700000000000", "end": "1700003600000", "env": "1"}])
    };
    let p = status_reading(&entry("ongoing", "5"), "x").unwrap_err();
    assert_eq!(p.kind, ProblemKind::Unavailable);
    assert_eq!(
        p.message,
        "x: OKX maintenance ongoing (serviceType 5): Trading system upgrade"
    );
    assert!(status_reading(&entry("pre_open", "99"), "x").is_err());
    assert!(
        status_reading(&entry("ongoing", "42"), "x").is_err(),
        "unknown = maintenance"
    );
    let notes = status_reading(&entry("ongoing", "7"), "x").unwrap();
    assert_eq!(notes.len(), 1);
    let notes = status_reading(&entry("scheduled", "5"), "x").unwrap();
    assert!(notes[0].contains("scheduled"), "{notes:?}");
    assert_eq!(status_reading(&entry("completed", "5"), "x"), Ok(vec![]));
    let mut demo = entry("ongoing", "5");
    demo[0]["env"] = json!("2");
    assert_eq!(status_reading(&demo, "x"), Ok(vec![]));
    assert!(status_reading(&json!({"state": "ongoing"}), "x").is_err());
}

fn applied(data: Value) -> Facts {
    facts_from(|f| KeyConfig::from_data(&data).unwrap().apply(f))
}

#[test]
fn key_config_from_the_documented_example() {
    let data = json!([{
        "acctLv": "2", "acctStpMode": "cancel_maker", "autoLoan": false, "ctIsoMode": "automatic",
        "enableSpotBorrow": false, "greeksType": "PA", "ip": "", "type": "0", "kycLv": "3",
        "label": "v5 test", "level": "Lv1", "levelTmp": "", "liquidationGear": "-1",
        "mainUid": "44705892343619584", "mgnIsoMode": "automatic", "opAuth": "1",
        "perm": "read_only,withdraw,trade", "posMode": "long_short_mode", "roleType": "0",
        "spotBorrowAutoRepay": false, "spotOffsetType": "", "spotRoleType": "0",
        "spotTraderInsts": [], "traderInsts": [], "uid": "44705892343619584"
    }]);
    let facts = applied(data);
    assert_key_facts(&facts, [Some(true); 4], Some(false), None);
    assert_noted(&facts, "14 days");
    assert!(!facts.notes.iter().any(|n| n.contains("sub-account")));
}

// Issue 18 item 4: `acctLv` is what the account allows, `perm` what the key may do. A key
// without `trade` cannot trade futures on a derivatives account; a trading key can only where
// the account mode has derivatives.
#[test]
fn futures_right_needs_trade_in_perm_and_an_account_with_derivatives() {
    let futures = |perm: &str, level: &str| {
        let facts = applied(json!([{"perm": perm, "ip": "1.2.3.4", "acctLv": level}]));
        (facts.permissions.futures, facts.notes)
    };
    for level in ["2", "3", "4"] {
        let (right, notes) = futures("read_only", level);
        assert_eq!(right, Some(false), "read-only key, acctLv {level}");
        assert!(
            notes.iter().any(|n| n.contains("no trade right in perm")),
            "{notes:?}"
        );
        assert_eq!(
            futures("read_only,trade", level).0,
            Some(true),
            "acctLv {level}"
        );
    }
    assert_eq!(futures("read_only,trade", "1").0, Some(false));
    assert_eq!(futures("read_only", "1").0, Some(false));
    // No account mode: a key without trade still cannot trade futures; one with it is unknown.
    assert_eq!(futures("read_only", "").0, Some(false));
    assert_eq!(futures("read_only,trade", "").0, None);
}

#[test]
fn key_config_reads_whole_words_ip_lists_and_account_mode() {
    // `read_only` alone: no trade (not a substring match), spot mode: no futures
    let facts = applied(
        json!([{"perm": "read_only", "ip": "117.37.203.58,117.37.203.57",
                                     "acctLv": "1", "uid": "2", "mainUid": "1"}]),
    );
    assert_eq!(
        rights(&facts),
        [Some(true), Some(false), Some(false), Some(false)]
    );
    assert_eq!(facts.ip_restricted, Some(true));
    assert_noted(&facts, "spot mode");
    assert_noted(&facts, "sub-account");
    assert!(!facts.notes.iter().any(|n| n.contains("14 days")));

    let info = KeyConfig::from_data(
        &json!([{"perm": " trade , read_only", "ip": "1.2.3.4 5.6.7.8",
                                                 "acctLv": 3}]),
    )
    .unwrap();
    assert_eq!(info.permissions, vec!["trade", "read_only"]);
    assert_eq!(info.ip_whitelist, vec!["1.2.3.4", "5.6.7.8"]);
    assert_eq!(info.account_level.as_deref(), Some("3"));
    // tolerated: arrays; unknown account mode leaves futures unknown
    let facts = applied(json!([{"perm": ["read_only", "trade"], "ip": ["1.2.3.4"]}]));
    assert_eq!(facts.permissions.trade, Some(true));
    assert_eq!(facts.permissions.futures, None);
    assert_eq!(facts.ip_restricted, Some(true));
    // `readonly`-like near misses are not rights
    let facts = applied(json!([{"perm": "read_onlyx,trades", "ip": "", "acctLv": "2"}]));
    assert_eq!(facts.permissions.read, Some(false));
    assert_eq!(facts.permissions.trade, Some(false));
    assert!(KeyConfig::from_data(&json!([{"label": "x"}])).is_none());
    assert!(KeyConfig::from_data(&json!([])).is_none());
}
