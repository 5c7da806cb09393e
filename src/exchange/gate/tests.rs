//! Unit tests of `gate.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::http::test_credentials;
use crate::exchange::test_support::*;
use serde_json::json;

const TS: &str = "1700000000";

fn creds(key: &str, secret: &str) -> Credentials {
    test_credentials(key, secret, None)
}

// §2: the body hash of every GET.
#[test]
fn empty_body_hash_is_sha512_of_nothing() {
    assert_eq!(body_hash(b""), EMPTY_BODY_SHA512);
    assert_eq!(timestamp_header(1_700_000_000_000), TS);
    assert_eq!(timestamp_header(1_700_000_000_999), TS);
}

/// Worked example 3a: `GET /api/v4/account/detail` with no query and no body, at [`TS`].
const ACCOUNT_DETAIL_3A: SignedParts = SignedParts {
    method: "GET",
    path: "/api/v4/account/detail",
    query: "",
    body: b"",
    timestamp: TS,
};

// §3a, with the signature string and the header set.
#[test]
fn worked_example_3a_account_detail() {
    assert_eq!(
        ACCOUNT_DETAIL_3A.signature_string(),
        format!("GET\n/api/v4/account/detail\n\n{EMPTY_BODY_SHA512}\n1700000000")
    );
    let sign_3a = "36948941e0e3da66275b97186e291a6b05c438404ccc26f1f78e28d8b2cb5842\
                       d69950586c2ebb4fc5a1a0bdd57d1351df5c09610768032df7001acd02652656";
    assert_eq!(ACCOUNT_DETAIL_3A.sign("testsecret"), sign_3a);
    let docs_key = creds("testkey", "testsecret");
    let values = auth_header_values(&docs_key, &ACCOUNT_DETAIL_3A);
    assert_eq!(
        values,
        [
            ("KEY", "testkey".to_string()),
            ("Timestamp", TS.to_string()),
            ("SIGN", sign_3a.to_string()),
        ]
    );
    let map = auth_headers(&docs_key, &ACCOUNT_DETAIL_3A).unwrap();
    assert_eq!(map["SIGN"], sign_3a);
    assert!(map["KEY"].is_sensitive());
    assert_eq!(map[CONTENT_TYPE], "application/json");
}

// §3b.
#[test]
fn worked_examples_3b_other_calls() {
    let cases = [
        (
            "/api/v4/account/main_keys",
            "",
            "1965d3b1409b37146b77bf1ec251f148a4c3ff1624a0a6eca4809b81338a28ce\
                 34bd04d104935afb0120723db33bd11c2bd1d6b06265f1701e578878d212101b",
        ),
        (
            "/api/v4/spot/accounts",
            "",
            "832dd664b81117b6fa3ea7c4db27b309f34276dad6856329ff9b264755556185\
                 4f10334ea4d66257d105b8e96671353e3e5a1ffeeaedfe6f0c0e378a2d029051",
        ),
        (
            "/api/v4/spot/accounts",
            "currency=USDT",
            "cd1cd4a806377879cb95f0223dd9f6214ad1e65e5f7501b5eca04c3698c533c1\
                 0faa347c020b1308e5c61b40fc981ce7de0fcf8c2522bbf95bd8c4857a267b3d",
        ),
        (
            "/api/v4/futures/usdt/accounts",
            "",
            "1a51d17b8edfd5288b77376ec1ff0ef24f7a89720e75ad1449682cfee8ad8af5\
                 4ad26c25263ccce522139a67465477da0f0b6f8c10a93e5250e8718a5a4a675f",
        ),
    ];
    for (path, query, want) in cases {
        assert_eq!(
            SignedParts::get(path, query, TS).sign("testsecret"),
            want,
            "{path}?{query}"
        );
    }
}

// §3c, the official docs' GET: the query is signed in wire order, not sorted.
#[test]
fn official_docs_example_get_with_query() {
    assert_eq!(
        SignedParts::get(
            "/api/v4/futures/orders",
            "contract=BTC_USD&status=finished&limit=50",
            "1541993715"
        )
        .sign("secret"),
        "55f84ea195d6fe57ce62464daaa7c3c02fa9d1dde954e4c898289c9a2407a3d6\
             fb3faf24deff16790d726b66ac9f74526668b13bd01029199cc4fcc522418b8a"
    );
}

// §3c, the official docs' POST: the body is hashed.
#[test]
fn official_docs_example_post_with_body() {
    let body =
        br#"{"contract":"BTC_USD","type":"limit","size":100,"price":6800,"time_in_force":"gtc"}"#;
    assert_eq!(
        body_hash(body),
        "ad3c169203dc3026558f01b4df307641fa1fa361f086b2306658886d5708767b\
             1854797c68d9e62fef2f991645aa82673622ebf417e091d0bd22bafe5d956cca"
    );
    assert_eq!(
        SignedParts {
            method: "post",
            path: "/api/v4/futures/orders",
            query: "",
            body,
            timestamp: "1541993715",
        }
        .sign("secret"),
        "eae42da914a590ddf727473aff25fc87d50b64783941061f47a3fdb92742541f\
             c4c2c14017581b4199a1418d54471c269c03a38d788d802e2c306c37636389f0"
    );
}

#[test]
fn a_key_that_cannot_be_a_header_is_refused_without_quoting_it() {
    let refused = auth_headers(&creds("bad\nkey", "s"), &SignedParts::get("/x", "", TS));
    assert_refused_without_quoting(refused, "bad");
}

use crate::exchange::http::{assert_unavailable, test_reply as reply};

fn problem_of(r: &Reply) -> Problem {
    match read_reply(r, "GET /api/v4/spot/accounts") {
        Outcome::Problem(p) => p,
        other => panic!("expected a problem, got {other:?}"),
    }
}

#[test]
fn labels_map_to_problems_whatever_the_http_status() {
    let cases = [
        (401, "INVALID_KEY", ProblemKind::InvalidKey),
        (401, "INVALID_SIGNATURE", ProblemKind::InvalidKey),
        (401, "MISSING_REQUIRED_HEADER", ProblemKind::InvalidKey),
        (403, "ACCOUNT_LOCKED", ProblemKind::InvalidKey),
        (401, "REQUEST_EXPIRED", ProblemKind::ClockSkew),
        (401, "IP_FORBIDDEN", ProblemKind::IpNotAllowed),
        (400, "TOO_FAST", ProblemKind::RateLimited),
        (200, "TOO_MANY_REQUESTS", ProblemKind::RateLimited),
        (400, "SERVER_ERROR", ProblemKind::Unavailable),
        (400, "SOMETHING_NEW", ProblemKind::Unavailable),
    ];
    for (status, label, kind) in cases {
        let r = reply(
            status,
            &[],
            &format!(r#"{{"label":"{label}","message":"words"}}"#),
        );
        let p = problem_of(&r);
        assert_eq!(p.kind, kind, "{label}");
        assert!(
            p.message
                .starts_with(&format!("GET /api/v4/spot/accounts: label {label} words")),
            "{}",
            p.message
        );
    }
}

#[test]
fn forbidden_is_a_fact_with_401_or_403_and_detail_is_read_too() {
    for status in [401, 403] {
        let r = reply(
            status,
            &[],
            r#"{"label":"FORBIDDEN","message":"Account has no permission to request operation"}"#,
        );
        assert!(matches!(read_reply(&r, "x"), Outcome::Denied(s) if s.contains("FORBIDDEN")));
    }
    let r = reply(
        400,
        &[],
        r#"{"label":"READ_ONLY","detail":"API key is read-only"}"#,
    );
    assert!(
        matches!(read_reply(&r, "x"), Outcome::Denied(s) if s == "x: label READ_ONLY API key is read-only")
    );
}

#[test]
fn ip_refusal_names_the_ip() {
    let r = reply(
        401,
        &[],
        r#"{"label":"IP_FORBIDDEN","message":"Request IP not in whitelist: 142.163.85.117"}"#,
    );
    assert_ip_refused(&problem_of(&r), Some("142.163.85.117"));
}

#[test]
fn rate_limit_prefers_retry_after_then_the_reset_timestamp() {
    let body = r#"{"label":"TOO_MANY_REQUESTS","message":"Request Rate limit Exceeded"}"#;
    let r = reply(429, &[("retry-after", "7")], body);
    assert_rate_limited(
        &problem_of(&r),
        Some(Duration::from_secs(7)),
        "label TOO_MANY_REQUESTS",
    );
    let reset = (now_ms() / 1000 + 30).to_string();
    let r = reply(429, &[("x-gate-ratelimit-reset-timestamp", &reset)], body);
    let wait = problem_of(&r).retry_after.unwrap();
    assert!(wait >= Duration::from_secs(29) && wait <= Duration::from_secs(30));
}

#[test]
fn garbage_outages_and_missing_endpoints() {
    assert_unavailable(
        [
            reply(200, &[], r#"[{"currency":"USDT","avail"#),
            reply(
                503,
                &[],
                r#"{"label":"SERVER_ERROR","message":"maintenance"}"#,
            ),
        ],
        problem_of,
    );
    let p = problem_of(&reply(503, &[], r#"{"label":"TOO_BUSY","message":"busy"}"#));
    assert_eq!(
        p.message,
        "GET /api/v4/spot/accounts: HTTP 503, label TOO_BUSY busy"
    );
    assert!(matches!(
        read_reply(&reply(404, &[], "Not Found"), "x"),
        Outcome::Missing(s) if s == "x: HTTP 404 Not Found"
    ));
    assert!(matches!(
        read_reply(&reply(200, &[], r#"[{"currency":"USDT"}]"#), "x"),
        Outcome::Ok(Value::Array(_))
    ));
}

#[test]
fn clock_offset_and_the_60_second_window() {
    assert_skew_wording(
        |o| SPEC.skew_problem(&format!("GET {PATH_TIME}"), o),
        60_000,
        61_000,
    );
    assert_eq!(
        server_time(&json!({"server_time": 1731447921098_i64})),
        Some(1731447921098)
    );
    assert_eq!(server_time(&json!({"server_time": "5"})), Some(5));
    assert_eq!(server_time(&json!({})), None);
}

fn sdk_example() -> Value {
    json!({
        "state": 1, "mode": 1, "name": ["keywarden-probe"], "currency_pairs": [],
        "user_id": 10406147, "ip_whitelist": ["203.0.113.7"],
        "perms": [
            {"name": "spot", "read_only": false},
            {"name": "futures", "read_only": true},
            {"name": "wallet", "read_only": true},
            {"name": "account", "read_only": true}
        ],
        "key": {"mode": 1},
        "created_at": "1700000000", "updated_at": "1700000000", "last_access": "1700000000"
    })
}

#[test]
fn key_info_from_the_sdk_example() {
    let info = found(&sdk_example(), "k");
    let facts = facts_from(|f| info.apply(f, Utc::now()));
    assert_key_facts(
        &facts,
        [Some(true), Some(true), None, Some(false)],
        Some(true),
        None,
    );
    assert_noted(&facts, "read-only");
    assert_noted(&facts, "withdraw right not visible");
}

#[test]
fn a_withdrawal_entry_is_read_under_either_name() {
    for (name, read_only, want) in [
        ("withdrawal", false, Some(true)),
        ("withdraw", false, Some(true)),
        ("Withdrawal", true, Some(false)),
    ] {
        let mut body = sdk_example();
        body["perms"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": name, "read_only": read_only}));
        let facts = facts_from(|f| found(&body, "k").apply(f, Utc::now()));
        assert_eq!(facts.permissions.withdraw, want, "{name}");
    }
}

#[test]
fn unbound_keys_expire_ninety_days_after_creation() {
    let mut body = sdk_example();
    body["ip_whitelist"] = json!([]);
    body["created_at"] = json!(1_700_000_000);
    let now = Utc.timestamp_opt(1_700_000_000 + 86_400, 0).unwrap();
    let facts = facts_from(|f| found(&body, "k").apply(f, now));
    assert_eq!(facts.ip_restricted, Some(false));
    assert_eq!(
        facts.expires_at,
        Some(Utc.timestamp_opt(1_700_000_000 + 90 * 86_400, 0).unwrap())
    );
    body["created_at"] = Value::Null;
    let facts = facts_from(|f| found(&body, "k").apply(f, now));
    assert_eq!(facts.expires_at, None);
    assert!(facts.notes.iter().any(|n| n.starts_with("expiry unknown")));
    // a creation date at the end of chrono's range: clamped, never an overflow (issue 19)
    body["created_at"] = json!(8_210_266_876_799_i64);
    let facts = facts_from(|f| found(&body, "k").apply(f, now));
    assert_eq!(facts.expires_at, Some(expiry::latest()));
}

/// The entry `KeyLookup` finds for `key`; panics when it finds none.
fn found(body: &Value, key: &str) -> KeyInfo {
    match KeyLookup::from_body(body, key) {
        KeyLookup::Found(info) => info,
        other => panic!("no entry found: {other:?}"),
    }
}

#[test]
fn key_info_tolerates_an_array_and_unified_mode() {
    let mut mine = sdk_example();
    mine["key"] = json!("mykey");
    mine["perms"] = json!([{"name": "unified", "read_only": false}]);
    mine["mode"] = json!(2);
    let other = json!({"key": "other", "perms": []});
    let info = found(&json!([other.clone(), mine]), "mykey");
    let facts = facts_from(|f| info.apply(f, Utc::now()));
    assert_eq!(facts.permissions.trade, Some(true));
    assert_eq!(facts.permissions.futures, Some(false));
    // Several entries, none of them ours.
    assert_eq!(
        KeyLookup::from_body(&json!([other.clone(), other]), "mykey"),
        KeyLookup::NotListed
    );
    assert_eq!(
        KeyLookup::from_body(&json!({"user_id": 1}), "k"),
        KeyLookup::Unreadable
    );
    assert_eq!(
        KeyLookup::from_body(&json!("x"), "k"),
        KeyLookup::Unreadable
    );
    // Two entries naming no key: which one is ours cannot be read.
    let anonymous = json!({"perms": []});
    assert_eq!(
        KeyLookup::from_body(&json!([anonymous.clone(), anonymous]), "k"),
        KeyLookup::Unreadable
    );
}

#[test]
fn masked_keys_are_matched_by_their_visible_head() {
    // Gate shows keys masked (issue 18): the visible head, then asterisks.
    assert!(shown_key_matches(
        "c5dcfbf1f3a7*****",
        "c5dcfbf1f3a7d0e9b1c2"
    ));
    assert!(!shown_key_matches(
        "c5dcfbf1f3a7*****",
        "c5dcfbf1f3a8d0e9b1c2"
    ));
    assert!(shown_key_matches(
        "c5dcfbf1f3a7d0e9b1c2",
        "c5dcfbf1f3a7d0e9b1c2"
    ));
    assert!(!shown_key_matches("c5dcfbf1f3a7d0e9b1c2", "c5dcfbf1f3a7"));
    // All asterisks, or asterisks inside the head: nothing to match on.
    assert!(!shown_key_matches("*****", "c5dc"));
    assert!(!shown_key_matches("c5*d*", "c5xdy"));

    let entry = |shown: &str, spot_writes: bool| {
        json!({"key": shown, "mode": 1, "ip_whitelist": ["203.0.113.7"],
               "perms": [{"name": "spot", "read_only": !spot_writes}]})
    };
    let three = json!([
        entry("aaaa1111bbbb*****", false),
        entry("c5dcfbf1f3a7*****", true),
        entry("ffff0000eeee*****", false),
    ]);
    let info = found(&three, "c5dcfbf1f3a7d0e9b1c2d3e4f5a6b7c8");
    let facts = facts_from(|f| info.apply(f, Utc::now()));
    assert_eq!(facts.permissions.trade, Some(true));
    // The single-object shape names its key too, and it must be this one.
    let single = entry("c5dcfbf1f3a7*****", true);
    assert!(matches!(
        KeyLookup::from_body(&single, "c5dcfbf1f3a7d0e9"),
        KeyLookup::Found(_)
    ));
    assert_eq!(
        KeyLookup::from_body(&single, "aaaa1111bbbb2222"),
        KeyLookup::NotListed
    );
    // Two heads alike: ambiguous, never the first one's rights.
    let twins = json!([
        entry("c5dcfbf1f3a7*****", true),
        entry("c5dcfbf1f3a7*****", false),
    ]);
    assert_eq!(
        KeyLookup::from_body(&twins, "c5dcfbf1f3a7d0e9"),
        KeyLookup::Ambiguous(2)
    );
}
