//! `keywarden run` as systemd runs it: a child process on a schedule, signalled with kill.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{RunningSim, Scenario, ScenarioFile, SimKey};

use crate::support::{
    self, assert_promtool_accepts, connection_toml, eventually, free_port, http_get, metrics,
    metrics_up, sim_key, DaemonProcess, NotifySocket, OneKey, Scratch,
};

/// A config that checks every second, with its state and metrics in `scratch`.
fn daemon_config(scratch: &Scratch, metrics: SocketAddr, connections: &str) -> String {
    let state = scratch_path(scratch, "state");
    let exchanges = [ExchangeKind::Mexc, ExchangeKind::Kucoin];
    support::daemon_table(support::EVERY_SECOND, "3s", &state, metrics, &exchanges) + connections
}

fn scratch_path(scratch: &Scratch, name: &str) -> PathBuf {
    scratch.path().join(name)
}

fn status_series(connection: &str, exchange: ExchangeKind, status: &str) -> String {
    format!(
        "keywarden_connection_status{{connection=\"{connection}\",exchange=\"{exchange}\",status=\"{status}\"}} 1"
    )
}

struct Setup {
    scratch: Scratch,
    sim: RunningSim,
    keys: Vec<SimKey>,
    metrics: SocketAddr,
    config: PathBuf,
}

async fn setup(keys: Vec<(&str, SimKey)>) -> Setup {
    let sim = support::start_sim(ScenarioFile {
        keys: keys.iter().map(|(_, k)| k.clone()).collect(),
        ..ScenarioFile::default()
    })
    .await;
    let scratch = Scratch::new();
    let metrics = free_port();
    let connections: String = keys
        .iter()
        .map(|(name, key)| connection_toml(name, key, &sim, &["spot"]))
        .collect();
    let config = scratch.write(
        "keywarden.toml",
        &daemon_config(&scratch, metrics, &connections),
    );
    Setup {
        scratch,
        sim,
        keys: keys.into_iter().map(|(_, k)| k).collect(),
        metrics,
        config,
    }
}

impl Setup {
    fn start(&self, log: &str) -> DaemonProcess {
        DaemonProcess::start(&self.config, scratch_path(&self.scratch, log))
    }

    /// The `/metrics` exposition once `shows` holds for it (within `timeout`, `what` naming it).
    async fn metrics_once(
        &self,
        timeout: Duration,
        what: &str,
        shows: impl Fn(&str) -> bool,
    ) -> String {
        eventually(timeout, what, || async {
            metrics(self.metrics).await.filter(|m| shows(m))
        })
        .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_checks_write_spans_and_a_changed_key_starts_a_new_one() {
    let alice = sim_key(ExchangeKind::Mexc, "daemon-alice", Scenario::FuturesMissing);
    let bob = sim_key(
        ExchangeKind::Kucoin,
        "daemon-bob",
        Scenario::WithdrawEnabled,
    );
    let s = setup(vec![("alice", alice.clone()), ("bob", bob)]).await;
    let mut daemon = s.start("daemon.log");

    let spans = eventually(
        Duration::from_secs(20),
        "two checks of alice in one span",
        || async {
            let spans = support::spans(&s.config, "alice").await?;
            (spans.len() == 1 && spans[0]["checks"].as_u64() >= Some(2)).then_some(spans)
        },
    )
    .await;
    assert_eq!(spans[0]["status"], "connected");

    // The user gives the key withdraw rights at the exchange.
    assert!(s.sim.state.set_scenario(
        ExchangeKind::Mexc,
        &alice.api_key,
        Scenario::WithdrawEnabled
    ));
    let spans = eventually(
        Duration::from_secs(20),
        "a second span for alice",
        || async {
            let spans = support::spans(&s.config, "alice").await?;
            (spans.len() == 2).then_some(spans)
        },
    )
    .await;
    assert_eq!(spans[0]["status"], "withdraw_enabled", "newest first");
    assert_eq!(spans[1]["status"], "connected");

    let exposition = s
        .metrics_once(Duration::from_secs(10), "metrics for both", |m| {
            m.contains(&status_series(
                "alice",
                ExchangeKind::Mexc,
                "withdraw_enabled",
            )) && m.contains(&status_series(
                "bob",
                ExchangeKind::Kucoin,
                "withdraw_enabled",
            ))
        })
        .await;
    assert_promtool_accepts(&exposition);
    for key in &s.keys {
        for secret in [&key.api_key, &key.api_secret] {
            assert!(!exposition.contains(secret.as_str()), "secret in /metrics");
            assert!(!daemon.log().contains(secret.as_str()), "secret in the log");
        }
    }
    assert_eq!(
        http_get(&format!("http://{}/healthz", s.metrics))
            .await
            .map(|r| r.0),
        Some(200)
    );

    daemon.terminate(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_loses_no_span_that_history_showed() {
    let alice = sim_key(ExchangeKind::Kucoin, "kill-alice", Scenario::FuturesMissing);
    let s = setup(vec![("alice", alice.clone())]).await;
    let mut daemon = s.start("first.log");
    eventually(Duration::from_secs(20), "a first span", || async {
        support::spans(&s.config, "alice")
            .await
            .filter(|spans| !spans.is_empty())
    })
    .await;
    s.sim
        .state
        .set_scenario(ExchangeKind::Kucoin, &alice.api_key, Scenario::TradeMissing);
    let before = eventually(Duration::from_secs(20), "a second span", || async {
        support::spans(&s.config, "alice")
            .await
            .filter(|spans| spans.len() >= 2)
    })
    .await;

    daemon.kill(Duration::from_secs(5)).await;

    let mut restarted = s.start("second.log");
    let after = eventually(Duration::from_secs(20), "history after restart", || async {
        support::spans(&s.config, "alice").await
    })
    .await;
    for span in &before {
        let kept = after
            .iter()
            .find(|a| a["first_seen"] == span["first_seen"] && a["status"] == span["status"]);
        let kept =
            kept.unwrap_or_else(|| panic!("span lost after kill -9: {span}\nafter: {after:?}"));
        assert!(
            kept["checks"].as_u64() >= span["checks"].as_u64(),
            "{span} vs {kept}"
        );
    }
    restarted.terminate(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_keeps_a_broken_config_and_applies_a_valid_one() {
    let alice = sim_key(ExchangeKind::Mexc, "hup-alice", Scenario::FuturesMissing);
    let bob = sim_key(ExchangeKind::Kucoin, "hup-bob", Scenario::Valid);
    let carol = sim_key(ExchangeKind::Kucoin, "hup-carol", Scenario::TradeMissing);
    let s = setup(vec![("alice", alice.clone()), ("bob", bob.clone())]).await;
    let mut daemon = s.start("daemon.log");
    s.metrics_once(Duration::from_secs(20), "alice and bob on /metrics", |m| {
        m.contains("connection=\"alice\"") && m.contains("connection=\"bob\"")
    })
    .await;

    let good = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, format!("{good}\n[connections.broken\n")).unwrap();
    daemon.signal("HUP");
    daemon
        .log_line(
            "reload refused",
            Duration::from_secs(10),
            "the refusal in the log",
        )
        .await;
    let m = metrics(s.metrics)
        .await
        .expect("still serving after a bad reload");
    assert!(m.contains("connection=\"alice\"") && m.contains("connection=\"bob\""));

    // bob removed, carol added.
    let connections = connection_toml("alice", &alice, &s.sim, &["spot"])
        + &connection_toml("carol", &carol, &s.sim, &["spot"]);
    std::fs::write(
        &s.config,
        daemon_config(&s.scratch, s.metrics, &connections),
    )
    .unwrap();
    daemon.signal("HUP");
    s.metrics_once(
        Duration::from_secs(20),
        "carol in and bob out of /metrics",
        |m| m.contains("connection=\"carol\"") && !m.contains("connection=\"bob\""),
    )
    .await;
    daemon.terminate(Duration::from_secs(10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_checks_in_flight_exits_zero_within_seconds() {
    let stuck = OneKey::start("term-hang", Scenario::Hang).await;
    let (scratch, metrics) = (&stuck.scratch, stuck.metrics);
    let text = support::edited(
        &stuck.daemon_config(&scratch_path(scratch, "state"), &stuck.connection("stuck")),
        "check_timeout = \"3s\"",
        "check_timeout = \"60s\"",
    );
    let config = scratch.write("keywarden.toml", &text);
    let mut daemon = DaemonProcess::start(&config, scratch_path(scratch, "daemon.log"));
    eventually(Duration::from_secs(10), "the daemon serving", || async {
        metrics_up(metrics).await
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await; // a check is now hanging on the exchange
    let started = std::time::Instant::now();
    daemon.terminate(Duration::from_secs(15)).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_state_dir_is_refused_clearly() {
    let alice = sim_key(ExchangeKind::Mexc, "twice", Scenario::FuturesMissing);
    let s = setup(vec![("alice", alice)]).await;
    let mut first = s.start("first.log");
    eventually(
        Duration::from_secs(10),
        "the first daemon serving",
        || async { metrics_up(s.metrics).await },
    )
    .await;
    let second = support::run(&["run", "--config", s.config.to_str().unwrap()], &[]).await;
    assert_eq!(second.code, 2, "{}", second.stderr);
    assert!(
        second.stderr.contains("another keywarden"),
        "{}",
        second.stderr
    );
    first.terminate(Duration::from_secs(10)).await;
}

/// systemd's side of `Type=notify`: a datagram socket the daemon reports to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tells_systemd_ready_pings_the_watchdog_and_says_stopping() {
    let alice = sim_key(ExchangeKind::Mexc, "notify", Scenario::FuturesMissing);
    let s = setup(vec![("alice", alice)]).await;
    let notify = NotifySocket::bind(s.scratch.path());
    let mut daemon = DaemonProcess::start_with_env(
        &s.config,
        s.scratch.path().join("daemon.log"),
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let seen = notify.messages_until("WATCHDOG=1").await;
    let ready = seen
        .iter()
        .find(|m| m.contains("READY=1"))
        .expect("READY=1 sent");
    assert!(ready.contains("STATUS=watching 1 connection"), "{ready}");

    daemon.signal("TERM");
    notify.messages_until("STOPPING=1").await;
    assert_eq!(
        daemon.exit_within(Duration::from_secs(10)).await,
        Some(0),
        "{}",
        daemon.log()
    );
}
