//! Request budgets: a token bucket per exchange host, shared by every connection that talks to
//! it, so ten thousand keys on one trading host never burst an exchange past its per-IP limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long every host of an exchange pauses after a 429 without `Retry-After`, or after the
/// exchange's own rate-limit code. Short on purpose: several exchanges limit signed endpoints
/// per account (Bybit's `X-Bapi-Limit-*`, KuCoin's private pools, MEXC's signed endpoints), so
/// one key's account meeting its limit must slow its siblings, not stop them.
pub const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause an exchange's reply can impose: a garbled or hostile header must not
/// stop checks for days. A real ban that long shows as repeated `rate_limited` verdicts.
pub const MAX_PAUSE: Duration = Duration::from_secs(600);
/// After a slow-down the rate doubles back towards the configured one every this long, as
/// long as the exchange does not throttle again.
pub const RECOVERY_STEP: Duration = Duration::from_secs(10);
/// The slowest a throttled exchange is paced: this fraction of its configured rate. Bounded so
/// that a key whose own account stays over its limit cannot starve every other key of the
/// exchange.
pub const MAX_SLOWDOWN: u64 = 4;

/// A token bucket: `rate` tokens a second, at most `burst` (= `rate`, at least 1) saved up.
///
/// Kept as the generic cell rate algorithm (GCRA): one atomic "theoretical arrival time" of the
/// next request instead of a (tokens, last refill) pair under a mutex. The same decisions, but
/// taking a token is one compare-and-swap: the daemon's worker threads take one per request
/// and never wait on each other for it (issue 9: a contended mutex is a futex wake-up).
///
/// The exchange can slow it down (issue 13): [`TokenBucket::pause_for`] holds every token
/// back until a moment it names, and [`TokenBucket::slow_down`] halves the rate, which then
/// doubles back every [`RECOVERY_STEP`] until it is the configured one again.
#[derive(Debug)]
pub struct TokenBucket {
    /// Nanoseconds between two tokens at the configured rate.
    base_interval: u64,
    /// Nanoseconds between two tokens now: `base_interval`, or up to [`MAX_SLOWDOWN`] times it
    /// after the exchange throttled us.
    interval: AtomicU64,
    /// How far the schedule may run ahead of now: the saved-up burst, `burst - 1` intervals.
    tolerance: u64,
    origin: Instant,
    /// When, in nanoseconds after `origin`, the next request is due if requests came evenly.
    next_due: AtomicU64,
    /// When (ns after `origin`) the rate last changed, for the recovery steps.
    changed_at: AtomicU64,
}

impl TokenBucket {
    pub fn new(rate: f64) -> TokenBucket {
        let burst = rate.max(1.0);
        let interval = (1e9 / rate.max(f64::MIN_POSITIVE)).clamp(1.0, u64::MAX as f64 / 64.0);
        TokenBucket {
            base_interval: interval as u64,
            interval: AtomicU64::new(interval as u64),
            tolerance: ((burst - 1.0) * interval).min(u64::MAX as f64 / 4.0) as u64,
            origin: Instant::now(),
            next_due: AtomicU64::new(0),
            changed_at: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Takes one token, or says how long until one is there (the caller sleeps, then retries).
    pub fn try_take(&self) -> Result<(), Duration> {
        let now = self.now();
        let interval = self.recover(now);
        let mut seen = self.next_due.load(Ordering::Relaxed);
        loop {
            let due = seen.max(now);
            let ahead = due - now;
            if ahead > self.tolerance {
                return Err(Duration::from_nanos(ahead - self.tolerance));
            }
            match self.next_due.compare_exchange_weak(
                seen,
                due + interval,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(()),
                Err(current) => seen = current,
            }
        }
    }

    /// Waits for a token.
    pub async fn take(&self) {
        while let Err(wait) = self.try_take() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every token back for `pause` from now; afterwards tokens come one interval apart,
    /// with no saved-up burst. A shorter pause than one already set changes nothing.
    pub fn pause_for(&self, pause: Duration) {
        let until = self.now() + pause.min(MAX_PAUSE).as_nanos() as u64;
        self.next_due
            .fetch_max(until + self.tolerance, Ordering::AcqRel);
    }

    /// Halves the rate (down to 1/[`MAX_SLOWDOWN`] of the configured one). Several requests
    /// in flight meet the same throttling: within one [`RECOVERY_STEP`] of the last change it
    /// halves once.
    pub fn slow_down(&self) {
        let now = self.now();
        let last = self.changed_at.load(Ordering::Relaxed);
        let current = self.interval.load(Ordering::Relaxed);
        if current != self.base_interval
            && now.saturating_sub(last) < RECOVERY_STEP.as_nanos() as u64
        {
            return;
        }
        let slower = (current * 2).min(self.base_interval * MAX_SLOWDOWN);
        self.interval.store(slower, Ordering::Relaxed);
        self.changed_at.store(now.max(1), Ordering::Relaxed);
    }

    /// The rate now, in requests a second (the configured one unless the exchange slowed us).
    pub fn rate(&self) -> f64 {
        1e9 / self.recover(self.now()) as f64
    }

    /// The interval now, after taking the recovery steps that are due.
    fn recover(&self, now: u64) -> u64 {
        let current = self.interval.load(Ordering::Relaxed);
        if current == self.base_interval {
            return current;
        }
        let last = self.changed_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) < RECOVERY_STEP.as_nanos() as u64 {
            return current;
        }
        let faster = (current / 2).max(self.base_interval);
        // A racing caller may have stepped already; either value is a valid step.
        if self
            .changed_at
            .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            self.interval.store(faster, Ordering::Relaxed);
            return faster;
        }
        self.interval.load(Ordering::Relaxed)
    }
}

/// The buckets of one exchange, one per host (spot and futures hosts have separate limits).
#[derive(Debug, Clone)]
pub struct HostBudgets {
    rate: f64,
    buckets: Arc<RwLock<HashMap<String, Arc<TokenBucket>>>>,
}

impl HostBudgets {
    pub fn new(rate: f64) -> HostBudgets {
        HostBudgets {
            rate,
            buckets: Arc::default(),
        }
    }

    /// The bucket for `host` (host:port), created on first use. Looked up for every request:
    /// a shared read lock, and no allocation once the host is known.
    pub fn bucket(&self, host: &str) -> Arc<TokenBucket> {
        let known = self.buckets.read().expect("budget lock is never poisoned");
        if let Some(bucket) = known.get(host) {
            return Arc::clone(bucket);
        }
        drop(known);
        let mut buckets = self.buckets.write().expect("budget lock is never poisoned");
        buckets
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(TokenBucket::new(self.rate)))
            .clone()
    }

    /// Waits for a token of `host`. A wait is added to the current check's [`Pacing`], so
    /// `check_timeout` does not count it.
    pub async fn take(&self, host: &str) {
        let bucket = self.bucket(host);
        if bucket.try_take().is_ok() {
            return;
        }
        let _waiting = Pacing::waiting();
        bucket.take().await;
    }

    /// The exchange throttled us (HTTP 429, or its own rate-limit code): every host of the
    /// exchange pauses for `retry_after` ([`DEFAULT_BACKOFF`] when it did not say) and halves
    /// its rate (to 1/[`MAX_SLOWDOWN`] at most). IP limits are shared by every key on this host, so one key meeting the limit
    /// means the next request of any key would meet it too.
    pub fn throttle(&self, retry_after: Option<Duration>) {
        let pause = retry_after.unwrap_or(DEFAULT_BACKOFF);
        let buckets = self.buckets.read().expect("budget lock is never poisoned");
        for bucket in buckets.values() {
            bucket.pause_for(pause);
            bucket.slow_down();
        }
    }

    /// Reads what a reply from `host` says about the rate limit: a 429 (or Binance's 418 ban)
    /// throttles the exchange; a quota the exchange reports as used up pauses `host` until the
    /// exchange says it refills (see [`super::rate_hints`]).
    pub fn heed(
        &self,
        host: &str,
        url: &str,
        status: reqwest::StatusCode,
        headers: &reqwest::header::HeaderMap,
    ) {
        let now_ms = super::now_ms();
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.as_u16() == 418 {
            // `Retry-After` is about this server; a quota header on a 429 may be one account's
            // (Bybit, KuCoin), which the other keys do not share.
            self.throttle(super::rate_hints::retry_after(headers));
        } else if let Some(pause) = super::rate_hints::exhausted_for(headers, url, now_ms) {
            self.bucket(host).pause_for(pause);
        }
    }

    /// The rate of `host` now (the configured one unless the exchange slowed us).
    pub fn rate_now(&self, host: &str) -> f64 {
        self.bucket(host).rate()
    }
}

tokio::task_local! {
    static PACING: Arc<Pacing>;
}

/// The time one check spent waiting for request budget tokens: ours, not the exchange's, so
/// the checker extends `check_timeout` by it and leaves it out of the check's latency.
///
/// Carried in a task-local ([`Pacing::scope`]) so every request of the probe adds to it
/// without the exchange modules passing it around.
#[derive(Debug, Default)]
pub struct Pacing {
    inner: std::sync::Mutex<PacingState>,
}

#[derive(Debug, Default)]
struct PacingState {
    waited: Duration,
    /// Set while a request of the check waits for a token.
    since: Option<Instant>,
}

impl Pacing {
    /// Runs `future` with waits for budget tokens added to `pacing`.
    pub async fn scope<F: std::future::Future>(pacing: Arc<Pacing>, future: F) -> F::Output {
        PACING.scope(pacing, future).await
    }

    /// The time waited so far, a wait in progress included.
    pub fn waited(&self) -> Duration {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.waited + state.since.map_or(Duration::ZERO, |since| since.elapsed())
    }

    /// Awaits `future` counting the time as the current check's pacing: for waits on another
    /// probe that is itself waiting for a token (OKX's shared public reading).
    pub async fn wait_for<F: std::future::Future>(future: F) -> F::Output {
        let _waiting = Pacing::waiting();
        future.await
    }

    /// Marks the current task's check as waiting for a token until the guard drops (also when
    /// the wait is cancelled). Outside [`Pacing::scope`] it records nothing.
    fn waiting() -> Option<WaitGuard> {
        PACING
            .try_with(|pacing| {
                let mut state = pacing.inner.lock().unwrap_or_else(|e| e.into_inner());
                // Requests of one probe are sequential; a nested wait keeps the outer start.
                if state.since.is_some() {
                    return None;
                }
                state.since = Some(Instant::now());
                Some(WaitGuard(Arc::clone(pacing)))
            })
            .ok()
            .flatten()
    }
}

struct WaitGuard(Arc<Pacing>);

impl Drop for WaitGuard {
    fn drop(&mut self) {
        let mut state = self.0.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(since) = state.since.take() {
            state.waited += since.elapsed();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_bucket_allows_a_burst_then_makes_callers_wait() {
        let bucket = TokenBucket::new(5.0);
        for _ in 0..5 {
            assert!(bucket.try_take().is_ok());
        }
        let wait = bucket.try_take().unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(200),
            "{wait:?}"
        );
    }

    #[test]
    fn hosts_have_separate_buckets() {
        let budgets = HostBudgets::new(1.0);
        assert!(budgets.bucket("api.mexc.com").try_take().is_ok());
        assert!(budgets.bucket("api.mexc.com").try_take().is_err());
        assert!(budgets.bucket("contract.mexc.com").try_take().is_ok());
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let bucket = TokenBucket::new(20.0);
        while bucket.try_take().is_ok() {}
        std::thread::sleep(Duration::from_millis(120));
        assert!(bucket.try_take().is_ok(), "one token every 50 ms");
        assert!(bucket.try_take().is_ok());
        assert!(bucket.try_take().is_err(), "not three");
    }

    #[test]
    fn threads_taking_at_once_get_exactly_the_burst() {
        let bucket = Arc::new(TokenBucket::new(1_000.0));
        let taken: usize = (0..4)
            .map(|_| {
                let bucket = Arc::clone(&bucket);
                std::thread::spawn(move || (0..1_000).filter(|_| bucket.try_take().is_ok()).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum();
        // 1,000 saved up, plus the few that refill while the threads run (one per ms).
        assert!((1_000..1_050).contains(&taken), "{taken}");
    }

    #[test]
    fn a_pause_holds_every_token_back_then_releases_them_without_a_burst() {
        let bucket = TokenBucket::new(100.0);
        bucket.pause_for(Duration::from_millis(200));
        let wait = bucket.try_take().unwrap_err();
        assert!(wait > Duration::from_millis(150), "{wait:?}");
        std::thread::sleep(Duration::from_millis(250));
        assert!(bucket.try_take().is_ok(), "free again after the pause");
        // The saved-up burst of 100 was spent by the pause: the next token is an interval away.
        let taken = (0..50).filter(|_| bucket.try_take().is_ok()).count();
        assert!(taken < 10, "{taken}");
    }

    #[test]
    fn a_slow_down_halves_the_rate_once_per_step() {
        let bucket = TokenBucket::new(20.0);
        assert!((bucket.rate() - 20.0).abs() < 0.01);
        bucket.slow_down();
        assert!((bucket.rate() - 10.0).abs() < 0.01, "{}", bucket.rate());
        bucket.slow_down();
        assert!(
            (bucket.rate() - 10.0).abs() < 0.01,
            "requests in flight meeting the same limit halve it once: {}",
            bucket.rate()
        );
    }

    #[test]
    fn throttling_pauses_every_host_of_the_exchange() {
        let budgets = HostBudgets::new(50.0);
        assert!(budgets.bucket("api.mexc.com:443").try_take().is_ok());
        assert!(budgets.bucket("contract.mexc.com:443").try_take().is_ok());
        budgets.throttle(Some(Duration::from_secs(2)));
        for host in ["api.mexc.com:443", "contract.mexc.com:443"] {
            let wait = budgets.bucket(host).try_take().unwrap_err();
            assert!(wait > Duration::from_millis(1500), "{host}: {wait:?}");
            assert!(budgets.rate_now(host) < 50.0);
        }
    }
}
