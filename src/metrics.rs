//! Prometheus metrics: every series of the design's "Metrics" table, the text exposition for
//! `GET /metrics`, and `GET /healthz`.
//!
//! Every metric is prefixed `keywarden_`. Labels only ever carry the connection name, the
//! exchange, a status, a permission name, an alert channel, a failure reason and the version:
//! never key material. A fact that is unknown (a permission the exchange would not tell, the IP
//! binding, the expiry) is an ABSENT series, not a 0, so "unknown" and "no" stay apart in PromQL
//! (`absent(...)` / `unless` for the one, `== 0` for the other).
//!
//! Two stores, because the series come in two sizes (issue 9). The process-wide families (check
//! durations, counters, outbox, store size, build info) are a few dozen series and live in the
//! `prometheus` crate's [`Registry`]. The per-connection families are up to 18 series per
//! connection, ~170,000 at 10,000 connections: as labelled `IntGaugeVec` children they cost ~17
//! hashed string-label lookups per check, a large share of the daemon's memory and ~440 ms per
//! scrape. So they are one small [`ConnectionSeries`] per connection in a sorted table, written
//! out by hand in the crate's exact text format (pinned by a test against its `TextEncoder`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::check::{Status, Verdict};
use crate::exchange::{ExchangeKind, Permissions};

/// Buckets of `keywarden_check_duration_seconds`: a healthy signed HTTP check takes tens to
/// hundreds of milliseconds, a struggling exchange seconds, and `check_timeout` (default 15 s)
/// caps the rest.
pub const CHECK_DURATION_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0,
];

/// The permission label values of `keywarden_key_permission`, in the design's order.
pub const PERMISSIONS: [&str; 4] = ["read", "trade", "withdraw", "futures"];

/// The permissions of `p` by label value, sorted by that value (futures < read < trade <
/// withdraw): the order in which the prometheus crate writes a family's series.
fn permission_values(p: &Permissions) -> [(&'static str, Option<bool>); 4] {
    [
        ("futures", p.futures),
        ("read", p.read),
        ("trade", p.trade),
        ("withdraw", p.withdraw),
    ]
}

/// [`Status::ALL`] sorted by label value, the order in which the prometheus crate writes a
/// family's series; sorted once rather than written out so a new status cannot be forgotten.
static STATUSES_BY_NAME: LazyLock<[Status; 10]> = LazyLock::new(|| {
    let mut statuses = Status::ALL;
    statuses.sort_by_key(|status| status.name());
    statuses
});

const CONNECTION_STATUS: &str = "keywarden_connection_status";
const CONNECTION_STATUS_HELP: &str = "Current status of a connection's API key: 1 for the status \
    it is in, 0 for each of the other statuses (connected is the only healthy one; see the \
    design's status table for what each means and what to do).";
const CONNECTION_UP: &str = "keywarden_connection_up";
const CONNECTION_UP_HELP: &str = "1 when the connection's last check found the key usable \
    (status connected), 0 when anything is wrong with the key or the exchange.";
const KEY_EXPIRY: &str = "keywarden_key_expiry_timestamp_seconds";
const KEY_EXPIRY_HELP: &str = "Unix time at which the key expires and stops working; no series \
    when the key does not expire or the exchange does not say.";
const KEY_IP_RESTRICTED: &str = "keywarden_key_ip_restricted";
const KEY_IP_RESTRICTED_HELP: &str = "1 when the key is bound to an IP whitelist, 0 when anyone \
    holding it can use it from any address; no series when the exchange does not reveal it.";
const KEY_PERMISSION: &str = "keywarden_key_permission";
const KEY_PERMISSION_HELP: &str = "Whether the key holds a right (read, trade, withdraw, \
    futures): 1 granted, 0 not granted; no series when the exchange does not reveal it. \
    Withdraw must be 0.";
const LAST_CHECK: &str = "keywarden_last_check_timestamp_seconds";
const LAST_CHECK_HELP: &str = "Unix time of the connection's last completed check; if it falls \
    behind the schedule, checks are not running.";

/// What `/metrics` shows of one connection: the facts of its last verdict, 32 bytes instead of
/// 17 labelled series.
#[derive(Debug, Clone, Copy)]
struct ConnectionSeries {
    exchange: ExchangeKind,
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
struct ConnectionFamily {
    name: &'static str,
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
const CONNECTION_FAMILIES: [ConnectionFamily; 6] = [
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
/// `render` allocates its text once; the pages the guess overshoots are never touched, so they
/// cost address space, not memory.
const LONGEST_LINE_WITHOUT_NAME: usize = 100;

/// The connection table: name → facts. A `BTreeMap` so the exposition comes out sorted by
/// connection, as the prometheus crate sorts series, without sorting at every scrape; `Arc<str>`
/// keys so a scrape's snapshot copies pointers, not 10,000 names.
type ConnectionTable = BTreeMap<Arc<str>, ConnectionSeries>;

/// Every KeyWarden metric. Shared as `Arc<Metrics>`; all methods take `&self`.
pub struct Metrics {
    /// The process-wide families; the per-connection ones are in `connections`.
    registry: Registry,
    /// The per-connection series. Its lock also serialises `observe`, `forget` and `render`'s
    /// snapshot, so a scrape never sees half of a verdict (the status counted but not shown).
    connections: Mutex<ConnectionTable>,
    /// `keywarden_check_duration_seconds{exchange}`: how long checks took.
    check_duration: HistogramVec,
    /// `keywarden_checks_total{exchange,status}`: checks done, by resulting status.
    checks_total: IntCounterVec,
    /// `keywarden_alerts_sent_total{channel}`: alerts a channel accepted.
    alerts_sent: IntCounterVec,
    /// `keywarden_alerts_failed_total{channel,reason}`: failed delivery attempts.
    alerts_failed: IntCounterVec,
    /// `keywarden_alert_outbox_depth`: alerts waiting in the outbox.
    outbox_depth: IntGauge,
    /// `keywarden_store_size_bytes`: size of the sled database on disk.
    store_size: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every process-wide metric registered and `keywarden_build_info`
    /// set; no connections yet.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let check_duration = register(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "keywarden_check_duration_seconds",
                    "How long one check of one key took against the exchange, all requests \
                     included; slow checks point at a slow or throttling exchange.",
                )
                .buckets(CHECK_DURATION_BUCKETS.to_vec()),
                &["exchange"],
            ),
        );
        let checks_total = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "keywarden_checks_total",
                    "Checks completed, by exchange and the status they found.",
                ),
                &["exchange", "status"],
            ),
        );
        let alerts_sent = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "keywarden_alerts_sent_total",
                    "Alert messages a channel (telegram, email) accepted for delivery.",
                ),
                &["channel"],
            ),
        );
        let alerts_failed = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "keywarden_alerts_failed_total",
                    "Alert delivery attempts that failed, by channel and reason (rate_limited, \
                     timeout, rejected, ...); a rising count means people are not being told.",
                ),
                &["channel", "reason"],
            ),
        );
        let outbox_depth = register(
            &registry,
            IntGauge::new(
                "keywarden_alert_outbox_depth",
                "Alerts written to the outbox and not yet accepted by their channel; a depth \
                 that keeps growing means a notifier is down.",
            ),
        );
        let store_size = register(
            &registry,
            IntGauge::new(
                "keywarden_store_size_bytes",
                "Size on disk of KeyWarden's history and state database.",
            ),
        );
        let build_info = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_build_info",
                    "Always 1; the version label says which KeyWarden build is running.",
                ),
                &["version"],
            ),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);

        Metrics {
            registry,
            connections: Mutex::new(ConnectionTable::new()),
            check_duration,
            checks_total,
            alerts_sent,
            alerts_failed,
            outbox_depth,
            store_size,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ConnectionTable> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one verdict: the connection's series (status, up, permissions, ip, expiry, last
    /// check), the duration histogram and the checks counter. Facts the verdict does not know
    /// (`None`) drop their series, so a permission going from known to unknown leaves no stale
    /// value behind.
    pub fn observe(&self, verdict: &Verdict) {
        let mut connections = self.lock();
        show(&mut connections, verdict);
        let exchange = verdict.exchange.name();
        self.check_duration
            .with_label_values(&[exchange])
            .observe(verdict.latency_ms as f64 / 1000.0);
        self.checks_total
            .with_label_values(&[exchange, verdict.status.name()])
            .inc();
    }

    /// Shows a verdict recorded before a restart: the connection's series only, since the check
    /// it came from was already counted by the previous process.
    pub fn restore(&self, verdict: &Verdict) {
        show(&mut self.lock(), verdict);
    }

    /// Removes every series of a connection (after a reload removed it from the config), so it
    /// disappears from /metrics. The per-exchange histogram and counters are kept: they count
    /// checks that did happen. Call it after the connection's last check has finished, or a
    /// late verdict brings the series back. A connection shown under another exchange than
    /// `exchange` stays, as it did when the series were labelled by both.
    pub fn forget(&self, connection: &str, exchange: ExchangeKind) {
        let mut connections = self.lock();
        if connections
            .get(connection)
            .is_some_and(|series| series.exchange == exchange)
        {
            connections.remove(connection);
        }
    }

    /// Sets `keywarden_store_size_bytes`.
    pub fn set_store_size(&self, bytes: u64) {
        self.store_size.set(saturating_i64(bytes));
    }

    /// Counts one alert message that `channel` (`telegram`, `email`) accepted.
    pub fn alert_sent(&self, channel: &str) {
        self.alerts_sent.with_label_values(&[channel]).inc();
    }

    /// Counts one failed delivery attempt. `reason` must be a short fixed word
    /// (`rate_limited`, `timeout`, `rejected`, `bad_address`, ...), never the channel's error
    /// text: every distinct value is a new series, and error text may echo secrets.
    pub fn alert_failed(&self, channel: &str, reason: &str) {
        self.alerts_failed
            .with_label_values(&[channel, reason])
            .inc();
    }

    /// Sets `keywarden_alert_outbox_depth`.
    pub fn set_outbox_depth(&self, depth: u64) {
        self.outbox_depth.set(saturating_i64(depth));
    }

    /// The text exposition format for GET /metrics: the registry's families, then the
    /// per-connection ones.
    pub fn render(&self) -> String {
        // A snapshot under the lock, the writing after it. At 10,000 connections the snapshot
        // (a pointer and 32 bytes each) and the registry's gather hold the lock for ~0.4 ms,
        // writing the 16 MB of text would hold it ~2 ms more; `observe` runs on the runtime's
        // worker threads, which a scrape should stall as little as it can.
        let (families, snapshot) = {
            let connections = self.lock();
            let snapshot: Vec<(Arc<str>, ConnectionSeries)> = connections
                .iter()
                .map(|(name, series)| (Arc::clone(name), *series))
                .collect();
            (self.registry.gather(), snapshot)
        };
        // Escaped once per connection here rather than once per series while writing.
        let connections: Vec<(Cow<'_, str>, ConnectionSeries)> = snapshot
            .iter()
            .map(|(name, series)| (escape_label_value(name), *series))
            .collect();
        let connection_bytes: usize = connections
            .iter()
            .map(|(label, _)| MAX_SERIES_PER_CONNECTION * (LONGEST_LINE_WITHOUT_NAME + label.len()))
            .sum();
        let mut text = String::with_capacity(4_096 + connection_bytes);
        if let Err(err) = TextEncoder::new().encode_utf8(&families, &mut text) {
            tracing::error!(%err, "could not encode metrics");
        }
        for family in &CONNECTION_FAMILIES {
            write_connection_family(&mut text, family, &connections);
        }
        text
    }
}

/// Puts `verdict` in the connection table; no allocation for a connection already there.
fn show(connections: &mut ConnectionTable, verdict: &Verdict) {
    let series = ConnectionSeries::of(verdict);
    match connections.get_mut(verdict.connection.as_str()) {
        Some(shown) => *shown = series,
        None => {
            connections.insert(Arc::from(verdict.connection.as_str()), series);
        }
    }
}

/// Writes `family` for `connections` (sorted by name, labels escaped) in the text format 0.0.4,
/// byte for byte as the prometheus crate's `TextEncoder` writes it: `# HELP` and `# TYPE` once,
/// then one `name{connection="…",exchange="…"[,extra="…"]} value` line per series. Like the
/// registry's `gather`, a family without any series is left out, header and all.
fn write_connection_family(
    text: &mut String,
    family: &ConnectionFamily,
    connections: &[(Cow<'_, str>, ConnectionSeries)],
) {
    let family_start = text.len();
    // The help texts are constants without `\` or line feeds, the only characters the format
    // escapes in HELP.
    let _ = write!(
        text,
        "# HELP {0} {1}\n# TYPE {0} gauge\n",
        family.name, family.help
    );
    let header_end = text.len();
    for (connection, series) in connections {
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
    if text.len() == header_end {
        text.truncate(family_start);
    }
}

/// `value` as a label value of the text format 0.0.4: `\`, `"` and line feed escaped
/// (<https://prometheus.io/docs/instrumenting/exposition_formats/#text-format-details>).
/// Connection names are validated to `[a-z0-9_.-]+` and never need it, but `Metrics` is a
/// library type and a name that did would otherwise break the whole scrape; the check costs a
/// scan of each name per scrape, and a copy only for a name that needs it.
fn escape_label_value(value: &str) -> Cow<'_, str> {
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

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Registers `metric` in `registry`. The names are constants of this file, so a failure is a
/// programming error (a duplicate or malformed name) that every test run would catch.
fn register<M>(registry: &Registry, metric: prometheus::Result<M>) -> M
where
    M: prometheus::core::Collector + Clone + 'static,
{
    let metric = metric.expect("metric definition is valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are unique");
    metric
}

/// The per-connection series as the prometheus crate's `IntGaugeVec`s: how [`Metrics`] held
/// them before issue 9. Not for production: it is the reference the hand-written exposition is
/// pinned to (a unit test compares them byte for byte) and measured against
/// (`examples/metrics_render.rs`), kept here once for both.
#[doc(hidden)]
pub mod labelled_reference {
    use super::*;

    /// The six per-connection families in their own registry.
    pub struct LabelledConnectionSeries {
        registry: Registry,
        connection_status: IntGaugeVec,
        connection_up: IntGaugeVec,
        key_permission: IntGaugeVec,
        key_ip_restricted: IntGaugeVec,
        key_expiry: IntGaugeVec,
        last_check: IntGaugeVec,
    }

    impl Default for LabelledConnectionSeries {
        fn default() -> Self {
            LabelledConnectionSeries::new()
        }
    }

    impl LabelledConnectionSeries {
        pub fn new() -> LabelledConnectionSeries {
            let registry = Registry::new();
            let gauges = |name: &str, help: &str, labels: &[&str]| {
                register(&registry, IntGaugeVec::new(Opts::new(name, help), labels))
            };
            let conn = ["connection", "exchange"];
            LabelledConnectionSeries {
                connection_status: gauges(
                    CONNECTION_STATUS,
                    CONNECTION_STATUS_HELP,
                    &["connection", "exchange", "status"],
                ),
                connection_up: gauges(CONNECTION_UP, CONNECTION_UP_HELP, &conn),
                key_permission: gauges(
                    KEY_PERMISSION,
                    KEY_PERMISSION_HELP,
                    &["connection", "exchange", "permission"],
                ),
                key_ip_restricted: gauges(KEY_IP_RESTRICTED, KEY_IP_RESTRICTED_HELP, &conn),
                key_expiry: gauges(KEY_EXPIRY, KEY_EXPIRY_HELP, &conn),
                last_check: gauges(LAST_CHECK, LAST_CHECK_HELP, &conn),
                registry,
            }
        }

        /// Shows `verdict`: the former `Metrics::observe` minus the histogram and counter.
        pub fn show(&self, verdict: &Verdict) {
            let conn = verdict.connection.as_str();
            let exchange = verdict.exchange.name();
            let labels = [conn, exchange];
            for status in Status::ALL {
                self.connection_status
                    .with_label_values(&[conn, exchange, status.name()])
                    .set(i64::from(status == verdict.status));
            }
            self.connection_up
                .with_label_values(&labels)
                .set(i64::from(verdict.status == Status::Connected));
            for (permission, value) in permission_values(&verdict.permissions) {
                let perm_labels = [conn, exchange, permission];
                match value {
                    Some(granted) => self
                        .key_permission
                        .with_label_values(&perm_labels)
                        .set(i64::from(granted)),
                    None => {
                        let _ = self.key_permission.remove_label_values(&perm_labels);
                    }
                }
            }
            let facts = [
                (
                    &self.key_ip_restricted,
                    verdict.ip_restricted.map(i64::from),
                ),
                (
                    &self.key_expiry,
                    verdict.expires_at.map(|at| at.timestamp()),
                ),
                (&self.last_check, Some(verdict.checked_at.timestamp())),
            ];
            for (gauges, value) in facts {
                match value {
                    Some(value) => gauges.with_label_values(&labels).set(value),
                    None => {
                        let _ = gauges.remove_label_values(&labels);
                    }
                }
            }
        }

        /// The exposition as the former `Metrics::render` made it: gather, then encode.
        pub fn render(&self) -> String {
            TextEncoder::new()
                .encode_to_string(&self.registry.gather())
                .expect("gauges encode")
        }
    }
}

/// The axum router: GET /metrics (text/plain; version=0.0.4) and GET /healthz — 200 "ok" while
/// `healthy()` returns true, 503 otherwise. The daemon merges more routes into it.
pub fn router(metrics: Arc<Metrics>, healthy: Arc<dyn Fn() -> bool + Send + Sync>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move {
                    // Rendering 10,000 connections takes ~2 ms of CPU (examples/metrics_render.rs)
                    // against the few microseconds of a hop to the blocking pool: worth keeping
                    // off the runtime's worker threads (one per core), where checks and their
                    // timers run.
                    let body = tokio::task::spawn_blocking(move || metrics.render())
                        .await
                        .unwrap_or_default();
                    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body)
                }
            }),
        )
        .route(
            "/healthz",
            get(move || {
                let ok = healthy();
                async move {
                    if ok {
                        (StatusCode::OK, "ok").into_response()
                    } else {
                        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy").into_response()
                    }
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn verdict(connection: &str, exchange: ExchangeKind, status: Status) -> Verdict {
        Verdict {
            connection: connection.to_string(),
            exchange,
            status,
            permissions: Permissions {
                read: Some(true),
                trade: Some(true),
                withdraw: Some(false),
                futures: None,
            },
            ip_restricted: Some(true),
            expires_at: Some(Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()),
            latency_ms: 120,
            message: "ok".to_string(),
            remedy: None,
            warnings: Vec::new(),
            checked_at: Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap(),
        }
    }

    /// The value of the series `series` (name plus `{labels}` exactly as rendered), if present.
    fn value(text: &str, series: &str) -> Option<String> {
        text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.to_string())
        })
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
        let v = |s: &str| value(&t, s);
        assert_eq!(
            v(&format!("keywarden_connection_up{{{l}}}")).as_deref(),
            Some("1")
        );
        assert_eq!(
            v(&format!(
                "keywarden_key_permission{{{l},permission=\"read\"}}"
            ))
            .as_deref(),
            Some("1")
        );
        assert_eq!(
            v(&format!(
                "keywarden_key_permission{{{l},permission=\"withdraw\"}}"
            ))
            .as_deref(),
            Some("0")
        );
        assert_eq!(
            v(&format!("keywarden_key_ip_restricted{{{l}}}")).as_deref(),
            Some("1")
        );
        assert_eq!(
            v(&format!("keywarden_key_expiry_timestamp_seconds{{{l}}}")).as_deref(),
            Some("1893553445")
        );
        assert_eq!(
            v(&format!("keywarden_last_check_timestamp_seconds{{{l}}}")).as_deref(),
            Some("1748779200")
        );
        assert_eq!(
            v("keywarden_check_duration_seconds_bucket{exchange=\"mexc\",le=\"0.1\"}").as_deref(),
            Some("0")
        );
        assert_eq!(
            v("keywarden_check_duration_seconds_bucket{exchange=\"mexc\",le=\"0.25\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("keywarden_check_duration_seconds_sum{exchange=\"mexc\"}").as_deref(),
            Some("0.12")
        );
        assert_eq!(
            v("keywarden_checks_total{exchange=\"mexc\",status=\"connected\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v(&format!(
                "keywarden_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            ))
            .as_deref(),
            Some("1")
        );
        assert_eq!(v("keywarden_alert_outbox_depth").as_deref(), Some("0"));
        assert_eq!(v("keywarden_store_size_bytes").as_deref(), Some("0"));
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
        assert_eq!(
            value(&t, &status_series("alice", "mexc", "connected")).as_deref(),
            Some("0")
        );
        assert_eq!(
            value(
                &t,
                "keywarden_connection_up{connection=\"alice\",exchange=\"mexc\"}"
            )
            .as_deref(),
            Some("0")
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
        assert_eq!(
            value(&t, &status_series("bob", "mexc", "invalid_key")).as_deref(),
            Some("1")
        );
        assert_eq!(
            t.lines()
                .filter(|l| l.starts_with("keywarden_connection_status{connection=\"bob\""))
                .count(),
            10
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
        let t = m.render();
        let v = |s: &str| value(&t, s);
        assert_eq!(
            v("keywarden_checks_total{exchange=\"mexc\",status=\"connected\"}").as_deref(),
            Some("3")
        );
        assert_eq!(
            v("keywarden_checks_total{exchange=\"mexc\",status=\"rate_limited\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("keywarden_checks_total{exchange=\"kucoin\",status=\"connected\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("keywarden_check_duration_seconds_count{exchange=\"mexc\"}").as_deref(),
            Some("4")
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
        let t = m.render();
        let v = |s: &str| value(&t, s);
        assert_eq!(
            v("keywarden_alerts_sent_total{channel=\"telegram\"}").as_deref(),
            Some("2")
        );
        assert_eq!(
            v("keywarden_alerts_failed_total{channel=\"email\",reason=\"timeout\"}").as_deref(),
            Some("1")
        );
        assert_eq!(v("keywarden_alert_outbox_depth").as_deref(), Some("7"));
        assert_eq!(v("keywarden_store_size_bytes").as_deref(), Some("4096"));
    }
}
