//! The Telegram notifier and bot commands, through teloxide, against the Bot API simulator.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use keywarden::alert::{Alert, AlertKind};
use keywarden::config::TelegramConfig;
use keywarden::domain::{BoxFuture, ExchangeKind, Permissions, Status, Verdict, Warning};
use keywarden::notifier::telegram::{spawn_commands, Telegram};
use keywarden::notifier::{CommandBackend, DeliveryError, Notifier, Recipient};
use keywarden::secret::SecretString;

use crate::botapi_sim::{Behaviour, BotApiSim, BOT_USERNAME};
use crate::support::{self, eventually};

const TOKEN: &str = "123456789:AAH-s3cr3t_T0ken-for-tests";
const OPS: i64 = -1001234567890;
const ONCALL: i64 = 4242;
const STRANGER: i64 = -1009999999999;

fn config(sim: &BotApiSim) -> TelegramConfig {
    TelegramConfig {
        bot_token: SecretString::from(TOKEN.to_string()),
        chat_ids: vec![OPS, ONCALL],
        api_url: sim.url(),
        allowed_user_ids: None,
    }
}

fn alert(name: &str, status: Status) -> Alert {
    Alert {
        message: "IP [203.0.113.7] <b>& not in the ip white list".to_string(),
        remedy: Some("add 203.0.113.7 <b>& to the key's whitelist".to_string()),
        ..Alert::sample(name, AlertKind::Opened, status)
    }
}

/// A Bot API simulator that knows [`TOKEN`] and answers with `behaviour`.
async fn sim_playing(behaviour: Behaviour) -> BotApiSim {
    let sim = BotApiSim::start(TOKEN).await;
    sim.set_behaviour(behaviour);
    sim
}

fn ops() -> Recipient {
    Recipient::Telegram { chat_id: OPS }
}

/// Delivers an alert to the ops chat through `telegram`, which must fail, and returns the error
/// once it is checked to carry no bot token: every failure path must keep the token out.
async fn failure_without_token(telegram: &Telegram) -> DeliveryError {
    let e = telegram
        .deliver(&ops(), &[alert("a", Status::InvalidKey)])
        .await
        .unwrap_err();
    assert_token_free(&e);
    e
}

/// [`failure_without_token`] on a Bot API simulator that answers with `behaviour`.
async fn failure_answering(behaviour: Behaviour) -> DeliveryError {
    let sim = sim_playing(behaviour).await;
    failure_without_token(&Telegram::new(&config(&sim)).unwrap()).await
}

fn assert_token_free(e: &DeliveryError) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains("s3cr3t"), "token leaked: {text}");
    }
}

#[tokio::test]
async fn telegram_alert_arrives_once_in_each_chat_escaped() {
    let sim = BotApiSim::start(TOKEN).await;
    let telegram = Telegram::new(&config(&sim)).unwrap();
    let alerts = [alert("alice-mexc-main", Status::IpNotAllowed)];
    for recipient in telegram.recipients() {
        telegram.deliver(&recipient, &alerts).await.unwrap();
    }
    let sent = sim.sent();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let mut chats: Vec<i64> = sent.iter().map(|m| m.chat_id).collect();
    chats.sort();
    assert_eq!(chats, vec![OPS, ONCALL]);
    for m in &sent {
        assert_eq!(m.parse_mode.as_deref(), Some("HTML"));
        assert!(m.text.starts_with("🔴 "), "{}", m.text);
        support::assert_contains_all(
            &m.text,
            &[
                "alice-mexc-main",
                "<code>ip_not_allowed</code>",
                "IP [203.0.113.7] &lt;b&gt;&amp; not in the ip white list",
                "add 203.0.113.7 &lt;b&gt;&amp; to the key's whitelist",
            ],
        );
        assert!(!m.text.contains("<b>&"));
    }
}

#[tokio::test]
async fn telegram_429_is_retry_after_one_second() {
    let e = failure_answering(Behaviour::RateLimited).await;
    match &e {
        DeliveryError::Retry { reason, after, .. } => {
            assert_eq!(*reason, "rate_limited");
            assert_eq!(*after, Some(Duration::from_secs(1)));
        }
        other => panic!("expected Retry, got {other:?}"),
    }
}

#[tokio::test]
async fn telegram_500_is_retry_unavailable() {
    // teloxide pauses 10 s after a 5xx before reading it; the default 15 s timeout covers that.
    let e = failure_answering(Behaviour::ServerError).await;
    support::assert_retried(&e, "unavailable");
}

#[tokio::test]
async fn telegram_hanging_api_is_retry_timeout_within_the_timeout() {
    let sim = sim_playing(Behaviour::Hang).await;
    let telegram = Telegram::with_timeout(&config(&sim), Duration::from_millis(700)).unwrap();
    let started = Instant::now();
    let e = failure_without_token(&telegram).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    support::assert_retried(&e, "timeout");
}

#[tokio::test]
async fn telegram_chat_not_found_is_reject() {
    let e = failure_answering(Behaviour::ChatNotFound).await;
    support::assert_refused(&e, "rejected");
    assert!(e.to_string().contains("chat not found"), "{e}");
}

#[tokio::test]
async fn telegram_token_never_appears_in_delivery_errors() {
    // Wrong token (401), nobody listening (connection refused), a hang (timeout), garbage.
    let sim = BotApiSim::start("987:other-token").await;
    let telegram = Telegram::new(&config(&sim)).unwrap();
    let e = failure_without_token(&telegram).await;
    assert!(matches!(e, DeliveryError::Reject { .. }), "{e:?}");

    let closed = crate::support::free_port();
    let mut cfg = config(&sim);
    cfg.api_url = format!("http://{closed}/");
    let e = failure_without_token(&Telegram::new(&cfg).unwrap()).await;
    support::assert_retried(&e, "unavailable");

    let right = sim_playing(Behaviour::Hang).await;
    failure_without_token(
        &Telegram::with_timeout(&config(&right), Duration::from_millis(300)).unwrap(),
    )
    .await;
}

#[tokio::test]
async fn telegram_three_alerts_are_one_digest_message() {
    let sim = BotApiSim::start(TOKEN).await;
    let telegram = Telegram::new(&config(&sim)).unwrap();
    let alerts = [
        alert("alice", Status::InvalidKey),
        alert("bob", Status::WithdrawEnabled),
        alert("carol", Status::NoTradePermission),
    ];
    telegram.deliver(&ops(), &alerts).await.unwrap();
    let sent = sim.sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = &sent[0].text;
    assert!(text.contains("KeyWarden: 3 alerts"), "{text}");
    for name in ["alice", "bob", "carol"] {
        assert!(text.contains(&format!("<b>{name}</b>")), "{text}");
    }
    assert_eq!(sent[0].parse_mode.as_deref(), Some("HTML"));
}

#[tokio::test]
async fn telegram_sixty_alert_digest_is_split_within_4096() {
    let sim = BotApiSim::start(TOKEN).await;
    let telegram = Telegram::new(&config(&sim)).unwrap();
    let alerts: Vec<Alert> = (0..60)
        .map(|i| alert(&format!("user-{i:02}-mexc"), Status::InvalidKey))
        .collect();
    telegram.deliver(&ops(), &alerts).await.unwrap();
    let sent = sim.delivered();
    assert!(
        sent.len() > 1,
        "expected several messages, got {}",
        sent.len()
    );
    for m in &sent {
        assert!(
            m.text.chars().count() <= 4096,
            "{} chars",
            m.text.chars().count()
        );
        assert!(m.text.encode_utf16().count() <= 4096);
        assert_eq!(m.chat_id, OPS);
    }
    for i in 0..60 {
        let name = format!("<b>user-{i:02}-mexc</b>");
        let n: usize = sent.iter().map(|m| m.text.matches(&name).count()).sum();
        assert_eq!(n, 1, "{name} appears {n} times");
    }
}

/// A command backend that answers from a fixed list and counts `check_now` calls.
struct FakeBackend {
    verdicts: Vec<Verdict>,
    checks: AtomicUsize,
    checked: Mutex<Vec<String>>,
}

impl FakeBackend {
    fn new() -> Arc<FakeBackend> {
        let verdict = |name: &str, status: Status, latency_ms: u64| Verdict {
            connection: name.to_string(),
            exchange: ExchangeKind::Mexc,
            status,
            permissions: Permissions {
                read: Some(true),
                trade: Some(true),
                withdraw: Some(status == Status::WithdrawEnabled),
                futures: None,
            },
            ip_restricted: Some(false),
            expires_at: None,
            latency_ms,
            message: "checked <b>& fine".to_string(),
            remedy: (status != Status::Connected)
                .then(|| "switch withdraw rights off <now> & retry".to_string()),
            warnings: vec![Warning::IpWhitelistMissing],
            checked_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap(),
        };
        Arc::new(FakeBackend {
            verdicts: vec![
                verdict("alice-mexc", Status::Connected, 120),
                verdict("bob-mexc", Status::WithdrawEnabled, 80),
            ],
            checks: AtomicUsize::new(0),
            checked: Mutex::new(Vec::new()),
        })
    }
}

impl CommandBackend for FakeBackend {
    fn statuses(&self) -> Vec<Verdict> {
        self.verdicts.clone()
    }

    fn check_now<'a>(&'a self, connection: &'a str) -> BoxFuture<'a, Option<Verdict>> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        self.checked.lock().unwrap().push(connection.to_string());
        let found = self
            .verdicts
            .iter()
            .find(|v| v.connection == connection)
            .cloned();
        Box::pin(async move { found })
    }
}

/// The bot command loop on the Bot API simulator, answering from a [`FakeBackend`].
struct CommandLoop {
    sim: BotApiSim,
    backend: Arc<FakeBackend>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl CommandLoop {
    async fn start() -> CommandLoop {
        let sim = BotApiSim::start(TOKEN).await;
        let backend = FakeBackend::new();
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let task = spawn_commands(&config(&sim), backend.clone(), shutdown);
        CommandLoop {
            sim,
            backend,
            stop,
            task,
        }
    }

    /// Shutdown must stop the loop promptly, mid long-poll.
    async fn stop(self) {
        self.stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(3), self.task)
            .await
            .expect("command loop stops on shutdown")
            .unwrap();
    }
}

async fn wait_for_answers(sim: &BotApiSim, n: usize) -> Vec<crate::botapi_sim::SentMessage> {
    eventually(Duration::from_secs(10), "bot answers", || async {
        let sent = sim.sent();
        (sent.len() >= n).then_some(sent)
    })
    .await
}

#[tokio::test]
async fn telegram_commands_answer_in_allowlisted_chats() {
    let bot = CommandLoop::start().await;
    let (sim, backend) = (&bot.sim, &bot.backend);

    sim.push_update(OPS, "/status");
    let sent = wait_for_answers(sim, 1).await;
    let status = &sent[0];
    assert_eq!(status.chat_id, OPS);
    assert_eq!(status.parse_mode.as_deref(), Some("HTML"));
    assert!(status.text.contains("2 connections"), "{}", status.text);
    assert!(
        status
            .text
            .contains("<b>alice-mexc</b> · mexc · <code>connected</code> · 120 ms"),
        "{}",
        status.text
    );
    assert!(status
        .text
        .contains("<b>bob-mexc</b> · mexc · <code>withdraw_enabled</code> · 80 ms"));

    sim.push_update(ONCALL, "/check bob-mexc");
    let sent = wait_for_answers(sim, 2).await;
    let check = &sent[1];
    assert_eq!(check.chat_id, ONCALL);
    support::assert_contains_all(
        &check.text,
        &[
            "<code>withdraw_enabled</code>",
            "withdraw yes",
            "<code>ip_whitelist_missing</code>",
            "checked &lt;b&gt;&amp; fine",
            "switch withdraw rights off &lt;now&gt; &amp; retry",
        ],
    );

    sim.push_update(OPS, "/check nobody");
    let sent = wait_for_answers(sim, 3).await;
    assert!(
        sent[2].text.contains("No connection named <b>nobody</b>"),
        "{}",
        sent[2].text
    );

    // The /cmd@BotName form, once the bot knows its name from getMe.
    sim.push_update(OPS, &format!("/check@{BOT_USERNAME} alice-mexc"));
    let sent = wait_for_answers(sim, 4).await;
    assert!(
        sent[3].text.contains("<b>alice-mexc</b>"),
        "{}",
        sent[3].text
    );
    assert!(sim.calls("getMe") >= 1);

    assert_eq!(
        *backend.checked.lock().unwrap(),
        vec!["bob-mexc", "nobody", "alice-mexc"]
    );

    bot.stop().await;
}

#[tokio::test]
async fn telegram_commands_from_other_chats_get_no_answer_and_no_check() {
    let bot = CommandLoop::start().await;
    let (sim, backend) = (&bot.sim, &bot.backend);

    sim.push_update(STRANGER, "/status");
    sim.push_update(STRANGER, "/check alice-mexc");
    sim.push_update(STRANGER, &format!("/check@{BOT_USERNAME} bob-mexc"));
    sim.push_update(OPS, "hello, is anyone there?");
    sim.push_update(OPS, "/status@SomeOtherBot");
    // A marker from an allowlisted chat: once it is answered, everything before it was seen.
    sim.push_update(OPS, "/status");
    let sent = wait_for_answers(sim, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent_after = sim.sent();
    assert_eq!(
        sent_after.len(),
        1,
        "only the marker is answered: {sent_after:?}"
    );
    assert_eq!(sent[0].chat_id, OPS);
    assert!(sent[0].text.contains("2 connections"));
    assert!(sent_after.iter().all(|m| m.chat_id != STRANGER));
    assert_eq!(
        backend.checks.load(Ordering::SeqCst),
        0,
        "check_now was called"
    );

    bot.stop().await;
}
