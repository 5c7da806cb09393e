//! Alerting: who hears about what, when, and only once.
//!
//! [`Alert`] is the structured message every notifier renders in its own format. The policy that
//! decides when an alert is raised, and the durable outbox that delivers it, build on it.

pub mod delivery;
pub mod engine;
pub mod policy;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ExchangeKind, Permissions, Severity, Status, Verdict, Warning};

/// What an alert says happened to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A new incident: something is wrong.
    Opened,
    /// The incident is still open after `remind_every`.
    Reminder,
    /// The incident is over: the connection is `connected` again.
    Resolved,
    /// A warning worth one message (key not IP-bound, key expiring soon).
    Notice,
}

/// Whom or what the alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "scope")]
pub enum Subject {
    /// One connection (one user's key).
    Connection {
        name: String,
        exchange: ExchangeKind,
        /// The key as `mx0v…9f2a`, never more.
        masked_key: String,
        /// The platform user to tell about their own connection.
        owner_email: Option<String>,
    },
    /// Every connection of one exchange at once: the exchange is down, not the keys.
    Exchange { exchange: ExchangeKind },
    /// This trading host: its clock, or its network to every exchange.
    Host,
}

/// What the alert is about: a status or a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type", content = "name")]
pub enum Topic {
    Status(Status),
    Warning(Warning),
}

/// One alert, ready for any channel. Carries no secret: keys only masked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub kind: AlertKind,
    pub subject: Subject,
    pub topic: Topic,
    pub severity: Severity,
    /// When the incident (or warning) started: the first check that saw it.
    pub started_at: DateTime<Utc>,
    /// When this alert was raised.
    pub raised_at: DateTime<Utc>,
    /// What happened, in the exchange's own words where it gave any.
    pub message: String,
    /// What to do about it (the platform's help text); `None` for a resolved notice.
    pub remedy: Option<String>,
    /// The status the subject was in before, when the alert is about a change from one
    /// failing status to another.
    pub previous: Option<Status>,
    /// The connection's last check when the alert was raised, for channels read by machines
    /// (the webhook's permissions and warnings). `None` for exchange and host alerts, and for a
    /// reminder raised after a restart before the connection's first check.
    #[serde(default)]
    pub last_check: Option<LastCheck>,
}

/// What one check of a connection found, as an alert carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastCheck {
    pub status: Status,
    pub permissions: Permissions,
    pub warnings: Vec<Warning>,
    pub checked_at: DateTime<Utc>,
}

impl LastCheck {
    pub fn of(verdict: &Verdict) -> LastCheck {
        LastCheck {
            status: verdict.status,
            permissions: verdict.permissions,
            warnings: verdict.warnings.clone(),
            checked_at: verdict.checked_at,
        }
    }
}

impl Alert {
    /// An alert for tests: `kind` of `status` on the MEXC connection `name` (key `mx0v…9f2a`,
    /// owner carol@example.com), raised when it started, 2025-03-01 12:00 UTC, saying the key
    /// has withdraw rights. A test changes the fields it is about.
    #[doc(hidden)]
    pub fn sample(name: &str, kind: AlertKind, status: Status) -> Alert {
        let at = DateTime::parse_from_rfc3339("2025-03-01T12:00:00Z")
            .expect("a fixed time")
            .to_utc();
        Alert {
            kind,
            subject: Subject::Connection {
                name: name.to_string(),
                exchange: ExchangeKind::Mexc,
                masked_key: "mx0v…9f2a".to_string(),
                owner_email: Some("carol@example.com".to_string()),
            },
            topic: Topic::Status(status),
            severity: status.severity(),
            started_at: at,
            raised_at: at,
            message: "the key has withdraw rights".to_string(),
            remedy: Some("switch withdraw rights off at the exchange now".to_string()),
            previous: None,
            last_check: None,
        }
    }

    /// The subject's name as people see it: the connection, the exchange, or "this host".
    pub fn subject_name(&self) -> String {
        match &self.subject {
            Subject::Connection { name, .. } => name.clone(),
            Subject::Exchange { exchange } => format!("all {exchange} connections"),
            Subject::Host => "this trading host".to_string(),
        }
    }

    /// The exchange the alert is about, if it is about one.
    pub fn exchange(&self) -> Option<ExchangeKind> {
        match &self.subject {
            Subject::Connection { exchange, .. } | Subject::Exchange { exchange } => {
                Some(*exchange)
            }
            Subject::Host => None,
        }
    }

    /// The topic's wire name: `withdraw_enabled`, `key_expires_soon`, ...
    pub fn topic_name(&self) -> &'static str {
        match self.topic {
            Topic::Status(s) => s.name(),
            Topic::Warning(w) => w.name(),
        }
    }

    /// The connection's owner, when the alert is about one connection that has one.
    pub fn owner_email(&self) -> Option<&str> {
        match &self.subject {
            Subject::Connection { owner_email, .. } => owner_email.as_deref(),
            _ => None,
        }
    }
}
