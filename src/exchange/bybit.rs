//! Bybit: the v5 unified REST API (`api.bybit.com`), one host and one key for spot and
//! derivatives.
//!
//! Signing (shared/docs/exchanges/bybit.md §2, Bybit's integration guide): `X-BAPI-SIGN` =
//! lowercase hex HMAC-SHA256(secret, timestamp + apiKey + recvWindow + payload), where the
//! payload is the query string exactly as sent (GET, not sorted) or the raw JSON body (POST).
//! Method and path are not signed. No passphrase.
//!
//! The probe reads the server time (Bybit accepts `server - recvWindow <= timestamp <
//! server + 1000`), the public system status (maintenance windows), then the key's own
//! description (`/v5/user/query-api`: rights, bound IPs, expiry of unbound keys), the wallet
//! balance and, for futures connections, the linear positions. Every reply is read by its JSON
//! `retCode` (0 = success), never by the HTTP status alone: Bybit answers most refusals with
//! HTTP 200, and which status goes with which code is not documented per code [uncertain].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::StatusCode;
use serde_json::Value;

use super::expiry;
use super::facts::{self, announced_time, expect_shape, id_text, integer, string_list};
use super::http::{generic_problem, header_value, Reply, RoundTrip};
use super::signing::hmac_hex;
use super::{now_ms, Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem, ProblemKind};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::BYBIT;

/// The receive window we send (`X-BAPI-RECV-WINDOW`, ms): Bybit's default.
pub const RECV_WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();
/// Bybit refuses a timestamp this far (or more) ahead of its clock, whatever the window.
pub const MAX_AHEAD_MS: i64 = SPEC.clock_window.server_behind.ms();

pub const PATH_TIME: &str = "/v5/market/time";
pub const PATH_STATUS: &str = "/v5/system/status";
pub const PATH_API_KEY: &str = "/v5/user/query-api";
pub const PATH_WALLET: &str = "/v5/account/wallet-balance";
pub const PATH_POSITIONS: &str = "/v5/position/list";

/// The futures read: USDT-settled linear positions (`symbol` or `settleCoin` is required).
pub const POSITIONS_QUERY: &str = "category=linear&settleCoin=USDT";

/// The header names of a signed request, in the order the guide lists them.
pub const HEADER_KEY: &str = "X-BAPI-API-KEY";
pub const HEADER_TIMESTAMP: &str = "X-BAPI-TIMESTAMP";
pub const HEADER_RECV_WINDOW: &str = "X-BAPI-RECV-WINDOW";
pub const HEADER_SIGN: &str = "X-BAPI-SIGN";

/// How long Bybit bans an IP that broke its per-IP limit (HTTP 403 "access too frequent"):
/// "at least 10 minutes" per the rate-limit page.
pub const IP_BAN_WAIT: Duration = Duration::from_secs(600);

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (credentials, time, request payload).
// ---------------------------------------------------------------------------------------------

/// The string Bybit signs: timestamp + API key + recvWindow (the header's text; empty when the
/// header is not sent) + payload (the query exactly as sent without `?`, or the raw body).
pub fn prehash(timestamp_ms: i64, api_key: &str, recv_window: &str, payload: &str) -> String {
    format!("{timestamp_ms}{api_key}{recv_window}{payload}")
}

/// `X-BAPI-SIGN` for one request.
pub fn signature(
    secret: &str,
    timestamp_ms: i64,
    api_key: &str,
    recv_window: &str,
    payload: &str,
) -> String {
    hmac_hex(secret, prehash(timestamp_ms, api_key, recv_window, payload))
}

/// The four auth headers of a signed request, as (name, value) pairs. Pure: the same inputs
/// give the same bytes. The values are key material: never log them.
pub fn auth_header_values(
    credentials: &Credentials,
    timestamp_ms: i64,
    payload: &str,
) -> [(&'static str, String); 4] {
    let key = credentials.api_key.expose_secret();
    let window = RECV_WINDOW_MS.to_string();
    let sign = signature(
        credentials.api_secret.expose_secret(),
        timestamp_ms,
        key,
        &window,
        payload,
    );
    [
        (HEADER_KEY, key.to_string()),
        (HEADER_TIMESTAMP, timestamp_ms.to_string()),
        (HEADER_RECV_WINDOW, window),
        (HEADER_SIGN, sign),
    ]
}

/// The auth headers as a `HeaderMap` (key and signature marked sensitive), plus
/// `Content-Type: application/json` as ccxt sends it. Fails, without quoting the key, when the
/// key holds bytes that cannot travel in an HTTP header.
pub fn auth_headers(
    credentials: &Credentials,
    timestamp_ms: i64,
    payload: &str,
) -> Result<HeaderMap, Problem> {
    let mut headers = HeaderMap::new();
    for (name, value) in auth_header_values(credentials, timestamp_ms, payload) {
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            Problem::invalid_key(format!(
                "{name}: the configured value holds characters that cannot be sent in an HTTP header"
            ))
        })?;
        value.set_sensitive(matches!(name, HEADER_KEY | HEADER_SIGN));
        let name = HeaderName::from_bytes(name.as_bytes()).expect("static header names are valid");
        headers.insert(name, value);
    }
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// What one Bybit call came to.
#[derive(Debug)]
enum Outcome {
    /// `retCode` 0: the call's `result`, and the envelope's `time` (ms) when present.
    Ok(Value, Option<i64>),
    /// 10005: the key lacks the right this endpoint needs (a fact, not a problem).
    Denied(String),
    /// Anything that ends the probe, with the `retCode` when there was one.
    Problem(Problem, Option<i64>),
}

/// The `retCode`: a number per the docs; a numeric string is accepted too, tolerantly.
fn ret_code(body: &Value) -> Option<i64> {
    integer(body.get("retCode")?)
}

/// A JSON integer that may come as a number or a numeric string.
fn int_of(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The exchange's words, safe to show: the API key is masked, and the prehash that live
/// `10004` replies are reported to echo (`error sign! origin_string[<ts><key><window>...]`,
/// [uncertain]) is cut out, since it holds the key.
pub fn redact(msg: &str, api_key: Option<&str>) -> String {
    let mut text = msg.to_string();
    if let Some(start) = text.find("origin_string[") {
        let open = start + "origin_string[".len();
        let close = text[open..].find(']').map_or(text.len(), |i| open + i);
        text.replace_range(open..close, "…");
    }
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        text = text.replace(key, "***");
    }
    text
}

/// Bybit's per-UID reset header: the epoch ms at which the endpoint's limit resets.
fn retry_after(reply: &Reply) -> Option<Duration> {
    reply.retry_after().or_else(|| {
        let reset_ms: i64 = header_value(&reply.headers, "x-bapi-limit-reset-timestamp")?;
        // header input: saturating, so i64::MIN cannot overflow
        let wait = reset_ms.saturating_sub(now_ms());
        (wait > 0).then(|| Duration::from_millis(wait as u64))
    })
}

fn wait_text(wait: Option<Duration>) -> String {
    wait.map(|d| format!(", retry after {d:?}"))
        .unwrap_or_default()
}

/// Reads one reply: the HTTP-level problems every exchange shares first, then Bybit's
/// `retCode`. `api_key` is masked out of every message.
fn read_reply(reply: &Reply, what: &str, api_key: Option<&str>) -> Outcome {
    let parsed = reply.json::<Value>(what);
    if let Some(mut problem) = generic_problem(reply, what) {
        if problem.kind == ProblemKind::RateLimited {
            problem.retry_after = retry_after(reply);
        }
        let code = parsed.as_ref().ok().and_then(ret_code);
        // Bybit's own body behind the 429/5xx: quote its code and message.
        if let (Some(code), Ok(body)) = (code, &parsed) {
            let msg = body.get("retMsg").and_then(Value::as_str).unwrap_or("");
            problem.message = format!(
                "{what}: HTTP {}, code {code} {}{}",
                reply.status.as_u16(),
                redact(msg, api_key),
                wait_text(problem.retry_after)
            )
            .trim_end()
            .to_string();
        }
        return Outcome::Problem(problem, code);
    }
    let body = match parsed {
        Ok(body) => body,
        Err(problem) => {
            // A bare 403 is Bybit's per-IP ban ("access too frequent", wait 10 minutes) or its
            // refusal of a restricted region (US, mainland China); neither is the key's fault.
            if reply.status == StatusCode::FORBIDDEN {
                let snippet = redact(&reply.snippet(), api_key);
                if snippet.to_ascii_lowercase().contains("too frequent") {
                    return Outcome::Problem(
                        Problem::rate_limited(
                            format!("{what}: HTTP 403 {snippet} (Bybit bans the IP for at least 10 minutes)"),
                            Some(IP_BAN_WAIT),
                        ),
                        None,
                    );
                }
                return Outcome::Problem(
                    Problem::unavailable(
                        format!(
                            "{what}: HTTP 403 {snippet} (Bybit answers a bare 403 to an IP that is \
                             rate-banned or in a restricted region)"
                        )
                        .trim_end()
                        .to_string(),
                    ),
                    None,
                );
            }
            if !reply.status.is_success() {
                return Outcome::Problem(
                    Problem::unavailable(
                        format!("{what}: HTTP {} {}", reply.status.as_u16(), reply.snippet())
                            .trim_end()
                            .to_string(),
                    ),
                    None,
                );
            }
            return Outcome::Problem(problem, None);
        }
    };
    let Some(code) = ret_code(&body) else {
        return Outcome::Problem(
            Problem::unavailable(format!(
                "{what}: HTTP {} with a reply without retCode: {}",
                reply.status.as_u16(),
                redact(&reply.snippet(), api_key)
            )),
            None,
        );
    };
    if code == 0 {
        let time = int_of(body.get("time"));
        return Outcome::Ok(body.get("result").cloned().unwrap_or(Value::Null), time);
    }
    let msg = redact(
        body.get("retMsg").and_then(Value::as_str).unwrap_or(""),
        api_key,
    );
    let said = facts::code_text(what, code, &msg);
    // Keyed on the JSON code, never on the HTTP status: the docs give 401 for a wrong key but
    // no status per code, and most refusals come with HTTP 200 [uncertain].
    let problem = match code {
        10005 => return Outcome::Denied(said),
        // 10002: outside the window. -1 ("request expired: ... diff[]", UTA table) reads as the
        // same timing refusal [uncertain].
        10002 | -1 => Problem::clock_skew(format!(
            "{said} (Bybit accepts timestamps at most {RECV_WINDOW_MS} ms behind and less than \
             {MAX_AHEAD_MS} ms ahead of its clock)"
        )),
        // invalid key / wrong environment, bad signature, authentication failed, account
        // banned, key expired (33004 derivatives, -2015 spot)
        // 10003 is also every site's answer to a key made on another Bybit site (the regional
        // mainnets keep their own keys, bybit.md §1, §6): the same code as an unknown key, so
        // the status stays invalid_key and the message names the setting to check.
        10003 => Problem::invalid_key(format!(
            "{said} (a key made on another Bybit site works only there: check the connection's \
             region, one of {})",
            SPEC.region_names()
        )),
        10004 | 10007 | 10008 | 33004 | -2015 => Problem::invalid_key(said),
        10010 => Problem::ip_not_allowed(said),
        // 10006 per-UID limit, 10018 per-IP limit, 429 the trading service's load shedding;
        // 10009 "IP has been banned" follows rate-limit abuse and lifts by itself [uncertain].
        10006 | 10018 | 10009 | 429 => {
            let wait = retry_after(reply);
            Problem::rate_limited(format!("{said}{}", wait_text(wait)), wait)
        }
        // server timeout, server error / restarting, ws trade service restarting
        10000 | 10016 | 10019 => Problem::unavailable(said),
        _ => Problem::unavailable(format!("{said} (unexpected Bybit reply)")),
    };
    Outcome::Problem(problem, Some(code))
}

// ---------------------------------------------------------------------------------------------
// Server time and system status.
// ---------------------------------------------------------------------------------------------

/// The server time in ms from `/v5/market/time`: `timeNano` (ns, a string) first, then the
/// envelope's `time` (ms), then `timeSecond` (whole seconds: too coarse for the 1 s rule, so
/// last). Numbers and numeric strings are both accepted.
pub fn server_time_ms(result: &Value, envelope_time: Option<i64>) -> Option<i64> {
    let nano = match result.get("timeNano") {
        Some(Value::String(s)) => s.trim().parse::<i128>().ok(),
        Some(Value::Number(n)) => n.as_f64().map(|f| f as i128),
        _ => None,
    };
    nano.map(|ns| (ns / 1_000_000) as i64)
        .or(envelope_time)
        .or_else(|| int_of(result.get("timeSecond")).map(|s| s.saturating_mul(1000)))
}

/// One entry of `/v5/system/status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Maintenance {
    pub title: String,
    pub state: String,
    pub begin_ms: i64,
    pub end_ms: i64,
    /// UID tails affected when a maintenance is rolled out in batches; empty = everyone.
    pub uid_suffix: Vec<String>,
}

impl Maintenance {
    /// Whether this entry means maintenance at `now_ms` (the server's clock). The docs list
    /// no values for `state` beyond the example's `completed` [uncertain]: an entry counts
    /// unless completed or cancelled, when `[begin, end]` covers now; `end` is the expected end
    /// until the work completes, so an entry still `ongoing` past it counts too.
    pub fn is_active(&self, now_ms: i64) -> bool {
        let state = self.state.to_ascii_lowercase();
        if matches!(state.as_str(), "completed" | "canceled" | "cancelled") {
            return false;
        }
        let started = self.begin_ms <= now_ms;
        let not_ended = self.end_ms == 0 || now_ms <= self.end_ms || state == "ongoing";
        started && not_ended
    }

    /// Whether a batched maintenance touches the account with this UID.
    pub fn affects_uid(&self, uid: &str) -> bool {
        self.uid_suffix.iter().any(|tail| uid.ends_with(tail))
    }

    fn describe(&self) -> String {
        let when = |ms: i64| announced_time(ms).unwrap_or_else(|| ms.to_string());
        let until = if self.end_ms == 0 {
            String::new()
        } else {
            format!(" until {}", when(self.end_ms))
        };
        format!(
            "Bybit maintenance {:?} ({}) since {}{until}",
            self.title,
            self.state,
            when(self.begin_ms)
        )
    }
}

/// The entries of `/v5/system/status`'s `result.list`; `None` when the list is missing.
pub fn parse_status(result: &Value) -> Option<Vec<Maintenance>> {
    let list = result.get("list")?.as_array()?;
    Some(
        list.iter()
            .map(|entry| Maintenance {
                title: entry
                    .get("title")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                state: entry
                    .get("state")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                begin_ms: int_of(entry.get("begin")).unwrap_or(0),
                end_ms: int_of(entry.get("end")).unwrap_or(0),
                uid_suffix: entry
                    .get("uidSuffix")
                    .and_then(Value::as_array)
                    .map(|tails| tails.iter().filter_map(|t| id_text(Some(t))).collect())
                    .unwrap_or_default(),
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// What `/v5/user/query-api` says about the key.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyInfo {
    /// `readOnly`: 1 read only, 0 read and write. `None` when absent.
    pub read_only: Option<bool>,
    /// `permissions`: category → granted items (`Spot: ["SpotTrade"]`, ...).
    pub permissions: BTreeMap<String, Vec<String>>,
    /// `ips`: the bound IPs; `["*"]` means none. `None` when absent.
    pub ips: Option<Vec<String>>,
    /// `expiredAt`, filled for keys without an IP binding (or after a password change).
    pub expired_at: Option<DateTime<Utc>>,
    /// `deadlineDay`: days left, same condition.
    pub deadline_day: Option<i64>,
    /// `uta`: 1 unified trading account, 0 classic.
    pub uta: Option<i64>,
    /// `userID`, for batched maintenance (`uidSuffix`).
    pub user_id: Option<String>,
}

/// `expiredAt`: ISO-8601 UTC per the docs; epoch ms (number or string) accepted too. Empty,
/// unparsable or pre-2000 values (a zero date) mean "no expiry reported".
fn parse_expiry(value: Option<&Value>) -> Option<DateTime<Utc>> {
    let at = match value? {
        Value::String(s) if s.trim().is_empty() => return None,
        Value::String(s) => DateTime::parse_from_rfc3339(s.trim())
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| {
                s.trim()
                    .parse::<i64>()
                    .ok()
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            })?,
        Value::Number(n) => Utc.timestamp_millis_opt(n.as_i64()?).single()?,
        _ => return None,
    };
    (at.timestamp() > 946_684_800).then_some(at)
}

impl KeyInfo {
    /// Parses `result`; `None` when it carries no `permissions` object.
    pub fn parse(result: &Value) -> Option<KeyInfo> {
        let permissions = result
            .get("permissions")?
            .as_object()?
            .iter()
            .filter_map(|(category, items)| Some((category.clone(), string_list(Some(items))?)))
            .collect();
        let read_only = match result.get("readOnly") {
            Some(Value::Bool(b)) => Some(*b),
            other => int_of(other).map(|n| n == 1),
        };
        Some(KeyInfo {
            read_only,
            permissions,
            ips: result.get("ips").and_then(|ips| string_list(Some(ips))),
            expired_at: parse_expiry(result.get("expiredAt")),
            deadline_day: int_of(result.get("deadlineDay")),
            uta: int_of(result.get("uta")),
            user_id: match result.get("userID") {
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            },
        })
    }

    pub fn has(&self, category: &str, item: &str) -> bool {
        self.permissions
            .get(category)
            .is_some_and(|items| facts::lists_right(items, item))
    }

    /// Whether the key is bound to IPs: any entry other than `*`. `None` when not reported.
    pub fn ip_bound(&self) -> Option<bool> {
        self.ips.as_ref().map(|ips| ips.iter().any(|ip| ip != "*"))
    }

    /// When the key expires: `expiredAt`, else `now + deadlineDay` when that is positive.
    pub fn expires_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.expired_at.or_else(|| {
            self.deadline_day
                .filter(|d| *d > 0)
                .and_then(|d| expiry::after(now, d as f64, expiry::Unit::Days))
        })
    }

    /// The wallet `accountType` this account reads: `UNIFIED` for a unified trading account
    /// (and when unknown), `SPOT` for a classic account (docs: classic takes CONTRACT/SPOT).
    pub fn wallet_account_type(&self) -> &'static str {
        match self.uta {
            Some(0) => "SPOT",
            _ => "UNIFIED",
        }
    }

    /// Fills rights, IP binding, expiry and notes into `facts`.
    ///
    /// read: any valid key reads. Writing rights need `readOnly == 0`: spot trade =
    /// `Spot: SpotTrade`; futures = `ContractTrade: Order` or `Derivatives: DerivativesTrade`;
    /// withdraw = `Wallet: Withdraw`. `AccountTransfer` / `SubMemberTransfer` move funds only
    /// between the user's own accounts and are noted, not counted as withdraw.
    pub fn apply(&self, facts: &mut Facts, now: DateTime<Utc>) {
        let writable = match self.read_only {
            Some(read_only) => !read_only,
            None => {
                // Not reported: judge by the categories alone, so a listed Withdraw still alerts.
                facts.notes.push(
                    "query-api did not report readOnly; rights read from the categories".into(),
                );
                true
            }
        };
        facts.permissions.read = Some(true);
        facts.permissions.trade = Some(writable && self.has("Spot", "SpotTrade"));
        facts.permissions.futures = Some(
            writable
                && (self.has("ContractTrade", "Order")
                    || self.has("Derivatives", "DerivativesTrade")),
        );
        facts.permissions.withdraw = Some(writable && self.has("Wallet", "Withdraw"));
        if !writable && self.has("Wallet", "Withdraw") {
            facts.notes.push(
                "key lists Wallet Withdraw but is read-only, so it cannot withdraw".to_string(),
            );
        }
        if writable && self.has("ContractTrade", "Position") && !self.has("ContractTrade", "Order")
        {
            facts
                .notes
                .push("key may manage contract positions but not place contract orders".into());
        }
        let transfers: Vec<&str> = ["AccountTransfer", "SubMemberTransfer"]
            .into_iter()
            .filter(|item| self.has("Wallet", item))
            .collect();
        if writable && !transfers.is_empty() {
            facts.notes.push(format!(
                "key may move funds between the user's own accounts ({})",
                transfers.join(", ")
            ));
        }
        if writable && self.has("Options", "OptionsTrade") {
            facts
                .notes
                .push("key also holds Bybit's options (USDC contract) trade right".into());
        }
        facts.ip_restricted = self.ip_bound();
        // Bybit fills expiredAt/deadlineDay for keys without IP binding (which expire) or after
        // a password change; IP-bound keys are otherwise permanent.
        facts.expires_at = self.expires_at(now);
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Bybit {
    http: HttpClient,
}

impl Bybit {
    pub fn new(http: HttpClient) -> Bybit {
        Bybit { http }
    }

    async fn public(&self, base: &str, path: &str) -> Result<Reply, Problem> {
        self.public_timed(base, path).await.map(|(reply, _)| reply)
    }

    /// A public call, with the instants it was sent and answered (for the clock offset).
    async fn public_timed(&self, base: &str, path: &str) -> Result<(Reply, RoundTrip), Problem> {
        self.http
            .get_timed(&format!("{base}{path}"), HeaderMap::new())
            .await
    }

    /// A signed GET of `path?query` (no `?` when the query is empty). The base may carry a
    /// proxy prefix: only the query is signed.
    async fn signed(
        &self,
        target: &ProbeTarget,
        base: &str,
        path: &str,
        query: &str,
        what: &str,
    ) -> Outcome {
        let signed = self.http.get_signed(base, |now| {
            let headers = auth_headers(&target.credentials, now, query)?;
            let url = if query.is_empty() {
                format!("{base}{path}")
            } else {
                format!("{base}{path}?{query}")
            };
            Ok((url, headers))
        });
        match signed.await {
            Ok(reply) => read_reply(
                &reply,
                what,
                Some(target.credentials.api_key.expose_secret()),
            ),
            Err(problem) => Outcome::Problem(problem, None),
        }
    }
}

impl Probe for Bybit {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let base = target.spot_base();

        // 1. Is the exchange up, and is our clock inside its window?
        let what = format!("GET {PATH_TIME}");
        let (reply, trip) = self.public_timed(base, PATH_TIME).await?;
        let server_ms = match read_reply(&reply, &what, None) {
            Outcome::Ok(result, time) => server_time_ms(&result, time)
                .ok_or_else(|| facts::reply_without(&what, "a server time"))?,
            Outcome::Denied(said) => return Err(Problem::unavailable(said)),
            Outcome::Problem(problem, _) => return Err(problem),
        };
        if let Some(problem) =
            SPEC.skew_problem_of_clock(&what, "server clock", trip.clock_offset_ms(server_ms))
        {
            return Err(problem);
        }

        // 2. Maintenance announced on the status endpoint. It is recent (2025) and regional
        // sites may lack it, so a 404 / "route not found" only skips it, with a note.
        let what = format!("GET {PATH_STATUS}");
        let reply = self.public(base, PATH_STATUS).await?;
        let mut batched = Vec::new();
        match read_reply(&reply, &what, None) {
            Outcome::Ok(result, _) => {
                let entries = parse_status(&result)
                    .ok_or_else(|| facts::reply_without(&what, "a status list"))?;
                for entry in entries.into_iter().filter(|e| e.is_active(server_ms)) {
                    if entry.uid_suffix.is_empty() {
                        return Err(Problem::unavailable(format!(
                            "{what}: {}",
                            entry.describe()
                        )));
                    }
                    batched.push(entry);
                }
            }
            Outcome::Problem(_, Some(10017)) => facts.notes.push(format!(
                "{what} not available here; maintenance not checked"
            )),
            Outcome::Problem(_, None) if reply.status == StatusCode::NOT_FOUND => facts.notes.push(
                format!("{what} not available here; maintenance not checked"),
            ),
            Outcome::Denied(said) => return Err(Problem::unavailable(said)),
            Outcome::Problem(problem, _) => return Err(problem),
        }

        // 3. What the key is allowed to do (any valid key may call this).
        let what = format!("GET {PATH_API_KEY}");
        let mut account_type = "UNIFIED";
        match self.signed(target, base, PATH_API_KEY, "", &what).await {
            Outcome::Ok(result, _) => {
                let info = KeyInfo::parse(&result)
                    .ok_or_else(|| facts::reply_without(&what, "a permissions object"))?;
                info.apply(facts, Utc::now());
                account_type = info.wallet_account_type();
                for entry in &batched {
                    match &info.user_id {
                        Some(uid) if entry.affects_uid(uid) => {
                            return Err(Problem::unavailable(format!(
                                "GET {PATH_STATUS}: {} for this account's UID batch",
                                entry.describe()
                            )))
                        }
                        Some(_) => {}
                        None => facts.notes.push(format!(
                            "{} for some UIDs; this account's UID is unknown",
                            entry.describe()
                        )),
                    }
                }
            }
            // Documented as open to any permission; if refused anyway, the rights stay unknown.
            Outcome::Denied(said) => facts
                .notes
                .push(format!("rights, IP binding and expiry unknown: {said}")),
            Outcome::Problem(problem, _) => return Err(problem),
        }

        // 4. Can it read balances?
        let what = format!("GET {PATH_WALLET}");
        let query = format!("accountType={account_type}");
        match self.signed(target, base, PATH_WALLET, &query, &what).await {
            Outcome::Ok(result, _) if result.get("list").is_some_and(Value::is_array) => {
                facts.permissions.read = Some(true)
            }
            Outcome::Ok(_, _) => return Err(facts::reply_without(&what, "a wallet list")),
            Outcome::Denied(said) => {
                facts.permissions.read = Some(false);
                facts.notes.push(said);
            }
            // Parameter error: this account does not take that accountType (account modes
            // change over time [uncertain]); not the key's fault, so note it and go on.
            Outcome::Problem(problem, Some(10001)) => facts.notes.push(format!(
                "balance not read with accountType={account_type}: {}",
                problem.message
            )),
            Outcome::Problem(problem, _) => return Err(problem),
        }

        // 5. Futures, only when the connection trades them: one host for everything, so the
        // time and status checks above cover it.
        if target.markets.futures {
            let futures = target.futures_base();
            let what = format!("GET {PATH_POSITIONS}");
            match self
                .signed(target, futures, PATH_POSITIONS, POSITIONS_QUERY, &what)
                .await
            {
                Outcome::Ok(result, _) => {
                    let positions =
                        |result: &Value| result.get("list").is_some_and(Value::is_array);
                    expect_shape(result, positions, &what, "a position list")?;
                    facts::futures_readable(facts, "linear positions");
                }
                Outcome::Denied(said) => {
                    facts::futures_refused(facts, &said);
                }
                Outcome::Problem(problem, _) => return Err(problem),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
