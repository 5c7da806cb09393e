//! The values kept in the store (spans, per-connection state) and the `history` key layout.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{ExchangeKind, Permissions, Status, Verdict, Warning};

/// One uninterrupted run of the same verdict for one connection. History is kept as spans, not
/// as one row per check, so the disk grows with changes rather than with checks: a repeat of
/// the same verdict only moves `last_seen` and bumps `checks`.
///
/// The identity of a span is (status, permissions, ip_restricted, warnings); the other fields
/// hold the latest values seen during the span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Span {
    pub connection: String,
    pub exchange: ExchangeKind,
    pub status: Status,
    pub permissions: Permissions,
    pub ip_restricted: Option<bool>,
    pub expires_at: Option<DateTime<Utc>>,
    pub warnings: Vec<Warning>,
    pub message: String,
    pub remedy: Option<String>,
    pub latency_ms: u64,
    /// `checked_at` of the first check of the span.
    pub first_seen: DateTime<Utc>,
    /// `checked_at` of the latest check of the span.
    pub last_seen: DateTime<Utc>,
    /// How many checks fell into this span.
    pub checks: u64,
}

impl Span {
    /// A new span holding just `verdict`.
    pub(super) fn start(verdict: &Verdict) -> Span {
        Span {
            connection: verdict.connection.clone(),
            exchange: verdict.exchange,
            status: verdict.status,
            permissions: verdict.permissions,
            ip_restricted: verdict.ip_restricted,
            expires_at: verdict.expires_at,
            warnings: verdict.warnings.clone(),
            message: verdict.message.clone(),
            remedy: verdict.remedy.clone(),
            latency_ms: verdict.latency_ms,
            first_seen: verdict.checked_at,
            last_seen: verdict.checked_at,
            checks: 1,
        }
    }

    /// Folds a repeat of the span's verdict in: the latest details win, the count goes up.
    /// `last_seen` never moves backwards, even if the clock did.
    pub(super) fn extend(&mut self, verdict: &Verdict) {
        self.exchange = verdict.exchange;
        self.expires_at = verdict.expires_at;
        self.message = verdict.message.clone();
        self.remedy = verdict.remedy.clone();
        self.latency_ms = verdict.latency_ms;
        self.last_seen = self.last_seen.max(verdict.checked_at);
        self.checks += 1;
    }
}

/// Whether two verdicts belong to the same span: same status, permissions, IP binding and
/// warnings (in any order). Message, remedy, expiry and latency may differ within a span.
pub fn same_span(a: &Verdict, b: &Verdict) -> bool {
    let sorted = |w: &[Warning]| {
        let mut w = w.to_vec();
        w.sort_unstable();
        w.dedup();
        w
    };
    a.status == b.status
        && a.permissions == b.permissions
        && a.ip_restricted == b.ip_restricted
        && sorted(&a.warnings) == sorted(&b.warnings)
}

/// What the store remembers about a connection between checks (the `state` tree): the last
/// verdict, so a restarted daemon compares against what it saw before going down rather than
/// against nothing, and the streak counters that alert thresholds need.
///
/// New fields (open alerts, for instance) must be `#[serde(default)]` so older records still
/// load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionState {
    /// The verdict of the latest check.
    pub last: Verdict,
    /// Consecutive checks, this one included, with `last.status` (reset to 1 when the status
    /// changes; a change of permissions or warnings alone does not reset it).
    pub same_status_checks: u64,
    /// Consecutive checks, this one included, that were `exchange_unavailable` (0 otherwise);
    /// compared against `alerts.unavailable_after`.
    pub unavailable_checks: u64,
    /// Timestamp part of the open span's `history` key. It can differ from the span's
    /// `first_seen` when the clock stepped back, because keys are kept strictly increasing.
    pub(super) open_span: i64,
}

impl ConnectionState {
    /// The state after `verdict`, given the state before it (if any).
    pub(super) fn next(
        previous: Option<&ConnectionState>,
        verdict: &Verdict,
        open_span: i64,
    ) -> Self {
        let unavailable = verdict.status == Status::ExchangeUnavailable;
        let (same_status_checks, unavailable_checks) = match previous {
            Some(p) if p.last.status == verdict.status => (
                p.same_status_checks + 1,
                if unavailable {
                    p.unavailable_checks + 1
                } else {
                    0
                },
            ),
            _ => (1, u64::from(unavailable)),
        };
        ConnectionState {
            last: verdict.clone(),
            same_status_checks,
            unavailable_checks,
            open_span,
        }
    }
}

/// What [`super::HistoryStore::record`] did, so the daemon and the alert policy can react
/// without a second read.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    /// The verdict differed from the previous one (or there was none): a new span was started.
    pub new_span: bool,
    /// The verdict recorded before this one, if the connection has history.
    pub previous: Option<Verdict>,
    /// Streak: consecutive checks with this status, this one included.
    pub same_status_checks: u64,
    /// Streak: consecutive `exchange_unavailable` checks, this one included (0 otherwise).
    pub unavailable_checks: u64,
}

/// `history` keys are `u16 BE name length ‖ name ‖ u64 BE timestamp`. The length prefix keeps
/// one connection's range from matching another whose name it is a prefix of ("alice" is not
/// a prefix of "alice2" once lengths are in front); the big-endian timestamp makes a range scan
/// over the prefix the connection's history in time order.
pub(super) fn key_prefix(connection: &str) -> Result<Vec<u8>, StoreError> {
    let len = u16::try_from(connection.len()).map_err(|_| StoreError::NameTooLong {
        len: connection.len(),
    })?;
    let mut key = Vec::with_capacity(2 + connection.len() + 8);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(connection.as_bytes());
    Ok(key)
}

/// The full `history` key for a span whose key prefix is `prefix`, keyed at `micros` (µs since
/// the epoch). The sign bit is flipped so that pre-1970 times (never expected) still sort first.
pub(super) fn span_key(prefix: &[u8], micros: i64) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + 8);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&((micros as u64) ^ (1 << 63)).to_be_bytes());
    key
}
