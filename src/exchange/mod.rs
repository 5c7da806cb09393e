//! Talking to exchanges: one file per exchange behind the small [`Exchange`] trait.
//!
//! An exchange module knows three things: how to sign a request (a pure function, unit-tested
//! against the worked examples in the exchange's docs), which endpoints reveal a key's rights,
//! and how to read the exchange's error codes. It turns all of that into [`Facts`]; deciding
//! what the facts mean for the user (the status, the remedy) is [`crate::check`]'s job. The
//! words themselves (kinds, credentials, facts) are [`crate::domain`]'s: this module keeps only
//! what talks HTTP.

pub mod binance;
pub mod bingx;
pub mod bitget;
pub mod budget;
pub mod bybit;
pub mod coinbase;
pub mod expiry;
pub mod facts;
pub mod gate;
pub mod http;
pub mod htx;
pub mod kucoin;
pub mod mexc;
pub mod okx;
pub mod rate_hints;
pub mod signing;
#[cfg(test)]
mod test_support;

use std::future::Future;

pub use facts::{Meaning, Outcome};
pub use http::HttpClient;

// The domain's words every exchange module speaks; imported here once so that each
// `use super::{…}` in the exchange files names them.
use crate::domain::{
    BoxFuture, Credentials, ExchangeKind, Facts, Markets, Problem, ProblemKind, Region,
};

/// Everything a probe needs to know about one connection.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub credentials: Credentials,
    pub markets: Markets,
    /// Replaces the exchange's spot (or only) REST host; may carry a path prefix that a proxy
    /// (or our simulator) strips before the exchange sees the request, so it is never signed.
    pub base_url: Option<String>,
    /// Replaces the futures REST host; defaults to `base_url` when only that is set.
    pub futures_base_url: Option<String>,
    /// The exchange site the key belongs to (the config's `region`): its hosts replace the
    /// exchange's global ones, and messages about a key of another site name it.
    pub region: &'static Region,
}

impl ProbeTarget {
    /// The spot host to use: the override, or the documented host of the key's site.
    pub fn spot_base(&self) -> &str {
        self.region
            .spot_base(self.base_url.as_deref())
            .trim_end_matches('/')
    }

    /// The futures host to use: its own override, the spot override, or the documented
    /// futures host of the key's site.
    pub fn futures_base(&self) -> &str {
        self.region
            .futures_base(self.futures_base_url.as_deref(), self.base_url.as_deref())
            .trim_end_matches('/')
    }
}

/// What [`Exchange::steps`] returns: done, or the problem that ended the probe.
pub type Steps<'a> = BoxFuture<'a, Result<(), Problem>>;

/// What an exchange file writes: its probe's steps, as an `async fn`. Every `Probe` is an
/// [`Exchange`] (the impl below boxes the steps, so that `Box<dyn Exchange>` can hold any of
/// them).
pub trait Probe: Send + Sync {
    /// The probe's steps in order: each records what it learned in `facts`, and the first
    /// problem ends the probe (the facts learned before it are kept).
    fn steps(
        &self,
        target: &ProbeTarget,
        facts: &mut Facts,
    ) -> impl Future<Output = Result<(), Problem>> + Send;
}

impl<P: Probe> Exchange for P {
    fn steps<'a>(&'a self, target: &'a ProbeTarget, facts: &'a mut Facts) -> Steps<'a> {
        Box::pin(Probe::steps(self, target, facts))
    }
}

/// One exchange: asks it about a key and reports what it learned.
///
/// A probe never fails as a Rust error: whatever goes wrong (timeouts, refusals, garbage) is a
/// fact about the key or the exchange, recorded as a [`Problem`] in the returned [`Facts`].
/// An exchange writes only its probe's steps (as a [`Probe`]); [`probe`](Exchange::probe)
/// turns the problem they stop at into the last fact, the same way for every exchange.
pub trait Exchange: Send + Sync {
    /// The probe's steps in order: each records what it learned in `facts`, and the first
    /// problem ends the probe (the facts learned before it are kept).
    fn steps<'a>(&'a self, target: &'a ProbeTarget, facts: &'a mut Facts) -> Steps<'a>;

    /// Probes a key: the facts the steps learned, with the problem they stopped at, if any.
    fn probe<'a>(&'a self, target: &'a ProbeTarget) -> BoxFuture<'a, Facts> {
        Box::pin(async move {
            let mut facts = Facts::default();
            if let Err(problem) = self.steps(target, &mut facts).await {
                facts.problems.push(problem);
            }
            facts
        })
    }
}

/// The exchange implementation for `kind`, sharing one pooled HTTP client; its requests are
/// metered per host at its spec's default rate ([`crate::domain::ExchangeSpec::default_rate`]).
pub fn for_kind(kind: ExchangeKind, http: HttpClient) -> Box<dyn Exchange> {
    for_kind_with_rate(kind, http, kind.spec().default_rate)
}

/// Like [`for_kind`] with an explicit request budget.
pub fn for_kind_with_rate(kind: ExchangeKind, http: HttpClient, rate: f64) -> Box<dyn Exchange> {
    for_kind_with_budgets(kind, http, budget::HostBudgets::new(rate))
}

/// Like [`for_kind`], metered by `budgets`, which the caller keeps a handle on: the checker
/// throttles them when a probe meets the exchange's rate limit.
pub fn for_kind_with_budgets(
    kind: ExchangeKind,
    http: HttpClient,
    budgets: budget::HostBudgets,
) -> Box<dyn Exchange> {
    let http = http.with_budgets(budgets);
    match kind {
        ExchangeKind::Mexc => Box::new(mexc::Mexc::new(http)),
        ExchangeKind::Kucoin => Box::new(kucoin::Kucoin::new(http)),
        ExchangeKind::Okx => Box::new(okx::Okx::new(http)),
        ExchangeKind::Binance => Box::new(binance::Binance::new(http)),
        ExchangeKind::Bybit => Box::new(bybit::Bybit::new(http)),
        ExchangeKind::Bitget => Box::new(bitget::Bitget::new(http)),
        ExchangeKind::Bingx => Box::new(bingx::Bingx::new(http)),
        ExchangeKind::Gate => Box::new(gate::Gate::new(http)),
        ExchangeKind::Htx => Box::new(htx::Htx::new(http)),
        ExchangeKind::Coinbase => Box::new(coinbase::Coinbase::new(http)),
    }
}

/// Milliseconds since the Unix epoch by our own clock: the timestamp exchanges want signed.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::spec;

    fn target(region: &'static Region, base_url: Option<&str>) -> ProbeTarget {
        ProbeTarget {
            credentials: Credentials {
                api_key: "k".to_string().into(),
                api_secret: "s".to_string().into(),
                passphrase: None,
            },
            markets: Markets::default(),
            base_url: base_url.map(str::to_string),
            futures_base_url: None,
            region,
        }
    }

    #[test]
    fn a_regional_key_goes_to_its_sites_hosts_unless_a_base_url_overrides_them() {
        let okx = &spec::OKX;
        let global = target(okx.global(), None);
        assert_eq!(global.spot_base(), "https://www.okx.com");
        let eea = target(okx.region("eea").unwrap(), None);
        assert_eq!(eea.spot_base(), "https://eea.okx.com");
        assert_eq!(eea.futures_base(), "https://eea.okx.com");
        let simulated = target(okx.region("eea").unwrap(), Some("http://127.0.0.1:9/okx/"));
        assert_eq!(simulated.spot_base(), "http://127.0.0.1:9/okx");
    }
}
