//! Bitget: the v2 "classic account" REST API (`/api/v2/spot/...`, `/api/v2/mix/...`), one host
//! for spot and futures (`api.bitget.com`).
//!
//! Signing (shared/docs/exchanges/bitget.md §2): `ACCESS-SIGN` = base64(HMAC-SHA256(secret,
//! timestamp + METHOD + requestPath + (`?` + queryString when there is one) + body)); the
//! timestamp is Unix milliseconds; the passphrase travels in clear in `ACCESS-PASSPHRASE` and is
//! not signed. The query string is sent with its keys in ascending order (the docs' current rule),
//! so what is signed and what is sent are the same bytes whether or not Bitget re-sorts.
//!
//! The probe reads the server time (our clock against Bitget's receive window), the key's own
//! description (`/api/v2/spot/account/info`: permission codes and IP whitelist), the spot
//! balances, and, for futures connections, the USDT-M futures accounts. Every reply is read by
//! its JSON `code` (a string, `"00000"` = success), never by the HTTP status alone: which status
//! goes with which code is only partly documented [uncertain].
//!
//! Two kinds of key do not fit that path (issue 18):
//! - a key of a unified trading account (UTA): every classic v2 endpoint answers code 40085
//!   ("Unified Account mode, Classic Account API not supported"). That is not an outage: the
//!   probe reads the key through the UTA API instead, `/api/v3/account/info` (`permType`,
//!   `permissions` such as `uta_mgt`, `uta_trade`, `withdraw`, and `ips`) and
//!   `/api/v3/account/assets` (the Bitget UTA docs; the UnipayFI/go-bitget SDK's `uta` package,
//!   reconciled against the live API);
//! - a classic key without spot read (a futures-only key): `/api/v2/spot/account/info`, the one
//!   v2 endpoint that lists a key's rights, needs spot read, so such a key cannot describe
//!   itself. The probe then reads the futures account: readable means the key can read, the
//!   spot trade right is absent, and the withdraw right is reported unknown with a note, never
//!   assumed absent.

use super::signing::{encode_value, sorted_query};
use super::signing::{hmac_base64, passphrase};

use serde_json::Value;

use super::facts::{self, expect_shape, id_text, integer, msg_text, Outcome};
use super::http;
use super::http::{generic_problem, Reply};
use super::{Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::BITGET;

/// How far from Bitget's clock a request timestamp may be. The docs give no number; 30 s is the
/// commonly cited tolerance [uncertain], so the probe reports skew beyond it and the simulator
/// refuses beyond it.
pub const RECV_WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();

/// Success code of Bitget's JSON envelope.
pub const CODE_OK: &str = "00000";

pub const PATH_TIME: &str = "/api/v2/public/time";
pub const PATH_ACCOUNT_INFO: &str = "/api/v2/spot/account/info";
pub const PATH_SPOT_ASSETS: &str = "/api/v2/spot/account/assets";
pub const PATH_FUTURES_ACCOUNTS: &str = "/api/v2/mix/account/accounts";
/// The UTA key description: `permType`, `permissions`, `ips`.
pub const PATH_UTA_ACCOUNT_INFO: &str = "/api/v3/account/info";
/// The UTA balances.
pub const PATH_UTA_ASSETS: &str = "/api/v3/account/assets";

/// The code every classic v2 endpoint answers for a key of a unified trading account.
pub const CODE_UNIFIED_ACCOUNT: &str = "40085";

/// The spot balance read: one coin keeps the reply small.
pub const SPOT_ASSETS_PARAMS: &[(&str, &str)] = &[("coin", "USDT")];
/// The futures account read: USDT-margined perpetuals, the product type most strategies use.
pub const FUTURES_ACCOUNTS_PARAMS: &[(&str, &str)] = &[("productType", "USDT-FUTURES")];

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (credentials, time, request parts).
// ---------------------------------------------------------------------------------------------

/// The query string Bitget signs: keys in ascending (byte) order, `key=value` joined by `&`,
/// values as they are (not percent-encoded, as ccxt signs them). Empty without parameters.
pub fn signed_query(params: &[(&str, &str)]) -> String {
    sorted_query(params, str::to_string)
}

/// The query string as it travels in the URL: the same order, values percent-encoded where
/// they must be (the names are the probe's own, plain letters). For the values the probe sends
/// (letters, digits, `-`) it is byte-identical to [`signed_query`], which is what keeps the
/// signature valid whatever Bitget does with encoding.
pub fn sent_query(params: &[(&str, &str)]) -> String {
    sorted_query(params, encode_value)
}

/// The string Bitget signs: timestamp + METHOD + request path (never the host or a proxy
/// prefix) + `?` + query (only when there is a query) + body (empty for GET).
pub fn prehash(
    timestamp_ms: i64,
    method: &str,
    request_path: &str,
    query: &str,
    body: &str,
) -> String {
    let method = method.to_ascii_uppercase();
    if query.is_empty() {
        format!("{timestamp_ms}{method}{request_path}{body}")
    } else {
        format!("{timestamp_ms}{method}{request_path}?{query}{body}")
    }
}

/// The headers of a signed request, as (name, value) pairs in the order the docs list them;
/// `ACCESS-SIGN` is the base64 HMAC-SHA256 of the [`prehash`] string.
/// Pure: the same inputs give the same bytes. The values are key material: never log them.
pub fn auth_header_values(
    credentials: &Credentials,
    timestamp_ms: i64,
    method: &str,
    request_path: &str,
    query: &str,
    body: &str,
) -> [(&'static str, String); 6] {
    let prehash = prehash(timestamp_ms, method, request_path, query, body);
    let secret = credentials.api_secret.expose_secret();
    [
        (
            "ACCESS-KEY",
            credentials.api_key.expose_secret().to_string(),
        ),
        ("ACCESS-SIGN", hmac_base64(secret, prehash)),
        ("ACCESS-TIMESTAMP", timestamp_ms.to_string()),
        ("ACCESS-PASSPHRASE", passphrase(credentials).to_string()),
        ("Content-Type", "application/json".to_string()),
        ("locale", "en-US".to_string()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// The envelope's `code` as text: a string per the docs; a number is accepted too, tolerantly.
fn code_of(body: &Value) -> Option<String> {
    match body.get("code")? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads one reply: the HTTP-level problems every exchange shares first, then Bitget's `code`.
fn read_reply(reply: &Reply, what: &str) -> Outcome {
    let parsed = reply.json::<Value>(what);
    if let Some(problem) = generic_problem(reply, what) {
        // Bitget's own body (e.g. 503 + 40200 in maintenance, 429 + "429"): quote code and msg.
        return Outcome::Problem(match parsed.as_ref().ok().and_then(code_of) {
            Some(code) => {
                let msg = parsed.as_ref().map(msg_text).unwrap_or_default();
                http::quoting(problem, reply, what, &format!("code {code} {msg}"))
            }
            None => problem,
        });
    }
    let body = match parsed {
        Ok(body) => body,
        Err(problem) => return Outcome::Problem(problem),
    };
    let Some(code) = code_of(&body) else {
        return Outcome::Problem(Problem::unavailable(format!(
            "{what}: HTTP {} without a Bitget code: {}",
            reply.status.as_u16(),
            reply.snippet()
        )));
    };
    // "00000" per the docs; all zeros (a numeric 0 from some gateway) is accepted too.
    if code == CODE_OK || (!code.is_empty() && code.bytes().all(|b| b == b'0')) {
        return Outcome::Ok(body.get("data").cloned().unwrap_or(Value::Null));
    }
    let said = facts::code_text(what, &code, &msg_text(&body));
    // Keyed on the JSON code, never on the HTTP status: auth errors are seen with HTTP 400, the
    // status of the others is assumed by analogy [uncertain], and maintenance may come as 200.
    let problem = match code.as_str() {
        "40014" => return Outcome::Denied(said),
        // A unified-trading-account key on the classic API: not an outage and not a missing
        // right; `Bitget::classic` reads it and the probe moves to the UTA endpoints.
        CODE_UNIFIED_ACCOUNT => return Outcome::Denied(said),
        // 40004/40008 timestamp expired, 40005 invalid timestamp (ccxt: InvalidNonce)
        "40004" | "40005" | "40008" => Problem::clock_skew(format!(
            "{said} (Bitget refuses timestamps about {} s or more away from its clock)",
            RECV_WINDOW_MS / 1000
        )),
        // missing auth headers, unknown key, bad signature, wrong passphrase, frozen user,
        // deleted key
        "40001" | "40002" | "40003" | "40006" | "40009" | "40010" | "40011" | "40012" | "40013"
        | "40037" => Problem::invalid_key(said),
        // "Invalid IP": the docs' text names no IP; when Bitget names one, it is extracted.
        "40018" => Problem::ip_not_allowed(said),
        // "429" comes with HTTP 429 (handled above) but is accepted with 200 as well; 1001 is
        // "request too frequent".
        "429" | "1001" => http::rate_limited(said, reply.retry_after()),
        "40200" | "40015" => Problem::unavailable(said),
        _ => Problem::unavailable(format!("{said} (unexpected Bitget reply)")),
    };
    Outcome::Problem(problem)
}

// ---------------------------------------------------------------------------------------------
// Clock.
// ---------------------------------------------------------------------------------------------

/// `data.serverTime` of `/api/v2/public/time`: ms as a string per the docs; a number is
/// accepted too.
fn server_time(data: &Value) -> Option<i64> {
    integer(data.get("serverTime")?)
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// What `/api/v2/spot/account/info` says about the key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyInfo {
    pub authorities: Vec<String>,
    pub ips: Vec<String>,
    pub user_id: Option<String>,
    pub parent_id: Option<String>,
}

/// A comma-separated string or (tolerantly) an array of strings; absent/null/empty = none.
fn list(value: Option<&Value>) -> Option<Vec<String>> {
    let clean = |s: &str| {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(s)) => Some(clean(s)),
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .flat_map(clean)
                .collect(),
        ),
        Some(_) => None,
    }
}

impl KeyInfo {
    /// Parses `data`. `authorities` is an array in the docs (a comma string is accepted too);
    /// `ips` is one comma-separated string in the docs (an array is accepted too); its empty or
    /// absent form for an unbound key is not documented [uncertain], so absent, null and ""
    /// all mean "no whitelist".
    pub fn from_data(data: &Value) -> Option<KeyInfo> {
        let obj = data.as_object()?;
        obj.get("authorities")?;
        Some(KeyInfo {
            authorities: list(obj.get("authorities"))?,
            ips: list(obj.get("ips"))?,
            user_id: id_text(obj.get("userId")),
            parent_id: id_text(obj.get("parentId")),
        })
    }

    fn has(&self, code: &str) -> bool {
        facts::lists_right(&self.authorities, code)
    }

    fn has_any(&self, codes: &[&str]) -> bool {
        codes.iter().any(|c| self.has(c))
    }

    /// Whether the list holds any of the four-letter codes of Bitget's current permission model.
    fn has_new_codes(&self) -> bool {
        self.authorities.iter().any(|a| {
            let a = a.to_ascii_lowercase();
            a.len() == 4 && (a.ends_with("or") || a.ends_with("ow") || a.starts_with("tax"))
                || a.starts_with("p2p")
                || a.starts_with("pll")
        })
    }

    /// Fills rights, IP binding and notes into `facts`.
    ///
    /// - read: any read-only (`..or`) or read-write (`..ow`) code, or legacy `readonly`; the
    ///   endpoint itself needs spot read, so answering at all already shows it;
    /// - spot trade: `stow`, or legacy `trade`;
    /// - withdraw: `wwow`, or legacy `withdraw` (that legacy word is [uncertain]); `wtow`
    ///   (transfers between the user's own accounts) is not a withdraw right;
    /// - futures: `coow` (futures orders) or `cpow` (futures positions) read-write. Keys that
    ///   carry only legacy words do not say whether `trade` covers futures [uncertain]: unknown.
    pub fn apply(&self, facts: &mut Facts) {
        let legacy_only = !self.has_new_codes();
        facts.permissions.read = Some(!self.authorities.is_empty());
        facts.permissions.trade = Some(self.has_any(&["stow", "trade"]));
        facts.permissions.withdraw = Some(self.has_any(&["wwow", "withdraw"]));
        facts.permissions.futures = if self.has_any(&["coow", "cpow"]) {
            Some(true)
        } else if legacy_only && self.has("trade") {
            facts.notes.push(
                "key reports Bitget's legacy permission words only; whether its trade right \
                 covers futures is not stated"
                    .to_string(),
            );
            None
        } else {
            if self.has_any(&["coor", "cpor"]) {
                facts
                    .notes
                    .push("key can read futures but not place futures orders".to_string());
            }
            Some(false)
        };
        // The whitelist is shown in full; a successful signed call already proves our IP is on it.
        facts.ip_restricted = Some(!self.ips.is_empty());
        // Bitget reports no expiry date, and no rule expiring unbound keys was found [uncertain].
        facts.expires_at = None;
        if self.has("smow") {
            facts
                .notes
                .push("key also holds Bitget's margin trading right".to_string());
        }
        if let (Some(user), Some(parent)) = (&self.user_id, &self.parent_id) {
            if user != parent && !user.contains('*') && !parent.contains('*') {
                facts.notes.push("sub-account key".to_string());
            }
        }
    }
}

/// The classic API refused the key because its account is a unified trading account; Bitget's
/// words.
#[derive(Debug)]
struct UnifiedAccount(String);

/// The outcome of a classic (v2) signed call: `Err` with Bitget's words when the key belongs
/// to a unified trading account, which the classic API refuses with code 40085.
fn classic(outcome: Outcome) -> Result<Outcome, UnifiedAccount> {
    match outcome {
        Outcome::Denied(said) if said.contains(&format!("code {CODE_UNIFIED_ACCOUNT}")) => {
            Err(UnifiedAccount(said))
        }
        outcome => Ok(outcome),
    }
}

/// What `/api/v3/account/info` says about a unified-trading-account key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UtaKeyInfo {
    /// `read-only` or `read-and-write`; absent when not reported.
    pub perm_type: Option<String>,
    /// `uta_mgt`, `uta_trade`, `withdraw`, `copy_futures_position`, `copy_futures_order`, ...
    pub permissions: Vec<String>,
    pub ips: Vec<String>,
}

impl UtaKeyInfo {
    /// Parses `data`; `permissions` is an array (a comma string is accepted too), `ips` one
    /// comma-separated string as in the classic API.
    pub fn from_data(data: &Value) -> Option<UtaKeyInfo> {
        let obj = data.as_object()?;
        obj.get("permissions")?;
        Some(UtaKeyInfo {
            perm_type: obj
                .get("permType")
                .and_then(Value::as_str)
                .map(|t| t.trim().to_ascii_lowercase()),
            permissions: list(obj.get("permissions"))?,
            ips: list(obj.get("ips"))?,
        })
    }

    fn has(&self, code: &str) -> bool {
        facts::lists_right(&self.permissions, code)
    }

    /// Fills rights, IP binding and notes into `facts`.
    ///
    /// - read: the endpoint answered (it needs UTA management read);
    /// - trade: `uta_trade` on a key whose `permType` is not `read-only`. One unified account
    ///   trades spot and futures alike, so the same right is the futures right;
    /// - withdraw: `withdraw`.
    pub fn apply(&self, facts: &mut Facts) {
        let read_only = self.perm_type.as_deref() == Some("read-only");
        let trades = self.has("uta_trade") && !read_only;
        facts.permissions.read = Some(true);
        facts.permissions.trade = Some(trades);
        facts.permissions.futures = Some(trades);
        facts.permissions.withdraw = Some(self.has("withdraw"));
        facts.ip_restricted = Some(!self.ips.is_empty());
        facts.expires_at = None;
        if self.has("uta_trade") && read_only {
            facts
                .notes
                .push("key lists uta_trade but is read-only (permType read-only)".to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

pub struct Bitget {
    http: HttpClient,
}

impl Bitget {
    pub fn new(http: HttpClient) -> Bitget {
        Bitget { http }
    }

    /// A signed GET of `path` with `params` (the base may carry a path prefix: never signed).
    async fn signed(
        &self,
        target: &ProbeTarget,
        base: &str,
        path: &str,
        params: &[(&str, &str)],
        what: &str,
    ) -> Outcome {
        // Signed with the query's plain values, sent with them percent-encoded (the same bytes
        // for every value the probe sends; see `sent_query`).
        let query = signed_query(params);
        let sent = sent_query(params);
        let path_and_query = if sent.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{sent}")
        };
        self.http
            .get_header_signed(base, &path_and_query, |now| {
                auth_header_values(&target.credentials, now, "GET", path, &query, "")
            })
            .await
            .map_or_else(Outcome::Problem, |reply| read_reply(&reply, what))
    }

    /// The probe of a unified-trading-account key, after the classic API refused it (`said`).
    async fn run_unified(
        &self,
        target: &ProbeTarget,
        base: &str,
        facts: &mut Facts,
        said: String,
    ) -> Result<(), Problem> {
        facts.notes.push(format!(
            "unified trading account: {said}; rights read from {PATH_UTA_ACCOUNT_INFO}"
        ));
        let what = format!("GET {PATH_UTA_ACCOUNT_INFO}");
        match self
            .signed(target, base, PATH_UTA_ACCOUNT_INFO, &[], &what)
            .await
        {
            Outcome::Ok(data) => {
                let info = UtaKeyInfo::from_data(&data)
                    .ok_or_else(|| facts::reply_without(&what, "a permissions list"))?;
                info.apply(facts);
            }
            Outcome::Denied(said) => facts.notes.push(format!(
                "trade, withdraw and futures rights unknown: {said}"
            )),
            Outcome::Problem(problem) => return Err(problem),
        }
        let what = format!("GET {PATH_UTA_ASSETS}");
        let outcome = self.signed(target, base, PATH_UTA_ASSETS, &[], &what).await;
        if let Some(data) = outcome.granted(facts, |p| &mut p.read)? {
            expect_shape(data, Value::is_object, &what, "account assets")?;
            facts.permissions.read = Some(true);
        }
        Ok(())
    }
}

impl Probe for Bitget {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        if target
            .credentials
            .passphrase
            .as_ref()
            .is_none_or(|p| p.expose_secret().is_empty())
        {
            return Err(Problem::invalid_key(
                "Bitget keys need the passphrase chosen when the key was created; none is configured",
            ));
        }
        let spot = target.spot_base();

        // 1. Is the exchange up, and is our clock inside its window? Bitget has no status
        // endpoint; maintenance shows as a 5xx or code 40200 here and on every later call.
        let what = format!("GET {PATH_TIME}");
        let (data, trip) = self
            .http
            .get_read(&format!("{spot}{PATH_TIME}"), |reply| {
                read_reply(reply, &what).public_data()
            })
            .await?;
        trip.check_clock(SPEC, &what, server_time(&data), "a server time")?;

        // 2. What the key is allowed to do.
        let what = format!("GET {PATH_ACCOUNT_INFO}");
        let mut spot_readable = true;
        let outcome = self
            .signed(target, spot, PATH_ACCOUNT_INFO, &[], &what)
            .await;
        match classic(outcome) {
            Err(UnifiedAccount(said)) => return self.run_unified(target, spot, facts, said).await,
            Ok(Outcome::Ok(data)) => {
                let info = KeyInfo::from_data(&data)
                    .ok_or_else(|| facts::reply_without(&what, "an authorities list"))?;
                info.apply(facts);
            }
            // The endpoint needs spot read: a key without it cannot describe itself. Its other
            // rights are read below (futures) or stay unknown (withdraw), never assumed absent.
            Ok(Outcome::Denied(said)) => {
                spot_readable = false;
                facts.permissions.trade = Some(false);
                facts.notes.push(format!(
                    "{said}; withdraw right unknown: Bitget lists a key's rights only to keys \
                     with spot read"
                ));
            }
            Ok(Outcome::Problem(problem)) => return Err(problem),
        }

        // 3. Can it read balances?
        let what = format!("GET {PATH_SPOT_ASSETS}");
        let outcome = self
            .signed(target, spot, PATH_SPOT_ASSETS, SPOT_ASSETS_PARAMS, &what)
            .await;
        let outcome = match classic(outcome) {
            Err(UnifiedAccount(said)) => return self.run_unified(target, spot, facts, said).await,
            Ok(outcome) => outcome,
        };
        match outcome.granted(facts, |p| &mut p.read)? {
            Some(data) => {
                expect_shape(data, Value::is_array, &what, "an asset list")?;
                facts.permissions.read = Some(true);
            }
            None => spot_readable = false,
        }

        // 4. Futures, when the connection trades them, or when spot is closed to the key (a
        // futures-only key can still read its futures account).
        if target.markets.futures || !spot_readable {
            let futures = target.futures_base();
            let what = format!("GET {PATH_FUTURES_ACCOUNTS}");
            let outcome = self
                .signed(
                    target,
                    futures,
                    PATH_FUTURES_ACCOUNTS,
                    FUTURES_ACCOUNTS_PARAMS,
                    &what,
                )
                .await;
            let outcome = match classic(outcome) {
                Err(UnifiedAccount(said)) => {
                    return self.run_unified(target, spot, facts, said).await
                }
                Ok(outcome) => outcome,
            };
            if let Some(data) = outcome.granted(facts, |p| &mut p.futures)? {
                expect_shape(data, Value::is_array, &what, "an account list")?;
                if !spot_readable {
                    facts.permissions.read = Some(true);
                }
                facts::futures_readable(facts, "futures account");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
