//! Unit tests of `bitget.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use crate::exchange::ProblemKind;
use serde_json::json;
use std::time::Duration;

fn creds(key: &str, secret: &str, passphrase: &str) -> Credentials {
    test_credentials(key, secret, Some(passphrase))
}

const TS: i64 = 1_700_000_000_000;

// 3a, GET: the docs' prehash string; the query is sorted by key whatever order it is given in.
#[test]
fn worked_example_3a_get_prehash() {
    let query = signed_query(&[("symbol", "BTCUSDT"), ("limit", "20")]);
    assert_eq!(query, "limit=20&symbol=BTCUSDT");
    assert_eq!(
        prehash(
            16273667805456,
            "GET",
            "/api/mix/v2/market/depth",
            &query,
            ""
        ),
        "16273667805456GET/api/mix/v2/market/depth?limit=20&symbol=BTCUSDT"
    );
}

// 3a, POST: the body follows the path directly, no `?`, no separator.
#[test]
fn worked_example_3a_post_prehash() {
    let body = r#"{"symbol":"BTCUSDT","productType":"USDT-FUTURES","marginMode":"crossed","marginCoin":"USDT","size":"0.01","side":"buy","orderType":"market"}"#;
    assert_eq!(
        prehash(
            16273667805456,
            "post",
            "/api/v2/mix/order/place-order",
            "",
            body
        ),
        format!("16273667805456POST/api/v2/mix/order/place-order{body}")
    );
}

// 3b: the permission introspection request, with its full header set.
#[test]
fn worked_example_3b_account_info_headers() {
    assert_eq!(
        prehash(TS, "GET", PATH_ACCOUNT_INFO, "", ""),
        "1700000000000GET/api/v2/spot/account/info"
    );
    let values = auth_header_values(
        &creds("testkey", "testsecret", "testpass"),
        TS,
        "GET",
        PATH_ACCOUNT_INFO,
        "",
        "",
    );
    assert_signed_headers(
        values,
        [
            ("ACCESS-KEY", "testkey"),
            (
                "ACCESS-SIGN",
                "pFmdjL7tpSbaW4rypKwUpA6eJr6rD4GL7/llKrwB1gg=",
            ),
            ("ACCESS-TIMESTAMP", "1700000000000"),
            ("ACCESS-PASSPHRASE", "testpass"),
            ("Content-Type", "application/json"),
            ("locale", "en-US"),
        ],
    );
}

// 3b: the balance reads.
#[test]
fn worked_example_3b_balance_reads() {
    let cases = [
        (
            PATH_SPOT_ASSETS,
            SPOT_ASSETS_PARAMS,
            "1700000000000GET/api/v2/spot/account/assets?coin=USDT",
            "ROFFd4+DVLlr0tKiRPa/6C0QO/CEPEJP3qU/PNOmKXY=",
        ),
        (
            PATH_FUTURES_ACCOUNTS,
            FUTURES_ACCOUNTS_PARAMS,
            "1700000000000GET/api/v2/mix/account/accounts?productType=USDT-FUTURES",
            "g5Rs+wt3ED226Pot2TVP1yx5hO58edA+XN9JvnW1h4E=",
        ),
    ];
    for (path, params, want_prehash, want_signature) in cases {
        let query = signed_query(params);
        let signed = prehash(TS, "GET", path, &query, "");
        assert_eq!(signed, want_prehash);
        assert_eq!(hmac_base64("testsecret", signed), want_signature);
        // what is sent is what is signed, for the probe's own parameters
        assert_eq!(sent_query(params), query);
    }
}

#[test]
fn values_that_need_encoding_are_signed_decoded_and_sent_encoded() {
    assert_eq!(signed_query(&[("b", "x y"), ("a", "1,2")]), "a=1,2&b=x y");
    assert_eq!(sent_query(&[("b", "x y"), ("a", "1,2")]), "a=1%2C2&b=x%20y");
    assert_eq!(signed_query(&[]), "");
}

#[test]
fn a_value_that_cannot_be_a_header_is_refused_without_quoting_it() {
    let values = auth_header_values(&creds("bad\nkey", "s", "p"), TS, "GET", "/x", "", "");
    assert_refused_without_quoting(http::sensitive_headers(values), "bad");
}

use crate::exchange::http::{assert_code_table, assert_unavailable, test_reply as reply};

fn problem_of(r: &Reply) -> Problem {
    read_reply(r, "GET /api/v2/spot/account/assets").expect_problem()
}

#[test]
fn success_code_is_a_string_but_a_number_is_tolerated() {
    let r = reply(
        200,
        &[],
        r#"{"code":"00000","msg":"success","requestTime":1695808949356,"data":[]}"#,
    );
    assert!(matches!(read_reply(&r, "x"), Outcome::Ok(Value::Array(_))));
    let r = reply(200, &[], r#"{"code":0,"data":[]}"#);
    assert!(matches!(read_reply(&r, "x"), Outcome::Ok(_)));
    let r = reply(200, &[], r#"{"code":"","data":[]}"#);
    assert!(matches!(read_reply(&r, "x"), Outcome::Problem(_)));
    // requestTime as a string, as in public reports
    let r = reply(200, &[], r#"{"code":"00000","requestTime":"1","data":{}}"#);
    assert!(matches!(read_reply(&r, "x"), Outcome::Ok(_)));
}

#[test]
fn error_codes_map_to_problems_whatever_the_http_status() {
    let cases = [
        (400, "40001", ProblemKind::InvalidKey),
        (400, "40002", ProblemKind::InvalidKey),
        (400, "40003", ProblemKind::InvalidKey),
        (400, "40004", ProblemKind::ClockSkew),
        (400, "40005", ProblemKind::ClockSkew),
        (400, "40006", ProblemKind::InvalidKey),
        (200, "40008", ProblemKind::ClockSkew),
        (400, "40009", ProblemKind::InvalidKey),
        (400, "40011", ProblemKind::InvalidKey),
        (401, "40012", ProblemKind::InvalidKey),
        (400, "40013", ProblemKind::InvalidKey),
        (403, "40018", ProblemKind::IpNotAllowed),
        (400, "40037", ProblemKind::InvalidKey),
        (200, "429", ProblemKind::RateLimited),
        (200, "1001", ProblemKind::RateLimited),
        (200, "40200", ProblemKind::Unavailable),
        (400, "40015", ProblemKind::Unavailable),
        (400, "49999", ProblemKind::Unavailable),
    ];
    assert_code_table(
        &cases,
        "GET /api/v2/spot/account/assets",
        |code| format!(r#"{{"code":"{code}","msg":"words","requestTime":1,"data":null}}"#),
        problem_of,
    );
}

#[test]
fn message_field_is_read_when_msg_is_absent() {
    let r = reply(
        400,
        &[],
        r#"{"code":"40009","message":"sign signature error"}"#,
    );
    assert_eq!(
        problem_of(&r).message,
        "GET /api/v2/spot/account/assets: code 40009 sign signature error"
    );
}

#[test]
fn missing_permission_is_a_fact_not_a_problem() {
    let r = reply(
        400,
        &[],
        r#"{"code":"40014","msg":"Incorrect permissions"}"#,
    );
    assert!(expect_denied(read_reply(&r, "x")).contains("40014"));
}

#[test]
fn ip_refusal_names_the_ip_when_bitget_does() {
    let r = reply(
        400,
        &[],
        r#"{"code":"40018","msg":"Invalid IP, request ip: 198.51.100.7"}"#,
    );
    assert_ip_refused(&problem_of(&r), Some("198.51.100.7"));
    // the docs' bare text: still an IP refusal, without an address
    let p = problem_of(&reply(400, &[], r#"{"code":"40018","msg":"Invalid IP"}"#));
    assert_ip_refused(&p, None);
}

#[test]
fn rate_limit_carries_retry_after_and_quotes_the_code() {
    let body = r#"{"code":"429","msg":"Too Many Requests","data":null}"#;
    let p = problem_of(&reply(429, &[("retry-after", "7")], body));
    assert_rate_limited(
        &p,
        Some(Duration::from_secs(7)),
        "code 429 Too Many Requests",
    );
    assert_says(&p, &["retry after 7s"]);
    let p = problem_of(&reply(429, &[], "Too Many Requests"));
    assert_rate_limited(&p, None, "HTTP 429");
    let p = problem_of(&reply(200, &[("retry-after", "3")], body));
    assert_rate_limited(&p, Some(Duration::from_secs(3)), "code 429");
}

#[test]
fn garbage_and_outages_are_unavailable() {
    assert_unavailable(
        [
            reply(200, &[], r#"{"code":"00000","data":{"authorities":["st"#),
            reply(
                503,
                &[],
                r#"{"code":"40200","msg":"Server upgrade, please try again later"}"#,
            ),
            reply(200, &[], r#"{"data":[]}"#),
        ],
        problem_of,
    );
    let p = problem_of(&reply(
        503,
        &[],
        r#"{"code":"40200","msg":"Server upgrade, please try again later"}"#,
    ));
    assert_eq!(
            p.message,
            "GET /api/v2/spot/account/assets: HTTP 503, code 40200 Server upgrade, please try again later"
        );
}

#[test]
fn clock_offset_uses_the_round_trip_midpoint_and_the_window() {
    assert_skew_wording(
        |o| SPEC.skew_problem(&format!("GET {PATH_TIME}"), o),
        RECV_WINDOW_MS,
        30_001,
    );
    assert_eq!(
        server_time(&json!({"serverTime": "1700000000123"})),
        Some(1_700_000_000_123)
    );
    assert_eq!(server_time(&json!({"serverTime": 17})), Some(17));
    assert_eq!(server_time(&json!({})), None);
}

fn facts_of(data: Value) -> Facts {
    facts_from(|f| KeyInfo::from_data(&data).unwrap().apply(f))
}

#[test]
fn key_info_from_the_docs_example_with_legacy_words() {
    let data = json!({
        "userId": "**********", "inviterId": "**********", "ips": "127.0.0.1",
        "authorities": ["trade", "readonly"], "parentId": 1, "traderType": "trader",
        "channelCode": "XXX", "channel": "YYY", "regisTime": "1246566789345"
    });
    let facts = facts_of(data);
    assert_key_facts(
        &facts,
        [Some(true), Some(true), Some(false), None],
        Some(true),
        None,
    );
    assert_noted(&facts, "legacy");
}

#[test]
fn key_info_with_the_current_codes() {
    let facts = facts_of(json!({
        "authorities": ["stow", "coow", "cpow", "wtow", "wwow"],
        "ips": "203.0.113.7,198.51.100.1"
    }));
    assert_eq!(rights(&facts), [Some(true); 4]);
    assert_eq!(facts.ip_restricted, Some(true));

    // a read-only key: transfers are not withdrawals, futures read is not futures rights
    let facts = facts_of(json!({"authorities": ["stor", "coor", "wtow"], "ips": ""}));
    assert_eq!(
        rights(&facts),
        [Some(true), Some(false), Some(false), Some(false)]
    );
    assert_eq!(facts.ip_restricted, Some(false));
    assert_noted(&facts, "read futures");

    let facts = facts_of(json!({"authorities": ["stow"]}));
    assert_eq!(
        rights(&facts),
        [Some(true), Some(true), Some(false), Some(false)]
    );
    assert_eq!(facts.ip_restricted, Some(false));
}

#[test]
fn key_info_tolerates_other_shapes() {
    // ips absent, null, empty; authorities as a comma string; ips as an array
    let key = json!({"authorities": "stow, cpow"});
    for data in with_each_empty(key, "ips", [json!(null), json!(""), json!([])]) {
        let facts = facts_of(data);
        assert_eq!(facts.ip_restricted, Some(false));
        assert_eq!(facts.permissions.futures, Some(true));
        assert_eq!(facts.permissions.trade, Some(true));
    }
    let info = KeyInfo::from_data(&json!({"authorities": [], "ips": ["1.2.3.4"]})).unwrap();
    assert_eq!(info.ips, vec!["1.2.3.4"]);
    // legacy withdraw word [uncertain] and upper case
    let facts = facts_of(json!({"authorities": ["READONLY", "Withdraw"]}));
    assert_eq!(facts.permissions.withdraw, Some(true));
    assert!(KeyInfo::from_data(&json!({"userId": "1"})).is_none());
    assert!(KeyInfo::from_data(&json!({"authorities": 5})).is_none());
}

#[test]
fn sub_account_keys_are_noted() {
    let facts = facts_of(json!({"authorities": ["stor"], "userId": "2", "parentId": 1}));
    assert!(facts.notes.iter().any(|n| n == "sub-account key"));
    let facts = facts_of(json!({"authorities": ["stor"], "userId": "1", "parentId": 1}));
    assert!(!facts.notes.iter().any(|n| n == "sub-account key"));
}

#[test]
fn a_unified_account_refusal_is_neither_an_outage_nor_a_missing_right() {
    // Bitget's answer to a classic v2 call from a unified-trading-account key (issue 18).
    let r = reply(
        400,
        &[],
        r#"{"code":"40085","msg":"Unified Account mode, Classic Account API not supported","requestTime":1700000000000,"data":null}"#,
    );
    assert_eq!(
        expect_denied(read_reply(&r, "GET /api/v2/spot/account/info")),
        "GET /api/v2/spot/account/info: code 40085 Unified Account mode, Classic Account API \
         not supported"
    );
}

fn uta_facts(data: Value) -> Facts {
    facts_from(|f| UtaKeyInfo::from_data(&data).unwrap().apply(f))
}

#[test]
fn uta_key_info_reads_trade_withdraw_and_ips() {
    // The shape of /api/v3/account/info (Bitget UTA docs; go-bitget's `uta.AccountInfo`).
    let trading = uta_facts(json!({
        "userId": "1234567890", "inviterId": "", "parentId": "1234567890",
        "channelCode": "", "channel": "", "ips": "203.0.113.7",
        "permType": "read-and-write", "permissions": ["uta_mgt", "uta_trade"],
        "regisTime": "1700000000000"
    }));
    assert_eq!(
        rights(&trading),
        [Some(true), Some(true), Some(false), Some(true)]
    );
    assert_eq!(trading.ip_restricted, Some(true));
    let withdraw = uta_facts(json!({
        "ips": "", "permType": "read-and-write",
        "permissions": ["uta_mgt", "uta_trade", "withdraw"]
    }));
    assert_eq!(rights(&withdraw), [Some(true); 4]);
    assert_eq!(withdraw.ip_restricted, Some(false));
    // A read-only key holds no trade right, whatever its list says.
    let read_only = uta_facts(json!({
        "permType": "read-only", "permissions": ["uta_mgt", "uta_trade"]
    }));
    assert_eq!(
        rights(&read_only),
        [Some(true), Some(false), Some(false), Some(false)]
    );
    assert_noted(&read_only, "read-only");
    assert!(UtaKeyInfo::from_data(&json!({"userId": "1"})).is_none());
}
