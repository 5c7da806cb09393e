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

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::facts::{
    code_text, expect_shape, integer, lists_right, reply_without, service_status_problem,
    string_list, Envelope, Outcome,
};
use super::http;
use super::http::{generic_problem, Reply, RoundTrip};
use super::signing::{hmac_base64, passphrase};
use super::{Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem, ProblemKind};
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
    hmac_base64(secret, prehash(timestamp_ms, method, request_path, body))
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
        (
            "KC-API-PASSPHRASE",
            passphrase_header(secret, passphrase(credentials)),
        ),
        ("KC-API-KEY-VERSION", KEY_VERSION.to_string()),
    ]
}

/// `Retry-After` (seconds) when sent, else KuCoin's `gw-ratelimit-reset` (ms until the pool refills).
fn retry_after(reply: &Reply) -> Option<Duration> {
    reply.retry_after().or_else(|| {
        http::header_value(&reply.headers, "gw-ratelimit-reset").map(Duration::from_millis)
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
    let said = code_text(what, &code, env.msg());
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

/// `data` of `/api/v1/status`: `open`, `close` (maintenance) or `cancelonly`.
fn status_problem(data: &Value, what: &str) -> Option<Problem> {
    let status = data.get("status").and_then(Value::as_str);
    let msg = data.get("msg").and_then(Value::as_str).unwrap_or("");
    service_status_problem(what, status, "open", |other| {
        format!("KuCoin status {other}: {msg}")
            .trim_end_matches([' ', ':'])
            .to_string()
    })
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
        let obj = data.as_object()?;
        obj.get("permission")?;
        Some(KeyInfo {
            permissions: string_list(obj.get("permission"))?,
            ip_whitelist: string_list(obj.get("ipWhitelist"))?,
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
        lists_right(&self.permissions, permission)
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

    /// A public call; its data, or the problem that ended it (a refusal there is the exchange's,
    /// not the key's), with its round trip.
    async fn public(
        &self,
        base: &str,
        path: &str,
        what: &str,
    ) -> Result<(Value, RoundTrip), Problem> {
        self.http
            .get_read(&format!("{base}{path}"), |reply| {
                read_reply(reply, what).public_data()
            })
            .await
    }

    async fn signed(&self, target: &ProbeTarget, base: &str, path: &str, what: &str) -> Outcome {
        self.http
            .get_header_signed(base, path, |now| {
                auth_header_values(&target.credentials, now, "GET", path, "")
            })
            .await
            .map_or_else(Outcome::Problem, |reply| read_reply(&reply, what))
    }
}

impl Probe for Kucoin {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        if target.credentials.passphrase.is_none() {
            return Err(Problem::invalid_key(
                "KuCoin keys need the passphrase chosen when the key was created; none is configured",
            ));
        }
        let spot = target.spot_base();

        // 1. Is the exchange up, and is our clock inside its window?
        let what = format!("GET {PATH_TIMESTAMP}");
        let (data, trip) = self.public(spot, PATH_TIMESTAMP, &what).await?;
        // `data` is the server's time in ms.
        trip.check_clock(SPEC, &what, integer(&data), "a server time")?;
        let what = format!("GET {PATH_STATUS}");
        let (data, _) = self.public(spot, PATH_STATUS, &what).await?;
        if let Some(problem) = status_problem(&data, &what) {
            return Err(problem);
        }

        // 2. What the key is allowed to do. The endpoint needs General (read): a key without it
        // cannot describe itself.
        let what = format!("GET {PATH_API_KEY}");
        let outcome = self.signed(target, spot, PATH_API_KEY, &what).await;
        if let Some(data) = outcome.granted(facts, |p| &mut p.read)? {
            let info = KeyInfo::from_data(&data)
                .ok_or_else(|| reply_without(&what, "a permission list"))?;
            info.apply(facts);
        }

        // 3. Can it read balances?
        let what = format!("GET {PATH_ACCOUNTS}");
        let outcome = self.signed(target, spot, PATH_ACCOUNTS, &what).await;
        if let Some(data) = outcome.granted(facts, |p| &mut p.read)? {
            expect_shape(data, Value::is_array, &what, "an account list")?;
            facts.permissions.read = Some(true);
        }

        // 4. Futures, only when the connection trades them.
        if target.markets.futures {
            let futures = target.futures_base();
            let what = format!("GET {PATH_STATUS} (futures host)");
            let (data, _) = self.public(futures, PATH_STATUS, &what).await?;
            if let Some(problem) = status_problem(&data, &what) {
                return Err(problem);
            }
            let what = format!("GET {PATH_FUTURES_OVERVIEW} (futures host)");
            let outcome = self
                .signed(target, futures, PATH_FUTURES_OVERVIEW, &what)
                .await;
            if let Some(data) = outcome.granted(facts, |p| &mut p.futures)? {
                expect_shape(data, Value::is_object, &what, "an account overview")?;
                facts.permissions.futures = Some(true);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
