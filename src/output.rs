//! What `keywarden check` prints: JSON Lines for machines, a table for people.

use std::fmt::Write as _;

use crate::check::warning_remedy;
use crate::config::Connection;
use crate::domain::{Status, Verdict, Warning};
use crate::printable::printable;
use crate::secret::{mask_key, ExposeSecret};
use crate::store::Span;

/// Prints verdicts to stdout as JSON Lines or as the table.
pub fn print(connections: &[Connection], verdicts: &[Verdict], json: bool) {
    if json {
        for verdict in verdicts {
            println!("{}", json_line(verdict));
        }
    } else {
        let rows: Vec<_> = connections.iter().zip(verdicts).collect();
        print!("{}", table(&rows));
    }
}

/// One verdict as one JSON line (the design's `check --json` shape).
pub fn json_line(verdict: &Verdict) -> String {
    serde_json::to_string(verdict).expect("verdicts always serialize")
}

/// The readable table: one row per connection, then under each row that is not `connected`
/// what happened and what to do, and any warnings. No field reaches the terminal with a control
/// character in it (see [`printable`]), whatever wrote it: the exchange, the config, the store.
pub fn table(rows: &[(&Connection, &Verdict)]) -> String {
    let headers = [
        "CONNECTION",
        "EXCHANGE",
        "KEY",
        "STATUS",
        "READ",
        "TRADE",
        "WITHDRAW",
        "FUTURES",
        "IP",
        "EXPIRES",
        "LATENCY",
    ];
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|(connection, v)| {
            vec![
                v.connection.clone(),
                v.exchange.to_string(),
                mask_key(connection.credentials.api_key.expose_secret()),
                v.status.to_string(),
                right(v.permissions.read),
                right(v.permissions.trade),
                right(v.permissions.withdraw),
                right(v.permissions.futures),
                match v.ip_restricted {
                    Some(true) => "bound".into(),
                    Some(false) => "open".into(),
                    None => "?".into(),
                },
                v.expires_at
                    .map(|t| t.format("%Y-%m-%d").to_string())
                    .unwrap_or_else(|| "-".into()),
                format!("{}ms", v.latency_ms),
            ]
            .into_iter()
            .map(|cell| printable(&cell).into_owned())
            .collect()
        })
        .collect();
    let widths = column_widths(&headers, &cells);
    let mut out = String::new();
    push_row(&mut out, headers.iter().map(|h| h.to_string()), &widths);
    for (row, (_, verdict)) in cells.into_iter().zip(rows) {
        push_row(&mut out, row.into_iter(), &widths);
        if verdict.status != Status::Connected {
            let _ = writeln!(out, "    what: {}", printable(&verdict.message));
        }
        if let Some(remedy) = &verdict.remedy {
            let _ = writeln!(out, "    do:   {}", printable(remedy));
        }
        for warning in &verdict.warnings {
            // An IP binding the exchange would not show gets where to look at it; an unverified
            // withdraw right has it in the verdict's remedy (`do:`) already.
            if *warning == Warning::IpBindingUnverified {
                let remedy = warning_remedy(*warning, verdict.exchange);
                let _ = writeln!(out, "    warning: {warning}: {}", printable(&remedy));
            } else {
                let _ = writeln!(out, "    warning: {warning}");
            }
        }
    }
    let connected = rows
        .iter()
        .filter(|(_, v)| v.status == Status::Connected)
        .count();
    let _ = writeln!(out, "\n{connected} of {} connections connected", rows.len());
    out
}

fn right(value: Option<bool>) -> String {
    match value {
        Some(true) => "yes",
        Some(false) => "no",
        None => "?",
    }
    .to_string()
}

/// The width of each column: its widest cell or its header.
fn column_widths(headers: &[&str], cells: &[Vec<String>]) -> Vec<usize> {
    (0..headers.len())
        .map(|i| {
            cells
                .iter()
                .map(|row| row[i].chars().count())
                .chain([headers[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect()
}

fn push_row(out: &mut String, cells: impl Iterator<Item = String>, widths: &[usize]) {
    let line: Vec<String> = cells
        .zip(widths)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect();
    let _ = writeln!(out, "{}", line.join("  ").trim_end());
}

/// Prints a connection's spans as JSON Lines or as a table, newest first.
pub fn print_history(connection: &str, spans: &[Span], json: bool) {
    if json {
        for span in spans {
            println!(
                "{}",
                serde_json::to_string(span).expect("spans always serialize")
            );
        }
        return;
    }
    if spans.is_empty() {
        println!("no history for {connection} yet");
        return;
    }
    let headers = ["STATUS", "FROM", "TO", "CHECKS", "WARNINGS", "MESSAGE"];
    let cells: Vec<Vec<String>> = spans
        .iter()
        .map(|s| {
            vec![
                s.status.to_string(),
                s.first_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
                s.last_seen.format("%Y-%m-%d %H:%M:%S").to_string(),
                s.checks.to_string(),
                if s.warnings.is_empty() {
                    "-".to_string()
                } else {
                    s.warnings
                        .iter()
                        .map(|w| w.name())
                        .collect::<Vec<_>>()
                        .join(",")
                },
                // spans written before messages were cleaned may still hold control characters
                printable(&s.message).into_owned(),
            ]
        })
        .collect();
    print!("{}", render_rows(&headers, cells));
}

/// Left-aligned columns, two spaces apart, the header first.
fn render_rows(headers: &[&str], cells: Vec<Vec<String>>) -> String {
    let widths = column_widths(headers, &cells);
    let mut out = String::new();
    push_row(&mut out, headers.iter().map(|h| h.to_string()), &widths);
    for row in cells {
        push_row(&mut out, row.into_iter(), &widths);
    }
    out
}
