//! The verdict table: facts in, status / warnings / remedy out.

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::domain::{Permissions, Problem};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 12, 0, 0).unwrap()
}

fn ctx() -> CheckContext {
    CheckContext {
        connection: "alice-mexc-main".into(),
        exchange: ExchangeKind::Mexc,
        checked_at: now(),
        latency_ms: 42,
    }
}

fn spot() -> Policy {
    Policy {
        markets: Markets {
            spot: true,
            futures: false,
        },
        require_ip_whitelist: true,
        require_withdraw_verified: false,
        expiry_warning: Duration::days(14),
    }
}

fn require_withdraw_verified() -> Policy {
    Policy {
        require_withdraw_verified: true,
        ..spot()
    }
}

fn spot_and_futures() -> Policy {
    Policy {
        markets: Markets {
            spot: true,
            futures: true,
        },
        ..spot()
    }
}

/// A key with read and spot trade rights, no withdraw, no futures, IP-bound.
fn healthy() -> Facts {
    Facts {
        permissions: Permissions {
            read: Some(true),
            trade: Some(true),
            withdraw: Some(false),
            futures: Some(false),
        },
        ip_restricted: Some(true),
        ..Facts::default()
    }
}

fn with_perms(f: impl FnOnce(&mut Permissions)) -> Facts {
    let mut facts = healthy();
    f(&mut facts.permissions);
    facts
}

fn with_problems(problems: Vec<Problem>) -> Facts {
    Facts {
        problems,
        ..healthy()
    }
}

#[test]
fn status_table() {
    use Status::*;
    let cases: Vec<(&str, Facts, Policy, Status)> = vec![
        ("healthy spot key", healthy(), spot(), Connected),
        (
            "withdraw right beats everything about rights",
            with_perms(|p| {
                p.withdraw = Some(true);
                p.trade = Some(false);
                p.read = Some(false);
            }),
            spot(),
            WithdrawEnabled,
        ),
        (
            "no read",
            with_perms(|p| p.read = Some(false)),
            spot(),
            NoReadPermission,
        ),
        (
            "no trade",
            with_perms(|p| p.trade = Some(false)),
            spot(),
            NoTradePermission,
        ),
        (
            "no trade matters less than no read",
            with_perms(|p| {
                p.trade = Some(false);
                p.read = Some(false)
            }),
            spot(),
            NoReadPermission,
        ),
        (
            "futures missing on a spot connection is fine",
            healthy(),
            spot(),
            Connected,
        ),
        (
            "futures missing on a futures connection",
            healthy(),
            spot_and_futures(),
            NoFuturesPermission,
        ),
        (
            "futures-only connection does not need spot trade",
            with_perms(|p| {
                p.trade = Some(false);
                p.futures = Some(true)
            }),
            Policy {
                markets: Markets {
                    spot: false,
                    futures: true,
                },
                ..spot()
            },
            Connected,
        ),
        (
            "unknown rights are not a failure",
            with_perms(|p| {
                p.trade = None;
                p.withdraw = None
            }),
            spot(),
            Connected,
        ),
        (
            "an unknown withdraw right fails where the connection requires it verified",
            with_perms(|p| p.withdraw = None),
            require_withdraw_verified(),
            WithdrawUnverified,
        ),
        (
            "unverified withdraw before the lost rights",
            with_perms(|p| {
                p.withdraw = None;
                p.read = Some(false);
                p.trade = Some(false);
            }),
            require_withdraw_verified(),
            WithdrawUnverified,
        ),
        (
            "a known withdraw right beats requiring it verified",
            with_perms(|p| p.withdraw = Some(true)),
            require_withdraw_verified(),
            WithdrawEnabled,
        ),
        (
            "a verified key passes where verification is required",
            healthy(),
            require_withdraw_verified(),
            Connected,
        ),
        (
            "a problem before the rights wins over requiring them verified",
            Facts {
                problems: vec![Problem::invalid_key("bad signature")],
                ..with_perms(|p| p.withdraw = None)
            },
            require_withdraw_verified(),
            InvalidKey,
        ),
        (
            "unavailable hides everything",
            with_problems(vec![
                Problem::invalid_key("x"),
                Problem::unavailable("503"),
                Problem::rate_limited("429", None),
            ]),
            spot(),
            ExchangeUnavailable,
        ),
        (
            "rate limited before clock skew",
            with_problems(vec![
                Problem::clock_skew("a"),
                Problem::rate_limited("b", None),
            ]),
            spot(),
            RateLimited,
        ),
        (
            "clock skew before invalid key (a skewed clock fails every key)",
            with_problems(vec![Problem::invalid_key("a"), Problem::clock_skew("b")]),
            spot(),
            ClockSkew,
        ),
        (
            "invalid key before ip",
            with_problems(vec![
                Problem::ip_not_allowed("a"),
                Problem::invalid_key("b"),
            ]),
            spot(),
            InvalidKey,
        ),
        (
            "ip refusal before withdraw",
            Facts {
                problems: vec![Problem::ip_not_allowed(
                    "IP [1.2.3.4] not in the ip white list",
                )],
                ..with_perms(|p| p.withdraw = Some(true))
            },
            spot(),
            IpNotAllowed,
        ),
    ];
    for (name, facts, policy, expected) in cases {
        let verdict = judge(ctx(), &facts, &policy);
        assert_eq!(verdict.status, expected, "case: {name}");
        assert_eq!(
            verdict.remedy.is_none(),
            expected == Connected && facts.permissions.withdraw.is_some(),
            "case: {name}: only connected without an unverified withdraw right has no remedy"
        );
    }
}

#[test]
fn warnings_table() {
    use Warning::*;
    let in_days = |d: i64| Some(now() + Duration::days(d));
    let cases: Vec<(&str, Facts, Policy, Vec<Warning>)> = vec![
        ("none for a bound spot key", healthy(), spot(), vec![]),
        (
            "unbound key",
            Facts {
                ip_restricted: Some(false),
                ..healthy()
            },
            spot(),
            vec![IpWhitelistMissing],
        ),
        (
            "unbound key, operator does not require binding",
            Facts {
                ip_restricted: Some(false),
                ..healthy()
            },
            Policy {
                require_ip_whitelist: false,
                ..spot()
            },
            vec![],
        ),
        (
            "binding unknown where binding is required",
            Facts {
                ip_restricted: None,
                ..healthy()
            },
            spot(),
            vec![IpBindingUnverified],
        ),
        (
            "binding unknown where binding is not required",
            Facts {
                ip_restricted: None,
                ..healthy()
            },
            Policy {
                require_ip_whitelist: false,
                ..spot()
            },
            vec![],
        ),
        (
            "withdraw right unknown",
            with_perms(|p| p.withdraw = None),
            spot(),
            vec![WithdrawUnverified],
        ),
        (
            "withdraw right unknown, and the connection requires it verified",
            with_perms(|p| p.withdraw = None),
            require_withdraw_verified(),
            vec![WithdrawUnverified],
        ),
        (
            "rights unknown after a problem are not unverified: the probe never got to them",
            Facts {
                ip_restricted: None,
                problems: vec![Problem::invalid_key("revoked")],
                ..with_perms(|p| p.withdraw = None)
            },
            spot(),
            vec![],
        ),
        (
            "futures right on a spot connection",
            with_perms(|p| p.futures = Some(true)),
            spot(),
            vec![FuturesNotNeeded],
        ),
        (
            "futures right on a futures connection",
            with_perms(|p| p.futures = Some(true)),
            spot_and_futures(),
            vec![],
        ),
        (
            "expires in 5 days",
            Facts {
                expires_at: in_days(5),
                ..healthy()
            },
            spot(),
            vec![KeyExpiresSoon],
        ),
        (
            "expires in 30 days",
            Facts {
                expires_at: in_days(30),
                ..healthy()
            },
            spot(),
            vec![],
        ),
        (
            "all three ride along with a failing status",
            Facts {
                ip_restricted: Some(false),
                expires_at: in_days(1),
                problems: vec![Problem::unavailable("down")],
                ..with_perms(|p| p.futures = Some(true))
            },
            spot(),
            vec![IpWhitelistMissing, FuturesNotNeeded, KeyExpiresSoon],
        ),
    ];
    for (name, facts, policy, expected) in cases {
        assert_eq!(
            judge(ctx(), &facts, &policy).warnings,
            expected,
            "case: {name}"
        );
    }
}

#[test]
fn an_unverified_withdraw_right_names_where_to_look_on_that_exchange() {
    let facts = with_perms(|p| p.withdraw = None);
    let on = |exchange: ExchangeKind, policy: &Policy| {
        judge(CheckContext { exchange, ..ctx() }, &facts, policy)
    };
    // Passing: the remedy rides along with `connected`, naming the exchange's page and right.
    let gate = on(ExchangeKind::Gate, &spot());
    assert_eq!(gate.status, Status::Connected);
    let remedy = gate.remedy.expect("a remedy for the unverified right");
    assert!(remedy.contains("Gate's API Management page"), "{remedy}");
    assert!(remedy.contains("Withdrawal permission group"), "{remedy}");
    let mexc = on(ExchangeKind::Mexc, &spot()).remedy.unwrap();
    assert!(mexc.contains("SPOT_WITHDRAW_WRITE"), "{mexc}");
    // Failing: the status's remedy says the same and why the check fails.
    let failing = on(ExchangeKind::Mexc, &require_withdraw_verified());
    assert_eq!(failing.status, Status::WithdrawUnverified);
    assert!(
        failing.message.contains("MEXC does not reveal"),
        "{}",
        failing.message
    );
    let remedy = failing.remedy.unwrap();
    assert!(remedy.contains("MEXC's API Management page"), "{remedy}");
    assert!(remedy.contains("require_withdraw_verified"), "{remedy}");
    // Every exchange has its own words for the page.
    let remedies: std::collections::BTreeSet<String> = ExchangeKind::ALL
        .into_iter()
        .map(|e| warning_remedy(Warning::WithdrawUnverified, e))
        .collect();
    assert_eq!(remedies.len(), ExchangeKind::ALL.len());
    assert!(
        warning_remedy(Warning::IpBindingUnverified, ExchangeKind::Coinbase)
            .contains("IP allowlist")
    );
}

#[test]
fn ip_remedy_names_the_address_the_exchange_saw() {
    let facts = with_problems(vec![Problem::ip_not_allowed(
        "GET /api/v3/account: code 700006 IP [203.0.113.7] not in the ip white list",
    )]);
    let verdict = judge(ctx(), &facts, &spot());
    assert_eq!(verdict.status, Status::IpNotAllowed);
    assert!(verdict
        .remedy
        .unwrap()
        .contains("IP address 203.0.113.7 to"));
}

#[test]
fn message_is_the_deciding_problem_or_a_summary() {
    let down = judge(
        ctx(),
        &with_problems(vec![Problem::unavailable("GET /x: timed out")]),
        &spot(),
    );
    assert_eq!(down.message, "GET /x: timed out");
    let ok = judge(ctx(), &healthy(), &spot());
    assert_eq!(ok.message, "read, trade; IP-bound");
}

#[test]
fn the_exchanges_words_reach_the_message_without_control_characters_and_capped() {
    let hostile = format!(
        "GET /x: code 1 \u{1b}[2J\u{1b}]0;title\u{7}ok\r\nFAKE ROW \u{202E}{}",
        "x".repeat(5000)
    );
    let down = judge(
        ctx(),
        &with_problems(vec![Problem::unavailable(hostile)]),
        &spot(),
    );
    assert!(down
        .message
        .starts_with("GET /x: code 1  [2J ]0;title ok  FAKE ROW  xxx"));
    assert!(
        !down.message.chars().any(char::is_control),
        "{:?}",
        down.message
    );
    assert_eq!(
        down.message.chars().count(),
        crate::printable::MAX_MESSAGE_CHARS
    );
    // notes (a healthy key's summary) pass the same way
    let mut facts = healthy();
    facts
        .notes
        .push("status \u{1b}[31mRED\u{1b}[0m".to_string());
    let ok = judge(ctx(), &facts, &spot());
    assert_eq!(ok.message, "read, trade; IP-bound; status  [31mRED [0m");
}

#[test]
fn an_expiry_past_year_9999_is_clamped_and_the_verdict_round_trips() {
    let mut facts = healthy();
    facts.expires_at = Some(Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap());
    let verdict = judge(ctx(), &facts, &spot());
    assert_eq!(verdict.expires_at, Some(expiry::latest()));
    let json = serde_json::to_string(&verdict).unwrap();
    assert!(
        json.contains(r#""expires_at":"9999-12-31T23:59:59Z""#),
        "{json}"
    );
    assert_eq!(serde_json::from_str::<Verdict>(&json).unwrap(), verdict);
}

#[test]
fn json_shape_matches_the_design() {
    let verdict = judge(ctx(), &with_perms(|p| p.withdraw = None), &spot());
    let json = serde_json::to_value(&verdict).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "connection",
        "exchange",
        "status",
        "permissions",
        "ip_restricted",
        "expires_at",
        "latency_ms",
        "message",
        "remedy",
        "warnings",
        "checked_at",
    ];
    let mut sorted_keys = keys.clone();
    sorted_keys.sort();
    expected.sort();
    assert_eq!(sorted_keys, expected);
    assert_eq!(json["permissions"]["withdraw"], serde_json::Value::Null);
    assert_eq!(json["permissions"]["read"], true);
    assert_eq!(json["status"], "connected");
    assert_eq!(json["exchange"], "mexc");
    assert_eq!(json["checked_at"], "2026-11-25T12:00:00Z");
}
