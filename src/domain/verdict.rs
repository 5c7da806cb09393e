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
