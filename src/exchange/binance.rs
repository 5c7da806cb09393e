//! Binance: spot (`/api/v3`), wallet/SAPI (`/sapi/v1`) on `api.binance.com`, and USDⓈ-M
//! futures (`/fapi`) on `fapi.binance.com`.
//!
//! Signing (shared/docs/exchanges/binance.md §2, verified): HMAC-SHA256, lowercase hex, keyed
//! with the secret, over `totalParams` = the query string exactly as sent directly followed by
//! the body (no separator, no sorting); `signature=` is appended last; the key travels in the
//! `X-MBX-APIKEY` header. Method, host and path are not signed, so a proxy prefix in `base_url`
//! never is either.
//!
//! The probe reads the server time (our clock must satisfy Binance's window rule), the public
//! system status (maintenance), then the key's own restrictions (`apiRestrictions`: read, spot
//! trade, withdraw, futures, IP binding, trade expiry), the spot balances, and, for futures
//! connections, the futures server time and balances. Replies are read by their JSON `code`,
//! never by the HTTP status alone: which status goes with which code is only partly documented.

use super::signing::encode_value;
use super::signing::hmac_hex;
use chrono::{TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderName};
use reqwest::StatusCode;
use serde_json::Value;

use super::facts::{self, expect_shape, integer, numeric_code, refusal_text, Answer};
use super::http;
use super::http::{generic_problem, Reply, RoundTrip};
use super::{now_ms, Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::BINANCE;

/// The `recvWindow` we send (ms): Binance's default, sent explicitly.
pub const RECV_WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();
/// The largest `recvWindow` Binance accepts.
pub const MAX_RECV_WINDOW_MS: i64 = 60_000;
/// A timestamp this far (or more) ahead of the server clock is refused whatever the recvWindow.
pub const MAX_AHEAD_MS: i64 = SPEC.clock_window.server_behind.ms();

/// The header that carries the API key.
pub const KEY_HEADER: &str = "X-MBX-APIKEY";

pub const PATH_TIME: &str = "/api/v3/time";
pub const PATH_SYSTEM_STATUS: &str = "/sapi/v1/system/status";
pub const PATH_API_RESTRICTIONS: &str = "/sapi/v1/account/apiRestrictions";
pub const PATH_ACCOUNT: &str = "/api/v3/account";
pub const PATH_FUTURES_TIME: &str = "/fapi/v1/time";
pub const PATH_FUTURES_BALANCE: &str = "/fapi/v3/balance";

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (secret, time, request parts).
// ---------------------------------------------------------------------------------------------

/// `totalParams`: the query string as sent (without `?`) directly followed by the body as sent.
pub fn total_params(query: &str, body: &str) -> String {
    format!("{query}{body}")
}

/// The signature of a request whose query (without `signature`) and body are given.
pub fn signature(secret: &str, query: &str, body: &str) -> String {
    hmac_hex(secret, total_params(query, body))
}

/// The query string of a signed GET: `pairs` in exactly the order given, then `signature` last.
pub fn signed_query(secret: &str, pairs: &[(&str, &str)]) -> String {
    let unsigned = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_value(v)))
        .collect::<Vec<_>>()
        .join("&");
    let signature = signature(secret, &unsigned, "");
    if unsigned.is_empty() {
        format!("signature={signature}")
    } else {
        format!("{unsigned}&signature={signature}")
    }
}

/// The query the probe sends: `timestamp` first, then the endpoint's own parameters, then
/// `recvWindow` (ccxt's order), then `signature`.
pub fn probe_query(secret: &str, params: &[(&str, &str)], timestamp_ms: i64) -> String {
    let timestamp = timestamp_ms.to_string();
    let recv_window = RECV_WINDOW_MS.to_string();
    let mut pairs: Vec<(&str, &str)> = vec![("timestamp", &timestamp)];
    pairs.extend_from_slice(params);
    pairs.push(("recvWindow", &recv_window));
    signed_query(secret, &pairs)
}

/// The full URL of a signed GET of `path` on `base` (which may carry an unsigned path prefix).
pub fn signed_url(base: &str, path: &str, query: &str) -> String {
    format!("{base}{path}?{query}")
}

/// The headers of a signed request: the key, marked sensitive. Fails without quoting the key
/// when it holds bytes that cannot travel in a header.
pub fn key_headers(credentials: &Credentials) -> Result<HeaderMap, Problem> {
    let value = http::sensitive_header("the API key", credentials.api_key.expose_secret())?;
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-mbx-apikey"), value);
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

fn json_msg(body: &Value) -> String {
    body.get("msg")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// Reads a reply: the problems every exchange shares first (429, HTML, 5xx; Binance's own body
/// is quoted when it sent one), then Binance's `{"code": n, "msg": ..}` error shape. Success
/// bodies carry no `code` (a JSON array or an object without one).
fn read_answer(reply: &Reply, what: &str) -> Result<Answer, Problem> {
    let parsed: Option<Value> = serde_json::from_slice(&reply.body).ok();
    if let Some(mut problem) = generic_problem(reply, what) {
        if let Some(body) = parsed.as_ref().filter(|b| numeric_code(b).is_some()) {
            let wait = http::retry_text(problem.retry_after);
            problem.message = format!(
                "{}{wait}",
                refusal_text(
                    &format!("{what}: HTTP {}", reply.status.as_u16()),
                    reply.status.as_u16(),
                    numeric_code(body),
                    &json_msg(body)
                )
            );
        }
        return Err(problem);
    }
    let status = reply.status.as_u16();
    // 418: this IP is banned for ignoring 429s; Retry-After says until when.
    if reply.status == StatusCode::IM_A_TEAPOT {
        let (code, msg) = parsed
            .as_ref()
            .map(|b| (numeric_code(b), json_msg(b)))
            .unwrap_or((None, reply.snippet()));
        return Err(Problem::rate_limited(
            format!(
                "{} (HTTP 418: IP banned for a while)",
                refusal_text(what, status, code, &msg)
            ),
            reply.retry_after(),
        ));
    }
    let Some(body) = parsed else {
        if reply.status.is_success() {
            // Truncated or garbage JSON on a 200: not the API answering.
            return Err(reply.json::<Value>(what).unwrap_err());
        }
        return Ok(Answer::refused_without_code(reply));
    };
    match numeric_code(&body) {
        // An error body, whatever the HTTP status: the code decides.
        Some(code) if body.get("msg").is_some() || !reply.status.is_success() => {
            Ok(Answer::Refused {
                status,
                code: Some(code),
                msg: json_msg(&body),
            })
        }
        _ if reply.status.is_success() => Ok(Answer::Ok(body)),
        _ => Ok(Answer::refused_without_code(reply)),
    }
}

/// What an error code means for a key check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Meaning {
    InvalidKey,
    ClockSkew,
    /// Binance refuses this host's location (HTTP 451, code 0): no key or whitelist fixes it.
    RestrictedLocation,
    RateLimited,
    Unavailable,
    /// -2015 / -1002: "Invalid API-key, IP, or permissions for action". Binance uses the one
    /// code for an IP outside the whitelist, a key it refuses, and a missing right; which one
    /// depends on where in the probe it comes (see [`Binance::signed`]).
    Ambiguous,
}

/// Binance's error codes (exchange doc §6; -2008 from the spot error list and ccxt's map).
fn meaning(code: i64, msg: &str) -> Meaning {
    match code {
        // -2008 unknown key ID, -2014 key format, -1022 bad signature, -1099 not found /
        // unauthenticated (ccxt: AuthenticationError).
        -2008 | -2014 | -1022 | -1099 => Meaning::InvalidKey,
        -2015 | -1002 => Meaning::Ambiguous,
        -1021 => Meaning::ClockSkew,
        -1003 | -1015 => Meaning::RateLimited,
        // The region block (HTTP 451) answers code 0 with "restricted location" [uncertain
        // body; an HTTP 451 without it is read the same, see `refusal_meaning`].
        0 if msg.to_ascii_lowercase().contains("restricted location") => {
            Meaning::RestrictedLocation
        }
        // -1000 unknown, -1001 internal/disconnected, -1004 busy, -1006/-1007 unexpected reply
        // or timeout, -1016 shutting down, and anything we do not know.
        _ => Meaning::Unavailable,
    }
}

/// What a refusal means: its JSON code's meaning, or for a bare HTTP 451 (Unavailable For
/// Legal Reasons, binance.md §6) the region block; `None` for any other refusal without a code.
fn refusal_meaning(status: u16, code: Option<i64>, msg: &str) -> Option<Meaning> {
    match code {
        Some(code) => Some(meaning(code, msg)),
        None if status == 451 => Some(Meaning::RestrictedLocation),
        None => None,
    }
}

/// The problem a refusal stands for (`Ambiguous` resolved by the caller first).
fn problem_for(meaning: Meaning, text: String, reply: &Reply) -> Problem {
    match meaning {
        Meaning::InvalidKey => Problem::invalid_key(text),
        Meaning::ClockSkew => Problem::clock_skew(format!(
            "{text} (Binance accepts a timestamp at most {RECV_WINDOW_MS} ms behind and less \
             than {MAX_AHEAD_MS} ms ahead of its clock)"
        )),
        Meaning::Ambiguous => Problem::ip_not_allowed(text),
        // Not the key and not its whitelist: Binance serves this host's country from none of
        // its sites that share keys (Binance.US, Binance TR and the like are separate
        // exchanges with their own keys).
        Meaning::RestrictedLocation => Problem::wrong_region(format!(
            "{text} (Binance refuses requests from this host's location: check the key from a \
             host in a country Binance serves; Binance.US and other national Binance sites are \
             separate exchanges with their own keys)"
        )),
        Meaning::RateLimited => Problem::rate_limited(text, reply.retry_after()),
        Meaning::Unavailable => Problem::unavailable(text),
    }
}

fn server_time(body: &Value) -> Option<i64> {
    integer(body.get("serverTime")?)
}

/// `/sapi/v1/system/status`: `{"status": 0, "msg": "normal"}`; 1 = system maintenance.
fn status_problem(body: &Value, what: &str) -> Option<Problem> {
    let msg = body.get("msg").and_then(Value::as_str).unwrap_or("");
    let status = body.get("status").and_then(integer);
    facts::service_status_problem(what, status, 0, |n| {
        format!("Binance system status {n} {msg}")
            .trim_end()
            .to_string()
    })
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// What `GET /sapi/v1/account/apiRestrictions` says about a key. Each flag is `None` when the
/// reply lacks it (the field set has changed over the years; unknown flags are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restrictions {
    pub ip_restrict: Option<bool>,
    pub enable_reading: Option<bool>,
    pub enable_spot_and_margin_trading: Option<bool>,
    pub enable_withdrawals: Option<bool>,
    pub enable_futures: Option<bool>,
    pub enable_internal_transfer: Option<bool>,
    pub permits_universal_transfer: Option<bool>,
    pub enable_margin: Option<bool>,
    /// ms; present only when spot/margin trading has an expiry (keys without IP binding).
    pub trading_authority_expiration_ms: Option<i64>,
}

impl Restrictions {
    /// Parses the reply; `None` unless it is an object holding at least one of the known
    /// flags. Booleans are accepted as JSON booleans or, tolerantly, as "true"/"false".
    pub fn parse(body: &Value) -> Option<Restrictions> {
        let obj = body.as_object()?;
        let flag = |name: &str| match obj.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        };
        let restrictions = Restrictions {
            ip_restrict: flag("ipRestrict"),
            enable_reading: flag("enableReading"),
            enable_spot_and_margin_trading: flag("enableSpotAndMarginTrading"),
            enable_withdrawals: flag("enableWithdrawals"),
            enable_futures: flag("enableFutures"),
            enable_internal_transfer: flag("enableInternalTransfer"),
            permits_universal_transfer: flag("permitsUniversalTransfer"),
            enable_margin: flag("enableMargin"),
            trading_authority_expiration_ms: obj
                .get("tradingAuthorityExpirationTime")
                .and_then(integer),
        };
        let known = [
            restrictions.ip_restrict,
            restrictions.enable_reading,
            restrictions.enable_spot_and_margin_trading,
            restrictions.enable_withdrawals,
            restrictions.enable_futures,
        ];
        known.iter().any(Option::is_some).then_some(restrictions)
    }

    /// Fills rights, IP binding, expiry and notes into `facts`, as of `now_ms`.
    pub fn apply(&self, facts: &mut Facts, now_ms: i64) {
        facts.permissions.read = self.enable_reading;
        facts.permissions.trade = self.enable_spot_and_margin_trading;
        facts.permissions.withdraw = self.enable_withdrawals;
        facts.permissions.futures = self.enable_futures;
        facts.ip_restricted = self.ip_restrict;
        // Binance has no key-level expiry; a key without IP binding gets a trading-authority
        // expiry instead, after which it can no longer trade. That is the date that matters.
        if let Some(ms) = self.trading_authority_expiration_ms {
            if let Some(at) = Utc.timestamp_millis_opt(ms).single() {
                facts.expires_at = Some(at);
                if ms <= now_ms && self.enable_spot_and_margin_trading == Some(true) {
                    facts.permissions.trade = Some(false);
                    facts.notes.push(format!(
                        "spot trading right lapsed on {} (tradingAuthorityExpirationTime)",
                        at.format("%Y-%m-%d")
                    ));
                }
            }
        }
        let mut missing = Vec::new();
        for (name, value) in [
            ("enableReading", self.enable_reading),
            (
                "enableSpotAndMarginTrading",
                self.enable_spot_and_margin_trading,
            ),
            ("enableWithdrawals", self.enable_withdrawals),
            ("enableFutures", self.enable_futures),
            ("ipRestrict", self.ip_restrict),
        ] {
            if value.is_none() {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            facts.notes.push(format!(
                "apiRestrictions did not report {}; those facts are unknown",
                missing.join(", ")
            ));
        }
        // Not withdraw rights, but funds can move: worth telling the operator.
        let mut movers = Vec::new();
        if self.enable_internal_transfer == Some(true) {
            movers.push("internal transfer");
        }
        if self.permits_universal_transfer == Some(true) {
            movers.push("universal transfer");
        }
        if !movers.is_empty() {
            facts
                .notes
                .push(format!("key can move funds by {}", movers.join(" and ")));
        }
        if self.enable_margin == Some(true) {
            facts
                .notes
                .push("key also holds Binance's margin right".to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Binance {
    http: HttpClient,
}

/// Where in the probe a signed call comes, which decides what -2015 means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The first signed call: the key has not been accepted yet.
    First,
    /// After `apiRestrictions` succeeded: the key and our IP are accepted, so -2015 can only be
    /// a missing right (doc §8).
    Later,
}

/// What a signed call came to.
#[derive(Debug)]
enum Outcome {
    Ok(Value),
    /// The key lacks the right this endpoint needs: a fact, not a problem.
    Denied(String),
}

impl Binance {
    pub fn new(http: HttpClient) -> Binance {
        Binance { http }
    }

    async fn public(&self, base: &str, path: &str, what: &str) -> Result<Value, Problem> {
        self.public_timed(base, path, what)
            .await
            .map(|(body, _)| body)
    }

    /// A public call with the instants it was sent and answered (for the clock offset).
    async fn public_timed(
        &self,
        base: &str,
        path: &str,
        what: &str,
    ) -> Result<(Value, RoundTrip), Problem> {
        let (reply, round_trip) = self
            .http
            .get_timed(&format!("{base}{path}"), HeaderMap::new())
            .await?;
        match read_answer(&reply, what)? {
            Answer::Ok(body) => Ok((body, round_trip)),
            Answer::Refused { status, code, msg } => {
                let text = refusal_text(what, status, code, &msg);
                match refusal_meaning(status, code, &msg) {
                    Some(m @ (Meaning::RateLimited | Meaning::RestrictedLocation)) => {
                        Err(problem_for(m, text, &reply))
                    }
                    // A public endpoint needs no key: any other refusal is the exchange's.
                    _ => Err(Problem::unavailable(text)),
                }
            }
        }
    }

    /// The clock step of a host (spot or futures): it answers `path` with its `serverTime`,
    /// and our clock is inside Binance's window against that round trip.
    async fn check_clock(&self, base: &str, path: &str) -> Result<(), Problem> {
        let what = format!("GET {path}");
        let (body, trip) = self.public_timed(base, path, &what).await?;
        trip.check_clock_by(&what, server_time(&body), "a serverTime", |offset| {
            SPEC.skew_problem_of_clock(&what, "server clock", offset)
        })
    }

    async fn signed(
        &self,
        target: &ProbeTarget,
        base: &str,
        path: &str,
        params: &[(&str, &str)],
        what: &str,
        stage: Stage,
    ) -> Result<Outcome, Problem> {
        let credentials = &target.credentials;
        let reply = self
            .http
            .get_signed(base, |now| {
                let query = probe_query(credentials.api_secret.expose_secret(), params, now);
                Ok((signed_url(base, path, &query), key_headers(credentials)?))
            })
            .await?;
        match read_answer(&reply, what)? {
            Answer::Ok(body) => Ok(Outcome::Ok(body)),
            Answer::Refused { status, code, msg } => {
                let text = refusal_text(what, status, code, &msg);
                // Keyed on the JSON code; the HTTP status that goes with -2014/-2015/-2008 is
                // [uncertain] (401 in most reports, 400 in some).
                let Some(meaning) = refusal_meaning(status, code, &msg) else {
                    return Err(Problem::unavailable(text));
                };
                match (meaning, stage) {
                    (Meaning::Ambiguous, Stage::Later) => Ok(Outcome::Denied(text)),
                    // On the first signed call -2015 mostly means this host's IP is not on the
                    // key's whitelist (recent replies name it: "request ip: a.b.c.d"); Binance
                    // also sends it for a key it refuses, so the message says both.
                    (Meaning::Ambiguous, Stage::First) => Err(Problem::ip_not_allowed(format!(
                        "{text} (Binance sends this when the request IP is not on the key's \
                         whitelist, and also for a revoked key)"
                    ))),
                    (m, _) => Err(problem_for(m, text, &reply)),
                }
            }
        }
    }
}

impl Probe for Binance {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let spot = target.spot_base();

        // 1. Exchange up, our clock inside the window.
        self.check_clock(spot, PATH_TIME).await?;
        let what = format!("GET {PATH_SYSTEM_STATUS}");
        let body = self.public(spot, PATH_SYSTEM_STATUS, &what).await?;
        if let Some(problem) = status_problem(&body, &what) {
            return Err(problem);
        }

        // 2. Key valid, signature accepted, IP allowed; the key's rights.
        let what = format!("GET {PATH_API_RESTRICTIONS}");
        match self
            .signed(
                target,
                spot,
                PATH_API_RESTRICTIONS,
                &[],
                &what,
                Stage::First,
            )
            .await?
        {
            Outcome::Ok(body) => {
                let restrictions = Restrictions::parse(&body)
                    .ok_or_else(|| facts::reply_without(&what, "the key's restrictions"))?;
                restrictions.apply(facts, now_ms());
            }
            Outcome::Denied(text) => return Err(Problem::ip_not_allowed(text)),
        }

        // 3. Can it read balances? (canTrade/canWithdraw there describe the account, not the
        // key, and are not read.)
        let what = format!("GET {PATH_ACCOUNT}");
        match self
            .signed(
                target,
                spot,
                PATH_ACCOUNT,
                &[("omitZeroBalances", "true")],
                &what,
                Stage::Later,
            )
            .await?
        {
            Outcome::Ok(body) => {
                let balances = |body: &Value| body.get("balances").is_some_and(Value::is_array);
                expect_shape(body, balances, &what, "balances")?;
                facts.permissions.read = Some(true);
            }
            Outcome::Denied(text) => {
                facts.permissions.read = Some(false);
                facts.notes.push(text);
            }
        }

        // 4. Futures, only when the connection trades them.
        if target.markets.futures {
            let futures = target.futures_base();
            self.check_clock(futures, PATH_FUTURES_TIME).await?;
            let what = format!("GET {PATH_FUTURES_BALANCE}");
            match self
                .signed(
                    target,
                    futures,
                    PATH_FUTURES_BALANCE,
                    &[],
                    &what,
                    Stage::Later,
                )
                .await?
            {
                Outcome::Ok(body) if body.is_array() => {
                    if facts.permissions.futures == Some(false) {
                        facts.notes.push(
                            "futures balances readable although apiRestrictions reports no \
                             futures right"
                                .to_string(),
                        );
                    }
                }
                Outcome::Ok(_) => return Err(facts::reply_without(&what, "a balance list")),
                Outcome::Denied(text) => {
                    facts::futures_refused(facts, &text);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
