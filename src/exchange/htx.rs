//! HTX (formerly Huobi): spot/account API (`api.huobi.pro`) and the USDT-M swap API
//! (`api.hbdm.com`). Facts from shared/docs/exchanges/htx.md.
//!
//! Signing (Signature Version 2, §2): every private request carries `AccessKeyId`,
//! `SignatureMethod=HmacSHA256`, `SignatureVersion=2` and `Timestamp` (UTC, `%Y-%m-%dT%H:%M:%S`)
//! in its query; the signature is base64(HMAC-SHA256(secret, METHOD \n host \n path \n
//! canonical query)), where the canonical query is every parameter sorted by name (byte order)
//! with values percent-encoded (upper-case hex). `Signature` is appended last, URL-encoded. The
//! host is the one called (no scheme, no port); a path prefix in a proxy's base URL is not part
//! of the path HTX sees, so it is never signed. No headers and no passphrase.
//!
//! The probe reads the server time and the market status (public), then the spot accounts and
//! the spot balance (read right; the first signed call, so bad keys, bad signatures, IP
//! refusals and stale timestamps show here, in the well-documented v1 error shape), then the
//! key's own description (`/v2/user/api-key`, which needs the caller's UID from `/v2/user/uid`):
//! `readOnly` / `trade` / `withdraw`, bound IPs and remaining validity. Futures connections add
//! the swap heartbeat and the unified USDT-M account read.
//!
//! HTX has no futures right of its own (§5): `trade` covers spot and derivatives, and
//! derivatives work only once the account has opened contract trading, which only the futures
//! account read shows. So on a spot-only connection a trade key's futures right is unknown
//! (`null`, with a note); without `trade` it is `false`.
//!
//! Replies are read by their JSON code, never by the HTTP status alone: HTX answers errors with
//! HTTP 200, and three envelopes exist (§4, §6): v1 `status`/`err-code`/`err-msg`, v2
//! `code`/`message`, and the swap API's `status`/`err_code` (a number)/`err_msg` or v3
//! `code`/`msg`. All of them are accepted everywhere, since which endpoint answers which shape
//! on which error is not documented per endpoint [uncertain].

use super::signing::hmac_base64;
use super::signing::{encode_value, sorted_query};
use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::expiry;
use super::facts::{self, announced_time, code_text, expect_shape, integer, string_list, Meaning};
use super::http::{self, generic_problem, Reply, RoundTrip};
use super::{Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::HTX;

/// How far our clock may be from HTX's before we call it clock skew: the window HTX documents
/// (htx.md §2, 5 minutes). A stricter threshold would report a clock HTX accepts as skewed, a
/// healthy key reported broken (issue 18). Whatever our measurement says, HTX's own "Invalid
/// submission time" refusal is always clock skew.
pub const WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();

pub const SIGNATURE_METHOD: &str = "HmacSHA256";
pub const SIGNATURE_VERSION: &str = "2";

pub const PATH_TIMESTAMP: &str = "/v1/common/timestamp";
pub const PATH_MARKET_STATUS: &str = "/v2/market-status";
pub const PATH_ACCOUNTS: &str = "/v1/account/accounts";
pub const PATH_UID: &str = "/v2/user/uid";
pub const PATH_API_KEY: &str = "/v2/user/api-key";
/// The swap API's heartbeat; the trailing slash is part of the path (htx.md §4.2).
pub const PATH_HEARTBEAT: &str = "/heartbeat/";
/// The USDT-M futures account read. A signed GET (the probe only sends GETs); the facts file
/// suggests the POST `swap_cross_account_info`, but both are reads of the same account and the
/// choice of probe endpoint is left open there [uncertain]. Per HTX's portal this v3 endpoint
/// needs the read right and answers the unified account's assets.
pub const PATH_FUTURES_ACCOUNT: &str = "/linear-swap-api/v3/unified_account_info";

/// The path of one account's balance.
pub fn balance_path(account_id: i64) -> String {
    format!("{PATH_ACCOUNTS}/{account_id}/balance")
}

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (credentials, time, request).
// ---------------------------------------------------------------------------------------------

/// `Timestamp` as HTX wants it: UTC, seconds, no zone suffix (`2023-11-14T22:13:20`).
pub fn format_timestamp(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The canonical query: parameters sorted by name in byte order (so the upper-case auth
/// parameters come before lower-case ones), `name=encoded value`, joined with `&`.
pub fn canonical_query(params: &[(&str, &str)]) -> String {
    sorted_query(params, encode_value)
}

/// The four auth parameters of a signed request.
pub fn auth_params(api_key: &str, timestamp_ms: i64) -> [(&'static str, String); 4] {
    [
        ("AccessKeyId", api_key.to_string()),
        ("SignatureMethod", SIGNATURE_METHOD.to_string()),
        ("SignatureVersion", SIGNATURE_VERSION.to_string()),
        ("Timestamp", format_timestamp(timestamp_ms)),
    ]
}

/// The string HTX signs: METHOD, host (lower case, no port), path, canonical query, one per line,
/// no trailing newline.
pub fn presign(method: &str, host: &str, path: &str, canonical: &str) -> String {
    format!(
        "{}\n{}\n{path}\n{canonical}",
        method.to_ascii_uppercase(),
        host.to_ascii_lowercase()
    )
}

/// The complete query of a signed GET: the canonical query of the endpoint's `params` plus the
/// auth parameters, then `&Signature=` (URL-encoded) last. Pure: same inputs, same bytes.
pub fn signed_query(
    api_key: &str,
    secret: &str,
    host: &str,
    path: &str,
    params: &[(&str, &str)],
    timestamp_ms: i64,
) -> String {
    let auth = auth_params(api_key, timestamp_ms);
    let mut all: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(params);
    let canonical = canonical_query(&all);
    let signature = hmac_base64(secret, presign("GET", host, path, &canonical));
    format!("{canonical}&Signature={}", encode_value(&signature))
}

/// The host line to sign for a base URL: its host name, lower case, without scheme, port or
/// path prefix.
pub fn signing_host(base: &str) -> Result<String, Problem> {
    url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .ok_or_else(|| Problem::unavailable(format!("base URL {base:?} has no host to sign")))
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// What one HTX call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Success: the envelope's `data`.
    Ok(Value),
    /// A refusal with HTX's code and message.
    Refused {
        code: String,
        msg: String,
        /// `None` for a code we do not know.
        meaning: Option<Meaning>,
    },
}

/// The error code of a body in any of HTX's envelopes, as text (`err-code` strings, `err_code`
/// and `code` numbers alike). `None` for a success body.
fn error_of(body: &Value) -> Option<(String, String)> {
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let msg = ["err-msg", "err_msg", "message", "msg"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    match body.get("status").and_then(Value::as_str) {
        Some("ok") => return None,
        Some(_) => {
            // v1 / swap v1: `status: "error"` with `err-code` or `err_code`.
            let code = text(body.get("err-code"))
                .or_else(|| text(body.get("err_code")))
                .or_else(|| text(body.get("code")))
                .unwrap_or_else(|| "error".to_string());
            return Some((code, msg));
        }
        None => {}
    }
    match text(body.get("code")) {
        // v2 / swap v3: `code` 200 is success (some v2 replies add `success: true`).
        Some(code) if code == "200" || code == "0" => None,
        Some(code) => Some((code, msg)),
        None => Some(("no-code".to_string(), msg)),
    }
}

/// What HTX's code and message mean. The auth family (`api-signature-not-valid`, the swap
/// API's 403, v2's 1002/1003) reports IP refusals, stale timestamps and missing rights as well
/// as bad keys, so the message decides between them (htx.md §6, pitfall 10); message texts are
/// bilingual and vary, so each test looks for the English and the Chinese words. `None` for a
/// code we do not know.
pub fn meaning_of(code: &str, msg: &str) -> Option<Meaning> {
    let lower = msg.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| lower.contains(w) || msg.contains(w));
    let ip = has(&["ip address", "ip地址", "incorrect ip"]);
    let time = has(&["submission time", "提交时间", "time format"]);
    let no_permission = has(&["no permission", "没有权限", "permission denied"]);
    let expired = has(&["expired", "过期"]);
    let not_opened = has(&["not opened contract", "not open contract", "未开通"]);
    match code {
        // Swap API per-reason codes (12001..12011, futures docs' error table).
        "12005" => Some(Meaning::IpNotAllowed),
        "12001" | "12006" => Some(Meaning::ClockSkew),
        "12002" | "12003" | "12004" | "12007" | "12008" | "12009" | "12010" | "12011" => {
            Some(Meaning::InvalidKey)
        }
        // Contract trading not opened on the account (ccxt: AccountNotEnabled).
        "1220" => Some(Meaning::NoPermission),
        "api-signature-not-valid"
        | "api-signature-check-failed"
        | "login-required"
        | "403"
        | "1002"
        | "1003" => {
            if ip {
                Some(Meaning::IpNotAllowed)
            } else if time {
                Some(Meaning::ClockSkew)
            } else if no_permission && !expired {
                Some(Meaning::NoPermission)
            } else {
                // unknown key, verification failure, expired key, missing auth parameters
                Some(Meaning::InvalidKey)
            }
        }
        "base-request-exceed-frequency-limit"
        | "rate-too-many-requests"
        | "too-many-requests"
        | "429" => Some(Meaning::RateLimited),
        "system-maintenance" | "gateway-internal-error" => Some(Meaning::Unavailable),
        _ if not_opened || no_permission => Some(Meaning::NoPermission),
        _ if has(&["maintain", "maintenance", "维护"]) => Some(Meaning::Unavailable),
        _ if has(&["request limit", "exceeded the limit", "exceeded rate limit"]) => {
            Some(Meaning::RateLimited)
        }
        _ => None,
    }
}

/// A refused read: a refusal that stands for a problem ends the probe; a missing permission is
/// the read right absent, with HTX's words (`text`) as a note.
fn read_refused(
    facts: &mut Facts,
    text: String,
    meaning: Option<Meaning>,
    reply: &Reply,
) -> Result<(), Problem> {
    if let Some(problem) = problem_for(meaning, text.clone(), reply) {
        return Err(problem);
    }
    facts.permissions.read = Some(false);
    facts.notes.push(text);
    Ok(())
}

/// Reads one reply: the HTTP-level problems every exchange shares first (quoting HTX's own code
/// when its body has one), then HTX's envelope.
pub fn read_reply(reply: &Reply, what: &str) -> Result<Outcome, Problem> {
    let parsed = reply.json::<Value>(what);
    if let Some(problem) = generic_problem(reply, what) {
        return Err(match parsed.as_ref().ok().and_then(error_of) {
            Some((code, msg)) => http::quoting(problem, reply, what, &format!("code {code} {msg}")),
            None => problem,
        });
    }
    let body = match parsed {
        Ok(body) if body.is_object() => body,
        Ok(_) => {
            return Err(Problem::unavailable(format!(
                "{what}: HTTP {} with a reply that is not an HTX envelope: {}",
                reply.status.as_u16(),
                reply.snippet()
            )))
        }
        // e.g. a bare 404 for a path this host does not serve
        Err(_) if !reply.status.is_success() => {
            return Err(Problem::unavailable(format!(
                "{what}: HTTP {} {}",
                reply.status.as_u16(),
                reply.snippet()
            )))
        }
        Err(problem) => return Err(problem),
    };
    match error_of(&body) {
        None => Ok(Outcome::Ok(
            body.get("data").cloned().unwrap_or(Value::Null),
        )),
        Some((code, msg)) => Ok(Outcome::Refused {
            meaning: meaning_of(&code, &msg),
            code,
            msg,
        }),
    }
}

/// The problem a refusal stands for; `None` for a missing permission. Unknown codes are the
/// exchange answering something we cannot read: unavailable.
pub fn problem_for(meaning: Option<Meaning>, text: String, reply: &Reply) -> Option<Problem> {
    match meaning {
        None => Some(Problem::unavailable(format!(
            "{text} (unexpected HTX reply)"
        ))),
        Some(Meaning::ClockSkew) => Some(Problem::clock_skew(format!(
            "{text} (HTX refused our timestamp)"
        ))),
        Some(Meaning::RateLimited) => Some(http::rate_limited(text, reply.retry_after())),
        Some(meaning) => meaning.problem(text, reply.retry_after()),
    }
}

/// `None` when the offset is inside the window, else the clock-skew problem to report.
pub fn skew_problem(offset_ms: i64) -> Option<Problem> {
    let inside = SPEC.clock_window.contains(offset_ms);
    let what = format!("GET {PATH_TIMESTAMP}");
    Problem::skew_outside_window(inside, &what, "HTX's server clock", offset_ms, || {
        format!(
            "HTX refuses timestamps more than {} minutes away from its clock",
            WINDOW_MS / 60_000
        )
    })
}

/// The time HTX announces in `data`'s `field` (ms), after `lead`, for a maintenance problem's
/// text; empty when HTX gives none.
fn announced(data: &Value, field: &str, lead: &str) -> String {
    data.get(field)
        .and_then(integer)
        .and_then(announced_time)
        .map(|t| format!("{lead}{t}"))
        .unwrap_or_default()
}

/// `data` of `/v2/market-status`: 1 normal, 2 halted, 3 cancel-only (§4.2).
pub fn market_status_problem(data: &Value, what: &str) -> Option<Problem> {
    let status = data.get("marketStatus").and_then(integer);
    let reason = match data.get("haltReason").and_then(integer) {
        Some(2) => ", emergency maintenance",
        Some(3) => ", scheduled maintenance",
        _ => "",
    };
    let until = announced(data, "haltEndTime", " until ");
    match status {
        Some(1) => None,
        Some(2) => Some(Problem::unavailable(format!(
            "{what}: HTX market halted (marketStatus 2{reason}){until}"
        ))),
        Some(3) => Some(Problem::unavailable(format!(
            "{what}: HTX market is cancel-only (marketStatus 3{reason}){until}"
        ))),
        Some(other) => Some(Problem::unavailable(format!(
            "{what}: unknown marketStatus {other}"
        ))),
        None => Some(facts::reply_without(what, "a marketStatus")),
    }
}

/// `data` of the swap `/heartbeat/`: 1 available, 0 maintenance. The USDT-M flag is
/// `linear_swap_heartbeat`; the overall `heartbeat` is read when it is absent.
pub fn heartbeat_problem(data: &Value, what: &str) -> Option<Problem> {
    let flag = data
        .get("linear_swap_heartbeat")
        .or_else(|| data.get("heartbeat"))
        .and_then(integer);
    match flag {
        Some(1) => None,
        Some(_) => {
            let recovery = announced(
                data,
                "linear_swap_estimated_recovery_time",
                ", expected back ",
            );
            Some(Problem::unavailable(format!(
                "{what}: HTX USDT-M swap in maintenance (heartbeat 0){recovery}"
            )))
        }
        None => Some(facts::reply_without(what, "a heartbeat flag")),
    }
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// One entry of `/v2/user/api-key` (§4.4).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyInfo {
    pub permissions: Vec<String>,
    pub ip_addresses: Vec<String>,
    /// Remaining validity in days; -1 = permanent.
    pub valid_days: Option<i64>,
    pub status: Option<String>,
}

impl KeyInfo {
    /// Picks the entry for `access_key` out of `data` (an array; a single object is accepted
    /// too). `None` when no entry describes this key or the shape is unknown.
    pub fn from_data(data: &Value, access_key: &str) -> Option<KeyInfo> {
        let entries: Vec<&Value> = match data {
            Value::Array(items) => items.iter().collect(),
            Value::Object(_) => vec![data],
            _ => return None,
        };
        let entry = entries.into_iter().find(|e| {
            e.get("accessKey")
                .and_then(Value::as_str)
                .is_some_and(|k| k == access_key)
        })?;
        entry.get("permission")?;
        Some(KeyInfo {
            permissions: string_list(entry.get("permission"))?,
            ip_addresses: string_list(entry.get("ipAddresses"))?,
            valid_days: entry.get("validDays").and_then(integer),
            status: entry
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    }

    pub fn has(&self, permission: &str) -> bool {
        facts::lists_right(&self.permissions, permission)
    }

    /// When the key expires: `validDays` >= 0 days from `now`; -1 (permanent) or absent: never.
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.valid_days
            .filter(|d| *d >= 0)
            .and_then(|d| expiry::after(now, d as f64, expiry::Unit::Days))
    }

    /// Fills rights, IP binding and expiry into `facts`. An `expired` status is an invalid key.
    pub fn apply(&self, facts: &mut Facts, now: DateTime<Utc>) -> Result<(), Problem> {
        let read = self.has("readOnly");
        facts.permissions.read = Some(facts.permissions.read.unwrap_or(true) && read);
        facts.permissions.trade = Some(self.has("trade"));
        facts.permissions.withdraw = Some(self.has("withdraw"));
        facts.ip_restricted = Some(!self.ip_addresses.is_empty());
        facts.expires_at = self.expires_at(now);
        match self.status.as_deref() {
            Some("expired") => {
                return Err(Problem::invalid_key(format!(
                    "GET {PATH_API_KEY}: HTX reports the key status \"expired\""
                )))
            }
            Some("normal") | None => {}
            Some(other) => facts
                .notes
                .push(format!("HTX reports key status {other:?}")),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Htx {
    http: HttpClient,
    /// UIDs by SHA-256 of host and access key (never the key itself): a key's UID never
    /// changes, and `/v2/user/api-key` needs it (pitfall 6), so it is fetched once per key.
    uids: Mutex<HashMap<String, i64>>,
}

impl Htx {
    pub fn new(http: HttpClient) -> Htx {
        Htx {
            http,
            uids: Mutex::new(HashMap::new()),
        }
    }

    /// A public status read (the spot market status, the futures heartbeat): `Err` with what
    /// `problem` finds in the reply's data, the exchange being down or in maintenance.
    async fn check_status(
        &self,
        url: &str,
        what: &str,
        problem: fn(&Value, &str) -> Option<Problem>,
    ) -> Result<(), Problem> {
        let (outcome, _) = self.public_timed(url, what).await?;
        problem(&public_data(outcome, what)?, what).map_or(Ok(()), Err)
    }

    /// A public call, with the instants it was sent and answered (for the clock offset).
    async fn public_timed(&self, url: &str, what: &str) -> Result<(Outcome, RoundTrip), Problem> {
        self.http
            .get_read(url, |reply| read_reply(reply, what))
            .await
    }

    /// A signed GET of `path` on `base` (whose host is signed; its path prefix is not).
    async fn signed(
        &self,
        credentials: &Credentials,
        base: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Reply, Problem> {
        let host = signing_host(base)?;
        self.http
            .get_signed(base, |now| {
                let query = signed_query(
                    credentials.api_key.expose_secret(),
                    credentials.api_secret.expose_secret(),
                    &host,
                    path,
                    params,
                    now,
                );
                let mut headers = HeaderMap::new();
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                Ok((format!("{base}{path}?{query}"), headers))
            })
            .await
    }

    /// The cache slot of a key at a host: a digest, so the cache never holds key material.
    fn uid_slot(base: &str, api_key: &str) -> String {
        hex::encode(Sha256::digest(format!("{base}\n{api_key}").as_bytes()))
    }

    /// The key's description, or why it could not be had (a fact, not a problem). Problems that
    /// end the probe (invalid key, IP, rate limit, outage) come back as `Err`.
    async fn key_info(
        &self,
        credentials: &Credentials,
        spot: &str,
    ) -> Result<Result<KeyInfo, String>, Problem> {
        let api_key = credentials.api_key.expose_secret();
        let slot = Self::uid_slot(spot, api_key);
        let cached = self
            .uids
            .lock()
            .expect("uid cache lock")
            .get(&slot)
            .copied();
        let uid = match cached {
            Some(uid) => uid,
            None => {
                let what = format!("GET {PATH_UID}");
                let reply = self.signed(credentials, spot, PATH_UID, &[]).await?;
                match read_reply(&reply, &what)? {
                    Outcome::Ok(data) => match integer(&data) {
                        Some(uid) => {
                            self.uids.lock().expect("uid cache lock").insert(slot, uid);
                            uid
                        }
                        None => return Err(facts::reply_without(&what, "a UID")),
                    },
                    Outcome::Refused { code, msg, meaning } => {
                        let text = code_text(&what, &code, &msg);
                        return match problem_for(meaning, text.clone(), &reply) {
                            Some(problem) if meaning.is_some() => Err(problem),
                            _ => Ok(Err(format!("the UID was not available ({text})"))),
                        };
                    }
                }
            }
        };

        let what = format!("GET {PATH_API_KEY}");
        let uid_text = uid.to_string();
        let reply = self
            .signed(
                credentials,
                spot,
                PATH_API_KEY,
                &[("uid", &uid_text), ("accessKey", api_key)],
            )
            .await?;
        match read_reply(&reply, &what)? {
            Outcome::Ok(data) => Ok(KeyInfo::from_data(&data, api_key)
                .ok_or_else(|| format!("{what} did not describe this key"))),
            Outcome::Refused { code, msg, meaning } => {
                let text = code_text(&what, &code, &msg);
                // Meant for parent users; a sub-user key describing itself may be refused
                // [uncertain], and how is undocumented: refusals other than the ones that end
                // the probe leave the rights unknown.
                match problem_for(meaning, text.clone(), &reply) {
                    Some(problem) if meaning.is_some() => Err(problem),
                    _ => Ok(Err(format!("{what} was refused ({text})"))),
                }
            }
        }
    }

    async fn check_futures(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let base = target.futures_base();
        let what = format!("GET {PATH_HEARTBEAT} (futures host)");
        self.check_status(&format!("{base}{PATH_HEARTBEAT}"), &what, heartbeat_problem)
            .await?;

        let what = format!("GET {PATH_FUTURES_ACCOUNT} (futures host)");
        let reply = self
            .signed(&target.credentials, base, PATH_FUTURES_ACCOUNT, &[])
            .await?;
        match read_reply(&reply, &what)? {
            Outcome::Ok(_) => match facts.permissions.trade {
                Some(true) => facts.permissions.futures = Some(true),
                Some(false) => {
                    facts.permissions.futures = Some(false);
                    facts.notes.push(
                        "futures account open, but the key has no trade right to trade it"
                            .to_string(),
                    );
                }
                None => facts.notes.push(
                    "futures account readable; futures trade right unknown without the key's \
                     trade right"
                        .to_string(),
                ),
            },
            Outcome::Refused { code, msg, meaning } => {
                let text = code_text(&what, &code, &msg);
                match meaning {
                    Some(Meaning::NoPermission) => {
                        facts::futures_refused(facts, &text);
                    }
                    // A code we cannot read on this read (e.g. an account type this endpoint
                    // does not serve [uncertain]): the futures right stays unknown.
                    None => {
                        if facts.permissions.trade == Some(false) {
                            facts.permissions.futures = Some(false);
                        }
                        facts
                            .notes
                            .push(format!("futures account not readable: {text}"));
                    }
                    _ => {
                        if let Some(problem) = problem_for(meaning, text, &reply) {
                            return Err(problem);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// The data of a public endpoint; a refusal there is never the key's fault.
fn public_data(outcome: Outcome, what: &str) -> Result<Value, Problem> {
    match outcome {
        Outcome::Ok(data) => Ok(data),
        Outcome::Refused { code, msg, meaning } => {
            let text = code_text(what, &code, &msg);
            Err(match meaning {
                Some(Meaning::RateLimited) => Problem::rate_limited(text, None),
                _ => Problem::unavailable(text),
            })
        }
    }
}

impl Probe for Htx {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let spot = target.spot_base();
        let credentials = &target.credentials;

        // 1. Is the exchange up, and is our clock inside its window?
        let what = format!("GET {PATH_TIMESTAMP}");
        let (outcome, trip) = self
            .public_timed(&format!("{spot}{PATH_TIMESTAMP}"), &what)
            .await?;
        let data = public_data(outcome, &what)?;
        trip.check_clock_by(&what, integer(&data), "a server time", skew_problem)?;
        let what = format!("GET {PATH_MARKET_STATUS}");
        self.check_status(
            &format!("{spot}{PATH_MARKET_STATUS}"),
            &what,
            market_status_problem,
        )
        .await?;

        // 2. The key, its signature and the read right: the spot accounts, then the balance.
        let what = format!("GET {PATH_ACCOUNTS}");
        let reply = self.signed(credentials, spot, PATH_ACCOUNTS, &[]).await?;
        let spot_account = match read_reply(&reply, &what)? {
            Outcome::Ok(Value::Array(accounts)) => accounts
                .iter()
                .find(|a| a.get("type").and_then(Value::as_str) == Some("spot"))
                .and_then(|a| a.get("id").and_then(integer)),
            Outcome::Ok(_) => return Err(facts::reply_without(&what, "an account list")),
            Outcome::Refused { code, msg, meaning } => {
                read_refused(facts, code_text(&what, &code, &msg), meaning, &reply)?;
                None
            }
        };
        match spot_account {
            Some(id) => {
                let path = balance_path(id);
                let what = format!("GET {PATH_ACCOUNTS}/{{account-id}}/balance");
                let reply = self.signed(credentials, spot, &path, &[]).await?;
                match read_reply(&reply, &what)? {
                    Outcome::Ok(data) => {
                        let balances = |d: &Value| d.get("list").is_some_and(Value::is_array);
                        expect_shape(data, balances, &what, "a balance list")?;
                        facts.permissions.read = Some(true);
                    }
                    Outcome::Refused { code, msg, meaning } => {
                        read_refused(facts, code_text(&what, &code, &msg), meaning, &reply)?;
                    }
                }
            }
            None if facts.permissions.read.is_none() => {
                // The account list was readable, so the key reads; there is no spot account.
                facts.permissions.read = Some(true);
                facts
                    .notes
                    .push("HTX lists no spot account for this key's user".to_string());
            }
            None => {}
        }

        // 3. The key's own rights, IP binding and validity.
        let key_info = self.key_info(credentials, spot).await?;
        match key_info {
            Ok(info) => info.apply(facts, Utc::now())?,
            Err(why) => facts.notes.push(format!(
                "trade and withdraw rights, IP binding and expiry unknown: {why}"
            )),
        }

        // 4. Futures: HTX has no futures right of its own.
        if target.markets.futures {
            self.check_futures(target, facts).await?;
        } else if facts.permissions.trade == Some(false) {
            facts.permissions.futures = Some(false);
        } else {
            facts.notes.push(
                "futures right unknown: HTX has no separate futures right (the trade right \
                 covers futures once the account has opened contract trading), and a spot-only \
                 connection does not read the futures account"
                    .to_string(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
