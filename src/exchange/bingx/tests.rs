//! Unit tests of `bingx.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use crate::exchange::ProblemKind;
use serde_json::json;

const TS: i64 = 1_700_000_000_000;

// §3a: the permission call, only `timestamp` signed; the path is not part of it.
#[test]
fn worked_example_3a_api_permissions() {
    assert_eq!(
        param_string(&[("timestamp", "1700000000000")]),
        "timestamp=1700000000000"
    );
    assert_eq!(
        signed_query("testsecret", &[], TS, None),
        "timestamp=1700000000000&signature=\
             dd273985d88b32eaeeb19cafcc2dbaa9ac658e274cd4095d474395560c4b09b7"
    );
    let headers = auth_headers(&test_credentials("testkey", "testsecret", None)).unwrap();
    assert_key_header_only(&headers, KEY_HEADER, "testkey");
}

// §3b, first row: apiKey/query with `uid`, ccxt-sorted.
#[test]
fn worked_example_3b_uid() {
    assert_eq!(
        signed_query("testsecret", &[("uid", "12345678")], TS, None),
        "timestamp=1700000000000&uid=12345678&signature=\
             1edb75f558dd7147805b5c0dd73aad52edcbaeefd5807b00986da74b5aa28749"
    );
}

// §3b, second row: what the probe sends on every signed call.
#[test]
fn worked_example_3b_recv_window() {
    assert_eq!(
        signed_query("testsecret", &[], TS, Some(5_000)),
        "recvWindow=5000&timestamp=1700000000000&signature=\
             8cb8853c05d40eab178f77fce129c8a259dc4f9b10f028a5688db5b6372420be"
    );
    assert_eq!(
        signature("testsecret", "recvWindow=5000&timestamp=1700000000000"),
        "8cb8853c05d40eab178f77fce129c8a259dc4f9b10f028a5688db5b6372420be"
    );
}

// §3c: the official docs' inputs. Their printed signature (1e63e8cf…) does not reproduce and
// is not used; these are the values the doc file reproduced for the same inputs.
#[test]
fn worked_example_3c_official_inputs_reproduced_values() {
    let secret =
        "mheO6dR8ovSsxZQCOYEFCtelpuxcWGTfHw7te326y6jOwq5WpvFQ9JNljoTwBXZGv5It07m9RXSPpDQEK2w";
    let query = param_string(&[
        ("recvWindow", "0"),
        ("symbol", "BTC-USDT"),
        ("timestamp", "1696751141337"),
    ]);
    assert_eq!(
        query,
        "recvWindow=0&symbol=BTC-USDT&timestamp=1696751141337"
    );
    let sig = signature(secret, &query);
    assert_eq!(
        sig,
        "f8d883609dfd31c824feb4de865b071008dedb1d461451fa70847875c8e7a7a2"
    );
    assert_ne!(
        sig,
        "1e63e8cfd1c04919881e60cf369e404b9b7c87d3a09bc300f1abfdcce7da57e8"
    );
    assert_eq!(
        signature(
            secret,
            "recvWindow=0&subAccountString=abc12345&timestamp=1696751141337"
        ),
        "8d0d3ea9b592be3678c33332ab13e9102e093e67255921e15a581146c87c272f"
    );
}

#[test]
fn params_are_sorted_and_values_encoded_only_in_the_url() {
    let query = signed_query("testsecret", &[("symbol", "BTC USDT")], TS, Some(5_000));
    let raw = "recvWindow=5000&symbol=BTC USDT&timestamp=1700000000000";
    assert_eq!(
        query,
        format!(
            "recvWindow=5000&symbol=BTC%20USDT&timestamp=1700000000000&signature={}",
            signature("testsecret", raw)
        )
    );
    assert_eq!(encode_value("a,b c~d"), "a%2Cb%20c~d");
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_quoting_it() {
    let bad = test_credentials("bad\nkey", "s", None);
    assert_refused_without_quoting(auth_headers(&bad), "bad");
}

use crate::exchange::http::{assert_unavailable, test_reply as reply};

fn problem_of(r: &Reply) -> Problem {
    read_reply(r, "GET /openApi/spot/v1/account/balance").expect_problem()
}

#[test]
fn success_is_code_zero_and_yields_data() {
    let r = reply(200, &[], r#"{"code":0,"msg":"","data":{"serverTime":5}}"#);
    match read_reply(&r, "x") {
        Outcome::Ok(data) => assert_eq!(server_time(&data), Some(5)),
        other => panic!("{other:?}"),
    }
    let r = reply(200, &[], r#"{"code":"0","msg":"","data":[]}"#);
    assert!(matches!(read_reply(&r, "x"), Outcome::Ok(Value::Array(_))));
    // HTTP 200 without BingX's envelope is not an answer.
    let r = reply(200, &[], r#"{"serverTime":5}"#);
    assert_eq!(problem_of(&r).kind, ProblemKind::Unavailable);
}

#[test]
fn error_codes_map_to_problems_whatever_the_http_status() {
    let cases = [
        (
            401,
            100001,
            "Signature verification failed",
            ProblemKind::InvalidKey,
        ),
        (
            200,
            100001,
            "Signature verification failed",
            ProblemKind::InvalidKey,
        ),
        (200, 100412, "Null signature", ProblemKind::InvalidKey),
        (200, 100413, "Incorrect apiKey", ProblemKind::InvalidKey),
        (401, 100413, "Null apiKey", ProblemKind::InvalidKey),
        (
            200,
            100414,
            "The account is abnormal",
            ProblemKind::InvalidKey,
        ),
        (
            200,
            100421,
            "Null timestamp or timestamp mismatch",
            ProblemKind::ClockSkew,
        ),
        (200, 80014, "timestamp is invalid", ProblemKind::ClockSkew),
        (200, 80014, "signature not match", ProblemKind::InvalidKey),
        (
            403,
            100419,
            "IP does not match IP whitelist",
            ProblemKind::IpNotAllowed,
        ),
        (200, 100410, "rate limited", ProblemKind::RateLimited),
        (
            200,
            100500,
            "We had a problem with our server",
            ProblemKind::Unavailable,
        ),
        (
            200,
            109500,
            "The current system is busy, please try again later",
            ProblemKind::Unavailable,
        ),
        (
            200,
            100421,
            "The current system is busy, please try again later",
            ProblemKind::Unavailable,
        ),
        (400, 100400, "Invalid parameter", ProblemKind::Unavailable),
    ];
    for (status, code, msg, kind) in cases {
        let r = reply(status, &[], &format!(r#"{{"code":{code},"msg":"{msg}"}}"#));
        let p = problem_of(&r);
        assert_eq!(p.kind, kind, "{code} {msg}");
        assert!(
            p.message.starts_with(&format!(
                "GET /openApi/spot/v1/account/balance: code {code} {msg}"
            )),
            "{}",
            p.message
        );
    }
}

#[test]
fn missing_permission_is_a_fact_not_a_problem() {
    let r = reply(
        200,
        &[],
        r#"{"code":100004,"msg":"Permission denied, the API key was created without the permission"}"#,
    );
    let said = expect_denied(read_reply(&r, "x"));
    assert!(said.contains("code 100004"), "{said}");
}

#[test]
fn ip_refusal_is_ip_not_allowed_with_or_without_a_named_ip() {
    let r = reply(
        200,
        &[],
        r#"{"code":100419,"msg":"IP does not match IP whitelist","success":false,"timestamp":1705274099347}"#,
    );
    assert_ip_refused(&problem_of(&r), None);
    let r = reply(
        200,
        &[],
        r#"{"code":100419,"msg":"IP does not match IP whitelist, request ip: 198.51.100.7"}"#,
    );
    assert_ip_refused(&problem_of(&r), Some("198.51.100.7"));
}

#[test]
fn rate_limits_carry_retry_after_or_the_unblock_time() {
    let r = reply(
        429,
        &[("retry-after", "7")],
        r#"{"code":100410,"msg":"rate limited"}"#,
    );
    assert_rate_limited(&problem_of(&r), Some(Duration::from_secs(7)), "code 100410");

    let unblock = now_ms() + 30_000;
    let body = format!(
        r#"{{"code":100410,"msg":"code:100410:The endpoint trigger frequency limit rule is currently in the disabled period and will be unblocked after {unblock}"}}"#
    );
    let p = problem_of(&reply(200, &[], &body));
    assert_eq!(p.kind, ProblemKind::RateLimited);
    let wait = p.retry_after.unwrap();
    assert!(
        wait > Duration::from_secs(25) && wait <= Duration::from_secs(30),
        "{wait:?}"
    );
    assert_eq!(unblock_wait("no time here", 0), None);
    assert_eq!(
        unblock_wait("can retry after time: 1727193970155", 1727193960155),
        Some(Duration::from_secs(10))
    );
    // A bare 418 (auto-ban after continued 429s) is throttling too.
    assert_eq!(
        problem_of(&reply(418, &[], "I'm a teapot")).kind,
        ProblemKind::RateLimited
    );
}

#[test]
fn garbage_and_outages_are_unavailable() {
    assert_unavailable(
        [
            reply(200, &[], r#"{"code":"200000","data":{"permission":"Gen"#),
            reply(503, &[], r#"{"code":100503,"msg":"Server busy"}"#),
            reply(404, &[], "Not Found"),
        ],
        problem_of,
    );
    // BingX's JSON on a 5xx is quoted.
    let p = problem_of(&reply(503, &[], r#"{"code":100503,"msg":"Server busy"}"#));
    assert_says(&p, &["code 100503 Server busy"]);
    // A bare 401 without JSON is a key fault.
    assert_eq!(
        problem_of(&reply(401, &[], "Unauthorized")).kind,
        ProblemKind::InvalidKey
    );
}

#[test]
fn clock_offset_uses_the_round_trip_midpoint_and_the_window() {
    assert_skew_wording(|offset| skew_problem("x", offset), 5_000, 6_000);
    assert_eq!(server_time(&json!({"serverTime": "17"})), Some(17));
    assert_eq!(server_time(&json!({"other": 1})), None);
}

#[test]
fn key_info_from_the_documented_shape() {
    let data = json!({
        "apiKey": "testkey", "permissions": [1, 2, 3],
        "ipAddresses": ["203.0.113.7"], "note": "keywarden"
    });
    let info = KeyInfo::from_data(&data).unwrap();
    let facts = facts_from(|f| info.apply(f));
    assert_key_facts(
        &facts,
        [Some(true), Some(true), Some(false), Some(true)],
        Some(true),
        None,
    );
    assert_noted(&facts, "no expiry");
}

#[test]
fn key_info_tolerates_strings_and_missing_whitelists_and_notes_transfers() {
    let key = json!({"permissions": ["2", "5", "4", "7"]});
    for data in with_each_empty(key, "ipAddresses", [json!([]), json!(null), json!("")]) {
        let facts = facts_from(|f| KeyInfo::from_data(&data).unwrap().apply(f));
        assert_eq!(
            rights(&facts),
            [Some(true), Some(false), Some(true), Some(false)]
        );
        assert_eq!(facts.ip_restricted, Some(false));
        assert!(
            facts
                .notes
                .iter()
                .any(|n| n.contains("universal transfer (4)")
                    && n.contains("sub-account internal transfer (7)")),
            "{:?}",
            facts.notes
        );
    }
    let info =
        KeyInfo::from_data(&json!({"permissions": "1,2", "ipAddresses": "1.2.3.4"})).unwrap();
    assert_eq!(info.permissions, vec![1, 2]);
    assert_eq!(info.ip_addresses, vec!["1.2.3.4"]);
    assert!(KeyInfo::from_data(&json!({"apiKey": "k"})).is_none());
    assert!(KeyInfo::from_data(&json!({"permissions": ["spot"]})).is_none());
    assert!(KeyInfo::from_data(&json!([1, 2])).is_none());
}
