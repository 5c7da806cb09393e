//! Prometheus metrics: one registry holding every series of the design's "Metrics" table, the
//! text exposition for `GET /metrics`, and `GET /healthz`.
//!
//! Every metric is prefixed `keywarden_`. Labels only ever carry the connection name, the
//! exchange, a status, a permission name, an alert channel, a failure reason and the version:
//! never key material. A fact that is unknown (a permission the exchange would not tell, the IP
//! binding, the expiry) is an ABSENT series, not a 0, so "unknown" and "no" stay apart in PromQL
//! (`absent(...)` / `unless` for the one, `== 0` for the other).

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
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

fn permission_values(p: &Permissions) -> [(&'static str, Option<bool>); 4] {
    [
        ("read", p.read),
        ("trade", p.trade),
        ("withdraw", p.withdraw),
        ("futures", p.futures),
    ]
}

/// Every KeyWarden metric, in one registry. Shared as `Arc<Metrics>`; all methods take `&self`.
pub struct Metrics {
    registry: Registry,
    /// Serialises `observe`, `forget` and `render`, so a scrape never sees half of a verdict
    /// (the status flipped but `up` not yet) and two updates of one connection never interleave.
    update: Mutex<()>,
    /// `keywarden_connection_status{connection,exchange,status}`: 1 for the current status, 0
    /// for each of the other nine; all ten are always present for a known connection.
    connection_status: IntGaugeVec,
    /// `keywarden_connection_up{connection,exchange}`: 1 when the status is `connected`.
    connection_up: IntGaugeVec,
    /// `keywarden_key_permission{connection,exchange,permission}`: 1 granted, 0 not granted.
    /// A permission the exchange would not reveal (`None`) has NO series: absent means unknown.
    key_permission: IntGaugeVec,
    /// `keywarden_key_ip_restricted{connection,exchange}`: 1 bound to an IP whitelist, 0 not.
    /// Absent when the exchange would not tell.
    key_ip_restricted: IntGaugeVec,
    /// `keywarden_key_expiry_timestamp_seconds{connection,exchange}`: when the key expires.
    /// Absent when the key has no expiry (or it is unknown).
    key_expiry: IntGaugeVec,
    /// `keywarden_last_check_timestamp_seconds{connection,exchange}`: when the last check ran.
    last_check: IntGaugeVec,
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
    /// A fresh registry with every metric registered and `keywarden_build_info` set.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let conn = ["connection", "exchange"];

        let connection_status = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_connection_status",
                    "Current status of a connection's API key: 1 for the status it is in, 0 for \
                     each of the other statuses (connected is the only healthy one; see the \
                     design's status table for what each means and what to do).",
                ),
                &["connection", "exchange", "status"],
            ),
        );
        let connection_up = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_connection_up",
                    "1 when the connection's last check found the key usable (status connected), \
                     0 when anything is wrong with the key or the exchange.",
                ),
                &conn,
            ),
        );
        let key_permission = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_key_permission",
                    "Whether the key holds a right (read, trade, withdraw, futures): 1 granted, \
                     0 not granted; no series when the exchange does not reveal it. Withdraw \
                     must be 0.",
                ),
                &["connection", "exchange", "permission"],
            ),
        );
        let key_ip_restricted = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_key_ip_restricted",
                    "1 when the key is bound to an IP whitelist, 0 when anyone holding it can \
                     use it from any address; no series when the exchange does not reveal it.",
                ),
                &conn,
            ),
        );
        let key_expiry = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_key_expiry_timestamp_seconds",
                    "Unix time at which the key expires and stops working; no series when the \
                     key does not expire or the exchange does not say.",
                ),
                &conn,
            ),
        );
        let last_check = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "keywarden_last_check_timestamp_seconds",
                    "Unix time of the connection's last completed check; if it falls behind \
                     the schedule, checks are not running.",
                ),
                &conn,
            ),
        );
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
            update: Mutex::new(()),
            connection_status,
            connection_up,
            key_permission,
            key_ip_restricted,
            key_expiry,
            last_check,
            check_duration,
            checks_total,
            alerts_sent,
            alerts_failed,
            outbox_depth,
            store_size,
        }
    }

    fn lock(&self) -> MutexGuard<'_, ()> {
        self.update.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies one verdict: status gauges, up, permissions, ip, expiry, last check, duration,
    /// counter. Facts the verdict does not know (`None`) remove their series, so a permission
    /// going from known to unknown leaves no stale value behind.
    pub fn observe(&self, verdict: &Verdict) {
        let _guard = self.lock();
        self.set_state(verdict);
        let exchange = verdict.exchange.name();
        self.check_duration
            .with_label_values(&[exchange])
            .observe(verdict.latency_ms as f64 / 1000.0);
        self.checks_total
            .with_label_values(&[exchange, verdict.status.name()])
            .inc();
    }

    /// Shows a verdict recorded before a restart: the state gauges only, since the check it
    /// came from was already counted by the previous process.
    pub fn restore(&self, verdict: &Verdict) {
        let _guard = self.lock();
        self.set_state(verdict);
    }

    /// The per-connection gauges of `verdict`; the caller holds the update lock.
    fn set_state(&self, verdict: &Verdict) {
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
        match verdict.ip_restricted {
            Some(bound) => self
                .key_ip_restricted
                .with_label_values(&labels)
                .set(i64::from(bound)),
            None => {
                let _ = self.key_ip_restricted.remove_label_values(&labels);
            }
        }
        match verdict.expires_at {
            Some(at) => self
                .key_expiry
                .with_label_values(&labels)
                .set(at.timestamp()),
            None => {
                let _ = self.key_expiry.remove_label_values(&labels);
            }
        }
        self.last_check
            .with_label_values(&labels)
            .set(verdict.checked_at.timestamp());
    }

    /// Removes every series of a connection (after a reload removed it from the config), so it
    /// disappears from /metrics. The per-exchange histogram and counters are kept: they count
    /// checks that did happen. Call it after the connection's last check has finished, or a
    /// late verdict brings the series back.
    pub fn forget(&self, connection: &str, exchange: ExchangeKind) {
        let _guard = self.lock();
        let exchange = exchange.name();
        let labels = [connection, exchange];
        for status in Status::ALL {
            let _ =
                self.connection_status
                    .remove_label_values(&[connection, exchange, status.name()]);
        }
        for permission in PERMISSIONS {
            let _ = self
                .key_permission
                .remove_label_values(&[connection, exchange, permission]);
        }
        for vec in [
            &self.connection_up,
            &self.key_ip_restricted,
            &self.key_expiry,
            &self.last_check,
        ] {
            let _ = vec.remove_label_values(&labels);
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

    /// The text exposition format for GET /metrics.
    pub fn render(&self) -> String {
        let families = {
            let _guard = self.lock();
            self.registry.gather()
        };
        let mut buf = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&families, &mut buf) {
            tracing::error!(%err, "could not encode metrics");
        }
        String::from_utf8(buf).unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into())
    }
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

/// The axum router: GET /metrics (text/plain; version=0.0.4) and GET /healthz — 200 "ok" while
/// `healthy()` returns true, 503 otherwise. The daemon merges more routes into it.
pub fn router(metrics: Arc<Metrics>, healthy: Arc<dyn Fn() -> bool + Send + Sync>) -> axum::Router {
    axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let metrics = Arc::clone(&metrics);
                async move {
                    // Rendering thousands of connections takes a while: off the runtime's worker
                    // threads, so checks and their timers are not held up by a scrape.
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
        // Forgetting an unknown connection is harmless.
        m.forget("nobody", ExchangeKind::Okx);
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
