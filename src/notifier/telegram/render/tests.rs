use chrono::TimeZone;

use super::*;
use crate::domain::{ExchangeKind, Permissions, Warning};

fn alert(name: &str, kind: AlertKind, status: Status) -> Alert {
    Alert::sample(name, kind, status)
}

/// No `<` or `>` outside the tags we write, and every `&` starts an entity.
fn assert_well_formed(html: &str) {
    let allowed = ["<b>", "</b>", "<code>", "</code>"];
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let tail = &rest[i..];
        let tag = allowed
            .iter()
            .find(|t| tail.starts_with(*t))
            .unwrap_or_else(|| panic!("stray `<` in {html:?}"));
        rest = &tail[tag.len()..];
    }
    for (i, _) in html.match_indices('&') {
        let tail = &html[i..];
        assert!(
            ["&lt;", "&gt;", "&amp;"]
                .iter()
                .any(|e| tail.starts_with(e)),
            "bare or broken `&` in {html:?}"
        );
    }
    let opened = html.matches("<b>").count() + html.matches("<code>").count();
    let closed = html.matches("</b>").count() + html.matches("</code>").count();
    assert_eq!(opened, closed, "unbalanced tags in {html:?}");
}

#[test]
fn escapes_the_three_html_specials() {
    assert_eq!(escape_html("a<b>&c"), "a&lt;b&gt;&amp;c");
    assert_eq!(escape_html("&amp;"), "&amp;amp;");
    assert_eq!(
        escape_html("plain \"quoted\" 'text' ✓"),
        "plain \"quoted\" 'text' ✓"
    );
    assert_eq!(escape_html(""), "");
}

#[test]
fn one_alert_has_every_part_and_escapes_them() {
    let mut a = alert(
        "alice-mexc-main",
        AlertKind::Opened,
        Status::WithdrawEnabled,
    );
    a.message = "IP [1.2.3.4] <b>& not in the ip white list".to_string();
    a.remedy = Some("add <b>& to the whitelist".to_string());
    a.previous = Some(Status::InvalidKey);
    let html = render_alert(&a);
    assert!(html.starts_with("🔴 "), "{html}");
    assert!(html.contains("alice-mexc-main"));
    assert!(html.contains("Exchange: mexc"));
    assert!(html.contains("<code>mx0v…9f2a</code>"));
    assert!(html.contains("<code>withdraw_enabled</code> (critical)"));
    assert!(html.contains("Since: 2025-03-01 12:00:00 UTC"));
    assert!(html.contains("What happened: IP [1.2.3.4] &lt;b&gt;&amp; not in the ip white list"));
    assert!(html.contains("What to do: add &lt;b&gt;&amp; to the whitelist"));
    assert!(html.contains("Previous status: <code>invalid_key</code>"));
    assert!(!html.contains("<b>&"));
    assert_well_formed(&html);
}

#[test]
fn names_are_escaped_too() {
    let a = alert("x<b>&y", AlertKind::Opened, Status::InvalidKey);
    for html in [render_alert(&a), render_block(&a, MAX_MESSAGE)] {
        assert!(html.contains("x&lt;b&gt;&amp;y"), "{html}");
        assert_well_formed(&html);
    }
}

#[test]
fn headline_emoji_by_kind_and_severity() {
    let cases = [
        (AlertKind::Opened, Status::InvalidKey, "🔴"),
        (AlertKind::Opened, Status::ExchangeUnavailable, "🟠"),
        (AlertKind::Reminder, Status::InvalidKey, "🔁"),
        (AlertKind::Resolved, Status::InvalidKey, "✅"),
    ];
    for (kind, status, emoji) in cases {
        let html = render_alert(&alert("a", kind, status));
        assert!(html.starts_with(emoji), "{kind:?} {status:?}: {html}");
    }
    let mut notice = alert("a", AlertKind::Notice, Status::Connected);
    notice.topic = Topic::Warning(Warning::KeyExpiresSoon);
    notice.severity = Severity::Warning;
    notice.remedy = None;
    let html = render_alert(&notice);
    assert!(html.starts_with("ℹ️"), "{html}");
    assert!(
        html.contains("Warning: <code>key_expires_soon</code>"),
        "{html}"
    );
    assert!(!html.contains("What to do"));
}

#[test]
fn exchange_and_host_subjects_use_subject_name() {
    let mut a = alert("a", AlertKind::Opened, Status::ExchangeUnavailable);
    a.subject = Subject::Exchange {
        exchange: ExchangeKind::Mexc,
    };
    let html = render_alert(&a);
    assert!(html.contains("all mexc connections"), "{html}");
    assert!(!html.contains("Key:"));
    a.subject = Subject::Host;
    let html = render_alert(&a);
    assert!(html.contains("this trading host"), "{html}");
    assert!(!html.contains("Exchange:"));
}

#[test]
fn several_alerts_make_one_digest_with_a_count_line() {
    let alerts = vec![
        alert("a", AlertKind::Opened, Status::InvalidKey),
        alert("b<&>", AlertKind::Opened, Status::WithdrawEnabled),
        alert("c", AlertKind::Resolved, Status::IpNotAllowed),
    ];
    let messages = render_messages(&alerts);
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert!(
        m.starts_with("📋 <b>KeyWarden: 3 alerts</b> (2 new, 1 resolved)"),
        "{m}"
    );
    assert!(m.contains("b&lt;&amp;&gt;"));
    assert!(!m.contains("part "));
    assert_well_formed(m);
}

#[test]
fn a_long_digest_splits_at_alert_boundaries_within_4096() {
    let alerts: Vec<Alert> = (0..60)
        .map(|i| {
            let mut a = alert(
                &format!("conn-{i:02}"),
                AlertKind::Opened,
                Status::InvalidKey,
            );
            a.message = format!("{i}: {}", "the key was deleted & <regenerated> ".repeat(4));
            a
        })
        .collect();
    let messages = render_messages(&alerts);
    assert!(messages.len() > 1, "{} messages", messages.len());
    let n = messages.len();
    let mut seen = 0;
    for (i, m) in messages.iter().enumerate() {
        assert!(units(m) <= MAX_MESSAGE, "part {i} is {} units", units(m));
        assert!(
            m.starts_with(&format!(
                "📋 <b>KeyWarden: 60 alerts</b> (60 new) — part {}/{n}",
                i + 1
            )),
            "{m}"
        );
        assert_well_formed(m);
        // Each block is whole: it starts with its emoji line and has its message line.
        let blocks = m.split("\n\n").skip(1).count();
        assert_eq!(m.matches("What happened: ").count(), blocks);
        seen += blocks;
    }
    assert_eq!(seen, 60, "every alert in exactly one part");
    for i in 0..60 {
        let name = format!("<b>conn-{i:02}</b>");
        assert_eq!(
            messages
                .iter()
                .map(|m| m.matches(&name).count())
                .sum::<usize>(),
            1,
            "{name}"
        );
    }
}

#[test]
fn an_oversized_alert_is_truncated_without_breaking_entities() {
    let mut a = alert("big", AlertKind::Opened, Status::InvalidKey);
    a.message = "&".repeat(10_000);
    a.remedy = Some("<".repeat(10_000));
    let html = render_alert(&a);
    assert!(units(&html) <= MAX_MESSAGE, "{} units", units(&html));
    assert!(html.contains("…"));
    assert_well_formed(&html);

    // In a digest, too: two oversized alerts go in two parts, each within the limit.
    let messages = render_messages(&[a.clone(), a]);
    assert_eq!(messages.len(), 2);
    for m in &messages {
        assert!(units(m) <= MAX_MESSAGE);
        assert_well_formed(m);
    }
}

#[test]
fn clipping_never_cuts_an_entity_or_a_character() {
    for cap in 1..30 {
        let clipped = esc("a&b<c>d🔴e&&&f", cap);
        assert!(units(&clipped) <= cap.max(1), "{cap}: {clipped}");
        assert_well_formed(&clipped);
    }
    assert_eq!(esc("short", 10), "short");
}

#[test]
fn lengths_count_utf16_units() {
    assert_eq!(units("abc"), 3);
    assert_eq!(units("🔴"), 2);
    assert_eq!(units("…"), 1);
}

#[test]
fn split_lines_keeps_lines_whole() {
    let text: String = (0..500)
        .map(|i| format!("<b>line {i}</b> &amp; more"))
        .collect::<Vec<_>>()
        .join("\n");
    let parts = split_lines(&text, MAX_MESSAGE);
    assert!(parts.len() > 1);
    for p in &parts {
        assert!(units(p) <= MAX_MESSAGE);
        assert_well_formed(p);
    }
    assert_eq!(parts.join("\n"), text);
    let long = format!("<b>{}</b>", "&amp;".repeat(2000));
    let parts = split_lines(&long, 100);
    assert_eq!(parts.len(), 1);
    assert!(units(&parts[0]) <= 100);
    assert_well_formed(&parts[0]);
}

fn verdict(name: &str, status: Status) -> Verdict {
    Verdict {
        connection: name.to_string(),
        exchange: ExchangeKind::Kucoin,
        status,
        permissions: Permissions {
            read: Some(true),
            trade: Some(false),
            withdraw: Some(false),
            futures: None,
        },
        ip_restricted: Some(true),
        expires_at: None,
        latency_ms: 42,
        message: "the key has no spot trading right <b>&".to_string(),
        remedy: Some("enable trading <b>& rights".to_string()),
        warnings: vec![Warning::FuturesNotNeeded],
        checked_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
    }
}

#[test]
fn status_lists_every_connection_escaped() {
    let html = render_statuses(&[
        verdict("a<b>", Status::Connected),
        verdict("c", Status::NoTradePermission),
    ]);
    assert!(html.contains("2 connections</b>, 1 connected"), "{html}");
    assert!(html.contains("✅ <b>a&lt;b&gt;</b> · kucoin · <code>connected</code> · 42 ms"));
    assert!(html.contains("🔴 <b>c</b> · kucoin · <code>no_trade_permission</code> · 42 ms"));
    assert_well_formed(&html);
    assert_eq!(render_statuses(&[]), "No connections are configured.");
}

#[test]
fn check_answer_has_the_whole_verdict_escaped() {
    let html = render_verdict(&verdict("c", Status::NoTradePermission));
    assert!(html.contains("<code>no_trade_permission</code>"), "{html}");
    assert!(html.contains("Rights: read yes, trade no, withdraw no, futures unknown"));
    assert!(html.contains("Warnings: <code>futures_not_needed</code>"));
    assert!(html.contains("What happened: the key has no spot trading right &lt;b&gt;&amp;"));
    assert!(html.contains("What to do: enable trading &lt;b&gt;&amp; rights"));
    assert_well_formed(&html);
    let unknown = render_unknown_connection("<nope>");
    assert_eq!(unknown, "No connection named <b>&lt;nope&gt;</b>.");
}
