//! Alerts as an email: the subject, a text/plain body and a text/html body, written for one
//! [`Audience`].
//!
//! Operators get every detail (masked key, the exchange's own words, the previous status). A
//! platform user gets a letter about their own connection: what happened in plain words, what
//! to do at the exchange, since when, and nothing internal (no raw exchange error, no key, no
//! host, no status codes).

use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertKind, Subject, Topic};
use crate::domain::{ExchangeKind, Severity, Status, Warning};
use crate::notifier::Audience;

/// One email's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders `alerts` (one alert, or several as a digest) for `audience`.
pub fn render(alerts: &[Alert], audience: Audience) -> Rendered {
    match audience {
        Audience::Operator => operator(alerts),
        Audience::Owner => owner(alerts),
    }
}

/// The exchange's name as its users write it (the spec table's display name).
pub fn exchange_display(kind: ExchangeKind) -> &'static str {
    kind.spec().display_name
}

/// Escapes text for HTML element content and attribute values; newlines become `<br>`.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' => out.push_str("<br>\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A header value on one line: control characters (a newline in a name) become spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn utc_minutes(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

const HTML_HEAD: &str = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"></head>\n\
<body style=\"font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; \
font-size: 14px; color: #1a1a1a;\">\n";
const HTML_TAIL: &str = "</body>\n</html>\n";

// ---------------------------------------------------------------------------------------------
// Operators

/// `carol-mexc (mexc)`, `all mexc connections`, `this trading host`.
fn target(alert: &Alert) -> String {
    match &alert.subject {
        Subject::Connection { name, exchange, .. } => format!("{name} ({exchange})"),
        Subject::Exchange { .. } | Subject::Host => alert.subject_name(),
    }
}

/// `withdraw_enabled`, `reminder, withdraw_enabled`, `resolved`.
fn label(alert: &Alert) -> String {
    match alert.kind {
        AlertKind::Opened | AlertKind::Notice => alert.topic_name().to_string(),
        AlertKind::Reminder => format!("reminder, {}", alert.topic_name()),
        AlertKind::Resolved => "resolved".to_string(),
    }
}

fn kind_words(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Opened => "new incident",
        AlertKind::Reminder => "still open (reminder)",
        AlertKind::Resolved => "resolved",
        AlertKind::Notice => "notice",
    }
}

fn severity_name(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok => "ok",
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// The headline of one alert for operators: `withdraw_enabled: carol-mexc (mexc)`.
fn operator_headline(alert: &Alert) -> String {
    match alert.kind {
        AlertKind::Resolved => format!(
            "resolved: {} ({} is over)",
            target(alert),
            alert.topic_name()
        ),
        _ => format!("{}: {}", label(alert), target(alert)),
    }
}

/// The facts of one alert as (field, value) rows, in reading order.
fn operator_rows(alert: &Alert) -> Vec<(&'static str, String)> {
    let mut rows = Vec::new();
    match &alert.subject {
        Subject::Connection {
            name,
            exchange,
            masked_key,
            owner_email,
        } => {
            rows.push(("Connection", name.clone()));
            rows.push(("Exchange", exchange.to_string()));
            rows.push(("Key", masked_key.clone()));
            if let Some(owner) = owner_email {
                rows.push(("Owner", owner.clone()));
            }
        }
        Subject::Exchange { exchange } => {
            rows.push(("Subject", alert.subject_name()));
            rows.push(("Exchange", exchange.to_string()));
        }
        Subject::Host => rows.push(("Subject", alert.subject_name())),
    }
    rows.push((
        "Status",
        format!(
            "{} ({}, {})",
            alert.topic_name(),
            severity_name(alert.severity),
            kind_words(alert.kind)
        ),
    ));
    if let Some(previous) = alert.previous {
        rows.push(("Previous", previous.name().to_string()));
    }
    rows.push(("Since", utc(alert.started_at)));
    rows.push(("Raised", utc(alert.raised_at)));
    rows
}

fn operator_subject(alerts: &[Alert]) -> String {
    match alerts {
        [one] => format!(
            "[KeyWarden] {}",
            one_line(&format!("{}: {}", label(one), target(one)))
        ),
        many => format!("[KeyWarden] {} alerts", many.len()),
    }
}

fn operator(alerts: &[Alert]) -> Rendered {
    let mut text = String::new();
    let mut html = String::from(HTML_HEAD);
    if alerts.len() > 1 {
        text.push_str(&format!("KeyWarden: {} alerts\n\n", alerts.len()));
        html.push_str(&format!(
            "<h2 style=\"margin: 0 0 12px 0;\">KeyWarden: {} alerts</h2>\n",
            alerts.len()
        ));
    }
    for (i, alert) in alerts.iter().enumerate() {
        if i > 0 {
            text.push_str("\n----------------------------------------\n\n");
            html.push_str("<hr style=\"border: none; border-top: 1px solid #ddd;\">\n");
        }
        let headline = operator_headline(alert);
        text.push_str(&headline);
        text.push_str("\n\n");
        let rows = operator_rows(alert);
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
        for (key, value) in &rows {
            text.push_str(&format!("{:<width$} {value}\n", format!("{key}:")));
        }
        text.push_str("\nWhat happened:\n");
        text.push_str(&indent(&alert.message));
        if let Some(remedy) = &alert.remedy {
            text.push_str("\nWhat to do:\n");
            text.push_str(&indent(remedy));
        }

        html.push_str(&format!(
            "<h3 style=\"margin: 16px 0 8px 0; color: {};\">{}</h3>\n",
            colour(alert),
            escape_html(&headline)
        ));
        html.push_str("<table style=\"border-collapse: collapse;\">\n");
        for (key, value) in &rows {
            html.push_str(&format!(
                "<tr><th style=\"text-align: left; padding: 2px 12px 2px 0; font-weight: 600;\">{}</th>\
                 <td style=\"padding: 2px 0; font-family: monospace;\">{}</td></tr>\n",
                escape_html(key),
                escape_html(value)
            ));
        }
        html.push_str("</table>\n");
        html.push_str(&format!(
            "<p><strong>What happened</strong><br>\n{}</p>\n",
            escape_html(&alert.message)
        ));
        if let Some(remedy) = &alert.remedy {
            html.push_str(&format!(
                "<p><strong>What to do</strong><br>\n{}</p>\n",
                escape_html(remedy)
            ));
        }
    }
    text.push_str("\n-- \nKeyWarden\n");
    html.push_str("<p style=\"color: #777; font-size: 12px;\">KeyWarden</p>\n");
    html.push_str(HTML_TAIL);
    Rendered {
        subject: operator_subject(alerts),
        text,
        html,
    }
}

fn indent(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("  -\n");
    }
    out
}

fn colour(alert: &Alert) -> &'static str {
    if alert.kind == AlertKind::Resolved {
        return "#1e7e34";
    }
    match alert.severity {
        Severity::Critical => "#b00020",
        Severity::Warning => "#b26a00",
        Severity::Info | Severity::Ok => "#1a1a1a",
    }
}

// ---------------------------------------------------------------------------------------------
// Platform users (owners)

/// One alert told to the connection's owner: a headline, what happened, since when, and what to
/// do (each in plain words).
struct OwnerSection {
    headline: String,
    happened: Option<String>,
    since: String,
    todo: Option<(String, String)>,
}

/// `your MEXC API key connection “carol-mexc”` and the like.
fn owner_target(alert: &Alert) -> String {
    match &alert.subject {
        Subject::Connection { name, exchange, .. } => format!(
            "Your {} API key connection \u{201c}{name}\u{201d}",
            exchange_display(*exchange)
        ),
        Subject::Exchange { exchange } => {
            format!("Your {} API key connections", exchange_display(*exchange))
        }
        Subject::Host => "Your API key connections".to_string(),
    }
}

/// What happened, in plain words for someone who holds the key (not the exchange's words).
fn owner_happened(alert: &Alert) -> String {
    let exchange = alert
        .exchange()
        .map(exchange_display)
        .unwrap_or("the exchange");
    match alert.topic {
        Topic::Status(status) => match status {
            Status::InvalidKey => "The exchange no longer accepts the API key \u{2014} it was deleted, \
                 regenerated, or copied wrong."
                .to_string(),
            Status::IpNotAllowed => "The exchange refuses requests from the platform's trading \
                 server: its IP address is not on the API key's IP whitelist."
                .to_string(),
            Status::WithdrawEnabled => "The API key is allowed to withdraw funds. A key you give the \
                 platform must never be able to withdraw: read and trade rights only."
                .to_string(),
            Status::WithdrawUnverified => "The exchange does not reveal whether the API key can \
                 withdraw funds, and the platform accepts only keys it can verify."
                .to_string(),
            Status::NoReadPermission => "The API key is not allowed to read your account, so \
                 balances and orders cannot be seen."
                .to_string(),
            Status::NoTradePermission => {
                "The API key is not allowed to trade, so no orders can be placed.".to_string()
            }
            Status::NoFuturesPermission => "Your connection trades futures, but the API key has no \
                 futures trading rights."
                .to_string(),
            Status::ExchangeUnavailable => format!(
                "{exchange} is in maintenance or has an outage right now. Your key is most likely fine."
            ),
            Status::RateLimited => format!(
                "{exchange} is temporarily limiting requests. Nothing is wrong with your key."
            ),
            Status::WrongRegion => format!(
                "{exchange} serves your API key (or the platform's trading server) from another \
                 of its regional sites, so the platform's connection does not reach it. Nothing \
                 is wrong with the key's rights; the platform's operator changes a setting."
            ),
            Status::ClockSkew => "A time-synchronisation problem on the platform's side interrupts \
                 the connection. Nothing is wrong with your key."
                .to_string(),
            Status::Connected => "Your connection works.".to_string(),
        },
        Topic::Warning(warning) => match warning {
            Warning::IpWhitelistMissing => "The API key is not bound to an IP whitelist. Exchanges \
                 recommend binding it, and some expire keys that are not bound."
                .to_string(),
            Warning::FuturesNotNeeded => "The API key has futures trading rights that this \
                 connection does not use."
                .to_string(),
            Warning::KeyExpiresSoon => "The API key expires soon; after that the connection \
                 stops working."
                .to_string(),
            Warning::WithdrawUnverified => "The exchange does not reveal whether the API key \
                 can withdraw funds, so the platform could not check that it cannot."
                .to_string(),
            Warning::IpBindingUnverified => "The exchange does not reveal whether the API key \
                 is bound to an IP whitelist."
                .to_string(),
        },
    }
}

/// What the owner can do, and under which heading; `None` when there is nothing to do on their
/// side (the exchange is down, or the problem is the platform's own).
fn owner_todo(alert: &Alert) -> Option<(String, String)> {
    let exchange = alert
        .exchange()
        .map(exchange_display)
        .unwrap_or("the exchange");
    let at_exchange = format!("What to do at {exchange}");
    match alert.topic {
        Topic::Status(Status::ExchangeUnavailable) => Some((
            "What to do".to_string(),
            "Nothing: wait until the exchange is back. The connection is checked again \
             automatically."
                .to_string(),
        )),
        Topic::Status(Status::RateLimited | Status::ClockSkew | Status::Connected) => Some((
            "What to do".to_string(),
            "Nothing on your side.".to_string(),
        )),
        _ if !matches!(alert.subject, Subject::Connection { .. }) => None,
        _ => alert.remedy.clone().map(|r| (at_exchange, r)),
    }
}

fn owner_section(alert: &Alert) -> OwnerSection {
    let who = owner_target(alert);
    let since = utc_minutes(alert.started_at);
    match alert.kind {
        // A warning's resolved notice: the right the exchange would not reveal, it now reveals.
        AlertKind::Resolved if matches!(alert.topic, Topic::Warning(_)) => OwnerSection {
            headline: format!("Good news: {} no longer needs a look.", lower_first(&who)),
            happened: Some(alert.message.clone()),
            since: format!("Checked on {since}."),
            todo: Some(("What to do".to_string(), "Nothing more.".to_string())),
        },
        AlertKind::Resolved => OwnerSection {
            headline: format!("Good news: {} works again.", lower_first(&who)),
            happened: None,
            since: format!("The problem started on {since} and is over now."),
            todo: Some(("What to do".to_string(), "Nothing more.".to_string())),
        },
        kind => OwnerSection {
            headline: match kind {
                AlertKind::Reminder => format!("{who} still needs attention."),
                AlertKind::Notice => format!("{who} needs a look."),
                _ => format!("{who} needs attention."),
            },
            happened: Some(owner_happened(alert)),
            since: format!("Since {since}."),
            todo: owner_todo(alert),
        },
    }
}

fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn owner_subject(alerts: &[Alert]) -> String {
    let line = match alerts {
        [one] => {
            let who = match &one.subject {
                Subject::Connection { name, exchange, .. } => {
                    format!("Your {} API key \"{name}\"", exchange_display(*exchange))
                }
                _ => owner_target(one),
            };
            match one.kind {
                AlertKind::Resolved => format!("{who} works again"),
                AlertKind::Notice => format!("{who} needs a look"),
                _ => format!("{who} needs attention"),
            }
        }
        many => format!("{} updates about your API keys", many.len()),
    };
    format!("[KeyWarden] {}", one_line(&line))
}

const OWNER_FOOTER: &str = "You receive this message because this email address is registered \
for the exchange API keys you connected to the trading platform.";

fn owner(alerts: &[Alert]) -> Rendered {
    let sections: Vec<OwnerSection> = alerts.iter().map(owner_section).collect();
    let mut text = String::from("Hello,\n\n");
    let mut html = String::from(HTML_HEAD);
    html.push_str("<p>Hello,</p>\n");
    if sections.len() > 1 {
        let intro = format!(
            "There are {} updates about your API key connections.",
            sections.len()
        );
        text.push_str(&intro);
        text.push_str("\n\n");
        html.push_str(&format!("<p>{}</p>\n", escape_html(&intro)));
    }
    for (i, section) in sections.iter().enumerate() {
        if i > 0 {
            text.push_str("\n----------------------------------------\n\n");
            html.push_str("<hr style=\"border: none; border-top: 1px solid #ddd;\">\n");
        }
        text.push_str(&section.headline);
        text.push_str("\n\n");
        html.push_str(&format!(
            "<p><strong>{}</strong></p>\n",
            escape_html(&section.headline)
        ));
        if let Some(happened) = &section.happened {
            text.push_str(&format!("What happened: {happened}\n"));
            html.push_str(&format!(
                "<p><strong>What happened:</strong> {}</p>\n",
                escape_html(happened)
            ));
        }
        text.push_str(&section.since);
        text.push('\n');
        html.push_str(&format!("<p>{}</p>\n", escape_html(&section.since)));
        if let Some((heading, todo)) = &section.todo {
            text.push_str(&format!("\n{heading}:\n{todo}\n"));
            html.push_str(&format!(
                "<p><strong>{}:</strong><br>\n{}</p>\n",
                escape_html(heading),
                escape_html(todo)
            ));
        }
    }
    text.push_str(&format!("\n-- \n{OWNER_FOOTER}\n"));
    html.push_str(&format!(
        "<p style=\"color: #777; font-size: 12px;\">{}</p>\n",
        escape_html(OWNER_FOOTER)
    ));
    html.push_str(HTML_TAIL);
    Rendered {
        subject: owner_subject(alerts),
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn alert(kind: AlertKind, status: Status, message: &str) -> Alert {
        Alert {
            raised_at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 5).unwrap(),
            message: message.into(),
            remedy: Some("Switch withdraw rights off.".into()),
            ..Alert::sample("carol-mexc", kind, status)
        }
    }

    #[test]
    fn subjects_name_the_topic_and_the_connection() {
        let a = alert(AlertKind::Opened, Status::WithdrawEnabled, "m");
        assert_eq!(
            render(std::slice::from_ref(&a), Audience::Operator).subject,
            "[KeyWarden] withdraw_enabled: carol-mexc (mexc)"
        );
        let r = alert(AlertKind::Resolved, Status::WithdrawEnabled, "m");
        assert_eq!(
            render(std::slice::from_ref(&r), Audience::Operator).subject,
            "[KeyWarden] resolved: carol-mexc (mexc)"
        );
        assert_eq!(
            render(&[a.clone(), r.clone(), a], Audience::Operator).subject,
            "[KeyWarden] 3 alerts"
        );
        assert_eq!(
            render(&[r], Audience::Owner).subject,
            "[KeyWarden] Your MEXC API key \"carol-mexc\" works again"
        );
    }

    #[test]
    fn html_escapes_every_dynamic_part() {
        let a = alert(
            AlertKind::Opened,
            Status::InvalidKey,
            "<script>x</script> & 'q'",
        );
        let html = render(&[a], Audience::Operator).html;
        assert!(html.contains("&lt;script&gt;x&lt;/script&gt; &amp; &#39;q&#39;"));
        assert!(!html.contains("<script>"));
    }

    #[test]
    fn owner_letter_keeps_internals_out() {
        let a = alert(
            AlertKind::Opened,
            Status::InvalidKey,
            "code 10072: Api key info invalid",
        );
        let r = render(&[a], Audience::Owner);
        for body in [&r.text, &r.html] {
            assert!(!body.contains("10072"), "{body}");
            assert!(!body.contains("mx0v"), "{body}");
            assert!(!body.contains("invalid_key"), "{body}");
            assert!(body.contains("no longer accepts the API key"), "{body}");
            assert!(body.contains("Switch withdraw rights off."), "{body}");
        }
    }

    #[test]
    fn owner_is_not_told_to_fix_the_hosts_clock() {
        let mut a = alert(AlertKind::Opened, Status::ClockSkew, "recvWindow");
        a.remedy = Some("enable time synchronisation (systemd-timesyncd or chrony)".into());
        let r = render(&[a], Audience::Owner);
        assert!(!r.text.contains("chrony"));
        assert!(r.text.contains("Nothing on your side."));
    }
}
