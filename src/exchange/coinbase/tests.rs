//! Unit tests of `coinbase.rs`: its docs' worked examples, its codes and its reply shapes.

use super::*;
use crate::exchange::test_support::*;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::VerifyingKey;
use serde_json::json;
use std::time::Duration;

const KID: &str = "organizations/org-uuid/apiKeys/key-uuid";
const NONCE: &str = "a94de4790aa757442e0b8f80aea75bfb";
const NOW_S: i64 = 1_700_000_000;

/// A throw-away P-256 key (a fixed scalar), as the SEC1 PEM the CDP portal hands out.
fn test_pem() -> String {
    let secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    secret
        .to_sec1_pem(p256::pkcs8::LineEnding::LF)
        .unwrap()
        .to_string()
}

// §3.1: the header, byte for byte.
#[test]
fn worked_example_3_1_header() {
    assert_eq!(
        jwt_header(KID, NONCE),
        r#"{"alg":"ES256","typ":"JWT","kid":"organizations/org-uuid/apiKeys/key-uuid","nonce":"a94de4790aa757442e0b8f80aea75bfb"}"#
    );
}

// §3.1: the claims, byte for byte.
#[test]
fn worked_example_3_1_claims() {
    let uri = uri_claim("GET", SIGNED_HOST, PATH_KEY_PERMISSIONS);
    assert_eq!(uri, "GET api.coinbase.com/api/v3/brokerage/key_permissions");
    assert_eq!(
        jwt_claims(KID, NOW_S, &uri),
        r#"{"aud":["retail_rest_api_proxy"],"iss":"coinbase-cloud","nbf":1700000000,"exp":1700000120,"sub":"organizations/org-uuid/apiKeys/key-uuid","iat":1700000000,"uri":"GET api.coinbase.com/api/v3/brokerage/key_permissions"}"#
    );
}

// §3.1: the query is not part of the uri claim.
#[test]
fn worked_example_3_1_accounts_query_is_dropped() {
    assert_eq!(
        uri_claim("get", SIGNED_HOST, "/api/v3/brokerage/accounts?limit=250"),
        "GET api.coinbase.com/api/v3/brokerage/accounts"
    );
}

/// The token for the worked example's request, `GET /api/v3/brokerage/accounts?limit=250`.
fn accounts_token(key: &CdpKey) -> String {
    let path_and_query = "/api/v3/brokerage/accounts?limit=250";
    jwt(key, KID, NONCE, NOW_S, "GET", path_and_query)
}

/// The P-256 key inside a parsed secret that must be an ECDSA key.
fn ecdsa(key: CdpKey) -> p256::ecdsa::SigningKey {
    match key {
        CdpKey::Ecdsa(key) => key,
        other => panic!("expected an ECDSA key, got {other:?}"),
    }
}

// §3.1: the layout of the token; ECDSA is randomized (or RFC 6979), so the signature is
// checked by verifying it with the public key, as Coinbase does.
#[test]
fn worked_example_3_1_token_verifies_with_the_public_key() {
    let key = signing_key(&test_pem()).unwrap();
    assert_eq!(key.algorithm(), "ES256");
    let token = accounts_token(&key);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = BASE64URL.decode(parts[0]).unwrap();
    assert_eq!(header, jwt_header(KID, NONCE).as_bytes());
    let claims: Value = serde_json::from_slice(&BASE64URL.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(
        claims["uri"],
        "GET api.coinbase.com/api/v3/brokerage/accounts"
    );
    assert_eq!(claims["exp"], 1_700_000_120);
    let raw = BASE64URL.decode(parts[2]).unwrap();
    assert_eq!(raw.len(), 64, "raw r||s, not DER");
    assert!(!parts[2].contains('='), "no padding");
    let signature = Signature::from_slice(&raw).unwrap();
    let public = VerifyingKey::from(&ecdsa(key));
    public
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .unwrap();
    assert!(public
        .verify(format!("{}.{}x", parts[0], parts[1]).as_bytes(), &signature)
        .is_err());
}

// §3.2: the legacy HMAC scheme.
#[test]
fn worked_example_3_2_legacy_hmac() {
    assert_eq!(
        legacy_hmac_signature("testsecret", NOW_S, "GET", PATH_KEY_PERMISSIONS, ""),
        "d0a3a07121147781ee7a58a5438bfa309a3186594361903f355af45346e7a77c"
    );
}

#[test]
fn pem_with_literal_newline_escapes_or_pkcs8_is_accepted() {
    let pem = test_pem();
    let escaped = format!("\"{}\"", pem.replace('\n', "\\n"));
    let a = VerifyingKey::from(&ecdsa(signing_key(&pem).unwrap()));
    let b = VerifyingKey::from(&ecdsa(signing_key(&escaped).unwrap()));
    assert_eq!(a, b);
    use p256::pkcs8::EncodePrivateKey as _;
    let pkcs8 = p256::SecretKey::from_slice(&[7u8; 32])
        .unwrap()
        .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
        .unwrap();
    assert_eq!(a, VerifyingKey::from(&ecdsa(signing_key(&pkcs8).unwrap())));
}

#[test]
fn a_secret_that_is_not_a_pem_is_an_invalid_key_and_is_not_quoted() {
    let err = signing_key("testsecret-0123456789").unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidKey);
    assert!(!err.message.contains("testsecret"));
    assert_says(
        &err,
        &[
            "neither a PEM nor base64",
            "EC P-256 private key",
            "Ed25519",
        ],
    );
}

// ----- Ed25519 keys ---------------------------------------------------------------------------

/// RFC 8032 §7.1 TEST 1: the seed, its public key and its signature of the empty message.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_SIGNATURE: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

/// The RFC's key as the CDP portal shows an Ed25519 secret: base64 of seed then public key.
const ED25519_SECRET_64: &str =
    "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg==";
/// The same key's seed alone, base64.
const ED25519_SECRET_32: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

fn ed25519(key: CdpKey) -> ed25519_dalek::SigningKey {
    match key {
        CdpKey::Ed25519(key) => key,
        other => panic!("expected an Ed25519 key, got {other:?}"),
    }
}

// The base64 secrets above decode to the RFC's seed (first half) and public key (second half),
// and the parsed key signs the RFC's message into the RFC's signature.
#[test]
fn ed25519_secret_is_seed_then_public_key_rfc8032_test_1() {
    let key = ed25519(signing_key(ED25519_SECRET_64).unwrap());
    assert_eq!(hex::encode(key.to_bytes()), RFC8032_SEED);
    assert_eq!(hex::encode(key.verifying_key().to_bytes()), RFC8032_PUBLIC);
    assert_eq!(hex::encode(key.sign(b"").to_bytes()), RFC8032_SIGNATURE);
    let seed_only = ed25519(signing_key(ED25519_SECRET_32).unwrap());
    assert_eq!(seed_only.to_bytes(), key.to_bytes());
}

// The whole EdDSA token for the worked example's request, byte for byte. The expected value
// was computed independently with Python `cryptography` (Ed25519PrivateKey.sign) over the
// CDP SDK's header and claims, json.dumps with compact separators:
//   h = {"alg":"EdDSA","kid":KID,"typ":"JWT","nonce":NONCE}
//   c = {"sub":KID,"iss":"cdp","aud":["cdp_service"],
//        "uris":["GET api.coinbase.com/api/v3/brokerage/accounts"],
//        "iat":1700000000,"nbf":1700000000,"exp":1700000120}
// Ed25519 is deterministic, so the signature is fixed too.
#[test]
fn ed25519_token_matches_an_independently_computed_vector() {
    const EXPECTED: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6Im9yZ2FuaXphdGlvbnMvb3JnLXV1aWQvYXBpS2V5cy9rZXktdXVpZCIsInR5cCI6IkpXVCIsIm5vbmNlIjoiYTk0ZGU0NzkwYWE3NTc0NDJlMGI4ZjgwYWVhNzViZmIifQ.eyJzdWIiOiJvcmdhbml6YXRpb25zL29yZy11dWlkL2FwaUtleXMva2V5LXV1aWQiLCJpc3MiOiJjZHAiLCJhdWQiOlsiY2RwX3NlcnZpY2UiXSwidXJpcyI6WyJHRVQgYXBpLmNvaW5iYXNlLmNvbS9hcGkvdjMvYnJva2VyYWdlL2FjY291bnRzIl0sImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwLCJleHAiOjE3MDAwMDAxMjB9.qECEmN5JWvfodyITdP6WuH0rYEg03h00D63HdlJI51bUFDseEpWefVmAgs_GhG4mWlt6f8yy7K0ufcHmwh7mDw";
    for secret in [ED25519_SECRET_64, ED25519_SECRET_32] {
        let key = signing_key(secret).unwrap();
        assert_eq!(key.algorithm(), "EdDSA");
        assert_eq!(accounts_token(&key), EXPECTED);
    }
}

#[test]
fn ed25519_secret_tolerates_what_a_paste_adds() {
    let expected = ed25519(signing_key(ED25519_SECRET_64).unwrap()).to_bytes();
    let wrapped = format!(
        "  \"{}\n{}\"\n",
        &ED25519_SECRET_64[..40],
        &ED25519_SECRET_64[40..]
    );
    assert_eq!(ed25519(signing_key(&wrapped).unwrap()).to_bytes(), expected);
    let unpadded = ED25519_SECRET_64.trim_end_matches('=');
    assert_eq!(ed25519(signing_key(unpadded).unwrap()).to_bytes(), expected);
}

#[test]
fn ed25519_secret_whose_halves_do_not_belong_together_is_refused() {
    let mut bytes = BASE64.decode(ED25519_SECRET_64).unwrap();
    bytes[63] ^= 1;
    let secret = BASE64.encode(&bytes);
    let err = signing_key(&secret).unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidKey);
    assert_says(&err, &["second half"]);
    assert!(!err.message.contains(&secret[..12]));
}

#[test]
fn secrets_of_neither_shape_are_refused_naming_what_was_found() {
    let err = signing_key(&BASE64.encode([1u8; 48])).unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidKey);
    assert_says(&err, &["base64 of 48 bytes", "64 bytes"]);
    // A PEM of another curve or algorithm (here an Ed25519 key as PKCS#8): not ES256.
    let pem = "-----BEGIN PRIVATE KEY-----\n\
               MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n\
               -----END PRIVATE KEY-----\n";
    let err = signing_key(pem).unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidKey);
    assert_says(&err, &["PEM but not an EC P-256"]);
}

#[test]
fn debug_of_a_key_names_its_type_only() {
    let shown = format!("{:?}", signing_key(ED25519_SECRET_64).unwrap());
    assert_eq!(shown, "CdpKey(EdDSA, redacted)");
    let shown = format!("{:?}", signing_key(&test_pem()).unwrap());
    assert_eq!(shown, "CdpKey(ES256, redacted)");
}

#[test]
fn nonces_are_unique_hex() {
    let a = nonce();
    let b = nonce();
    assert_ne!(a, b);
    assert_eq!(a.len(), 32);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
}

use crate::exchange::http::test_reply as reply;

fn problem_of(r: &Reply) -> Problem {
    read_reply(r, "GET /x", false).expect_problem()
}

#[test]
fn bare_401_is_an_invalid_key_that_says_what_else_it_can_mean() {
    let p = problem_of(&reply(
        401,
        &[("content-type", "text/plain")],
        "Unauthorized",
    ));
    assert_eq!(p.kind, ProblemKind::InvalidKey);
    assert!(
        p.message.starts_with("GET /x: HTTP 401 Unauthorized ("),
        "{}",
        p.message
    );
    assert_says(&p, &["allowlist"]);
}

#[test]
fn error_codes_decide_whatever_the_http_status() {
    let cases = [
        (
            401,
            r#"{"error":"UNAUTHENTICATED","code":16,"message":"invalid token"}"#,
            ProblemKind::InvalidKey,
        ),
        (
            400,
            r#"{"errors":[{"id":"expired_token","message":"expired"}]}"#,
            ProblemKind::InvalidKey,
        ),
        (
            401,
            r#"{"errors":[{"id":"authentication_error","message":"request timestamp expired"}]}"#,
            ProblemKind::ClockSkew,
        ),
        (
            200,
            r#"{"error":"RESOURCE_EXHAUSTED","code":8,"message":"too many"}"#,
            ProblemKind::RateLimited,
        ),
        (
            400,
            r#"{"errors":[{"id":"rate_limit_exceeded","message":"Too many requests"}]}"#,
            ProblemKind::RateLimited,
        ),
        (
            400,
            r#"{"error":"UNAVAILABLE","code":14,"message":"maintenance"}"#,
            ProblemKind::Unavailable,
        ),
        (
            400,
            r#"{"code":16,"message":"bad jwt"}"#,
            ProblemKind::InvalidKey,
        ),
        (
            400,
            r#"{"error":"SOMETHING_NEW","message":"?"}"#,
            ProblemKind::Unavailable,
        ),
        (
            404,
            r#"{"error":"NOT_FOUND","code":5,"message":"no"}"#,
            ProblemKind::Unavailable,
        ),
        (418, "teapot", ProblemKind::Unavailable),
    ];
    for (status, body, kind) in cases {
        assert_eq!(problem_of(&reply(status, &[], body)).kind, kind, "{body}");
    }
    let p = problem_of(&reply(
        400,
        &[],
        r#"{"error":"UNAUTHENTICATED","code":16,"message":"invalid token"}"#,
    ));
    assert_eq!(p.message, "GET /x: HTTP 400 UNAUTHENTICATED invalid token");
}

#[test]
fn permission_denied_is_a_fact_and_an_ip_message_is_an_ip_refusal() {
    let body = r#"{"error":"PERMISSION_DENIED","error_details":"Missing required scopes","message":"Missing required scopes"}"#;
    expect_denied(read_reply(&reply(403, &[], body), "x", false));
    expect_denied(read_reply(&reply(403, &[], "Forbidden"), "x", false));
    let body = r#"{"error":"PERMISSION_DENIED","message":"IP 198.51.100.7 is not in the key's allowlist"}"#;
    assert_ip_refused(&problem_of(&reply(403, &[], body)), Some("198.51.100.7"));
}

#[test]
fn not_found_on_the_futures_read_means_no_futures() {
    let body = r#"{"error":"NOT_FOUND","code":5,"message":"futures account not found"}"#;
    expect_denied(read_reply(&reply(404, &[], body), "x", true));
    expect_denied(read_reply(&reply(404, &[], "Not Found"), "x", true));
    assert!(matches!(
        read_reply(&reply(404, &[], "Not Found"), "x", false),
        Outcome::Problem(_)
    ));
}

#[test]
fn rate_limit_carries_retry_after_and_outages_are_unavailable() {
    let p = problem_of(&reply(
        429,
        &[("retry-after", "7")],
        r#"{"error":"RESOURCE_EXHAUSTED","code":8,"message":"too many requests"}"#,
    ));
    assert_rate_limited(&p, Some(Duration::from_secs(7)), "RESOURCE_EXHAUSTED");
    for r in [
        reply(
            503,
            &[],
            r#"{"error":"UNAVAILABLE","code":14,"message":"maintenance"}"#,
        ),
        reply(502, &[("content-type", "text/plain")], "Bad Gateway"),
        reply(
            403,
            &[("content-type", "text/html")],
            "<html>blocked</html>",
        ),
        reply(200, &[], r#"{"can_view":tr"#),
    ] {
        assert_eq!(problem_of(&r).kind, ProblemKind::Unavailable);
    }
}

#[test]
fn server_time_reads_string_epochs_and_tolerates_numbers_and_iso() {
    let doc = json!({"iso":"2023-11-14T22:13:20Z","epochSeconds":"1700000000","epochMillis":"1700000000000"});
    assert_eq!(server_time_ms(&doc), Some(1_700_000_000_000));
    assert_eq!(
        server_time_ms(&json!({"epochMillis": 1_700_000_000_123_i64})),
        Some(1_700_000_000_123)
    );
    assert_eq!(
        server_time_ms(&json!({"epochSeconds": "1700000000"})),
        Some(1_700_000_000_000)
    );
    assert_eq!(
        server_time_ms(&json!({"iso": "2023-11-14T22:13:20Z"})),
        Some(1_700_000_000_000)
    );
    assert_eq!(server_time_ms(&json!({"data": {}})), None);
}

#[test]
fn clock_window_follows_the_token_lifetime() {
    // The spec table's window is the token's: ten seconds of the lifetime kept for the trip.
    assert_eq!(
        SPEC.clock_window.server_ahead,
        crate::domain::Limit::Below((JWT_LIFETIME_S - 10) * 1000)
    );
    assert!(skew_problem(0).is_none());
    assert!(
        skew_problem(60_000).is_none(),
        "a minute ahead is inside a 120 s token"
    );
    assert_skew_wording(skew_problem, 4_999, 5_000);
}

#[test]
fn key_permissions_map_to_rights() {
    let body = json!({"can_view":true,"can_trade":false,"can_transfer":false,
            "portfolio_uuid":"8c7ab1c2-0f2d-4a0e-9a3e-5d1f0b7c1a11","portfolio_type":"DEFAULT"});
    let facts = facts_from(|f| KeyPermissions::parse(&body).unwrap().apply(f));
    assert_eq!(facts.permissions.read, Some(true));
    assert_eq!(facts.permissions.trade, Some(false));
    assert_eq!(facts.permissions.withdraw, Some(false));
    assert_eq!(facts.permissions.futures, None);
    let body =
        json!({"can_view":"true","can_trade":"true","can_transfer":true,"portfolio_type":"INTX"});
    let facts = facts_from(|f| KeyPermissions::parse(&body).unwrap().apply(f));
    assert_eq!(facts.permissions.withdraw, Some(true));
    assert_eq!(facts.permissions.futures, Some(true));
    assert!(KeyPermissions::parse(&json!({"can_view": true})).is_none());
    // A view-only key on an INTX portfolio cannot trade perpetuals.
    let body =
        json!({"can_view":true,"can_trade":false,"can_transfer":false,"portfolio_type":"INTX"});
    let facts = facts_from(|f| KeyPermissions::parse(&body).unwrap().apply(f));
    assert_eq!(facts.permissions.futures, Some(false));
    assert_noted(&facts, "cannot trade");
}

// Issue 18 item 4: a readable futures account is a futures right only for a key that may trade.
#[test]
fn a_readable_futures_account_is_a_futures_right_only_with_can_trade() {
    let with_trade = |trade: Option<bool>| {
        let mut facts = Facts::default();
        facts.permissions.trade = trade;
        futures_right_with_account(&mut facts);
        facts
    };
    assert_eq!(with_trade(Some(true)).permissions.futures, Some(true));
    let view_only = with_trade(Some(false));
    assert_eq!(view_only.permissions.futures, Some(false));
    assert_noted(&view_only, "can_trade = false");
    let unknown = with_trade(None);
    assert_eq!(unknown.permissions.futures, None);
    assert_noted(&unknown, "unknown");
}
