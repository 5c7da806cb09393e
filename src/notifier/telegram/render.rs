//! Telegram's HTML: alerts, digests and command answers, every dynamic part escaped, every
//! message within Telegram's 4096-character limit.
//!
//! Lengths are counted in UTF-16 code units of the HTML as sent (tags and entities included),
//! which is never less than what Telegram counts after parsing the entities, so a message that
//! fits here fits there.

use chrono::{DateTime, Utc};

use crate::alert::{Alert, AlertKind, Subject, Topic};
use crate::domain::{Severity, Status, Verdict};

/// Telegram's limit on one message's text.
pub const MAX_MESSAGE: usize = 4096;

/// Caps on each dynamic field, in UTF-16 units of its escaped text, chosen so that one alert
/// with every field at its cap still fits one message with a digest header above it.
const CAP_NAME: usize = 200;
const CAP_KEY: usize = 64;
const CAP_MESSAGE: usize = 1500;
const CAP_REMEDY: usize = 1500;

/// Escapes text for Telegram's HTML parse mode: `<`, `>` and `&` (quotes need no escaping
/// outside attributes, and we write no attributes with dynamic values).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// The length Telegram's limit is measured in (UTF-16 code units; an emoji counts two).
pub fn units(text: &str) -> usize {
    text.encode_utf16().count()
}

/// `text` escaped and cut to at most `cap` UTF-16 units, ending in `…` when cut. Never cuts
/// inside an entity (`&amp;`) or a character.
fn esc(text: &str, cap: usize) -> String {
    clip_escaped(&escape_html(text), cap)
}

/// Cuts escaped text (entities but no tags) to at most `cap` units, `…` included.
fn clip_escaped(escaped: &str, cap: usize) -> String {
    if units(escaped) <= cap {
        return escaped.to_string();
    }
    let budget = cap.saturating_sub(1); // room for the ellipsis (one unit)
    let mut used = 0;
    let mut end = 0;
    for (i, c) in escaped.char_indices() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        end = i + c.len_utf8();
    }
    let mut cut = &escaped[..end];
    // Do not leave half an entity: drop an `&` that has no `;` after it.
    if let Some(amp) = cut.rfind('&') {
        if !cut[amp..].contains(';') {
            cut = &cut[..amp];
        }
    }
    format!("{cut}…")
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// The emoji that leads an alert: by kind, and for a new incident by severity.
pub fn alert_emoji(alert: &Alert) -> &'static str {
    match alert.kind {
        AlertKind::Opened => match alert.severity {
            Severity::Critical => "🔴",
            Severity::Warning => "🟠",
            Severity::Info | Severity::Ok => "ℹ️",
        },
        AlertKind::Reminder => "🔁",
        AlertKind::Resolved => "✅",
        AlertKind::Notice => "ℹ️",
    }
}

fn kind_word(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::Opened => "Alert",
        AlertKind::Reminder => "Still open",
        AlertKind::Resolved => "Resolved",
        AlertKind::Notice => "Notice",
    }
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Ok => "ok",
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn topic_label(alert: &Alert) -> &'static str {
    match alert.topic {
        Topic::Status(_) => "Status",
        Topic::Warning(_) => "Warning",
    }
}

fn masked_key(alert: &Alert) -> Option<&str> {
    match &alert.subject {
        Subject::Connection { masked_key, .. } if !masked_key.is_empty() => Some(masked_key),
        _ => None,
    }
}

/// One alert as one message: a headline, then one line per fact.
pub fn render_alert(alert: &Alert) -> String {
    let name = esc(&alert.subject_name(), CAP_NAME);
    let topic = escape_html(alert.topic_name());
    let mut lines = vec![format!(
        "{} <b>{}: {}</b> on <b>{}</b>",
        alert_emoji(alert),
        kind_word(alert.kind),
        topic,
        name
    )];
    let label = match alert.subject {
        Subject::Connection { .. } => "Connection",
        Subject::Exchange { .. } => "Exchange-wide",
        Subject::Host => "Host",
    };
    lines.push(format!("{label}: <b>{name}</b>"));
    if let Some(exchange) = alert.exchange() {
        lines.push(format!("Exchange: {}", escape_html(exchange.name())));
    }
    if let Some(key) = masked_key(alert) {
        lines.push(format!("Key: <code>{}</code>", esc(key, CAP_KEY)));
    }
    lines.push(format!(
        "{}: <code>{}</code> ({})",
        topic_label(alert),
        topic,
        severity_word(alert.severity)
    ));
    lines.push(format!("Since: {}", when(alert.started_at)));
    lines.push(format!(
        "What happened: {}",
        esc(&alert.message, CAP_MESSAGE)
    ));
    if let Some(remedy) = &alert.remedy {
        lines.push(format!("What to do: {}", esc(remedy, CAP_REMEDY)));
    }
    if let Some(previous) = alert.previous {
        lines.push(format!(
            "Previous status: <code>{}</code>",
            escape_html(previous.name())
        ));
    }
    fit_lines(lines, MAX_MESSAGE)
}

/// One alert as a compact block of a digest.
pub fn render_block(alert: &Alert, budget: usize) -> String {
    let mut head = format!(
        "{} <b>{}</b>",
        alert_emoji(alert),
        esc(&alert.subject_name(), CAP_NAME)
    );
    if let Some(exchange) = alert.exchange() {
        head.push_str(&format!(" · {}", escape_html(exchange.name())));
    }
    if let Some(key) = masked_key(alert) {
        head.push_str(&format!(" · <code>{}</code>", esc(key, CAP_KEY)));
    }
    let mut status = format!(
        "{}: <code>{}</code> ({}) since {}",
        kind_word(alert.kind),
        escape_html(alert.topic_name()),
        severity_word(alert.severity),
        when(alert.started_at)
    );
    if let Some(previous) = alert.previous {
        status.push_str(&format!(
            ", was <code>{}</code>",
            escape_html(previous.name())
        ));
    }
    let mut lines = vec![head, status];
    lines.push(format!(
        "What happened: {}",
        esc(&alert.message, CAP_MESSAGE)
    ));
    if let Some(remedy) = &alert.remedy {
        lines.push(format!("What to do: {}", esc(remedy, CAP_REMEDY)));
    }
    fit_lines(lines, budget)
}

/// Joins `lines` with newlines; when that is longer than `budget`, drops lines from the end
/// (every line closes its own tags, so whole lines can go) and marks the cut with `…`.
fn fit_lines(mut lines: Vec<String>, budget: usize) -> String {
    let mut text = lines.join("\n");
    while units(&text) > budget && lines.len() > 1 {
        lines.pop();
        text = format!("{}\n…", lines.join("\n"));
    }
    if units(&text) > budget {
        // A single line over budget: fields are capped, so only a tiny budget gets here.
        text = "…".to_string();
    }
    text
}

fn digest_header(alerts: &[Alert], part: Option<(usize, usize)>) -> String {
    let count = |k: AlertKind| alerts.iter().filter(|a| a.kind == k).count();
    let mut kinds = Vec::new();
    for (kind, word) in [
        (AlertKind::Opened, "new"),
        (AlertKind::Reminder, "still open"),
        (AlertKind::Resolved, "resolved"),
        (AlertKind::Notice, "notices"),
    ] {
        let n = count(kind);
        if n > 0 {
            kinds.push(format!("{n} {word}"));
        }
    }
    let mut header = format!(
        "📋 <b>KeyWarden: {} alerts</b> ({})",
        alerts.len(),
        kinds.join(", ")
    );
    if let Some((i, n)) = part {
        header.push_str(&format!(" — part {i}/{n}"));
    }
    header
}

/// The messages that carry `alerts`: one message for one alert; for several, a digest (a count
/// line, then one block per alert), split at alert boundaries into as many messages as the
/// 4096 limit needs. Empty for no alerts.
pub fn render_messages(alerts: &[Alert]) -> Vec<String> {
    match alerts {
        [] => Vec::new(),
        [one] => vec![render_alert(one)],
        _ => render_digest(alerts, MAX_MESSAGE),
    }
}

/// A digest of `alerts` in messages of at most `limit` units each.
pub fn render_digest(alerts: &[Alert], limit: usize) -> Vec<String> {
    // Room for the longest header this digest can have (every part number as wide as it gets).
    let widest = alerts.len().to_string().len();
    let nines: usize = "9".repeat(widest).parse().unwrap_or(usize::MAX);
    let reserve = units(&digest_header(alerts, Some((nines, nines)))) + 2; // + "\n\n"
    let budget = limit.saturating_sub(reserve);
    let separator = 2; // a blank line between blocks

    let mut parts: Vec<Vec<String>> = vec![Vec::new()];
    let mut used = 0;
    for alert in alerts {
        let block = render_block(alert, budget);
        let len = units(&block);
        let current = parts.last_mut().expect("one part at least");
        if current.is_empty() {
            used = len;
            current.push(block);
        } else if used + separator + len <= budget {
            used += separator + len;
            current.push(block);
        } else {
            used = len;
            parts.push(vec![block]);
        }
    }
    let total = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, blocks)| {
            let part = (total > 1).then_some((i + 1, total));
            format!("{}\n\n{}", digest_header(alerts, part), blocks.join("\n\n"))
        })
        .collect()
}

/// Splits a long text at line boundaries into messages of at most `limit` units; a single
/// line longer than `limit` is cut (command answers: lines are short and self-contained).
pub fn split_lines(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = if units(line) > limit {
            clip_plain_line(line, limit)
        } else {
            line.to_string()
        };
        if !current.is_empty() && units(&current) + 1 + units(&line) > limit {
            out.push(std::mem::take(&mut current));
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(&line);
    }
    if !current.is_empty() || out.is_empty() {
        out.push(current);
    }
    out
}

/// Cuts an over-long HTML line: the tags are dropped (so none is left open) and the text is
/// clipped on an entity boundary.
fn clip_plain_line(line: &str, limit: usize) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in line.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    clip_escaped(&text, limit)
}

// ---- command answers ----

fn status_emoji(status: Status) -> &'static str {
    match status.severity() {
        Severity::Ok => "✅",
        Severity::Info => "ℹ️",
        Severity::Warning => "🟠",
        Severity::Critical => "🔴",
    }
}

fn right(value: Option<bool>) -> &'static str {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

/// `/status`: a count line, then one line per connection: name, exchange, status, latency.
pub fn render_statuses(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return "No connections are configured.".to_string();
    }
    let up = verdicts
        .iter()
        .filter(|v| v.status == Status::Connected)
        .count();
    let mut lines = vec![format!(
        "📋 <b>{} connections</b>, {} connected",
        verdicts.len(),
        up
    )];
    for v in verdicts {
        lines.push(format!(
            "{} <b>{}</b> · {} · <code>{}</code> · {} ms",
            status_emoji(v.status),
            esc(&v.connection, CAP_NAME),
            escape_html(v.exchange.name()),
            escape_html(v.status.name()),
            v.latency_ms
        ));
    }
    lines.join("\n")
}

/// `/check NAME`: the verdict in full.
pub fn render_verdict(v: &Verdict) -> String {
    let p = &v.permissions;
    let mut lines = vec![
        format!(
            "{} <b>{}</b> · {}: <code>{}</code>",
            status_emoji(v.status),
            esc(&v.connection, CAP_NAME),
            escape_html(v.exchange.name()),
            escape_html(v.status.name())
        ),
        format!(
            "Rights: read {}, trade {}, withdraw {}, futures {}",
            right(p.read),
            right(p.trade),
            right(p.withdraw),
            right(p.futures)
        ),
        format!("IP-bound: {}", right(v.ip_restricted)),
    ];
    if let Some(expires_at) = v.expires_at {
        lines.push(format!("Expires: {}", when(expires_at)));
    }
    if !v.warnings.is_empty() {
        let names: Vec<String> = v
            .warnings
            .iter()
            .map(|w| format!("<code>{}</code>", escape_html(w.name())))
            .collect();
        lines.push(format!("Warnings: {}", names.join(", ")));
    }
    lines.push(format!("What happened: {}", esc(&v.message, CAP_MESSAGE)));
    if let Some(remedy) = &v.remedy {
        lines.push(format!("What to do: {}", esc(remedy, CAP_REMEDY)));
    }
    lines.push(format!(
        "Checked: {} in {} ms",
        when(v.checked_at),
        v.latency_ms
    ));
    fit_lines(lines, MAX_MESSAGE)
}

/// `/check NAME` for a name no connection has.
pub fn render_unknown_connection(name: &str) -> String {
    format!("No connection named <b>{}</b>.", esc(name, CAP_NAME))
}

/// `/check` without a name.
pub fn render_check_usage() -> String {
    "Usage: /check NAME".to_string()
}

#[cfg(test)]
mod tests;
