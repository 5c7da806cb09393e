//! What the exchange tests (`exchanges/`) share: a simulator whose keys play every scenario, a
//! probe with the short test timeout, a few assertions about the facts, and raw HTTP against the
//! simulator.
//!
//! What differs per exchange (key shapes, signing, error codes) stays in its own module, so each
//! one still reads as that exchange's spec.

use std::time::Duration;

use keywarden::domain::{Credentials, ExchangeKind, Facts, Markets, ProblemKind};
use keywarden::exchange::{for_kind_with_rate, HttpClient, ProbeTarget};
use keywarden::sim::{self, RunningSim, Scenario, ScenarioFile, SimExchangeSettings, SimKey};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A right the key has, lacks, or that the exchange does not tell.
pub const T: Option<bool> = Some(true);
pub const F: Option<bool> = Some(false);
pub const U: Option<bool> = None;

/// The probe's HTTP timeout: short, so the `hang` scenario fails fast.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

// ----- the simulator --------------------------------------------------------------------------

/// Who plays the scenarios on one exchange: the key and the secret for each, and the
/// passphrase all of them share (for the exchanges that have one).
pub struct Cast {
    pub kind: ExchangeKind,
    pub key: fn(Scenario) -> String,
    pub secret: Secrets,
    pub passphrase: Option<&'static str>,
    /// A second type of key the exchange issues (Coinbase: Ed25519 beside ECDSA), which plays
    /// every scenario too, with keys of its own.
    pub second_key_type: Option<KeyType>,
}

/// The secrets of a cast's keys.
pub enum Secrets {
    /// One secret for every key (the exchanges whose secrets are random strings): the key alone
    /// tells the scenarios apart.
    Shared(&'static str),
    /// A secret of its own for each scenario's key (Coinbase's, a private key per key name).
    PerScenario(fn(Scenario) -> String),
}

impl Secrets {
    /// The secret of the key that plays `scenario`.
    pub fn of(&self, scenario: Scenario) -> String {
        match self {
            Secrets::Shared(secret) => secret.to_string(),
            Secrets::PerScenario(secret) => secret(scenario),
        }
    }
}

/// Keys of one type: the key and the secret that play each scenario.
pub struct KeyType {
    pub key: fn(Scenario) -> String,
    pub secret: fn(Scenario) -> String,
}

impl Cast {
    /// One simulator key per scenario (the exchange-specific ones included), and one more per
    /// scenario of the second key type.
    pub fn keys(&self) -> Vec<SimKey> {
        let key = |api_key: String, api_secret: String, scenario: Scenario| SimKey {
            exchange: self.kind,
            api_key,
            api_secret,
            passphrase: self.passphrase.map(str::to_string),
            scenario,
        };
        let first = Scenario::ALL
            .iter()
            .chain(Scenario::EXCHANGE_SPECIFIC.iter())
            .map(|&s| key((self.key)(s), self.secret.of(s), s));
        let second = self.second_key_type.iter().flat_map(|second| {
            Scenario::ALL
                .iter()
                .chain(Scenario::EXCHANGE_SPECIFIC.iter())
                .map(|&s| key((second.key)(s), (second.secret)(s), s))
        });
        first.chain(second).collect()
    }

    /// A simulator on a loopback port with the whole cast, and `settings` for the exchange.
    pub async fn sim(&self, settings: Option<SimExchangeSettings>) -> RunningSim {
        sim_with(self.keys(), settings.map(|s| (self.kind, s))).await
    }

    /// The credentials of the key that plays `scenario`, as the scenario file holds them.
    pub fn creds(&self, scenario: Scenario) -> Credentials {
        creds(
            &(self.key)(scenario),
            &self.secret.of(scenario),
            self.passphrase,
        )
    }

    /// The credentials of the second key type's key that plays `scenario`.
    pub fn second_creds(&self, scenario: Scenario) -> Credentials {
        let second = self
            .second_key_type
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no second key type", self.kind.name()));
        creds(
            &(second.key)(scenario),
            &(second.secret)(scenario),
            self.passphrase,
        )
    }
}

/// The scenario's place in [`Scenario::ALL`] followed by [`Scenario::EXCHANGE_SPECIFIC`]: a
/// number that tells its key from the others.
pub fn index_of(scenario: Scenario) -> usize {
    Scenario::ALL
        .iter()
        .chain(Scenario::EXCHANGE_SPECIFIC.iter())
        .position(|s| *s == scenario)
        .expect("a scenario of Scenario::ALL or Scenario::EXCHANGE_SPECIFIC")
}

/// A simulator on a loopback port serving `keys`, with exchange-wide `settings` if given.
pub async fn sim_with(
    keys: Vec<SimKey>,
    settings: Option<(ExchangeKind, SimExchangeSettings)>,
) -> RunningSim {
    let file = ScenarioFile {
        exchanges: settings.into_iter().collect(),
        keys,
    };
    sim::spawn("127.0.0.1:0".parse().unwrap(), file)
        .await
        .expect("simulator binds a loopback port")
}

/// The exchange's clock runs `ms` away from ours (positive: ahead).
pub fn clock_offset(ms: i64) -> SimExchangeSettings {
    SimExchangeSettings {
        clock_offset_ms: ms,
        ..SimExchangeSettings::default()
    }
}

/// The exchange's public status reports maintenance.
pub fn exchange_maintenance() -> SimExchangeSettings {
    SimExchangeSettings {
        maintenance: true,
        ..SimExchangeSettings::default()
    }
}

// ----- probing --------------------------------------------------------------------------------

pub fn creds(api_key: &str, secret: &str, passphrase: Option<&str>) -> Credentials {
    Credentials {
        api_key: api_key.into(),
        api_secret: secret.into(),
        passphrase: passphrase.map(Into::into),
    }
}

/// Spot always; futures when the connection uses them.
pub fn markets(futures: bool) -> Markets {
    Markets {
        spot: true,
        futures,
    }
}

/// A probe target for a key of `kind`'s main site, at `base_url` (spot and futures alike).
pub fn target(
    kind: ExchangeKind,
    credentials: Credentials,
    base_url: String,
    markets: Markets,
) -> ProbeTarget {
    ProbeTarget {
        credentials,
        markets,
        base_url: Some(base_url),
        futures_base_url: None,
        region: kind.spec().global(),
    }
}

/// Probes `target` as the daemon would, with [`PROBE_TIMEOUT`] and the exchange's request budget.
pub async fn run_probe(kind: ExchangeKind, target: &ProbeTarget) -> Facts {
    run_probe_at_rate(kind, kind.spec().default_rate, target).await
}

/// Like [`run_probe`] with `rate` requests a second instead of the exchange's budget.
pub async fn run_probe_at_rate(kind: ExchangeKind, rate: f64, target: &ProbeTarget) -> Facts {
    let exchange = for_kind_with_rate(kind, HttpClient::new(PROBE_TIMEOUT), rate);
    exchange.probe(target).await
}

/// Asserts that no problem message and no note carries any of `never` (pairs of what it is,
/// e.g. "secret", and its text): whatever happened, credentials stay out of what we show.
pub fn assert_nothing_leaks(facts: &Facts, never: &[(&str, &str)]) {
    for text in facts
        .problems
        .iter()
        .map(|p| &p.message)
        .chain(&facts.notes)
    {
        for (what, secret) in never {
            assert!(!text.contains(secret), "{what} leaked into {text:?}");
        }
    }
}

// ----- what the facts say ---------------------------------------------------------------------

/// The kind of the problem the probe stopped at, if any.
pub fn problem_kind(facts: &Facts) -> Option<ProblemKind> {
    assert!(facts.problems.len() <= 1, "stops at the first problem");
    facts.problems.first().map(|p| p.kind)
}

/// Read, trade, withdraw, futures.
pub fn rights(facts: &Facts) -> [Option<bool>; 4] {
    let p = facts.permissions;
    [p.read, p.trade, p.withdraw, p.futures]
}

pub fn has_note(facts: &Facts, words: &str) -> bool {
    facts.notes.iter().any(|n| n.contains(words))
}

// ----- raw HTTP -------------------------------------------------------------------------------

/// Sends `request` and returns the HTTP status and the JSON body.
pub async fn status_and_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The JSON body of a GET of `url`.
pub async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Sends `request`, asserts the simulator throttled it (HTTP 429, `Retry-After: 7`), and returns
/// the headers and the JSON body for the exchange's own marks.
pub async fn assert_throttled(request: reqwest::RequestBuilder) -> (HeaderMap, Value) {
    let response = request.send().await.unwrap();
    assert_eq!(response.status().as_u16(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

/// Serves `app` on a loopback port in the background (a bare stand-in for an exchange) and
/// returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    format!("http://{}", crate::support::serve(app).await)
}
