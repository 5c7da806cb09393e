//! KuCoin: classic spot API (`api.kucoin.com`) and the futures API (`api-futures.kucoin.com`).
//!
//! Signing (identical on both hosts): `KC-API-SIGN` = base64(HMAC-SHA256(secret, timestamp +
//! METHOD + requestPath(+`?`+query) + body)); `KC-API-PASSPHRASE` = base64(HMAC-SHA256(secret,
//! passphrase)) for key version 2/3, which is what we send (`KC-API-KEY-VERSION: 2`).
//!
//! The probe reads the server time (our clock must be within KuCoin's 5 s window), the public
//! service status, then the key's own description (`/api/v1/user/api-key`: permissions, masked IP
//! whitelist), the spot balances, and, for futures connections, the futures status and account.
//! Every reply is checked by its JSON `code` (a string, `"200000"` = success), since KuCoin can
//! answer errors with HTTP 200.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde::Deserialize;
use serde_json::Value;
use sha2::Sha256;

use super::facts::Outcome;
use super::http;
use super::http::{generic_problem, Reply, RoundTrip};
use super::{
    BoxFuture, Credentials, Exchange, ExchangeKind, Facts, HttpClient, ProbeTarget, Problem,
    ProblemKind,
};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::KUCOIN;

/// KuCoin refuses a request whose timestamp is this far (or further) from its own clock.
pub const RECV_WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();

/// The key version we declare: 2 = hashed passphrase (3 behaves the same).
pub const KEY_VERSION: &str = "2";

/// Success code of KuCoin's JSON envelope.
pub const CODE_OK: &str = "200000";

pub const PATH_TIMESTAMP: &str = "/api/v1/timestamp";
pub const PATH_STATUS: &str = "/api/v1/status";
pub const PATH_API_KEY: &str = "/api/v1/user/api-key";
pub const PATH_ACCOUNTS: &str = "/api/v1/accounts";
pub const PATH_FUTURES_OVERVIEW: &str = "/api/v1/account-overview";

type HmacSha256 = Hmac<Sha256>;

/// base64(HMAC-SHA256(key = secret as UTF-8, msg)), standard alphabet with padding.
pub fn hmac_base64(secret: &str, msg: &str) -> String {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(msg.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// The string KuCoin signs: timestamp + METHOD + request path (with `?query` exactly as sent,
/// never the host or a proxy prefix) + body (empty for GET/DELETE).
pub fn prehash(timestamp_ms: i64, method: &str, request_path: &str, body: &str) -> String {
    format!(
        "{timestamp_ms}{}{request_path}{body}",
        method.to_ascii_uppercase()
    )
}

/// `KC-API-SIGN` for one request.
pub fn signature(
    secret: &str,
    timestamp_ms: i64,
    method: &str,
    request_path: &str,
    body: &str,
) -> String {
    hmac_base64(secret, &prehash(timestamp_ms, method, request_path, body))
}

/// `KC-API-PASSPHRASE` for key versions 2 and 3: the passphrase HMAC'd with the secret.
pub fn passphrase_header(secret: &str, passphrase: &str) -> String {
    hmac_base64(secret, passphrase)
}

/// The five auth headers of a signed request, as (name, value) pairs in the order KuCoin lists
/// them. Pure: the same inputs give the same bytes. The values are key material: never log them.
pub fn auth_header_values(
    credentials: &Credentials,
    timestamp_ms: i64,
    method: &str,
    request_path: &str,
    body: &str,
) -> [(&'static str, String); 5] {
    let secret = credentials.api_secret.expose_secret();
    let passphrase = credentials
        .passphrase
        .as_ref()
        .map(|p| p.expose_secret())
        .unwrap_or_default();
    [
        (
            "KC-API-KEY",
            credentials.api_key.expose_secret().to_string(),
        ),
        (
            "KC-API-SIGN",
            signature(secret, timestamp_ms, method, request_path, body),
        ),
        ("KC-API-TIMESTAMP", timestamp_ms.to_string()),
        ("KC-API-PASSPHRASE", passphrase_header(secret, passphrase)),
        ("KC-API-KEY-VERSION", KEY_VERSION.to_string()),
    ]
}

/// The auth headers as a reqwest `HeaderMap`, every value marked sensitive. Fails (without
/// quoting the key) when the API key holds bytes that cannot travel in an HTTP header.
pub fn auth_headers(
    credentials: &Credentials,
    timestamp_ms: i64,
    method: &str,
    request_path: &str,
    body: &str,
) -> Result<HeaderMap, Problem> {
    http::sensitive_headers(auth_header_values(
        credentials,
        timestamp_ms,
        method,
        request_path,
        body,
    ))
}

/// KuCoin's JSON envelope: `{"code":"200000","data":...}` or `{"code":"400005","msg":"..."}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    code: Value,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    data: Value,
}

impl Envelope {
    /// The code as text. The docs say it is a string; a number is accepted too, tolerantly.
    fn code(&self) -> String {
        match &self.code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    fn msg(&self) -> &str {
        self.msg.as_deref().unwrap_or("")
    }
}

/// `Retry-After` (seconds) when sent, else KuCoin's `gw-ratelimit-reset` (ms until the pool refills).
fn retry_after(reply: &Reply) -> Option<Duration> {
    reply.retry_after().or_else(|| {
        reply
            .headers
            .get("gw-ratelimit-reset")?
            .to_str()
            .ok()?
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_millis)
    })
}

/// Reads one reply: the HTTP-level problems every exchange shares first, then KuCoin's `code`.
fn read_reply(reply: &Reply, what: &str) -> Outcome {
    let parsed = reply.json::<Envelope>(what);
    if let Some(mut problem) = generic_problem(reply, what) {
        if problem.kind == ProblemKind::RateLimited {
            problem.retry_after = retry_after(reply);
        }
        // KuCoin's own body (e.g. 503 + code 500000 in maintenance): quote its code and msg.
        if let Ok(env) = &parsed {
            problem.message = format!(
                "{what}: HTTP {}, code {} {}{}",
                reply.status.as_u16(),
                env.code(),
                env.msg(),
                wait_text(problem.retry_after)
            )
            .trim_end()
            .to_string();
        }
        return Outcome::Problem(problem);
    }
    let env = match parsed {
        Ok(env) => env,
        Err(problem) => return Outcome::Problem(problem),
    };
    let code = env.code();
    // "200" is accepted as success too: ccxt treats it so, some endpoints have answered it.
    if code == CODE_OK || code == "200" {
        return Outcome::Ok(env.data);
    }
    let said = format!("{what}: code {code} {}", env.msg())
        .trim_end()
        .to_string();
    // Keyed on the JSON code, never on the HTTP status: which status goes with which code is
    // not documented per code [uncertain], and some errors come with HTTP 200.
    let problem = match code.as_str() {
        "400007" => return Outcome::Denied(said),
        "400002" => Problem::clock_skew(format!(
            "{said} (KuCoin accepts a timestamp less than {} s from its clock)",
            RECV_WINDOW_MS / 1000
        )),
        // missing header, unknown key, passphrase, signature; user frozen / not logged in
        "400001" | "400003" | "400004" | "400005" | "411100" | "400401" => {
            Problem::invalid_key(said)
        }
        "400006" => Problem::ip_not_allowed(said),
        // 200002 is also "order cancel suspended" on order endpoints [ambiguous]; none of ours
        // places or cancels orders, so here it is the per-endpoint rate limit.
        "429000" | "200002" => {
            let wait = retry_after(reply);
            Problem::rate_limited(format!("{said}{}", wait_text(wait)), wait)
        }
        // region restriction: KuCoin refuses service to where this host's IP is
        "400500" | "126045" | "126046" => Problem::ip_not_allowed(said),
        "500000" => Problem::unavailable(said),
        _ => Problem::unavailable(format!("{said} (unexpected KuCoin reply)")),
    };
    Outcome::Problem(problem)
}

fn wait_text(wait: Option<Duration>) -> String {
    wait.map(|d| format!(", retry after {d:?}"))
        .unwrap_or_default()
}

/// `data` of `/api/v1/timestamp`: ms since the epoch (integer per the docs; a numeric string is
/// accepted too).
fn server_time(data: &Value) -> Option<i64> {
    match data {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `data` of `/api/v1/status`: `open`, `close` (maintenance) or `cancelonly`.
fn status_problem(data: &Value, what: &str) -> Option<Problem> {
    let status = data.get("status").and_then(Value::as_str);
    let msg = data.get("msg").and_then(Value::as_str).unwrap_or("");
    match status {
        Some("open") => None,
        Some(other) => Some(Problem::unavailable(
            format!("{what}: KuCoin status {other}: {msg}")
                .trim_end_matches([' ', ':'])
                .to_string(),
        )),
        None => Some(Problem::unavailable(format!(
            "{what}: reply without a status field"
        ))),
    }
}

/// What `/api/v1/user/api-key` says about the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyInfo {
    pub permissions: Vec<String>,
    pub ip_whitelist: Vec<String>,
    pub created_at_ms: Option<i64>,
    pub is_master: Option<bool>,
    pub sub_name: Option<String>,
}

impl KeyInfo {
    /// Parses `data`. `permission` is a comma-separated string in the docs; a JSON array is
    /// accepted as well. `ipWhitelist` may be absent, empty, a string or (tolerantly) an array.
    pub fn from_data(data: &Value) -> Option<KeyInfo> {
        let list = |v: Option<&Value>| -> Option<Vec<String>> {
            match v {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::String(s)) => Some(
                    s.split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                ),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect(),
                ),
                Some(_) => None,
            }
        };
        let obj = data.as_object()?;
        obj.get("permission")?;
        Some(KeyInfo {
            permissions: list(obj.get("permission"))?,
            ip_whitelist: list(obj.get("ipWhitelist"))?,
            created_at_ms: obj.get("createdAt").and_then(Value::as_i64),
            is_master: obj.get("isMaster").and_then(Value::as_bool),
            sub_name: obj
                .get("subName")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        })
    }

    fn has(&self, permission: &str) -> bool {
        self.permissions
            .iter()
            .any(|p| p.eq_ignore_ascii_case(permission))
    }

    /// Fills rights, IP binding and notes into `facts`. `General` = read, `Spot` = spot trade,
    /// `Futures` = futures, `Transfer` = withdraw (`InnerTransfer` moves funds only between the
    /// user's own accounts and is not a withdraw right).
    pub fn apply(&self, facts: &mut Facts) {
        facts.permissions.read = Some(self.has("General"));
        facts.permissions.trade = Some(self.has("Spot"));
        facts.permissions.withdraw = Some(self.has("Transfer"));
        facts.permissions.futures = Some(self.has("Futures"));
        // The whitelist comes masked (`203.**.154`), so it cannot be compared with our IP; a
        // successful signed call already proves our IP is allowed.
        facts.ip_restricted = Some(!self.ip_whitelist.is_empty());
        // KuCoin returns no expiry date and no expiry rule was found in its docs [uncertain].
        facts.expires_at = None;
        if let Some(created) = self
            .created_at_ms
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        {
            facts.notes.push(format!(
                "KuCoin reports no expiry date; key created {}",
                created.format("%Y-%m-%d")
            ));
        }
        if self.has("Margin") {
            facts
                .notes
                .push("key also holds KuCoin's Margin trading right".to_string());
        }
        if let Some(sub) = &self.sub_name {
            facts.notes.push(format!("sub-account key ({sub})"));
        }
    }
}

pub struct Kucoin {
    http: HttpClient,
}

impl Kucoin {
    pub fn new(http: HttpClient) -> Kucoin {
        Kucoin { http }
    }

    async fn public(&self, base: &str, path: &str, what: &str) -> Outcome {
        self.public_timed(base, path, what).await.0
    }

    /// A public call, with the instants it was sent and answered (for the clock offset).
    async fn public_timed(
        &self,
        base: &str,
        path: &str,
        what: &str,
    ) -> (Outcome, Option<RoundTrip>) {
        match self
            .http
            .get_timed(&format!("{base}{path}"), HeaderMap::new())
            .await
        {
            Ok((reply, trip)) => (read_reply(&reply, what), Some(trip)),
            Err(problem) => (Outcome::Problem(problem), None),
        }
    }

    async fn signed(&self, target: &ProbeTarget, base: &str, path: &str, what: &str) -> Outcome {
        let signed = self.http.get_signed(base, |now| {
            let headers = auth_headers(&target.credentials, now, "GET", path, "")?;
            Ok((format!("{base}{path}"), headers))
        });
        match signed.await {
            Ok(reply) => read_reply(&reply, what),
            Err(problem) => Outcome::Problem(problem),
        }
    }

    async fn run(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        if target.credentials.passphrase.is_none() {
            return Err(Problem::invalid_key(
                "KuCoin keys need the passphrase chosen when the key was created; none is configured",
            ));
        }
        let spot = target.spot_base(SPEC.spot_host);

        // 1. Is the exchange up, and is our clock inside its window?
        let what = format!("GET {PATH_TIMESTAMP}");
        let (outcome, trip) = self.public_timed(spot, PATH_TIMESTAMP, &what).await;
        let data = outcome.public_data()?;
        // An outcome with data came from a reply, which has its round trip.
        let trip = trip.ok_or_else(|| Problem::unavailable(format!("{what}: no reply")))?;
        let server = server_time(&data)
            .ok_or_else(|| Problem::unavailable(format!("{what}: reply without a server time")))?;
        if let Some(problem) = SPEC.skew_problem(&format!("GET {PATH_TIMESTAMP}"), trip.clock_offset_ms(server)) {
            return Err(problem);
        }
        let what = format!("GET {PATH_STATUS}");
        let data = self.public(spot, PATH_STATUS, &what).await.public_data()?;
        if let Some(problem) = status_problem(&data, &what) {
            return Err(problem);
        }

        // 2. What the key is allowed to do.
        let what = format!("GET {PATH_API_KEY}");
        match self.signed(target, spot, PATH_API_KEY, &what).await {
            Outcome::Ok(data) => {
                let info = KeyInfo::from_data(&data).ok_or_else(|| {
                    Problem::unavailable(format!("{what}: reply without a permission list"))
                })?;
                info.apply(facts);
            }
            // The endpoint needs General (read): a key without it cannot describe itself.
            Outcome::Denied(said) => {
                facts.permissions.read = Some(false);
                facts.notes.push(said);
            }
            Outcome::Problem(problem) => return Err(problem),
        }

        // 3. Can it read balances?
        let what = format!("GET {PATH_ACCOUNTS}");
        match self.signed(target, spot, PATH_ACCOUNTS, &what).await {
            Outcome::Ok(data) if data.is_array() => facts.permissions.read = Some(true),
            Outcome::Ok(_) => {
                return Err(Problem::unavailable(format!(
                    "{what}: reply without an account list"
                )))
            }
            Outcome::Denied(said) => {
                facts.permissions.read = Some(false);
                facts.notes.push(said);
            }
            Outcome::Problem(problem) => return Err(problem),
        }

        // 4. Futures, only when the connection trades them.
        if target.markets.futures {
            let futures = target.futures_base(SPEC.futures_host);
            let what = format!("GET {PATH_STATUS} (futures host)");
            let data = self
                .public(futures, PATH_STATUS, &what)
                .await
                .public_data()?;
            if let Some(problem) = status_problem(&data, &what) {
                return Err(problem);
            }
            let what = format!("GET {PATH_FUTURES_OVERVIEW} (futures host)");
            match self
                .signed(target, futures, PATH_FUTURES_OVERVIEW, &what)
                .await
            {
                Outcome::Ok(data) if data.is_object() => facts.permissions.futures = Some(true),
                Outcome::Ok(_) => {
                    return Err(Problem::unavailable(format!(
                        "{what}: reply without an account overview"
                    )))
                }
                Outcome::Denied(said) => {
                    facts.permissions.futures = Some(false);
                    facts.notes.push(said);
                }
                Outcome::Problem(problem) => return Err(problem),
            }
        }
        Ok(())
    }
}

impl Exchange for Kucoin {
    fn kind(&self) -> ExchangeKind {
        ExchangeKind::Kucoin
    }

    fn steps<'a>(
        &'a self,
        target: &'a ProbeTarget,
        facts: &'a mut Facts,
    ) -> BoxFuture<'a, Result<(), Problem>> {
        Box::pin(self.run(target, facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;
    use reqwest::header::HeaderValue;
    use reqwest::StatusCode;
    use serde_json::json;

    fn creds(key: &str, secret: &str, passphrase: &str) -> Credentials {
        Credentials {
            api_key: SecretString::from(key.to_string()),
            api_secret: SecretString::from(secret.to_string()),
            passphrase: Some(SecretString::from(passphrase.to_string())),
        }
    }

    const TS: i64 = 1_700_000_000_000;

    // Section 3, common: the hashed passphrase.
    #[test]
    fn passphrase_is_hmaced_with_the_secret() {
        assert_eq!(
            passphrase_header("testsecret", "testpass"),
            "5geeOuzPRVAMNghwj4ECAxLPxLiO667f7Kkx53zWBsc="
        );
    }

    // 3a, with the full header set.
    #[test]
    fn worked_example_3a_api_key_headers() {
        assert_eq!(
            prehash(TS, "GET", "/api/v1/user/api-key", ""),
            "1700000000000GET/api/v1/user/api-key"
        );
        let headers = auth_header_values(
            &creds("testkey", "testsecret", "testpass"),
            TS,
            "GET",
            "/api/v1/user/api-key",
            "",
        );
        let expected = [
            ("KC-API-KEY", "testkey"),
            (
                "KC-API-SIGN",
                "lmSswjjoK8koCY5pq8gc9C+f5/LbLv9UPdGcg8OVnHc=",
            ),
            ("KC-API-TIMESTAMP", "1700000000000"),
            (
                "KC-API-PASSPHRASE",
                "5geeOuzPRVAMNghwj4ECAxLPxLiO667f7Kkx53zWBsc=",
            ),
            ("KC-API-KEY-VERSION", "2"),
        ];
        for ((name, value), (want_name, want_value)) in headers.iter().zip(expected) {
            assert_eq!(*name, want_name);
            assert_eq!(value, want_value);
        }
        let map = auth_headers(
            &creds("testkey", "testsecret", "testpass"),
            TS,
            "GET",
            "/api/v1/user/api-key",
            "",
        )
        .unwrap();
        assert_eq!(
            map.get("KC-API-SIGN").unwrap().to_str().unwrap(),
            "lmSswjjoK8koCY5pq8gc9C+f5/LbLv9UPdGcg8OVnHc="
        );
        assert!(map.get("KC-API-PASSPHRASE").unwrap().is_sensitive());
        assert_eq!(map.len(), 5);
    }

    // 3b.
    #[test]
    fn worked_example_3b_accounts() {
        assert_eq!(
            signature("testsecret", TS, "GET", "/api/v1/accounts", ""),
            "Gi/XL3iadCgRnIK9XzPe7wtZgMHZInb7c3LUWsHnbHY="
        );
        assert_eq!(
            prehash(TS, "GET", "/api/v1/accounts?type=trade&currency=USDT", ""),
            "1700000000000GET/api/v1/accounts?type=trade&currency=USDT"
        );
        assert_eq!(
            signature(
                "testsecret",
                TS,
                "GET",
                "/api/v1/accounts?type=trade&currency=USDT",
                ""
            ),
            "K34vBo1w776EiUxhnfZWf4IuHJQCFX+16aS/AALnjr4="
        );
    }

    // 3c.
    #[test]
    fn worked_example_3c_futures_overview() {
        assert_eq!(
            signature("testsecret", TS, "GET", "/api/v1/account-overview", ""),
            "/m4MZS3YHaxt7AgDXoBFqRd2QwlR0BiJw/LVaWIFa8o="
        );
        assert_eq!(
            signature(
                "testsecret",
                TS,
                "GET",
                "/api/v1/account-overview?currency=USDT",
                ""
            ),
            "Pvqyd31H3S6EU5gmbgQKou8jm/UG8W7nQutGni1Vi28="
        );
    }

    // 3e.
    #[test]
    fn worked_example_3e_post_with_body() {
        let body = r#"{"currency":"BTC"}"#;
        assert_eq!(
            prehash(TS, "post", "/api/v1/deposit-addresses", body),
            r#"1700000000000POST/api/v1/deposit-addresses{"currency":"BTC"}"#
        );
        assert_eq!(
            signature("testsecret", TS, "POST", "/api/v1/deposit-addresses", body),
            "LTQqF1VrAVdw0uTfe0GFTFKWWJazwljW+yz1GEhnz40="
        );
    }

    // 3f: the official docs' example (its passphrase header is not a v2 vector, so not used).
    #[test]
    fn worked_example_3f_official_docs() {
        let body = r#"{"currency":"BTC"}"#;
        assert_eq!(
            prehash(1_547_015_186_532, "POST", "/api/v1/deposit-addresses", body),
            r#"1547015186532POST/api/v1/deposit-addresses{"currency":"BTC"}"#
        );
        assert_eq!(
            signature(
                "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3",
                1_547_015_186_532,
                "POST",
                "/api/v1/deposit-addresses",
                body
            ),
            "7QP/oM0ykidMdrfNEUmng8eZjg/ZvPafjIqmxiVfYu4="
        );
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_refused_without_quoting_it() {
        let err = auth_headers(&creds("bad\nkey", "s", "p"), TS, "GET", "/x", "").unwrap_err();
        assert_eq!(err.kind, ProblemKind::InvalidKey);
        assert!(!err.message.contains("bad"));
    }

    fn reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        Reply {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
        }
    }

    fn problem_of(r: &Reply) -> Problem {
        match read_reply(r, "GET /api/v1/accounts") {
            Outcome::Problem(p) => p,
            other => panic!("expected a problem, got {other:?}"),
        }
    }

    #[test]
    fn success_code_is_a_string_but_a_number_is_tolerated() {
        let r = reply(200, &[], r#"{"code":"200000","data":[]}"#);
        assert!(matches!(read_reply(&r, "x"), Outcome::Ok(Value::Array(_))));
        let r = reply(200, &[], r#"{"code":200000,"data":[]}"#);
        assert!(matches!(read_reply(&r, "x"), Outcome::Ok(_)));
    }

    #[test]
    fn error_codes_map_to_problems_whatever_the_http_status() {
        let cases = [
            (401, "400001", ProblemKind::InvalidKey),
            (401, "400002", ProblemKind::ClockSkew),
            (401, "400003", ProblemKind::InvalidKey),
            (200, "400004", ProblemKind::InvalidKey),
            (401, "400005", ProblemKind::InvalidKey),
            (403, "400006", ProblemKind::IpNotAllowed),
            (200, "429000", ProblemKind::RateLimited),
            (200, "500000", ProblemKind::Unavailable),
            (400, "411100", ProblemKind::InvalidKey),
            (400, "999999", ProblemKind::Unavailable),
        ];
        for (status, code, kind) in cases {
            let r = reply(
                status,
                &[],
                &format!(r#"{{"code":"{code}","msg":"words"}}"#),
            );
            let p = problem_of(&r);
            assert_eq!(p.kind, kind, "{code}");
            assert!(
                p.message
                    .starts_with(&format!("GET /api/v1/accounts: code {code} words")),
                "{}",
                p.message
            );
        }
    }

    #[test]
    fn signature_error_message_quotes_code_and_msg() {
        let r = reply(401, &[], r#"{"code":"400005","msg":"Signature error"}"#);
        assert_eq!(
            problem_of(&r).message,
            "GET /api/v1/accounts: code 400005 Signature error"
        );
    }

    #[test]
    fn missing_permission_is_a_fact_not_a_problem() {
        let r = reply(
            403,
            &[],
            r#"{"code":"400007","msg":"Access denied, require more permission."}"#,
        );
        assert!(matches!(read_reply(&r, "x"), Outcome::Denied(_)));
    }

    #[test]
    fn ip_refusal_names_the_ip() {
        let r = reply(
            403,
            &[],
            r#"{"code":"400006","msg":"Invalid request ip, the current clientIp is: 198.51.100.7"}"#,
        );
        let p = problem_of(&r);
        assert_eq!(p.kind, ProblemKind::IpNotAllowed);
        assert_eq!(p.seen_ip.as_deref(), Some("198.51.100.7"));
    }

    #[test]
    fn rate_limit_prefers_retry_after_then_gw_reset() {
        let body = r#"{"code":"429000","msg":"Too many requests"}"#;
        let r = reply(
            429,
            &[("retry-after", "7"), ("gw-ratelimit-reset", "6500")],
            body,
        );
        let p = problem_of(&r);
        assert_eq!(p.kind, ProblemKind::RateLimited);
        assert_eq!(p.retry_after, Some(Duration::from_secs(7)));
        assert!(p.message.contains("code 429000"), "{}", p.message);

        let r = reply(429, &[("gw-ratelimit-reset", "6500")], body);
        assert_eq!(
            problem_of(&r).retry_after,
            Some(Duration::from_millis(6500))
        );

        // HTTP 200 carrying the rate-limit code
        let r = reply(200, &[("gw-ratelimit-reset", "1200")], body);
        let p = problem_of(&r);
        assert_eq!(p.kind, ProblemKind::RateLimited);
        assert_eq!(p.retry_after, Some(Duration::from_millis(1200)));
    }

    #[test]
    fn garbage_and_outages_are_unavailable() {
        for r in [
            reply(200, &[], r#"{"code":"200000","data":{"permission":"Gen"#),
            reply(503, &[], r#"{"code":"500000","msg":"maintenance"}"#),
            reply(
                403,
                &[("content-type", "text/html")],
                "<html>The request could not be satisfied</html>",
            ),
            reply(502, &[("content-type", "text/plain")], "Bad Gateway"),
        ] {
            assert_eq!(problem_of(&r).kind, ProblemKind::Unavailable);
        }
    }

    #[test]
    fn clock_offset_uses_the_round_trip_midpoint() {
        assert!(SPEC.skew_problem(&format!("GET {PATH_TIMESTAMP}"), 4_999).is_none());
        assert!(SPEC.skew_problem(&format!("GET {PATH_TIMESTAMP}"), -4_999).is_none());
        let p = SPEC.skew_problem(&format!("GET {PATH_TIMESTAMP}"), 120_000).unwrap();
        assert_eq!(p.kind, ProblemKind::ClockSkew);
        assert!(
            p.message.contains("120000 ms ahead of ours"),
            "{}",
            p.message
        );
        assert!(SPEC.skew_problem(&format!("GET {PATH_TIMESTAMP}"), -6_000)
            .unwrap()
            .message
            .contains("6000 ms behind ours"));
    }

    #[test]
    fn status_close_and_cancelonly_are_unavailable() {
        assert!(status_problem(&json!({"status":"open","msg":""}), "x").is_none());
        let p = status_problem(&json!({"status":"close","msg":"upgrading"}), "x").unwrap();
        assert_eq!(p.kind, ProblemKind::Unavailable);
        assert!(
            p.message.ends_with("KuCoin status close: upgrading"),
            "{}",
            p.message
        );
        let p = status_problem(&json!({"status":"cancelonly","msg":""}), "x").unwrap();
        assert_eq!(p.message, "x: KuCoin status cancelonly");
    }

    #[test]
    fn key_info_from_the_official_example() {
        let data = json!({
            "remark": "account1", "apiKey": "6705f5c311545b000157d3eb", "apiVersion": 3,
            "permission": "General,Futures,Spot,Earn,InnerTransfer,Transfer,Margin",
            "ipWhitelist": "203.**.154,103.**.34", "createdAt": 1728443843000_i64,
            "uid": 165111215, "isMaster": true
        });
        let info = KeyInfo::from_data(&data).unwrap();
        let mut facts = Facts::default();
        info.apply(&mut facts);
        assert_eq!(facts.permissions.read, Some(true));
        assert_eq!(facts.permissions.trade, Some(true));
        assert_eq!(facts.permissions.withdraw, Some(true));
        assert_eq!(facts.permissions.futures, Some(true));
        assert_eq!(facts.ip_restricted, Some(true));
        assert_eq!(facts.expires_at, None);
        assert!(facts.notes.iter().any(|n| n.contains("2024-10-09")));
    }

    #[test]
    fn inner_transfer_is_not_withdraw_and_whitelist_may_be_absent_or_empty() {
        for whitelist in [None, Some(json!("")), Some(json!(null))] {
            let mut data = json!({"permission": "General, InnerTransfer", "apiKey": "k"});
            if let Some(w) = whitelist {
                data["ipWhitelist"] = w;
            }
            let mut facts = Facts::default();
            KeyInfo::from_data(&data).unwrap().apply(&mut facts);
            assert_eq!(facts.permissions.withdraw, Some(false));
            assert_eq!(facts.permissions.trade, Some(false));
            assert_eq!(facts.permissions.futures, Some(false));
            assert_eq!(facts.permissions.read, Some(true));
            assert_eq!(facts.ip_restricted, Some(false));
        }
        // tolerated: arrays instead of comma-separated strings
        let data = json!({"permission": ["General", "Spot"], "ipWhitelist": ["1.**.4"]});
        let info = KeyInfo::from_data(&data).unwrap();
        assert_eq!(info.permissions, vec!["General", "Spot"]);
        assert_eq!(info.ip_whitelist, vec!["1.**.4"]);
        assert!(KeyInfo::from_data(&json!({"apiKey": "k"})).is_none());
    }
}
