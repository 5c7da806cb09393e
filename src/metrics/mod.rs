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
//!
//! Here: the registry with the process-wide families, [`Metrics`] over both stores, and the
//! [`router`]. The per-connection table and its exposition are in `connections`; the former
//! `IntGaugeVec` implementation they are pinned to and measured against is
//! [`labelled_reference`]; the unit tests are in `tests`.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{
    CounterVec, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::domain::{ExchangeKind, Verdict};
use connections::{show, ConnectionChunks, ConnectionSeries, ConnectionTable};

mod connections;
// Public for `examples/metrics_render.rs`; hidden from the docs, as it is not for production.
#[doc(hidden)]
pub mod labelled_reference;
#[cfg(test)]
mod tests;

/// Buckets of `keywarden_check_duration_seconds`: a healthy signed HTTP check takes tens to
/// hundreds of milliseconds, a struggling exchange seconds, and `check_timeout` (default 15 s)
/// caps the rest.
pub const CHECK_DURATION_BUCKETS: [f64; 12] = [
    0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0,
];

/// The permission label values of `keywarden_key_permission`, in the design's order.
pub const PERMISSIONS: [&str; 4] = ["read", "trade", "withdraw", "futures"];

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
    /// `keywarden_request_budget_wait_seconds_total{exchange}`: time checks spent queued for
    /// the exchange's request budget (pacing, not the exchange being slow).
    budget_wait: CounterVec,
    /// `keywarden_check_panics_total{exchange}`: probes that panicked (a bug, reported as
    /// `exchange_unavailable`).
    check_panics: IntCounterVec,
    /// `keywarden_checks_skipped_total{schedule}`: turns skipped because the connection's
    /// previous check was still queued or running.
    checks_skipped: IntCounterVec,
    /// `keywarden_round_duration_seconds{schedule}`: how long the last finished round took.
    round_duration: GaugeVec,
    /// `keywarden_schedule_period_seconds{schedule}`: the time between two rounds.
    schedule_period: GaugeVec,
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
        let budget_wait = register(
            &registry,
            CounterVec::new(
                Opts::new(
                    "keywarden_request_budget_wait_seconds_total",
                    "Time checks spent waiting for the exchange's request budget: our own \
                     pacing, never counted against check_timeout. Rising faster than real \
                     time means checks queue for the budget.",
                ),
                &["exchange"],
            ),
        );
        let check_panics = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "keywarden_check_panics_total",
                    "Checks whose probe panicked (a KeyWarden bug); each was reported as \
                     exchange_unavailable and logged as an error.",
                ),
                &["exchange"],
            ),
        );
        let checks_skipped = register(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "keywarden_checks_skipped_total",
                    "Turns of a schedule skipped because the connection's previous check was \
                     still queued or running: the schedule asks for more than the request \
                     budget allows.",
                ),
                &["schedule"],
            ),
        );
        let round_duration = register(
            &registry,
            GaugeVec::new(
                Opts::new(
                    "keywarden_round_duration_seconds",
                    "How long the last finished round of a schedule took, from its firing to \
                     its last check; above keywarden_schedule_period_seconds the round overran.",
                ),
                &["schedule"],
            ),
        );
        let schedule_period = register(
            &registry,
            GaugeVec::new(
                Opts::new(
                    "keywarden_schedule_period_seconds",
                    "The time between two firings of a schedule.",
                ),
                &["schedule"],
            ),
        );

        Metrics {
            registry,
            connections: Mutex::new(ConnectionTable::new()),
            check_duration,
            checks_total,
            alerts_sent,
            alerts_failed,
            outbox_depth,
            store_size,
            budget_wait,
            check_panics,
            checks_skipped,
            round_duration,
            schedule_period,
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

    /// Shows `channel`'s failure counters for each of `reasons` from the start, at 0 until a
    /// failure (Prometheus' guidance: a series that appears only on the first failure leaves
    /// the dashboard's panel empty and `rate()` blind to it). Counts already made are kept.
    pub fn declare_alert_failures(&self, channel: &str, reasons: &[&str]) {
        for reason in reasons {
            self.alerts_failed.with_label_values(&[channel, reason]);
        }
    }

    /// Counts one failed delivery attempt. `reason` must be a short fixed word
    /// (`rate_limited`, `timeout`, `rejected`, `bad_address`, ...), never the channel's error
    /// text: every distinct value is a new series, and error text may echo secrets.
    pub fn alert_failed(&self, channel: &str, reason: &str) {
        self.alerts_failed
            .with_label_values(&[channel, reason])
            .inc();
    }

    /// Adds a check's wait for `exchange`'s request budget.
    pub fn budget_waited(&self, exchange: ExchangeKind, waited: std::time::Duration) {
        self.budget_wait
            .with_label_values(&[exchange.name()])
            .inc_by(waited.as_secs_f64());
    }

    /// Counts a probe of `exchange` that panicked.
    pub fn check_panicked(&self, exchange: ExchangeKind) {
        self.check_panics
            .with_label_values(&[exchange.name()])
            .inc();
    }

    /// Counts a turn of `schedule` skipped because the previous check was still in progress.
    pub fn check_skipped(&self, schedule: &str) {
        self.checks_skipped.with_label_values(&[schedule]).inc();
    }

    /// Records a finished round of `schedule`.
    pub fn round_finished(&self, schedule: &str, took: std::time::Duration) {
        self.round_duration
            .with_label_values(&[schedule])
            .set(took.as_secs_f64());
    }

    /// Sets the period of `schedule`, and drops the series of schedules not in `current`
    /// (after a reload removed them).
    pub fn set_schedules(&self, current: &[(String, std::time::Duration)]) {
        use prometheus::core::Collector;
        let keep: std::collections::HashSet<&str> =
            current.iter().map(|(s, _)| s.as_str()).collect();
        for family in [&self.round_duration, &self.schedule_period] {
            for gone in label_values(family, "schedule")
                .into_iter()
                .filter(|s| !keep.contains(s.as_str()))
            {
                let _ = family.remove_label_values(&[&gone]);
            }
        }
        for gone in label_values_of(&self.checks_skipped.collect(), "schedule")
            .into_iter()
            .filter(|s| !keep.contains(s.as_str()))
        {
            let _ = self.checks_skipped.remove_label_values(&[&gone]);
        }
        for (schedule, period) in current {
            self.schedule_period
                .with_label_values(&[schedule])
                .set(period.as_secs_f64());
            // At 0 from the start, so `increase()` and alert rules see the first skip.
            self.checks_skipped.with_label_values(&[schedule]);
        }
    }

    /// Shows the per-exchange pacing counters of the exchanges in use at 0, so rates and
    /// alert rules have a series before the first wait or panic.
    pub fn set_exchanges(&self, exchanges: impl IntoIterator<Item = ExchangeKind>) {
        for exchange in exchanges {
            self.budget_wait.with_label_values(&[exchange.name()]);
            self.check_panics.with_label_values(&[exchange.name()]);
        }
    }

    /// Sets `keywarden_alert_outbox_depth`.
    pub fn set_outbox_depth(&self, depth: u64) {
        self.outbox_depth.set(saturating_i64(depth));
    }

    /// The text exposition format for GET /metrics: the registry's families, then the
    /// per-connection ones.
    pub fn render(&self) -> String {
        self.exposition().collect()
    }

    /// The text exposition as a sequence of chunks, for a response body that is streamed
    /// rather than built whole: at 10,000 connections the text is 16 MB, which a scrape
    /// should not add to the daemon's peak memory.
    ///
    /// A snapshot is taken under the lock (a pointer and 32 bytes per connection, ~0.4 ms at
    /// 10,000 connections, plus the registry's gather); the writing happens after it, as the
    /// body is sent, so `observe` on the runtime's worker threads is barely held up.
    pub fn exposition(&self) -> impl Iterator<Item = String> + Send + 'static {
        let (families, snapshot) = {
            let connections = self.lock();
            let snapshot: Vec<(Arc<str>, ConnectionSeries)> = connections
                .iter()
                .map(|(name, series)| (Arc::clone(name), *series))
                .collect();
            (self.registry.gather(), snapshot)
        };
        let mut registry_text = String::with_capacity(4_096);
        if let Err(err) = TextEncoder::new().encode_utf8(&families, &mut registry_text) {
            tracing::error!(%err, "could not encode metrics");
        }
        std::iter::once(registry_text).chain(ConnectionChunks::new(snapshot))
    }
}

/// The values of `label` in `family`'s current series.
fn label_values(family: &GaugeVec, label: &str) -> Vec<String> {
    use prometheus::core::Collector;
    label_values_of(&family.collect(), label)
}

/// The values of `label` in the series of `families`.
fn label_values_of(families: &[prometheus::proto::MetricFamily], label: &str) -> Vec<String> {
    families
        .iter()
        .flat_map(|f| f.get_metric().iter())
        .flat_map(|m| m.get_label().iter())
        .filter(|l| l.name() == label)
        .map(|l| l.value().to_string())
        .collect()
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Registers `metric` in `registry`. The names are constants of this module, so a failure is a
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
                    // Streamed a chunk (~1,000 connections, ~0.1 ms of writing) at a time as
                    // the client reads: the worker thread is never held for long, and the
                    // 16 MB of a 10,000-connection scrape never sit in memory at once.
                    let chunks = metrics.exposition().map(Ok::<_, std::convert::Infallible>);
                    let body = axum::body::Body::from_stream(futures_util::stream::iter(chunks));
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
