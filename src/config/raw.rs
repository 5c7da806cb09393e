//! The config file exactly as written: serde structs that reject unknown keys. Nothing here is
//! validated beyond types; [`super::validate`] turns this into a [`super::Config`]. In tests they
//! compare field by field, so the two ways [`super::parse`] reads a file can be shown to agree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::MaskedUrl;

#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub alerts: RawAlerts,
    pub api: Option<RawApi>,
    #[serde(default)]
    pub connections: BTreeMap<String, RawConnection>,
}

/// `[api]`: the platform's HTTP API (issue 14). Absent: no API.
#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub listen: Option<String>,
    /// The operator's opt-in to serve the API on an address other hosts can reach.
    pub public: Option<bool>,
    #[serde(default, deserialize_with = "one_or_many")]
    pub tokens: Vec<String>,
    pub store_key: Option<String>,
}

#[derive(Default, Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawDaemon {
    pub schedule: Option<String>,
    pub state_dir: Option<String>,
    pub metrics_listen: Option<String>,
    pub metrics_public: Option<bool>,
    pub http_token: Option<String>,
    pub http_token_for_metrics: Option<bool>,
    pub history_retention: Option<String>,
    pub max_concurrent_checks: Option<i64>,
    pub check_timeout: Option<String>,
    pub expiry_warning: Option<String>,
    pub request_budget: Option<BTreeMap<String, f64>>,
}

#[derive(Debug, Default, Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawAlerts {
    pub unavailable_after: Option<i64>,
    pub resolve_after: Option<i64>,
    pub remind_every: Option<String>,
    pub send_resolved: Option<bool>,
    pub telegram: Option<RawTelegram>,
    pub email: Option<RawEmail>,
    /// `[[alerts.webhook]]`: one table per target.
    #[serde(default)]
    pub webhook: Vec<RawWebhook>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    pub secret: String,
    pub events: Option<Vec<String>>,
    pub timeout: Option<String>,
    /// Allows a plain `http://` URL to another host.
    pub insecure: Option<bool>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawTelegram {
    pub bot_token: String,
    #[serde(default, deserialize_with = "chat_ids")]
    pub chat_ids: Vec<i64>,
    pub api_url: Option<String>,
    /// Allows a plain `http://` `api_url` on a host other than this one (the bot token travels
    /// in every request's path).
    pub insecure: Option<bool>,
    #[serde(default, deserialize_with = "optional_ids")]
    pub allowed_user_ids: Option<Vec<i64>>,
}

#[derive(Deserialize)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawEmail {
    pub smtp_url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: String,
    #[serde(default, deserialize_with = "one_or_many")]
    pub to: Vec<String>,
    /// Allows credentials over an unencrypted `smtp://` connection to a relay on another host.
    pub insecure: Option<bool>,
}

/// A `[connections.NAME]` table; also the body of the API's `PUT /api/v1/connections/NAME`,
/// stored (encrypted) as it came, so a stored connection is validated by the same rules as the
/// file's every time it is loaded.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawConnection {
    pub exchange: String,
    pub api_key: String,
    pub api_secret: String,
    pub passphrase: Option<String>,
    pub markets: Option<Vec<String>>,
    pub require_ip_whitelist: Option<bool>,
    pub require_withdraw_verified: Option<bool>,
    pub owner_email: Option<String>,
    pub schedule: Option<String>,
    pub base_url: Option<String>,
    pub futures_base_url: Option<String>,
    /// The exchange site the key was made on (`global` when absent).
    pub region: Option<String>,
    pub alerts: Option<RawConnectionAlerts>,
    /// Allows a plain `http://` `base_url` or `futures_base_url` on a host other than this one
    /// (every request carries the API key and its signature).
    pub insecure: Option<bool>,
}

/// `[connections.NAME.alerts]`: this connection's overrides of the `[alerts]` thresholds.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[cfg_attr(test, derive(PartialEq))]
#[serde(deny_unknown_fields)]
pub struct RawConnectionAlerts {
    pub unavailable_after: Option<i64>,
    pub resolve_after: Option<i64>,
    pub remind_every: Option<String>,
    pub send_resolved: Option<bool>,
}

// Hand-written Debug so a raw secret reference that is a literal secret never reaches a log,
// nor a password written into a URL.
macro_rules! redacted_debug {
    ($ty:ident { $($shown:ident),* } urls { $($url:ident),* } hides { $($hidden:ident),* }) => {
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($url), &UrlField::masked(&self.$url)))*
                    $(.field(stringify!($hidden), &"[REDACTED]"))*
                    .finish()
            }
        }
    };
}

/// A URL field, required or optional, shown with its user info masked.
trait UrlField {
    type Masked<'a>: std::fmt::Debug
    where
        Self: 'a;
    fn masked(&self) -> Self::Masked<'_>;
}

impl UrlField for String {
    type Masked<'a> = MaskedUrl<'a>;
    fn masked(&self) -> MaskedUrl<'_> {
        MaskedUrl(self)
    }
}

impl UrlField for Option<String> {
    type Masked<'a> = Option<MaskedUrl<'a>>;
    fn masked(&self) -> Option<MaskedUrl<'_>> {
        self.as_deref().map(MaskedUrl)
    }
}

redacted_debug!(RawDaemon {
    schedule, state_dir, metrics_listen, metrics_public, http_token_for_metrics,
    history_retention, max_concurrent_checks, check_timeout, expiry_warning, request_budget
} urls {} hides { http_token });
redacted_debug!(RawApi { listen, public } urls {} hides { tokens, store_key });
redacted_debug!(RawTelegram { chat_ids, insecure, allowed_user_ids } urls { api_url } hides { bot_token });
redacted_debug!(RawEmail { username, from, to, insecure } urls { smtp_url } hides { password });
redacted_debug!(RawWebhook { events, timeout, insecure } urls { url } hides { secret });
redacted_debug!(RawConnection {
    exchange, markets, require_ip_whitelist, require_withdraw_verified, owner_email, schedule,
    alerts, insecure
} urls { base_url, futures_base_url } hides { api_key, api_secret, passphrase });

/// A list that may also be written as a single value: an environment override such as
/// `KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS=-100123` arrives as one number, not a list.
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        One(T),
        Many(Vec<T>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(value) => vec![value],
        OneOrMany::Many(values) => values,
    })
}

/// [`chat_ids`] for a list that may be left out (`None`, not empty).
fn optional_ids<'de, D>(deserializer: D) -> Result<Option<Vec<i64>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    chat_ids(deserializer).map(Some)
}

/// Chat ids as written in TOML (numbers) or as the environment gives them (text, one value or a
/// comma-separated list the config crate has already split).
fn chat_ids<'de, D>(deserializer: D) -> Result<Vec<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        Number(i64),
        Text(String),
    }
    one_or_many::<D, Id>(deserializer)?
        .into_iter()
        .map(|id| match id {
            Id::Number(n) => Ok(n),
            Id::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("chat id {text:?} is not a number"))),
        })
        .collect()
}
