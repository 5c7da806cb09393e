//! OKX (API v5): one unified account and one key for spot and derivatives, one REST host.
//!
//! Signing (shared/docs/exchanges/okx.md §2): `OK-ACCESS-SIGN` = base64(HMAC-SHA256(secret,
//! timestamp + METHOD + requestPath(+`?`+query exactly as sent) + body)), where the timestamp is
//! ISO-8601 UTC with exactly three fractional digits and `Z`, byte-identical to the
//! `OK-ACCESS-TIMESTAMP` header. The passphrase travels in clear in `OK-ACCESS-PASSPHRASE` and is
//! not part of what is signed. There is no recvWindow: OKX refuses a timestamp more than 30 s
//! from its clock (50102).
//!
//! The probe reads the server time and the system status (both public and limited per IP, so
//! they are asked at most once per [`PUBLIC_TTL`] per host and shared by every key), then the
//! key's own description (`/api/v5/account/config`: `perm`, `ip`, `acctLv`), the trading-account
//! balance, and, for futures connections, the derivatives positions. Every reply is read by its
//! JSON `code` (a string, `"0"` = success), never by the HTTP status alone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use serde_json::Value;

use super::budget;
use super::facts::{self, expect_shape, id_text, integer, Envelope, Outcome};
use super::http;
use super::http::{generic_problem, Reply, RoundTrip};
use super::signing::{hmac_base64, passphrase};
use super::{Credentials, Facts, HttpClient, Probe, ProbeTarget, Problem, Region};
use crate::domain::spec::{self, ExchangeSpec};
use crate::secret::ExposeSecret;

/// This exchange's row of the spec table: hosts, clock window, default rate.
const SPEC: &ExchangeSpec = &spec::OKX;

/// OKX refuses a request whose timestamp is more than this far from its clock (50102).
pub const WINDOW_MS: i64 = SPEC.clock_window.server_ahead.ms();

/// Success code of OKX's JSON envelope.
pub const CODE_OK: &str = "0";

pub const PATH_TIME: &str = "/api/v5/public/time";
pub const PATH_STATUS: &str = "/api/v5/system/status";
pub const PATH_CONFIG: &str = "/api/v5/account/config";
pub const PATH_BALANCE: &str = "/api/v5/account/balance";
pub const PATH_POSITIONS: &str = "/api/v5/account/positions";
/// The derivatives read of a futures connection: perpetual-swap positions.
pub const POSITIONS_QUERY: &str = "instType=SWAP";

/// How long one reading of the public endpoints serves every key on a host: `system/status`
/// allows 1 request / 5 s and `public/time` 10 / 2 s per IP (okx.md §7), shared by all keys.
pub const PUBLIC_TTL: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Signing: pure functions of (credentials, time, request parts).
// ---------------------------------------------------------------------------------------------

/// `OK-ACCESS-TIMESTAMP` for `ms` since the epoch: `2023-11-14T22:13:20.000Z` (UTC, exactly
/// three fractional digits, `Z`). A Unix-ms number is refused by OKX (50112).
pub fn iso_timestamp(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// The string OKX signs: timestamp (as in the header) + METHOD + request path with `?query`
/// exactly as sent (never the host or a proxy prefix) + body (empty for GET).
pub fn prehash(timestamp: &str, method: &str, request_path: &str, body: &str) -> String {
    format!(
        "{timestamp}{}{request_path}{body}",
        method.to_ascii_uppercase()
    )
}

/// `OK-ACCESS-SIGN` for one request.
pub fn signature(
    secret: &str,
    timestamp: &str,
    method: &str,
    request_path: &str,
    body: &str,
) -> String {
    hmac_base64(secret, prehash(timestamp, method, request_path, body))
}

/// The four auth headers of a signed request, as (name, value) pairs in the order OKX lists
/// them. Pure: the same inputs give the same bytes. The values are key material: never log them.
pub fn auth_header_values(
    credentials: &Credentials,
    timestamp_ms: i64,
    method: &str,
    request_path: &str,
    body: &str,
) -> [(&'static str, String); 4] {
    let timestamp = iso_timestamp(timestamp_ms);
    let secret = credentials.api_secret.expose_secret();
    let sign = signature(secret, &timestamp, method, request_path, body);
    [
        (
            "OK-ACCESS-KEY",
            credentials.api_key.expose_secret().to_string(),
        ),
        ("OK-ACCESS-SIGN", sign),
        ("OK-ACCESS-TIMESTAMP", timestamp),
        ("OK-ACCESS-PASSPHRASE", passphrase(credentials).to_string()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Reading replies.
// ---------------------------------------------------------------------------------------------

/// Reads one reply: the HTTP-level problems every exchange shares first, then OKX's `code`.
/// `site` is the OKX site a signed request went to (none for a public one), named when OKX
/// does not know the key there.
fn read_reply(reply: &Reply, what: &str, site: Option<&Region>) -> Outcome {
    let parsed = reply.json::<Envelope>(what);
    if let Some(problem) = generic_problem(reply, what) {
        // OKX's own body (429 + 50011, 503 + 50001): quote its code and msg.
        return Outcome::Problem(match &parsed {
            Ok(env) => {
                let words = format!("code {} {}", env.code().trim(), env.msg());
                http::quoting(problem, reply, what, &words)
            }
            Err(_) => problem,
        });
    }
    let env = match parsed {
        Ok(env) => env,
        Err(problem) => return Outcome::Problem(problem),
    };
    // Read trimmed, tolerantly: a padded code is still the code.
    let code = env.code().trim().to_string();
    if code == CODE_OK {
        return Outcome::Ok(env.data);
    }
    let said = facts::code_text(what, &code, env.msg());
    // Keyed on the JSON code, never on the HTTP status: the docs give one status per code, but
    // the body shapes come from client logs [uncertain], and business errors come with HTTP 200.
    let problem = match code.as_str() {
        // 50114 "Invalid authorization" for a key lacking the endpoint's right: the mapping is
        // unverified in okx.md §6 [uncertain]; read as "not allowed", not as a bad key.
        // 51010: the request is not supported in the account's mode (spot mode refuses
        // derivatives) [uncertain code for this endpoint].
        "50114" | "51010" => return Outcome::Denied(said),
        "50102" => Problem::clock_skew(format!(
            "{said} (OKX accepts a timestamp at most {} s from its clock)",
            WINDOW_MS / 1000
        )),
        // A timestamp OKX could not read: our clock (or its year) is what is off, not the key.
        "50112" => Problem::clock_skew(said),
        // 50119 "API key doesn't exist" is what a site answers a key made on another OKX
        // site: the global, EEA and US entities keep separate keys (okx.md §1, §6; seen in
        // public reports, [secondary]). A key OKX deleted (unbound and idle for 14 days) may
        // answer it too (okx.md §8 says 50111/50119), so the message names both causes; the
        // status is the site's, the one a user who just pasted a good key meets.
        "50119" => Problem::wrong_region(match site {
            Some(site) => format!(
                "{said}: {} does not know this key, and OKX keeps each site's keys apart. A key \
                 made on another OKX site works only there: set the connection's {}. If the key \
                 was made here, OKX has deleted it (it deletes keys without an IP whitelist \
                 after 14 days unused): create a new one",
                site.display_name,
                SPEC.other_sites(site)
            ),
            None => said,
        }),
        // unknown key, key of another environment (demo), passphrase, signature, missing
        // header, API frozen, account blocked or not found
        "50111" | "50101" | "50105" | "50113" | "50103" | "50104" | "50106" | "50107" | "50100"
        | "50007" | "50008" => Problem::invalid_key(said),
        "50110" => Problem::ip_not_allowed(said),
        // 50011 per endpoint / user, 50061 per sub-account
        "50011" | "50061" => http::rate_limited(said, reply.retry_after()),
        // 50001 maintenance, 50004 timeout, 50005 API offline, 50013 busy, 50026 system error
        "50001" | "50004" | "50005" | "50013" | "50026" => Problem::unavailable(said),
        _ => Problem::unavailable(format!("{said} (unexpected OKX reply)")),
    };
    Outcome::Problem(problem)
}

/// `data` of `/api/v5/public/time`: `[{"ts":"1700000000123"}]` (ms as a string; a number is
/// accepted too).
fn server_time(data: &Value) -> Option<i64> {
    integer(data.get(0)?.get("ts")?)
}

/// Services whose maintenance does not stop a key's REST account calls (okx.md §4 list):
/// 0 WebSocket, 6 block trading, 7 trading bot, 10 spread trading, 11 copy trading, and the
/// batched upgrades 8 (accounts) and 9 (products), which touch only some accounts: an affected
/// account's own calls answer 50001 and are reported then. Any other value (5 trading
/// service, 99 others, values the docs do not list) is maintenance.
const SIDE_SERVICES: [&str; 7] = ["0", "6", "7", "8", "9", "10", "11"];

/// Reads `data` of `/api/v5/system/status`: `Err` for maintenance going on now, else notes
/// about maintenance that is planned or touches only side services. An empty list is the
/// normal "nothing planned".
fn status_reading(data: &Value, what: &str) -> Result<Vec<String>, Problem> {
    let Some(entries) = data.as_array() else {
        return Err(facts::reply_without(what, "a maintenance list"));
    };
    let mut notes = Vec::new();
    for entry in entries {
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("").trim();
        let (state, service, title) = (text("state"), text("serviceType"), text("title"));
        // `env` 2 = demo trading [uncertain value set]: its maintenance is not production's.
        if text("env") == "2" {
            continue;
        }
        let described = format!("OKX maintenance {state} (serviceType {service}): {title}")
            .trim_end_matches([' ', ':'])
            .to_string();
        match state {
            "ongoing" | "pre_open" if !SIDE_SERVICES.contains(&service) => {
                return Err(Problem::unavailable(format!("{what}: {described}")));
            }
            "completed" | "canceled" => {}
            _ => notes.push(described),
        }
    }
    Ok(notes)
}

// ---------------------------------------------------------------------------------------------
// Key introspection.
// ---------------------------------------------------------------------------------------------

/// What `/api/v5/account/config` says about the requesting key and its account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyConfig {
    pub permissions: Vec<String>,
    pub ip_whitelist: Vec<String>,
    /// `1` spot mode, `2` spot and futures, `3` multi-currency margin, `4` portfolio margin.
    pub account_level: Option<String>,
    pub uid: Option<String>,
    pub main_uid: Option<String>,
}

impl KeyConfig {
    /// Parses `data` (a one-element array). `perm` and `ip` are comma-separated strings in the
    /// docs; arrays are accepted too, and IPs may be separated by spaces (the web form accepts
    /// both), so both are split on commas and whitespace. Never matched as substrings.
    pub fn from_data(data: &Value) -> Option<KeyConfig> {
        let obj = match data {
            Value::Array(items) => items.first()?.as_object()?,
            Value::Object(obj) => obj,
            _ => return None,
        };
        let list = |v: Option<&Value>| -> Option<Vec<String>> {
            let split = |s: &str| -> Vec<String> {
                s.split(|c: char| c == ',' || c.is_whitespace())
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            match v {
                None | Some(Value::Null) => Some(Vec::new()),
                Some(Value::String(s)) => Some(split(s)),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter_map(Value::as_str)
                        .flat_map(split)
                        .collect(),
                ),
                Some(_) => None,
            }
        };
        let text = |k: &str| id_text(obj.get(k));
        obj.get("perm")?;
        Some(KeyConfig {
            permissions: list(obj.get("perm"))?,
            ip_whitelist: list(obj.get("ip"))?,
            account_level: text("acctLv"),
            uid: text("uid"),
            main_uid: text("mainUid"),
        })
    }

    fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Fills rights, IP binding and notes into `facts`. `read_only` = read, `trade` = trade
    /// (spot and derivatives alike), `withdraw` = withdraw. OKX has no separate futures right,
    /// and two facts decide it: `perm` says what the *key* may do, `acctLv` what the *account*
    /// allows (1 = spot only). The key may trade futures only with `trade` in `perm` on an
    /// account in a mode with derivatives (2, 3 or 4); a read-only key on a futures account
    /// cannot trade futures, whatever the account mode says.
    pub fn apply(&self, facts: &mut Facts) {
        facts.permissions.read = Some(self.has("read_only"));
        facts.permissions.trade = Some(self.has("trade"));
        facts.permissions.withdraw = Some(self.has("withdraw"));
        let account_has_derivatives = match self.account_level.as_deref() {
            Some("1") => Some(false),
            Some("2" | "3" | "4") => Some(true),
            _ => None,
        };
        facts.permissions.futures = match (self.has("trade"), account_has_derivatives) {
            (false, _) => {
                if account_has_derivatives == Some(true) {
                    facts.notes.push(
                        "the OKX account trades derivatives, but this key has no trade right \
                         in perm, so it cannot trade futures"
                            .to_string(),
                    );
                }
                Some(false)
            }
            (true, Some(derivatives)) => Some(derivatives),
            (true, None) => {
                facts.notes.push(format!(
                    "futures access unknown: OKX reports account mode {:?}",
                    self.account_level.as_deref().unwrap_or("")
                ));
                None
            }
        };
        if account_has_derivatives == Some(false) {
            facts.notes.push(
                "OKX account is in spot mode (acctLv 1): derivatives cannot be traded until the \
                 account mode is changed"
                    .to_string(),
            );
        }
        let bound = !self.ip_whitelist.is_empty();
        facts.ip_restricted = Some(bound);
        // OKX reports no expiry date. Its rule (FAQ): a key without an IP binding that holds
        // trade or withdraw rights is deleted after 14 days without private API use; these
        // checks are such use, so no date is predicted.
        facts.expires_at = None;
        if !bound && (self.has("trade") || self.has("withdraw")) {
            facts.notes.push(
                "OKX deletes keys without an IP binding that hold trade or withdraw rights after \
                 14 days without private API use"
                    .to_string(),
            );
        }
        if let (Some(uid), Some(main)) = (&self.uid, &self.main_uid) {
            if uid != main {
                facts.notes.push("sub-account key".to_string());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The probe.
// ---------------------------------------------------------------------------------------------

/// One reading of a host's public endpoints: notes, or the problem every key there shares.
type PublicReading = Result<Vec<String>, Problem>;
type PublicSlot = Arc<tokio::sync::Mutex<Option<(Instant, PublicReading)>>>;

pub struct Okx {
    http: HttpClient,
    /// Per base URL; the async lock makes concurrent probes wait for one reading, not race.
    public: Mutex<HashMap<String, PublicSlot>>,
}

impl Okx {
    pub fn new(http: HttpClient) -> Okx {
        Okx {
            http,
            public: Mutex::new(HashMap::new()),
        }
    }

    /// A public GET; its data, or the problem that ended it (a refusal there is the
    /// exchange's, not the key's), with its round trip.
    async fn public_get(&self, url: String, what: &str) -> Result<(Value, RoundTrip), Problem> {
        self.http
            .get_read(&url, |reply| read_reply(reply, what, None).public_data())
            .await
    }

    /// A signed GET of `path_and_query` (what is signed) at `base` (which may carry a proxy
    /// prefix that is never signed).
    async fn signed(&self, target: &ProbeTarget, base: &str, path_and_query: &str) -> Outcome {
        let what = format!("GET {path_and_query}");
        self.http
            .get_header_signed(base, path_and_query, |now| {
                auth_header_values(&target.credentials, now, "GET", path_and_query, "")
            })
            .await
            .map_or_else(Outcome::Problem, |reply| {
                read_reply(&reply, &what, Some(target.region))
            })
    }

    /// Server time and system status of `base`, read at most once per [`PUBLIC_TTL`].
    async fn public_reading(&self, base: &str) -> PublicReading {
        let slot = self
            .public
            .lock()
            .expect("okx public cache lock")
            .entry(base.to_string())
            .or_default()
            .clone();
        // Another probe may be reading (and waiting for a budget token to): pacing too.
        let mut slot = budget::Pacing::wait_for(slot.lock()).await;
        if let Some((at, reading)) = slot.as_ref() {
            if at.elapsed() < PUBLIC_TTL {
                return reading.clone();
            }
        }
        let reading = self.read_public(base).await;
        *slot = Some((Instant::now(), reading.clone()));
        reading
    }

    async fn read_public(&self, base: &str) -> PublicReading {
        let what = format!("GET {PATH_TIME}");
        let (data, trip) = self.public_get(format!("{base}{PATH_TIME}"), &what).await?;
        trip.check_clock(SPEC, &what, server_time(&data), "a server time")?;
        let what = format!("GET {PATH_STATUS}");
        let (data, _) = self
            .public_get(format!("{base}{PATH_STATUS}"), &what)
            .await?;
        status_reading(&data, &what)
    }
}

impl Probe for Okx {
    async fn steps(&self, target: &ProbeTarget, facts: &mut Facts) -> Result<(), Problem> {
        if target.credentials.passphrase.is_none() {
            return Err(Problem::invalid_key(
                "OKX keys need the passphrase chosen when the key was created; none is configured",
            ));
        }
        let base = target.spot_base();

        // 1. Is the exchange up, and is our clock inside its window?
        let notes = self.public_reading(base).await?;
        facts.notes.extend(notes);

        // 2. What the key is allowed to do, its IP binding and its account mode. The endpoint
        // needs Read: a key without it cannot describe itself.
        let outcome = self.signed(target, base, PATH_CONFIG).await;
        if let Some(data) = outcome.granted(facts, |p| &mut p.read)? {
            let config = KeyConfig::from_data(&data).ok_or_else(|| {
                facts::reply_without(&format!("GET {PATH_CONFIG}"), "a perm field")
            })?;
            config.apply(facts);
        }

        // 3. Can it read balances?
        let outcome = self.signed(target, base, PATH_BALANCE).await;
        if let Some(data) = outcome.granted(facts, |p| &mut p.read)? {
            let what = format!("GET {PATH_BALANCE}");
            expect_shape(data, Value::is_array, &what, "a balance list")?;
            facts.permissions.read = Some(true);
        }

        // 4. Derivatives, only when the connection trades futures (same host, same key).
        if target.markets.futures {
            let futures = target.futures_base();
            let path = format!("{PATH_POSITIONS}?{POSITIONS_QUERY}");
            let outcome = self.signed(target, futures, &path).await;
            if let Some(data) = outcome.granted(facts, |p| &mut p.futures)? {
                expect_shape(
                    data,
                    Value::is_array,
                    &format!("GET {path}"),
                    "a position list",
                )?;
                // A readable derivatives account confirms access for a key that may trade; it
                // does not overrule a spot-mode account (OKX may answer an empty list there too
                // [uncertain]) nor a key without `trade` (reading is not trading).
                if facts.permissions.trade == Some(true) {
                    facts.permissions.futures.get_or_insert(true);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
