//! From the raw file to a [`Config`]: every value checked, every secret resolved, every problem
//! collected with its key path.

use std::fmt::{self, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::raw::{
    RawAlerts, RawApi, RawConfig, RawConnection, RawConnectionAlerts, RawDaemon, RawEmail,
    RawTelegram, RawWebhook,
};
use super::{
    AlertOverrides, AlertsConfig, ApiConfig, ApiListen, Config, ConfigError, Connection,
    DaemonConfig, EmailConfig, Problem, Schedule, TelegramConfig, WebhookConfig, WebhookEvents,
};
use crate::domain::{Credentials, ExchangeKind, Markets};
use crate::secret::{self, ExposeSecret, SecretSource, SecretString};

pub const DEFAULT_SCHEDULE: &str = "0 */5 * * * *";
pub const DEFAULT_STATE_DIR: &str = "/var/lib/keywarden";
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9477";
pub const DEFAULT_TELEGRAM_API: &str = "https://api.telegram.org";
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:9478";

/// A dotted key path (`connections.alice.api_key`), written out only when a problem or warning
/// names it: at 10,000 connections nearly every value is fine, and formatting every path up
/// front cost an allocation per field.
#[derive(Clone, Copy)]
struct Key<'a> {
    parent: Option<&'a Key<'a>>,
    name: &'a str,
}

impl<'a> Key<'a> {
    const fn root(name: &'a str) -> Key<'a> {
        Key { parent: None, name }
    }

    fn at(&'a self, name: &'a str) -> Key<'a> {
        Key {
            parent: Some(self),
            name,
        }
    }
}

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}.")?;
        }
        f.write_str(self.name)
    }
}

/// Collects problems while values are checked, so all of them are reported together.
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, key: impl fmt::Display, message: impl Into<String>) {
        self.0.push(Problem::new(key, message));
    }

    /// Runs `check` on `value` when present; on error records it and returns `None`.
    fn check<T, U>(
        &mut self,
        key: impl fmt::Display,
        value: Option<T>,
        default: U,
        check: impl FnOnce(T) -> Result<U, String>,
    ) -> U
    where
        U: Clone,
    {
        match value.map(check) {
            None => default,
            Some(Ok(v)) => v,
            Some(Err(message)) => {
                self.add(key, message);
                default
            }
        }
    }
}

/// Checks every value of `raw` and resolves its secrets. Connection names were checked by
/// [`super::parse`], and the map's keys are unique.
pub fn validate(raw: RawConfig, source: &Path) -> Result<Config, ConfigError> {
    let mut problems = Problems(Vec::new());
    let mut notes = SecretNotes::default();
    let mut schedules = Schedules::default();
    let daemon = daemon(raw.daemon, &mut problems, &mut notes);
    let alerts = alerts(raw.alerts, &mut problems, &mut notes);
    let api = raw.api.and_then(|a| api(a, &mut problems, &mut notes));
    let mut connections = Vec::with_capacity(raw.connections.len());
    for (name, raw_connection) in raw.connections {
        if let Some(c) = connection(
            name,
            raw_connection,
            SecretInput::Reference,
            &mut problems,
            &mut notes,
            &mut schedules,
        ) {
            connections.push(c);
        }
    }
    let mut warnings = Vec::new();
    if let Some(keys) = notes.literal.listed() {
        warnings.push(format!(
            "secrets written into the config file (prefer \"cred:NAME\", \"env:NAME\" or \"file:PATH\" so they stay out of it): {keys}"
        ));
    }
    if let Some(keys) = notes.url_credentials.listed() {
        warnings.push(format!(
            "credentials written into URLs (shown masked, but they sit in the file and go wherever the URL goes; for email prefer alerts.email.username and password = \"cred:NAME\"): {keys}"
        ));
    }
    warnings.extend(notes.readable_files);
    if !problems.0.is_empty() {
        return Err(ConfigError::Invalid {
            path: source.display().to_string(),
            problems: problems.0,
        });
    }
    Ok(Config {
        source: source.to_path_buf(),
        daemon,
        alerts,
        api,
        connections,
        warnings,
    })
}

/// A connection that came over the API (a `PUT` body, or one read back from the store),
/// validated by the same rules as a `[connections.NAME]` table of the file, except that its
/// secrets are the values themselves: an API caller must not make the daemon read one of its
/// environment variables or files (`env:`, `file:`, `cred:` are refused). Problems name the
/// key path `connections.NAME.FIELD`.
pub fn api_connection(name: &str, raw: RawConnection) -> Result<Connection, Vec<Problem>> {
    let mut problems = Problems(Vec::new());
    if let Err(message) = super::parse::check_connection_name(name) {
        problems.add(format_args!("connections.{name}"), message);
        return Err(problems.0);
    }
    let mut notes = SecretNotes::default();
    let mut schedules = Schedules::default();
    let connection = connection(
        name.to_string(),
        raw,
        SecretInput::Value,
        &mut problems,
        &mut notes,
        &mut schedules,
    );
    match connection {
        Some(c) if problems.0.is_empty() => Ok(c),
        _ => Err(problems.0),
    }
}

fn api(raw: RawApi, problems: &mut Problems, notes: &mut SecretNotes) -> Option<ApiConfig> {
    let before = problems.0.len();
    let public = raw.public.unwrap_or(false);
    let listen = problems.check(
        "api.listen",
        raw.listen,
        Some(ApiListen::Tcp(
            SocketAddr::from_str(DEFAULT_API_LISTEN).expect("default address parses"),
        )),
        |s| api_listen(&s, public).map(Some),
    );
    if raw.tokens.is_empty() {
        problems.add(
            "api.tokens",
            "at least one bearer token is needed: every API call must carry one, e.g. tokens = [\"cred:api-token\"]",
        );
    }
    let api = Key::root("api");
    let list = api.at("tokens");
    let tokens: Vec<Option<SecretString>> = raw
        .tokens
        .iter()
        .enumerate()
        .map(|(i, t)| secret_field(format_args!("{list}[{i}]"), t, problems, notes))
        .collect();
    let store_key = match raw.store_key.as_deref() {
        None => {
            problems.add(
                "api.store_key",
                "is required: the API stores users' keys encrypted with it; give 32 random bytes \
                 as 64 hex digits or base64, e.g. store_key = \"cred:api-store-key\" with a \
                 credential made by `openssl rand -hex 32`",
            );
            None
        }
        Some(reference) => {
            secret_field("api.store_key", reference, problems, notes).and_then(|text| {
                crate::store::StoreKey::parse(&text)
                    .map_err(|message| problems.add("api.store_key", message))
                    .ok()
            })
        }
    };
    (problems.0.len() == before).then(|| ApiConfig {
        listen: listen.expect("no problem recorded, so the address parsed"),
        tokens: tokens.into_iter().flatten().collect(),
        store_key: store_key.expect("no problem recorded, so the key parsed"),
    })
}

/// The API accepts users' keys and tests them: an address other hosts can reach must be asked
/// for explicitly (`api.public = true`), as `/metrics` asks for `daemon.metrics_public`.
fn api_listen(text: &str, public: bool) -> Result<ApiListen, String> {
    if let Some(path) = text.strip_prefix("unix:") {
        return if path.starts_with('/') {
            Ok(ApiListen::Unix(PathBuf::from(path)))
        } else {
            Err(format!(
                "{text:?} is not an absolute socket path like \"unix:/run/keywarden/api.sock\""
            ))
        };
    }
    let addr = SocketAddr::from_str(text).map_err(|_| {
        format!("{text:?} is not an address like \"127.0.0.1:9478\" or \"unix:/run/keywarden/api.sock\"")
    })?;
    if addr.ip().is_loopback() || public {
        Ok(ApiListen::Tcp(addr))
    } else {
        Err(format!(
            "{addr} is reachable from other hosts, and the API takes users' exchange keys; \
             listen on loopback (\"127.0.0.1:9478\") or a Unix socket behind the platform's \
             backend, or set api.public = true to serve it on this address on purpose"
        ))
    }
}

fn duration(text: String) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration like \"15s\", \"5m\" or \"90d\": {e}"))
}

/// A duration from `min` to `max` (inclusive); `why` says what the bounds protect.
fn duration_within(
    text: String,
    min: Duration,
    max: Option<Duration>,
    why: &str,
) -> Result<Duration, String> {
    let d = duration(text.clone())?;
    let shown = |d: Duration| humantime::format_duration(d).to_string();
    match max {
        _ if d < min => Err(format!("{text:?} is shorter than {}: {why}", shown(min))),
        Some(max) if d > max => Err(format!("{text:?} is longer than {}: {why}", shown(max))),
        _ => Ok(d),
    }
}

/// The shortest and longest `check_timeout`: under a second a healthy exchange across the
/// world times out, and a check that hangs for more than ten minutes holds its slot (and on
/// the usual schedules its next turn) for nothing.
pub const CHECK_TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));

/// The shortest `history_retention`: less would prune spans before anyone could read them.
pub const SHORTEST_RETENTION: Duration = Duration::from_secs(3600);

/// The shortest `remind_every` other than "0" (off): more often would flood the channels.
pub const SHORTEST_REMINDER: Duration = Duration::from_secs(60);

fn daemon(raw: RawDaemon, problems: &mut Problems, notes: &mut SecretNotes) -> DaemonConfig {
    let default_schedule = Schedule::parse(DEFAULT_SCHEDULE).expect("default schedule is valid");
    let metrics_public = raw.metrics_public.unwrap_or(false);
    let http_token_for_metrics = raw.http_token_for_metrics.unwrap_or(false);
    let http_token = raw
        .http_token
        .as_deref()
        .and_then(|t| secret_field("daemon.http_token", t, problems, notes));
    if raw.http_token.is_none() {
        if metrics_public {
            problems.add(
                "daemon.http_token",
                "daemon.metrics_public = true serves /history (every connection's past) to other \
                 hosts: set a bearer token for it, e.g. http_token = \"cred:http-token\"",
            );
        } else if http_token_for_metrics {
            problems.add(
                "daemon.http_token_for_metrics",
                "asks /metrics for a token, but daemon.http_token is not set",
            );
        }
    }
    DaemonConfig {
        schedule: problems.check("daemon.schedule", raw.schedule, default_schedule, |s| {
            Schedule::parse(&s)
        }),
        state_dir: problems.check(
            "daemon.state_dir",
            raw.state_dir,
            PathBuf::from(DEFAULT_STATE_DIR),
            |dir| {
                if dir.trim().is_empty() {
                    Err(format!(
                        "{dir:?} names no directory: give the history database a place, e.g. \"{DEFAULT_STATE_DIR}\", or leave the key out for that default"
                    ))
                } else {
                    Ok(PathBuf::from(dir))
                }
            },
        ),
        metrics_listen: problems.check(
            "daemon.metrics_listen",
            raw.metrics_listen,
            SocketAddr::from_str(DEFAULT_METRICS_LISTEN).expect("default address parses"),
            |s| metrics_listen(&s, metrics_public),
        ),
        metrics_public,
        http_token,
        http_token_for_metrics,
        history_retention: problems.check(
            "daemon.history_retention",
            raw.history_retention,
            Duration::from_secs(90 * 86_400),
            |s| {
                duration_within(
                    s,
                    SHORTEST_RETENTION,
                    None,
                    "history would be pruned before anyone could read it",
                )
            },
        ),
        max_concurrent_checks: problems.check(
            "daemon.max_concurrent_checks",
            raw.max_concurrent_checks,
            64,
            |n| match n {
                1..=100_000 => Ok(n as usize),
                _ => Err(format!("{n} is out of range: use 1 to 100000")),
            },
        ),
        check_timeout: problems.check(
            "daemon.check_timeout",
            raw.check_timeout,
            Duration::from_secs(15),
            |s| {
                let (min, max) = CHECK_TIMEOUT_BOUNDS;
                duration_within(
                    s,
                    min,
                    Some(max),
                    "use 1s to 10m (a healthy exchange answers within seconds; a hung check holds its slot until the timeout)",
                )
            },
        ),
        expiry_warning: problems.check(
            "daemon.expiry_warning",
            raw.expiry_warning,
            Duration::from_secs(14 * 86_400),
            duration,
        ),
        request_budget: request_budget(raw.request_budget.unwrap_or_default(), problems),
    }
}

/// `/metrics` names every connection and its state; `/healthz` and the history endpoint answer
/// anyone who reaches them. An address other hosts can reach must be asked for explicitly.
fn metrics_listen(text: &str, public: bool) -> Result<SocketAddr, String> {
    let addr = SocketAddr::from_str(text)
        .map_err(|_| format!("{text:?} is not an address like \"127.0.0.1:9477\""))?;
    if addr.ip().is_loopback() || public {
        Ok(addr)
    } else {
        Err(format!(
            "{addr} is reachable from other hosts, and /metrics names every connection and its \
             state; listen on loopback (\"127.0.0.1:9477\") behind a proxy, or set \
             daemon.metrics_public = true (and daemon.http_token for /history) to serve it on \
             this address on purpose"
        ))
    }
}

fn request_budget(
    raw: std::collections::BTreeMap<String, f64>,
    problems: &mut Problems,
) -> std::collections::BTreeMap<ExchangeKind, f64> {
    let mut budget = std::collections::BTreeMap::new();
    let daemon = Key::root("daemon");
    let budgets = daemon.at("request_budget");
    for (name, rate) in raw {
        let key = budgets.at(&name);
        match ExchangeKind::from_str(&name) {
            Ok(kind) if rate.is_finite() && rate > 0.0 => {
                budget.insert(kind, rate);
            }
            Ok(_) => problems.add(
                key,
                format!("{rate} requests per second must be above zero"),
            ),
            Err(message) => problems.add(key, message),
        }
    }
    budget
}

fn alerts(raw: RawAlerts, problems: &mut Problems, notes: &mut SecretNotes) -> AlertsConfig {
    let overrides = alert_overrides(
        Key::root("alerts"),
        RawConnectionAlerts {
            unavailable_after: raw.unavailable_after,
            resolve_after: raw.resolve_after,
            remind_every: raw.remind_every,
            send_resolved: raw.send_resolved,
        },
        problems,
    );
    AlertsConfig {
        unavailable_after: overrides.unavailable_after.unwrap_or(2),
        resolve_after: overrides.resolve_after.unwrap_or(2),
        remind_every: overrides.remind_every.unwrap_or(None),
        send_resolved: overrides.send_resolved.unwrap_or(true),
        telegram: raw.telegram.and_then(|t| telegram(t, problems, notes)),
        email: raw.email.and_then(|e| email(e, problems, notes)),
        webhook: webhooks(raw.webhook, problems, notes),
    }
}

/// The default and the bounds of a webhook target's `timeout`: under a second a receiver across
/// a region times out while healthy; over a minute one hung receiver holds its events' delivery
/// round that long.
pub const WEBHOOK_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);
pub const WEBHOOK_TIMEOUT_BOUNDS: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(60));

/// The shortest webhook secret: an HMAC key short enough to guess lets anyone forge events.
pub const WEBHOOK_SECRET_MIN: usize = 16;

/// Every `[[alerts.webhook]]` target, each checked at `alerts.webhook[i]`; a URL given twice
/// is refused (each event would go twice).
fn webhooks(
    raw: Vec<RawWebhook>,
    problems: &mut Problems,
    notes: &mut SecretNotes,
) -> Vec<WebhookConfig> {
    let mut targets: Vec<WebhookConfig> = Vec::with_capacity(raw.len());
    let mut seen: Vec<String> = Vec::with_capacity(raw.len());
    for (i, raw) in raw.into_iter().enumerate() {
        let name = format!("alerts.webhook[{i}]");
        let section = Key::root(&name);
        if let Some(first) = seen.iter().position(|url| *url == raw.url) {
            problems.add(
                section.at("url"),
                format!(
                    "{} is already the URL of alerts.webhook[{first}]: each event would be sent to it twice",
                    secret::shown_url(&raw.url)
                ),
            );
        }
        seen.push(raw.url.clone());
        if let Some(target) = webhook(section, raw, problems, notes) {
            targets.push(target);
        }
    }
    targets
}

fn webhook(
    section: Key<'_>,
    raw: RawWebhook,
    problems: &mut Problems,
    notes: &mut SecretNotes,
) -> Option<WebhookConfig> {
    let before = problems.0.len();
    url_field(
        section.at("url"),
        &raw.url,
        Plaintext {
            insecure: raw.insecure.unwrap_or(false),
            section,
            carries: "each event (connection, owner, key status) and its signature",
        },
        problems,
        notes,
    );
    let secret = secret_field(section.at("secret"), &raw.secret, problems, notes);
    if let Some(secret) = &secret {
        let length = secret.expose_secret().chars().count();
        if length < WEBHOOK_SECRET_MIN {
            problems.add(
                section.at("secret"),
                format!(
                    "the secret has {length} characters; use at least {WEBHOOK_SECRET_MIN} (a short HMAC key can be guessed and events forged), e.g. the output of `openssl rand -hex 32`"
                ),
            );
        }
    }
    let events = match raw.events {
        None => WebhookEvents::ALL,
        Some(listed) => {
            let mut events = WebhookEvents {
                opened: false,
                resolved: false,
                reminder: false,
            };
            for (i, event) in listed.iter().enumerate() {
                match event.as_str() {
                    "opened" => events.opened = true,
                    "resolved" => events.resolved = true,
                    "reminder" => events.reminder = true,
                    other => problems.add(
                        format_args!("{section}.events[{i}]"),
                        format!(
                            "unknown event {other:?} (expected \"opened\", \"resolved\" or \"reminder\")"
                        ),
                    ),
                }
            }
            if listed.is_empty() {
                problems.add(
                    section.at("events"),
                    "an empty list would send nothing: list events, or leave the key out for all of them",
                );
            }
            events
        }
    };
    let (min, max) = WEBHOOK_TIMEOUT_BOUNDS;
    let timeout = problems.check(
        section.at("timeout"),
        raw.timeout,
        WEBHOOK_TIMEOUT_DEFAULT,
        |t| {
            duration_within(
                t,
                min,
                Some(max),
                "a receiver gets from one second to one minute to answer",
            )
        },
    );
    (problems.0.len() == before).then(|| WebhookConfig {
        url: raw.url,
        secret: secret.expect("no problem recorded, so the secret resolved"),
        events,
        timeout,
    })
}

/// The alert thresholds under `prefix` (`alerts` or `connections.NAME.alerts`).
fn alert_overrides(
    prefix: Key<'_>,
    raw: RawConnectionAlerts,
    problems: &mut Problems,
) -> AlertOverrides {
    let count = |key: &str, value: Option<i64>, problems: &mut Problems| {
        problems.check(prefix.at(key), value, None, |n| match n {
            1..=1000 => Ok(Some(n as u32)),
            _ => Err(format!(
                "{n} is out of range: use 1 to 1000 consecutive checks"
            )),
        })
    };
    AlertOverrides {
        unavailable_after: count("unavailable_after", raw.unavailable_after, problems),
        resolve_after: count("resolve_after", raw.resolve_after, problems),
        remind_every: problems.check(prefix.at("remind_every"), raw.remind_every, None, |s| {
            if s.trim() == "0" {
                return Ok(Some(None));
            }
            match duration(s.clone())? {
                d if d.is_zero() => Ok(Some(None)),
                d if d < SHORTEST_REMINDER => Err(format!(
                    "{s:?} is shorter than a minute: use \"0\" for no reminders, or at least \"1m\" (a reminder every few seconds floods the channels)"
                )),
                d => Ok(Some(Some(d))),
            }
        }),
        send_resolved: raw.send_resolved,
    }
}

fn telegram(
    raw: RawTelegram,
    problems: &mut Problems,
    notes: &mut SecretNotes,
) -> Option<TelegramConfig> {
    let before = problems.0.len();
    let bot_token = secret_field("alerts.telegram.bot_token", &raw.bot_token, problems, notes);
    if raw.chat_ids.is_empty() {
        problems.add("alerts.telegram.chat_ids", "at least one chat id is needed");
    }
    let api_url = raw
        .api_url
        .unwrap_or_else(|| DEFAULT_TELEGRAM_API.to_string());
    let section = Key::root("alerts.telegram");
    url_field(
        section.at("api_url"),
        &api_url,
        Plaintext {
            insecure: raw.insecure.unwrap_or(false),
            section,
            carries: "the bot token in every request's path",
        },
        problems,
        notes,
    );
    if raw.allowed_user_ids.as_ref().is_some_and(Vec::is_empty) {
        problems.add(
            "alerts.telegram.allowed_user_ids",
            "an empty list would let nobody command the bot: list user ids, or leave the key \
             out to let every member of the chats in chat_ids",
        );
    }
    (problems.0.len() == before).then(|| TelegramConfig {
        bot_token: bot_token.expect("no problem recorded, so the token resolved"),
        chat_ids: raw.chat_ids,
        api_url,
        allowed_user_ids: raw.allowed_user_ids,
    })
}

fn email(raw: RawEmail, problems: &mut Problems, notes: &mut SecretNotes) -> Option<EmailConfig> {
    let before = problems.0.len();
    let key = "alerts.email.smtp_url";
    match url::Url::parse(&raw.smtp_url) {
        Ok(u) if matches!(u.scheme(), "smtp" | "smtps") && u.host_str().is_some() => {
            if has_credentials(&u) {
                notes.url_credentials.note(key);
            }
            let authenticates =
                u.password().is_some() || raw.username.is_some() || raw.password.is_some();
            let tls = u.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v);
            let encrypted = u.scheme() == "smtps" || tls.as_deref() == Some("required");
            if authenticates && !encrypted && !is_loopback(&u) && raw.insecure != Some(true) {
                problems.add(
                    key,
                    format!(
                        "{} would send the SMTP user name and password unencrypted: plain smtp:// never starts TLS, and tls=opportunistic gives way to anyone on the path who hides STARTTLS; use smtps://HOST or smtp://HOST:587?tls=required, or set alerts.email.insecure = true if the relay is reached over a network you trust",
                        secret::shown_url(&raw.smtp_url)
                    ),
                );
            }
        }
        _ => problems.add(
            key,
            format!(
                "{} is not an SMTP URL like \"smtp://relay.example.com:587?tls=required\" or \"smtps://relay.example.com\"",
                secret::shown_url(&raw.smtp_url)
            ),
        ),
    }
    let password = raw
        .password
        .as_deref()
        .and_then(|p| secret_field("alerts.email.password", p, problems, notes));
    if let Err(message) = mailbox(&raw.from) {
        problems.add("alerts.email.from", message);
    }
    if raw.to.is_empty() {
        problems.add("alerts.email.to", "at least one recipient is needed");
    }
    for (i, to) in raw.to.iter().enumerate() {
        if let Err(message) = mailbox(to) {
            problems.add(format!("alerts.email.to[{i}]"), message);
        }
    }
    (problems.0.len() == before).then(|| EmailConfig {
        smtp_url: raw.smtp_url,
        username: raw.username,
        password,
        from: raw.from,
        to: raw.to,
    })
}

/// Accepts `user@host` or `Name <user@host>`.
fn mailbox(text: &str) -> Result<(), String> {
    let address = match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close => &text[open + 1..close],
        _ => text,
    };
    let valid = address.split_once('@').is_some_and(|(user, host)| {
        !user.is_empty() && host.contains('.') && !address.contains(char::is_whitespace)
    });
    if valid {
        Ok(())
    } else {
        Err(format!("{text:?} is not an email address"))
    }
}

/// What a plain `http://` URL would expose, and the section whose `insecure = true` allows it.
struct Plaintext<'a> {
    insecure: bool,
    section: Key<'a>,
    /// What travels in every request, for the message.
    carries: &'static str,
}

/// Checks an http(s) URL at `key`: it parses, with a host; plain `http://` only to this host
/// (loopback) unless the section says `insecure = true`; credentials in it are noted for a
/// warning. Every message shows the URL masked.
fn url_field(
    key: Key<'_>,
    text: &str,
    plaintext: Plaintext<'_>,
    problems: &mut Problems,
    notes: &mut SecretNotes,
) {
    let url = match url::Url::parse(text) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => u,
        _ => {
            problems.add(
                key,
                format!("{} is not an http(s) URL", secret::shown_url(text)),
            );
            return;
        }
    };
    if has_credentials(&url) {
        notes.url_credentials.note(key);
    }
    if url.scheme() == "http" && !is_loopback(&url) && !plaintext.insecure {
        problems.add(
            key,
            format!(
                "{} is plain http to another host, and would carry {} unencrypted; use https, or set {}.insecure = true if that host is reached over a network you trust",
                secret::shown_url(text),
                plaintext.carries,
                plaintext.section
            ),
        );
    }
}

/// Whether `url` carries a user name or password (`scheme://user:password@host`).
fn has_credentials(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// Whether `url` points at this host: 127.0.0.0/8, ::1 or `localhost`, where nothing crosses a
/// network (the simulator, a local relay, a tunnel's end).
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        // Hosts of schemes the URL standard does not know (smtp://) stay text, addresses too.
        Some(url::Host::Domain(name)) => match name.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => name.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
        },
        None => false,
    }
}

/// How many keys a warning names; the rest are counted. A generated config of 10,000
/// connections with literal secrets made the literal-secret warning a 900 KB log line.
const LISTED_KEYS: usize = 10;

/// The keys one warning is about: the first [`LISTED_KEYS`] comma-separated, straight into the
/// warning's text, and how many there are in all.
#[derive(Default)]
struct KeyList {
    listed: String,
    count: usize,
}

impl KeyList {
    fn note(&mut self, key: impl fmt::Display) {
        self.count += 1;
        if self.count <= LISTED_KEYS {
            if !self.listed.is_empty() {
                self.listed.push_str(", ");
            }
            write!(self.listed, "{key}").expect("writing to a String cannot fail");
        }
    }

    /// The keys as a warning names them (`a, b and 3 more`); `None` when there are none.
    fn listed(&self) -> Option<String> {
        let more = match self.count.saturating_sub(LISTED_KEYS) {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        (self.count > 0).then(|| format!("{}{more}", self.listed))
    }
}

/// What secret fields work but should not be so, for the warnings (keys and paths, never values).
#[derive(Default)]
struct SecretNotes {
    /// Keys whose secret is written into the config file.
    literal: KeyList,
    /// URL keys with a user name or password in the URL.
    url_credentials: KeyList,
    /// One warning per `file:` secret that every user on the host can read.
    readable_files: Vec<String>,
}

/// Connection schedules checked so far, by expression: the check of a schedule looks at five
/// years of its firings, and at 10,000 connections nearly all share a handful of schedules.
#[derive(Default)]
struct Schedules(std::collections::HashMap<String, Result<Schedule, String>>);

impl Schedules {
    fn parse(&mut self, expression: &str) -> Result<Schedule, String> {
        if let Some(known) = self.0.get(expression) {
            return known.clone();
        }
        let parsed = Schedule::parse(expression);
        self.0.insert(expression.to_string(), parsed.clone());
        parsed
    }
}

/// What a secret field holds: a reference as the file allows (`env:`, `file:`, `cred:` or a
/// literal), or, from the API, the value itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SecretInput {
    Reference,
    Value,
}

/// A secret field of a connection as `input` says it is given.
fn connection_secret(
    key: impl fmt::Display,
    raw: &str,
    input: SecretInput,
    problems: &mut Problems,
    notes: &mut SecretNotes,
) -> Option<SecretString> {
    match input {
        SecretInput::Reference => secret_field(key, raw, problems, notes),
        SecretInput::Value if raw.is_empty() => {
            problems.add(key, "value is empty");
            None
        }
        SecretInput::Value if SecretSource::of(raw) != SecretSource::Literal => {
            problems.add(
                key,
                "the API takes the secret itself: env:, file: and cred: references are for the \
                 operator's config file",
            );
            None
        }
        SecretInput::Value => Some(SecretString::from(raw)),
    }
}

/// Resolves one secret field; a literal works but its key is noted for one warning, and so is
/// a secret file that other users can read (by key and path, never by value).
fn secret_field(
    key: impl fmt::Display,
    raw: &str,
    problems: &mut Problems,
    notes: &mut SecretNotes,
) -> Option<SecretString> {
    let source = SecretSource::of(raw);
    if source == SecretSource::Literal && !raw.is_empty() {
        notes.literal.note(&key);
    }
    match secret::resolve(raw) {
        Ok(s) => {
            if let SecretSource::File(path) = source {
                if let Some(mode) = secret::world_readable(&path) {
                    notes.readable_files.push(format!(
                        "{key}: secret file {} is readable by every user on this host (mode {mode:04o}); restrict it, e.g. chmod o-r {}",
                        path.display(),
                        path.display()
                    ));
                }
            }
            Some(s)
        }
        Err(e) => {
            problems.add(key, e.to_string());
            None
        }
    }
}

fn connection(
    name: String,
    raw: RawConnection,
    secrets: SecretInput,
    problems: &mut Problems,
    notes: &mut SecretNotes,
    schedules: &mut Schedules,
) -> Option<Connection> {
    let connections = Key::root("connections");
    let key = connections.at(&name);
    let before = problems.0.len();
    let exchange = match ExchangeKind::from_str(&raw.exchange) {
        Ok(kind) => Some(kind),
        Err(message) => {
            problems.add(key.at("exchange"), message);
            None
        }
    };
    let api_key = connection_secret(key.at("api_key"), &raw.api_key, secrets, problems, notes);
    let api_secret = connection_secret(
        key.at("api_secret"),
        &raw.api_secret,
        secrets,
        problems,
        notes,
    );
    let passphrase = match (&raw.passphrase, exchange) {
        (Some(p), _) => connection_secret(key.at("passphrase"), p, secrets, problems, notes),
        (None, Some(kind)) if kind.needs_passphrase() => {
            problems.add(
                key.at("passphrase"),
                format!("{kind} keys need a passphrase"),
            );
            None
        }
        (None, _) => None,
    };
    let markets = markets(raw.markets.as_deref(), key.at("markets"), problems);
    let region = exchange.and_then(|kind| region(kind, raw.region.as_deref(), key, problems));
    if let Some(email) = &raw.owner_email {
        if let Err(message) = mailbox(email) {
            problems.add(key.at("owner_email"), message);
        }
    }
    let schedule = raw.schedule.as_deref().and_then(|s| {
        schedules
            .parse(s)
            .map_err(|m| problems.add(key.at("schedule"), m))
            .ok()
    });
    for (field, value) in [
        ("base_url", &raw.base_url),
        ("futures_base_url", &raw.futures_base_url),
    ] {
        if let Some(url) = value {
            url_field(
                key.at(field),
                url,
                Plaintext {
                    insecure: raw.insecure.unwrap_or(false),
                    section: key,
                    carries: "the API key and its signatures",
                },
                problems,
                notes,
            );
        }
    }
    let alerts = alert_overrides(key.at("alerts"), raw.alerts.unwrap_or_default(), problems);
    if problems.0.len() != before {
        return None;
    }
    Some(Connection {
        name,
        exchange: exchange?,
        credentials: Credentials {
            api_key: api_key?,
            api_secret: api_secret?,
            passphrase,
        },
        markets,
        require_ip_whitelist: raw.require_ip_whitelist.unwrap_or(true),
        require_withdraw_verified: raw.require_withdraw_verified.unwrap_or(false),
        owner_email: raw.owner_email,
        schedule,
        base_url: raw.base_url,
        futures_base_url: raw.futures_base_url,
        region: region?,
        alerts,
    })
}

/// The exchange site `named` at `connection.region` (the global one when absent): one the
/// exchange's row of the spec table documents, or a problem listing them.
fn region(
    kind: ExchangeKind,
    named: Option<&str>,
    connection: Key<'_>,
    problems: &mut Problems,
) -> Option<&'static crate::domain::Region> {
    let spec = kind.spec();
    let Some(named) = named else {
        return Some(spec.global());
    };
    let found = spec.region(named);
    if found.is_none() {
        problems.add(
            connection.at("region"),
            format!(
                "{kind} has no region {:?}: use one of {}",
                crate::printable::printable_capped(named, 40),
                spec.region_names()
            ),
        );
    }
    found
}

/// The markets listed at `key`; spot when none is given.
fn markets(listed: Option<&[String]>, key: Key<'_>, problems: &mut Problems) -> Markets {
    let Some(listed) = listed else {
        return Markets {
            spot: true,
            futures: false,
        };
    };
    let mut markets = Markets::default();
    for (i, market) in listed.iter().enumerate() {
        match market.as_str() {
            "spot" => markets.spot = true,
            "futures" => markets.futures = true,
            other => problems.add(
                format_args!("{key}[{i}]"),
                format!("unknown market {other:?} (expected \"spot\" or \"futures\")"),
            ),
        }
    }
    if !markets.spot && !markets.futures {
        problems.add(key, "list at least one market: \"spot\" or \"futures\"");
    }
    markets
}
