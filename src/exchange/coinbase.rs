//! Coinbase Advanced Trade (`api.coinbase.com/api/v3/brokerage/*`) with CDP API keys.
//!
//! A CDP key is a key *name* or id (`organizations/{org}/apiKeys/{id}` or a bare UUID, the
//! config's `api_key`) and a private key (the config's `api_secret`) of one of two types, told
//! apart by the secret's shape (shared/docs/exchanges/coinbase.md §2.1, CDP docs "JWT
//! Authentication", coinbase/cdp-sdk `auth/utils/jwt`):
//! - **ECDSA**: an EC P-256 private key in PEM. Every request carries a fresh ES256 JWT: header
//!   `{"alg":"ES256","typ":"JWT","kid":NAME,"nonce":HEX}`, claims `sub` = NAME,
//!   `iss` = `coinbase-cloud`, `aud` = `["retail_rest_api_proxy"]`, `nbf` = `iat` = now,
//!   `exp` = now + 120 s and `uri` = `METHOD host path` (no scheme, no query), signed with ECDSA
//!   P-256 / SHA-256 as raw `r||s`.
//! - **Ed25519** (the CDP portal's default, "Ed25519 (Recommended)"): base64 of 64 bytes (the
//!   32-byte seed, then the public key) as the portal hands it out, or of the 32-byte seed
//!   alone. The JWT is EdDSA with the layout of Coinbase's own CDP SDK: header
//!   `{"alg":"EdDSA","kid":NAME,"typ":"JWT","nonce":HEX}`, claims `sub` = NAME, `iss` = `cdp`,
//!   `aud` = `["cdp_service"]`, `uris` = `["METHOD host path"]` (an array), `iat` = `nbf` = now,
//!   `exp` = now + 120 s. Ed25519 signatures are deterministic, so a token is reproducible.
//!
//! Both are sent as `Authorization: Bearer …`, base64url without padding.
//!
//! The `uri` claim always names the real exchange host, `api.coinbase.com`, whatever
//! `base_url` says: a base URL is a proxy (or our simulator) in front of the exchange, and its
//! path prefix is stripped before the exchange sees the request, so neither is ever signed.
//!
//! The probe reads the public server time (exchange up? our clock inside the JWT window?), the
//! key's own permissions (`key_permissions`: `can_view`, `can_trade`, `can_transfer`), the
//! accounts (read right) and, for futures connections only, the US futures (CFM) balance
//! summary. The futures right is the key's own right to trade futures: a futures account (a
//! readable CFM balance summary, or a key scoped to an INTX perpetuals portfolio) *and*
//! `can_trade`. A view-only key reads the futures balance as well as any other, and must not
//! pass for one that can trade there. What Coinbase does not tell, the facts leave unknown with
//! a note: whether the key is bound to an IP allowlist, and futures rights for a connection
//! that does not read futures.
//! No endpoint reveals the allowlist (issue 17): `key_permissions` has no field for it and a
//! request from outside it gets the same bare 401 as an unknown key (coinbase.md §5, §6), so
//! the check reports `ip_binding_unverified` and the remedy points at the CDP portal.
//!
//! Coinbase answers every authentication failure (unknown or deleted key, wrong private key,
//! expired JWT, wrong `uri`, and, as far as public reports go, a request from an IP outside the
//! key's allowlist) with the same bare `401 Unauthorized`, not JSON (§6). Other errors use the
//! grpc-gateway shape `{"error":"PERMISSION_DENIED","code":7,"message":…}` or the older
//! `{"errors":[{"id":…,"message":…}]}`; both are read, and the decision keys on that error code
//! where there is one, not on the HTTP status.

use base64::engine::general_purpose::{
    STANDARD as BASE64, STANDARD_NO_PAD as BASE64_NO_PAD, URL_SAFE_NO_PAD as BASE64URL,
};
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use p256::ecdsa::Signature;
use p256::pkcs8::DecodePrivateKey as _;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::facts::{expect_shape, reply_without, Outcome};
use super::http::{self, generic_problem, Reply};
use super::{Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem, ProblemKind};
use crate::domain::extract_ip;
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::COINBASE;
/// The host the `uri` claim names: always the real exchange host (see the module docs).
pub const SIGNED_HOST: &str = "api.coinbase.com";

/// `exp - nbf`: request JWTs live two minutes (§2.1, pitfall 2).
pub const JWT_LIFETIME_S: i64 = 120;
/// The ES256 claim layout of the doc's worked example (§3.1, ccxt): `iss` and `aud`.
pub const JWT_ISSUER: &str = "coinbase-cloud";
pub const JWT_AUDIENCE: &str = "retail_rest_api_proxy";
/// The EdDSA claim layout of Coinbase's CDP SDK (`generateJwt`), which the CDP docs' Ed25519
/// samples call: `iss` and `aud`.
pub const EDDSA_JWT_ISSUER: &str = "cdp";
pub const EDDSA_JWT_AUDIENCE: &str = "cdp_service";
/// How far before its `nbf` Coinbase still accepts a JWT. Not documented [uncertain]: the docs
/// only say tokens expire after two minutes; "a few seconds" of leeway is assumed, the same
/// value the simulator applies.
pub const NBF_LEEWAY_S: i64 = SPEC.clock_window.server_behind.ms() / 1000;

pub const PATH_TIME: &str = "/api/v3/brokerage/time";
pub const PATH_KEY_PERMISSIONS: &str = "/api/v3/brokerage/key_permissions";
pub const PATH_ACCOUNTS: &str = "/api/v3/brokerage/accounts";
/// The accounts page the probe asks for (one page is enough to prove the read right).
pub const ACCOUNTS_QUERY: &str = "limit=250";
/// US futures (Coinbase Financial Markets) balance summary.
pub const PATH_CFM_BALANCE: &str = "/api/v3/brokerage/cfm/balance_summary";

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (key name, private key, time, nonce, request).
// ---------------------------------------------------------------------------------------------

/// The private key as configured, made parseable: surrounding whitespace and quotes dropped,
/// literal `\n` escapes (a PEM pasted from a JSON key file or an env var) turned into newlines
/// (pitfall 3). A base64 Ed25519 secret passes through unchanged.
pub fn normalize_secret(secret: &str) -> String {
    secret
        .trim()
        .trim_matches('"')
        .replace("\\r\\n", "\n")
        .replace("\\n", "\n")
        .trim()
        .to_string()
}

/// A CDP key's private half, of either type Coinbase issues. `Debug` names the type only.
pub enum CdpKey {
    /// EC P-256, signs ES256 JWTs.
    Ecdsa(p256::ecdsa::SigningKey),
    /// Ed25519, signs EdDSA JWTs.
    Ed25519(ed25519_dalek::SigningKey),
}

impl CdpKey {
    /// The JWT `alg` this key signs with.
    pub fn algorithm(&self) -> &'static str {
        match self {
            CdpKey::Ecdsa(_) => "ES256",
            CdpKey::Ed25519(_) => "EdDSA",
        }
    }
}

impl std::fmt::Debug for CdpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CdpKey({}, redacted)", self.algorithm())
    }
}

/// What an `api_secret` that is neither key type is told, whatever its shape was.
const SECRET_SHAPES: &str = "a Coinbase CDP key's secret is either an EC P-256 private key in \
    PEM form (-----BEGIN EC PRIVATE KEY-----, an ECDSA key) or an Ed25519 key in base64 (64 \
    bytes: seed and public key, as the CDP portal shows it; the 32-byte seed alone works too); \
    legacy HMAC keys are not supported";

/// Parses the CDP private key, its type recognised from the secret's shape: a PEM (SEC1
/// `EC PRIVATE KEY`, what the CDP portal hands out for ECDSA keys, or PKCS#8 `PRIVATE KEY`) is
/// P-256 for ES256; anything else must be base64 of an Ed25519 key, 64 bytes (seed, then the
/// public key, which must be the seed's) or the 32-byte seed. The error names the shape it
/// found and never quotes the secret.
pub fn signing_key(secret: &str) -> Result<CdpKey, Problem> {
    let text = normalize_secret(secret);
    if text.contains("-----BEGIN") {
        let key = p256::SecretKey::from_sec1_pem(&text)
            .or_else(|_| p256::SecretKey::from_pkcs8_pem(&text))
            .map_err(|_| {
                Problem::invalid_key(format!(
                    "api_secret is a PEM but not an EC P-256 private key; {SECRET_SHAPES}"
                ))
            })?;
        return Ok(CdpKey::Ecdsa(key.into()));
    }
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = BASE64
        .decode(&compact)
        .or_else(|_| BASE64_NO_PAD.decode(&compact))
        .map_err(|_| {
            Problem::invalid_key(format!(
                "api_secret is neither a PEM nor base64; {SECRET_SHAPES}"
            ))
        })?;
    let key = match bytes.len() {
        64 => {
            let pair: &[u8; 64] = bytes[..].try_into().expect("length checked");
            ed25519_dalek::SigningKey::from_keypair_bytes(pair).map_err(|_| {
                Problem::invalid_key(
                    "api_secret is base64 of 64 bytes, but its second half is not the Ed25519 \
                     public key of its first (the seed): the secret was copied incompletely or \
                     mixed with another key's",
                )
            })?
        }
        32 => {
            let seed: &[u8; 32] = bytes[..].try_into().expect("length checked");
            ed25519_dalek::SigningKey::from_bytes(seed)
        }
        n => {
            return Err(Problem::invalid_key(format!(
                "api_secret is base64 of {n} bytes, not an Ed25519 key (64 or 32 bytes); \
                 {SECRET_SHAPES}"
            )))
        }
    };
    Ok(CdpKey::Ed25519(key))
}

/// The `uri` claim: `METHOD host path`, one space, no scheme, everything from `?` dropped.
pub fn uri_claim(method: &str, host: &str, path_and_query: &str) -> String {
    let path = path_and_query
        .split_once('?')
        .map_or(path_and_query, |(path, _)| path);
    format!("{} {host}{path}", method.to_ascii_uppercase())
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

/// The ES256 JWT header, fields in the doc's order.
pub fn jwt_header(key_name: &str, nonce: &str) -> String {
    format!(
        r#"{{"alg":"ES256","typ":"JWT","kid":{},"nonce":{}}}"#,
        json_str(key_name),
        json_str(nonce)
    )
}

/// The ES256 JWT claims for a request signed at `now_s`, fields in the doc's order (§3.1).
pub fn jwt_claims(key_name: &str, now_s: i64, uri: &str) -> String {
    format!(
        r#"{{"aud":[{}],"iss":{},"nbf":{now_s},"exp":{},"sub":{},"iat":{now_s},"uri":{}}}"#,
        json_str(JWT_AUDIENCE),
        json_str(JWT_ISSUER),
        now_s + JWT_LIFETIME_S,
        json_str(key_name),
        json_str(uri)
    )
}

/// The EdDSA JWT header, fields in the order Coinbase's CDP SDK writes them.
pub fn eddsa_jwt_header(key_name: &str, nonce: &str) -> String {
    format!(
        r#"{{"alg":"EdDSA","kid":{},"typ":"JWT","nonce":{}}}"#,
        json_str(key_name),
        json_str(nonce)
    )
}

/// The EdDSA JWT claims for a request signed at `now_s`, in the CDP SDK's layout and order:
/// the request is named in `uris`, an array, not `uri`.
pub fn eddsa_jwt_claims(key_name: &str, now_s: i64, uri: &str) -> String {
    format!(
        r#"{{"sub":{},"iss":{},"aud":[{}],"uris":[{}],"iat":{now_s},"nbf":{now_s},"exp":{}}}"#,
        json_str(key_name),
        json_str(EDDSA_JWT_ISSUER),
        json_str(EDDSA_JWT_AUDIENCE),
        json_str(uri),
        now_s + JWT_LIFETIME_S,
    )
}

/// `base64url(header) . base64url(claims)`: the bytes the signature covers.
pub fn signing_input(header: &str, claims: &str) -> String {
    format!("{}.{}", BASE64URL.encode(header), BASE64URL.encode(claims))
}

/// The whole JWT for one request, in the layout of the key's type. ECDSA signatures are 64 raw
/// bytes `r||s` (not DER); Ed25519 signatures are 64 bytes `R||S` (RFC 8032).
pub fn jwt(
    key: &CdpKey,
    key_name: &str,
    nonce: &str,
    now_s: i64,
    method: &str,
    path_and_query: &str,
) -> String {
    let uri = uri_claim(method, SIGNED_HOST, path_and_query);
    match key {
        CdpKey::Ecdsa(key) => {
            let input = signing_input(
                &jwt_header(key_name, nonce),
                &jwt_claims(key_name, now_s, &uri),
            );
            let signature: Signature = key.sign(input.as_bytes());
            format!("{input}.{}", BASE64URL.encode(signature.to_bytes()))
        }
        CdpKey::Ed25519(key) => {
            let input = signing_input(
                &eddsa_jwt_header(key_name, nonce),
                &eddsa_jwt_claims(key_name, now_s, &uri),
            );
            let signature = key.sign(input.as_bytes());
            format!("{input}.{}", BASE64URL.encode(signature.to_bytes()))
        }
    }
}

/// A nonce unique per request: 16 bytes of SHA-256 over the time, the process id and a counter,
/// as 32 hex characters. Coinbase only needs it unique; any length is accepted (§2.1).
pub fn nonce() -> String {
    let stamp = crate::unique::stamp();
    let mut hash = Sha256::new();
    hash.update(stamp.nanos.to_be_bytes());
    hash.update(std::process::id().to_be_bytes());
    hash.update(stamp.count.to_be_bytes());
    hex::encode(&hash.finalize()[..16])
}

/// The legacy (deprecated) HMAC key scheme, §2.2: lowercase hex HMAC-SHA256 over
/// `timestamp + METHOD + path + body`, timestamp in seconds, path without the query. Kept as a
/// reproduced reference only: the probe signs with CDP keys, which is what Coinbase issues now.
pub fn legacy_hmac_signature(
    secret: &str,
    timestamp_s: i64,
    method: &str,
    path: &str,
    body: &str,
) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(format!("{timestamp_s}{}{path}{body}", method.to_ascii_uppercase()).as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// The headers of one signed request. The bearer token is key material: marked sensitive.
fn auth_headers(
    credentials: &Credentials,
    key: &CdpKey,
    method: &str,
    path_and_query: &str,
    now_ms: i64,
) -> Result<HeaderMap, Problem> {
    let token = jwt(
        key,
        credentials.api_key.expose_secret().trim(),
        &nonce(),
        now_ms.div_euclid(1000),
        method,
        path_and_query,
    );
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Problem::invalid_key("the request token cannot be sent in an HTTP header"))?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// The error code and message of a JSON error body, in either of Coinbase's shapes:
/// grpc-gateway `{"error":"PERMISSION_DENIED","code":7,"message":…}` (v3, the OpenAPI default
/// error schema) or `{"errors":[{"id":"rate_limit_exceeded","message":…}]}` (v2 / App API). A
/// grpc body with only a numeric `code` is named by the grpc status it stands for.
fn error_of(body: &Value) -> Option<(String, String)> {
    let message = |v: &Value| {
        ["message", "error_details", "error_description"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .unwrap_or("")
            .to_string()
    };
    if let Some(code) = body.get("error").and_then(Value::as_str) {
        return Some((code.to_string(), message(body)));
    }
    if let Some(first) = body
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        let id = first.get("id").and_then(Value::as_str).unwrap_or("");
        return Some((id.to_string(), message(first)));
    }
    let code = body.get("code").and_then(Value::as_i64)?;
    let name = match code {
        5 => "NOT_FOUND",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        16 => "UNAUTHENTICATED",
        _ => return Some((code.to_string(), message(body))),
    };
    Some((name.to_string(), message(body)))
}

/// Whether an error message is about the key's IP allowlist. Coinbase documents no such
/// message (an IP refusal is reported as a bare 401) [uncertain]; should one ever carry words,
/// they are read tolerantly.
fn mentions_ip_allowlist(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("allowlist")
        || lower.contains("whitelist")
        || (lower.contains("ip") && extract_ip(message).is_some())
}

const BARE_401_NOTE: &str = "Coinbase answers an unknown, deleted or disabled key, a token \
    signed with another private key, an expired token and a request from an IP outside the \
    key's allowlist all with this same bare 401";

/// Reads one reply: the HTTP-level problems every exchange shares first, then Coinbase's own
/// error code. `not_found_is_denial`: a 404 on this endpoint means "you have none of these"
/// (the futures read: no futures account), not a broken API.
fn read_reply(reply: &Reply, what: &str, not_found_is_denial: bool) -> Outcome {
    let parsed = serde_json::from_slice::<Value>(&reply.body).ok();
    let error = parsed.as_ref().and_then(error_of);
    if let Some(mut problem) = generic_problem(reply, what) {
        if let Some((code, msg)) = &error {
            let wait = http::retry_text(problem.retry_after);
            problem.message = format!("{what}: HTTP {} {code} {msg}", reply.status.as_u16())
                .trim_end()
                .to_string()
                + &wait;
        }
        return Outcome::Problem(problem);
    }
    let status = reply.status.as_u16();
    if reply.status.is_success() {
        return match reply.json::<Value>(what) {
            // An error body with HTTP 200 is read as the error it is.
            Ok(body) if body.get("error").is_some_and(Value::is_string) => {
                classify(reply, what, error, not_found_is_denial)
            }
            Ok(body) => Outcome::Ok(body),
            Err(problem) => Outcome::Problem(problem),
        };
    }
    if error.is_none() && status != 401 && status != 403 && status != 404 {
        return Outcome::Problem(Problem::unavailable(
            format!(
                "{what}: HTTP {status} {} (unexpected Coinbase reply)",
                reply.snippet()
            )
            .replace("  ", " "),
        ));
    }
    classify(reply, what, error, not_found_is_denial)
}

fn classify(
    reply: &Reply,
    what: &str,
    error: Option<(String, String)>,
    not_found_is_denial: bool,
) -> Outcome {
    let status = reply.status.as_u16();
    let Some((code, msg)) = error else {
        // No JSON error code: the bare answers Coinbase is known for.
        let said = format!("{what}: HTTP {status} {}", reply.snippet())
            .trim_end()
            .to_string();
        return match status {
            401 => Outcome::Problem(Problem::invalid_key(format!("{said} ({BARE_401_NOTE})"))),
            404 if !not_found_is_denial => Outcome::Problem(Problem::unavailable(said)),
            _ => Outcome::Denied(said),
        };
    };
    let said = format!("{what}: HTTP {status} {code} {msg}")
        .trim_end()
        .to_string();
    // Keyed on the error code, not the HTTP status: which status goes with which code is not
    // documented per code [uncertain] (§6 is partly uncertain).
    let problem = match code.to_ascii_lowercase().as_str() {
        "unauthenticated"
        | "unauthorized"
        | "authentication_error"
        | "invalid_token"
        | "expired_token"
        | "revoked_token"
        | "invalid_api_key" => {
            if msg.to_ascii_lowercase().contains("timestamp") {
                // legacy-key wording "request timestamp expired" (ccxt maps it to InvalidNonce)
                Problem::clock_skew(said)
            } else if mentions_ip_allowlist(&msg) {
                Problem::ip_not_allowed(said)
            } else {
                Problem::invalid_key(said)
            }
        }
        "permission_denied" | "invalid_scope" | "forbidden" => {
            if mentions_ip_allowlist(&msg) {
                Problem::ip_not_allowed(said)
            } else {
                return Outcome::Denied(said);
            }
        }
        "not_found" if not_found_is_denial => return Outcome::Denied(said),
        "rate_limit_exceeded" | "resource_exhausted" | "too_many_requests" => {
            Problem::rate_limited(said, reply.retry_after())
        }
        "unavailable" | "internal" | "internal_server_error" | "service_unavailable" => {
            Problem::unavailable(said)
        }
        _ => Problem::unavailable(format!("{said} (unexpected Coinbase reply)")),
    };
    Outcome::Problem(problem)
}

/// The server time of `/api/v3/brokerage/time` in ms: `epochMillis` (a string per the docs; a
/// number is accepted too), else `epochSeconds`, else the ISO form.
fn server_time_ms(body: &Value) -> Option<i64> {
    let number = |key: &str| match body.get(key)? {
        Value::String(s) => s.trim().parse::<f64>().ok(),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    number("epochMillis")
        .map(|ms| ms as i64)
        .or_else(|| number("epochSeconds").map(|s| (s * 1000.0) as i64))
        .or_else(|| {
            let iso = body.get("iso")?.as_str()?;
            chrono::DateTime::parse_from_rfc3339(iso)
                .ok()
                .map(|t| t.timestamp_millis())
        })
}

/// `None` when a JWT signed by our clock lands inside Coinbase's window, else the problem. A
/// server ahead of us sees our token expire (`exp` = `nbf` + 120 s); one behind us sees its
/// `nbf` in the future (beyond the assumed leeway).
pub fn skew_problem(offset_ms: i64) -> Option<Problem> {
    let inside = SPEC.clock_window.contains(offset_ms);
    let what = format!("GET {PATH_TIME}");
    Problem::skew_outside_window(inside, &what, "Coinbase's server clock", offset_ms, || {
        format!(
            "a request token is valid from its nbf (our clock) for {JWT_LIFETIME_S} s, with \
             about {NBF_LEEWAY_S} s of leeway before it"
        )
    })
}

/// What `key_permissions` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPermissions {
    pub can_view: bool,
    pub can_trade: bool,
    pub can_transfer: bool,
    pub portfolio_type: Option<String>,
}

impl KeyPermissions {
    /// The documented shape (§4.3); booleans given as `"true"`/`"false"` strings are tolerated.
    pub fn parse(body: &Value) -> Option<KeyPermissions> {
        let flag = |key: &str| match body.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        };
        Some(KeyPermissions {
            can_view: flag("can_view")?,
            can_trade: flag("can_trade")?,
            can_transfer: flag("can_transfer")?,
            portfolio_type: body
                .get("portfolio_type")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    /// Read = `can_view`, spot trade = `can_trade`, withdraw = `can_transfer` (Coinbase has no
    /// separate withdraw flag, §5). Futures: a key scoped to an `INTX` portfolio (the
    /// international perpetuals portfolio) may trade perpetuals exactly when it may trade at
    /// all (`can_trade`: the `trade` scope covers every order endpoint, rest-scopes); for any
    /// other key key_permissions says nothing about futures (the futures read does).
    pub fn apply(&self, facts: &mut Facts) {
        facts.permissions.read = Some(self.can_view);
        facts.permissions.trade = Some(self.can_trade);
        facts.permissions.withdraw = Some(self.can_transfer);
        if self.portfolio_type.as_deref() == Some("INTX") {
            facts.permissions.futures = Some(self.can_trade);
            facts.notes.push(if self.can_trade {
                "key is scoped to an INTX (perpetuals) portfolio".to_string()
            } else {
                "key is scoped to an INTX (perpetuals) portfolio but cannot trade \
                 (can_trade = false)"
                    .to_string()
            });
        }
    }
}

/// The futures right once the futures account has been read: the account is there, so the key
/// may trade futures exactly when it may trade (`can_trade`; unknown when key_permissions was
/// refused). A view-only key reads the futures balance too; readable is not tradable.
fn futures_right_with_account(facts: &mut Facts) {
    match facts.permissions.trade {
        Some(true) => facts.permissions.futures = Some(true),
        Some(false) => {
            facts.permissions.futures = Some(false);
            facts.notes.push(
                "the key reads the futures (CFM) account but cannot trade (can_trade = false), \
                 so it cannot trade futures"
                    .to_string(),
            );
        }
        None => {
            facts.notes.push(
                "futures account present; whether the key may trade there is unknown \
                 (key_permissions was refused)"
                    .to_string(),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Coinbase {
    http: HttpClient,
}

impl Coinbase {
    pub fn new(http: HttpClient) -> Coinbase {
        Coinbase { http }
    }

    async fn signed(
        &self,
        target: &ProbeTarget,
        key: &CdpKey,
        base: &str,
        path_and_query: &str,
        what: &str,
        not_found_is_denial: bool,
    ) -> Outcome {
        self.http
            .get_signed(base, |now| {
                let headers = auth_headers(&target.credentials, key, "GET", path_and_query, now)?;
                Ok((format!("{base}{path_and_query}"), headers))
            })
            .await
            .map_or_else(Outcome::Problem, |reply| {
                read_reply(&reply, what, not_found_is_denial)
            })
    }
}

impl Probe for Coinbase {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let base = target.spot_base();

        // 1. Exchange up, and a token signed by our clock inside Coinbase's window. (Coinbase's
        // status page lives on another host, status.coinbase.com; maintenance and outages show
        // on the API itself as 5xx, which is what this reads.)
        let what = format!("GET {PATH_TIME}");
        let (reply, trip) = self
            .http
            .get_timed(&format!("{base}{PATH_TIME}"), HeaderMap::new())
            .await?;
        let body = match read_reply(&reply, &what, false) {
            Outcome::Ok(body) => body,
            Outcome::Denied(said) => return Err(Problem::unavailable(said)),
            Outcome::Problem(problem) => {
                // A public endpoint is never the key's fault.
                return Err(match problem.kind {
                    ProblemKind::RateLimited | ProblemKind::Unavailable => problem,
                    _ => Problem::unavailable(problem.message),
                });
            }
        };
        let server = server_time_ms(&body).ok_or_else(|| {
            Problem::unavailable(format!(
                "{what}: reply without a server time: {}",
                reply.snippet()
            ))
        })?;
        if let Some(problem) = skew_problem(trip.clock_offset_ms(server)) {
            return Err(problem);
        }

        // 2. The key itself: its private key must parse before anything can be signed.
        let key = signing_key(target.credentials.api_secret.expose_secret())?;
        facts
            .notes
            .push("Coinbase does not report whether a key is bound to an IP allowlist".to_string());

        // 3. What the key may do.
        let what = format!("GET {PATH_KEY_PERMISSIONS}");
        let outcome = self
            .signed(target, &key, base, PATH_KEY_PERMISSIONS, &what, false)
            .await;
        if let Some(body) = outcome.granted(facts, |p| &mut p.read)? {
            let permissions = KeyPermissions::parse(&body).ok_or_else(|| {
                Problem::unavailable(format!(
                    "{what}: reply without can_view/can_trade/can_transfer: {}",
                    body.to_string().chars().take(120).collect::<String>()
                ))
            })?;
            permissions.apply(facts);
        }

        // 4. Can it read balances?
        let what = format!("GET {PATH_ACCOUNTS}");
        let path = format!("{PATH_ACCOUNTS}?{ACCOUNTS_QUERY}");
        let outcome = self.signed(target, &key, base, &path, &what, false).await;
        if let Some(body) = outcome.granted(facts, |p| &mut p.read)? {
            let accounts = |b: &Value| b.get("accounts").is_some_and(Value::is_array);
            expect_shape(body, accounts, &what, "an accounts list")?;
            facts.permissions.read = Some(true);
        }

        // 5. Futures: read the futures account only when the connection trades futures.
        if !target.markets.futures {
            if facts.permissions.futures.is_none() {
                facts.notes.push(
                    "futures right unknown: Coinbase's key_permissions does not report it and \
                     this connection does not read the futures account"
                        .to_string(),
                );
            }
            return Ok(());
        }
        let futures = target.futures_base();
        let what = format!("GET {PATH_CFM_BALANCE}");
        // Which refusal Coinbase gives a key without a futures account (403 or 404) is
        // [uncertain]; both count as "no futures".
        match self
            .signed(target, &key, futures, PATH_CFM_BALANCE, &what, true)
            .await
        {
            Outcome::Ok(body) if body.get("balance_summary").is_some_and(Value::is_object) => {
                futures_right_with_account(facts)
            }
            Outcome::Ok(_) => return Err(reply_without(&what, "a balance_summary")),
            Outcome::Denied(said) => {
                // An INTX portfolio trades perpetuals without a US futures account.
                if facts.permissions.futures != Some(true) {
                    facts.permissions.futures = Some(false);
                }
                facts.notes.push(format!("futures refused: {said}"));
            }
            Outcome::Problem(problem) => return Err(problem),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
