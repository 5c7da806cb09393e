//! Unit tests of `mexc.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;

const TS: i64 = 1_700_000_000_000;

// Section 3a.
#[test]
fn spot_account_example() {
    let query = spot_signed_query("testsecret", &[], TS);
    assert_eq!(
        query,
        "timestamp=1700000000000&recvWindow=5000&signature=\
             cb5c2be01b2379b41bbae5f66b957c30a91151b627b340a524e39358a07c76a5"
    );
}

// Section 3a, the same parameters in the other order: a different signature.
#[test]
fn spot_account_example_other_order() {
    assert_eq!(
        spot_signature("testsecret", "recvWindow=5000&timestamp=1700000000000", ""),
        "8cb8853c05d40eab178f77fce129c8a259dc4f9b10f028a5688db5b6372420be"
    );
}

// Section 3b.
#[test]
fn spot_api_key_info_example() {
    let query = spot_signed_query("testsecret", &[("accessKey", "testkey")], TS);
    assert_eq!(
        query,
        "accessKey=testkey&timestamp=1700000000000&recvWindow=5000&signature=\
             97559849ffdc2a07826842506e0fb32854101bb9cb637c479f599ddae2374f74"
    );
}

// Section 3d: no params, and a path parameter is not signed.
#[test]
fn futures_assets_example() {
    assert_eq!(futures_param_string(&[]), "");
    assert_eq!(
        futures_signature("testkey", "testsecret", TS, ""),
        "d07f4602ba7c6df8710307e9b5c1f37bd220b44415db3e0e4bd447a74193b189"
    );
}

#[test]
fn futures_headers_carry_key_time_and_signature() {
    let credentials = test_credentials("testkey", "testsecret", None);
    let headers = futures_headers(&credentials, TS, &[]).unwrap();
    assert_eq!(headers["apikey"], "testkey");
    assert_eq!(headers["request-time"], "1700000000000");
    assert_eq!(
        headers["signature"],
        "d07f4602ba7c6df8710307e9b5c1f37bd220b44415db3e0e4bd447a74193b189"
    );
    assert_eq!(headers[CONTENT_TYPE], "application/json");
}

// Section 3e: GET params are sorted before signing.
#[test]
fn futures_sorted_params_example() {
    let params = futures_param_string(&[
        ("symbol", "BTC_USDT"),
        ("page_size", "10"),
        ("page_num", "1"),
    ]);
    assert_eq!(params, "page_num=1&page_size=10&symbol=BTC_USDT");
    assert_eq!(
        futures_signature("testkey", "testsecret", TS, &params),
        "fc5d0e4d58e0a6682f5a483dfb0d8d0030a695c3ce7af09c2a74660b8eedff92"
    );
}

// Section 3f: a POST signs the raw JSON body.
#[test]
fn futures_post_example() {
    assert_eq!(
        futures_signature(
            "testkey",
            "testsecret",
            TS,
            r#"{"positionId":1,"leverage":20}"#
        ),
        "a7cab02b7864379cd4b3d6892b767ec1e4822d6f04884caf5d57ba4062eacf77"
    );
}

// Section 3g, the official docs' Example 2 (Example 1's printed value is a doc error).
#[test]
fn official_docs_example_all_in_query() {
    assert_eq!(
        spot_signature(
            "45d0b3c26f2644f19bfb98b07741b2f5",
            "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=11&recvWindow=5000\
                 &timestamp=1644489390087",
            ""
        ),
        "fd3e4e8543c5188531eb7279d68ae7d26a573d0fc5ab0d18eb692451654d837a"
    );
}

// Section 3g, mixed: query and body concatenated with no separator.
#[test]
fn official_docs_example_mixed_query_and_body() {
    let query = "symbol=BTCUSDT&side=BUY&type=LIMIT";
    let body = "quantity=1&price=11&recvWindow=5000&timestamp=1644489390087";
    assert_eq!(
        spot_total_params(query, body),
        "symbol=BTCUSDT&side=BUY&type=LIMITquantity=1&price=11&recvWindow=5000\
             &timestamp=1644489390087"
    );
    assert_eq!(
        spot_signature("45d0b3c26f2644f19bfb98b07741b2f5", query, body),
        "d1a676610ceb39174c8039b3f548357994b2a34139a8addd33baadba65684592"
    );
}

#[test]
fn values_are_encoded_with_uppercase_hex_and_percent_20() {
    assert_eq!(encode_value("a,b c~d"), "a%2Cb%20c~d");
}

#[test]
fn spot_window_follows_the_documented_rule() {
    assert_recv_window_rule(SPEC.clock_window, 5_000);
}

#[test]
fn codes_map_to_meanings() {
    assert_eq!(spot_meaning(700002), Meaning::InvalidKey);
    assert_eq!(spot_meaning(10072), Meaning::InvalidKey);
    assert_eq!(spot_meaning(700003), Meaning::ClockSkew);
    assert_eq!(spot_meaning(700006), Meaning::IpNotAllowed);
    assert_eq!(spot_meaning(700007), Meaning::NoPermission);
    assert_eq!(spot_meaning(429), Meaning::RateLimited);
    assert_eq!(spot_meaning(500), Meaning::Unavailable);
    assert_eq!(futures_meaning(602), Meaning::InvalidKey);
    assert_eq!(futures_meaning(402), Meaning::InvalidKey);
    assert_eq!(futures_meaning(513), Meaning::ClockSkew);
    assert_eq!(futures_meaning(406), Meaning::IpNotAllowed);
    assert_eq!(futures_meaning(510), Meaning::RateLimited);
    assert_eq!(futures_meaning(701), Meaning::NoPermission);
    assert_eq!(futures_meaning(703), Meaning::NoPermission);
    assert_eq!(futures_meaning(401), Meaning::NoPermission);
    assert_eq!(futures_meaning(801), Meaning::Unavailable);
}

fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status: reqwest::StatusCode::from_u16(status).unwrap(),
        headers: HeaderMap::new(),
        body: body.as_bytes().to_vec(),
    }
}

#[test]
fn spot_answers_key_on_the_json_code_not_the_status() {
    let refused = spot_answer(
        &reply(
            200,
            r#"{"code":700002,"msg":"Signature for this request is not valid."}"#,
        ),
        "GET /api/v3/account",
    )
    .unwrap();
    assert_eq!(
        refused,
        Answer::Refused {
            status: 200,
            code: Some(700002),
            msg: "Signature for this request is not valid.".into()
        }
    );
    let refused = spot_answer(&reply(400, r#"{"code":"700006","msg":"x"}"#), "x").unwrap();
    assert!(matches!(
        refused,
        Answer::Refused {
            code: Some(700006),
            ..
        }
    ));
    let ok = spot_answer(&reply(200, r#"{"serverTime":1}"#), "x").unwrap();
    assert!(matches!(ok, Answer::Ok(_)));
    let not_found = spot_answer(&reply(404, "Not Found"), "x").unwrap();
    assert!(matches!(
        not_found,
        Answer::Refused {
            status: 404,
            code: None,
            ..
        }
    ));
    // Maintenance page: 5xx is unavailable before any code is read.
    let down = spot_answer(
        &reply(
            503,
            r#"{"code":500,"message":"Under maintenance, please try again later"}"#,
        ),
        "x",
    )
    .unwrap_err();
    assert_eq!(down.kind, crate::exchange::ProblemKind::Unavailable);
    // Truncated JSON with HTTP 200 is unavailable, not a key fault.
    let garbage = spot_answer(&reply(200, r#"{"code":"200000","data":{"#), "x").unwrap_err();
    assert_eq!(garbage.kind, crate::exchange::ProblemKind::Unavailable);
}

#[test]
fn futures_answers_read_success_and_code() {
    let refused = futures_answer(
        &reply(200, r#"{"success":false,"code":701,"message":"no"}"#),
        "x",
    )
    .unwrap();
    assert!(matches!(
        refused,
        Answer::Refused {
            code: Some(701),
            ..
        }
    ));
    let ok = futures_answer(&reply(200, r#"{"success":true,"code":0,"data":5}"#), "x").unwrap();
    assert_eq!(ok, Answer::Ok(Value::from(5)));
    // Older docs omit `code` on success.
    let ok = futures_answer(&reply(200, r#"{"success":true,"data":5}"#), "x").unwrap();
    assert_eq!(ok, Answer::Ok(Value::from(5)));
}

#[test]
fn key_info_accepts_the_fixture_and_array_shapes() {
    let fixture: Value = serde_json::from_str(
            r#"{"note":"keywarden-test","accessKey":"mx0npKfh57kEEVmyLa",
            "createTime":"2026-09-14T18:53:36.000+00:00",
            "permissions":"CONTRACT_ACCOUNT_READ,CONTRACT_DEAL_READ,SPOT_ACCOUNT_READ,SPOT_DEAL_WRITE,SPOT_DEAL_READ",
            "remainingValidity":82,"ipWhiteList":"","status":"VALID"}"#,
        )
        .unwrap();
    let info = KeyInfo::parse(&fixture).unwrap();
    assert!(info.has("SPOT_DEAL_WRITE"));
    assert!(!info.has("SPOT_WITHDRAW_WRITE"));
    assert!(info.ip_whitelist.is_empty());
    assert_eq!(info.remaining_validity_days, Some(82.0));
    // a reply's count is untrusted: clamped, never an overflow (issue 19)
    for (validity, latest) in [
        (serde_json::json!(1.5e300), true),
        (serde_json::json!(i64::MAX), true),
        (serde_json::json!("1e308"), true),
        (serde_json::json!(-5), false),
    ] {
        let mut unbound = fixture.clone();
        unbound["remainingValidity"] = validity.clone();
        let mut facts = Facts::default();
        let before = Utc::now();
        Mexc::new(HttpClient::new(std::time::Duration::from_secs(1)))
            .apply_key_info(&KeyInfo::parse(&unbound).unwrap(), &mut facts);
        let at = facts.expires_at.expect("an expiry");
        if latest {
            assert_eq!(at, expiry::latest(), "{validity}");
        } else {
            assert!(at >= before && at <= Utc::now(), "{validity}: {at}");
        }
    }

    let arrays: Value = serde_json::from_str(
        r#"{"permissions":["SPOT_WITHDRAW_WRITE"],"ipWhiteList":["1.2.3.4"]}"#,
    )
    .unwrap();
    let info = KeyInfo::parse(&arrays).unwrap();
    assert!(info.has("SPOT_WITHDRAW_WRITE"));
    assert_eq!(info.ip_whitelist, vec!["1.2.3.4".to_string()]);

    assert_eq!(KeyInfo::parse(&serde_json::json!({"foo": 1})), None);
}
