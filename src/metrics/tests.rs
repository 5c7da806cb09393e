use chrono::{TimeZone, Utc};

use super::connections::CONNECTION_FAMILIES;
use super::{labelled_reference, Metrics};
use crate::domain::{ExchangeKind, Permissions, Status, Verdict, Warning};

fn verdict(connection: &str, exchange: ExchangeKind, status: Status) -> Verdict {
    Verdict {
        expires_at: Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()),
        latency_ms: 120,
        ..Verdict::sample(connection, exchange, status)
    }
}

/// The value of the series `series` (name plus `{labels}` exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<String> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.to_string())
    })
}

/// Asserts each `(series, value)` of `expected` against the rendered `text`, naming the series
/// that differs.
#[track_caller]
fn assert_values(text: &str, expected: &[(&str, &str)]) {
    for (series, want) in expected {
        assert_eq!(
            value(text, series).as_deref(),
            Some(*want),
            "{series} in\n{text}"
        );
    }
}

fn status_series(conn: &str, exchange: &str, status: &str) -> String {
    format!(
        "keywarden_connection_status{{connection=\"{conn}\",exchange=\"{exchange}\",status=\"{status}\"}}"
    )
}

#[test]
fn observe_renders_every_series() {
    let m = Metrics::new();
    m.observe(&verdict("alice", ExchangeKind::Mexc, Status::Connected));
    let t = m.render();
    for status in Status::ALL {
        let expected = if status == Status::Connected {
            "1"
        } else {
            "0"
        };
        assert_eq!(
            value(&t, &status_series("alice", "mexc", status.name())).as_deref(),
            Some(expected),
            "{status}\n{t}"
        );
    }
    let l = "connection=\"alice\",exchange=\"mexc\"";
    let mexc = "exchange=\"mexc\"";
    let version = env!("CARGO_PKG_VERSION");
    assert_values(
        &t,
        &[
            (&format!("keywarden_connection_up{{{l}}}"), "1"),
            (
                &format!("keywarden_key_permission{{{l},permission=\"read\"}}"),
                "1",
            ),
            (
                &format!("keywarden_key_permission{{{l},permission=\"withdraw\"}}"),
                "0",
            ),
            (&format!("keywarden_key_ip_restricted{{{l}}}"), "1"),
            (
                &format!("keywarden_key_expiry_timestamp_seconds{{{l}}}"),
                "1893553445",
            ),
            (
                &format!("keywarden_last_check_timestamp_seconds{{{l}}}"),
                "1748779200",
            ),
            (
                &format!("keywarden_check_duration_seconds_bucket{{{mexc},le=\"0.1\"}}"),
                "0",
            ),
            (
                &format!("keywarden_check_duration_seconds_bucket{{{mexc},le=\"0.25\"}}"),
                "1",
            ),
            (
                &format!("keywarden_check_duration_seconds_sum{{{mexc}}}"),
                "0.12",
            ),
            (
                &format!("keywarden_checks_total{{{mexc},status=\"connected\"}}"),
                "1",
            ),
            (
                &format!("keywarden_build_info{{version=\"{version}\"}}"),
                "1",
            ),
            ("keywarden_alert_outbox_depth", "0"),
            ("keywarden_store_size_bytes", "0"),
        ],
    );
    // Every family has a HELP and a TYPE line.
    for line in t.lines().filter(|l| l.starts_with("# HELP ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(name.starts_with("keywarden_"), "{line}");
        assert!(t.contains(&format!("# TYPE {name} ")), "{name}");
    }
}

#[test]
fn status_change_moves_the_one() {
    let m = Metrics::new();
    m.observe(&verdict("alice", ExchangeKind::Mexc, Status::Connected));
    m.observe(&verdict(
        "alice",
        ExchangeKind::Mexc,
        Status::WithdrawEnabled,
    ));
    let t = m.render();
    let ones: Vec<&str> = t
        .lines()
        .filter(|l| l.starts_with("keywarden_connection_status{") && l.ends_with(" 1"))
        .collect();
    assert_eq!(
        ones,
        [format!(
            "{} 1",
            status_series("alice", "mexc", "withdraw_enabled")
        )]
    );
    assert_values(
        &t,
        &[
            (&status_series("alice", "mexc", "connected"), "0"),
            (
                "keywarden_connection_up{connection=\"alice\",exchange=\"mexc\"}",
                "0",
            ),
        ],
    );
}

#[test]
fn unknown_facts_are_absent_and_stale_series_go() {
    let m = Metrics::new();
    let mut v = verdict("alice", ExchangeKind::Kucoin, Status::Connected);
    let t = m.render();
    assert!(!t.contains("permission=\"futures\""), "{t}");
    m.observe(&v);
    let t = m.render();
    assert!(!t.contains("permission=\"futures\""), "{t}");
    assert!(t.contains("permission=\"withdraw\""), "{t}");

    // withdraw known → unknown, IP binding and expiry unknown: their series go away.
    v.permissions.withdraw = None;
    v.ip_restricted = None;
    v.expires_at = None;
    m.observe(&v);
    let t = m.render();
    assert!(!t.contains("permission=\"withdraw\""), "{t}");
    assert!(t.contains("permission=\"read\""), "{t}");
    assert!(!t.contains("keywarden_key_ip_restricted{"), "{t}");
    assert!(
        !t.contains("keywarden_key_expiry_timestamp_seconds{"),
        "{t}"
    );
}

#[test]
fn forget_removes_only_that_connection() {
    let m = Metrics::new();
    m.observe(&verdict("alice", ExchangeKind::Mexc, Status::Connected));
    m.observe(&verdict("bob", ExchangeKind::Mexc, Status::InvalidKey));
    m.forget("alice", ExchangeKind::Mexc);
    let t = m.render();
    assert!(!t.contains("connection=\"alice\""), "{t}");
    assert_values(&t, &[(&status_series("bob", "mexc", "invalid_key"), "1")]);
    assert_eq!(
        t.lines()
            .filter(|l| l.starts_with("keywarden_connection_status{connection=\"bob\""))
            .count(),
        Status::ALL.len()
    );
    for family in [
        "keywarden_connection_up{",
        "keywarden_key_permission{",
        "keywarden_key_ip_restricted{",
        "keywarden_key_expiry_timestamp_seconds{",
        "keywarden_last_check_timestamp_seconds{",
    ] {
        assert!(
            t.lines()
                .any(|l| l.starts_with(family) && l.contains("connection=\"bob\"")),
            "{family}\n{t}"
        );
    }
    // Forgetting an unknown connection, or one under another exchange, is harmless.
    m.forget("nobody", ExchangeKind::Okx);
    m.forget("bob", ExchangeKind::Kucoin);
    assert!(m.render().contains("connection=\"bob\""));
}

/// The hand-written per-connection families are exactly what the prometheus crate's
/// `TextEncoder` writes for the same series held as `IntGaugeVec`s, escaping and order
/// included.
#[test]
fn connection_families_match_the_prometheus_crate_byte_for_byte() {
    let m = Metrics::new();
    let reference = labelled_reference::LabelledConnectionSeries::new();
    let both = |v: &Verdict| {
        m.observe(v);
        reference.show(v);
    };
    both(&verdict("alice", ExchangeKind::Mexc, Status::Connected));
    let mut bob = verdict(
        "bob.kucoin_1",
        ExchangeKind::Kucoin,
        Status::WithdrawEnabled,
    );
    bob.permissions.withdraw = Some(true);
    bob.expires_at = None;
    both(&bob);
    // Known facts that become unknown: their series must go in both.
    let mut carol = verdict("carol-okx", ExchangeKind::Okx, Status::IpNotAllowed);
    both(&carol);
    carol.ip_restricted = None;
    carol.permissions = Permissions::default();
    both(&carol);
    // Unverified rights: 0/1 per right once the rights were reached, gone when they were not.
    let mut dave = verdict("dave-gate", ExchangeKind::Gate, Status::Connected);
    dave.permissions.withdraw = None;
    dave.warnings = vec![Warning::WithdrawUnverified];
    both(&dave);
    let mut erin = verdict("erin-mexc", ExchangeKind::Mexc, Status::WithdrawUnverified);
    erin.warnings = vec![Warning::WithdrawUnverified, Warning::IpBindingUnverified];
    both(&erin);
    erin.status = Status::ExchangeUnavailable;
    erin.warnings.clear();
    both(&erin);
    both(&verdict(
        "we\"ird\\name\nx",
        ExchangeKind::Coinbase,
        Status::ExchangeUnavailable,
    ));
    m.observe(&verdict("gone", ExchangeKind::Mexc, Status::InvalidKey));
    m.forget("gone", ExchangeKind::Mexc);

    let text = m.render();
    let start = text
        .find("# HELP keywarden_connection_status ")
        .expect("connection families rendered");
    assert_eq!(text[start..], reference.render());
}

/// Past one chunk of the streamed exposition (128 connections), the chunks still add up to
/// the crate's text, and no chunk holds much of it.
#[test]
fn a_streamed_exposition_of_many_connections_matches_the_prometheus_crate() {
    let m = Metrics::new();
    let reference = labelled_reference::LabelledConnectionSeries::new();
    for i in 0..2_500 {
        let (exchange, status) = match i % 3 {
            0 => (ExchangeKind::Mexc, Status::Connected),
            1 => (ExchangeKind::Kucoin, Status::NoTradePermission),
            _ => (ExchangeKind::Okx, Status::ExchangeUnavailable),
        };
        let mut v = verdict(&format!("user-{i:05}"), exchange, status);
        if i % 3 == 2 {
            v.permissions = Permissions::default();
            v.ip_restricted = None;
            v.expires_at = None;
        }
        m.observe(&v);
        reference.show(&v);
    }
    let chunks: Vec<String> = m.exposition().collect();
    assert!(chunks.len() > 6 * 2, "{} chunks", chunks.len());
    let largest = chunks.iter().map(String::len).max().unwrap();
    assert!(largest < 256 * 1024, "a chunk of {largest} bytes");
    let text = chunks.concat();
    let start = text.find("# HELP keywarden_connection_status ").unwrap();
    assert_eq!(text[start..], reference.render());
}

#[test]
fn unverified_rights_count_per_right_and_go_when_the_check_stops_short() {
    let m = Metrics::new();
    let series = |conn: &str, right: &str| {
        format!(
            "keywarden_connection_unverified_right{{connection=\"{conn}\",exchange=\"gate\",right=\"{right}\"}}"
        )
    };
    let mut v = verdict("gate-main", ExchangeKind::Gate, Status::Connected);
    v.permissions.withdraw = None;
    v.warnings = vec![Warning::WithdrawUnverified];
    m.observe(&v);
    assert_values(
        &m.render(),
        &[
            (&series("gate-main", "withdraw"), "1"),
            (&series("gate-main", "ip_binding"), "0"),
        ],
    );
    // The exchange reveals the right again: 0, still there.
    v.warnings.clear();
    m.observe(&v);
    assert_values(&m.render(), &[(&series("gate-main", "withdraw"), "0")]);
    // A check that stopped before the rights: no series, rather than a 0 that reads "verified".
    v.status = Status::InvalidKey;
    m.observe(&v);
    let t = m.render();
    assert!(!t.contains("keywarden_connection_unverified_right{"), "{t}");
    // And removed with the connection.
    v.status = Status::Connected;
    v.warnings = vec![Warning::WithdrawUnverified];
    m.observe(&v);
    m.forget("gate-main", ExchangeKind::Gate);
    assert!(!m.render().contains("keywarden_connection_unverified_right"));
}

#[test]
fn no_connections_no_connection_families() {
    let text = Metrics::new().render();
    for family in &CONNECTION_FAMILIES {
        assert!(!text.contains(family.name), "{text}");
    }
    assert_eq!(
        labelled_reference::LabelledConnectionSeries::new().render(),
        ""
    );
}

#[test]
fn checks_total_counts_by_status() {
    let m = Metrics::new();
    for _ in 0..3 {
        m.observe(&verdict("alice", ExchangeKind::Mexc, Status::Connected));
    }
    m.observe(&verdict("alice", ExchangeKind::Mexc, Status::RateLimited));
    m.observe(&verdict("carol", ExchangeKind::Kucoin, Status::Connected));
    assert_values(
        &m.render(),
        &[
            (
                "keywarden_checks_total{exchange=\"mexc\",status=\"connected\"}",
                "3",
            ),
            (
                "keywarden_checks_total{exchange=\"mexc\",status=\"rate_limited\"}",
                "1",
            ),
            (
                "keywarden_checks_total{exchange=\"kucoin\",status=\"connected\"}",
                "1",
            ),
            (
                "keywarden_check_duration_seconds_count{exchange=\"mexc\"}",
                "4",
            ),
        ],
    );
}

#[test]
fn alerts_outbox_and_store() {
    let m = Metrics::new();
    m.alert_sent("telegram");
    m.alert_sent("telegram");
    m.alert_failed("email", "timeout");
    m.set_outbox_depth(7);
    m.set_store_size(4096);
    assert_values(
        &m.render(),
        &[
            ("keywarden_alerts_sent_total{channel=\"telegram\"}", "2"),
            (
                "keywarden_alerts_failed_total{channel=\"email\",reason=\"timeout\"}",
                "1",
            ),
            ("keywarden_alert_outbox_depth", "7"),
            ("keywarden_store_size_bytes", "4096"),
        ],
    );
}

#[test]
fn alert_failures_of_a_configured_channel_start_at_zero_and_keep_their_counts() {
    use crate::notifier::Channel;
    let m = Metrics::new();
    let failed = |t: &str, reason: &str| {
        value(
            t,
            &format!("keywarden_alerts_failed_total{{channel=\"telegram\",reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(
        failed(&m.render(), "timeout"),
        None,
        "nothing before declaring"
    );
    m.declare_alert_failures("telegram", Channel::Telegram.failure_reasons());
    let t = m.render();
    for reason in Channel::Telegram.failure_reasons() {
        assert_eq!(failed(&t, reason).as_deref(), Some("0"), "{reason} at 0");
    }
    assert!(
        !t.contains("keywarden_alerts_failed_total{channel=\"email\""),
        "an unconfigured channel has no series:\n{t}"
    );
    m.alert_failed("telegram", "timeout");
    // A reload declares again: counts made stay.
    m.declare_alert_failures("telegram", Channel::Telegram.failure_reasons());
    let t = m.render();
    assert_eq!(failed(&t, "timeout").as_deref(), Some("1"));
    assert_eq!(failed(&t, "rate_limited").as_deref(), Some("0"));
}

#[test]
fn schedules_show_their_period_rounds_and_skips_and_go_with_the_schedule() {
    use std::time::Duration;
    let metrics = Metrics::new();
    metrics.set_schedules(&[
        ("*/20 * * * * *".to_string(), Duration::from_secs(20)),
        ("0 */5 * * * *".to_string(), Duration::from_secs(300)),
    ]);
    metrics.round_finished("*/20 * * * * *", Duration::from_millis(61_500));
    metrics.check_skipped("*/20 * * * * *");
    metrics.set_exchanges([ExchangeKind::Mexc]);
    metrics.budget_waited(ExchangeKind::Mexc, Duration::from_millis(1_500));
    assert_values(
        &metrics.render(),
        &[
            (
                "keywarden_schedule_period_seconds{schedule=\"*/20 * * * * *\"}",
                "20",
            ),
            (
                "keywarden_round_duration_seconds{schedule=\"*/20 * * * * *\"}",
                "61.5",
            ),
            (
                "keywarden_checks_skipped_total{schedule=\"*/20 * * * * *\"}",
                "1",
            ),
            // Shown at 0 before the first skip.
            (
                "keywarden_checks_skipped_total{schedule=\"0 */5 * * * *\"}",
                "0",
            ),
            (
                "keywarden_request_budget_wait_seconds_total{exchange=\"mexc\"}",
                "1.5",
            ),
            ("keywarden_check_panics_total{exchange=\"mexc\"}", "0"),
        ],
    );

    // A reload drops the schedule that is gone.
    metrics.set_schedules(&[("0 */5 * * * *".to_string(), Duration::from_secs(300))]);
    let text = metrics.render();
    assert!(!text.contains("*/20"), "{text}");
    assert!(text.contains("keywarden_schedule_period_seconds{schedule=\"0 */5 * * * *\"} 300"));
}
