//! Gate (Gate.io API v4): one REST host for spot, wallet, account and perpetual futures.
//!
//! Signing (shared/docs/exchanges/gate.md §2): `SIGN` = lowercase hex HMAC-SHA512 (key = the
//! secret) over five fields joined by `\n`: METHOD, the URL path including `/api/v4`, the raw
//! query exactly as sent (no `?`), the lowercase hex SHA-512 of the raw body (of the empty string
//! for a GET), and the `Timestamp` header exactly as sent (seconds since the epoch). The key
//! travels in `KEY`, the timestamp in `Timestamp`; Gate refuses a timestamp more than 60 s from
//! its clock (`REQUEST_EXPIRED`).
//!
//! The probe reads the server time (`/spot/time`; Gate has no status endpoint, so maintenance
//! shows as a 5xx or a `SERVER_ERROR`/`TOO_BUSY` label), the account detail (valid key, IP
//! whitelist), the main-account key list (`/account/main_keys`: permissions, creation time), the
//! spot balances (read right), and for futures connections the USDT-settled futures account.
//!
//! What Gate does not let a check see:
//! - the withdraw right: the API's permission names (`perms[].name`) have no documented value for
//!   the withdrawal group ([uncertain]); an entry named `withdraw`/`withdrawal` is read when it is
//!   there, otherwise the right is reported unknown (`null`) with a note, which the check
//!   reports as `withdraw_unverified`. No fallback reveals it (issue 17): the official
//!   `main_keys` sample and its list of group names (`wallet`, `spot`, `futures`, `delivery`,
//!   `earn`, `custody`, `options`, `account`, `loan`, `margin`, `unified`, `copy`, `pilot`,
//!   `otc`, `alpha`, `crossx`; gate.io APIv4 docs, "Query All Main Account Key Information")
//!   show no withdrawal group, `GET /wallet/withdrawals` proves only the read right, and the
//!   write right is only exercised by `POST /withdrawals`, which moves funds (gate.md §5);
//! - an expiry date: none in the API; Gate's help centre says keys without an IP binding are
//!   valid for 90 days, so that is inferred from `created_at` ([doc], a UI policy);
//! - `main_keys` is a main-account endpoint; for other keys (sub-accounts) the trade, withdraw and
//!   futures rights stay unknown, with a note, and only the read calls speak;
//! - which entry of `main_keys` is this key, when the account has several: Gate shows each key
//!   masked (`"c5dcfbf1f3a7*****"`, issue 18), so the entry is found by its visible head; when
//!   two heads match, the rights stay unknown with a note rather than borrowing a sibling's.
//!
//! Errors are `{"label": "...", "message": "..."}` (some futures errors say `detail`); which HTTP
//! status goes with which label is only partly documented ([uncertain]: `FORBIDDEN` has been seen
//! with 401 and 403), so replies are read by the label, never by the status.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE};
use serde_json::Value;
use sha2::{Digest, Sha512};

use super::expiry;
use super::facts::{self, expect_shape, string_list, Meaning};
use super::http;
use super::http::{generic_problem, Reply};
use super::{now_ms, Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem, ProblemKind};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::{mask_key, ExposeSecret};

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::GATE;

pub const PATH_TIME: &str = "/api/v4/spot/time";
pub const PATH_DETAIL: &str = "/api/v4/account/detail";
pub const PATH_MAIN_KEYS: &str = "/api/v4/account/main_keys";
pub const PATH_SPOT_ACCOUNTS: &str = "/api/v4/spot/accounts";
pub const PATH_FUTURES_ACCOUNTS: &str = "/api/v4/futures/usdt/accounts";

/// Gate refuses a `Timestamp` more than this far from its clock (`REQUEST_EXPIRED`).
pub const WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();

/// Keys without an IP binding are valid this long after creation (Gate help centre).
pub const UNBOUND_KEY_LIFETIME_DAYS: i64 = 90;

/// SHA-512 of the empty string: the body hash of every GET.
pub const EMPTY_BODY_SHA512: &str =
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9\
ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (credentials, time, request parts).
// ---------------------------------------------------------------------------------------------

/// Lowercase hex SHA-512 of the raw body bytes.
pub fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha512::digest(body))
}

/// The `Timestamp` header for a moment in ms: whole seconds, as ccxt sends it.
pub fn timestamp_header(ms: i64) -> String {
    ms.div_euclid(1000).to_string()
}

/// What Gate signs of one request. The fields are named because all but the body are text: a
/// swapped pair would still compile, and sign another request.
pub struct SignedParts<'a> {
    pub method: &'a str,
    /// Includes `/api/v4`; no host or proxy prefix.
    pub path: &'a str,
    /// The raw query as sent, without `?` (empty when none).
    pub query: &'a str,
    pub body: &'a [u8],
    /// The `Timestamp` header's value.
    pub timestamp: &'a str,
}

impl<'a> SignedParts<'a> {
    /// A GET of `path?query` without a body: every request the probe sends.
    pub fn get(path: &'a str, query: &'a str, timestamp: &'a str) -> Self {
        SignedParts {
            method: "GET",
            path,
            query,
            body: b"",
            timestamp,
        }
    }

    /// The five signed fields joined by `\n`, no trailing newline.
    pub fn signature_string(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            self.path,
            self.query,
            body_hash(self.body),
            self.timestamp
        )
    }

    /// `SIGN`: lowercase hex HMAC-SHA512 of the signature string under the secret.
    pub fn sign(&self, secret: &str) -> String {
        let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(self.signature_string().as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The three auth headers of a signed request as (name, value), in the order Gate lists them.
/// Pure; the values are key material: never log them.
pub fn auth_header_values(
    credentials: &Credentials,
    request: &SignedParts,
) -> [(&'static str, String); 3] {
    let secret = credentials.api_secret.expose_secret();
    [
        ("KEY", credentials.api_key.expose_secret().to_string()),
        ("Timestamp", request.timestamp.to_string()),
        ("SIGN", request.sign(secret)),
    ]
}

/// The auth headers plus `Content-Type`/`Accept: application/json`, auth values marked
/// sensitive. Fails (without quoting the key) when the key cannot travel in a header.
pub fn auth_headers(
    credentials: &Credentials,
    request: &SignedParts,
) -> Result<HeaderMap, Problem> {
    let mut headers = http::sensitive_headers(auth_header_values(credentials, request))?;
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// Gate's error labels (exchange doc §6, ccxt's `exceptions.exact`).
fn meaning(label: &str) -> Meaning {
    match label {
        "INVALID_KEY"
        | "INVALID_SIGNATURE"
        | "MISSING_REQUIRED_HEADER"
        | "INVALID_CREDENTIALS"
        | "AUTHENTICATION_FAILED"
        | "ACCOUNT_LOCKED"
        | "SUB_ACCOUNT_LOCKED"
        | "USER_NOT_FOUND" => Meaning::InvalidKey,
        "REQUEST_EXPIRED" => Meaning::ClockSkew,
        "IP_FORBIDDEN" => Meaning::IpNotAllowed,
        "TOO_MANY_REQUESTS" | "TOO_FAST" => Meaning::RateLimited,
        "FORBIDDEN" | "READ_ONLY" => Meaning::NoPermission,
        // INTERNAL, SERVER_ERROR, TOO_BUSY, and anything we do not know.
        _ => Meaning::Unavailable,
    }
}

/// What one Gate call came to.
#[derive(Debug)]
enum Outcome {
    /// A success body (bare JSON, no envelope).
    Ok(Value),
    /// `FORBIDDEN`/`READ_ONLY`: the key lacks the endpoint's right.
    Denied(String),
    /// A non-success reply without a Gate error body (e.g. a bare 404): the endpoint is not there.
    Missing(String),
    /// Anything that ends the probe.
    Problem(Problem),
}

/// `label` and `message` (or `detail`) of an error body, when it is one.
fn error_of(body: &Value) -> Option<(String, String)> {
    let label = body.get("label")?.as_str()?.to_string();
    let message = ["message", "detail"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    Some((label, message))
}

/// `Retry-After` (seconds) when sent, else Gate's `X-Gate-RateLimit-Reset-Timestamp` (epoch
/// seconds when the window resets), less our clock.
fn retry_after(reply: &Reply) -> Option<Duration> {
    reply.retry_after().or_else(|| {
        let reset: i64 = http::header_value(&reply.headers, "x-gate-ratelimit-reset-timestamp")?;
        // header input: saturating, so i64::MIN cannot overflow
        let wait = reset.saturating_sub(now_ms().div_euclid(1000));
        (wait > 0).then(|| Duration::from_secs(wait as u64))
    })
}

/// Reads one reply: the HTTP-level problems every exchange shares first, then Gate's label.
fn read_reply(reply: &Reply, what: &str) -> Outcome {
    let parsed = reply.json::<Value>(what);
    if let Some(mut problem) = generic_problem(reply, what) {
        if problem.kind == ProblemKind::RateLimited {
            problem.retry_after = retry_after(reply);
        }
        // Gate's own body (e.g. 503 + SERVER_ERROR): quote its label and message.
        return Outcome::Problem(match parsed.as_ref().ok().and_then(error_of) {
            Some((label, message)) => {
                http::quoting(problem, reply, what, &format!("label {label} {message}"))
            }
            None => problem,
        });
    }
    let body = match parsed {
        Ok(body) => body,
        Err(_) if !reply.status.is_success() => {
            return Outcome::Missing(
                format!("{what}: HTTP {} {}", reply.status.as_u16(), reply.snippet())
                    .trim_end()
                    .to_string(),
            )
        }
        Err(problem) => return Outcome::Problem(problem),
    };
    // Success bodies are bare JSON without a `label`; an object with a `label` is an error even
    // with HTTP 200 (tolerant: the status of each label is not documented).
    let Some((label, message)) = error_of(&body) else {
        if reply.status.is_success() {
            return Outcome::Ok(body);
        }
        return Outcome::Missing(
            format!("{what}: HTTP {} {}", reply.status.as_u16(), reply.snippet())
                .trim_end()
                .to_string(),
        );
    };
    let said = format!("{what}: label {label} {message}")
        .trim_end()
        .to_string();
    let problem = match meaning(&label) {
        Meaning::NoPermission => return Outcome::Denied(said),
        Meaning::InvalidKey => Problem::invalid_key(said),
        Meaning::ClockSkew => Problem::clock_skew(format!(
            "{said} (Gate accepts a Timestamp at most {} s from its clock)",
            WINDOW_MS / 1000
        )),
        Meaning::IpNotAllowed => Problem::ip_not_allowed(said),
        Meaning::RateLimited => http::rate_limited(said, retry_after(reply)),
        Meaning::Unavailable => Problem::unavailable(if label_known(&label) {
            said
        } else {
            format!("{said} (unexpected Gate reply)")
        }),
    };
    Outcome::Problem(problem)
}

fn label_known(label: &str) -> bool {
    matches!(label, "INTERNAL" | "SERVER_ERROR" | "TOO_BUSY")
}

/// `server_time` of `/spot/time`: ms (a number; a numeric string is accepted too).
fn server_time(body: &Value) -> Option<i64> {
    match body.get("server_time")? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Seconds since the epoch, as a number or a numeric string (the SDK declares strings).
fn epoch_seconds(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let secs = match value? {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if !secs.is_finite() || secs <= 0.0 {
        return None;
    }
    Utc.timestamp_opt(secs as i64, 0).single()
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// One `perms[]` entry: a permission group and whether it is read-only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Perm {
    pub name: String,
    pub read_only: bool,
}

/// What `/account/main_keys` says about the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyInfo {
    pub state: Option<i64>,
    pub mode: Option<i64>,
    pub ip_whitelist: Option<Vec<String>>,
    pub perms: Vec<Perm>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Which entry of `/account/main_keys` is the key being checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    /// Exactly one entry is this key.
    Found(KeyInfo),
    /// This many entries' masked keys start like this key: which one it is cannot be told.
    Ambiguous(usize),
    /// The list names keys, none of them this one.
    NotListed,
    /// The reply is not a key list Gate documents.
    Unreadable,
}

/// How an entry names its key: Gate shows it masked (`"c5dcfbf1f3a7*****"`, the visible head
/// and asterisks for the rest); the SDK models put the mode object under `key` instead.
fn entry_key(entry: &Value) -> Option<&str> {
    entry.get("key")?.as_str().map(str::trim)
}

/// Whether a key as Gate shows it may be `api_key`: the whole key, or its visible head
/// followed by asterisks. A shown key that is all asterisks says nothing and matches nothing.
pub fn shown_key_matches(shown: &str, api_key: &str) -> bool {
    match shown.find('*') {
        None => shown == api_key,
        Some(0) => false,
        Some(star) => {
            let head = &shown[..star];
            shown[star..].chars().all(|c| c == '*') && api_key.starts_with(head)
        }
    }
}

impl KeyLookup {
    /// Finds this key in the reply. Both official SDKs declare one object, the docs' key list
    /// an array of them; each entry names its key masked (see [`entry_key`]), so an entry is
    /// this key when its visible head is this key's head. Two entries with the same head make
    /// the answer ambiguous, never a guess: their rights may differ. An entry that names no key
    /// is this key only when it is the reply's only entry (the single-object shape).
    pub fn from_body(body: &Value, api_key: &str) -> KeyLookup {
        let entries: Vec<&Value> = match body {
            Value::Object(_) => vec![body],
            Value::Array(items) => items.iter().collect(),
            _ => return KeyLookup::Unreadable,
        };
        if entries.iter().any(|e| !e.is_object()) {
            return KeyLookup::Unreadable;
        }
        let named = entries.iter().filter(|e| entry_key(e).is_some()).count();
        let candidates: Vec<&Value> = if named == 0 {
            if entries.len() != 1 {
                return KeyLookup::Unreadable;
            }
            entries
        } else {
            entries
                .into_iter()
                .filter(|e| entry_key(e).is_some_and(|shown| shown_key_matches(shown, api_key)))
                .collect()
        };
        match candidates.as_slice() {
            [] => KeyLookup::NotListed,
            [entry] => KeyInfo::from_entry(entry).map_or(KeyLookup::Unreadable, KeyLookup::Found),
            several => KeyLookup::Ambiguous(several.len()),
        }
    }
}

impl KeyInfo {
    /// One entry of the key list.
    fn from_entry(entry: &Value) -> Option<KeyInfo> {
        let perms = entry
            .get("perms")?
            .as_array()?
            .iter()
            .filter_map(|p| {
                Some(Perm {
                    name: p.get("name")?.as_str()?.trim().to_ascii_lowercase(),
                    // A missing flag is read as read-only: the safer reading for trade rights.
                    read_only: p.get("read_only").and_then(Value::as_bool).unwrap_or(true),
                })
            })
            .collect();
        let mode = entry
            .get("mode")
            .and_then(Value::as_i64)
            .or_else(|| entry.get("key")?.get("mode")?.as_i64());
        Some(KeyInfo {
            state: entry.get("state").and_then(Value::as_i64),
            mode,
            ip_whitelist: match entry.get("ip_whitelist") {
                None => None,
                some => Some(string_list(some)?),
            },
            perms,
            created_at: epoch_seconds(entry.get("created_at")),
        })
    }

    fn perm(&self, name: &str) -> Option<&Perm> {
        self.perms.iter().find(|p| p.name == name)
    }

    fn writes(&self, name: &str) -> bool {
        self.perm(name).is_some_and(|p| !p.read_only)
    }

    /// Fills rights, IP binding, expiry and notes into `facts`.
    pub fn apply(&self, facts: &mut Facts, now: DateTime<Utc>) {
        // Every granted group includes read; a key with no group at all can read nothing.
        if facts.permissions.read.is_none() {
            facts.permissions.read = Some(!self.perms.is_empty());
        }
        // Spot trading: `spot` read-write; on a (legacy) unified account, `unified` read-write.
        facts.permissions.trade =
            Some(self.writes("spot") || (self.mode == Some(2) && self.writes("unified")));
        // Futures rights: perpetual (`futures`) or delivery, read-write.
        facts.permissions.futures = Some(self.writes("futures") || self.writes("delivery"));
        if !facts.permissions.futures.unwrap_or(false)
            && (self.perm("futures").is_some() || self.perm("delivery").is_some())
        {
            facts
                .notes
                .push("the key can read futures but not trade them (read-only)".to_string());
        }
        // Withdraw: the name Gate gives the withdrawal group in `perms` is undocumented
        // ([uncertain]); an entry under either likely name is read, its absence proves nothing.
        match self.perm("withdrawal").or_else(|| self.perm("withdraw")) {
            Some(p) => facts.permissions.withdraw = Some(!p.read_only),
            None => {
                facts.permissions.withdraw = None;
                facts.notes.push(
                    "withdraw right not visible: Gate's key list shows no withdrawal permission \
                     and does not document one, so its absence proves nothing"
                        .to_string(),
                );
            }
        }
        if self.writes("wallet") {
            facts
                .notes
                .push("key holds Gate's wallet read-write right (fund transfers)".to_string());
        }
        if let Some(list) = &self.ip_whitelist {
            facts.ip_restricted = Some(!list.is_empty());
        }
        // No expiry in the API; keys without an IP binding are valid 90 days (help centre, a UI
        // policy [doc]), counted here from `created_at`.
        if facts.ip_restricted == Some(false) {
            match self.created_at {
                Some(created) => {
                    // `created_at` is the reply's word: a date near chrono's end must not
                    // overflow (see `expiry`).
                    let expires = expiry::after(
                        created,
                        UNBOUND_KEY_LIFETIME_DAYS as f64,
                        expiry::Unit::Days,
                    );
                    facts.expires_at = expires;
                    facts.notes.push(format!(
                        "expiry inferred: Gate keys without an IP binding are valid {} days \
                         (created {})",
                        UNBOUND_KEY_LIFETIME_DAYS,
                        created.format("%Y-%m-%d")
                    ));
                    if expires.is_some_and(|at| at < now) {
                        facts.notes.push(
                            "the 90-day term has passed, yet the key still works (edited since?)"
                                .to_string(),
                        );
                    }
                }
                None => facts.notes.push(
                    "expiry unknown: Gate keys without an IP binding expire after 90 days, and \
                     the creation time was not reported"
                        .to_string(),
                ),
            }
        }
        match self.state {
            None | Some(1) => {}
            Some(2) => facts
                .notes
                .push("Gate reports the key as locked".to_string()),
            Some(3) => facts
                .notes
                .push("Gate reports the key as frozen".to_string()),
            Some(other) => facts.notes.push(format!("Gate reports key state {other}")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Gate {
    http: HttpClient,
}

impl Gate {
    pub fn new(http: HttpClient) -> Gate {
        Gate { http }
    }

    /// A signed GET of `path` (which includes `/api/v4`; a path prefix in `base` is not signed).
    async fn signed(&self, target: &ProbeTarget, base: &str, path: &str, what: &str) -> Outcome {
        self.http
            .get_signed(base, |now| {
                let timestamp = timestamp_header(now);
                let request = SignedParts::get(path, "", &timestamp);
                let headers = auth_headers(&target.credentials, &request)?;
                Ok((format!("{base}{path}"), headers))
            })
            .await
            .map_or_else(Outcome::Problem, |reply| read_reply(&reply, what))
    }
}

impl Outcome {
    /// The outcome of a call whose endpoint must be there: a missing one is Gate not answering
    /// properly; the rest reads as every exchange's [`facts::Outcome`].
    fn required(self) -> facts::Outcome {
        match self {
            Outcome::Ok(body) => facts::Outcome::Ok(body),
            Outcome::Denied(said) => facts::Outcome::Denied(said),
            Outcome::Missing(said) => facts::Outcome::Problem(Problem::unavailable(said)),
            Outcome::Problem(problem) => facts::Outcome::Problem(problem),
        }
    }
}

impl Probe for Gate {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let base = target.spot_base();

        // 1. Up, and our clock inside the window. No status endpoint: maintenance is a 5xx.
        let what = format!("GET {PATH_TIME}");
        let (body, trip) = self
            .http
            .get_read(&format!("{base}{PATH_TIME}"), |reply| {
                read_reply(reply, &what).required().public_data()
            })
            .await?;
        trip.check_clock(SPEC, &what, server_time(&body), "server_time")?;

        // 2. Valid key, accepted signature, IP binding: any valid key may read its detail.
        let what = format!("GET {PATH_DETAIL}");
        match self.signed(target, base, PATH_DETAIL, &what).await {
            Outcome::Ok(body) if body.is_object() => {
                // Absent means not reported; an empty list means no IP check.
                if let Some(list) = body.get("ip_whitelist").and_then(|v| string_list(Some(v))) {
                    facts.ip_restricted = Some(!list.is_empty());
                }
            }
            Outcome::Ok(_) => {
                return Err(Problem::unavailable(format!(
                    "{what}: reply is not an account detail"
                )))
            }
            Outcome::Denied(said) | Outcome::Missing(said) => facts.notes.push(said),
            Outcome::Problem(problem) => return Err(problem),
        }

        // 3. The key's permissions (main-account keys only).
        let what = format!("GET {PATH_MAIN_KEYS}");
        let key = target.credentials.api_key.expose_secret();
        let unknown =
            |why: &str| format!("trade, withdraw and futures rights unknown: {what} {why}");
        let main_only = "(Gate lists key permissions for main-account keys only)";
        match self.signed(target, base, PATH_MAIN_KEYS, &what).await {
            Outcome::Ok(body) => match KeyLookup::from_body(&body, key) {
                KeyLookup::Found(info) => info.apply(facts, Utc::now()),
                KeyLookup::Ambiguous(count) => facts.notes.push(unknown(&format!(
                    "lists {count} keys whose visible head (Gate masks the rest) matches {}, so \
                     which rights are this key's cannot be told",
                    mask_key(key)
                ))),
                KeyLookup::NotListed => facts.notes.push(unknown(&format!(
                    "does not list {} among the account's keys {main_only}",
                    mask_key(key)
                ))),
                KeyLookup::Unreadable => facts.notes.push(unknown("answered an unknown shape")),
            },
            Outcome::Denied(said) => facts
                .notes
                .push(unknown(&format!("was refused ({said}) {main_only}"))),
            Outcome::Missing(said) => facts
                .notes
                .push(unknown(&format!("is not available ({said}) {main_only}"))),
            Outcome::Problem(problem) => return Err(problem),
        }

        // 4. Can it read balances?
        let what = format!("GET {PATH_SPOT_ACCOUNTS}");
        let outcome = self.signed(target, base, PATH_SPOT_ACCOUNTS, &what).await;
        if let Some(body) = outcome.required().granted(facts, |p| &mut p.read)? {
            expect_shape(body, Value::is_array, &what, "an account list")?;
            facts.permissions.read = Some(true);
        }

        // 5. Futures, only when the connection trades them.
        if target.markets.futures {
            let futures = target.futures_base();
            let what = format!("GET {PATH_FUTURES_ACCOUNTS}");
            let outcome = self
                .signed(target, futures, PATH_FUTURES_ACCOUNTS, &what)
                .await;
            if let Some(body) = outcome.required().granted(facts, |p| &mut p.futures)? {
                expect_shape(body, Value::is_object, &what, "a futures account")?;
                facts::futures_readable(facts, "futures account");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
