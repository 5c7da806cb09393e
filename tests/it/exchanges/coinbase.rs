//! Coinbase: its rows of the table, and raw requests its simulator must answer as Coinbase does.

use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD as BASE64URL};
use base64::Engine as _;
use keywarden::domain::ExchangeKind;
use keywarden::domain::Warning::IpBindingUnverified;
use keywarden::exchange::coinbase::{jwt, jwt_claims, signing_key, PATH_KEY_PERMISSIONS};
use keywarden::exchange::now_ms;
use keywarden::sim::{RunningSim, Scenario, Scenario::*};
use serde_json::Value;

use super::raw::get_in_maintenance;
use super::table::{row, Case::*, Market::*, Row};
use crate::probe_support::*;
use crate::support::{coinbase_pem, key_for};

const COINBASE: ExchangeKind = ExchangeKind::Coinbase;

/// The key name that plays `scenario`.
fn key(scenario: Scenario) -> String {
    key_for(COINBASE, &format!("sim-{}", scenario.name()))
}

/// The private key of the key that plays `scenario`, with real newlines.
fn pem(scenario: Scenario) -> String {
    coinbase_pem(&format!("sim-{}", scenario.name()))
}

/// The Ed25519 key that plays `scenario`: a bare key id (a UUID), the way CDP names keys now.
fn ed25519_key(scenario: Scenario) -> String {
    let name = key_for(COINBASE, &format!("sim-ed25519-{}", scenario.name()));
    name.rsplit('/').next().expect("a key name").to_string()
}

/// The Ed25519 secret of the key that plays `scenario`, as the CDP portal shows it: base64 of
/// the seed (SHA-256 of a label) followed by its public key.
fn ed25519_secret(scenario: Scenario) -> String {
    use sha2::Digest as _;
    let seed: [u8; 32] =
        sha2::Sha256::digest(format!("keywarden-test/ed25519/{}", scenario.name())).into();
    let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
    let mut pair = seed.to_vec();
    pair.extend_from_slice(&signing.verifying_key().to_bytes());
    BASE64.encode(pair)
}

pub const CAST: Cast = Cast {
    kind: COINBASE,
    key,
    // as a scenario file holds it: one line, literal \n escapes
    secret: Secrets::PerScenario(|scenario| pem(scenario).replace('\n', "\\n")),
    passphrase: None,
    // CDP's default key type (issue 18 item 1): every scenario is played by an Ed25519 key too.
    second_key_type: Some(KeyType {
        key: ed25519_key,
        secret: ed25519_secret,
    }),
};

/// An Ed25519 secret the simulator registers for no key: RFC 8032 §7.1 TEST 1's seed and
/// public key, base64.
const UNREGISTERED_ED25519: &str =
    "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2DXWpgBgrEKt9VL/tPJZAc6DuFy89qmIyWvAhpo9wdRGg==";

// ----- the table's rows ----------------------------------------------------------------------

/// Coinbase's rows: what key_permissions cannot tell (the futures right on a spot-only
/// connection, the IP allowlist), the futures right as the key's own (a futures account *and*
/// can_trade: a view-only key reads the futures balance too), both key types (ECDSA and
/// Ed25519), the bare 401 it answers every refusal with, and its two-minute request token.
#[rustfmt::skip]
pub fn rows() -> Vec<Row> {
    vec![
        row(Valid, Spot).connected().rights([T, T, F, U]).ip(U).never_expires().note("IP allowlist").note("futures right unknown").warns(&[IpBindingUnverified]),
        row(Valid, Futures).connected().rights([T, T, F, T]).ip(U).never_expires().no_note("futures right unknown").warns(&[IpBindingUnverified]),
        // can_transfer is the withdraw right
        row(WithdrawEnabled, Spot).withdraw_enabled().rights([T, T, T, U]).ip(U).warns(&[IpBindingUnverified]),
        row(WithdrawEnabled, Futures).withdraw_enabled().rights([T, T, T, T]).ip(U).warns(&[IpBindingUnverified]),
        row(FuturesMissing, Spot).connected().rights([T, T, F, U]).ip(U).warns(&[IpBindingUnverified]),
        row(FuturesMissing, Futures).no_futures().rights([T, T, F, F]).ip(U).note("PERMISSION_DENIED").warns(&[IpBindingUnverified]),
        row(TradeMissing, Spot).no_trade().rights([T, F, F, U]).warns(&[IpBindingUnverified]),
        // Issue 18 item 4: the futures account is readable (view scope), but can_trade = false.
        row(TradeMissing, Futures).no_trade().rights([T, F, F, F]).note("can_trade = false").warns(&[IpBindingUnverified]),
        row(TradeMissing, OnlyFutures).no_futures().rights([T, F, F, F]).note("can_trade = false").warns(&[IpBindingUnverified]),
        row(ReadOnly, Spot).no_trade().rights([T, F, F, U]).warns(&[IpBindingUnverified]),
        row(ReadOnly, Futures).no_trade().rights([T, F, F, F]).warns(&[IpBindingUnverified]),
        row(ReadOnly, OnlyFutures).no_futures().rights([T, F, F, F]).note("can_trade = false").warns(&[IpBindingUnverified]),
        row(Valid, OnlyFutures).connected().rights([T, T, F, T]).warns(&[IpBindingUnverified]),
        row(FuturesMissing, OnlyFutures).no_futures().rights([T, T, F, F]).note("PERMISSION_DENIED").warns(&[IpBindingUnverified]),
        // Ed25519 keys (issue 18 item 1), CDP's default: the same verdicts as ECDSA keys.
        row(SecondKeyType(Valid), Spot).connected().rights([T, T, F, U]).ip(U).never_expires().note("IP allowlist").warns(&[IpBindingUnverified]),
        row(SecondKeyType(Valid), Futures).connected().rights([T, T, F, T]).ip(U).warns(&[IpBindingUnverified]),
        row(SecondKeyType(WithdrawEnabled), Both).withdraw_enabled().warns(&[IpBindingUnverified]),
        row(SecondKeyType(ReadOnly), OnlyFutures).no_futures().rights([T, F, F, F]).note("can_trade = false").warns(&[IpBindingUnverified]),
        row(SecondKeyType(IpNotWhitelisted), Spot).invalid_key().says("HTTP 401 Unauthorized"),
        row(SecondKeyType(RateLimited), Spot).rate_limited().retry_after(7),
        row(SecondKeyType(ClockSkew), Spot).connected().rights([T, T, F, U]).warns(&[IpBindingUnverified]),
        // An Ed25519 secret given with another key's name signs EdDSA for an ECDSA key: refused.
        row(Secret(UNREGISTERED_ED25519), Spot).invalid_key().says_first("GET /api/v3/brokerage/key_permissions: HTTP 401 Unauthorized"),
        // base64 of neither 64 nor 32 bytes: refused before anything is signed, naming the shapes.
        row(Secret("c2hvcnQ="), Spot).invalid_key().says("base64 of 5 bytes").says("Ed25519"),
        // Coinbase refuses an IP outside the allowlist with the same bare 401 as an unknown key.
        row(IpNotWhitelisted, Both).invalid_key().says("HTTP 401 Unauthorized").says("IP outside the key's allowlist"),
        // Coinbase cannot tell an unbound key from a bound one, and CDP keys do not expire by time.
        row(NoIpWhitelist, Spot).connected().rights([T, T, F, U]).ip(U).never_expires().warns(&[IpBindingUnverified]),
        row(NoIpWhitelist, Futures).connected().rights([T, T, F, T]).ip(U).never_expires().warns(&[IpBindingUnverified]),
        row(Maintenance, Both).unavailable().says("UNAVAILABLE"),
        row(RateLimited, Both).rate_limited().retry_after(7).says("RESOURCE_EXHAUSTED"),
        // The scenario's clock runs 60 s ahead for this key; a token is valid for 120 s from its
        // nbf, so Coinbase (and the simulator) accept it. Two minutes ahead, or 10 s behind, not.
        row(ClockSkew, Spot).connected().rights([T, T, F, U]).warns(&[IpBindingUnverified]),
        row(ClockSkew, Futures).connected().rights([T, T, F, T]).warns(&[IpBindingUnverified]),
        row(Valid, Spot).clock(120_000).clock_skew().says("ahead of ours"),
        row(Valid, Spot).clock(-10_000).clock_skew().says("behind ours"),
        row(Valid, Futures).in_maintenance().unavailable(),
        row(WrongSecret, Spot).invalid_key().says_first("GET /api/v3/brokerage/key_permissions: HTTP 401 Unauthorized"),
        // Refused before any signed request.
        row(Secret("not-a-pem-at-all"), Spot).invalid_key().says("EC P-256 private key"),
        row(ApiKey(UNKNOWN_KEY), Spot).invalid_key(),
        // The scenario file holds the PEM on one line with literal \n escapes; a real PEM works too.
        row(UnescapedSecret, Spot).connected().rights([T, T, F, U]).ip(U).warns(&[IpBindingUnverified]),
    ]
}

/// A well-formed key name Coinbase does not know.
const UNKNOWN_KEY: &str =
    "organizations/00000000-0000-4000-8000-000000000000/apiKeys/00000000-0000-4000-8000-000000000001";

#[tokio::test]
async fn in_maintenance_the_server_time_is_a_503() {
    let time = get_in_maintenance(&CAST, "/api/v3/brokerage/time").await;
    assert_eq!(time.status(), 503);
}

// ----- raw HTTP against the simulator ---------------------------------------------------------

async fn raw_get(sim: &RunningSim, path_and_query: &str, token: Option<&str>) -> (u16, String) {
    let url = format!("{}{path_and_query}", sim.base_url(COINBASE));
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

fn token_for(scenario_pem: &str, name: &str, now_s: i64, path: &str) -> String {
    jwt(
        &signing_key(scenario_pem).unwrap(),
        name,
        "0123456789abcdef0123456789abcdef",
        now_s,
        "GET",
        path,
    )
}

fn now_s() -> i64 {
    now_ms() / 1000
}

#[tokio::test]
async fn raw_correctly_signed_request_is_accepted() {
    let sim = CAST.sim(None).await;
    let token = token_for(
        &pem(Scenario::Valid),
        &key(Scenario::Valid),
        now_s(),
        PATH_KEY_PERMISSIONS,
    );
    let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["can_view"], true);
    assert_eq!(body["can_transfer"], false);
}

#[tokio::test]
async fn raw_wrong_signature_unknown_key_and_missing_token_are_a_bare_401() {
    let sim = CAST.sim(None).await;
    let name = key(Scenario::Valid);
    let wrong = token_for(&coinbase_pem("other"), &name, now_s(), PATH_KEY_PERMISSIONS);
    let unknown = token_for(
        &pem(Scenario::Valid),
        &key_for(COINBASE, "nobody"),
        now_s(),
        PATH_KEY_PERMISSIONS,
    );
    for token in [
        Some(wrong.as_str()),
        Some(unknown.as_str()),
        None,
        Some("garbage"),
    ] {
        let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, token).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized"), "{token:?}");
    }
}

#[tokio::test]
async fn raw_ed25519_token_is_accepted_from_its_key_only() {
    let sim = CAST.sim(None).await;
    let name = ed25519_key(Scenario::Valid);
    let good = token_for(
        &ed25519_secret(Scenario::Valid),
        &name,
        now_s(),
        PATH_KEY_PERMISSIONS,
    );
    let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&good)).await;
    assert_eq!(status, 200, "{body}");
    // signed by another Ed25519 key, or by the ECDSA key of the same scenario
    for secret in [UNREGISTERED_ED25519.to_string(), pem(Scenario::Valid)] {
        let token = token_for(&secret, &name, now_s(), PATH_KEY_PERMISSIONS);
        let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&token)).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized"));
    }
}

#[tokio::test]
async fn raw_stale_or_future_token_is_a_bare_401() {
    let sim = CAST.sim(None).await;
    let (name, secret) = (key(Scenario::Valid), pem(Scenario::Valid));
    for issued in [now_s() - 121, now_s() + 30] {
        let token = token_for(&secret, &name, issued, PATH_KEY_PERMISSIONS);
        let (status, body) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&token)).await;
        assert_eq!((status, body.as_str()), (401, "Unauthorized"), "{issued}");
    }
}

#[tokio::test]
async fn raw_token_for_another_path_or_with_tampered_claims_is_a_bare_401() {
    let sim = CAST.sim(None).await;
    let (name, secret) = (key(Scenario::Valid), pem(Scenario::Valid));
    // signed for key_permissions, sent to accounts
    let token = token_for(&secret, &name, now_s(), PATH_KEY_PERMISSIONS);
    let (status, _) = raw_get(&sim, "/api/v3/brokerage/accounts?limit=250", Some(&token)).await;
    assert_eq!(status, 401);
    // the claims re-written for accounts without re-signing
    let parts: Vec<&str> = token.split('.').collect();
    let claims = jwt_claims(
        &name,
        now_s(),
        "GET api.coinbase.com/api/v3/brokerage/accounts",
    );
    let forged = format!("{}.{}.{}", parts[0], BASE64URL.encode(claims), parts[2]);
    let (status, _) = raw_get(&sim, "/api/v3/brokerage/accounts", Some(&forged)).await;
    assert_eq!(status, 401);
    // the path prefix of the base URL signed along: refused
    let prefixed = token_for(
        &secret,
        &name,
        now_s(),
        &format!("/coinbase{PATH_KEY_PERMISSIONS}"),
    );
    let (status, _) = raw_get(&sim, PATH_KEY_PERMISSIONS, Some(&prefixed)).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn raw_query_and_body_are_outside_the_token_as_at_coinbase() {
    // Coinbase's uri claim has no query and no body hash: a changed query (or a body on a GET)
    // is not something the exchange can detect, so the simulator accepts it too.
    let sim = CAST.sim(None).await;
    let (name, secret) = (key(Scenario::Valid), pem(Scenario::Valid));
    let token = token_for(
        &secret,
        &name,
        now_s(),
        "/api/v3/brokerage/accounts?limit=250",
    );
    let (status, body) = raw_get(&sim, "/api/v3/brokerage/accounts?limit=1", Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    let url = format!("{}/api/v3/brokerage/accounts", sim.base_url(COINBASE));
    let response = reqwest::Client::new()
        .get(url)
        .header("Authorization", format!("Bearer {token}"))
        .body("{\"tampered\":true}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn raw_time_answers_epochs_as_strings() {
    let sim = CAST.sim(None).await;
    let (status, body) = raw_get(&sim, "/api/v3/brokerage/time", None).await;
    assert_eq!(status, 200);
    let body: Value = serde_json::from_str(&body).unwrap();
    let ms: i64 = body["epochMillis"].as_str().unwrap().parse().unwrap();
    assert!((ms - now_ms()).abs() < 5_000);
    assert!(body["epochSeconds"].is_string() && body["iso"].is_string());
}
