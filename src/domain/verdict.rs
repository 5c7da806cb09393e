//! A verdict: what one check of one connection concluded, as every layer after `check` sees it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ExchangeKind, Permissions, Status, Warning};

/// The outcome of one check of one connection: the line `check --json` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Verdict {
    pub connection: String,
    pub exchange: ExchangeKind,
    pub status: Status,
    pub permissions: Permissions,
    pub ip_restricted: Option<bool>,
    pub expires_at: Option<DateTime<Utc>>,
    pub latency_ms: u64,
    pub message: String,
    pub remedy: Option<String>,
    pub warnings: Vec<Warning>,
    pub checked_at: DateTime<Utc>,
}

#[cfg(test)]
impl Verdict {
    /// A verdict for unit tests: `connection` on `exchange` came out `status`, checked at
    /// 2025-06-01 12:00 UTC, the key able to read and trade but not withdraw, bound to an IP, and
    /// no expiry.
    pub fn sample(connection: &str, exchange: ExchangeKind, status: Status) -> Verdict {
        use chrono::TimeZone;
        Verdict {
            connection: connection.to_string(),
            exchange,
            status,
            permissions: Permissions {
                read: Some(true),
                trade: Some(true),
                withdraw: Some(false),
                futures: None,
            },
            ip_restricted: Some(true),
            expires_at: None,
            latency_ms: 10,
            message: "ok".to_string(),
            remedy: None,
            warnings: Vec::new(),
            checked_at: Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap(),
        }
    }
}
