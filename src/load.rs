//! The daemon's load against the exchanges' request budgets: does one round of each schedule
//! fit in its period? (issue 13)
//!
//! A schedule asks for a round every period; each check costs a few requests on the exchange's
//! hosts, and each host's budget allows `daemon.request_budget.<exchange>` requests a second.
//! When a round needs more requests than the budget gives in one period, checks queue for
//! tokens, the round stretches past its period, and connections whose previous check is still
//! queued skip their turn. That is pacing and never makes a healthy key look broken, but the
//! operator should know: the daemon says so at start, on `validate` and on every reload.
//!
//! Pure: the config and the period in, the findings out.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::config::{Config, Connection};
use crate::domain::ExchangeKind;
use crate::scheduler;

/// `host:port` of a base URL, the key the budgets are kept by (the URL itself when it does not
/// parse, so the warning still names it).
fn host_of(base: &str) -> String {
    crate::exchange::http::budget_host(base).unwrap_or_else(|| base.to_string())
}

/// The requests one check of `connection` makes, per host.
fn requests_by_host(connection: &Connection) -> Vec<(String, u32)> {
    let per_check = connection.exchange.spec().requests_per_check;
    let (spot, futures) = (per_check.spot, per_check.futures);
    let region = connection.region;
    let base_url = connection.base_url.as_deref();
    let mut hosts = vec![(host_of(region.spot_base(base_url)), spot)];
    if connection.markets.futures {
        let futures_base = region.futures_base(connection.futures_base_url.as_deref(), base_url);
        hosts.push((host_of(futures_base), futures));
    }
    hosts
}

/// A schedule whose rounds need more of an exchange's budget than one period gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Overcommit {
    pub schedule: String,
    pub exchange: ExchangeKind,
    /// The host (`host:port`) the most requests go to.
    pub host: String,
    pub connections: usize,
    /// Requests one round sends to `host`.
    pub requests: u64,
    pub period: Duration,
    /// The budget, in requests a second per host.
    pub rate: f64,
}

impl Overcommit {
    /// How long a round takes at the budget's pace.
    pub fn round_takes(&self) -> Duration {
        Duration::from_secs_f64(self.requests as f64 / self.rate.max(f64::MIN_POSITIVE))
    }

    /// The requests the budget allows in one period.
    pub fn budget_per_period(&self) -> u64 {
        (self.rate * self.period.as_secs_f64()).floor() as u64
    }
}

impl fmt::Display for Overcommit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole =
            |d: Duration| humantime::format_duration(Duration::from_secs(d.as_secs().max(1)));
        write!(
            f,
            "schedule \"{schedule}\" does not fit {exchange}'s request budget: {connections} \
             connection(s) need {requests} requests to {host} every {period}, and the budget \
             (daemon.request_budget.{exchange} = {rate}/s) allows {budget} per period, so a round \
             takes about {takes} instead of {period}. Rounds stretch, and a connection whose \
             previous check is still queued skips its turn (keywarden_checks_skipped_total); no \
             key is reported down for it. Give these connections a longer schedule, or raise \
             the budget if the exchange's limit allows",
            schedule = self.schedule,
            exchange = self.exchange,
            connections = self.connections,
            requests = self.requests,
            host = self.host,
            period = whole(self.period),
            rate = self.rate,
            budget = self.budget_per_period(),
            takes = whole(self.round_takes()),
        )
    }
}

/// Every (schedule, exchange) of `config` whose round does not fit its period, with `period`
/// telling each schedule's period (the scheduler's, from now). Schedules are looked at one by
/// one: two schedules that fit alone may still share a budget they overfill together, which
/// shows as budget waits (`keywarden_request_budget_wait_seconds_total`).
pub fn overcommits(
    config: &Config,
    period: impl Fn(&crate::config::Schedule) -> Option<Duration>,
) -> Vec<Overcommit> {
    let mut found = Vec::new();
    for (cron, (schedule, names)) in scheduler::groups(config) {
        let Some(period) = period(&schedule).filter(|p| !p.is_zero()) else {
            continue;
        };
        // (exchange, host) → (connections, requests)
        let mut load: BTreeMap<(ExchangeKind, String), (usize, u64)> = BTreeMap::new();
        for connection in names.iter().filter_map(|name| config.connection(name)) {
            for (host, requests) in requests_by_host(connection) {
                let entry = load.entry((connection.exchange, host)).or_default();
                entry.0 += 1;
                entry.1 += u64::from(requests);
            }
        }
        let mut worst: BTreeMap<ExchangeKind, Overcommit> = BTreeMap::new();
        for ((exchange, host), (connections, requests)) in load {
            let rate = config.daemon.request_rate(exchange);
            let candidate = Overcommit {
                schedule: cron.clone(),
                exchange,
                host,
                connections,
                requests,
                period,
                rate,
            };
            if candidate.round_takes() <= period {
                continue;
            }
            match worst.get(&exchange) {
                Some(w) if w.requests >= candidate.requests => {}
                _ => {
                    worst.insert(exchange, candidate);
                }
            }
        }
        found.extend(worst.into_values());
    }
    found
}

/// [`overcommits`] with the periods as the scheduler sees them now.
pub fn overcommits_now(config: &Config) -> Vec<Overcommit> {
    let now = chrono::Utc::now();
    overcommits(config, |schedule| scheduler::period(schedule, now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(schedule: &str, budget: &str, connections: &[(&str, &str, &str)]) -> Config {
        let mut text = format!(
            "[daemon]\nschedule = \"{schedule}\"\nstate_dir = \"/tmp/kw-load-test\"\n\
             [daemon.request_budget]\n{budget}\n"
        );
        for (name, exchange, markets) in connections {
            text.push_str(&format!(
                "[connections.{name}]\nexchange = \"{exchange}\"\napi_key = \"k\"\n\
                 api_secret = \"s\"\npassphrase = \"p\"\nmarkets = {markets}\n\
                 base_url = \"http://127.0.0.1:9/{exchange}\"\n"
            ));
        }
        Config::from_toml(&text, Path::new("test.toml")).expect("valid test config")
    }

    fn many(
        n: usize,
        exchange: &'static str,
        markets: &'static str,
    ) -> Vec<(String, &'static str, &'static str)> {
        (0..n)
            .map(|i| (format!("{exchange}-{i:04}"), exchange, markets))
            .collect()
    }

    fn refs<'a>(v: &'a [(String, &'static str, &'static str)]) -> Vec<(&'a str, &'a str, &'a str)> {
        v.iter().map(|(n, e, m)| (n.as_str(), *e, *m)).collect()
    }

    #[test]
    fn the_issue_13_schedule_does_not_fit_mexc_and_says_by_how_much() {
        let mut all = many(200, "mexc", "[\"spot\"]");
        all.extend(many(200, "kucoin", "[\"spot\"]"));
        let config = config("*/20 * * * * *", "", &refs(&all));
        let found = overcommits(&config, |_| Some(Duration::from_secs(20)));
        // MEXC: 600 requests at 10/s = 60 s > 20 s. KuCoin: 800 at 50/s = 16 s, fits.
        assert_eq!(found.len(), 1, "{found:?}");
        let mexc = &found[0];
        assert_eq!(mexc.exchange, ExchangeKind::Mexc);
        assert_eq!((mexc.connections, mexc.requests), (200, 600));
        assert_eq!(mexc.budget_per_period(), 200);
        assert_eq!(mexc.round_takes(), Duration::from_secs(60));
        let said = mexc.to_string();
        for part in [
            "schedule \"*/20 * * * * *\"",
            "mexc",
            "200 connection(s)",
            "600 requests",
            "every 20s",
            "10/s",
            "200 per period",
            "about 1m instead of 20s",
        ] {
            assert!(said.contains(part), "{part:?} missing from: {said}");
        }
    }

    #[test]
    fn a_schedule_that_fits_says_nothing() {
        let all = many(200, "mexc", "[\"spot\"]");
        let config = config("0 */5 * * * *", "", &refs(&all));
        assert!(overcommits(&config, |_| Some(Duration::from_secs(300))).is_empty());
    }

    #[test]
    fn futures_requests_count_on_the_host_they_go_to_and_budgets_are_per_exchange() {
        // 10 MEXC futures connections: 50 requests on the one simulator host at 2/s = 25 s.
        let all = many(10, "mexc", "[\"spot\", \"futures\"]");
        let config = config("*/20 * * * * *", "mexc = 2", &refs(&all));
        let found = overcommits(&config, |_| Some(Duration::from_secs(20)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].requests, 50);
        assert_eq!(found[0].host, "127.0.0.1:9");
        // Raising the budget makes it fit.
        let config = config_with_budget(&all, "mexc = 3");
        assert!(overcommits(&config, |_| Some(Duration::from_secs(20))).is_empty());
    }

    fn config_with_budget(all: &[(String, &'static str, &'static str)], budget: &str) -> Config {
        config("*/20 * * * * *", budget, &refs(all))
    }

    #[test]
    fn default_hosts_split_spot_and_futures() {
        let connection = config(
            "0 * * * * *",
            "",
            &[("a", "mexc", "[\"spot\", \"futures\"]")],
        )
        .connections[0]
            .clone();
        let mut unrouted = connection.clone();
        unrouted.base_url = None;
        assert_eq!(
            requests_by_host(&unrouted),
            vec![
                ("api.mexc.com:443".to_string(), 3),
                ("contract.mexc.com:443".to_string(), 2)
            ]
        );
    }
}
