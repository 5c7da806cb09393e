//! Unit tests of `htx.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::test_support::*;
use crate::exchange::ProblemKind;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde_json::json;
use std::time::Duration;

const TS: i64 = 1_700_000_000_000;
const HOST: &str = "api.huobi.pro";

fn sign(path: &str, params: &[(&str, &str)]) -> String {
    let query = signed_query("testkey", "testsecret", HOST, path, params, TS);
    let encoded = query.rsplit_once("&Signature=").unwrap().1;
    let decoded: String = url::form_urlencoded::parse(format!("s={encoded}").as_bytes())
        .next()
        .unwrap()
        .1
        .into_owned();
    decoded
}

#[test]
fn timestamp_is_utc_seconds_without_zone() {
    assert_eq!(format_timestamp(TS), "2023-11-14T22:13:20");
    assert_eq!(format_timestamp(TS + 999), "2023-11-14T22:13:20");
}

// Section 3a: pre-sign string, signature and the full request, byte for byte.
#[test]
fn worked_example_3a_api_key() {
    let auth = auth_params("testkey", TS);
    let mut all: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend([("uid", "12345678"), ("accessKey", "testkey")]);
    let canonical = canonical_query(&all);
    assert_eq!(
        presign("GET", HOST, "/v2/user/api-key", &canonical),
        "GET\napi.huobi.pro\n/v2/user/api-key\nAccessKeyId=testkey&SignatureMethod=HmacSHA256\
             &SignatureVersion=2&Timestamp=2023-11-14T22%3A13%3A20&accessKey=testkey&uid=12345678"
    );
    assert_eq!(
        sign(
            "/v2/user/api-key",
            &[("uid", "12345678"), ("accessKey", "testkey")]
        ),
        "GeuZil7RzaCbeLdtcC0ZC/UV4i10c3YsLVHfe5q5yJY="
    );
    let query = signed_query(
        "testkey",
        "testsecret",
        HOST,
        "/v2/user/api-key",
        &[("uid", "12345678"), ("accessKey", "testkey")],
        TS,
    );
    assert_eq!(
        format!("https://{HOST}/v2/user/api-key?{query}"),
        "https://api.huobi.pro/v2/user/api-key?AccessKeyId=testkey&SignatureMethod=HmacSHA256\
             &SignatureVersion=2&Timestamp=2023-11-14T22%3A13%3A20&accessKey=testkey&uid=12345678\
             &Signature=GeuZil7RzaCbeLdtcC0ZC%2FUV4i10c3YsLVHfe5q5yJY%3D"
    );
}

// Section 3b.
#[test]
fn worked_example_3b_other_calls() {
    assert_eq!(
        sign("/v2/user/uid", &[]),
        "tDRdi7FISLodAdUU3I7P3iZkAHI9T9jCzb/ZvoW8H/s="
    );
    assert_eq!(
        sign("/v1/account/accounts", &[]),
        "Y2VoenT8fBZx8thMPeOjYSdynX1S6tVmUFU8ed095tw="
    );
    assert_eq!(
        sign(&balance_path(100009), &[]),
        "cB+NnlVF+CvEZ1j4yuNHlekrF0wy+n29Ofum20eI78A="
    );
}

// Section 3c: the official example's secret is not published, so only its canonical
// string and pre-sign string are reproduced (the doc says to use it as a format sample).
#[test]
fn worked_example_3c_official_format() {
    let key = "e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx";
    let ts = chrono::NaiveDateTime::parse_from_str("2017-05-11T15:19:30", "%Y-%m-%dT%H:%M:%S")
        .unwrap()
        .and_utc()
        .timestamp_millis();
    let auth = auth_params(key, ts);
    let mut all: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.push(("order-id", "1234567890"));
    let canonical = canonical_query(&all);
    assert_eq!(
        canonical,
        "AccessKeyId=e2xxxxxx-99xxxxxx-84xxxxxx-7xxxx&SignatureMethod=HmacSHA256\
             &SignatureVersion=2&Timestamp=2017-05-11T15%3A19%3A30&order-id=1234567890"
    );
    assert_eq!(
        presign("GET", "api.huobi.pro", "/v1/order/orders", &canonical),
        format!("GET\napi.huobi.pro\n/v1/order/orders\n{canonical}")
    );
    // The sample signature's format: standard base64 of 32 bytes.
    let sample = BASE64
        .decode("4F65x5A2bLyMWVQj3Aqp+B4w+ivaA7n5Oi2SuYtCJ9o=")
        .unwrap();
    assert_eq!(sample.len(), 32);
}

#[test]
fn the_host_is_signed_without_scheme_port_or_prefix() {
    assert_eq!(
        signing_host("https://API.huobi.pro").unwrap(),
        "api.huobi.pro"
    );
    assert_eq!(
        signing_host("http://127.0.0.1:8080/htx").unwrap(),
        "127.0.0.1"
    );
    assert!(signing_host("not a url").is_err());
    // Another host line gives another signature (pitfall 1).
    let aws = signed_query(
        "testkey",
        "testsecret",
        "api-aws.huobi.pro",
        "/v2/user/uid",
        &[],
        TS,
    );
    let main = signed_query("testkey", "testsecret", HOST, "/v2/user/uid", &[], TS);
    assert_ne!(aws, main);
    assert_eq!(
        presign("get", "API.HUOBI.PRO", "/x", "a=1"),
        "GET\napi.huobi.pro\n/x\na=1"
    );
}

#[test]
fn values_are_encoded_with_uppercase_hex() {
    assert_eq!(encode_value("a:b/c+d=e f~"), "a%3Ab%2Fc%2Bd%3De%20f~");
    assert_eq!(encode_value("1,2"), "1%2C2");
}

use crate::exchange::http::test_reply as reply;

fn refusal(body: &str) -> (String, Option<Meaning>) {
    match read_reply(&reply(200, &[], body), "x").unwrap() {
        Outcome::Refused { code, meaning, .. } => (code, meaning),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_envelope_reads_success() {
    for (body, data) in [
        (
            r#"{"status":"ok","data":1637504261099}"#,
            json!(1637504261099_i64),
        ),
        (
            r#"{"code":200,"message":"success","data":{"marketStatus":1}}"#,
            json!({"marketStatus":1}),
        ),
        (r#"{"code":200,"data":63628520}"#, json!(63628520)),
        (r#"{"code":200,"msg":"","data":[],"ts":1}"#, json!([])),
        (
            r#"{"status":"ok","data":{"heartbeat":1},"ts":1}"#,
            json!({"heartbeat":1}),
        ),
    ] {
        assert_eq!(
            read_reply(&reply(200, &[], body), "x").unwrap(),
            Outcome::Ok(data),
            "{body}"
        );
    }
}

#[test]
fn documented_error_bodies_map_to_their_meaning() {
    let cases = [
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: Incorrect Access key [Access key错误]","data":null}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: Verification failure [校验失败]","data":null}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: Incorrect IP address [IP地址错误]:104.128.67.45","data":null}"#,
            Some(Meaning::IpNotAllowed),
        ),
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: Invalid submission time or incorrect time format [无效的提交时间，或时间格式错误]","data":null}"#,
            Some(Meaning::ClockSkew),
        ),
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: 无效的提交时间"}"#,
            Some(Meaning::ClockSkew),
        ),
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: API key has no permission [API Key没有权限]","data":null}"#,
            Some(Meaning::NoPermission),
        ),
        (
            r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: API key has expired [API Key已经过期]"}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"code":1003,"message":"invalid signature"}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"code":1002,"message":"unauthorized"}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"status":"error","err-code":"base-request-exceed-frequency-limit","err-msg":"Frequency of requests has exceeded the limit, please try again later","data":null}"#,
            Some(Meaning::RateLimited),
        ),
        (
            r#"{"status":"error","err-code":"rate-too-many-requests","err-msg":"exceeded rate limit"}"#,
            Some(Meaning::RateLimited),
        ),
        (
            r#"{"status":"error","err-code":"system-maintenance","err-msg":"System is in maintenance!","data":null}"#,
            Some(Meaning::Unavailable),
        ),
        (
            r#"{"status":"error","err-code":"gateway-internal-error","err-msg":"Failed to load data. Try again later."}"#,
            Some(Meaning::Unavailable),
        ),
        (
            r#"{"status":"error","err_code":403,"err_msg":"Incorrect Access key [Access key错误]","ts":1652774224344}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"status":"error","err_code":403,"err_msg":"Verification failure [校验失败]","ts":1}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"code":1220,"msg":"You don't have access permission as you have not opened contracts trading.","data":null,"ts":1}"#,
            Some(Meaning::NoPermission),
        ),
        (
            r#"{"status":"error","err_code":1220,"err_msg":"You don't have access permission as you have not opened contracts trading."}"#,
            Some(Meaning::NoPermission),
        ),
        (
            r#"{"status":"error","err_code":12005,"err_msg":"ip"}"#,
            Some(Meaning::IpNotAllowed),
        ),
        (
            r#"{"status":"error","err_code":12001,"err_msg":"t"}"#,
            Some(Meaning::ClockSkew),
        ),
        (
            r#"{"status":"error","err_code":12004,"err_msg":"API key has expired"}"#,
            Some(Meaning::InvalidKey),
        ),
        (
            r#"{"status":"error","err-code":"something-new","err-msg":"?"}"#,
            None,
        ),
    ];
    for (body, meaning) in cases {
        assert_eq!(refusal(body).1, meaning, "{body}");
    }
    assert_eq!(
        refusal(r#"{"status":"error","err_code":403,"err_msg":"x"}"#).0,
        "403"
    );
}

#[test]
fn refusal_messages_quote_code_and_msg_and_name_the_ip() {
    let r = reply(
        200,
        &[],
        r#"{"status":"error","err-code":"api-signature-not-valid","err-msg":"Signature not valid: Incorrect IP address [IP地址错误]:104.128.67.45","data":null}"#,
    );
    let Outcome::Refused { code, msg, meaning } =
        read_reply(&r, "GET /v1/account/accounts").unwrap()
    else {
        panic!()
    };
    let text = code_text("GET /v1/account/accounts", &code, &msg);
    assert_eq!(
        text,
        "GET /v1/account/accounts: code api-signature-not-valid Signature not valid: \
             Incorrect IP address [IP地址错误]:104.128.67.45"
    );
    let problem = problem_for(meaning, text, &r).unwrap();
    assert_ip_refused(&problem, Some("104.128.67.45"));
}

#[test]
fn http_level_trouble_comes_first() {
    let r = reply(
        429,
        &[("retry-after", "7")],
        r#"{"status":"error","err-code":"base-request-exceed-frequency-limit","err-msg":"Frequency"}"#,
    );
    assert_rate_limited(
        &read_reply(&r, "x").unwrap_err(),
        Some(Duration::from_secs(7)),
        "base-request-exceed-frequency-limit",
    );
    for r in [
        reply(
            503,
            &[("content-type", "text/plain")],
            "Service Unavailable",
        ),
        reply(
            403,
            &[("content-type", "text/html")],
            "<html>blocked</html>",
        ),
        reply(200, &[], r#"{"status":"ok","data":{"#),
        reply(404, &[], "Not Found"),
        reply(200, &[], "[1,2]"),
    ] {
        assert_eq!(
            read_reply(&r, "x").unwrap_err().kind,
            ProblemKind::Unavailable
        );
    }
    // Rate limit with HTTP 200: Retry-After is honoured when sent.
    let r = reply(
        200,
        &[("retry-after", "3")],
        r#"{"status":"error","err-code":"rate-too-many-requests","err-msg":"exceeded rate limit"}"#,
    );
    let Outcome::Refused { meaning, .. } = read_reply(&r, "x").unwrap() else {
        panic!()
    };
    let p = problem_for(meaning, "x".into(), &r).unwrap();
    assert_rate_limited(&p, Some(Duration::from_secs(3)), "x");
}

#[test]
fn clock_window_and_offset() {
    assert!(skew_problem(WINDOW_MS).is_none());
    assert!(skew_problem(-WINDOW_MS).is_none());
    assert_eq!(WINDOW_MS, 300_000, "HTX documents 5 minutes (htx.md §2)");
    // Two minutes off is inside HTX's window: not a skew (issue 18 item 6).
    assert!(skew_problem(120_000).is_none());
    assert!(skew_problem(-120_000).is_none());
    let p = skew_problem(360_000).unwrap();
    assert_eq!(p.kind, ProblemKind::ClockSkew);
    assert_eq!(
        p.message,
        "GET /v1/common/timestamp: HTX's server clock is 360000 ms ahead of ours; HTX refuses \
         timestamps more than 5 minutes away from its clock"
    );
    assert!(skew_problem(-300_001).unwrap().message.contains("behind"));
}

#[test]
fn market_status_and_heartbeat() {
    assert!(market_status_problem(&json!({"marketStatus":1}), "x").is_none());
    let p = market_status_problem(
            &json!({"marketStatus":2,"haltReason":3,"haltStartTime":1700000000000_i64,"haltEndTime":1700003600000_i64}),
            "x",
        )
        .unwrap();
    assert_eq!(p.kind, ProblemKind::Unavailable);
    assert!(p.message.contains("scheduled maintenance"), "{}", p.message);
    assert!(
        p.message.contains("until 2023-11-14 23:13 UTC"),
        "{}",
        p.message
    );
    assert!(market_status_problem(&json!({"marketStatus":3}), "x")
        .unwrap()
        .message
        .contains("cancel-only"));
    assert!(market_status_problem(&json!({}), "x").is_some());

    let up = json!({"heartbeat":1,"swap_heartbeat":1,"linear_swap_heartbeat":1});
    assert!(heartbeat_problem(&up, "x").is_none());
    let down =
        json!({"heartbeat":1,"linear_swap_heartbeat":0,"linear_swap_estimated_recovery_time":null});
    assert!(heartbeat_problem(&down, "x").is_some());
    assert!(heartbeat_problem(&json!({"heartbeat":0}), "x").is_some());
    assert!(heartbeat_problem(&json!({}), "x").is_some());
}

fn doc_entry() -> Value {
    json!([{
        "accessKey": "4ba5cdf2-4a92c5da-718ba144-dbuqg6hkte",
        "status": "normal",
        "note": "62924133",
        "permission": "readOnly,trade",
        "ipAddresses": "1.1.1.1,1.1.1.2",
        "validDays": -1,
        "createTime": 1591348751000_i64,
        "updateTime": 1591348751000_i64
    }])
}

#[test]
fn key_info_from_the_official_example() {
    let info = KeyInfo::from_data(&doc_entry(), "4ba5cdf2-4a92c5da-718ba144-dbuqg6hkte").unwrap();
    assert_eq!(info.ip_addresses, vec!["1.1.1.1", "1.1.1.2"]);
    let now = Utc::now();
    let facts = facts_from(|f| info.apply(f, now).unwrap());
    assert_eq!(rights(&facts), [Some(true), Some(true), Some(false), None]);
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.expires_at, None, "validDays -1 is permanent");
    // Another key's entry does not describe ours.
    assert!(KeyInfo::from_data(&doc_entry(), "otherkey").is_none());
}

#[test]
fn key_info_withdraw_unbound_expiring_and_tolerated_shapes() {
    let data = json!([{"accessKey":"k","permission":["readOnly","trade","withdraw"],
                           "validDays":"5","status":"normal"}]);
    let info = KeyInfo::from_data(&data, "k").unwrap();
    let now = Utc::now();
    let facts = facts_from(|f| info.apply(f, now).unwrap());
    assert_eq!(facts.permissions.withdraw, Some(true));
    assert_eq!(facts.ip_restricted, Some(false));
    assert_eq!(facts.expires_at, Some(now + chrono::Duration::days(5)));
    // a reply's count is untrusted: a huge one is clamped, never an overflow (issue 19)
    for huge in [
        json!(i64::MAX),
        json!(i64::MAX.to_string()),
        json!(106_751_991_167_301_i64),
    ] {
        let data = json!([{"accessKey":"k","permission":"readOnly","validDays":huge}]);
        let info = KeyInfo::from_data(&data, "k").unwrap();
        let facts = facts_from(|f| info.apply(f, now).unwrap());
        assert_eq!(facts.expires_at, Some(expiry::latest()), "{huge}");
    }
    for ips in [json!(""), json!(null), json!([])] {
        let data = json!({"accessKey":"k","permission":"readOnly","ipAddresses":ips});
        let info = KeyInfo::from_data(&data, "k").unwrap();
        assert!(info.ip_addresses.is_empty());
        assert!(!info.has("trade"));
    }
    let expired =
        json!([{"accessKey":"k","permission":"readOnly","status":"expired","validDays":0}]);
    let mut facts = Facts::default();
    let err = KeyInfo::from_data(&expired, "k")
        .unwrap()
        .apply(&mut facts, now)
        .unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidKey);
    assert!(KeyInfo::from_data(&json!([{"accessKey":"k"}]), "k").is_none());
    assert!(KeyInfo::from_data(&json!("x"), "k").is_none());
}
