//! Unit tests of `kucoin.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use serde_json::json;

fn creds(key: &str, secret: &str, passphrase: &str) -> Credentials {
    test_credentials(key, secret, Some(passphrase))
}

const TS: i64 = 1_700_000_000_000;

// Section 3, common: the hashed passphrase.
#[test]
fn passphrase_is_hmaced_with_the_secret() {
    assert_eq!(
        passphrase_header("testsecret", "testpass"),
        "5geeOuzPRVAMNghwj4ECAxLPxLiO667f7Kkx53zWBsc="
    );
}

// 3a, with the full header set.
#[test]
fn worked_example_3a_api_key_headers() {
    assert_eq!(
        prehash(TS, "GET", "/api/v1/user/api-key", ""),
        "1700000000000GET/api/v1/user/api-key"
    );
    let headers = auth_header_values(
        &creds("testkey", "testsecret", "testpass"),
        TS,
        "GET",
        "/api/v1/user/api-key",
        "",
    );
    assert_signed_headers(
        headers,
        [
            ("KC-API-KEY", "testkey"),
            (
                "KC-API-SIGN",
                "lmSswjjoK8koCY5pq8gc9C+f5/LbLv9UPdGcg8OVnHc=",
            ),
            ("KC-API-TIMESTAMP", "1700000000000"),
            (
                "KC-API-PASSPHRASE",
                "5geeOuzPRVAMNghwj4ECAxLPxLiO667f7Kkx53zWBsc=",
            ),
            ("KC-API-KEY-VERSION", "2"),
        ],
    );
}

// 3b.
#[test]
fn worked_example_3b_accounts() {
    assert_eq!(
        signature("testsecret", TS, "GET", "/api/v1/accounts", ""),
        "Gi/XL3iadCgRnIK9XzPe7wtZgMHZInb7c3LUWsHnbHY="
    );
    assert_eq!(
        prehash(TS, "GET", "/api/v1/accounts?type=trade&currency=USDT", ""),
        "1700000000000GET/api/v1/accounts?type=trade&currency=USDT"
    );
    assert_eq!(
        signature(
            "testsecret",
            TS,
            "GET",
            "/api/v1/accounts?type=trade&currency=USDT",
            ""
        ),
        "K34vBo1w776EiUxhnfZWf4IuHJQCFX+16aS/AALnjr4="
    );
}

// 3c.
#[test]
fn worked_example_3c_futures_overview() {
    assert_eq!(
        signature("testsecret", TS, "GET", "/api/v1/account-overview", ""),
        "/m4MZS3YHaxt7AgDXoBFqRd2QwlR0BiJw/LVaWIFa8o="
    );
    assert_eq!(
        signature(
            "testsecret",
            TS,
            "GET",
            "/api/v1/account-overview?currency=USDT",
            ""
        ),
        "Pvqyd31H3S6EU5gmbgQKou8jm/UG8W7nQutGni1Vi28="
    );
}

// 3e.
#[test]
fn worked_example_3e_post_with_body() {
    let body = r#"{"currency":"BTC"}"#;
    assert_eq!(
        prehash(TS, "post", "/api/v1/deposit-addresses", body),
        r#"1700000000000POST/api/v1/deposit-addresses{"currency":"BTC"}"#
    );
    assert_eq!(
        signature("testsecret", TS, "POST", "/api/v1/deposit-addresses", body),
        "LTQqF1VrAVdw0uTfe0GFTFKWWJazwljW+yz1GEhnz40="
    );
}

// 3f: the official docs' example (its passphrase header is not a v2 vector, so not used).
#[test]
fn worked_example_3f_official_docs() {
    let body = r#"{"currency":"BTC"}"#;
    assert_eq!(
        prehash(1_547_015_186_532, "POST", "/api/v1/deposit-addresses", body),
        r#"1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}"#
    );
    assert_eq!(
        signature(
            "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3",
            1_547_015_186_532,
            "POST",
            "/api/v1/deposit-addresses",
            body
        ),
        "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="
    );
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_quoting_it() {
    let values = auth_header_values(&creds("bad\nkey", "s", "p"), TS, "GET", "/x", "");
    assert_refused_without_quoting(http::sensitive_headers(values), "bad");
}

use crate::exchange::http::{assert_code_table, assert_unavailable, test_reply as reply};

fn problem_of(r: &Reply) -> Problem {
    read_reply(r, "GET /api/v1/accounts").expect_problem()
}

#[test]
fn success_code_is_a_string_but_a_number_is_tolerated() {
    let r = reply(200, &[], r#"{"code":"200000","data":[]}"#);
    assert!(matches!(read_reply(&r, "x"), Outcome::Ok(Value::Array(_))));
    let r = reply(200, &[], r#"{"code":200000,"data":[]}"#);
    assert!(matches!(read_reply(&r, "x"), Outcome::Ok(_)));
}

#[test]
fn error_codes_map_to_problems_whatever_the_http_status() {
    let cases = [
        (401, "400001", ProblemKind::InvalidKey),
        (401, "400002", ProblemKind::ClockSkew),
        (401, "400003", ProblemKind::InvalidKey),
        (200, "400004", ProblemKind::InvalidKey),
        (401, "400005", ProblemKind::InvalidKey),
        (403, "400006", ProblemKind::IpNotAllowed),
        (200, "429000", ProblemKind::RateLimited),
        (200, "500000", ProblemKind::Unavailable),
        (400, "411100", ProblemKind::InvalidKey),
        (400, "999999", ProblemKind::Unavailable),
    ];
    assert_code_table(
        &cases,
        "GET /api/v1/accounts",
        |code| format!(r#"{{"code":"{code}","msg":"words"}}"#),
        problem_of,
    );
}

#[test]
fn signature_error_message_quotes_code_and_msg() {
    let r = reply(401, &[], r#"{"code":"400005","msg":"Signature error"}"#);
    assert_eq!(
        problem_of(&r).message,
        "GET /api/v1/accounts: code 400005 Signature error"
    );
}

#[test]
fn missing_permission_is_a_fact_not_a_problem() {
    let r = reply(
        403,
        &[],
        r#"{"code":"400007","msg":"Access denied, require more permission."}"#,
    );
    expect_denied(read_reply(&r, "x"));
}

#[test]
fn ip_refusal_names_the_ip() {
    let r = reply(
        403,
        &[],
        r#"{"code":"400006","msg":"Invalid request ip, the current clientIp is: 198.51.100.7"}"#,
    );
    assert_ip_refused(&problem_of(&r), Some("198.51.100.7"));
}

#[test]
fn rate_limit_prefers_retry_after_then_gw_reset() {
    let body = r#"{"code":"429000","msg":"Too many requests"}"#;
    let r = reply(
        429,
        &[("retry-after", "7"), ("gw-ratelimit-reset", "6500")],
        body,
    );
    assert_rate_limited(&problem_of(&r), Some(Duration::from_secs(7)), "code 429000");

    let r = reply(429, &[("gw-ratelimit-reset", "6500")], body);
    assert_eq!(
        problem_of(&r).retry_after,
        Some(Duration::from_millis(6500))
    );

    // HTTP 200 carrying the rate-limit code
    let r = reply(200, &[("gw-ratelimit-reset", "1200")], body);
    assert_rate_limited(
        &problem_of(&r),
        Some(Duration::from_millis(1200)),
        "code 429000",
    );
}

#[test]
fn garbage_and_outages_are_unavailable() {
    assert_unavailable(
        [
            reply(200, &[], r#"{"code":"200000","data":{"permission":"Gen"#),
            reply(503, &[], r#"{"code":"500000","msg":"maintenance"}"#),
        ],
        problem_of,
    );
}

#[test]
fn clock_offset_uses_the_round_trip_midpoint() {
    assert_skew_wording(
        |o| SPEC.skew_problem(&format!("GET {PATH_TIMESTAMP}"), o),
        4_999,
        6_000,
    );
}

#[test]
fn status_close_and_cancelonly_are_unavailable() {
    assert!(status_problem(&json!({"status":"open","msg":""}), "x").is_none());
    let p = status_problem(&json!({"status":"close","msg":"upgrading"}), "x").unwrap();
    assert_eq!(p.kind, ProblemKind::Unavailable);
    assert!(
        p.message.ends_with("KuCoin status close: upgrading"),
        "{}",
        p.message
    );
    let p = status_problem(&json!({"status":"cancelonly","msg":""}), "x").unwrap();
    assert_eq!(p.message, "x: KuCoin status cancelonly");
}

#[test]
fn key_info_from_the_official_example() {
    let data = json!({
        "remark": "account1", "apiKey": "6705f5c311545b000157d3eb", "apiVersion": 3,
        "permission": "General,Futures,Spot,Earn,InnerTransfer,Transfer,Margin",
        "ipWhitelist": "203.**.154,103.**.34", "createdAt": 1728443843000_i64,
        "uid": 165111215, "isMaster": true
    });
    let info = KeyInfo::from_data(&data).unwrap();
    let facts = facts_from(|f| info.apply(f));
    assert_key_facts(&facts, [Some(true); 4], Some(true), None);
    assert_noted(&facts, "2024-10-09");
}

#[test]
fn inner_transfer_is_not_withdraw_and_whitelist_may_be_absent_or_empty() {
    let key = json!({"permission": "General, InnerTransfer", "apiKey": "k"});
    for data in with_each_empty(key, "ipWhitelist", [json!(""), json!(null)]) {
        let facts = facts_from(|f| KeyInfo::from_data(&data).unwrap().apply(f));
        assert_eq!(
            rights(&facts),
            [Some(true), Some(false), Some(false), Some(false)]
        );
        assert_eq!(facts.ip_restricted, Some(false));
    }
    // tolerated: arrays instead of comma-separated strings
    let data = json!({"permission": ["General", "Spot"], "ipWhitelist": ["1.**.4"]});
    let info = KeyInfo::from_data(&data).unwrap();
    assert_eq!(info.permissions, vec!["General", "Spot"]);
    assert_eq!(info.ip_whitelist, vec!["1.**.4"]);
    assert!(KeyInfo::from_data(&json!({"apiKey": "k"})).is_none());
}
