//! The Coinbase Advanced Trade simulator: server time, key permissions, accounts and the US
//! futures (CFM) balance summary.
//!
//! A signed request must carry `Authorization: Bearer <JWT>`. The simulator reads the key name
//! from the JWT header's `kid`, looks the key up, and verifies the token the way Coinbase does
//! (shared/docs/exchanges/coinbase.md §2.1): `alg` the one of the registered key's type, ES256
//! for an EC P-256 key (a PEM in the scenario file, literal `\n` escapes accepted) or EdDSA for
//! an Ed25519 key (base64 of seed and public key, or of the seed: CDP's default key type, issue
//! 18; CDP docs "JWT Authentication", coinbase/cdp-sdk `generateJwt`); the signature over
//! `header.claims` (64 raw bytes `r||s`, or the 64-byte Ed25519 signature), checked with the
//! key's PUBLIC key only; `sub` equal to `kid`; `iss` `cdp` or `coinbase-cloud`; `aud`, when
//! present, naming the audience of the key type's layout (`retail_rest_api_proxy` for ES256,
//! `cdp_service` for EdDSA); the `nbf`/`exp` window against the simulated server clock (tokens
//! live at most 120 s, about five seconds of leeway before `nbf`); and the request named by the
//! `uri` claim, or listed in the `uris` array the CDP SDK sends, as `METHOD api.coinbase.com
//! PATH` of the request actually received, path without the query.
//!
//! The expected host is the constant `api.coinbase.com`: the simulator stands in for the real
//! exchange behind a base URL whose prefix (`/coinbase`) is stripped before verification, so a
//! correct client signs the real host and the path the exchange sees. The query and the body are
//! not covered by a Coinbase JWT, so the simulator, like Coinbase, does not check them.
//!
//! Every authentication failure gets Coinbase's one answer: HTTP 401 with the plain-text body
//! `Unauthorized` (§6). That includes a key playing `ip_not_whitelisted`: public reports show no
//! other answer for a request from outside a key's IP allowlist [uncertain], so the simulator
//! does not invent one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64URL;
use base64::engine::general_purpose::{STANDARD as BASE64, STANDARD_NO_PAD as BASE64_NO_PAD};
use base64::Engine as _;
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::pkcs8::DecodePrivateKey as _;
use serde_json::{json, Value};

use super::pipeline::{signed, SignedApi, SignedRequest, Verified};
use super::{json_reply, with_retry_after, Scenario, SimKey, SimState};
use crate::domain::ExchangeKind;

const KIND: ExchangeKind = ExchangeKind::Coinbase;

/// The host every `uri` claim must name (see the module docs).
pub const EXPECTED_HOST: &str = "api.coinbase.com";
/// Longest token lifetime accepted (`exp - nbf`), seconds.
pub const MAX_LIFETIME_S: i64 = 120;
/// How long before its `nbf` a token is still accepted, seconds (assumed, [uncertain]).
pub const LEEWAY_S: i64 = 5;

/// The portfolio every simulated key is scoped to.
const PORTFOLIO_UUID: &str = "8c7ab1c2-0f2d-4a0e-9a3e-5d1f0b7c1a11";

/// Why a token was refused. Coinbase never says (it answers a bare 401); the reason is for the
/// simulator's own tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    MissingToken,
    Malformed,
    UnknownKey,
    WrongAlgorithm,
    BadSignature,
    WrongSubject,
    WrongIssuer,
    WrongAudience,
    NotYetValid,
    Expired,
    TooLongLived,
    WrongUri,
    /// The registered secret is neither a P-256 PEM nor a base64 Ed25519 key (a broken
    /// scenario file).
    UnusableKey,
}

/// Coinbase's answer to every authentication failure.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Unauthorized",
    )
        .into_response()
}

/// A v3 (grpc-gateway shaped) error.
fn grpc_error(status: StatusCode, error: &str, code: i64, message: &str) -> Response {
    json_reply(
        status,
        json!({"error": error, "code": code, "message": message, "details": []}),
    )
}

fn maintenance() -> Response {
    grpc_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "UNAVAILABLE",
        14,
        "Coinbase is undergoing scheduled maintenance, please try again later",
    )
}

fn permission_denied() -> Response {
    json_reply(
        StatusCode::FORBIDDEN,
        json!({"error": "PERMISSION_DENIED", "error_details": "Missing required scopes",
               "message": "Missing required scopes"}),
    )
}

pub fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/api/v3/brokerage/time", get(time))
        .route("/api/v3/brokerage/key_permissions", get(signed::<Coinbase>))
        .route("/api/v3/brokerage/accounts", get(signed::<Coinbase>))
        .route(
            "/api/v3/brokerage/cfm/balance_summary",
            get(signed::<Coinbase>),
        )
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    grpc_error(StatusCode::NOT_FOUND, "NOT_FOUND", 5, "Not Found")
}

/// `GET /api/v3/brokerage/time`: numbers as strings, per the docs (§4.1).
async fn time(State(state): State<Arc<SimState>>) -> Response {
    if state.settings(KIND).maintenance {
        return maintenance();
    }
    let ms = state.server_time_ms(KIND, None);
    let iso = chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string();
    json_reply(
        StatusCode::OK,
        json!({"iso": iso, "epochSeconds": (ms.div_euclid(1000)).to_string(),
               "epochMillis": ms.to_string()}),
    )
}

/// The bearer token of a request.
fn bearer(headers: &HeaderMap) -> Result<&str, AuthFailure> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(AuthFailure::MissingToken)
}

fn decode_part(part: &str) -> Result<Value, AuthFailure> {
    let bytes = BASE64URL.decode(part).map_err(|_| AuthFailure::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthFailure::Malformed)
}

/// The key name a token claims to be signed by (its header's `kid`), before any verification.
pub fn kid_of(token: &str) -> Result<String, AuthFailure> {
    let header = token.split('.').next().ok_or(AuthFailure::Malformed)?;
    decode_part(header)?
        .get("kid")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or(AuthFailure::Malformed)
}

/// The public half of a registered key: what Coinbase holds for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// EC P-256: verifies ES256 tokens.
    P256(VerifyingKey),
    /// Ed25519: verifies EdDSA tokens.
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl PublicKey {
    /// The JWT `alg` a key of this type signs with.
    fn algorithm(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "ES256",
            PublicKey::Ed25519(_) => "EdDSA",
        }
    }

    /// The audience the key type's claim layout names (coinbase.md §2.1, cdp-sdk).
    fn audience(&self) -> &'static str {
        match self {
            PublicKey::P256(_) => "retail_rest_api_proxy",
            PublicKey::Ed25519(_) => "cdp_service",
        }
    }

    fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            PublicKey::P256(key) => Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify(message, &signature).is_ok()),
            PublicKey::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|signature| key.verify_strict(message, &signature).is_ok()),
        }
    }
}

/// The public key of a registered key, derived from its private key as the scenario file holds
/// it: a PEM (SEC1 or PKCS#8; literal `\n` escapes, as a key pasted into TOML or an env var has
/// them, are accepted) is P-256; otherwise base64 of 64 bytes is an Ed25519 seed followed by its
/// public key (the public half is taken as it is, the way the CDP portal registered it) and of
/// 32 bytes an Ed25519 seed.
pub fn public_key(secret: &str) -> Result<PublicKey, AuthFailure> {
    let secret = secret.trim().replace("\\n", "\n");
    if secret.contains("-----BEGIN") {
        let key = p256::SecretKey::from_sec1_pem(&secret)
            .or_else(|_| p256::SecretKey::from_pkcs8_pem(&secret))
            .map_err(|_| AuthFailure::UnusableKey)?;
        return Ok(PublicKey::P256(VerifyingKey::from(key.public_key())));
    }
    let bytes = BASE64
        .decode(secret.trim())
        .or_else(|_| BASE64_NO_PAD.decode(secret.trim()))
        .map_err(|_| AuthFailure::UnusableKey)?;
    let public: [u8; 32] = match bytes.len() {
        64 => bytes[32..].try_into().expect("32 bytes"),
        32 => {
            let seed: [u8; 32] = bytes[..].try_into().expect("32 bytes");
            ed25519_dalek::SigningKey::from_bytes(&seed)
                .verifying_key()
                .to_bytes()
        }
        _ => return Err(AuthFailure::UnusableKey),
    };
    ed25519_dalek::VerifyingKey::from_bytes(&public)
        .map(PublicKey::Ed25519)
        .map_err(|_| AuthFailure::UnusableKey)
}

/// Whether the claims name `expected` (`METHOD host path`): in `uri` (the ES256 layout of the
/// docs and ccxt) or in the `uris` array (the CDP SDK's layout, Ed25519 keys included).
fn names_request(claims: &Value, expected: &str) -> bool {
    claims.get("uri").and_then(Value::as_str) == Some(expected)
        || claims
            .get("uris")
            .and_then(Value::as_array)
            .is_some_and(|uris| uris.iter().any(|u| u.as_str() == Some(expected)))
}

/// Verifies `token` for `key` as Coinbase does, against the server clock `server_now_ms`, for a
/// request with `method` and `uri` as received (prefix already stripped).
pub fn verify(
    key: &SimKey,
    server_now_ms: i64,
    method: &Method,
    uri: &Uri,
    token: &str,
) -> Result<(), AuthFailure> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(AuthFailure::Malformed);
    };
    let header = decode_part(header_b64)?;
    let kid = header.get("kid").and_then(Value::as_str);
    if kid != Some(key.api_key.as_str()) {
        return Err(AuthFailure::UnknownKey);
    }
    let public = public_key(&key.api_secret)?;
    if header.get("alg").and_then(Value::as_str) != Some(public.algorithm()) {
        return Err(AuthFailure::WrongAlgorithm);
    }
    let raw = BASE64URL
        .decode(signature_b64)
        .map_err(|_| AuthFailure::BadSignature)?;
    if !public.verifies(format!("{header_b64}.{claims_b64}").as_bytes(), &raw) {
        return Err(AuthFailure::BadSignature);
    }

    let claims = decode_part(claims_b64)?;
    if claims.get("sub").and_then(Value::as_str) != kid {
        return Err(AuthFailure::WrongSubject);
    }
    // Both issuers official clients send are accepted (§2.1).
    if !matches!(
        claims.get("iss").and_then(Value::as_str),
        Some("cdp" | "coinbase-cloud")
    ) {
        return Err(AuthFailure::WrongIssuer);
    }
    // `aud` is optional; when given it must name the key type's audience (string or array).
    let audience = public.audience();
    match claims.get("aud") {
        None => {}
        Some(Value::String(aud)) if aud == audience => {}
        Some(Value::Array(auds)) if auds.iter().any(|a| a == audience) => {}
        Some(_) => return Err(AuthFailure::WrongAudience),
    }
    let nbf = claims
        .get("nbf")
        .and_then(Value::as_i64)
        .ok_or(AuthFailure::Malformed)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_i64)
        .ok_or(AuthFailure::Malformed)?;
    if exp <= nbf || exp - nbf > MAX_LIFETIME_S {
        return Err(AuthFailure::TooLongLived);
    }
    if server_now_ms < (nbf - LEEWAY_S) * 1000 {
        return Err(AuthFailure::NotYetValid);
    }
    if server_now_ms >= exp * 1000 {
        return Err(AuthFailure::Expired);
    }
    let expected = format!("{} {EXPECTED_HOST}{}", method.as_str(), uri.path());
    if !names_request(&claims, &expected) {
        return Err(AuthFailure::WrongUri);
    }
    Ok(())
}

/// `key_permissions` for a key playing `scenario`: exactly its granted rights (§4.3). Coinbase
/// reports no IP allowlist and no expiry here, so neither does the simulator.
pub fn key_permissions(scenario: Scenario) -> Value {
    let grants = scenario.grants();
    json!({"can_view": grants.read, "can_trade": grants.trade,
           "can_transfer": grants.withdraw, "portfolio_uuid": PORTFOLIO_UUID,
           "portfolio_type": "DEFAULT"})
}

/// Whether the portfolio of a key playing `scenario` has a US futures (CFM) account: every one
/// but a `futures_missing` key's. Reading it needs only the `view` scope (Coinbase's rest-scopes
/// page lists `GET cfm/balance_summary` under `view`), so a view-only key (`read_only`,
/// `trade_missing`) reads it as well as one that may trade: the case of issue 18 item 4, where
/// a readable futures balance must not pass for a futures right.
pub fn has_futures_account(scenario: Scenario) -> bool {
    scenario != Scenario::FuturesMissing
}

/// One signed endpoint, answered for a verified key playing its scenario.
pub fn answer(key: &SimKey, path: &str) -> Response {
    match key.scenario {
        // See the module docs: Coinbase's answer to an IP outside the allowlist is a bare 401.
        Scenario::IpNotWhitelisted => return unauthorized(),
        Scenario::Maintenance => return maintenance(),
        // coinbase.md §6: server errors are `internal_server_error`; v3 writes them in the
        // grpc-gateway shape (INTERNAL, grpc code 13), here in an HTTP 200.
        Scenario::ErrorBody200 => {
            return grpc_error(StatusCode::OK, "INTERNAL", 13, "internal_server_error")
        }
        _ => {}
    }
    let grants = key.scenario.grants();
    match path {
        "/api/v3/brokerage/key_permissions" => {
            json_reply(StatusCode::OK, key_permissions(key.scenario))
        }
        "/api/v3/brokerage/accounts" if grants.read => json_reply(
            StatusCode::OK,
            json!({"accounts": [{
                "uuid": "8bfc20d7-f7c6-4422-bf07-8243ca4169fe", "name": "BTC Wallet",
                "currency": "BTC", "available_balance": {"value": "1.23", "currency": "BTC"},
                "default": false, "active": true, "created_at": "2021-05-31T09:59:59Z",
                "updated_at": "2021-05-31T09:59:59Z", "deleted_at": null,
                "type": "ACCOUNT_TYPE_CRYPTO", "ready": true,
                "hold": {"value": "0", "currency": "BTC"},
                "retail_portfolio_id": PORTFOLIO_UUID}],
                "has_next": false, "cursor": "", "size": 1}),
        ),
        "/api/v3/brokerage/cfm/balance_summary"
            if has_futures_account(key.scenario) && grants.read =>
        {
            json_reply(
                StatusCode::OK,
                json!({"balance_summary": {
                "futures_buying_power": {"value": "1000", "currency": "USD"},
                "total_usd_balance": {"value": "1000", "currency": "USD"},
                "cbi_usd_balance": {"value": "800", "currency": "USD"},
                "cfm_usd_balance": {"value": "200", "currency": "USD"},
                "total_open_orders_hold_amount": {"value": "0", "currency": "USD"},
                "unrealized_pnl": {"value": "0", "currency": "USD"},
                "daily_realized_pnl": {"value": "0", "currency": "USD"},
                "initial_margin": {"value": "0", "currency": "USD"},
                "available_margin": {"value": "200", "currency": "USD"},
                "liquidation_threshold": {"value": "0", "currency": "USD"},
                "liquidation_buffer_amount": {"value": "0", "currency": "USD"},
                "liquidation_buffer_percentage": "0"}}),
            )
        }
        // A portfolio without a futures account, or a key without `view`: the documented
        // permission error (§6; 403 vs 404 for "no futures account" is
        // [uncertain], the probe takes both).
        "/api/v3/brokerage/accounts" | "/api/v3/brokerage/cfm/balance_summary" => {
            permission_denied()
        }
        _ => grpc_error(StatusCode::NOT_FOUND, "NOT_FOUND", 5, "Not Found"),
    }
}

/// Coinbase Advanced Trade: a per-request ES256 JWT in `Authorization: Bearer`; every auth
/// failure is the same bare 401.
pub struct Coinbase;

impl SignedApi for Coinbase {
    const KIND: ExchangeKind = KIND;
    type Refusal = Response;

    /// The key a token claims to be signed by (its header's `kid`), before any verification.
    fn api_key(request: &SignedRequest) -> Result<String, Response> {
        let token = bearer(&request.headers).map_err(|_| unauthorized())?;
        kid_of(token).map_err(|_| unauthorized())
    }

    fn unknown_key(_: &SignedRequest) -> Response {
        unauthorized()
    }

    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), Response> {
        let token = bearer(&request.headers).map_err(|_| unauthorized())?;
        verify(key, server_ms, &request.method, &request.uri, token).map_err(|_| unauthorized())
    }

    /// Coinbase's signed endpoints do not look at exchange-wide maintenance: `/time` and the
    /// key's own `maintenance` scenario play it.
    fn exchange_maintenance(_: &Verified) -> Option<Response> {
        None
    }

    fn rate_limited(_: &Verified) -> Response {
        with_retry_after(grpc_error(
            StatusCode::TOO_MANY_REQUESTS,
            "RESOURCE_EXHAUSTED",
            8,
            "too many requests",
        ))
    }

    fn answer(verified: &Verified) -> Response {
        answer(verified.key, verified.request.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer as _;
    use p256::ecdsa::SigningKey;

    const KID: &str = "organizations/org-uuid/apiKeys/key-uuid";
    const NOW_S: i64 = 1_700_000_000;
    const NOW: i64 = NOW_S * 1000;
    const PATH: &str = "/api/v3/brokerage/key_permissions";

    fn pem(seed: u8) -> String {
        p256::SecretKey::from_slice(&[seed; 32])
            .unwrap()
            .to_sec1_pem(p256::pkcs8::LineEnding::LF)
            .unwrap()
            .to_string()
    }

    fn key(scenario: Scenario) -> SimKey {
        SimKey {
            exchange: KIND,
            api_key: KID.into(),
            // as a TOML scenario file would carry it: one line, literal \n escapes
            api_secret: pem(7).replace('\n', "\\n"),
            passphrase: None,
            scenario,
        }
    }

    /// The JWT header coinbase.md §3.1 shows.
    fn jwt_header(kid: &str, nonce: &str) -> String {
        format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}","nonce":"{nonce}"}}"#)
    }

    /// The claims coinbase.md §3.1 shows, in its order, valid 120 s from `now_s`.
    fn jwt_claims(kid: &str, now_s: i64, uri: &str) -> String {
        let exp = now_s + 120;
        format!(
            r#"{{"aud":["retail_rest_api_proxy"],"iss":"coinbase-cloud","nbf":{now_s},"exp":{exp},"sub":"{kid}","iat":{now_s},"uri":"{uri}"}}"#
        )
    }

    /// `base64url(header) . base64url(claims)`: the bytes the signature covers.
    fn signing_input(header: &str, claims: &str) -> String {
        format!("{}.{}", BASE64URL.encode(header), BASE64URL.encode(claims))
    }

    /// A client's token for `method path` (the `uri` claim leaves the query out, §3.1), signed
    /// with the key of `seed`.
    fn token(seed: u8, now_s: i64, method: &str, path: &str) -> String {
        let path = path.split('?').next().unwrap_or(path);
        let claims = jwt_claims(KID, now_s, &format!("{method} {EXPECTED_HOST}{path}"));
        signed_with(seed, &jwt_header(KID, "00ff"), &claims)
    }

    fn signed_with(seed: u8, header: &str, claims: &str) -> String {
        let input = signing_input(header, claims);
        let signing = SigningKey::from(p256::SecretKey::from_slice(&[seed; 32]).unwrap());
        let signature: Signature = signing.sign(input.as_bytes());
        format!("{input}.{}", BASE64URL.encode(signature.to_bytes()))
    }

    fn check(
        token: &str,
        server_now_ms: i64,
        method: Method,
        uri: &str,
    ) -> Result<(), AuthFailure> {
        verify(
            &key(Scenario::Valid),
            server_now_ms,
            &method,
            &uri.parse().unwrap(),
            token,
        )
    }

    /// Signs arbitrary header and claims JSON with the key of seed 7.
    fn custom(header: &str, claims: &str) -> String {
        signed_with(7, header, claims)
    }

    #[test]
    fn a_correct_token_passes_and_the_query_is_not_signed() {
        let t = token(7, NOW_S, "GET", "/api/v3/brokerage/accounts?limit=250");
        check(&t, NOW, Method::GET, "/api/v3/brokerage/accounts?limit=250").unwrap();
        // Coinbase's JWT does not cover the query: another query is accepted, as at Coinbase.
        check(&t, NOW, Method::GET, "/api/v3/brokerage/accounts?limit=1").unwrap();
        assert_eq!(kid_of(&t).unwrap(), KID);
    }

    #[test]
    fn the_doc_claim_variants_are_accepted() {
        let header = jwt_header(KID, &"ab".repeat(32));
        let uri = format!("GET {EXPECTED_HOST}{PATH}");
        // §3.1 / ccxt layout
        check(
            &custom(&header, &jwt_claims(KID, NOW_S, &uri)),
            NOW,
            Method::GET,
            PATH,
        )
        .unwrap();
        // current docs: iss "cdp", no aud
        let claims = format!(
            r#"{{"sub":"{KID}","iss":"cdp","nbf":{NOW_S},"exp":{},"uri":"{uri}"}}"#,
            NOW_S + 120
        );
        check(&custom(&header, &claims), NOW, Method::GET, PATH).unwrap();
        // older SDK: 60 s lifetime
        let claims = format!(
            r#"{{"sub":"{KID}","iss":"coinbase-cloud","aud":["retail_rest_api_proxy"],"nbf":{NOW_S},"exp":{},"uri":"{uri}"}}"#,
            NOW_S + 60
        );
        check(&custom(&header, &claims), NOW, Method::GET, PATH).unwrap();
    }

    #[test]
    fn anything_else_is_refused() {
        let good = token(7, NOW_S, "GET", PATH);
        // another private key
        assert_eq!(
            check(&token(8, NOW_S, "GET", PATH), NOW, Method::GET, PATH),
            Err(AuthFailure::BadSignature)
        );
        // another path or method than the uri claim names; a prefix that was signed
        assert_eq!(
            check(&good, NOW, Method::GET, "/api/v3/brokerage/accounts"),
            Err(AuthFailure::WrongUri)
        );
        assert_eq!(
            check(&good, NOW, Method::POST, PATH),
            Err(AuthFailure::WrongUri)
        );
        let prefixed = token(7, NOW_S, "GET", &format!("/coinbase{PATH}"));
        assert_eq!(
            check(&prefixed, NOW, Method::GET, PATH),
            Err(AuthFailure::WrongUri)
        );
        // the window: expired at exp, too early before nbf - leeway
        assert_eq!(
            check(&good, NOW + 120_000, Method::GET, PATH),
            Err(AuthFailure::Expired)
        );
        check(&good, NOW + 119_999, Method::GET, PATH).unwrap();
        assert_eq!(
            check(&good, NOW - 5_001, Method::GET, PATH),
            Err(AuthFailure::NotYetValid)
        );
        check(&good, NOW - 5_000, Method::GET, PATH).unwrap();
        // tampered claims (re-encoded, not re-signed)
        let parts: Vec<&str> = good.split('.').collect();
        let uri = format!("GET {EXPECTED_HOST}/api/v3/brokerage/accounts");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            BASE64URL.encode(jwt_claims(KID, NOW_S, &uri)),
            parts[2]
        );
        assert_eq!(
            check(&forged, NOW, Method::GET, "/api/v3/brokerage/accounts"),
            Err(AuthFailure::BadSignature)
        );
        // DER or garbage instead of raw r||s; missing parts
        let der = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            BASE64URL.encode([0x30u8; 70])
        );
        assert_eq!(
            check(&der, NOW, Method::GET, PATH),
            Err(AuthFailure::BadSignature)
        );
        assert_eq!(
            check("a.b", NOW, Method::GET, PATH),
            Err(AuthFailure::Malformed)
        );
        // header and claims rules
        let uri = format!("GET {EXPECTED_HOST}{PATH}");
        let claims = jwt_claims(KID, NOW_S, &uri);
        let hs256 = jwt_header(KID, "00").replace("ES256", "HS256");
        assert_eq!(
            check(&custom(&hs256, &claims), NOW, Method::GET, PATH),
            Err(AuthFailure::WrongAlgorithm)
        );
        let other_kid = jwt_header("organizations/o/apiKeys/other", "00");
        assert_eq!(
            check(&custom(&other_kid, &claims), NOW, Method::GET, PATH),
            Err(AuthFailure::UnknownKey)
        );
        let header = jwt_header(KID, "00");
        for (claims, why) in [
            (
                claims.replace(
                    r#""sub":"organizations/org-uuid/apiKeys/key-uuid""#,
                    r#""sub":"x""#,
                ),
                AuthFailure::WrongSubject,
            ),
            (
                claims.replace("coinbase-cloud", "someone"),
                AuthFailure::WrongIssuer,
            ),
            (
                claims.replace("retail_rest_api_proxy", "cdp_service"),
                AuthFailure::WrongAudience,
            ),
            (
                claims.replace("1700000120", "1700003600"),
                AuthFailure::TooLongLived,
            ),
            (
                claims.replace("api.coinbase.com", "127.0.0.1:8080"),
                AuthFailure::WrongUri,
            ),
        ] {
            assert_eq!(
                check(&custom(&header, &claims), NOW, Method::GET, PATH),
                Err(why),
                "{claims}"
            );
        }
    }

    // ----- Ed25519 keys (issue 18 item 1) -----

    /// An Ed25519 key as the CDP portal shows its secret: base64 of the seed, then the public
    /// key.
    fn ed25519_key(seed: u8) -> (ed25519_dalek::SigningKey, String) {
        let signing = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let mut pair = signing.to_bytes().to_vec();
        pair.extend_from_slice(&signing.verifying_key().to_bytes());
        (signing, BASE64.encode(pair))
    }

    fn ed25519_sim_key() -> SimKey {
        SimKey {
            api_secret: ed25519_key(9).1,
            ..key(Scenario::Valid)
        }
    }

    /// The CDP SDK's header and claims for `GET PATH`, as written here (not by the client).
    fn eddsa_parts(now_s: i64, uri_path: &str) -> (String, String) {
        let header = format!(r#"{{"alg":"EdDSA","kid":"{KID}","typ":"JWT","nonce":"0123"}}"#);
        let claims = format!(
            r#"{{"sub":"{KID}","iss":"cdp","aud":["cdp_service"],"uris":["GET {EXPECTED_HOST}{uri_path}"],"iat":{now_s},"nbf":{now_s},"exp":{}}}"#,
            now_s + 120
        );
        (header, claims)
    }

    fn eddsa_signed(seed: u8, header: &str, claims: &str) -> String {
        use ed25519_dalek::Signer as _;
        let input = signing_input(header, claims);
        let signature = ed25519_key(seed).0.sign(input.as_bytes());
        format!("{input}.{}", BASE64URL.encode(signature.to_bytes()))
    }

    fn check_ed25519(token: &str, method: Method, uri: &str) -> Result<(), AuthFailure> {
        verify(
            &ed25519_sim_key(),
            NOW,
            &method,
            &uri.parse().unwrap(),
            token,
        )
    }

    #[test]
    fn an_ed25519_key_verifies_eddsa_tokens_in_the_cdp_sdk_layout() {
        let (header, claims) = eddsa_parts(NOW_S, PATH);
        let good = eddsa_signed(9, &header, &claims);
        check_ed25519(&good, Method::GET, PATH).unwrap();
        // The seed alone registered works the same.
        let seed_only = SimKey {
            api_secret: BASE64.encode([9u8; 32]),
            ..ed25519_sim_key()
        };
        verify(&seed_only, NOW, &Method::GET, &PATH.parse().unwrap(), &good).unwrap();
        // `uri` (one string) instead of `uris` is accepted too.
        let single = claims.replace(
            &format!(r#""uris":["GET {EXPECTED_HOST}{PATH}"]"#),
            &format!(r#""uri":"GET {EXPECTED_HOST}{PATH}""#),
        );
        check_ed25519(&eddsa_signed(9, &header, &single), Method::GET, PATH).unwrap();
    }

    #[test]
    fn an_ed25519_key_refuses_what_coinbase_would() {
        let (header, claims) = eddsa_parts(NOW_S, PATH);
        // another Ed25519 key
        assert_eq!(
            check_ed25519(&eddsa_signed(10, &header, &claims), Method::GET, PATH),
            Err(AuthFailure::BadSignature)
        );
        // an ES256 token (or alg) for an Ed25519 key, and an EdDSA one for a P-256 key
        assert_eq!(
            check_ed25519(&token(7, NOW_S, "GET", PATH), Method::GET, PATH),
            Err(AuthFailure::WrongAlgorithm)
        );
        assert_eq!(
            check(&eddsa_signed(9, &header, &claims), NOW, Method::GET, PATH),
            Err(AuthFailure::WrongAlgorithm)
        );
        // another request than the one listed in uris
        assert_eq!(
            check_ed25519(
                &eddsa_signed(9, &header, &claims),
                Method::GET,
                "/api/v3/brokerage/accounts"
            ),
            Err(AuthFailure::WrongUri)
        );
        // the ES256 layout's audience with an EdDSA token
        let wrong_aud = claims.replace("cdp_service", "retail_rest_api_proxy");
        assert_eq!(
            check_ed25519(&eddsa_signed(9, &header, &wrong_aud), Method::GET, PATH),
            Err(AuthFailure::WrongAudience)
        );
        // a flipped signature bit; an expired token
        let good = eddsa_signed(9, &header, &claims);
        let (input, signature) = good.rsplit_once('.').unwrap();
        let mut raw = BASE64URL.decode(signature).unwrap();
        raw[0] ^= 1;
        let flipped = format!("{input}.{}", BASE64URL.encode(raw));
        assert_eq!(
            check_ed25519(&flipped, Method::GET, PATH),
            Err(AuthFailure::BadSignature)
        );
        let (header, old) = eddsa_parts(NOW_S - 200, PATH);
        assert_eq!(
            check_ed25519(&eddsa_signed(9, &header, &old), Method::GET, PATH),
            Err(AuthFailure::Expired)
        );
        // a registered secret of neither shape
        let broken = SimKey {
            api_secret: BASE64.encode([1u8; 48]),
            ..ed25519_sim_key()
        };
        assert_eq!(
            verify(&broken, NOW, &Method::GET, &PATH.parse().unwrap(), &good),
            Err(AuthFailure::UnusableKey)
        );
    }

    #[test]
    fn permissions_list_exactly_the_granted_rights() {
        for scenario in Scenario::ALL {
            if matches!(scenario, Scenario::IpNotWhitelisted | Scenario::Maintenance) {
                continue;
            }
            let g = scenario.grants();
            let response = answer(&key(scenario), PATH);
            assert_eq!(response.status(), StatusCode::OK);
            let body = key_permissions(scenario);
            assert_eq!(
                [&body["can_view"], &body["can_trade"], &body["can_transfer"]],
                [&json!(g.read), &json!(g.trade), &json!(g.withdraw)],
                "{scenario:?}"
            );
            assert_eq!(body.as_object().unwrap().len(), 5, "no IP list, no expiry");
            let cfm = answer(&key(scenario), "/api/v3/brokerage/cfm/balance_summary");
            // view-only keys read the futures account too; futures_missing has none
            let want = if scenario != Scenario::FuturesMissing {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(cfm.status(), want, "{scenario:?}");
        }
        assert_eq!(
            answer(&key(Scenario::IpNotWhitelisted), PATH).status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            answer(&key(Scenario::Maintenance), PATH).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
