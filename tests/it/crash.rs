//! Crash safety: the real daemon, several connections whose verdicts keep changing, alerts
//! flowing to Telegram and email, and `kill -9` at random moments, twenty times. Nothing that
//! `history` showed is lost, every incident is announced at least once, and a crash costs at
//! most one duplicate message per recipient.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{Scenario, SimKey};
use serde_json::Value;

use crate::alerting::Stage;
use crate::botapi_sim::SentMessage;
use crate::support::{self, eventually, http_get, sim_key};

const TOKEN: &str = "123456:crash-test-bot-token";
const CHAT: i64 = -1001;
const KILLS: usize = 20;
/// Healthy (spot-only connections need no futures right), then two key problems.
const CYCLE: [Scenario; 3] = [
    Scenario::FuturesMissing,
    Scenario::WithdrawEnabled,
    Scenario::TradeMissing,
];

/// A small xorshift generator: the kill moments vary from run to run, and the seed is printed
/// so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn between_ms(&mut self, low: u64, high: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(low + self.0 % (high - low))
    }
}

/// Three connections on the alerting stage, by name, and the keys they play.
struct World {
    stage: Stage,
    keys: Vec<(String, SimKey)>,
}

impl World {
    async fn new() -> World {
        let keys: Vec<(String, SimKey)> = [
            ("alice", ExchangeKind::Mexc),
            ("bob", ExchangeKind::Kucoin),
            ("carol", ExchangeKind::Mexc),
        ]
        .into_iter()
        .map(|(name, exchange)| {
            let key = sim_key(exchange, &format!("crash-{name}"), CYCLE[0]);
            (name.to_string(), key)
        })
        .collect();
        let stage = Stage::new(keys.iter().map(|(_, k)| k.clone()).collect(), TOKEN).await;
        let connections: String = keys
            .iter()
            .map(|(name, key)| stage.owned_connection(name, key, &format!("{name}@example.com")))
            .collect();
        stage.write_config(
            &stage.daemon_toml(
                "* * * * * *",
                "3s",
                &[ExchangeKind::Mexc, ExchangeKind::Kucoin],
            ),
            "resolve_after = 1\n",
            &[CHAT],
            &connections,
        );
        World { stage, keys }
    }

    async fn serving(&self) {
        let url = format!("http://{}/healthz", self.stage.metrics);
        eventually(Duration::from_secs(15), "the daemon serving", || async {
            http_get(&url).await.map(|_| ())
        })
        .await;
    }

    /// Every connection's spans, newest first (`keywarden history --json`).
    async fn history(&self) -> BTreeMap<String, Vec<Value>> {
        let mut all = BTreeMap::new();
        for (name, _) in &self.keys {
            all.insert(name.clone(), history(&self.stage.config, name).await);
        }
        all
    }
}

async fn history(config: &Path, name: &str) -> Vec<Value> {
    let args = [
        "history",
        "--config",
        config.to_str().unwrap(),
        name,
        "--limit",
        "10000",
        "--json",
    ];
    let run = support::run(&args, &[("TELEGRAM_TOKEN", TOKEN)]).await;
    assert_eq!(run.code, 0, "history {name}: {}", run.stderr);
    support::json_lines(&run.stdout)
}

/// Statuses that open a key-level incident at once (the alert policy's key problems).
fn key_problem(status: &str) -> bool {
    matches!(
        status,
        "invalid_key"
            | "wrong_region"
            | "ip_not_allowed"
            | "withdraw_enabled"
            | "no_read_permission"
            | "no_trade_permission"
            | "no_futures_permission"
    )
}

/// One alert as a message shows it: (connection, kind word, topic, since).
type AlertKey = (String, String, String, String);

const KIND_WORDS: [&str; 4] = ["Alert", "Still open", "Resolved", "Notice"];

/// The alerts one Telegram message carries: a single alert, or the blocks of a digest.
fn alerts_in(message: &SentMessage) -> Vec<AlertKey> {
    let lines: Vec<&str> = message.text.lines().collect();
    let mut found = Vec::new();
    if lines.first().is_some_and(|l| l.starts_with("📋")) {
        // Digest: "<emoji> <b>NAME</b> · ..." then "Kind: <code>topic</code> (sev) since WHEN".
        for pair in lines.windows(2) {
            let Some(kind) = KIND_WORDS
                .iter()
                .find(|k| pair[1].starts_with(&format!("{k}: <code>")))
            else {
                continue;
            };
            let name = between(pair[0], "<b>", "</b>");
            let topic = between(pair[1], "<code>", "</code>");
            let since = pair[1].split(" since ").nth(1).unwrap_or("");
            let since = since.split(", was").next().unwrap_or("");
            found.push((name, kind.to_string(), topic, since.to_string()));
        }
    } else if let Some(head) = lines.first() {
        // Single: "<emoji> <b>Kind: topic</b> on <b>NAME</b>", later "Since: WHEN".
        let kind_topic = between(head, "<b>", "</b>");
        let name = head
            .rsplit("<b>")
            .next()
            .unwrap_or("")
            .trim_end_matches("</b>")
            .to_string();
        let (kind, topic) = kind_topic.split_once(": ").unwrap_or(("", ""));
        let since = lines
            .iter()
            .find_map(|l| l.strip_prefix("Since: "))
            .unwrap_or("");
        found.push((name, kind.to_string(), topic.to_string(), since.to_string()));
    }
    found
}

fn between(text: &str, open: &str, close: &str) -> String {
    text.split_once(open)
        .and_then(|(_, rest)| rest.split_once(close))
        .map(|(inside, _)| inside.to_string())
        .unwrap_or_default()
}

/// The incidents the history implies, per (connection, kind, topic): each run of a key problem
/// is opened once; each return to `connected` after one resolves it (`resolve_after = 1`).
fn expected_alerts(
    history: &BTreeMap<String, Vec<Value>>,
) -> BTreeMap<(String, String, String), usize> {
    let mut expected = BTreeMap::new();
    for (name, spans) in history {
        let mut statuses: Vec<&str> = spans
            .iter()
            .rev()
            .map(|s| s["status"].as_str().expect("a status"))
            .collect();
        statuses.dedup();
        let mut open: Option<&str> = None;
        for status in statuses {
            assert!(
                status == "connected" || key_problem(status),
                "{name}: unexpected status {status} in the history"
            );
            if key_problem(status) {
                *expected
                    .entry((name.clone(), "Alert".to_string(), status.to_string()))
                    .or_insert(0) += 1;
                open = Some(status);
            } else if let Some(was) = open.take() {
                *expected
                    .entry((name.clone(), "Resolved".to_string(), was.to_string()))
                    .or_insert(0) += 1;
            }
        }
    }
    expected
}

/// Distinct incidents delivered per (connection, kind, topic), and how many messages repeated
/// only what had already been delivered.
fn delivered_alerts(
    messages: &[SentMessage],
) -> (BTreeMap<(String, String, String), usize>, usize, usize) {
    let mut seen: BTreeSet<AlertKey> = BTreeSet::new();
    let mut duplicate_messages = 0;
    let mut duplicate_alerts = 0;
    for message in messages {
        let alerts = alerts_in(message);
        assert!(!alerts.is_empty(), "unparsed message: {}", message.text);
        let mut fresh = false;
        for alert in alerts {
            if seen.insert(alert) {
                fresh = true;
            } else {
                duplicate_alerts += 1;
            }
        }
        if !fresh {
            duplicate_messages += 1;
        }
    }
    let mut distinct = BTreeMap::new();
    for (name, kind, topic, _) in seen {
        *distinct.entry((name, kind, topic)).or_insert(0) += 1;
    }
    (distinct, duplicate_messages, duplicate_alerts)
}

fn missing(
    expected: &BTreeMap<(String, String, String), usize>,
    delivered: &BTreeMap<(String, String, String), usize>,
) -> Vec<String> {
    expected
        .iter()
        .filter(|(key, n)| delivered.get(*key).copied().unwrap_or(0) < **n)
        .map(|(key, n)| format!("{key:?} expected {n}, delivered {:?}", delivered.get(key)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_kill_9s_lose_no_span_and_no_alert_and_duplicate_at_most_once_each() {
    let w = World::new().await;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("crash test seed {seed}");
    let mut rng = Rng(seed);
    let mut position: BTreeMap<String, usize> =
        w.keys.iter().map(|(n, _)| (n.clone(), 0)).collect();
    // Every span `history` showed before some kill, by (connection, first_seen, status).
    let mut shown: BTreeSet<(String, String, String)> = BTreeSet::new();

    let mut daemon = w.stage.start("run-0.log");
    for round in 0..KILLS {
        w.serving().await;
        // One connection moves to its next scenario; it is held for at least two seconds of
        // running daemon, so a crash never hides a status from the alert policy for good.
        let (name, key) = &w.keys[round % w.keys.len()];
        let next = position.get_mut(name).unwrap();
        *next = (*next + 1) % CYCLE.len();
        assert!(w
            .stage
            .sim
            .state
            .set_scenario(key.exchange, &key.api_key, CYCLE[*next]));
        tokio::time::sleep(rng.between_ms(2000, 3500)).await;
        for (name, spans) in w.history().await {
            for span in spans {
                shown.insert((
                    name.clone(),
                    span["first_seen"].to_string(),
                    span["status"].to_string(),
                ));
            }
        }
        // The kill lands anywhere in the next 0.8 s: mid-check, mid-record, mid-delivery.
        tokio::time::sleep(rng.between_ms(0, 800)).await;
        daemon.kill(Duration::from_secs(5)).await;
        daemon = w.stage.start(&format!("run-{}.log", round + 1));
    }
    w.serving().await;

    // Let everything that is owed arrive, then stop cleanly.
    let expected = eventually(
        Duration::from_secs(40),
        "every incident delivered",
        || async {
            let expected = expected_alerts(&w.history().await);
            let (delivered, _, _) = delivered_alerts(&w.stage.bot.delivered());
            missing(&expected, &delivered)
                .is_empty()
                .then_some(expected)
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    daemon.terminate(Duration::from_secs(10)).await;

    // No span that history showed is gone.
    let after = w.history().await;
    let kept: BTreeSet<(String, String, String)> = after
        .iter()
        .flat_map(|(name, spans)| {
            spans.iter().map(move |s| {
                (
                    name.clone(),
                    s["first_seen"].to_string(),
                    s["status"].to_string(),
                )
            })
        })
        .collect();
    let lost: Vec<_> = shown.difference(&kept).collect();
    assert!(lost.is_empty(), "spans lost after kill -9: {lost:?}");

    // No alert lost (the history after the stop is the complete record of what happened).
    let expected_now = expected_alerts(&after);
    let messages = w.stage.bot.delivered();
    let (delivered, duplicate_messages, duplicate_alerts) = delivered_alerts(&messages);
    let not_delivered = missing(&expected_now, &delivered);
    assert!(
        not_delivered.is_empty(),
        "alerts lost: {not_delivered:?}\ndelivered: {delivered:?}"
    );
    let incidents: usize = expected_now.values().sum();
    assert!(
        incidents >= expected.values().sum::<usize>() && incidents >= KILLS / 2,
        "too few incidents for a meaningful test: {expected_now:?}"
    );
    assert!(
        duplicate_messages <= KILLS,
        "{duplicate_messages} duplicate messages for {KILLS} crashes"
    );

    // Email: the operators heard about every incident the history implies.
    let mails: Vec<String> = w
        .stage
        .smtp
        .messages()
        .into_iter()
        .filter(|m| m.recipients.iter().any(|r| r == "ops@example.com"))
        .map(|m| crate::secrets::mail_text(&m.data))
        .collect();
    for (name, kind, topic) in expected_now.keys() {
        if kind == "Alert" {
            assert!(
                mails
                    .iter()
                    .any(|m| m.contains(name.as_str()) && m.contains(topic.as_str())),
                "no email to ops about {name} {topic}"
            );
        }
    }
    let distinct: usize = delivered.values().sum();
    println!(
        "crash: kills {KILLS}, spans checked {}, incidents expected {incidents}, alerts delivered \
         {distinct} (in {} Telegram messages, {} emails), duplicates {duplicate_messages} messages \
         / {duplicate_alerts} alerts",
        shown.len(),
        messages.len(),
        w.stage.smtp.messages().len()
    );
}
