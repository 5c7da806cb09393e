//! Runs checks: one probe per connection, bounded in time and in how many run at once, each
//! judged into a [`Verdict`].
//!
//! Time a check spends queued for the exchange's request budget is pacing, not the exchange
//! being slow (issue 13): `check_timeout` is extended by it and the verdict's latency leaves it
//! out. A probe that panics (a bug) becomes that check's `exchange_unavailable`, logged and
//! counted, never a stuck connection or a dead `check_all` (issue 19).

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::Semaphore;

use crate::check::{judge, CheckContext, Policy};
use crate::config::{Connection, DaemonConfig};
use crate::domain::{ExchangeKind, Facts, Problem, ProblemKind, Verdict};
use crate::exchange::budget::{HostBudgets, Pacing};
use crate::exchange::{self, Exchange, HttpClient, ProbeTarget};
use crate::metrics::Metrics;

/// Checks connections against their exchanges. Cheap to share behind an `Arc`.
pub struct Checker {
    /// Every exchange's probe: [`Checker::from_parts`] fills in one for each kind, so a lookup
    /// by a connection's kind always finds it.
    exchanges: HashMap<ExchangeKind, Box<dyn Exchange>>,
    /// Each exchange's request budgets, shared with its probe's HTTP client: a probe that meets
    /// the exchange's rate limit slows them for every key of the exchange. One for each kind.
    budgets: HashMap<ExchangeKind, HostBudgets>,
    check_timeout: Duration,
    expiry_warning: Duration,
    permits: Arc<Semaphore>,
    /// `max_concurrent_checks`, the number of `permits`.
    max_concurrent: usize,
    /// Where budget waits and panics are counted (the daemon's); `None` for a one-shot check.
    metrics: Option<Arc<Metrics>>,
}

impl Checker {
    /// One shared HTTP client for every exchange; `check_timeout` bounds each request and the
    /// whole check; `max_concurrent_checks` bounds how many checks run at once.
    pub fn new(daemon: &DaemonConfig) -> Checker {
        let http = HttpClient::new(daemon.check_timeout);
        Checker::from_parts(daemon, |kind| {
            let budgets = HostBudgets::new(daemon.request_rate(kind));
            let probe = exchange::for_kind_with_budgets(kind, http.clone(), budgets.clone());
            (probe, budgets)
        })
    }

    /// A checker over the probes `probe_of` makes, one for every exchange kind (tests use
    /// probes of their own), each with the budgets it is metered by.
    fn from_parts(
        daemon: &DaemonConfig,
        probe_of: impl Fn(ExchangeKind) -> (Box<dyn Exchange>, HostBudgets),
    ) -> Checker {
        let (exchanges, budgets) = ExchangeKind::ALL
            .into_iter()
            .map(|kind| {
                let (probe, budgets) = probe_of(kind);
                ((kind, probe), (kind, budgets))
            })
            .unzip();
        Checker {
            exchanges,
            budgets,
            check_timeout: daemon.check_timeout,
            expiry_warning: daemon.expiry_warning,
            permits: Arc::new(Semaphore::new(daemon.max_concurrent_checks)),
            max_concurrent: daemon.max_concurrent_checks,
            metrics: None,
        }
    }

    /// Counts budget waits and probe panics in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Checker {
        self.metrics = Some(metrics);
        self
    }

    /// Checks one connection now. Waits for a free slot first when the bound is reached.
    pub async fn check(&self, connection: &Connection) -> Verdict {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the checker never closes its semaphore");
        let started = Instant::now();
        let checked_at = chrono::Utc::now();
        let pacing = Arc::new(Pacing::default());
        let facts = self.probe(connection, &pacing).await;
        let waited = pacing.waited();
        if let Some(metrics) = &self.metrics {
            if !waited.is_zero() {
                metrics.budget_waited(connection.exchange, waited);
            }
        }
        // The exchange's own rate-limit code: slow every key of the exchange. An HTTP 429 was
        // heeded when it came, its `Retry-After` with it; a code's own wait may be one account's
        // quota, so the pause here is the short default.
        if facts
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::RateLimited)
        {
            self.budgets[&connection.exchange].throttle(None);
        }
        let ctx = CheckContext {
            connection: connection.name.clone(),
            exchange: connection.exchange,
            checked_at,
            latency_ms: started.elapsed().saturating_sub(waited).as_millis() as u64,
        };
        judge(ctx, &facts, &self.policy(connection))
    }

    /// Checks all `connections` concurrently (within the bound); verdicts in the same order.
    pub async fn check_all(self: &Arc<Self>, connections: &[Connection]) -> Vec<Verdict> {
        self.check_all_counted(connections, Arc::default()).await
    }

    /// Like [`Checker::check_all`], adding one to `done` as each check finishes (for a
    /// progress line).
    ///
    /// `max_concurrent_checks` worker tasks each take the next unchecked connection until none
    /// is left, rather than one task per connection: a spawn per check from the caller's thread
    /// cost two thread wake-ups per check (strace at 10,000 connections: 46,000 futex calls
    /// against the bare client's 10,000), and 10,000 parked tasks would each hold a connection.
    /// Never panics: a connection whose check could not finish gets an `exchange_unavailable`
    /// verdict saying so.
    pub async fn check_all_counted(
        self: &Arc<Self>,
        connections: &[Connection],
        done: Arc<AtomicUsize>,
    ) -> Vec<Verdict> {
        let connections: Arc<[Connection]> = connections.into();
        let next = Arc::new(AtomicUsize::new(0));
        let verdicts: Arc<Mutex<Vec<Option<Verdict>>>> =
            Arc::new(Mutex::new(vec![None; connections.len()]));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.max_concurrent.clamp(1, connections.len().max(1)) {
            let (checker, connections, next, verdicts, done) = (
                Arc::clone(self),
                Arc::clone(&connections),
                Arc::clone(&next),
                Arc::clone(&verdicts),
                Arc::clone(&done),
            );
            workers.spawn(async move {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(connection) = connections.get(index) else {
                        return;
                    };
                    let verdict = checker.check(connection).await;
                    verdicts.lock().unwrap_or_else(|e| e.into_inner())[index] = Some(verdict);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while let Some(joined) = workers.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "a check worker stopped; its check is reported unavailable");
            }
        }
        let verdicts = std::mem::take(&mut *verdicts.lock().unwrap_or_else(|e| e.into_inner()));
        verdicts
            .into_iter()
            .zip(connections.iter())
            .map(|(verdict, connection)| {
                verdict.unwrap_or_else(|| {
                    let facts = Facts::with_problem(Problem::unavailable(
                        "the check did not finish (an internal error in KeyWarden; see its log)",
                    ));
                    let ctx = CheckContext {
                        connection: connection.name.clone(),
                        exchange: connection.exchange,
                        checked_at: chrono::Utc::now(),
                        latency_ms: 0,
                    };
                    judge(ctx, &facts, &self.policy(connection))
                })
            })
            .collect()
    }

    /// Runs the connection's probe. Its time for the exchange is bounded by `check_timeout`;
    /// time it spends waiting for budget tokens (in `pacing`) extends the deadline. A panic in
    /// the probe is caught and becomes an `exchange_unavailable` problem.
    async fn probe(&self, connection: &Connection, pacing: &Arc<Pacing>) -> Facts {
        let exchange = &self.exchanges[&connection.exchange];
        let target = ProbeTarget {
            credentials: connection.credentials.clone(),
            markets: connection.markets,
            base_url: connection.base_url.clone(),
            futures_base_url: connection.futures_base_url.clone(),
            region: connection.region,
        };
        let started = tokio::time::Instant::now();
        let deadline = || started + self.check_timeout + pacing.waited();
        let probe = Pacing::scope(
            Arc::clone(pacing),
            AssertUnwindSafe(exchange.probe(&target)).catch_unwind(),
        );
        tokio::pin!(probe);
        loop {
            match tokio::time::timeout_at(deadline(), &mut probe).await {
                Ok(Ok(facts)) => return facts,
                Ok(Err(panic)) => return self.panicked(connection, panic.as_ref()),
                // Waiting for the budget moved the deadline on: keep going.
                Err(_) if tokio::time::Instant::now() < deadline() => continue,
                Err(_) => {
                    let waited = pacing.waited();
                    let queued = match waited.as_secs() {
                        0 => String::new(),
                        _ => format!(
                            " (not counting {} queued for the request budget)",
                            humantime::format_duration(Duration::from_secs(waited.as_secs()))
                        ),
                    };
                    return Facts::with_problem(Problem::unavailable(format!(
                        "check timed out after {}{queued}",
                        humantime::format_duration(self.check_timeout)
                    )));
                }
            }
        }
    }

    /// A probe panicked: a bug in KeyWarden, not the exchange's doing and not the key's. The
    /// check is `exchange_unavailable` (never a verdict about the key), logged as an error and
    /// counted in `keywarden_check_panics_total`.
    fn panicked(&self, connection: &Connection, panic: &(dyn std::any::Any + Send)) -> Facts {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string());
        tracing::error!(
            connection = %connection.name,
            exchange = %connection.exchange,
            panic = %what,
            "the check's probe panicked (a bug in KeyWarden); reported as exchange_unavailable"
        );
        if let Some(metrics) = &self.metrics {
            metrics.check_panicked(connection.exchange);
        }
        Facts::with_problem(Problem::unavailable(format!(
            "internal error in KeyWarden's {} check (logged); the key was not judged",
            connection.exchange
        )))
    }

    fn policy(&self, connection: &Connection) -> Policy {
        Policy {
            markets: connection.markets,
            require_ip_whitelist: connection.require_ip_whitelist,
            require_withdraw_verified: connection.require_withdraw_verified,
            expiry_warning: chrono::Duration::from_std(self.expiry_warning)
                .unwrap_or(chrono::Duration::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::domain::{BoxFuture, Status};
    use crate::exchange::Steps;

    /// A probe that does what its closure says (the same for every exchange).
    struct FakeProbe {
        behaviour: fn(HostBudgets) -> BoxFuture<'static, Facts>,
        budgets: HostBudgets,
    }

    impl Exchange for FakeProbe {
        fn steps<'a>(&'a self, _target: &'a ProbeTarget, facts: &'a mut Facts) -> Steps<'a> {
            Box::pin(async move {
                *facts = (self.behaviour)(self.budgets.clone()).await;
                Ok(())
            })
        }
    }

    fn config(check_timeout: &str) -> Config {
        let text = "[daemon]\nstate_dir = \"/tmp/kw-checker-test\"\ncheck_timeout = \"1s\"\n\
             [connections.alice-mexc]\nexchange = \"mexc\"\napi_key = \"k\"\napi_secret = \"s\"\n\
             [connections.bob-mexc]\nexchange = \"mexc\"\napi_key = \"k\"\napi_secret = \"s\"\n";
        let mut config =
            Config::from_toml(text, std::path::Path::new("test.toml")).expect("valid test config");
        // Shorter than the config file may say (at least 1s), so the tests stay quick.
        config.daemon.check_timeout = humantime::parse_duration(check_timeout).unwrap();
        config
    }

    fn checker(
        config: &Config,
        rate: f64,
        behaviour: fn(HostBudgets) -> BoxFuture<'static, Facts>,
    ) -> Checker {
        Checker::from_parts(&config.daemon, |_| {
            let budgets = HostBudgets::new(rate);
            let probe = FakeProbe {
                behaviour,
                budgets: budgets.clone(),
            };
            (Box::new(probe) as Box<dyn Exchange>, budgets)
        })
    }

    fn healthy_facts() -> Facts {
        Facts {
            permissions: crate::domain::Permissions {
                read: Some(true),
                trade: Some(true),
                withdraw: Some(false),
                futures: Some(true),
            },
            ip_restricted: Some(true),
            ..Facts::default()
        }
    }

    #[tokio::test]
    async fn a_probe_that_panics_is_unavailable_logged_and_counted_and_check_all_goes_on() {
        let config = config("5s");
        let metrics = Arc::new(Metrics::new());
        let checker = Arc::new(
            checker(&config, 100.0, |_| {
                Box::pin(async {
                    let expires_ms: i64 = i64::MAX;
                    // What issue 19 met: arithmetic on a reply's number that overflows.
                    let _ = std::hint::black_box(expires_ms)
                        .checked_add(1)
                        .expect("overflow");
                    Facts::default()
                })
            })
            .with_metrics(Arc::clone(&metrics)),
        );
        let verdicts = checker.check_all(&config.connections).await;
        assert_eq!(verdicts.len(), 2, "every connection has its verdict");
        for verdict in &verdicts {
            assert_eq!(verdict.status, Status::ExchangeUnavailable);
            assert!(
                verdict.message.contains("internal error"),
                "{}",
                verdict.message
            );
        }
        assert_eq!(verdicts[0].connection, "alice-mexc");
        let text = metrics.render();
        assert!(
            text.contains("keywarden_check_panics_total{exchange=\"mexc\"} 2"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn waiting_for_the_budget_is_not_counted_against_check_timeout() {
        // One token a second and a 300 ms check timeout: the second and third requests wait
        // ~1 s each for their token, far past the timeout, and the check still completes.
        let config = config("300ms");
        let metrics = Arc::new(Metrics::new());
        let checker = checker(&config, 1.0, |budgets| {
            Box::pin(async move {
                for _ in 0..3 {
                    budgets.take("exchange.test:443").await;
                }
                healthy_facts()
            })
        })
        .with_metrics(Arc::clone(&metrics));
        let verdict = checker.check(&config.connections[0]).await;
        assert_eq!(verdict.status, Status::Connected, "{}", verdict.message);
        assert!(
            verdict.latency_ms < 500,
            "the latency leaves the budget wait out: {} ms",
            verdict.latency_ms
        );
        let text = metrics.render();
        let waited: f64 = text
            .lines()
            .find(|l| {
                l.starts_with("keywarden_request_budget_wait_seconds_total{exchange=\"mexc\"}")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no budget wait series in {text}"));
        assert!(waited >= 1.5, "about two seconds waited: {waited}");
    }

    #[tokio::test]
    async fn a_probe_that_hangs_after_its_wait_still_times_out() {
        let config = config("300ms");
        let checker = checker(&config, 1.0, |budgets| {
            Box::pin(async move {
                budgets.take("exchange.test:443").await;
                budgets.take("exchange.test:443").await;
                std::future::pending::<()>().await;
                Facts::default()
            })
        });
        let started = Instant::now();
        let verdict = checker.check(&config.connections[0]).await;
        assert_eq!(verdict.status, Status::ExchangeUnavailable);
        assert!(
            verdict.message.contains("check timed out after 300ms"),
            "{}",
            verdict.message
        );
        assert!(
            verdict.message.contains("not counting"),
            "{}",
            verdict.message
        );
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[tokio::test]
    async fn meeting_the_rate_limit_slows_the_exchange_for_every_key() {
        let config = config("5s");
        let checker = checker(&config, 100.0, |budgets| {
            Box::pin(async move {
                budgets.take("exchange.test:443").await;
                Facts::with_problem(Problem::rate_limited(
                    "HTTP 429",
                    Some(Duration::from_secs(3)),
                ))
            })
        });
        let verdict = checker.check(&config.connections[0]).await;
        assert_eq!(verdict.status, Status::RateLimited);
        let bucket = checker.budgets[&ExchangeKind::Mexc].bucket("exchange.test:443");
        let wait = bucket.try_take().expect_err("the exchange is paused");
        assert!(wait > Duration::from_millis(500), "{wait:?}");
        assert!(bucket.rate() < 100.0, "and slowed");
    }
}
