//! Channels that deliver alerts: one file per channel behind the small [`Notifier`] trait.
//!
//! A notifier only delivers: it renders [`Alert`]s in its channel's format, sends them, and says
//! whether a failure is worth retrying. Deciding what to send, and remembering what was sent, is
//! the outbox's job.

pub mod email;
pub mod telegram;
pub mod webhook;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::alert::Alert;
use crate::domain::{BoxFuture, Verdict};

/// The channels KeyWarden delivers on; the `channel` label of the alert metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Telegram,
    Email,
    Webhook,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Telegram => "telegram",
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }

    /// Whether several alerts may go to one recipient as one message. A webhook is read by a
    /// machine that wants one event per change, each with its own id: it gets them one by one.
    pub fn digests(self) -> bool {
        match self {
            Channel::Telegram | Channel::Email => true,
            Channel::Webhook => false,
        }
    }

    /// Every `reason` a failed delivery on this channel can be counted with (its notifier's
    /// [`DeliveryError`]s, plus `expired` when delivery gives up on an old alert). The
    /// `alerts_failed_total` series of a configured channel start at 0 with these, so a
    /// dashboard shows "no failures" rather than nothing.
    pub fn failure_reasons(self) -> &'static [&'static str] {
        match self {
            // The Telegram Bot API and a webhook fail the same ways over HTTP.
            Channel::Telegram | Channel::Webhook => &[
                "expired",
                "rate_limited",
                "rejected",
                "timeout",
                "unavailable",
                "wrong_channel",
            ],
            Channel::Email => &[
                "bad_address",
                "bad_message",
                "expired",
                "not_owner",
                "smtp_permanent",
                "smtp_transient",
                "smtp_unsupported",
                "timeout",
                "tls",
                "unavailable",
                "wrong_channel",
            ],
        }
    }
}

/// Who reads an email: the operators get every detail; a platform user gets only what happened
/// to their own connection and what to do at the exchange, without internals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Audience {
    Operator,
    Owner,
}

/// One destination on one channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "channel")]
pub enum Recipient {
    Telegram {
        chat_id: i64,
    },
    Email {
        address: String,
        audience: Audience,
    },
    /// A `[[alerts.webhook]]` target, by [`crate::config::WebhookConfig::target`] (host and a
    /// fingerprint of the URL: the URL itself may carry a token and stays out of the store).
    Webhook {
        target: String,
    },
}

impl Recipient {
    pub fn channel(&self) -> Channel {
        match self {
            Recipient::Telegram { .. } => Channel::Telegram,
            Recipient::Email { .. } => Channel::Email,
            Recipient::Webhook { .. } => Channel::Webhook,
        }
    }
}

/// Why a delivery failed, and whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Timeouts, 5xx, Telegram 429, SMTP 4xx: try again later (`after` when the channel said).
    #[error("{reason}: {detail}")]
    Retry {
        /// A short fixed word for the `alerts_failed_total{reason}` label: `timeout`,
        /// `rate_limited`, `unavailable`, `smtp_transient`, ...
        reason: &'static str,
        after: Option<Duration>,
        detail: String,
    },
    /// A bad chat id, a malformed address, an SMTP 5xx: retrying the same message cannot help.
    #[error("{reason}: {detail}")]
    Reject {
        reason: &'static str,
        detail: String,
    },
}

impl DeliveryError {
    pub fn reason(&self) -> &'static str {
        match self {
            DeliveryError::Retry { reason, .. } | DeliveryError::Reject { reason, .. } => reason,
        }
    }
}

/// One delivery attempt: `Ok` when the channel accepted everything it was handed.
pub type Delivery<'a> = BoxFuture<'a, Result<(), DeliveryError>>;

/// A channel that can deliver alerts.
pub trait Notifier: Send + Sync {
    fn channel(&self) -> Channel;

    /// Delivers `alerts` to `recipient` as one message (several alerts make a digest; a channel
    /// with a length limit splits or summarises). `Ok` means the channel accepted all of them.
    fn deliver<'a>(&'a self, recipient: &'a Recipient, alerts: &'a [Alert]) -> Delivery<'a>;

    /// Delivers one alert alone, named by `event_id`: the id of its outbox record, the same at
    /// every attempt and after a restart, so a receiver can drop a duplicate. Channels read by
    /// people have no use for it and send the alert as a one-alert [`Notifier::deliver`].
    fn deliver_event<'a>(
        &'a self,
        recipient: &'a Recipient,
        event_id: &'a str,
        alert: &'a Alert,
    ) -> Delivery<'a> {
        let _ = event_id;
        self.deliver(recipient, std::slice::from_ref(alert))
    }
}

/// What the Telegram bot's commands need from the running daemon.
pub trait CommandBackend: Send + Sync {
    /// The last verdict of every configured connection, in name order (`/status`).
    fn statuses(&self) -> Vec<Verdict>;
    /// Checks `connection` now (`/check NAME`); `None` when no connection has that name.
    fn check_now<'a>(&'a self, connection: &'a str) -> BoxFuture<'a, Option<Verdict>>;
}
