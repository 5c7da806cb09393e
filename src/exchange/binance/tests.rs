//! Unit tests of `binance.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use crate::exchange::ProblemKind;
use std::time::Duration;

fn kind_of(result: Result<Answer, Problem>) -> Option<ProblemKind> {
    result.err().map(|p| p.kind)
}

const TS: i64 = 1_700_000_000_000;

// §3a, the official example: all parameters in the query.
#[test]
fn official_example_query_only() {
    let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1\
                     &recvWindow=5000&timestamp=1499827319559";
    assert_eq!(
        signature(secret, query, ""),
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    );
    // Body only: the same string, the same signature.
    assert_eq!(
        signature(secret, "", query),
        "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    );
    // Built pair by pair in that order, the query is the same bytes.
    let built = signed_query(
        secret,
        &[
            ("symbol", "LTCBTC"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "0.1"),
            ("recvWindow", "5000"),
            ("timestamp", "1499827319559"),
        ],
    );
    assert_eq!(
        built,
        format!(
            "{query}&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        )
    );
}

// §3a, mixed query and body: concatenated with no separator.
#[test]
fn official_example_mixed_query_and_body() {
    let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
    let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC";
    let body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
    assert_eq!(
        total_params(query, body),
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1\
             &recvWindow=5000&timestamp=1499827319559"
    );
    assert_eq!(
        signature(secret, query, body),
        "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    );
}

// §3b, minimal apiRestrictions request (no recvWindow), with the full request line.
#[test]
fn api_restrictions_minimal_example() {
    let query = signed_query("testsecret", &[("timestamp", "1700000000000")]);
    assert_eq!(
        query,
        "timestamp=1700000000000&signature=\
             dd273985d88b32eaeeb19cafcc2dbaa9ac658e274cd4095d474395560c4b09b7"
    );
    assert_eq!(
        signed_url(SPEC.global().spot_host, PATH_API_RESTRICTIONS, &query),
        "https://api.binance.com/sapi/v1/account/apiRestrictions?timestamp=1700000000000\
             &signature=dd273985d88b32eaeeb19cafcc2dbaa9ac658e274cd4095d474395560c4b09b7"
    );
    let headers = key_headers(&test_credentials("testkey", "testsecret", None)).unwrap();
    assert_key_header_only(&headers, KEY_HEADER, "testkey");
}

// §3b, what ccxt sends (recvWindow=10000 after timestamp), as a full URL.
#[test]
fn api_restrictions_ccxt_example() {
    let query = signed_query(
        "testsecret",
        &[("timestamp", "1700000000000"), ("recvWindow", "10000")],
    );
    assert_eq!(
        signed_url(SPEC.global().spot_host, PATH_API_RESTRICTIONS, &query),
        "https://api.binance.com/sapi/v1/account/apiRestrictions?timestamp=1700000000000\
             &recvWindow=10000&signature=\
             8e4b66ac13b25a40ae878a403212a27fe7c52814c8a360208aaeef2525e77612"
    );
}

// §3b, order matters: our own query (timestamp, then recvWindow=5000) and the reverse.
#[test]
fn order_matters_example() {
    assert_eq!(
        probe_query("testsecret", &[], TS),
        "timestamp=1700000000000&recvWindow=5000&signature=\
             cb5c2be01b2379b41bbae5f66b957c30a91151b627b340a524e39358a07c76a5"
    );
    assert_eq!(
        signature("testsecret", "recvWindow=5000&timestamp=1700000000000", ""),
        "8cb8853c05d40eab178f77fce129c8a259dc4f9b10f028a5688db5b6372420be"
    );
}

// §3b, the balance read as ccxt sends it.
#[test]
fn balance_example() {
    let query = signed_query(
        "testsecret",
        &[
            ("timestamp", "1700000000000"),
            ("omitZeroBalances", "true"),
            ("recvWindow", "10000"),
        ],
    );
    assert_eq!(
        signed_url(SPEC.global().spot_host, PATH_ACCOUNT, &query),
        "https://api.binance.com/api/v3/account?timestamp=1700000000000\
             &omitZeroBalances=true&recvWindow=10000&signature=\
             61a0cbae9c5c6c0057dbd9818e27804e437439bd8864a24ff02de2668434369c"
    );
}

// §3b, futures: the path is not signed, so the signature equals the apiRestrictions one.
#[test]
fn futures_balance_example() {
    let query = signed_query(
        "testsecret",
        &[("timestamp", "1700000000000"), ("recvWindow", "10000")],
    );
    let url = signed_url(SPEC.global().futures_host, PATH_FUTURES_BALANCE, &query);
    assert!(url.starts_with(
        "https://fapi.binance.com/fapi/v3/balance?timestamp=1700000000000&recvWindow=10000\
             &signature=8e4b66ac"
    ));
    assert!(url.ends_with("7612"));
    // A proxy prefix in the base is not part of what is signed.
    let prefixed = signed_url("http://127.0.0.1:9/binance", PATH_FUTURES_BALANCE, &query);
    assert!(prefixed.ends_with(&query));
}

#[test]
fn probe_query_puts_params_between_timestamp_and_recv_window() {
    let query = probe_query("testsecret", &[("omitZeroBalances", "true")], TS);
    assert!(query
        .starts_with("timestamp=1700000000000&omitZeroBalances=true&recvWindow=5000&signature="));
    assert_eq!(encode_value("a b,c~"), "a%20b%2Cc~");
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_quoting_it() {
    let bad = test_credentials("bad\nkey", "s", None);
    assert_refused_without_quoting(key_headers(&bad), "bad");
}

#[test]
fn window_follows_the_documented_rule() {
    assert_recv_window_rule(SPEC.clock_window, RECV_WINDOW_MS);
    assert_skew_wording(
        |offset| SPEC.skew_problem_of_clock("GET /api/v3/time", "server clock", offset),
        999,
        2_000,
    );
}

use crate::exchange::http::test_reply as reply;

#[test]
fn codes_map_to_meanings() {
    assert_eq!(meaning(-2008, ""), Meaning::InvalidKey);
    assert_eq!(meaning(-2014, ""), Meaning::InvalidKey);
    assert_eq!(meaning(-1022, ""), Meaning::InvalidKey);
    assert_eq!(meaning(-2015, ""), Meaning::Ambiguous);
    assert_eq!(meaning(-1002, ""), Meaning::Ambiguous);
    assert_eq!(meaning(-1021, ""), Meaning::ClockSkew);
    assert_eq!(meaning(-1003, ""), Meaning::RateLimited);
    assert_eq!(meaning(-1001, ""), Meaning::Unavailable);
    assert_eq!(meaning(-1102, ""), Meaning::Unavailable);
    assert_eq!(
        meaning(0, "Service unavailable from a restricted location"),
        Meaning::RestrictedLocation
    );
    assert_eq!(
        refusal_meaning(451, None, "<html>"),
        Some(Meaning::RestrictedLocation)
    );
    assert_eq!(refusal_meaning(404, None, "<html>"), None);
}

#[test]
fn answers_key_on_the_json_code_not_the_status() {
    let msg = "Signature for this request is not valid.";
    for status in [400, 401, 200] {
        let r = reply(status, &[], &format!(r#"{{"code":-1022,"msg":"{msg}"}}"#));
        assert_eq!(
            read_answer(&r, "x").unwrap(),
            Answer::Refused {
                status,
                code: Some(-1022),
                msg: msg.into()
            }
        );
    }
    let r = reply(401, &[], r#"{"code":"-2015","msg":"m"}"#);
    assert!(matches!(
        read_answer(&r, "x").unwrap(),
        Answer::Refused {
            code: Some(-2015),
            ..
        }
    ));
    let ok = read_answer(&reply(200, &[], r#"{"serverTime":1}"#), "x").unwrap();
    assert!(matches!(ok, Answer::Ok(_)));
    let ok = read_answer(&reply(200, &[], r#"[{"asset":"USDT"}]"#), "x").unwrap();
    assert!(matches!(ok, Answer::Ok(Value::Array(_))));
    let not_found = read_answer(&reply(404, &[], "Not Found"), "x").unwrap();
    assert!(matches!(
        not_found,
        Answer::Refused {
            status: 404,
            code: None,
            ..
        }
    ));
}

#[test]
fn outages_garbage_and_throttling_are_problems() {
    let down = read_answer(
            &reply(
                503,
                &[],
                r#"{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}"#,
            ),
            "GET /api/v3/account",
        )
        .unwrap_err();
    assert_eq!(down.kind, ProblemKind::Unavailable);
    assert!(
        down.message
            .starts_with("GET /api/v3/account: HTTP 503: code -1001 Internal error"),
        "{}",
        down.message
    );
    assert_eq!(
        kind_of(read_answer(&reply(200, &[], r#"{"ipRestrict":tr"#), "x")),
        Some(ProblemKind::Unavailable)
    );
    assert_eq!(
        kind_of(read_answer(
            &reply(
                403,
                &[("content-type", "text/html")],
                "<html>blocked</html>"
            ),
            "x"
        )),
        Some(ProblemKind::Unavailable)
    );
    let limited = read_answer(
        &reply(
            429,
            &[("retry-after", "7")],
            r#"{"code":-1003,"msg":"Too much request weight used"}"#,
        ),
        "x",
    )
    .unwrap_err();
    assert_rate_limited(&limited, Some(Duration::from_secs(7)), "code -1003");
    let banned = read_answer(
            &reply(
                418,
                &[("retry-after", "120")],
                r#"{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000060000."}"#,
            ),
            "x",
        )
        .unwrap_err();
    assert_rate_limited(&banned, Some(Duration::from_secs(120)), "IP banned");
}

#[test]
fn maintenance_status_is_unavailable() {
    let ok: Value = serde_json::json!({"status": 0, "msg": "normal"});
    assert!(status_problem(&ok, "x").is_none());
    let down: Value = serde_json::json!({"status": 1, "msg": "system_maintenance"});
    let p = status_problem(&down, "GET /sapi/v1/system/status").unwrap();
    assert_eq!(p.kind, ProblemKind::Unavailable);
    assert_eq!(
        p.message,
        "GET /sapi/v1/system/status: Binance system status 1 system_maintenance"
    );
    assert!(status_problem(&serde_json::json!({}), "x").is_some());
}

#[test]
fn restrictions_from_the_documented_reply() {
    let body: Value = serde_json::from_str(
            r#"{"ipRestrict": false, "createTime": 1698645219000, "enableReading": true,
            "enableSpotAndMarginTrading": false, "enableWithdrawals": false,
            "enableInternalTransfer": false, "enableMargin": false, "enableFutures": false,
            "permitsUniversalTransfer": false, "enableVanillaOptions": false,
            "enablePortfolioMarginTrading": true, "tradingAuthorityExpirationTime": 1628985600000}"#,
        )
        .unwrap();
    let r = Restrictions::parse(&body).unwrap();
    let facts = facts_from(|f| r.apply(f, TS));
    assert_key_facts(
        &facts,
        [Some(true), Some(false), Some(false), Some(false)],
        Some(false),
        Utc.timestamp_millis_opt(1_628_985_600_000).single(),
    );
}

#[test]
fn a_lapsed_trading_authority_means_no_trade() {
    let body = serde_json::json!({
        "ipRestrict": false, "enableReading": true, "enableSpotAndMarginTrading": true,
        "enableWithdrawals": false, "enableFutures": true,
        "enableInternalTransfer": true, "tradingAuthorityExpirationTime": TS - 1
    });
    let facts = facts_from(|f| Restrictions::parse(&body).unwrap().apply(f, TS));
    assert_eq!(facts.permissions.trade, Some(false));
    assert_noted(&facts, "lapsed");
    assert_noted(&facts, "internal transfer");
    // Not lapsed yet: still a trade right, the date is the expiry.
    let body = serde_json::json!({
        "ipRestrict": false, "enableReading": true, "enableSpotAndMarginTrading": true,
        "enableWithdrawals": false, "enableFutures": true,
        "tradingAuthorityExpirationTime": TS + 86_400_000
    });
    let facts = facts_from(|f| Restrictions::parse(&body).unwrap().apply(f, TS));
    assert_eq!(facts.permissions.trade, Some(true));
    assert!(facts.expires_at.is_some());
}

#[test]
fn restrictions_are_read_tolerantly() {
    // Strings for booleans; a missing flag is unknown, with a note.
    let body = serde_json::json!({
        "ipRestrict": "true", "enableReading": true, "enableWithdrawals": "false",
        "enableFixApiTrade": true
    });
    let facts = facts_from(|f| Restrictions::parse(&body).unwrap().apply(f, TS));
    assert_eq!(facts.ip_restricted, Some(true));
    assert_eq!(facts.permissions.withdraw, Some(false));
    assert_eq!(facts.permissions.trade, None);
    assert_eq!(facts.permissions.futures, None);
    assert_noted(&facts, "enableSpotAndMarginTrading, enableFutures");
    assert_eq!(Restrictions::parse(&serde_json::json!({"foo": 1})), None);
    assert_eq!(Restrictions::parse(&serde_json::json!([])), None);
}
