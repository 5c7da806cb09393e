//! Issue 13: request budgets pace checks and never make a healthy key look broken. Waiting for
//! a token is not the exchange being slow (`check_timeout` leaves it out), a request is signed
//! after its wait (no stale timestamps, no false `clock_skew`), an overcommitted schedule
//! stretches its rounds and says why, and an exchange that throttles is slowed for all its
//! keys and recovers. The budgets are shrunk in the configs instead of growing the key count.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use keywarden::domain::ExchangeKind;
use keywarden::sim::{
    RunningSim, Scenario, ScenarioFile, SimExchangeSettings, SimKey, SimThrottle,
};

use crate::support::{
    self, connection_toml, eventually, free_port, http_get, sim_key, DaemonProcess, Scratch,
};

/// `count` healthy keys of `exchange`, named `EXCHANGE-NN`.
fn healthy_keys(exchange: ExchangeKind, count: usize) -> Vec<(String, SimKey)> {
    (0..count)
        .map(|i| {
            let name = format!("{exchange}-{i:02}");
            let key = sim_key(exchange, &name, Scenario::Valid);
            (name, key)
        })
        .collect()
}

fn connections(keys: &[(String, SimKey)], sim: &RunningSim) -> String {
    keys.iter()
        .map(|(name, key)| connection_toml(name, key, sim, &["spot"]))
        .collect()
}

async fn sim_with(
    keys: &[(String, SimKey)],
    exchanges: Vec<(ExchangeKind, SimExchangeSettings)>,
) -> RunningSim {
    support::start_sim(ScenarioFile {
        keys: keys.iter().map(|(_, k)| k.clone()).collect(),
        exchanges: exchanges.into_iter().collect(),
    })
    .await
}

fn statuses(stdout: &str) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in support::json_lines(stdout) {
        *counts
            .entry(line["status"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_must_wait_for_the_budget_finds_every_healthy_key_connected() {
    // MEXC: 24 keys × 3 requests at 6/s ≈ 11 s; KuCoin: 20 × 4 at 10/s ≈ 7 s. Every check
    // starts at once (64 may run), so most wait far longer than the 2 s check_timeout and than
    // MEXC's 5 s receive window: before issue 13 they came back `exchange_unavailable` (timed
    // out in the queue) and `clock_skew` (signed before the wait).
    let mut keys = healthy_keys(ExchangeKind::Mexc, 24);
    keys.extend(healthy_keys(ExchangeKind::Kucoin, 20));
    let sim = sim_with(&keys, Vec::new()).await;
    let scratch = Scratch::new();
    let config = scratch.write(
        "keywarden.toml",
        &format!(
            "[daemon]\nstate_dir = \"{}\"\ncheck_timeout = \"2s\"\n\n\
             [daemon.request_budget]\nmexc = 6\nkucoin = 10\n\n{}",
            scratch.path().join("state").display(),
            connections(&keys, &sim)
        ),
    );
    let started = Instant::now();
    let run = support::run(
        &["check", "--config", config.to_str().unwrap(), "--json"],
        &[],
    )
    .await;
    let took = started.elapsed();
    let counts = statuses(&run.stdout);
    assert_eq!(
        counts,
        BTreeMap::from([("connected".to_string(), 44)]),
        "every healthy key connected; stderr:\n{}",
        run.stderr
    );
    assert_eq!(run.code, 0);
    // The budget was kept: each check's requests, no more, and no faster than the budget.
    assert_eq!(sim.state.requests(ExchangeKind::Mexc), 24 * 3);
    assert_eq!(sim.state.requests(ExchangeKind::Kucoin), 20 * 4);
    assert!(
        took >= Duration::from_secs(9),
        "72 MEXC requests at 6/s (6 saved up) take at least 11 s; took {took:?}"
    );
}

async fn metrics(addr: SocketAddr) -> Option<String> {
    http_get(&format!("http://{addr}/metrics"))
        .await
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

/// The value of the series `name{labels}` in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overcommitted_daemon_stretches_its_rounds_reports_no_healthy_key_down_and_says_why() {
    // 16 keys × 3 requests = 48 a round at 4/s: 12 s for a round of a 4 s schedule.
    const SCHEDULE: &str = "*/4 * * * * *";
    let keys = healthy_keys(ExchangeKind::Mexc, 16);
    let sim = sim_with(&keys, Vec::new()).await;
    let scratch = Scratch::new();
    let listen = free_port();
    let config = scratch.write(
        "keywarden.toml",
        &format!(
            "[daemon]\nschedule = \"{SCHEDULE}\"\nstate_dir = \"{}\"\nmetrics_listen = \"{listen}\"\n\
             check_timeout = \"2s\"\n\n[daemon.request_budget]\nmexc = 4\n\n{}",
            scratch.path().join("state").display(),
            connections(&keys, &sim)
        ),
    );
    let fits_not = format!("schedule \"{SCHEDULE}\" does not fit mexc's request budget");

    // `validate` says it, as a warning: the config is still valid.
    let validated = support::run(&["validate", "--config", config.to_str().unwrap()], &[]).await;
    assert_eq!(validated.code, 0, "{}", validated.stderr);
    for part in [
        fits_not.as_str(),
        "16 connection(s) need 48 requests",
        "every 4s",
        "allows 16 per period",
        "takes about 12s instead of 4s",
    ] {
        assert!(
            validated.stderr.contains(part),
            "{part:?} missing from validate's warning:\n{}",
            validated.stderr
        );
    }

    let daemon = DaemonProcess::start(&config, scratch.path().join("daemon.log"));
    eventually(Duration::from_secs(30), "the start-up warning", || async {
        daemon.log().contains(&fits_not).then_some(())
    })
    .await;

    // Wait for a whole stretched round, turns skipped because the previous check was still
    // queued, and every connection checked at least once.
    let schedule_label = format!("{{schedule=\"{SCHEDULE}\"}}");
    let text = eventually(
        Duration::from_secs(120),
        "a stretched round, skipped turns and every key checked",
        || async {
            let text = metrics(listen).await?;
            let round = value(
                &text,
                &format!("keywarden_round_duration_seconds{schedule_label}"),
            )?;
            let skipped = value(
                &text,
                &format!("keywarden_checks_skipped_total{schedule_label}"),
            )?;
            let all_checked = keys.iter().all(|(name, _)| {
                text.contains(&format!(
                    "keywarden_connection_up{{connection=\"{name}\",exchange=\"mexc\"}}"
                ))
            });
            (round > 4.0 && skipped > 0.0 && all_checked).then_some(text)
        },
    )
    .await;

    // No healthy key was reported as anything but connected, ever.
    let counted: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("keywarden_checks_total{"))
        .collect();
    assert!(!counted.is_empty());
    for line in &counted {
        assert!(
            line.contains("status=\"connected\""),
            "a healthy key was reported otherwise: {line}\nlog:\n{}",
            daemon.log()
        );
    }
    for (name, _) in &keys {
        assert!(
            text.contains(&format!(
                "keywarden_connection_up{{connection=\"{name}\",exchange=\"mexc\"}} 1"
            )),
            "{name} is not up"
        );
    }
    assert_eq!(
        value(
            &text,
            "keywarden_schedule_period_seconds{schedule=\"*/4 * * * * *\"}"
        ),
        Some(4.0)
    );
    assert!(
        value(
            &text,
            "keywarden_request_budget_wait_seconds_total{exchange=\"mexc\"}"
        )
        .is_some_and(|waited| waited > 0.0),
        "budget waits are counted"
    );
    let log = daemon.log();
    assert!(log.contains("round done"), "{log}");
    assert!(log.contains("overran=true"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_that_throttles_is_paced_for_all_its_keys_and_recovers() {
    // After 15 requests MEXC answers everything 429 with `Retry-After: 1` for 3 s. At the
    // budget's 20/s, 60 requests would meet it (most of the 40 checks); heeding the first 429
    // pauses every MEXC request, so only the checks in flight then, and one probe a second
    // while it lasts, meet it.
    let keys = healthy_keys(ExchangeKind::Mexc, 40);
    let throttle = SimExchangeSettings {
        throttle: Some(SimThrottle {
            after_requests: 15,
            for_ms: 3_000,
            retry_after_s: 1,
        }),
        ..SimExchangeSettings::default()
    };
    let sim = sim_with(&keys, vec![(ExchangeKind::Mexc, throttle)]).await;
    let scratch = Scratch::new();
    let config = scratch.write(
        "keywarden.toml",
        &format!(
            "[daemon]\nstate_dir = \"{}\"\ncheck_timeout = \"5s\"\n\n\
             [daemon.request_budget]\nmexc = 20\n\n{}",
            scratch.path().join("state").display(),
            connections(&keys, &sim)
        ),
    );
    let run = support::run(
        &["check", "--config", config.to_str().unwrap(), "--json"],
        &[],
    )
    .await;
    let counts = statuses(&run.stdout);
    let throttled = sim.state.throttled_replies(ExchangeKind::Mexc) as usize;
    let rate_limited = counts.get("rate_limited").copied().unwrap_or(0);
    let connected = counts.get("connected").copied().unwrap_or(0);
    eprintln!("MEXC throttle: {throttled} requests met the 429; verdicts {counts:?}");
    assert!(throttled >= 1, "the throttle tripped");
    assert_eq!(
        rate_limited, throttled,
        "rate_limited exactly for the checks that met a 429: {counts:?}"
    );
    assert_eq!(
        connected + rate_limited,
        40,
        "every other key connected once the exchange recovered: {counts:?}\n{}",
        run.stderr
    );
    assert!(
        throttled <= 12,
        "the whole exchange was paced after the first 429: {throttled} requests met it"
    );
}
