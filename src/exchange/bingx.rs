//! BingX: one REST host for spot, USDT-M perpetual ("swap") and account endpoints, every path
//! under `/openApi/`.
//!
//! Signing (exchange doc §2, official "Signature Description"): lowercase hex
//! HMAC-SHA256(secret, parameter string), where the parameter string is the request's own
//! `k=v&k=v` pairs including `timestamp` (and `recvWindow` when sent), with raw (unencoded)
//! values, in the order they are sent. The signature travels as the LAST query parameter
//! (`&signature=<hex>`), the key in the `X-BX-APIKEY` header. Neither the method nor the path is
//! signed, so a path prefix in `base_url` never matters. We sort parameters by name (as ccxt
//! does) before signing and sending, so the bytes signed and the bytes sent are the same order.
//!
//! The probe reads the server time (BingX has no status endpoint; maintenance shows as busy codes
//! or 5xx), then `GET /openApi/v1/account/apiPermissions` (rights as numeric codes, the IP
//! whitelist), the spot balance, and, for futures connections, the perpetual-futures balance.
//! Every reply is judged by its JSON `code` (0 = success), never by the HTTP status alone: BingX
//! answers most business errors with HTTP 200, and the status that goes with each code is
//! [uncertain] in its docs.

use super::signing::encode_value;
use super::signing::hmac_hex;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName};
use serde_json::Value;

use super::facts::{
    self, expect_shape, integer, msg_text, numeric_code, refusal_text, Meaning, Outcome,
};
use super::http;
use super::http::{generic_problem, Reply};
use super::{now_ms, Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::BINGX;

/// The `recvWindow` we send (ms): ccxt's default. BingX's own default when none is sent is
/// [uncertain] (the coin-M docs say a timestamp must be "within 5 seconds" of server time), so we
/// always send it explicitly.
pub const RECV_WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();

/// The header that carries the API key.
pub const KEY_HEADER: &str = "X-BX-APIKEY";

pub const PATH_SPOT_TIME: &str = "/openApi/spot/v1/server/time";
pub const PATH_SWAP_TIME: &str = "/openApi/swap/v2/server/time";
pub const PATH_API_PERMISSIONS: &str = "/openApi/v1/account/apiPermissions";
pub const PATH_SPOT_BALANCE: &str = "/openApi/spot/v1/account/balance";
pub const PATH_SWAP_BALANCE: &str = "/openApi/swap/v3/user/balance";

/// The permission codes `apiPermissions` lists (official docs, "Query user API Key permissions").
pub const PERM_SPOT_TRADE: i64 = 1;
pub const PERM_READ: i64 = 2;
pub const PERM_PERPETUAL_TRADE: i64 = 3;
pub const PERM_UNIVERSAL_TRANSFER: i64 = 4;
pub const PERM_WITHDRAW: i64 = 5;
pub const PERM_SUB_ACCOUNT_TRANSFER: i64 = 7;

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (secret, time, parameters).
// ---------------------------------------------------------------------------------------------

/// The string BingX signs: `k=v` pairs joined with `&`, values raw (unencoded), in the order
/// given, `signature` never among them.
pub fn param_string(params: &[(&str, &str)]) -> String {
    params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The signature of an already assembled parameter string.
pub fn signature(secret: &str, param_string: &str) -> String {
    hmac_hex(secret, param_string)
}

/// The query string of a signed request: the endpoint's `params` plus `timestamp` (and
/// `recvWindow` when given), sorted by name (ccxt's keysort), signed over the raw values, sent
/// with values encoded and `signature` appended last.
pub fn signed_query(
    secret: &str,
    params: &[(&str, &str)],
    timestamp_ms: i64,
    recv_window_ms: Option<i64>,
) -> String {
    let timestamp = timestamp_ms.to_string();
    let recv_window = recv_window_ms.map(|w| w.to_string());
    let mut all: Vec<(&str, &str)> = params.to_vec();
    all.push(("timestamp", &timestamp));
    if let Some(w) = &recv_window {
        all.push(("recvWindow", w));
    }
    all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let signed = signature(secret, &param_string(&all));
    let sent: Vec<String> = all
        .iter()
        .map(|(k, v)| {
            // `timestamp` is never encoded (official docs); digits need no encoding anyway.
            if *k == "timestamp" {
                format!("{k}={v}")
            } else {
                format!("{k}={}", encode_value(v))
            }
        })
        .collect();
    format!("{}&signature={signed}", sent.join("&"))
}

/// The header of a signed request: the key, marked sensitive. Fails without quoting the key when
/// it holds bytes that cannot travel in a header.
pub fn auth_headers(credentials: &Credentials) -> Result<HeaderMap, Problem> {
    let value = http::sensitive_header("the API key", credentials.api_key.expose_secret())?;
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static("x-bx-apikey"), value);
    Ok(headers)
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// BingX's codes (exchange doc §6, official common error codes, ccxt's exact map). Some codes
/// carry more than one meaning in BingX's own lists, so their message decides:
/// - 100421 is "Null timestamp or timestamp mismatch" on signed endpoints but also "The current
///   system is busy" in the common list;
/// - 80014 is "timestamp is invalid" on apiPermissions but was "signature not match" on the old
///   swap API;
/// - 100410 is the rate-limit / endpoint-disabled code, but ccxt also files it with the busy codes.
fn meaning(code: i64, msg: &str) -> Meaning {
    let lower = msg.to_ascii_lowercase();
    match code {
        // bad signature, null signature, unknown or null key
        100001 | 100412 | 100413 => Meaning::InvalidKey,
        // "account is abnormal" / risk control: the key cannot be used at all
        100414 => Meaning::InvalidKey,
        100421 | 80014 if lower.contains("timestamp") => Meaning::ClockSkew,
        80014 if lower.contains("signature") => Meaning::InvalidKey,
        100419 => Meaning::IpNotAllowed,
        100004 => Meaning::NoPermission,
        100410 if lower.contains("busy") => Meaning::Unavailable,
        100410 => Meaning::RateLimited,
        // 100500 server problem, 100503 busy, 109500/110500 busy; and anything unknown.
        _ => Meaning::Unavailable,
    }
}

/// The text of a BingX body, trimmed.
fn json_msg(body: &Value) -> String {
    msg_text(body).trim().to_string()
}

/// How long a 100410 refusal asks us to wait: its message names the unblock time in ms since the
/// epoch ("... will be unblocked after 1727193814249", "... can retry after time: 1727193970155").
fn unblock_wait(msg: &str, now: i64) -> Option<Duration> {
    let at = msg
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 13)
        .filter_map(|t| t.parse::<i64>().ok())
        .next_back()?;
    u64::try_from(at - now).ok().map(Duration::from_millis)
}

fn wait_text(wait: Option<Duration>) -> String {
    wait.map(|d| format!(", retry after {}s", d.as_secs().max(1)))
        .unwrap_or_default()
}

/// Reads one reply: the HTTP-level problems every exchange shares first, then BingX's `code`.
fn read_reply(reply: &Reply, what: &str) -> Outcome {
    if let Some(mut problem) = generic_problem(reply, what) {
        // Quote BingX's own code and msg when the 429 or 5xx carried its JSON body.
        if let Ok(body) = serde_json::from_slice::<Value>(&reply.body) {
            if let Some(code) = numeric_code(&body) {
                problem.message = format!(
                    "{what}: HTTP {}, code {code} {}{}",
                    reply.status.as_u16(),
                    json_msg(&body),
                    wait_text(problem.retry_after)
                );
            }
        }
        return Outcome::Problem(problem);
    }
    let status = reply.status.as_u16();
    let body = match serde_json::from_slice::<Value>(&reply.body) {
        Ok(body) => body,
        Err(_) if !reply.status.is_success() => {
            // A bare gateway refusal without BingX's JSON: ccxt reads 401 as a key fault and
            // 418 (auto-ban after continued 429s) as throttling; anything else is not the key's.
            let said = format!("{what}: HTTP {status} {}", reply.snippet())
                .trim_end()
                .to_string();
            return Outcome::Problem(match status {
                401 => Problem::invalid_key(said),
                418 => Problem::rate_limited(said, reply.retry_after()),
                _ => Problem::unavailable(said),
            });
        }
        Err(_) => {
            return Outcome::Problem(
                reply
                    .json::<Value>(what)
                    .err()
                    .unwrap_or_else(|| Problem::unavailable(format!("{what}: unreadable reply"))),
            )
        }
    };
    match numeric_code(&body) {
        Some(0) if reply.status.is_success() => {
            return Outcome::Ok(body.get("data").cloned().unwrap_or(body))
        }
        // No code at all on a 2xx: not BingX's envelope.
        None if reply.status.is_success() => {
            return Outcome::Problem(Problem::unavailable(format!(
                "{what}: HTTP {status} without BingX's code: {}",
                reply.snippet()
            )))
        }
        _ => {}
    }
    let code = numeric_code(&body);
    let msg = json_msg(&body);
    let said = refusal_text(what, status, code, &msg);
    let Some(code) = code else {
        return Outcome::Problem(match status {
            401 => Problem::invalid_key(said),
            _ => Problem::unavailable(said),
        });
    };
    let problem = match meaning(code, &msg) {
        Meaning::NoPermission => return Outcome::Denied(said),
        Meaning::InvalidKey => Problem::invalid_key(said),
        Meaning::ClockSkew => Problem::clock_skew(format!(
            "{said} (BingX accepts a timestamp at most {RECV_WINDOW_MS} ms from its clock)"
        )),
        // BingX's documented text names no IP ("IP does not match IP whitelist"); one is pulled
        // out of the message if it ever does.
        Meaning::IpNotAllowed => Problem::ip_not_allowed(said),
        Meaning::RateLimited => {
            let wait = reply.retry_after().or_else(|| unblock_wait(&msg, now_ms()));
            Problem::rate_limited(format!("{said}{}", wait_text(wait)), wait)
        }
        Meaning::Unavailable if matches!(code, 100500 | 100503 | 109500 | 110500 | 100421) => {
            Problem::unavailable(said)
        }
        Meaning::Unavailable => Problem::unavailable(format!("{said} (unexpected BingX reply)")),
    };
    Outcome::Problem(problem)
}

/// `data.serverTime` of the time endpoints (ms); a top-level `serverTime` and numeric strings are
/// accepted too.
fn server_time(data: &Value) -> Option<i64> {
    integer(data.get("serverTime")?)
}

/// `None` when a request signed by our clock lands inside BingX's window (|offset| at most
/// `recvWindow`, the tolerant reading of the docs), else the clock-skew problem.
pub fn skew_problem(what: &str, offset_ms: i64) -> Option<Problem> {
    let inside = SPEC.clock_window.contains(offset_ms);
    Problem::skew_outside_window(inside, what, "BingX's server clock", offset_ms, || {
        format!("BingX accepts a timestamp at most {RECV_WINDOW_MS} ms from its clock")
    })
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// What `apiPermissions` says about the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyInfo {
    pub permissions: Vec<i64>,
    pub ip_addresses: Vec<String>,
}

impl KeyInfo {
    /// Parses `data`. `permissions` is documented as an "array" without an example, so both
    /// numbers and numeric strings are accepted (and a comma string) [uncertain];
    /// `ipAddresses` may be an array, a comma string, null or absent.
    pub fn from_data(data: &Value) -> Option<KeyInfo> {
        let items = |v: Option<&Value>| -> Option<Vec<String>> {
            match v {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::String(s)) => Some(
                    s.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ),
                Some(Value::Array(list)) => Some(
                    list.iter()
                        .filter_map(|v| match v {
                            Value::String(s) => Some(s.trim().to_string()),
                            Value::Number(n) => Some(n.to_string()),
                            _ => None,
                        })
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                Some(_) => None,
            }
        };
        let obj = data.as_object()?;
        let permissions = items(Some(obj.get("permissions")?))?
            .iter()
            .map(|p| p.parse::<i64>().ok())
            .collect::<Option<Vec<i64>>>()?;
        Some(KeyInfo {
            permissions,
            ip_addresses: items(obj.get("ipAddresses"))?,
        })
    }

    pub fn has(&self, code: i64) -> bool {
        self.permissions.contains(&code)
    }

    /// Fills rights, IP binding and notes into `facts`.
    pub fn apply(&self, facts: &mut Facts) {
        facts.permissions.read = Some(self.has(PERM_READ));
        facts.permissions.trade = Some(self.has(PERM_SPOT_TRADE));
        facts.permissions.withdraw = Some(self.has(PERM_WITHDRAW));
        facts.permissions.futures = Some(self.has(PERM_PERPETUAL_TRADE));
        facts.ip_restricted = Some(!self.ip_addresses.is_empty());
        // apiPermissions carries no expiry and BingX documents no expiry rule for keys
        // [uncertain]; `createTime` exists only on the main-account apiKey/query endpoint.
        facts.expires_at = None;
        facts
            .notes
            .push("BingX reports no expiry date for API keys".to_string());
        let mut transfers = Vec::new();
        if self.has(PERM_UNIVERSAL_TRANSFER) {
            transfers.push("universal transfer (4)");
        }
        if self.has(PERM_SUB_ACCOUNT_TRANSFER) {
            transfers.push("sub-account internal transfer (7)");
        }
        if !transfers.is_empty() {
            // Transfers move funds between the user's own accounts: noted, not withdraw.
            facts.notes.push(format!(
                "key also holds BingX's {} right",
                transfers.join(" and ")
            ));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Bingx {
    http: HttpClient,
}

impl Bingx {
    pub fn new(http: HttpClient) -> Bingx {
        Bingx { http }
    }

    async fn signed(
        &self,
        credentials: &Credentials,
        base: &str,
        path: &str,
        what: &str,
    ) -> Outcome {
        self.http
            .get_signed(base, |now| {
                let headers = auth_headers(credentials)?;
                let query = signed_query(
                    credentials.api_secret.expose_secret(),
                    &[],
                    now,
                    Some(RECV_WINDOW_MS),
                );
                Ok((format!("{base}{path}?{query}"), headers))
            })
            .await
            .map_or_else(Outcome::Problem, |reply| read_reply(&reply, what))
    }

    /// Liveness and clock: the server time on `base`. BingX has no status endpoint
    /// ([uncertain]: none found), so maintenance shows here as a busy code or a 5xx.
    async fn time(&self, base: &str, path: &str) -> Result<(), Problem> {
        let what = format!("GET {path}");
        let (data, trip) = self
            .http
            .get_read(&format!("{base}{path}"), |reply| {
                read_reply(reply, &what).public_data()
            })
            .await?;
        trip.check_clock_by(&what, server_time(&data), "serverTime", |offset| {
            skew_problem(&what, offset)
        })
    }
}

impl Probe for Bingx {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        let spot = target.spot_base();
        let credentials = &target.credentials;

        // 1. Exchange up, our clock inside the window.
        self.time(spot, PATH_SPOT_TIME).await?;

        // 2. The key's rights and IP whitelist.
        let what = format!("GET {PATH_API_PERMISSIONS}");
        match self
            .signed(credentials, spot, PATH_API_PERMISSIONS, &what)
            .await
        {
            Outcome::Ok(data) => {
                let info = KeyInfo::from_data(&data)
                    .ok_or_else(|| facts::reply_without(&what, "a permissions list"))?;
                info.apply(facts);
            }
            // The endpoint needs Read: a key without it cannot describe itself.
            Outcome::Denied(said) => {
                facts.permissions.read = Some(false);
                facts.notes.push(format!(
                    "trade, withdraw and futures rights and IP binding unknown: {said}"
                ));
            }
            Outcome::Problem(problem) => return Err(problem),
        }

        // 3. Can it read the spot balance?
        let what = format!("GET {PATH_SPOT_BALANCE}");
        let outcome = self
            .signed(credentials, spot, PATH_SPOT_BALANCE, &what)
            .await;
        if let Some(data) = outcome.granted(facts, |p| &mut p.read)? {
            let balances = |d: &Value| d.get("balances").is_some_and(Value::is_array);
            expect_shape(data, balances, &what, "a balance list")?;
            facts.permissions.read = Some(true);
        }

        // 4. Futures, only when the connection trades them.
        if target.markets.futures {
            let futures = target.futures_base();
            self.time(futures, PATH_SWAP_TIME).await?;
            let what = format!("GET {PATH_SWAP_BALANCE}");
            match self
                .signed(credentials, futures, PATH_SWAP_BALANCE, &what)
                .await
            {
                // The docs list the perpetual balance under the Read right, so reading it does
                // not prove the futures trading right; that comes from apiPermissions (code 3).
                Outcome::Ok(data) if data.is_array() || data.is_object() => {
                    facts::futures_readable(facts, "perpetual futures account");
                }
                Outcome::Ok(_) => return Err(facts::reply_without(&what, "a futures balance")),
                Outcome::Denied(said) => {
                    facts::futures_refused(facts, &said);
                }
                Outcome::Problem(problem) => return Err(problem),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
