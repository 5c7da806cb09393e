//! When to raise an alert: a state machine per connection, plus the incidents that belong to an
//! exchange or to this host rather than to one key. Pure: the caller passes the clock.
//!
//! Rules (design "Alert semantics"):
//! - One incident, one alert: an incident is (subject, status, started_at); a check repeating
//!   the same verdict raises nothing; a reminder goes out every `remind_every` (time, not checks).
//! - Key problems (`withdraw_enabled`, `invalid_key`, `ip_not_allowed`, a lost right) open an
//!   incident at once; a change to another key problem closes the old one and opens the new one.
//! - The incident resolves after `resolve_after` consecutive `connected` checks, so a flapping
//!   key (failing every other check) raises one alert, not one per check.
//! - `exchange_unavailable` counts only after `unavailable_after` checks in a row, and then
//!   belongs to the exchange when all its connections are down, to the host when every exchange
//!   is, and to the one connection only when another connection of its exchange proves the
//!   exchange answers. `clock_skew` is always one host-wide incident.
//! - `rate_limited` changes nothing. Warnings get one notice each time they appear, never a
//!   reminder. A right the exchange would not reveal (`withdraw_unverified`,
//!   `ip_binding_unverified`) is judged only on checks that reached the key's rights, and its
//!   notice is closed by a resolved notice once the exchange reveals the right.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AlertKind, Subject, Topic};
use crate::domain::{ExchangeKind, Status, Verdict, Warning};

/// The thresholds that apply to one connection (global `[alerts]` with its overrides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    pub unavailable_after: u32,
    pub resolve_after: u32,
    pub remind_every: Option<Duration>,
    pub send_resolved: bool,
}

/// An open incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    pub status: Status,
    pub started_at: DateTime<Utc>,
    pub last_notified_at: DateTime<Utc>,
    pub message: String,
    /// The remedy as the check gave it (the IP remedy names the address the exchange saw).
    #[serde(default)]
    pub remedy: Option<String>,
}

impl Incident {
    /// An incident no key change fixes (the host offline, an exchange or a connection's route
    /// to it unavailable, our clock): started `since`, announced `now`, without a remedy.
    fn without_remedy(
        status: Status,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        message: String,
    ) -> Incident {
        Incident {
            status,
            started_at: since,
            last_notified_at: now,
            message,
            remedy: None,
        }
    }
}

/// What the policy remembers about one connection between checks (persisted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionAlerts {
    pub exchange: ExchangeKind,
    /// The last status that counts (rate limiting is ignored), since when, how many in a row.
    pub status: Status,
    pub status_since: DateTime<Utc>,
    pub streak: u32,
    pub last_checked_at: DateTime<Utc>,
    pub last_message: String,
    /// The open key-level incident (a key problem), if any.
    pub incident: Option<Incident>,
    /// Warnings already noticed; a warning that goes away and comes back is noticed again.
    pub noticed: BTreeSet<Warning>,
}

/// Incidents that are not about one key: the exchange's or the host's (persisted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedIncidents {
    /// A single connection that cannot reach an exchange its siblings reach.
    pub connection_unavailable: BTreeMap<String, Incident>,
    pub exchange_unavailable: BTreeMap<ExchangeKind, Incident>,
    pub host_offline: Option<Incident>,
    pub clock_skew: Option<Incident>,
}

/// An alert the policy raised, before it is addressed to anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Raised {
    pub kind: AlertKind,
    pub subject: RaisedSubject,
    pub topic: Topic,
    pub started_at: DateTime<Utc>,
    pub message: String,
    /// The check's remedy when the alert comes from one; `None` lets the caller use the generic.
    pub remedy: Option<String>,
    pub previous: Option<Status>,
}

/// Whom a raised alert is about; the connection's details are filled in by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaisedSubject {
    Connection(String),
    Exchange(ExchangeKind),
    Host,
}

impl RaisedSubject {
    pub fn to_subject(&self, connection: impl Fn(&str) -> Subject) -> Subject {
        match self {
            RaisedSubject::Connection(name) => connection(name),
            RaisedSubject::Exchange(exchange) => Subject::Exchange {
                exchange: *exchange,
            },
            RaisedSubject::Host => Subject::Host,
        }
    }
}

/// Statuses that are a problem with the key itself, alerted per connection at once.
fn is_key_problem(status: Status) -> bool {
    matches!(
        status,
        Status::InvalidKey
            | Status::WrongRegion
            | Status::IpNotAllowed
            | Status::WithdrawEnabled
            | Status::WithdrawUnverified
            | Status::NoReadPermission
            | Status::NoTradePermission
            | Status::NoFuturesPermission
    )
}

/// Warnings worth a notice.
const NOTICED_WARNINGS: [Warning; 4] = [
    Warning::IpWhitelistMissing,
    Warning::KeyExpiresSoon,
    Warning::WithdrawUnverified,
    Warning::IpBindingUnverified,
];

/// Warnings about a right the exchange would not reveal. Their absence means something only
/// when the check reached the key's rights, and it means the exchange now reveals the right:
/// that closes the notice with a resolved one, so the operator and the owner know the right
/// was checked after all.
fn is_unverified_right(warning: Warning) -> bool {
    matches!(
        warning,
        Warning::WithdrawUnverified | Warning::IpBindingUnverified
    )
}

/// Feeds one verdict to a connection's state (`None` for a connection never seen before) and
/// returns the key-level alerts it raises. Shared incidents are [`evaluate_shared`]'s job.
pub fn on_verdict(
    state: &mut Option<ConnectionAlerts>,
    verdict: &Verdict,
    thresholds: &Thresholds,
) -> Vec<Raised> {
    if verdict.status == Status::RateLimited {
        if let Some(s) = state.as_mut() {
            s.last_checked_at = verdict.checked_at;
        }
        return Vec::new();
    }
    let s = state.get_or_insert_with(|| ConnectionAlerts {
        exchange: verdict.exchange,
        status: verdict.status,
        status_since: verdict.checked_at,
        streak: 0,
        last_checked_at: verdict.checked_at,
        last_message: verdict.message.clone(),
        incident: None,
        noticed: BTreeSet::new(),
    });
    if s.status == verdict.status {
        s.streak = s.streak.saturating_add(1);
    } else {
        s.status = verdict.status;
        s.status_since = verdict.checked_at;
        s.streak = 1;
    }
    s.exchange = verdict.exchange;
    s.last_checked_at = verdict.checked_at;
    s.last_message = verdict.message.clone();

    let name = RaisedSubject::Connection(verdict.connection.clone());
    let mut raised = Vec::new();
    if is_key_problem(verdict.status) {
        let same = s
            .incident
            .as_ref()
            .is_some_and(|i| i.status == verdict.status);
        if !same {
            let previous = s.incident.as_ref().map(|i| i.status);
            s.incident = Some(Incident {
                status: verdict.status,
                started_at: verdict.checked_at,
                last_notified_at: verdict.checked_at,
                message: verdict.message.clone(),
                remedy: verdict.remedy.clone(),
            });
            raised.push(Raised {
                kind: AlertKind::Opened,
                subject: name.clone(),
                topic: Topic::Status(verdict.status),
                started_at: verdict.checked_at,
                message: verdict.message.clone(),
                remedy: verdict.remedy.clone(),
                previous,
            });
        }
    } else if verdict.status == Status::Connected && s.streak >= thresholds.resolve_after {
        if let Some(incident) = s.incident.take() {
            if thresholds.send_resolved {
                raised.push(resolved(name.clone(), &incident, verdict.checked_at));
            }
        }
    }

    // Warnings are only known when the check reached the key.
    if !matches!(
        verdict.status,
        Status::ExchangeUnavailable | Status::ClockSkew | Status::RateLimited
    ) {
        for warning in NOTICED_WARNINGS {
            let unverified = is_unverified_right(warning);
            if unverified && !verdict.status.reached_rights() {
                continue;
            }
            // The `withdraw_unverified` status (require_withdraw_verified) is an incident of
            // its own about the same thing: no second message, and no resolved notice for a
            // notice it took over.
            let covered = warning == Warning::WithdrawUnverified
                && verdict.status == Status::WithdrawUnverified;
            let present = verdict.warnings.contains(&warning) && !covered;
            if present && s.noticed.insert(warning) {
                raised.push(Raised {
                    kind: AlertKind::Notice,
                    subject: name.clone(),
                    topic: Topic::Warning(warning),
                    started_at: verdict.checked_at,
                    message: warning_text(warning, verdict),
                    remedy: None,
                    previous: None,
                });
            } else if !present
                && s.noticed.remove(&warning)
                && unverified
                && !covered
                && thresholds.send_resolved
            {
                raised.push(Raised {
                    kind: AlertKind::Resolved,
                    subject: name.clone(),
                    topic: Topic::Warning(warning),
                    started_at: verdict.checked_at,
                    message: revealed_text(warning, verdict),
                    remedy: None,
                    previous: None,
                });
            }
        }
    }
    raised
}

fn warning_text(warning: Warning, verdict: &Verdict) -> String {
    match warning {
        Warning::IpWhitelistMissing => {
            "the key is not bound to an IP whitelist; anyone holding it can use it from anywhere"
                .to_string()
        }
        Warning::KeyExpiresSoon => match verdict.expires_at {
            Some(at) => format!("the key expires on {}", at.format("%Y-%m-%d %H:%M UTC")),
            None => "the key expires soon".to_string(),
        },
        Warning::FuturesNotNeeded => "the key holds futures rights it does not need".to_string(),
        Warning::WithdrawUnverified => format!(
            "{} does not reveal whether the key can withdraw funds, so the platform's main rule \
             (no withdraw rights) could not be checked ({})",
            verdict.exchange.spec().display_name,
            verdict.message
        ),
        Warning::IpBindingUnverified => format!(
            "{} does not reveal whether the key is bound to an IP whitelist",
            verdict.exchange.spec().display_name
        ),
    }
}

/// The resolved notice of an unverified right: the exchange now tells.
fn revealed_text(warning: Warning, verdict: &Verdict) -> String {
    let exchange = verdict.exchange.spec().display_name;
    match warning {
        Warning::IpBindingUnverified => {
            format!("{exchange} now reveals whether the key is bound to an IP whitelist")
        }
        _ => format!("{exchange} now reveals whether the key can withdraw funds"),
    }
}

fn resolved(subject: RaisedSubject, incident: &Incident, now: DateTime<Utc>) -> Raised {
    Raised {
        kind: AlertKind::Resolved,
        subject,
        topic: Topic::Status(incident.status),
        started_at: incident.started_at,
        message: format!(
            "{} since {}, resolved at {}",
            incident.status,
            incident.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
            now.format("%Y-%m-%d %H:%M:%S UTC")
        ),
        remedy: None,
        previous: None,
    }
}

fn opened(subject: RaisedSubject, status: Status, since: DateTime<Utc>, message: String) -> Raised {
    Raised {
        kind: AlertKind::Opened,
        subject,
        topic: Topic::Status(status),
        started_at: since,
        message,
        remedy: None,
        previous: None,
    }
}

/// One configured connection as [`evaluate_shared`] sees it.
pub struct Member<'a> {
    pub name: &'a str,
    pub exchange: ExchangeKind,
    pub state: Option<&'a ConnectionAlerts>,
    pub thresholds: Thresholds,
}

/// Opens and resolves the incidents that belong to an exchange or the host, and sends the
/// reminders of every open incident. Run it after verdicts and on a timer.
pub fn evaluate_shared(
    members: &[Member<'_>],
    shared: &mut SharedIncidents,
    defaults: &Thresholds,
    now: DateTime<Utc>,
) -> Vec<Raised> {
    let mut raised = Vec::new();
    let down = |m: &Member| {
        m.state.is_some_and(|s| {
            s.status == Status::ExchangeUnavailable && s.streak >= m.thresholds.unavailable_after
        })
    };
    // A connection proves its exchange answered during [from, to] when its current run of
    // checks that reached the exchange overlaps that window. A sibling that recovered after the
    // failing one was last checked proves nothing yet (the failing one may recover too).
    let reaches = |m: &Member, from: DateTime<Utc>, to: DateTime<Utc>| {
        m.state.is_some_and(|s| {
            s.status != Status::ExchangeUnavailable
                && s.last_checked_at >= from
                && s.status_since <= to
        })
    };
    let mut by_exchange: BTreeMap<ExchangeKind, Vec<&Member>> = BTreeMap::new();
    for m in members {
        by_exchange.entry(m.exchange).or_default().push(m);
    }
    let all_down = |e: &ExchangeKind| by_exchange[e].iter().all(|m| down(m));
    let down_since = |e: &ExchangeKind| {
        by_exchange[e]
            .iter()
            .filter_map(|m| m.state.map(|s| s.status_since))
            .min()
            .unwrap_or(now)
    };
    let last_failure = |e: &ExchangeKind| {
        by_exchange[e]
            .iter()
            .filter_map(|m| m.state.map(|s| s.last_checked_at))
            .max()
            .unwrap_or(now)
    };
    let exchanges_down: Vec<ExchangeKind> = by_exchange
        .keys()
        .copied()
        .filter(|e| all_down(e))
        .collect();
    let host_offline = by_exchange.len() >= 2 && exchanges_down.len() == by_exchange.len();

    // The host: every exchange unreachable at once is this host's network.
    match (&shared.host_offline, host_offline) {
        (None, true) => {
            let since = by_exchange.keys().map(down_since).min().unwrap_or(now);
            shared.host_offline = Some(Incident::without_remedy(
                Status::ExchangeUnavailable,
                since,
                now,
                "no exchange answers: this host's network or DNS looks down".to_string(),
            ));
            raised.push(opened(
                RaisedSubject::Host,
                Status::ExchangeUnavailable,
                since,
                "no exchange answers: this host's network or DNS looks down".to_string(),
            ));
            // The exchange incidents are folded into the host's.
            shared.exchange_unavailable.clear();
            shared.connection_unavailable.clear();
        }
        (Some(_), false) if exchanges_down.len() < by_exchange.len() => {
            let incident = shared.host_offline.take().expect("matched Some");
            if defaults.send_resolved {
                raised.push(resolved(RaisedSubject::Host, &incident, now));
            }
        }
        _ => {}
    }

    // Each exchange: all its connections down, and another exchange proves the host is online.
    if shared.host_offline.is_none() {
        for (exchange, connections) in &by_exchange {
            let open = shared.exchange_unavailable.contains_key(exchange);
            if all_down(exchange) && !open {
                let since = down_since(exchange);
                let proven = by_exchange.len() == 1
                    || members.iter().any(|m| {
                        m.exchange != *exchange && reaches(m, since, last_failure(exchange))
                    });
                if proven {
                    let message = connections
                        .iter()
                        .find_map(|m| m.state.map(|s| s.last_message.clone()))
                        .unwrap_or_default();
                    shared.exchange_unavailable.insert(
                        *exchange,
                        Incident::without_remedy(
                            Status::ExchangeUnavailable,
                            since,
                            now,
                            message.clone(),
                        ),
                    );
                    for m in connections {
                        shared.connection_unavailable.remove(m.name);
                    }
                    raised.push(opened(
                        RaisedSubject::Exchange(*exchange),
                        Status::ExchangeUnavailable,
                        since,
                        message,
                    ));
                }
            } else if open
                && connections.iter().any(|m| {
                    m.state
                        .is_some_and(|s| s.status != Status::ExchangeUnavailable)
                })
            {
                let incident = shared.exchange_unavailable.remove(exchange).expect("open");
                if defaults.send_resolved {
                    raised.push(resolved(RaisedSubject::Exchange(*exchange), &incident, now));
                }
            }
        }
    }

    // One connection that cannot reach an exchange its siblings reach.
    for m in members {
        let covered =
            shared.host_offline.is_some() || shared.exchange_unavailable.contains_key(&m.exchange);
        let open = shared.connection_unavailable.contains_key(m.name);
        let state = m.state;
        if down(m) && !open && !covered {
            let since = state.map(|s| s.status_since).unwrap_or(now);
            let last = state.map(|s| s.last_checked_at).unwrap_or(now);
            let sibling_answers = by_exchange[&m.exchange]
                .iter()
                .any(|other| other.name != m.name && reaches(other, since, last));
            if sibling_answers {
                let message = state.map(|s| s.last_message.clone()).unwrap_or_default();
                shared.connection_unavailable.insert(
                    m.name.to_string(),
                    Incident::without_remedy(
                        Status::ExchangeUnavailable,
                        since,
                        now,
                        message.clone(),
                    ),
                );
                raised.push(opened(
                    RaisedSubject::Connection(m.name.to_string()),
                    Status::ExchangeUnavailable,
                    since,
                    message,
                ));
            }
        } else if open && state.is_some_and(|s| s.status != Status::ExchangeUnavailable) {
            let incident = shared.connection_unavailable.remove(m.name).expect("open");
            let connected = state.is_some_and(|s| s.status == Status::Connected);
            if m.thresholds.send_resolved && connected {
                raised.push(resolved(
                    RaisedSubject::Connection(m.name.to_string()),
                    &incident,
                    now,
                ));
            }
        }
    }
    // Connections removed from the config take their incidents with them.
    shared
        .connection_unavailable
        .retain(|name, _| members.iter().any(|m| m.name == name));

    // The clock: one incident for the host, whichever keys noticed it.
    let skewed: Vec<&Member> = members
        .iter()
        .filter(|m| m.state.is_some_and(|s| s.status == Status::ClockSkew))
        .collect();
    match (&shared.clock_skew, skewed.first()) {
        (None, Some(first)) => {
            let state = first.state.expect("filtered on state");
            shared.clock_skew = Some(Incident::without_remedy(
                Status::ClockSkew,
                state.status_since,
                now,
                state.last_message.clone(),
            ));
            raised.push(opened(
                RaisedSubject::Host,
                Status::ClockSkew,
                state.status_since,
                state.last_message.clone(),
            ));
        }
        (Some(_), None) => {
            let incident = shared.clock_skew.take().expect("matched Some");
            if defaults.send_resolved {
                raised.push(resolved(RaisedSubject::Host, &incident, now));
            }
        }
        _ => {}
    }

    // Reminders for the host's incidents (critical: nothing on this host can be checked).
    for incident in [shared.host_offline.as_mut(), shared.clock_skew.as_mut()]
        .into_iter()
        .flatten()
    {
        if let Some(reminder) = reminder(RaisedSubject::Host, incident, defaults.remind_every, now)
        {
            raised.push(reminder);
        }
    }
    raised
}

/// A reminder for a connection's open key incident, when `remind_every` has passed since it
/// was last told. Critical incidents only: an exchange outage is not re-announced.
pub fn remind_key(
    name: &str,
    state: &mut ConnectionAlerts,
    thresholds: &Thresholds,
    now: DateTime<Utc>,
) -> Option<Raised> {
    let incident = state.incident.as_mut()?;
    reminder(
        RaisedSubject::Connection(name.to_string()),
        incident,
        thresholds.remind_every,
        now,
    )
}

fn reminder(
    subject: RaisedSubject,
    incident: &mut Incident,
    every: Option<Duration>,
    now: DateTime<Utc>,
) -> Option<Raised> {
    let due = chrono::Duration::from_std(every?).unwrap_or(chrono::Duration::MAX);
    if now - incident.last_notified_at < due {
        return None;
    }
    incident.last_notified_at = now;
    Some(Raised {
        kind: AlertKind::Reminder,
        subject,
        topic: Topic::Status(incident.status),
        started_at: incident.started_at,
        message: incident.message.clone(),
        remedy: incident.remedy.clone(),
        previous: None,
    })
}

#[cfg(test)]
mod tests;
