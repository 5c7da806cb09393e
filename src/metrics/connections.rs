//! The per-connection series: one small [`ConnectionSeries`] per connection in a sorted table
//! instead of ~17 labelled `IntGaugeVec` children (issue 9), and the exposition of their six
//! families written by hand, byte for byte as the prometheus crate's `TextEncoder` writes them
//! (pinned by a test against [`labelled_reference`](super::labelled_reference)).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use crate::domain::{ExchangeKind, Permissions, Status, Verdict};

/// The permissions of `p` by label value, sorted by that value (futures < read < trade <
/// withdraw): the order in which the prometheus crate writes a family's series.
pub(super) fn permission_values(p: &Permissions) -> [(&'static str, Option<bool>); 4] {
    [
        ("futures", p.futures),
        ("read", p.read),
        ("trade", p.trade),
        ("withdraw", p.withdraw),
    ]
}

/// [`Status::ALL`] sorted by label value, the order in which the prometheus crate writes a
/// family's series; sorted once rather than written out so a new status cannot be forgotten.
static STATUSES_BY_NAME: LazyLock<[Status; Status::ALL.len()]> = LazyLock::new(|| {
    let mut statuses = Status::ALL;
    statuses.sort_by_key(|status| status.name());
    statuses
});

pub(super) const CONNECTION_STATUS: &str = "keywarden_connection_status";
pub(super) const CONNECTION_STATUS_HELP: &str =
    "Current status of a connection's API key: 1 for the status \
    it is in, 0 for each of the other statuses (connected is the only healthy one; see the \
    design's status table for what each means and what to do).";
pub(super) const CONNECTION_UP: &str = "keywarden_connection_up";
pub(super) const CONNECTION_UP_HELP: &str =
    "1 when the connection's last check found the key usable \
    (status connected), 0 when anything is wrong with the key or the exchange.";
pub(super) const KEY_EXPIRY: &str = "keywarden_key_expiry_timestamp_seconds";
pub(super) const KEY_EXPIRY_HELP: &str =
    "Unix time at which the key expires and stops working; no series \
    when the key does not expire or the exchange does not say.";
pub(super) const KEY_IP_RESTRICTED: &str = "keywarden_key_ip_restricted";
pub(super) const KEY_IP_RESTRICTED_HELP: &str =
    "1 when the key is bound to an IP whitelist, 0 when anyone \
    holding it can use it from any address; no series when the exchange does not reveal it.";
pub(super) const KEY_PERMISSION: &str = "keywarden_key_permission";
pub(super) const KEY_PERMISSION_HELP: &str =
    "Whether the key holds a right (read, trade, withdraw, \
    futures): 1 granted, 0 not granted; no series when the exchange does not reveal it. \
    Withdraw must be 0.";
pub(super) const LAST_CHECK: &str = "keywarden_last_check_timestamp_seconds";
pub(super) const LAST_CHECK_HELP: &str =
    "Unix time of the connection's last completed check; if it falls \
    behind the schedule, checks are not running.";

/// What `/metrics` shows of one connection: the facts of its last verdict, 32 bytes instead of
/// 17 labelled series.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnectionSeries {
    pub(super) exchange: ExchangeKind,
    status: Status,
    permissions: Permissions,
    ip_restricted: Option<bool>,
    /// Unix seconds.
    expires_at: Option<i64>,
    /// Unix seconds.
    checked_at: i64,
}

impl ConnectionSeries {
    fn of(verdict: &Verdict) -> ConnectionSeries {
        ConnectionSeries {
            exchange: verdict.exchange,
            status: verdict.status,
            permissions: verdict.permissions,
            ip_restricted: verdict.ip_restricted,
            expires_at: verdict.expires_at.map(|at| at.timestamp()),
            checked_at: verdict.checked_at.timestamp(),
        }
    }
}

/// One per-connection family: its exposition header and how to read its series off a
/// connection. The labels are `connection`, `exchange` and then `extra_label`, if any.
pub(super) struct ConnectionFamily {
    pub(super) name: &'static str,
    help: &'static str,
    /// The label after `connection` and `exchange` (`status`, `permission`).
    extra_label: Option<&'static str>,
    /// Calls `sample(extra label value, value)` for each series the connection has in this
    /// family, sorted by the extra label's value (`""` for a family without one). A fact that
    /// is unknown makes no call: absent, not 0.
    samples: fn(&ConnectionSeries, &mut dyn FnMut(&'static str, i64)),
}

/// The per-connection families, sorted by name like the registry's: the design's metrics table
/// says what each holds.
pub(super) const CONNECTION_FAMILIES: [ConnectionFamily; 6] = [
    ConnectionFamily {
        name: CONNECTION_STATUS,
        help: CONNECTION_STATUS_HELP,
        extra_label: Some("status"),
        // All ten statuses, always: a 0 for each status the connection is not in.
        samples: |series, sample| {
            for status in *STATUSES_BY_NAME {
                sample(status.name(), i64::from(status == series.status));
            }
        },
    },
    ConnectionFamily {
        name: CONNECTION_UP,
        help: CONNECTION_UP_HELP,
        extra_label: None,
        samples: |series, sample| sample("", i64::from(series.status == Status::Connected)),
    },
    ConnectionFamily {
        name: KEY_EXPIRY,
        help: KEY_EXPIRY_HELP,
        extra_label: None,
        samples: |series, sample| {
            if let Some(at) = series.expires_at {
                sample("", at);
            }
        },
    },
    ConnectionFamily {
        name: KEY_IP_RESTRICTED,
        help: KEY_IP_RESTRICTED_HELP,
        extra_label: None,
        samples: |series, sample| {
            if let Some(bound) = series.ip_restricted {
                sample("", i64::from(bound));
            }
        },
    },
    ConnectionFamily {
        name: KEY_PERMISSION,
        help: KEY_PERMISSION_HELP,
        extra_label: Some("permission"),
        samples: |series, sample| {
            for (permission, granted) in permission_values(&series.permissions) {
                if let Some(granted) = granted {
                    sample(permission, i64::from(granted));
                }
            }
        },
    },
    ConnectionFamily {
        name: LAST_CHECK,
        help: LAST_CHECK_HELP,
        extra_label: None,
        samples: |series, sample| sample("", series.checked_at),
    },
];

/// The most series one connection has: ten statuses, up, four permissions, IP binding, expiry
/// and last check.
const MAX_SERIES_PER_CONNECTION: usize = 18;

/// The longest per-connection line without the connection name (`keywarden_connection_status`,
/// `coinbase`, `exchange_unavailable`). With [`MAX_SERIES_PER_CONNECTION`] an upper bound, so
/// each chunk allocates its text once.
const LONGEST_LINE_WITHOUT_NAME: usize = 100;

/// The connection table: name → facts. A `BTreeMap` so the exposition comes out sorted by
/// connection, as the prometheus crate sorts series, without sorting at every scrape; `Arc<str>`
/// keys so a scrape's snapshot copies pointers, not 10,000 names.
pub(super) type ConnectionTable = BTreeMap<Arc<str>, ConnectionSeries>;

/// Puts `verdict` in the connection table; no allocation for a connection already there.
pub(super) fn show(connections: &mut ConnectionTable, verdict: &Verdict) {
    let series = ConnectionSeries::of(verdict);
    match connections.get_mut(verdict.connection.as_str()) {
        Some(shown) => *shown = series,
        None => {
            connections.insert(Arc::from(verdict.connection.as_str()), series);
        }
    }
}

/// How many connections one chunk of the exposition covers: ~120 KB of text for the status
/// family (ten lines of ~95 bytes per connection), small enough that a scrape never holds much
/// of the 16 MB (at 10,000 connections) in memory at once, large enough that the chunks'
/// overhead does not matter.
const CONNECTIONS_PER_CHUNK: usize = 128;

/// The per-connection families of a snapshot of the table, written a slice of connections at a
/// time: an iterator of text chunks that, concatenated, are the families in the text format
/// 0.0.4, byte for byte as the prometheus crate's `TextEncoder` writes them (`# HELP` and
/// `# TYPE` once per family, then one `name{connection="…",exchange="…"[,extra="…"]} value` line
/// per series). Like the registry's `gather`, a family without any series is left out.
pub(super) struct ConnectionChunks {
    /// Sorted by name, label values already escaped.
    connections: Vec<(Arc<str>, ConnectionSeries)>,
    /// Index into [`CONNECTION_FAMILIES`] of the family being written.
    family: usize,
    /// The first connection of the next chunk of that family.
    next: usize,
}

impl ConnectionChunks {
    /// `snapshot` must be sorted by connection name (the table's order).
    pub(super) fn new(snapshot: Vec<(Arc<str>, ConnectionSeries)>) -> Self {
        let connections = snapshot
            .into_iter()
            .map(|(name, series)| match escape_label_value(&name) {
                // Escaped once per connection here rather than once per series.
                Cow::Borrowed(_) => (name, series),
                Cow::Owned(escaped) => (Arc::from(escaped), series),
            })
            .collect();
        ConnectionChunks {
            connections,
            family: 0,
            next: 0,
        }
    }
}

impl Iterator for ConnectionChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            let family = CONNECTION_FAMILIES.get(self.family)?;
            let first = self.next == 0;
            if first && !self.connections.iter().any(|(_, s)| has_series(family, s)) {
                self.family += 1;
                continue;
            }
            let end = (self.next + CONNECTIONS_PER_CHUNK).min(self.connections.len());
            let slice = &self.connections[self.next..end];
            let names: usize = slice.iter().map(|(name, _)| name.len()).sum();
            let mut text = String::with_capacity(
                MAX_SERIES_PER_CONNECTION * (slice.len() * LONGEST_LINE_WITHOUT_NAME + names),
            );
            if first {
                // The help texts are constants without `\` or line feeds, the only characters
                // the format escapes in HELP.
                let _ = write!(
                    text,
                    "# HELP {0} {1}\n# TYPE {0} gauge\n",
                    family.name, family.help
                );
            }
            for (connection, series) in slice {
                write_series(&mut text, family, connection, series);
            }
            if end == self.connections.len() {
                (self.family, self.next) = (self.family + 1, 0);
            } else {
                self.next = end;
            }
            return Some(text);
        }
    }
}

fn has_series(family: &ConnectionFamily, series: &ConnectionSeries) -> bool {
    let mut any = false;
    (family.samples)(series, &mut |_, _| any = true);
    any
}

/// One connection's lines of `family`; `connection` is the escaped label value.
fn write_series(
    text: &mut String,
    family: &ConnectionFamily,
    connection: &str,
    series: &ConnectionSeries,
) {
    let exchange = series.exchange.name();
    (family.samples)(series, &mut |extra_value, value| {
        text.push_str(family.name);
        text.push_str("{connection=\"");
        text.push_str(connection);
        text.push_str("\",exchange=\"");
        text.push_str(exchange);
        if let Some(extra_label) = family.extra_label {
            text.push_str("\",");
            text.push_str(extra_label);
            text.push_str("=\"");
            text.push_str(extra_value);
        }
        text.push_str("\"} ");
        // The crate writes the i64 as an f64, which is the same digits up to 2^53: Unix
        // seconds and 0/1 are far below.
        match value {
            0 => text.push('0'),
            1 => text.push('1'),
            _ => {
                let _ = write!(text, "{value}");
            }
        }
        text.push('\n');
    });
}

/// `value` as a label value of the text format 0.0.4: `\`, `"` and line feed escaped
/// (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details>).
/// Connection names are validated to `[a-z0-9_.-]+` and never need it, but `Metrics` is a
/// library type and a name that did would otherwise break the whole scrape; the check costs a
/// scan of each name per scrape, and a copy only for a name that needs it.
pub(super) fn escape_label_value(value: &str) -> Cow<'_, str> {
    if !value.bytes().any(|b| matches!(b, b'\\' | b'"' | b'\n')) {
        return Cow::Borrowed(value);
    }
    let mut escaped = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}
