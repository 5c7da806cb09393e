//! The configuration: one TOML file, overridable from the environment (`KEYWARDEN__…`),
//! validated whole before anything runs.
//!
//! Loading reads the file into the serde structs of [`raw`] that reject unknown keys (merged
//! with the environment through the `config` crate when an override is set; see [`parse`]),
//! then goes through [`validate`], which checks every value and resolves every secret. Every
//! error names the file, the key path and what is wrong, and all problems are reported at once
//! so an operator fixes the file in one go.

mod parse;
mod raw;
mod validate;

pub use raw::{RawConnection, RawConnectionAlerts};
pub use validate::api_connection;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::domain::{Credentials, ExchangeKind, Markets};
use crate::secret::{MaskedUrl, SecretString};

/// The prefix of environment overrides: `KEYWARDEN__DAEMON__SCHEDULE` sets `daemon.schedule`.
pub const ENV_PREFIX: &str = "KEYWARDEN";

/// A validated configuration, secrets resolved.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from, for messages.
    pub source: PathBuf,
    pub daemon: DaemonConfig,
    pub alerts: AlertsConfig,
    /// `[api]`: the platform's HTTP API; `None` when the file has no such section.
    pub api: Option<ApiConfig>,
    /// In name order.
    pub connections: Vec<Connection>,
    /// Things that work but should not be so (a literal secret in the file), for the log.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DaemonConfig {
    pub schedule: Schedule,
    pub state_dir: PathBuf,
    pub metrics_listen: SocketAddr,
    /// The operator's opt-in to serve `/metrics` on a non-loopback address
    /// (`daemon.metrics_public`); without it such an address is a config error.
    pub metrics_public: bool,
    /// The bearer token `/history` asks for (`daemon.http_token`); required with
    /// `metrics_public`. Compared in constant time, never logged.
    pub http_token: Option<SecretString>,
    /// `/metrics` asks for the token too (`daemon.http_token_for_metrics`).
    pub http_token_for_metrics: bool,
    pub history_retention: Duration,
    pub max_concurrent_checks: usize,
    pub check_timeout: Duration,
    pub expiry_warning: Duration,
    /// Requests per second per exchange host, where the operator overrides the default
    /// ([`crate::domain::ExchangeSpec::default_rate`]).
    pub request_budget: BTreeMap<ExchangeKind, f64>,
}

impl DaemonConfig {
    /// Requests per second allowed to each of `kind`'s hosts.
    pub fn request_rate(&self, kind: ExchangeKind) -> f64 {
        self.request_budget
            .get(&kind)
            .copied()
            .unwrap_or(kind.spec().default_rate)
    }
}

/// `[api]`: where the platform's HTTP API listens, who may call it, and the key its stored
/// connections are encrypted with.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub listen: ApiListen,
    /// Bearer tokens, any of which may call the API (`api.tokens`); at least one. Compared in
    /// constant time, never logged.
    pub tokens: Vec<SecretString>,
    /// Encrypts the secrets of connections the API stores (`api.store_key`, 32 bytes).
    pub store_key: crate::store::StoreKey,
}

/// Where the API listens: a TCP address, or a Unix socket (`unix:/run/keywarden/api.sock`)
/// whose file permissions decide who may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiListen {
    Tcp(SocketAddr),
    Unix(PathBuf),
}

impl fmt::Display for ApiListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiListen::Tcp(addr) => write!(f, "{addr}"),
            ApiListen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AlertsConfig {
    pub unavailable_after: u32,
    /// Consecutive `connected` checks before an incident counts as resolved.
    pub resolve_after: u32,
    /// `None` when reminders are off (`remind_every = "0"`).
    pub remind_every: Option<Duration>,
    pub send_resolved: bool,
    pub telegram: Option<TelegramConfig>,
    pub email: Option<EmailConfig>,
    /// `[[alerts.webhook]]`, in file order; URLs distinct.
    pub webhook: Vec<WebhookConfig>,
}

#[derive(Clone)]
pub struct TelegramConfig {
    pub bot_token: SecretString,
    pub chat_ids: Vec<i64>,
    pub api_url: String,
    /// Who may command the bot in those chats (`alerts.telegram.allowed_user_ids`); `None`:
    /// every member of an allowlisted chat.
    pub allowed_user_ids: Option<Vec<i64>>,
}

#[derive(Clone)]
pub struct EmailConfig {
    pub smtp_url: String,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub from: String,
    pub to: Vec<String>,
}

/// One `[[alerts.webhook]]` target: the platform's endpoint that pauses a bot whose key broke.
#[derive(Clone)]
pub struct WebhookConfig {
    pub url: String,
    /// The HMAC-SHA256 key of the `X-KeyWarden-Signature` header; shared with the receiver.
    pub secret: SecretString,
    pub events: WebhookEvents,
    /// How long one POST may take, connection included.
    pub timeout: Duration,
}

impl WebhookConfig {
    /// The target's name in the outbox and its recipient key: the host and a fingerprint of the
    /// whole URL (`hooks.example.com#3fa2c1d09e4b5a67`). Stable across restarts and reloads
    /// while the URL stays, distinct for distinct URLs, and free of whatever the URL carries
    /// (a token in its path or query, a password), which must not sit in the store.
    pub fn target(&self) -> String {
        webhook_target(&self.url)
    }
}

/// See [`WebhookConfig::target`].
pub fn webhook_target(url: &str) -> String {
    use sha2::Digest as _;
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    let digest = sha2::Sha256::digest(url.as_bytes());
    format!("{host}#{}", hex::encode(&digest[..8]))
}

/// Which alert kinds a webhook target receives (`events`; all three by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookEvents {
    pub opened: bool,
    pub resolved: bool,
    pub reminder: bool,
}

impl WebhookEvents {
    pub const ALL: WebhookEvents = WebhookEvents {
        opened: true,
        resolved: true,
        reminder: true,
    };

    /// Whether an alert of `kind` goes to the target. Notices (warnings) are for people.
    pub fn includes(self, kind: crate::alert::AlertKind) -> bool {
        use crate::alert::AlertKind;
        match kind {
            AlertKind::Opened => self.opened,
            AlertKind::Resolved => self.resolved,
            AlertKind::Reminder => self.reminder,
            AlertKind::Notice => false,
        }
    }
}

/// A connection's overrides of the `[alerts]` thresholds (`[connections.NAME.alerts]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AlertOverrides {
    pub unavailable_after: Option<u32>,
    pub resolve_after: Option<u32>,
    /// `Some(None)` turns reminders off for this connection.
    pub remind_every: Option<Option<Duration>>,
    pub send_resolved: Option<bool>,
}

impl AlertsConfig {
    /// The thresholds without any connection's overrides (exchange and host incidents).
    pub fn defaults(&self) -> crate::alert::policy::Thresholds {
        self.thresholds(&AlertOverrides::default())
    }

    /// The thresholds for a connection with `overrides`.
    pub fn thresholds(&self, overrides: &AlertOverrides) -> crate::alert::policy::Thresholds {
        crate::alert::policy::Thresholds {
            unavailable_after: overrides
                .unavailable_after
                .unwrap_or(self.unavailable_after),
            resolve_after: overrides.resolve_after.unwrap_or(self.resolve_after),
            remind_every: overrides.remind_every.unwrap_or(self.remind_every),
            send_resolved: overrides.send_resolved.unwrap_or(self.send_resolved),
        }
    }
}

/// One exchange key to watch.
#[derive(Clone)]
pub struct Connection {
    /// What users see: `[a-z0-9_.-]+`, unique.
    pub name: String,
    pub exchange: ExchangeKind,
    pub credentials: Credentials,
    pub markets: Markets,
    pub require_ip_whitelist: bool,
    /// An exchange that does not reveal the withdraw right fails the check
    /// (`withdraw_unverified`) instead of passing with a warning. Default false.
    pub require_withdraw_verified: bool,
    pub owner_email: Option<String>,
    /// Overrides the daemon's schedule for this connection.
    pub schedule: Option<Schedule>,
    pub base_url: Option<String>,
    pub futures_base_url: Option<String>,
    /// The exchange site the key belongs to (`region`, default `global`): picks its hosts.
    pub region: &'static crate::domain::Region,
    pub alerts: AlertOverrides,
}

// Hand-written Debug: a URL may carry a user name and password (`smtp://user:password@relay`),
// shown masked the way every error shows it.
impl fmt::Debug for TelegramConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelegramConfig")
            .field("bot_token", &self.bot_token)
            .field("chat_ids", &self.chat_ids)
            .field("api_url", &MaskedUrl(&self.api_url))
            .finish()
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("smtp_url", &MaskedUrl(&self.smtp_url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("from", &self.from)
            .field("to", &self.to)
            .finish()
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &MaskedUrl(&self.url))
            .field("secret", &self.secret)
            .field("events", &self.events)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("exchange", &self.exchange)
            .field("credentials", &self.credentials)
            .field("markets", &self.markets)
            .field("require_ip_whitelist", &self.require_ip_whitelist)
            .field("require_withdraw_verified", &self.require_withdraw_verified)
            .field("owner_email", &self.owner_email)
            .field("schedule", &self.schedule)
            .field("base_url", &self.base_url.as_deref().map(MaskedUrl))
            .field(
                "futures_base_url",
                &self.futures_base_url.as_deref().map(MaskedUrl),
            )
            .field("region", &self.region.name)
            .field("alerts", &self.alerts)
            .finish()
    }
}

/// A 6-field cron expression (sec min hour dom mon dow, UTC), checked with the same parser
/// settings the scheduler uses, that fires at least once a year: a schedule that never fires
/// (`0 0 0 31 2 *`) or only in leap years (`0 0 0 29 2 *`) would leave its connections
/// unwatched without a word, so it is refused.
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    expression: String,
}

impl Schedule {
    pub fn parse(expression: &str) -> Result<Schedule, String> {
        let fields = expression.split_whitespace().count();
        if fields != 6 {
            return Err(format!(
                "{expression:?} has {fields} fields; expected 6 (sec min hour day-of-month month day-of-week)"
            ));
        }
        let cron = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Required)
            .dom_and_dow(true)
            .build()
            .parse(expression)
            .map_err(|e| format!("{expression:?} is not a valid cron expression: {e}"))?;
        fires_every_year(&cron).map_err(|why| format!("{expression:?} {why}"))?;
        Ok(Schedule {
            expression: expression.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.expression
    }
}

/// The longest a schedule may leave its connections unchecked: a year (366 days, so that a
/// yearly schedule passes across a leap year).
pub const LONGEST_SCHEDULE_GAP: Duration = Duration::from_secs(366 * 86_400);

/// Whether `cron` fires at least once in every [`LONGEST_SCHEDULE_GAP`]. Looked at over five
/// fixed years (2024 to 2028, two leap days), so the answer does not depend on today's date:
/// from a probe every 30 days the next firing is found; where it is further away than the gap
/// less 30 days, the gap around the probe is measured exactly from the firing before it. Every
/// gap longer than the limit inside those years holds a probe within 30 days of its start, so
/// none is missed, and none is reported that is not there.
fn fires_every_year(cron: &croner::Cron) -> Result<(), String> {
    use chrono::TimeZone as _;
    let step = chrono::Duration::days(30);
    let limit = chrono::Duration::from_std(LONGEST_SCHEDULE_GAP).expect("a year fits");
    let start = chrono::Utc
        .with_ymd_and_hms(2024, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid date");
    let end = start + chrono::Duration::days(5 * 366);
    let mut probe = start;
    while probe < end {
        let next = cron
            .find_next_occurrence(&probe, true)
            .map_err(|_| "never fires: no date matches it".to_string())?;
        if next - probe > limit - step {
            let gap_start = cron.find_previous_occurrence(&probe, false).ok();
            let gap = next - gap_start.unwrap_or(probe);
            if gap > limit {
                return Err(format!(
                    "fires too rarely: {} days pass between two firings ({} to {}); a \
                     schedule must fire at least once a year",
                    gap.num_days(),
                    gap_start.map_or("before".to_string(), |t| t.date_naive().to_string()),
                    next.date_naive()
                ));
            }
        }
        probe += step;
    }
    Ok(())
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.expression)
    }
}

/// One thing wrong in the config, at one key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The dotted key path, e.g. `connections.alice-mexc.api_secret`.
    pub key: String,
    pub message: String,
}

impl Problem {
    /// A problem at `key`; a URL's user name and password in the message are masked
    /// ([`crate::secret::mask_url_credentials`]), whoever worded it: the message goes to the
    /// terminal, the log of a refused reload and systemd's `STATUS=`, which every local user
    /// can read.
    pub fn new(key: impl fmt::Display, message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            key: key.to_string(),
            message: crate::secret::mask_url_credentials(&message).into_owned(),
        }
    }
}

/// Why a config could not be used. Displays as one line per problem, each naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read config file: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {detail}")]
    Syntax { path: String, detail: String },
    #[error("{}", .problems.iter().map(|p| format!("{path}: {}: {}", p.key, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid {
        path: String,
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// A syntax or shape error in `path`, as the TOML parser or the `config` crate worded it:
    /// those quote the offending line or value, so a URL's user name and password in it are
    /// masked.
    pub fn syntax(path: &str, detail: &str) -> ConfigError {
        ConfigError::Syntax {
            path: path.to_string(),
            detail: crate::secret::mask_url_credentials(detail).into_owned(),
        }
    }
}

impl Config {
    /// Loads, overrides from the environment, validates and resolves secrets.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Config::from_toml(&text, path)
    }

    /// Like [`Config::load`], for text already in memory (`source` is only used in messages and
    /// to resolve relative paths).
    pub fn from_toml(text: &str, source: &Path) -> Result<Config, ConfigError> {
        let shown = source.display().to_string();
        let raw = parse::parse(text, &shown)?;
        validate::validate(raw, source)
    }

    /// The connection called `name`.
    /// The connection called `name`; a binary search, since `connections` is in name order and
    /// the daemon looks one up for every check.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections
            .binary_search_by(|c| c.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.connections[i])
    }
}

#[cfg(test)]
mod tests;
