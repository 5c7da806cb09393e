//! Facts → verdict: which status a connection is in, what rides along as warnings, and what the
//! user should do about it. Pure: no IO, no clock (the caller passes `now`), table-tested.

mod remedy;

use chrono::{DateTime, Utc};

pub use remedy::{remedy_for, warning_remedy};

use crate::domain::{ExchangeKind, Facts, Markets, ProblemKind, Status, Verdict, Warning};
use crate::exchange::expiry;
use crate::printable::{printable_capped, MAX_MESSAGE_CHARS};

/// What a connection requires of its key, from its config section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub markets: Markets,
    pub require_ip_whitelist: bool,
    /// Fail with `withdraw_unverified` when the exchange does not reveal the withdraw right,
    /// instead of passing with the `withdraw_unverified` warning (the connection's
    /// `require_withdraw_verified`).
    pub require_withdraw_verified: bool,
    /// Warn `key_expires_soon` when the key expires within this long.
    pub expiry_warning: chrono::Duration,
}

/// Everything about a check except the judgement: who, when and how long.
#[derive(Debug, Clone)]
pub struct CheckContext {
    pub connection: String,
    pub exchange: ExchangeKind,
    pub checked_at: DateTime<Utc>,
    pub latency_ms: u64,
}

/// Judges `facts` against `policy`. The status is the first that applies in the precedence
/// table of the design (exchange trouble first, because it hides everything else; then the
/// key's own problems; then its rights, withdraw before the rest because it is the main rule).
pub fn judge(ctx: CheckContext, facts: &Facts, policy: &Policy) -> Verdict {
    let (status, message) = status_of(facts, policy, ctx.exchange);
    // The one place every message passes on its way to the store, alerts and the terminal: it
    // holds the exchange's own words, which are untrusted text.
    let message = printable_capped(&message, MAX_MESSAGE_CHARS);
    let warnings = warnings_of(facts, policy, ctx.checked_at);
    // A connected key whose withdraw right the exchange would not reveal still carries the
    // remedy for it: the main rule was not checked, and the person reading the verdict is told
    // where to check it by eye.
    let remedy = remedy_for(status, facts, ctx.exchange).or_else(|| {
        warnings
            .contains(&Warning::WithdrawUnverified)
            .then(|| warning_remedy(Warning::WithdrawUnverified, ctx.exchange))
    });
    Verdict {
        connection: ctx.connection,
        exchange: ctx.exchange,
        status,
        permissions: facts.permissions,
        ip_restricted: facts.ip_restricted,
        // A date an exchange reports (Binance's epoch ms, Bybit's `expiredAt`) may lie past year
        // 9999, which RFC 3339 cannot write with four digits: clamped like computed ones.
        expires_at: facts.expires_at.map(|at| at.min(expiry::latest())),
        latency_ms: ctx.latency_ms,
        message,
        remedy,
        warnings,
        checked_at: ctx.checked_at,
    }
}

fn status_of(facts: &Facts, policy: &Policy, exchange: ExchangeKind) -> (Status, String) {
    if let Some(problem) = facts.problems.iter().min_by_key(|p| p.kind) {
        let status = match problem.kind {
            ProblemKind::Unavailable => Status::ExchangeUnavailable,
            ProblemKind::RateLimited => Status::RateLimited,
            ProblemKind::ClockSkew => Status::ClockSkew,
            ProblemKind::WrongRegion => Status::WrongRegion,
            ProblemKind::InvalidKey => Status::InvalidKey,
            ProblemKind::IpNotAllowed => Status::IpNotAllowed,
        };
        return (status, problem.message.clone());
    }
    let p = &facts.permissions;
    if p.withdraw == Some(true) {
        return (
            Status::WithdrawEnabled,
            "the key has withdraw rights".to_string(),
        );
    }
    if policy.require_withdraw_verified && p.withdraw.is_none() {
        let mut message = format!(
            "{} does not reveal whether the key can withdraw, and this connection requires it \
             verified (require_withdraw_verified)",
            exchange.spec().display_name
        );
        for note in &facts.notes {
            message.push_str("; ");
            message.push_str(note);
        }
        return (Status::WithdrawUnverified, message);
    }
    if p.read == Some(false) {
        return (
            Status::NoReadPermission,
            "the key cannot read account data".to_string(),
        );
    }
    if policy.markets.spot && p.trade == Some(false) {
        return (
            Status::NoTradePermission,
            "the key has no spot trading right".to_string(),
        );
    }
    if policy.markets.futures && p.futures == Some(false) {
        return (
            Status::NoFuturesPermission,
            "the connection trades futures but the key has no futures right".to_string(),
        );
    }
    (Status::Connected, connected_summary(facts))
}

/// A one-line description of a healthy key, e.g. `read, trade; IP-bound; withdraw unknown`.
fn connected_summary(facts: &Facts) -> String {
    let p = &facts.permissions;
    let mut rights: Vec<&str> = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for (name, value) in [("read", p.read), ("trade", p.trade), ("futures", p.futures)] {
        match value {
            Some(true) => rights.push(name),
            None => unknown.push(name),
            Some(false) => {}
        }
    }
    if p.withdraw.is_none() {
        unknown.push("withdraw");
    }
    let mut parts = vec![if rights.is_empty() {
        "no rights confirmed".to_string()
    } else {
        rights.join(", ")
    }];
    match facts.ip_restricted {
        Some(true) => parts.push("IP-bound".to_string()),
        Some(false) => parts.push("not IP-bound".to_string()),
        None => {}
    }
    if !unknown.is_empty() {
        parts.push(format!("{} unknown", unknown.join(", ")));
    }
    parts.extend(facts.notes.iter().cloned());
    parts.join("; ")
}

fn warnings_of(facts: &Facts, policy: &Policy, now: DateTime<Utc>) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if policy.require_ip_whitelist && facts.ip_restricted == Some(false) {
        warnings.push(Warning::IpWhitelistMissing);
    }
    if !policy.markets.futures && facts.permissions.futures == Some(true) {
        warnings.push(Warning::FuturesNotNeeded);
    }
    if let Some(expires_at) = facts.expires_at {
        if expires_at - now <= policy.expiry_warning {
            warnings.push(Warning::KeyExpiresSoon);
        }
    }
    // A right is unverified only when the probe got to the key's rights and the exchange still
    // would not say: after a problem every right is unknown, and that says nothing about them.
    if !facts.has_problem() {
        if facts.permissions.withdraw.is_none() {
            warnings.push(Warning::WithdrawUnverified);
        }
        if policy.require_ip_whitelist && facts.ip_restricted.is_none() {
            warnings.push(Warning::IpBindingUnverified);
        }
    }
    warnings
}

#[cfg(test)]
mod tests;
