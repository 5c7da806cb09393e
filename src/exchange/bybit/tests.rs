//! Unit tests of `bybit.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use serde_json::json;

const TS: i64 = 1_700_000_000_000;

fn creds(key: &str, secret: &str) -> Credentials {
    test_credentials(key, secret, None)
}

/// Asserts a worked example for the docs' test key and secret at [`TS`] in the 5 s window: the
/// prehash of `payload` and its signature.
fn assert_test_key_example(payload: &str, want_prehash: &str, want_signature: &str) {
    assert_eq!(prehash(TS, "testkey", "5000", payload), want_prehash);
    assert_eq!(
        signature("testsecret", TS, "testkey", "5000", payload),
        want_signature
    );
}

// Section 3a: the guide's documented prehash shapes (no secret or signature published).
#[test]
fn worked_example_3a_documented_prehash_shapes() {
    assert_eq!(
        prehash(
            1_658_384_314_791,
            "XXXXXXXXXX",
            "5000",
            "category=option&symbol=BTC-29JUL22-25000-C"
        ),
        "1658384314791XXXXXXXXXX5000category=option&symbol=BTC-29JUL22-25000-C"
    );
    assert_eq!(
        prehash(
            1_658_385_579_423,
            "XXXXXXXXXX",
            "5000",
            r#"{"category": "option"}"#
        ),
        r#"1658385579423XXXXXXXXXX5000{"category": "option"}"#
    );
}

// Section 3b: query-api, with the full header set.
#[test]
fn worked_example_3b_query_api_headers() {
    assert_test_key_example(
        "",
        "1700000000000testkey5000",
        "2fc9e776b3f07b2ee447067e0f627438055b198bb14dba79e1a3d50e40a5bd8d",
    );
    assert_header_values(
        &auth_header_values(&creds("testkey", "testsecret"), TS, ""),
        &[
            ("X-BAPI-API-KEY", "testkey"),
            ("X-BAPI-TIMESTAMP", "1700000000000"),
            ("X-BAPI-RECV-WINDOW", "5000"),
            (
                "X-BAPI-SIGN",
                "2fc9e776b3f07b2ee447067e0f627438055b198bb14dba79e1a3d50e40a5bd8d",
            ),
        ],
    );
    let map = auth_headers(&creds("testkey", "testsecret"), TS, "").unwrap();
    assert_eq!(map.len(), 5);
    assert_eq!(map[CONTENT_TYPE], "application/json");
    assert!(map["x-bapi-sign"].is_sensitive());
    assert!(map["x-bapi-api-key"].is_sensitive());
}

// Section 3b: balance read.
#[test]
fn worked_example_3b_wallet_balance() {
    assert_test_key_example(
        "accountType=UNIFIED",
        "1700000000000testkey5000accountType=UNIFIED",
        "6ae139d80e1d2c505dcd529e73e2c6783ff785cc2fe3984d9029213334721a1a",
    );
}

// Section 3b: funding wallet.
#[test]
fn worked_example_3b_funding_wallet() {
    assert_test_key_example(
        "accountType=FUND&coin=USDT",
        "1700000000000testkey5000accountType=FUND&coin=USDT",
        "10bed03e07eb0c5f8f815f725e5863c444f87ef1d2708f048fa16008d323ed3d",
    );
}

// Section 3b's Python reference, as a plain HMAC.
#[test]
fn worked_example_python_reference() {
    assert_eq!(
        hmac_hex("testsecret", "1700000000000testkey5000"),
        "2fc9e776b3f07b2ee447067e0f627438055b198bb14dba79e1a3d50e40a5bd8d"
    );
}

#[test]
fn query_order_is_signed_as_sent() {
    let a = signature("testsecret", TS, "testkey", "5000", "a=1&b=2");
    let b = signature("testsecret", TS, "testkey", "5000", "b=2&a=1");
    assert_ne!(a, b);
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_quoting_it() {
    assert_refused_without_quoting(auth_headers(&creds("bad\nkey", "s"), TS, ""), "bad");
}

use crate::exchange::http::{assert_code_table, assert_unavailable, test_reply as reply};

fn problem_of(r: &Reply) -> Problem {
    match read_reply(r, "GET /v5/account/wallet-balance", Some("testkey")) {
        Outcome::Problem(p, _) => p,
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[test]
fn success_is_ret_code_zero_whatever_the_ret_msg() {
    for msg in ["", "OK", "success", "SUCCESS"] {
        let body = format!(r#"{{"retCode":0,"retMsg":"{msg}","result":{{"list":[]}},"time":5}}"#);
        match read_reply(&reply(200, &[], &body), "x", None) {
            Outcome::Ok(result, time) => {
                assert!(result["list"].is_array());
                assert_eq!(time, Some(5));
            }
            other => panic!("{other:?}"),
        }
    }
    // tolerated: a numeric string
    let r = reply(200, &[], r#"{"retCode":"0","result":{}}"#);
    assert!(matches!(read_reply(&r, "x", None), Outcome::Ok(..)));
}

#[test]
fn error_codes_map_to_problems_whatever_the_http_status() {
    let cases = [
        (200, "10002", ProblemKind::ClockSkew),
        (200, "-1", ProblemKind::ClockSkew),
        (401, "10003", ProblemKind::InvalidKey),
        (200, "10003", ProblemKind::InvalidKey),
        (200, "10004", ProblemKind::InvalidKey),
        (401, "10004", ProblemKind::InvalidKey),
        (200, "10007", ProblemKind::InvalidKey),
        (200, "10008", ProblemKind::InvalidKey),
        (200, "33004", ProblemKind::InvalidKey),
        (200, "-2015", ProblemKind::InvalidKey),
        (200, "10010", ProblemKind::IpNotAllowed),
        (403, "10010", ProblemKind::IpNotAllowed),
        (200, "10006", ProblemKind::RateLimited),
        (200, "10018", ProblemKind::RateLimited),
        (200, "10009", ProblemKind::RateLimited),
        (200, "10016", ProblemKind::Unavailable),
        (200, "10000", ProblemKind::Unavailable),
        (400, "10001", ProblemKind::Unavailable),
        (200, "99999", ProblemKind::Unavailable),
    ];
    assert_code_table(
        &cases,
        "GET /v5/account/wallet-balance",
        |code| format!(r#"{{"retCode":{code},"retMsg":"words","result":{{}}}}"#),
        problem_of,
    );
}

#[test]
fn missing_permission_is_a_fact_not_a_problem() {
    let r = reply(
        200,
        &[],
        r#"{"retCode":10005,"retMsg":"Permission denied, please check your API key permissions.","result":{}}"#,
    );
    match read_reply(&r, "GET /v5/position/list", None) {
            Outcome::Denied(said) => assert_eq!(
                said,
                "GET /v5/position/list: code 10005 Permission denied, please check your API key permissions."
            ),
            other => panic!("{other:?}"),
        }
}

#[test]
fn signature_errors_never_echo_the_key_or_the_prehash() {
    let r = reply(
        200,
        &[],
        r#"{"retCode":10004,"retMsg":"error sign! origin_string[1700000000000testkey5000accountType=UNIFIED]","result":{}}"#,
    );
    let p = problem_of(&r);
    assert_eq!(p.kind, ProblemKind::InvalidKey);
    assert_eq!(
        p.message,
        "GET /v5/account/wallet-balance: code 10004 error sign! origin_string[…]"
    );
    assert_eq!(redact("key testkey here", Some("testkey")), "key *** here");
}

#[test]
fn ip_refusal_extracts_the_ip_when_named_and_still_refuses_when_not() {
    let r = reply(
        200,
        &[],
        r#"{"retCode":10010,"retMsg":"Unmatched IP, please check your API key's bound IP addresses. Request IP: 198.51.100.7","result":{}}"#,
    );
    assert_ip_refused(&problem_of(&r), Some("198.51.100.7"));
    // The docs' wording names no IP: the problem stands, the remedy stays generic.
    let r = reply(
        200,
        &[],
        r#"{"retCode":10010,"retMsg":"Unmatched IP, please check your API key's bound IP addresses.","result":{}}"#,
    );
    assert_ip_refused(&problem_of(&r), None);
}

#[test]
fn rate_limit_prefers_retry_after_then_the_bapi_reset_header() {
    let body = r#"{"retCode":10006,"retMsg":"Too many visits!","result":{}}"#;
    let reset = (now_ms() + 60_000).to_string();
    let r = reply(
        429,
        &[
            ("retry-after", "7"),
            ("x-bapi-limit-reset-timestamp", &reset),
        ],
        body,
    );
    assert_rate_limited(
        &problem_of(&r),
        Some(Duration::from_secs(7)),
        "code 10006 Too many visits!",
    );

    let r = reply(200, &[("x-bapi-limit-reset-timestamp", &reset)], body);
    let wait = problem_of(&r).retry_after.unwrap();
    assert!(wait > Duration::from_secs(55) && wait <= Duration::from_secs(60));
    // a reset in the past says nothing
    let r = reply(200, &[("x-bapi-limit-reset-timestamp", "1")], body);
    assert_eq!(problem_of(&r).retry_after, None);
}

#[test]
fn bare_403_is_an_ip_ban_or_a_region_refusal_never_a_key_fault() {
    let p = problem_of(&reply(403, &[], "access too frequent"));
    assert_rate_limited(&p, Some(IP_BAN_WAIT), "access too frequent");
    let p = problem_of(&reply(403, &[], "Forbidden"));
    assert_eq!(p.kind, ProblemKind::Unavailable);
}

#[test]
fn garbage_and_outages_are_unavailable() {
    assert_unavailable(
        [
            reply(200, &[], r#"{"retCode":0,"result":{"list":["#),
            reply(200, &[], r#"{"something":"else"}"#),
            reply(503, &[], r#"{"retCode":10016,"retMsg":"Server error."}"#),
            reply(404, &[], "Not Found"),
        ],
        problem_of,
    );
    let p = problem_of(&reply(
        503,
        &[],
        r#"{"retCode":10016,"retMsg":"Server error."}"#,
    ));
    assert_eq!(
        p.message,
        "GET /v5/account/wallet-balance: HTTP 503, code 10016 Server error."
    );
}

#[test]
fn server_time_prefers_nanoseconds_then_envelope_then_seconds() {
    let result = json!({"timeSecond": "1700000000", "timeNano": "1700000000123456789"});
    assert_eq!(server_time_ms(&result, Some(1)), Some(1_700_000_000_123));
    let result = json!({"timeSecond": "1700000000"});
    assert_eq!(
        server_time_ms(&result, Some(1_700_000_000_456)),
        Some(1_700_000_000_456)
    );
    assert_eq!(server_time_ms(&result, None), Some(1_700_000_000_000));
    assert_eq!(server_time_ms(&json!({}), None), None);
}

#[test]
fn window_follows_the_documented_rule() {
    assert_recv_window_rule(SPEC.clock_window, 5_000);
}

#[test]
fn status_entries_count_only_while_not_completed_and_covering_now() {
    // the docs' example: completed, so not maintenance
    let doc = json!({"list":[{
            "id":"4d95b2a0-587f-11f0-bcc9-56f28c94d6ea","title":"t06","state":"completed",
            "begin":"1751596902000","end":"1751597011000","href":"",
            "serviceTypes":[2,3,4,5],"product":[1,2],"uidSuffix":[],"maintainType":1,"env":1}]});
    let entries = parse_status(&doc).unwrap();
    assert_eq!(entries.len(), 1);
    assert!(!entries[0].is_active(1_751_596_999_999));
    let mut ongoing = entries[0].clone();
    ongoing.state = "ongoing".into();
    assert!(ongoing.is_active(1_751_596_999_999));
    assert!(
        ongoing.is_active(1_751_597_011_001),
        "still ongoing past the expected end"
    );
    assert!(!ongoing.is_active(1_751_596_901_999));
    let mut scheduled = ongoing.clone();
    scheduled.state = "scheduled".into();
    assert!(!scheduled.is_active(1_751_597_011_001));
    assert!(scheduled.is_active(1_751_597_000_000));
    assert!(ongoing
        .describe()
        .contains("\"t06\" (ongoing) since 2025-07-04"));
    assert!(parse_status(&json!({})).is_none());
    // batches by UID tail
    let batched = parse_status(&json!({"list":[{"title":"b","state":"ongoing",
            "begin":1,"end":0,"uidSuffix":[3, "7"]}]}))
    .unwrap();
    assert!(batched[0].affects_uid("53888003"));
    assert!(batched[0].affects_uid("53888007"));
    assert!(!batched[0].affects_uid("53888001"));
}

fn doc_key_info() -> Value {
    json!({
        "id": "16651472", "note": "testxxx", "apiKey": "opjSlSOzqIeXROT5rq",
        "readOnly": 0, "secret": "",
        "permissions": {
            "ContractTrade": [], "Spot": [], "Wallet": ["AccountTransfer"], "Options": [],
            "Derivatives": [], "CopyTrading": [], "BlockTrade": [], "Exchange": [], "NFT": []
        },
        "ips": ["*"],
        "type": 1, "deadlineDay": 88,
        "expiredAt": "2023-05-15T03:13:24Z", "createdAt": "2023-02-15T03:13:24Z",
        "unified": 0, "uta": 0, "userID": 53888001, "inviterID": 0,
        "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0
    })
}

#[test]
fn key_info_from_the_official_example() {
    let info = KeyInfo::parse(&doc_key_info()).unwrap();
    let now = Utc.with_ymd_and_hms(2023, 2, 16, 0, 0, 0).unwrap();
    let facts = facts_from(|f| info.apply(f, now));
    assert_key_facts(
        &facts,
        [Some(true), Some(false), Some(false), Some(false)],
        Some(false),
        Some(Utc.with_ymd_and_hms(2023, 5, 15, 3, 13, 24).unwrap()),
    );
    assert_eq!(info.wallet_account_type(), "SPOT");
    assert_eq!(info.user_id.as_deref(), Some("53888001"));
    assert_noted(&facts, "AccountTransfer");
}

#[test]
fn a_full_key_has_every_right_and_withdraw_alerts() {
    let mut data = doc_key_info();
    data["permissions"] = json!({
        "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
        "Wallet": ["AccountTransfer", "SubMemberTransfer", "Withdraw"],
        "Options": ["OptionsTrade"], "Derivatives": ["DerivativesTrade"]
    });
    data["ips"] = json!(["203.0.113.7", "198.51.100.1"]);
    data["expiredAt"] = json!("");
    data["deadlineDay"] = json!(0);
    data["uta"] = json!(1);
    let info = KeyInfo::parse(&data).unwrap();
    let facts = facts_from(|f| info.apply(f, Utc::now()));
    assert_key_facts(&facts, [Some(true); 4], Some(true), None);
    assert_eq!(info.wallet_account_type(), "UNIFIED");
}

#[test]
fn read_only_keys_still_list_categories_but_cannot_write() {
    let mut data = doc_key_info();
    data["readOnly"] = json!(1);
    data["permissions"] = json!({
        "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"],
        "Wallet": ["Withdraw"], "Derivatives": ["DerivativesTrade"]
    });
    let facts = facts_from(|f| KeyInfo::parse(&data).unwrap().apply(f, Utc::now()));
    assert_eq!(
        rights(&facts),
        [Some(true), Some(false), Some(false), Some(false)]
    );
    assert_noted(&facts, "read-only");
}

#[test]
fn derivatives_trade_alone_is_a_futures_right_and_shapes_are_tolerated() {
    let data = json!({
        "readOnly": "0",
        "permissions": {"Derivatives": "DerivativesTrade", "Spot": ["SpotTrade"]},
        "ips": "203.0.113.7",
        "deadlineDay": 5,
        "uta": 1
    });
    let info = KeyInfo::parse(&data).unwrap();
    let now = Utc::now();
    let facts = facts_from(|f| info.apply(f, now));
    assert_eq!(facts.permissions.futures, Some(true));
    assert_eq!(facts.permissions.trade, Some(true));
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, Some(now + chrono::Duration::days(5)));
    // a reply's count is untrusted: a huge one is clamped, never an overflow (issue 19)
    for huge in [
        json!(i64::MAX),
        json!(1.5e300),
        json!("9223372036854775807"),
    ] {
        let mut data = data.clone();
        data["deadlineDay"] = huge.clone();
        let facts = facts_from(|f| KeyInfo::parse(&data).unwrap().apply(f, now));
        assert_eq!(facts.expires_at, Some(expiry::latest()), "{huge}");
    }
    // `timeSecond` near i64::MAX must not overflow on its way to ms
    assert_eq!(
        server_time_ms(&json!({"timeSecond": i64::MAX}), None),
        Some(i64::MAX)
    );
    // no ips field: binding unknown; no permissions object: not a key description
    let info = KeyInfo::parse(&json!({"readOnly": 0, "permissions": {}})).unwrap();
    assert_eq!(info.ip_bound(), None);
    assert!(KeyInfo::parse(&json!({"readOnly": 0})).is_none());
    // a zero date is no expiry
    assert_eq!(parse_expiry(Some(&json!("1970-01-01T00:00:00Z"))), None);
    assert_eq!(
        parse_expiry(Some(&json!(1_700_000_000_000_i64))),
        Utc.timestamp_millis_opt(1_700_000_000_000).single()
    );
}

#[test]
fn missing_read_only_is_judged_by_the_categories() {
    let data = json!({"permissions": {"Wallet": ["Withdraw"]}, "ips": ["*"]});
    let facts = facts_from(|f| KeyInfo::parse(&data).unwrap().apply(f, Utc::now()));
    assert_eq!(facts.permissions.withdraw, Some(true));
    assert_noted(&facts, "readOnly");
}
