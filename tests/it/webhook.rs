//! The webhook channel end to end: the real daemon, the exchange simulator and a real HTTP
//! receiver on loopback (`webhook_receiver.rs`). Every event is signed and versioned, arrives
//! once and in order through outages and `kill -9`, a refusal is not retried in a loop, and no
//! secret leaves in a body, a header or the log.

use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{RunningSim, Scenario, SimKey};

use crate::support::{self, eventually, DaemonProcess, OneKey, Scratch};
use crate::webhook_receiver::{Behaviour, Received, WebhookReceiver};

const WEBHOOK_SECRET: &str = "whsec-test-4f1c9a2b7e6d5c3a-never-sent";
const REASONS: [&str; 6] = [
    "expired",
    "rate_limited",
    "rejected",
    "timeout",
    "unavailable",
    "wrong_channel",
];

struct World {
    scratch: Scratch,
    sim: RunningSim,
    receiver: WebhookReceiver,
    key: SimKey,
    config: std::path::PathBuf,
    metrics: std::net::SocketAddr,
}

impl World {
    /// One connection `dave` (owner dave@example.com) playing `scenario`, checked every second,
    /// with one webhook target (the receiver) and `alerts_extra` under `[alerts]`.
    async fn new(scenario: Scenario, alerts_extra: &str) -> World {
        let one = OneKey::start("webhook-dave", scenario).await;
        let receiver = WebhookReceiver::start().await;
        let connection = one.connection("dave") + "owner_email = \"dave@example.com\"\n";
        let rest = format!(
            "[alerts]\nresolve_after = 2\n{alerts_extra}\n\
             [[alerts.webhook]]\nurl = \"{url}\"\nsecret = \"env:WEBHOOK_SECRET\"\ntimeout = \"3s\"\n\n\
             {connection}",
            url = receiver.url(),
        );
        let text = one.daemon_config(&one.scratch.path().join("state"), &rest);
        let config = one.scratch.write("keywarden.toml", &text);
        World {
            scratch: one.scratch,
            sim: one.sim,
            receiver,
            key: one.key,
            config,
            metrics: one.metrics,
        }
    }

    fn start(&self, log: &str) -> DaemonProcess {
        DaemonProcess::start_with_env(
            &self.config,
            self.scratch.path().join(log),
            &[("WEBHOOK_SECRET", WEBHOOK_SECRET)],
        )
    }

    fn play(&self, scenario: Scenario) {
        assert!(self
            .sim
            .state
            .set_scenario(ExchangeKind::Mexc, &self.key.api_key, scenario));
    }

    async fn metrics(&self) -> Option<String> {
        support::metrics(self.metrics).await
    }

    /// `keywarden_alert_outbox_depth` as the daemon reports it.
    async fn outbox_depth(&self) -> Option<u64> {
        support::outbox_depth(self.metrics).await
    }

    /// `keywarden_alerts_failed_total{channel="webhook",reason}`; `None` when not on /metrics.
    async fn failures(&self, reason: &str) -> Option<u64> {
        let body = self.metrics().await?;
        let series =
            format!("keywarden_alerts_failed_total{{channel=\"webhook\",reason=\"{reason}\"}} ");
        body.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse().ok())
    }

    /// Waits until the outbox holds `depth` events.
    async fn queued(&self, depth: u64) {
        eventually(
            Duration::from_secs(30),
            &format!("{depth} events in the outbox"),
            || async { self.outbox_depth().await.filter(|d| *d >= depth) },
        )
        .await;
    }

    /// The events the receiver accepted, each checked for its signature, in arrival order.
    fn accepted_events(&self) -> Vec<serde_json::Value> {
        self.receiver.accepted().iter().map(verified).collect()
    }

    /// The first event the receiver accepted, once there is one (within 30 s).
    async fn first_event(&self, what: &str) -> serde_json::Value {
        eventually(Duration::from_secs(30), what, || async {
            self.accepted_events().into_iter().next()
        })
        .await
    }

    /// The first accepted event of `kind`, once there is one (within `timeout`).
    async fn event_of_kind(&self, kind: &str, timeout: Duration) -> serde_json::Value {
        eventually(timeout, &format!("the {kind} event"), || async {
            self.accepted_events()
                .into_iter()
                .find(|e| e["kind"] == kind)
        })
        .await
    }

    /// The accepted events once at least `count` came (within 90 s, `what` naming them), after
    /// three more seconds in which a duplicate or a stray event would have arrived too.
    async fn settled_events(&self, count: usize, what: &str) -> Vec<serde_json::Value> {
        eventually(Duration::from_secs(90), what, || async {
            (self.accepted_events().len() >= count).then_some(())
        })
        .await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        self.accepted_events()
    }

    /// Asserts that no secret went out in a body, a header or the log.
    fn assert_no_secret_leaves(&self, logs: &[String]) {
        let secrets = [WEBHOOK_SECRET, &self.key.api_key, &self.key.api_secret];
        for received in self.receiver.received() {
            let body = String::from_utf8_lossy(&received.body);
            for (name, value) in &received.headers {
                for secret in secrets {
                    assert!(
                        !value.contains(secret),
                        "a secret in header {name}: {value}"
                    );
                }
            }
            for secret in secrets {
                assert!(!body.contains(secret), "a secret in a body: {body}");
            }
        }
        for log in logs {
            assert!(!log.is_empty());
            for secret in secrets {
                assert!(!log.contains(secret), "a secret in the log:\n{log}");
            }
        }
    }
}

/// Checks `received`'s `X-KeyWarden-Signature` with the README's own check ([`verify`]) and
/// returns its body.
fn verified(received: &Received) -> serde_json::Value {
    assert_eq!(received.path, "/keywarden");
    assert_eq!(received.header("content-type"), Some("application/json"));
    let header = received
        .header("x-keywarden-signature")
        .unwrap_or_else(|| panic!("no signature header: {:?}", received.headers));
    let now = chrono::Utc::now().timestamp();
    assert!(
        verify(WEBHOOK_SECRET.as_bytes(), header, &received.body, now),
        "signature {header:?} over {:?}",
        String::from_utf8_lossy(&received.body)
    );
    let mut tampered = received.body.clone();
    tampered.push(b' ');
    assert!(!verify(WEBHOOK_SECRET.as_bytes(), header, &tampered, now));
    assert!(!verify(
        b"another-secret-0123456789",
        header,
        &received.body,
        now
    ));
    assert!(!verify(
        WEBHOOK_SECRET.as_bytes(),
        header,
        &received.body,
        now + 3600
    ));
    received.json()
}

// The README's Rust check ("Webhook events"), word for word: a test keeps the two the same.
fn verify(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    use hmac::Mac;
    let Some((t, v1)) = header.strip_prefix("t=").and_then(|h| h.split_once(",v1=")) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    t.parse::<i64>().is_ok_and(|t| (now - t).abs() <= 300)
        && hex::decode(v1).is_ok_and(|v1| mac.verify_slice(&v1).is_ok())
}

#[test]
fn the_readme_shows_the_signature_check_these_tests_use() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme
        .find("### Webhook events")
        .expect("the README section")..];
    let start = section.find("```rust\n").expect("a Rust block") + "```rust\n".len();
    let block = &section[start..];
    let block = &block[..block.find("```").expect("the block ends")];
    assert!(
        include_str!("webhook.rs").contains(block),
        "the README's Rust check differs from tests/it/webhook.rs's verify:\n{block}"
    );
}

/// The outbox-record part of an event id (`<created micros hex>-<record hex>`): creation order.
fn record_of(event: &serde_json::Value) -> u64 {
    let id = event["id"].as_str().expect("id is a string");
    let (_, record) = id.rsplit_once('-').expect("id is <time>-<record>");
    u64::from_str_radix(record, 16).expect("hex record number")
}

/// Asserts the events' sequence as (kind, status, previous status), `-` for none; `what` says
/// what the sequence shows.
fn assert_sequence(events: &[serde_json::Value], expected: &[(&str, &str, &str)], what: &str) {
    let sequence: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap_or("?"),
                e["status"].as_str().unwrap_or("?"),
                e["previous_status"].as_str().unwrap_or("-"),
            )
        })
        .collect();
    assert_eq!(sequence, expected, "{what}: {events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_kind_arrives_once_signed_with_its_versioned_body_and_no_secret() {
    let w = World::new(Scenario::WithdrawEnabled, "remind_every = \"1m\"\n").await;
    let mut daemon = w.start("daemon.log");

    let opened = w.first_event("the opened event").await;
    let masked = format!(
        "{}…{}",
        &w.key.api_key[..4],
        &w.key.api_key[w.key.api_key.len() - 4..]
    );
    assert_eq!(opened["version"], 1);
    assert_eq!(opened["kind"], "opened");
    assert_eq!(opened["connection"], "dave");
    assert_eq!(opened["exchange"], "mexc");
    assert_eq!(opened["masked_key"], masked.as_str());
    assert_eq!(opened["owner"], "dave@example.com");
    assert_eq!(opened["status"], "withdraw_enabled");
    assert_eq!(opened["previous_status"], serde_json::Value::Null);
    assert_eq!(opened["severity"], "critical");
    assert_eq!(opened["permissions"]["withdraw"], true);
    assert_eq!(opened["permissions"]["trade"], true);
    assert!(opened["warnings"].is_array(), "{opened}");
    assert!(!opened["message"].as_str().unwrap().is_empty());
    assert!(opened["remedy"].as_str().is_some_and(|r| !r.is_empty()));
    for time in ["since", "checked_at", "raised_at"] {
        let text = opened[time].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "{time}: {opened}"
        );
    }

    // The incident stays open past remind_every: one reminder, same status, its own id.
    let reminder = w.event_of_kind("reminder", Duration::from_secs(120)).await;
    assert_eq!(reminder["status"], "withdraw_enabled");
    assert_eq!(reminder["since"], opened["since"]);
    assert_ne!(reminder["id"], opened["id"]);
    assert_eq!(reminder["permissions"]["withdraw"], true);

    // The operator removes the withdraw right: after two good checks, resolved.
    w.play(Scenario::Valid);
    let resolved = w.event_of_kind("resolved", Duration::from_secs(30)).await;
    assert_eq!(resolved["status"], "connected");
    assert_eq!(resolved["previous_status"], "withdraw_enabled");
    assert_eq!(resolved["permissions"]["withdraw"], false);
    assert_eq!(resolved["since"], opened["since"]);
    assert_eq!(resolved["remedy"], serde_json::Value::Null);

    tokio::time::sleep(Duration::from_secs(3)).await; // more checks of the same verdict
    let events = w.accepted_events();
    assert_sequence(
        &events,
        &[
            ("opened", "withdraw_enabled", "-"),
            ("reminder", "withdraw_enabled", "-"),
            ("resolved", "connected", "withdraw_enabled"),
        ],
        "each event once",
    );
    assert_eq!(w.receiver.received().len(), 3, "nothing sent twice");

    daemon.terminate(Duration::from_secs(10)).await;
    w.assert_no_secret_leaves(&[daemon.log()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_for_a_while_gets_every_event_once_in_order_when_back() {
    let mut w = World::new(Scenario::WithdrawEnabled, "").await;
    w.receiver.go_down().await;
    let mut daemon = w.start("daemon.log");

    // Three events while nobody listens: withdraw opened, replaced by a lost trade right, resolved.
    w.queued(1).await;
    w.play(Scenario::TradeMissing);
    w.queued(2).await;
    w.play(Scenario::Valid);
    w.queued(3).await;
    eventually(
        Duration::from_secs(30),
        "refused attempts counted",
        || async { w.failures("unavailable").await.filter(|n| *n > 0) },
    )
    .await;
    assert!(w.receiver.received().is_empty());

    w.receiver.come_back();
    let events = w
        .settled_events(3, "all three events after the outage")
        .await;
    assert_sequence(
        &events,
        &[
            ("opened", "withdraw_enabled", "-"),
            ("opened", "no_trade_permission", "withdraw_enabled"),
            ("resolved", "connected", "no_trade_permission"),
        ],
        "every event once, in order",
    );
    let records: Vec<u64> = events.iter().map(record_of).collect();
    assert!(records.windows(2).all(|r| r[0] < r[1]), "{records:?}");
    assert_eq!(w.outbox_depth().await, Some(0));

    daemon.terminate(Duration::from_secs(10)).await;
    w.assert_no_secret_leaves(&[daemon.log()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_with_events_pending_loses_none_and_a_duplicate_carries_the_same_id() {
    let w = World::new(Scenario::WithdrawEnabled, "").await;
    w.receiver.set_behaviour(Behaviour::Answer(503));
    let mut daemon = w.start("first.log");

    eventually(
        Duration::from_secs(30),
        "the first event refused",
        || async { (!w.receiver.received().is_empty()).then_some(()) },
    )
    .await;
    w.play(Scenario::Valid);
    w.queued(2).await;
    daemon.kill(Duration::from_secs(5)).await;

    w.receiver.set_behaviour(Behaviour::Accept);
    let mut restarted = w.start("second.log");
    let events = w.settled_events(2, "both events after the restart").await;
    assert_sequence(
        &events,
        &[
            ("opened", "withdraw_enabled", "-"),
            ("resolved", "connected", "withdraw_enabled"),
        ],
        "none lost, none twice",
    );
    // Every attempt at an event, refused before the kill or accepted after, carried its id
    // and the same body.
    let opened_id = events[0]["id"].clone();
    let attempts: Vec<Received> = w
        .receiver
        .received()
        .into_iter()
        .filter(|r| r.json()["kind"] == "opened")
        .collect();
    assert!(attempts.len() >= 2, "{attempts:?}");
    for attempt in &attempts {
        let body = verified(attempt);
        assert_eq!(body["id"], opened_id);
        assert_eq!(body, events[0]);
    }

    restarted.terminate(Duration::from_secs(10)).await;
    w.assert_no_secret_leaves(&[daemon.log(), restarted.log()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_400_is_not_retried_in_a_loop_and_holds_up_nothing() {
    let w = World::new(Scenario::WithdrawEnabled, "").await;
    w.receiver.set_behaviour(Behaviour::Answer(400));
    let mut daemon = w.start("daemon.log");

    // Every reason is on /metrics at 0 from the start (rejected may already count the refusal).
    let metrics = eventually(Duration::from_secs(20), "/metrics", || w.metrics()).await;
    for reason in REASONS {
        let series =
            format!("keywarden_alerts_failed_total{{channel=\"webhook\",reason=\"{reason}\"}} ");
        assert!(metrics.contains(&series), "{reason} missing:\n{metrics}");
    }

    eventually(Duration::from_secs(30), "the refused event", || async {
        (!w.receiver.received().is_empty()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await; // eight more checks and delivery rounds
    let refused = w.receiver.received();
    assert_eq!(
        refused.len(),
        1,
        "a 400 is not retried in a loop: {refused:?}"
    );
    assert_eq!(refused[0].answered, 400);
    assert_eq!(w.failures("rejected").await, Some(1));
    for reason in REASONS.iter().filter(|r| **r != "rejected") {
        assert_eq!(w.failures(reason).await, Some(0), "{reason}");
    }

    // The receiver is fixed; the next event goes out at once, past the refused one.
    w.receiver.set_behaviour(Behaviour::Accept);
    w.play(Scenario::Valid);
    let resolved = w.first_event("the resolved event").await;
    assert_eq!(resolved["kind"], "resolved");
    let refused_id = verified(&refused[0])["id"].clone();
    assert_ne!(resolved["id"], refused_id);
    assert_eq!(
        w.receiver
            .received()
            .iter()
            .filter(|r| r.json()["id"] == refused_id)
            .count(),
        1,
        "the refused event waits its long backoff"
    );

    daemon.terminate(Duration::from_secs(10)).await;
    w.assert_no_secret_leaves(&[daemon.log()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keywarden_demo_shows_the_signed_events_its_receiver_got() {
    let mut demo =
        support::Demo::spawn(support::demo_command().stderr(std::process::Stdio::null()));
    let found = demo
        .read_until(
            "webhook ← opened carol-mexc-withdraw: withdraw_enabled",
            Duration::from_secs(90),
        )
        .await;
    assert!(found.ends_with("(signature ok)"), "{found}");
    assert!(found.contains("key mx0v…"), "{found}");
    assert!(
        demo.stdout
            .contains("A webhook receiver listens on http://127.0.0.1:"),
        "{}",
        demo.stdout
    );
    demo.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_added_by_a_reload_gets_the_next_event() {
    let w = World::new(Scenario::Valid, "").await;
    let with_webhook = std::fs::read_to_string(&w.config).unwrap();
    let start = with_webhook.find("[[alerts.webhook]]").unwrap();
    let end = start + with_webhook[start..].find("\n\n").unwrap();
    let without = format!("{}{}", &with_webhook[..start], &with_webhook[end..]);
    std::fs::write(&w.config, &without).unwrap();
    let mut daemon = w.start("daemon.log");
    let metrics = eventually(Duration::from_secs(20), "/metrics", || w.metrics()).await;
    assert!(!metrics.contains("channel=\"webhook\""), "{metrics}");

    std::fs::write(&w.config, &with_webhook).unwrap();
    daemon.signal("HUP");
    eventually(
        Duration::from_secs(20),
        "the webhook's reasons at 0",
        || async { w.failures("unavailable").await },
    )
    .await;
    w.play(Scenario::WithdrawEnabled);
    let opened = w.first_event("the opened event").await;
    assert_eq!(opened["kind"], "opened");
    assert_eq!(opened["status"], "withdraw_enabled");

    daemon.terminate(Duration::from_secs(10)).await;
    w.assert_no_secret_leaves(&[daemon.log()]);
}
