//! The alert policy, check by check.

use chrono::TimeZone;

use super::*;
use crate::domain::{Permissions, Severity};

const T: Thresholds = Thresholds {
    unavailable_after: 2,
    resolve_after: 2,
    remind_every: Some(Duration::from_secs(3600)),
    send_resolved: true,
};

fn at(minute: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap() + chrono::Duration::minutes(minute)
}

fn verdict(name: &str, exchange: ExchangeKind, status: Status, minute: i64) -> Verdict {
    Verdict {
        connection: name.into(),
        exchange,
        status,
        permissions: Permissions::default(),
        ip_restricted: Some(true),
        expires_at: None,
        latency_ms: 5,
        message: format!("{status} at {minute}"),
        remedy: None,
        warnings: vec![],
        checked_at: at(minute),
    }
}

/// Feeds `statuses` (one per minute) to one connection; returns the kinds and topics raised.
fn run(statuses: &[Status]) -> Vec<(AlertKind, &'static str)> {
    let mut state = None;
    let mut out = Vec::new();
    for (i, status) in statuses.iter().enumerate() {
        let v = verdict("alice", ExchangeKind::Mexc, *status, i as i64);
        for r in on_verdict(&mut state, &v, &T) {
            let topic = match r.topic {
                Topic::Status(s) => s.name(),
                Topic::Warning(w) => w.name(),
            };
            out.push((r.kind, topic));
        }
    }
    out
}

use AlertKind::*;
use Status::*;

#[test]
fn withdraw_enabled_alerts_at_once_and_resolves_after_two_connected_checks() {
    assert_eq!(
        run(&[
            Connected,
            WithdrawEnabled,
            WithdrawEnabled,
            Connected,
            Connected
        ]),
        vec![(Opened, "withdraw_enabled"), (Resolved, "withdraw_enabled")]
    );
}

#[test]
fn repeating_a_verdict_sends_nothing() {
    assert_eq!(run(&[Connected; 10]), vec![]);
    assert_eq!(run(&[InvalidKey; 10]), vec![(Opened, "invalid_key")]);
}

#[test]
fn flapping_raises_one_alert_not_one_per_check() {
    let flapping: Vec<Status> = (0..20)
        .map(|i| if i % 2 == 0 { InvalidKey } else { Connected })
        .collect();
    assert_eq!(run(&flapping), vec![(Opened, "invalid_key")]);
}

#[test]
fn a_change_between_key_problems_opens_the_new_one_naming_the_old() {
    let mut state = None;
    on_verdict(
        &mut state,
        &verdict("a", ExchangeKind::Mexc, NoTradePermission, 0),
        &T,
    );
    let raised = on_verdict(
        &mut state,
        &verdict("a", ExchangeKind::Mexc, InvalidKey, 1),
        &T,
    );
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].topic, Topic::Status(InvalidKey));
    assert_eq!(raised[0].previous, Some(NoTradePermission));
}

#[test]
fn rate_limiting_and_outages_neither_open_nor_resolve_key_incidents() {
    assert_eq!(
        run(&[
            InvalidKey,
            RateLimited,
            ExchangeUnavailable,
            RateLimited,
            InvalidKey
        ]),
        vec![(Opened, "invalid_key")]
    );
    assert_eq!(
        run(&[Connected, RateLimited, RateLimited, Connected]),
        vec![]
    );
}

#[test]
fn no_resolved_notice_when_send_resolved_is_off() {
    let quiet = Thresholds {
        send_resolved: false,
        ..T
    };
    let mut state = None;
    let mut raised = Vec::new();
    for (i, s) in [IpNotAllowed, Connected, Connected, Connected]
        .iter()
        .enumerate()
    {
        raised.extend(on_verdict(
            &mut state,
            &verdict("a", ExchangeKind::Kucoin, *s, i as i64),
            &quiet,
        ));
    }
    assert_eq!(raised.len(), 1);
    assert!(state.unwrap().incident.is_none(), "closed all the same");
}

#[test]
fn warnings_get_one_notice_and_another_when_they_come_back() {
    let mut state = None;
    let mut notices = 0;
    for (i, warned) in [true, true, true, false, true, true].iter().enumerate() {
        let mut v = verdict("a", ExchangeKind::Mexc, Connected, i as i64);
        if *warned {
            v.warnings = vec![Warning::IpWhitelistMissing, Warning::FuturesNotNeeded];
        }
        notices += on_verdict(&mut state, &v, &T).len();
    }
    assert_eq!(notices, 2);
}

/// Feeds (status, warnings) one per minute to one connection; returns what each check raised.
fn run_warned(checks: &[(Status, &[Warning])]) -> Vec<Vec<(AlertKind, &'static str)>> {
    let mut state = None;
    checks
        .iter()
        .enumerate()
        .map(|(i, (status, warnings))| {
            let mut v = verdict("a", ExchangeKind::Gate, *status, i as i64);
            v.warnings = warnings.to_vec();
            let raised = on_verdict(&mut state, &v, &T);
            // Never a reminder for a warning: only incidents are reminded.
            let mut memory = state.clone().unwrap();
            assert!(remind_key("a", &mut memory, &T, at(i as i64 + 600))
                .is_none_or(|r| matches!(r.topic, Topic::Status(_))));
            raised
                .into_iter()
                .map(|r| {
                    let topic = match r.topic {
                        Topic::Status(s) => s.name(),
                        Topic::Warning(w) => w.name(),
                    };
                    (r.kind, topic)
                })
                .collect()
        })
        .collect()
}

#[test]
fn an_unverified_right_is_noticed_once_and_resolved_when_the_exchange_reveals_it() {
    const W: &[Warning] = &[Warning::WithdrawUnverified];
    let raised = run_warned(&[
        (Connected, W),
        (Connected, W),
        // A check that never reached the rights says nothing about them either way.
        (ExchangeUnavailable, &[]),
        (RateLimited, &[]),
        (Connected, W),
        (Connected, &[]),
        (Connected, &[]),
    ]);
    let notice = vec![(Notice, "withdraw_unverified")];
    let resolved = vec![(Resolved, "withdraw_unverified")];
    assert_eq!(
        raised,
        vec![notice, vec![], vec![], vec![], vec![], resolved, vec![]]
    );
}

#[test]
fn an_invalid_key_between_does_not_resolve_or_repeat_an_unverified_right() {
    let raised = run_warned(&[
        (Connected, &[Warning::IpBindingUnverified]),
        (InvalidKey, &[]),
        (Connected, &[Warning::IpBindingUnverified]),
    ]);
    assert_eq!(
        raised,
        vec![
            vec![(Notice, "ip_binding_unverified")],
            vec![(Opened, "invalid_key")],
            vec![],
        ]
    );
}

#[test]
fn the_withdraw_unverified_status_is_one_incident_not_an_incident_and_a_notice() {
    const W: &[Warning] = &[Warning::WithdrawUnverified];
    let raised = run_warned(&[
        (WithdrawUnverified, W),
        (WithdrawUnverified, W),
        (Connected, &[]),
        (Connected, &[]),
    ]);
    assert_eq!(
        raised,
        vec![
            vec![(Opened, "withdraw_unverified")],
            vec![],
            vec![],
            vec![(Resolved, "withdraw_unverified")],
        ]
    );
}

#[test]
fn reminders_follow_time_not_checks() {
    let mut state = None;
    on_verdict(
        &mut state,
        &verdict("a", ExchangeKind::Mexc, WithdrawEnabled, 0),
        &T,
    );
    let state = state.as_mut().unwrap();
    assert!(remind_key("a", state, &T, at(59)).is_none());
    let r = remind_key("a", state, &T, at(60)).expect("an hour later");
    assert_eq!((r.kind, r.started_at), (Reminder, at(0)));
    assert!(remind_key("a", state, &T, at(61)).is_none());
    assert!(remind_key("a", state, &T, at(120)).is_some());
}

/// A little world of connections for the shared incidents.
struct World {
    states: BTreeMap<String, Option<ConnectionAlerts>>,
    exchanges: BTreeMap<String, ExchangeKind>,
    shared: SharedIncidents,
}

impl World {
    fn new(connections: &[(&str, ExchangeKind)]) -> World {
        World {
            states: connections
                .iter()
                .map(|(n, _)| (n.to_string(), None))
                .collect(),
            exchanges: connections
                .iter()
                .map(|(n, e)| (n.to_string(), *e))
                .collect(),
            shared: SharedIncidents::default(),
        }
    }

    /// Checks `name` at `minute` with `status`, then evaluates; returns what was raised.
    fn check(
        &mut self,
        name: &str,
        status: Status,
        minute: i64,
    ) -> Vec<(AlertKind, RaisedSubject, &'static str)> {
        let v = verdict(name, self.exchanges[name], status, minute);
        let mut raised = on_verdict(self.states.get_mut(name).unwrap(), &v, &T);
        let members: Vec<Member> = self
            .states
            .iter()
            .map(|(n, s)| Member {
                name: n,
                exchange: self.exchanges[n],
                state: s.as_ref(),
                thresholds: T,
            })
            .collect();
        raised.extend(evaluate_shared(&members, &mut self.shared, &T, at(minute)));
        raised
            .into_iter()
            .map(|r| {
                let topic = match r.topic {
                    Topic::Status(s) => s.name(),
                    Topic::Warning(w) => w.name(),
                };
                (r.kind, r.subject, topic)
            })
            .collect()
    }
}

#[test]
fn an_exchange_outage_is_one_alert_for_the_exchange_not_one_per_key() {
    let mut w = World::new(&[
        ("a", ExchangeKind::Mexc),
        ("b", ExchangeKind::Mexc),
        ("c", ExchangeKind::Kucoin),
    ]);
    for (name, minute) in [("a", 0), ("b", 0), ("c", 0)] {
        assert!(w.check(name, Connected, minute).is_empty());
    }
    let mut raised = Vec::new();
    for minute in 1..=4 {
        raised.extend(w.check("a", ExchangeUnavailable, minute));
        raised.extend(w.check("b", ExchangeUnavailable, minute));
        raised.extend(w.check("c", Connected, minute));
    }
    assert_eq!(
        raised,
        vec![(
            Opened,
            RaisedSubject::Exchange(ExchangeKind::Mexc),
            "exchange_unavailable"
        )]
    );
    let mut raised = w.check("a", Connected, 5);
    raised.extend(w.check("b", Connected, 5));
    assert_eq!(
        raised,
        vec![(
            Resolved,
            RaisedSubject::Exchange(ExchangeKind::Mexc),
            "exchange_unavailable"
        )]
    );
}

#[test]
fn one_check_of_unavailable_is_not_an_outage() {
    let mut w = World::new(&[("a", ExchangeKind::Mexc), ("c", ExchangeKind::Kucoin)]);
    w.check("c", Connected, 0);
    let mut raised = w.check("a", ExchangeUnavailable, 1);
    raised.extend(w.check("c", Connected, 1));
    raised.extend(w.check("a", Connected, 2));
    assert!(raised.is_empty(), "{raised:?}");
}

#[test]
fn every_exchange_down_at_once_is_this_hosts_network() {
    let mut w = World::new(&[("a", ExchangeKind::Mexc), ("c", ExchangeKind::Kucoin)]);
    w.check("a", Connected, 0);
    w.check("c", Connected, 0);
    let mut raised = Vec::new();
    for minute in 1..=3 {
        raised.extend(w.check("a", ExchangeUnavailable, minute));
        raised.extend(w.check("c", ExchangeUnavailable, minute));
    }
    assert_eq!(
        raised,
        vec![(Opened, RaisedSubject::Host, "exchange_unavailable")]
    );
    let raised = w.check("c", Connected, 4);
    assert_eq!(
        raised,
        vec![(Resolved, RaisedSubject::Host, "exchange_unavailable")]
    );
}

#[test]
fn one_key_that_cannot_reach_an_exchange_its_sibling_reaches_is_its_own_alert() {
    let mut w = World::new(&[("a", ExchangeKind::Mexc), ("b", ExchangeKind::Mexc)]);
    let mut raised = Vec::new();
    for minute in 0..3 {
        raised.extend(w.check("a", ExchangeUnavailable, minute));
        raised.extend(w.check("b", Connected, minute));
    }
    assert_eq!(
        raised,
        vec![(
            Opened,
            RaisedSubject::Connection("a".into()),
            "exchange_unavailable"
        )]
    );
}

#[test]
fn clock_skew_is_one_host_alert_whatever_the_number_of_keys() {
    let mut w = World::new(&[
        ("a", ExchangeKind::Mexc),
        ("b", ExchangeKind::Mexc),
        ("c", ExchangeKind::Kucoin),
    ]);
    let mut raised = Vec::new();
    for name in ["a", "b", "c"] {
        raised.extend(w.check(name, ClockSkew, 0));
    }
    assert_eq!(raised, vec![(Opened, RaisedSubject::Host, "clock_skew")]);
    let mut raised = Vec::new();
    for name in ["a", "b", "c"] {
        raised.extend(w.check(name, Connected, 1));
    }
    assert_eq!(raised, vec![(Resolved, RaisedSubject::Host, "clock_skew")]);
}

#[test]
fn severity_of_statuses_is_what_the_design_says() {
    assert_eq!(WithdrawEnabled.severity(), Severity::Critical);
    assert_eq!(ExchangeUnavailable.severity(), Severity::Warning);
}
