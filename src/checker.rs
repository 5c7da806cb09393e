//! Runs checks: one probe per connection, bounded in time and in how many run at once, each
//! judged into a [`Verdict`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::check::{judge, CheckContext, Policy, Verdict};
use crate::config::{Connection, DaemonConfig};
use crate::exchange::{self, Exchange, ExchangeKind, Facts, HttpClient, ProbeTarget, Problem};

/// Checks connections against their exchanges. Cheap to share behind an `Arc`.
pub struct Checker {
    exchanges: HashMap<ExchangeKind, Box<dyn Exchange>>,
    check_timeout: Duration,
    expiry_warning: Duration,
    permits: Arc<Semaphore>,
    /// `max_concurrent_checks`, the number of `permits`.
    max_concurrent: usize,
}

impl Checker {
    /// One shared HTTP client for every exchange; `check_timeout` bounds each request and the
    /// whole check; `max_concurrent_checks` bounds how many checks run at once.
    pub fn new(daemon: &DaemonConfig) -> Checker {
        let http = HttpClient::new(daemon.check_timeout);
        let exchanges = ExchangeKind::ALL
            .into_iter()
            .filter_map(|kind| {
                exchange::for_kind_with_rate(kind, http.clone(), daemon.request_rate(kind))
                    .map(|e| (kind, e))
            })
            .collect();
        Checker {
            exchanges,
            check_timeout: daemon.check_timeout,
            expiry_warning: daemon.expiry_warning,
            permits: Arc::new(Semaphore::new(daemon.max_concurrent_checks)),
            max_concurrent: daemon.max_concurrent_checks,
        }
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
        let facts = self.probe(connection).await;
        let ctx = CheckContext {
            connection: connection.name.clone(),
            exchange: connection.exchange,
            checked_at,
            latency_ms: started.elapsed().as_millis() as u64,
        };
        judge(ctx, &facts, &self.policy(connection))
    }

    /// Checks all `connections` concurrently (within the bound); verdicts in the same order.
    ///
    /// `max_concurrent_checks` worker tasks each take the next unchecked connection until none
    /// is left, rather than one task per connection: a spawn per check from the caller's thread
    /// cost two thread wake-ups per check (strace at 10,000 connections: 46,000 futex calls
    /// against the bare client's 10,000), and 10,000 parked tasks would each hold a connection.
    pub async fn check_all(self: &Arc<Self>, connections: &[Connection]) -> Vec<Verdict> {
        let connections: Arc<[Connection]> = connections.into();
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..self.max_concurrent.clamp(1, connections.len().max(1)) {
            let (checker, connections, next) = (
                Arc::clone(self),
                Arc::clone(&connections),
                Arc::clone(&next),
            );
            workers.spawn(async move {
                let mut checked = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(connection) = connections.get(index) else {
                        return checked;
                    };
                    checked.push((index, checker.check(connection).await));
                }
            });
        }
        let mut verdicts: Vec<Option<Verdict>> = vec![None; connections.len()];
        while let Some(joined) = workers.join_next().await {
            for (index, verdict) in joined.expect("a check task panicked") {
                verdicts[index] = Some(verdict);
            }
        }
        verdicts.into_iter().flatten().collect()
    }

    async fn probe(&self, connection: &Connection) -> Facts {
        let Some(exchange) = self.exchanges.get(&connection.exchange) else {
            // Config validation refuses unsupported exchanges, so this is a programming error
            // surfaced as a verdict rather than a panic in a long-running daemon.
            return Facts::with_problem(Problem::unavailable(format!(
                "exchange {} is not supported by this build",
                connection.exchange
            )));
        };
        let target = ProbeTarget {
            credentials: connection.credentials.clone(),
            markets: connection.markets,
            base_url: connection.base_url.clone(),
            futures_base_url: connection.futures_base_url.clone(),
        };
        match tokio::time::timeout(self.check_timeout, exchange.probe(&target)).await {
            Ok(facts) => facts,
            Err(_) => Facts::with_problem(Problem::unavailable(format!(
                "check timed out after {}",
                humantime::format_duration(self.check_timeout)
            ))),
        }
    }

    fn policy(&self, connection: &Connection) -> Policy {
        Policy {
            markets: connection.markets,
            require_ip_whitelist: connection.require_ip_whitelist,
            expiry_warning: chrono::Duration::from_std(self.expiry_warning)
                .unwrap_or(chrono::Duration::MAX),
        }
    }
}
