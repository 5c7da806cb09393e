//! Every fault on every exchange, through the real binary: the exchange (or the path to it)
//! fails while the key is fine. Each fault must give its documented status with a message that
//! names what happened, never a panic, and must not stop the other connections from being
//! checked: a healthy key of the same exchange, checked in the same run, still comes out
//! `connected`, and the daemon goes on recording it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{Scenario, ScenarioFile, SimKey};
use serde_json::Value;

use crate::support::{
    self, connection_toml, eventually, json_lines, sim_key, DaemonProcess, Scratch,
};

/// The per-check timeout of these runs: `hang` and `slow_drip` must run into it.
const CHECK_TIMEOUT: &str = "3s";

/// A host that cannot resolve: `.invalid` is reserved (RFC 2606), so no query leaves the host
/// with an answer and nothing is sent anywhere.
const UNRESOLVABLE: &str = "http://keywarden-sim.invalid";

/// Which fault a connection plays: a simulator scenario, or a `base_url` that does not resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Scenario(Scenario),
    Dns,
}

impl Fault {
    fn all() -> Vec<Fault> {
        let mut all: Vec<Fault> = Scenario::FAULTS.into_iter().map(Fault::Scenario).collect();
        all.push(Fault::Dns);
        all
    }

    fn name(self) -> &'static str {
        match self {
            Fault::Scenario(s) => s.name(),
            Fault::Dns => "dns_failure",
        }
    }
}

/// What a connection playing `fault` must come out as: the status, and words its message must
/// hold (any one of each group, case-insensitive) so the operator learns what happened.
fn expected(exchange: ExchangeKind, fault: Fault) -> (&'static str, Vec<Vec<&'static str>>) {
    use Scenario::*;
    let unavailable = "exchange_unavailable";
    let scenario = match fault {
        Fault::Dns => {
            return (
                unavailable,
                vec![vec!["dns", "resolve", "lookup", "resolution"]],
            )
        }
        Fault::Scenario(s) => s,
    };
    match scenario {
        Http503 => (unavailable, vec![vec!["503"]]),
        CdnHtml => (unavailable, vec![vec!["html"]]),
        Hang | SlowDrip => (unavailable, vec![vec!["timed out"]]),
        MalformedJson => (unavailable, vec![vec!["json", "parse", "eof"]]),
        Maintenance => (unavailable, vec![]),
        ConnectionReset => (
            unavailable,
            vec![vec!["reset", "connection closed", "incomplete"]],
        ),
        RateLimited => (
            "rate_limited",
            vec![vec!["429", "rate", "frequen", "too many"]],
        ),
        RateLimitedNoRetryAfter => (
            "rate_limited",
            vec![vec!["429", "rate", "frequen", "too many"]],
        ),
        // The exchange's own code must be in the message (ARCHITECTURE.md's invariant).
        ErrorBody200 => (unavailable, vec![vec![error_body_code(exchange)]]),
        // Coinbase's request token lives 120 s, so a clock 90 s off is inside its window
        // (check_cli.rs, `coinbase_can_report`).
        ClockSkew if exchange == ExchangeKind::Coinbase => ("connected", vec![]),
        ClockSkew => ("clock_skew", vec![]),
        other => panic!("{other:?} is not a fault"),
    }
}

/// The code each simulator puts in its `error_body_200` reply (src/sim/<exchange>.rs).
fn error_body_code(exchange: ExchangeKind) -> &'static str {
    match exchange {
        ExchangeKind::Mexc => "500",
        ExchangeKind::Kucoin => "500000",
        ExchangeKind::Binance => "-1001",
        ExchangeKind::Okx => "50026",
        ExchangeKind::Bybit => "10000",
        ExchangeKind::Bitget => "40015",
        ExchangeKind::Gate => "INTERNAL",
        ExchangeKind::Htx => "gateway-internal-error",
        ExchangeKind::Bingx => "100500",
        ExchangeKind::Coinbase => "INTERNAL",
    }
}

/// A connection named `name` for `key`, pointed at an unresolvable host for [`Fault::Dns`].
fn connection(name: &str, key: &SimKey, sim: &keywarden::sim::RunningSim, fault: Fault) -> String {
    let text = connection_toml(name, key, sim, &["spot"]);
    match fault {
        // Plain http to a host other than this one needs the connection's opt-in; nothing
        // is sent to a host that does not resolve.
        Fault::Dns => {
            text.trim_end().replace(
                &format!("http://{}", sim.addr),
                &format!("{UNRESOLVABLE}:{}", sim.addr.port()),
            ) + "\ninsecure = true\n\n"
        }
        Fault::Scenario(_) => text,
    }
}

fn check_fault_line(line: &Value, exchange: ExchangeKind, fault: Fault) {
    let name = line["connection"].as_str().unwrap();
    let (status, words) = expected(exchange, fault);
    assert_eq!(line["status"], status, "{name}: {line}");
    let message = line["message"].as_str().unwrap_or_default().to_lowercase();
    if status != "connected" {
        assert!(!message.is_empty(), "{name}: a failure needs a message");
        assert!(
            line["remedy"].is_string(),
            "{name}: a failure needs a remedy"
        );
    }
    for group in words {
        assert!(
            group.iter().any(|w| message.contains(&w.to_lowercase())),
            "{name}: message {message:?} names none of {group:?}"
        );
    }
    // Every simulator sends `Retry-After: 7` when it sends one; without it, a wait may still
    // come from the exchange's own reset header (KuCoin's 6.5 s), never from Retry-After.
    if fault == Fault::Scenario(Scenario::RateLimitedNoRetryAfter) {
        assert!(
            !message.contains("retry after 7s"),
            "{name}: no Retry-After was sent, none may be reported: {message:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_every_exchange_is_reported_and_the_healthy_key_still_connects() {
    let mut connections: Vec<(String, ExchangeKind, Option<Fault>, SimKey)> = Vec::new();
    for exchange in ExchangeKind::ALL {
        let healthy = sim_key(
            exchange,
            &format!("faults-{exchange}-valid"),
            Scenario::Valid,
        );
        for fault in Fault::all() {
            let key = match fault {
                Fault::Scenario(s) => sim_key(exchange, &format!("faults-{exchange}-{s:?}"), s),
                Fault::Dns => healthy.clone(),
            };
            let name = format!("{exchange}-{}", fault.name().replace('_', "-"));
            connections.push((name, exchange, Some(fault), key));
        }
        connections.push((format!("{exchange}-healthy"), exchange, None, healthy));
    }
    let mut keys: Vec<SimKey> = connections.iter().map(|c| c.3.clone()).collect();
    keys.dedup_by(|a, b| a.api_key == b.api_key);
    let sim = support::start_sim(ScenarioFile {
        keys,
        ..ScenarioFile::default()
    })
    .await;

    let mut config = format!(
        "[daemon]\ncheck_timeout = \"{CHECK_TIMEOUT}\"\nmax_concurrent_checks = 32\n\n{}",
        support::ample_budgets(&ExchangeKind::ALL)
    );
    for (name, _, fault, key) in &connections {
        config.push_str(&connection(
            name,
            key,
            &sim,
            fault.unwrap_or(Fault::Scenario(Scenario::Valid)),
        ));
    }
    let run = support::check_json(&config).await;

    assert_eq!(
        run.code, 1,
        "faults fail checks: exit 1; stderr:\n{}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let lines: BTreeMap<String, Value> = json_lines(&run.stdout)
        .into_iter()
        .map(|l| (l["connection"].as_str().unwrap().to_string(), l))
        .collect();
    assert_eq!(lines.len(), connections.len(), "one line per connection");
    for (name, exchange, fault, _) in &connections {
        let line = &lines[name];
        match fault {
            Some(fault) => check_fault_line(line, *exchange, *fault),
            None => assert_eq!(line["status"], "connected", "{name}: {line}"),
        }
    }
}

/// How many checks the history holds for `connection` (the sum over its spans).
async fn checks_recorded(config: &Path, connection: &str) -> Option<u64> {
    let spans = support::spans(config, connection).await?;
    Some(spans.iter().filter_map(|s| s["checks"].as_u64()).sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_keeps_recording_healthy_keys_among_faulty_ones() {
    let faults = [
        Scenario::Hang,
        Scenario::ConnectionReset,
        Scenario::SlowDrip,
        Scenario::ErrorBody200,
        Scenario::RateLimitedNoRetryAfter,
    ];
    let mut named: Vec<(String, SimKey)> = Vec::new();
    for (i, scenario) in faults.into_iter().enumerate() {
        // spread the faults over exchanges: each has its own code path
        let exchange = ExchangeKind::ALL[i % ExchangeKind::ALL.len()];
        let key = sim_key(exchange, &format!("daemon-fault-{i}"), scenario);
        named.push((format!("faulty-{}", scenario.name().replace('_', "-")), key));
    }
    let healthy = [ExchangeKind::Kucoin, ExchangeKind::Bybit];
    for exchange in healthy {
        let key = sim_key(
            exchange,
            &format!("daemon-healthy-{exchange}"),
            Scenario::Valid,
        );
        named.push((format!("healthy-{exchange}"), key));
    }
    let sim = support::start_sim(ScenarioFile {
        keys: named.iter().map(|(_, k)| k.clone()).collect(),
        ..ScenarioFile::default()
    })
    .await;
    let scratch = Scratch::new();
    let connections: String = named
        .iter()
        .map(|(name, key)| connection_toml(name, key, &sim, &["spot"]))
        .collect();
    let config = support::every_second_config(&scratch, "2s", &connections);
    let mut daemon = DaemonProcess::start(&config, scratch.path().join("daemon.log"));

    for exchange in healthy {
        let name = format!("healthy-{exchange}");
        let first = eventually(
            Duration::from_secs(20),
            "a first recorded check",
            || async { checks_recorded(&config, &name).await.filter(|n| *n >= 1) },
        )
        .await;
        // the faulty ones time out (2 s) at every tick: the healthy ones must go on regardless
        eventually(Duration::from_secs(20), "more recorded checks", || async {
            checks_recorded(&config, &name)
                .await
                .filter(|n| *n >= first + 3)
        })
        .await;
        let spans = support::spans(&config, &name).await.unwrap();
        assert!(
            spans.iter().all(|s| s["status"] == "connected"),
            "{name}: {spans:?}"
        );
    }
    for (name, _) in named.iter().filter(|(n, _)| n.starts_with("faulty-")) {
        let spans = eventually(Duration::from_secs(20), "a recorded fault", || async {
            support::spans(&config, name)
                .await
                .filter(|s| !s.is_empty())
        })
        .await;
        assert_ne!(spans[0]["status"], "connected", "{name}: {spans:?}");
    }

    daemon.signal("TERM");
    let code = daemon.exit_within(Duration::from_secs(15)).await;
    let log = daemon.log();
    assert_eq!(code, Some(0), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}
