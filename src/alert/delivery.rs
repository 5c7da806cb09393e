//! Delivery: drains the outbox to the channels, in order per recipient, as digests.
//!
//! Retry only what can succeed (design "Alert semantics"): a `Retry` failure backs off
//! exponentially with jitter, or waits what the channel asked (Telegram's `retry_after`); a
//! `Reject` (bad chat, bad address, SMTP 5xx) is counted with its reason and tried again rarely,
//! until the alert is too old to matter. Nothing leaves the outbox undelivered except by age.
//!
//! One rejected message must not hold up the alerts behind it (issue 19): a rejected digest is
//! split, its alerts are set aside ([`OutboxEntry::set_aside`]) and tried one by one, so the
//! ones the channel takes go out at once and only the rejected one waits; alerts queued later
//! go out as usual, past it.
//!
//! The outbox lives in sled, whose reads and writes may wait on the disk: every store call runs
//! on the blocking pool, never on the runtime's worker threads.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;
use crate::notifier::{Channel, DeliveryError, Notifier, Recipient};
use crate::store::{HistoryStore, OutboxEntry, StoreError};

/// At most this many alerts go out as one digest per recipient per round.
pub const DIGEST_MAX: usize = 25;
/// On a channel that takes events one by one (the webhook), at most this many go to one
/// recipient per round, one after the other, and no new one is started after
/// [`EVENTS_ROUND_TIME`]: a backlog after an outage drains without a scan of the whole outbox per
/// event, and a slow receiver does not hold up the other channels' rounds for long.
pub const EVENTS_PER_ROUND: usize = 100;
pub const EVENTS_ROUND_TIME: Duration = Duration::from_secs(5);
/// An alert older than this is dropped (logged and counted as `expired`) instead of sent.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two tries of a failing recipient.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The shortest wait after a rejection (retrying a rejected message soon cannot help).
pub const REJECT_BACKOFF: Duration = Duration::from_secs(1800);
/// The longest wait after repeated rejections of one alert: a few more tries before it expires.
pub const MAX_REJECT_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// How long a delivery is remembered in the store's `delivered` tree. The record guards
/// against a re-send after a crash between a send and its record, and an alert older than
/// [`MAX_AGE`] is never sent anyway; a week leaves room to look one up.
pub const DELIVERED_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);
/// How often delivery records older than [`DELIVERED_KEPT`] are pruned (first at start).
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Why a delivery round stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Runs `job` on the store on the blocking pool.
async fn on_store<T: Send + 'static>(
    store: &HistoryStore,
    job: impl FnOnce(&HistoryStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, RoundError> {
    let store = store.clone();
    Ok(tokio::task::spawn_blocking(move || job(&store)).await??)
}

/// The configured channels; replaced on reload.
#[derive(Default, Clone)]
pub struct Notifiers {
    by_channel: BTreeMap<Channel, Arc<dyn Notifier>>,
}

impl Notifiers {
    pub fn add(&mut self, notifier: Arc<dyn Notifier>) {
        self.by_channel.insert(notifier.channel(), notifier);
    }

    pub fn get(&self, channel: Channel) -> Option<Arc<dyn Notifier>> {
        self.by_channel.get(&channel).cloned()
    }

    /// The configured channels.
    pub fn channels(&self) -> impl Iterator<Item = Channel> + '_ {
        self.by_channel.keys().copied()
    }
}

/// The wait before try number `attempts + 1`: 2 s doubling to [`MAX_BACKOFF`], with ±20 %
/// jitter derived from the entry id so recipients do not retry in lockstep.
pub fn backoff(attempts: u32, id: u64) -> Duration {
    let base = Duration::from_secs(2).saturating_mul(1u32 << attempts.min(16));
    jitter(base.min(MAX_BACKOFF), id)
}

/// The wait after the `rejections`-th rejection of one alert sent alone: [`REJECT_BACKOFF`]
/// doubling to [`MAX_REJECT_BACKOFF`], jittered like [`backoff`]. An alert to an address that
/// does not exist is tried about six times before it expires, not every half hour.
pub fn reject_backoff(rejections: u32, id: u64) -> Duration {
    let doublings = rejections.saturating_sub(1).min(16);
    let base = REJECT_BACKOFF.saturating_mul(1u32 << doublings);
    jitter(base.min(MAX_REJECT_BACKOFF), id)
}

/// ±20 % of `wait`, derived from `id`.
fn jitter(wait: Duration, id: u64) -> Duration {
    let spread = (id.wrapping_mul(0x9e3779b97f4a7c15) >> 33) % 41; // 0..=40
    wait.mul_f64(0.8 + spread as f64 / 100.0)
}

/// Runs delivery until `shutdown` turns true. Also prunes old delivery records, at start and
/// every [`PRUNE_EVERY`].
pub fn spawn(
    store: HistoryStore,
    notifiers: Arc<RwLock<Notifiers>>,
    metrics: Arc<Metrics>,
    queued: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut pruned_at: Option<tokio::time::Instant> = None;
        loop {
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(tokio::time::Instant::now());
                prune_deliveries(&store).await;
            }
            let next = match round(&store, &notifiers, &metrics).await {
                Ok(next) => next,
                Err(e) => {
                    tracing::error!(error = %e, "alert delivery round failed");
                    Some(Utc::now() + chrono::Duration::seconds(5))
                }
            };
            let wait = next
                .map(|at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(60));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = queued.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    })
}

/// Forgets delivery records older than [`DELIVERED_KEPT`]; a failure is logged and retried at
/// the next pass.
async fn prune_deliveries(store: &HistoryStore) {
    let kept = chrono::Duration::from_std(DELIVERED_KEPT).expect("a week fits");
    let cutoff = Utc::now() - kept;
    match on_store(store, move |s| s.prune_deliveries(cutoff)).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, %cutoff, "pruned old delivery records"),
        Err(e) => tracing::warn!(error = %e, "cannot prune delivery records"),
    }
}

/// The id an alert's event carries on channels read by machines (the webhook): its outbox
/// record's number and creation time (`18c5a3f0e2b7d40-2a`, hex), both written once with the
/// record. So it is the same at every attempt and after a restart, and a receiver can drop the
/// duplicate a crash between a send and its record can cause; the time keeps it distinct
/// from the ids of a state directory that was wiped and started counting again.
pub fn event_id(entry: &OutboxEntry) -> String {
    format!("{:x}-{:x}", entry.created_at.timestamp_micros(), entry.id)
}

/// One send: the alerts going to one recipient as one message.
struct Outgoing {
    recipient: Recipient,
    batch: Vec<OutboxEntry>,
}

/// One pass over the outbox; returns when the next entry becomes due.
///
/// Per recipient, two kinds of send can go out: the queue (entries never rejected), in order,
/// as a digest of up to [`DIGEST_MAX`] once its head is due; and one due entry that was set
/// aside after a rejection, alone.
async fn round(
    store: &HistoryStore,
    notifiers: &RwLock<Notifiers>,
    metrics: &Arc<Metrics>,
) -> Result<Option<DateTime<Utc>>, RoundError> {
    let now = Utc::now();
    let entries = on_store(store, |s| s.outbox()).await?;
    metrics.set_outbox_depth(entries.len() as u64);
    let mut by_recipient: BTreeMap<Recipient, Vec<OutboxEntry>> = BTreeMap::new();
    for entry in entries {
        by_recipient
            .entry(entry.recipient.clone())
            .or_default()
            .push(entry);
    }
    let max_age = chrono::Duration::from_std(MAX_AGE).expect("a day fits");
    let mut next: Option<DateTime<Utc>> = None;
    let mut wake_at =
        |at: DateTime<Utc>| next = Some(next.map_or(at, |n: DateTime<Utc>| n.min(at)));
    let mut more_waiting = false;
    let mut expired_ids = Vec::new();
    let mut sends = Vec::new();
    for (recipient, mut pending) in by_recipient {
        let (expired, fresh): (Vec<_>, Vec<_>) = pending
            .drain(..)
            .partition(|e| now - e.created_at > max_age);
        if !expired.is_empty() {
            let channel = recipient.channel();
            tracing::error!(
                channel = channel.name(),
                alerts = expired.len(),
                last_error = expired
                    .last()
                    .and_then(|e| e.last_error.as_deref())
                    .unwrap_or(""),
                "giving up on alerts older than a day"
            );
            for _ in &expired {
                metrics.alert_failed(channel.name(), "expired");
            }
            expired_ids.extend(expired.iter().map(|e| e.id));
        }
        if notifiers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(recipient.channel())
            .is_none()
        {
            // The channel was removed from the config; the alerts wait until they expire.
            continue;
        }
        let (set_aside, queue): (Vec<_>, Vec<_>) = fresh.into_iter().partition(|e| e.set_aside);
        match queue.first() {
            Some(head) if head.next_attempt_at > now => wake_at(head.next_attempt_at),
            Some(_) => {
                // More than one round's worth waiting for this recipient: come back at once.
                let most = match recipient.channel().digests() {
                    true => DIGEST_MAX,
                    false => EVENTS_PER_ROUND,
                };
                more_waiting |= queue.len() > most;
                sends.push(Outgoing {
                    recipient: recipient.clone(),
                    batch: queue.into_iter().take(most).collect(),
                });
            }
            None => {}
        }
        let (due, later): (Vec<_>, Vec<_>) = set_aside
            .into_iter()
            .partition(|e| e.next_attempt_at <= now);
        for entry in &later {
            wake_at(entry.next_attempt_at);
        }
        // One at a time: a recipient whose every message is refused (an address that does
        // not exist) costs one attempt per round, not a burst.
        more_waiting |= due.len() > 1;
        if let Some(entry) = due.into_iter().next() {
            sends.push(Outgoing {
                recipient,
                batch: vec![entry],
            });
        }
    }
    if !expired_ids.is_empty() {
        on_store(store, move |s| s.discard(&expired_ids)).await?;
    }
    let mut running = tokio::task::JoinSet::new();
    for Outgoing { recipient, batch } in sends {
        let Some(notifier) = notifiers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(recipient.channel())
        else {
            continue;
        };
        let sender = Sender {
            store: store.clone(),
            metrics: Arc::clone(metrics),
            notifier,
            recipient,
        };
        running.spawn(async move {
            match sender.recipient.channel().digests() {
                true => sender.digest(batch).await,
                false => sender.events(batch).await,
            }
        });
    }
    while let Some(joined) = running.join_next().await {
        // A send that panicked (a notifier's bug) leaves its alerts in the outbox as they were.
        let Ok(settled) = joined else {
            continue;
        };
        if let Some(at) = settled? {
            wake_at(at);
        }
    }
    if more_waiting {
        next = Some(Utc::now());
    }
    let depth = on_store(store, |s| Ok(s.outbox_depth())).await?;
    metrics.set_outbox_depth(depth as u64);
    Ok(next)
}

/// One recipient's send in a round, with what recording its outcome needs.
struct Sender {
    store: HistoryStore,
    metrics: Arc<Metrics>,
    notifier: Arc<dyn Notifier>,
    recipient: Recipient,
}

impl Sender {
    /// Sends `batch` as one message and records what came of it. Returns when the batch is due
    /// again, if it stays in the outbox.
    async fn digest(&self, batch: Vec<OutboxEntry>) -> Result<Option<DateTime<Utc>>, RoundError> {
        let result = match &batch[..] {
            [alone] => {
                let id = event_id(alone);
                self.notifier
                    .deliver_event(&self.recipient, &id, &alone.alert)
                    .await
            }
            _ => {
                let alerts: Vec<_> = batch.iter().map(|e| e.alert.clone()).collect();
                self.notifier.deliver(&self.recipient, &alerts).await
            }
        };
        self.settle(batch, result).await
    }

    /// Sends `batch` one event after the other, in order, each recorded as soon as
    /// it is accepted (so a crash repeats at most the one in flight). A refused event is set aside
    /// and the next one follows (it holds up nothing); one that failed for now (receiver down, 5xx)
    /// stops the batch, so the events behind it wait for it and stay in order. Returns the earliest
    /// time one of them is due again (now, for the ones left untried).
    async fn events(&self, batch: Vec<OutboxEntry>) -> Result<Option<DateTime<Utc>>, RoundError> {
        let started = tokio::time::Instant::now();
        let mut next: Option<DateTime<Utc>> = None;
        for entry in batch {
            if started.elapsed() >= EVENTS_ROUND_TIME {
                return Ok(Some(Utc::now()));
            }
            let id = event_id(&entry);
            let result = self
                .notifier
                .deliver_event(&self.recipient, &id, &entry.alert)
                .await;
            let retry = matches!(result, Err(DeliveryError::Retry { .. }));
            if let Some(again) = self.settle(vec![entry], result).await? {
                next = Some(next.map_or(again, |n| n.min(again)));
            }
            if retry {
                break;
            }
        }
        Ok(next)
    }

    /// Records what one send came to: delivered, or rescheduled. Returns when the batch is due
    /// again, if it stays in the outbox.
    async fn settle(
        &self,
        mut batch: Vec<OutboxEntry>,
        result: Result<(), DeliveryError>,
    ) -> Result<Option<DateTime<Utc>>, RoundError> {
        let channel = self.recipient.channel();
        let ids: Vec<u64> = batch.iter().map(|e| e.id).collect();
        let error = match result {
            Ok(()) => {
                let delivered = ids.len();
                on_store(&self.store, move |s| s.mark_delivered(&ids, Utc::now())).await?;
                for _ in 0..delivered {
                    self.metrics.alert_sent(channel.name());
                }
                tracing::info!(
                    channel = channel.name(),
                    alerts = delivered,
                    "alerts delivered"
                );
                return Ok(None);
            }
            Err(error) => error,
        };
        self.metrics.alert_failed(channel.name(), error.reason());
        let attempts = batch[0].attempts + 1;
        let (wait, split) = match &error {
            DeliveryError::Retry { after, .. } => {
                let wait = backoff(attempts - 1, batch[0].id);
                (after.map_or(wait, |after| wait.max(after)), false)
            }
            // A digest refused as a whole: any one of its alerts may be the cause. Each is set
            // aside and tried alone at once, so the others go out now and only the refused one
            // waits, without holding up the alerts queued after it.
            DeliveryError::Reject { .. } if batch.len() > 1 => (Duration::ZERO, true),
            DeliveryError::Reject { .. } => (reject_backoff(attempts, batch[0].id), false),
        };
        tracing::warn!(
            channel = channel.name(),
            alerts = ids.len(),
            attempts,
            retry_in_s = wait.as_secs(),
            split,
            error = %error,
            "alert delivery failed"
        );
        let at = Utc::now() + chrono::Duration::from_std(wait).expect("short waits fit");
        let rejected = matches!(error, DeliveryError::Reject { .. });
        for entry in &mut batch {
            entry.attempts = attempts;
            entry.next_attempt_at = at;
            entry.last_error = Some(error.to_string());
            entry.set_aside |= rejected;
        }
        on_store(&self.store, move |s| s.reschedule(&batch)).await?;
        Ok(Some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_cap_with_bounded_jitter() {
        for id in [1u64, 7, 12345, u64::MAX] {
            let first = backoff(0, id);
            assert!(first >= Duration::from_millis(1600) && first <= Duration::from_millis(2400));
            let tenth = backoff(10, id);
            assert!(tenth <= MAX_BACKOFF.mul_f64(1.2) && tenth >= MAX_BACKOFF.mul_f64(0.8));
        }
        assert!(backoff(3, 1) > backoff(2, 1));
    }

    #[test]
    fn reject_backoff_starts_at_half_an_hour_and_caps_at_six() {
        for id in [1u64, 99, u64::MAX] {
            let first = reject_backoff(1, id);
            assert!(first >= REJECT_BACKOFF.mul_f64(0.8) && first <= REJECT_BACKOFF.mul_f64(1.2));
            let late = reject_backoff(30, id);
            assert!(late <= MAX_REJECT_BACKOFF.mul_f64(1.2));
            assert!(late >= MAX_REJECT_BACKOFF.mul_f64(0.8));
        }
    }

    use crate::alert::{Alert, AlertKind, Subject, Topic};
    use crate::domain::{Severity, Status};
    use crate::notifier::{Audience, Delivery};
    use std::sync::Mutex;

    /// An email channel that refuses any message mentioning "poison" (a relay's content
    /// filter answering 554) and records the rest.
    #[derive(Default)]
    struct ContentFilter {
        accepted: Mutex<Vec<String>>,
        attempts: Mutex<usize>,
    }

    impl Notifier for ContentFilter {
        fn channel(&self) -> Channel {
            Channel::Email
        }

        fn deliver<'a>(&'a self, _recipient: &'a Recipient, alerts: &'a [Alert]) -> Delivery<'a> {
            *self.attempts.lock().unwrap() += 1;
            let refused = alerts.iter().any(|a| a.message.contains("poison"));
            if !refused {
                let mut accepted = self.accepted.lock().unwrap();
                accepted.extend(alerts.iter().map(|a| a.message.clone()));
            }
            Box::pin(async move {
                match refused {
                    true => Err(DeliveryError::Reject {
                        reason: "smtp_permanent",
                        detail: "554 5.7.1 message content rejected".to_string(),
                    }),
                    false => Ok(()),
                }
            })
        }
    }

    fn alert(message: &str) -> (Recipient, Alert) {
        let at = Utc::now();
        let recipient = Recipient::Email {
            address: "ops@example.com".to_string(),
            audience: Audience::Operator,
        };
        let alert = Alert {
            kind: AlertKind::Opened,
            subject: Subject::Host,
            topic: Topic::Status(Status::ClockSkew),
            severity: Severity::Critical,
            started_at: at,
            raised_at: at,
            message: message.to_string(),
            remedy: None,
            previous: None,
            last_check: None,
        };
        (recipient, alert)
    }

    /// What a delivery round works on: a fresh store, the one channel under test, the metrics.
    struct Outbox {
        _dir: tempfile::TempDir,
        store: HistoryStore,
        notifiers: RwLock<Notifiers>,
        metrics: Arc<Metrics>,
    }

    impl Outbox {
        fn delivering_to(channel: Arc<dyn Notifier>) -> Outbox {
            let dir = tempfile::tempdir().unwrap();
            let store = HistoryStore::open(dir.path()).unwrap();
            let mut notifiers = Notifiers::default();
            notifiers.add(channel);
            Outbox {
                _dir: dir,
                store,
                notifiers: RwLock::new(notifiers),
                metrics: Arc::new(Metrics::new()),
            }
        }

        fn queue(&self, alerts: Vec<(Recipient, Alert)>) {
            self.store
                .commit_alerts(&[], None, alerts, Utc::now())
                .unwrap();
        }

        async fn round(&self) {
            round(&self.store, &self.notifiers, &self.metrics)
                .await
                .unwrap();
        }

        /// Runs rounds until none is due at once (at most 20).
        async fn settle(&self) {
            for _ in 0..20 {
                let next = round(&self.store, &self.notifiers, &self.metrics)
                    .await
                    .unwrap();
                if next.is_none_or(|at| at > Utc::now() + chrono::Duration::seconds(60)) {
                    return;
                }
            }
            panic!("delivery did not settle");
        }
    }

    #[tokio::test]
    async fn a_rejected_alert_is_set_aside_and_the_rest_of_its_digest_and_later_alerts_pass() {
        let filter = Arc::new(ContentFilter::default());
        let outbox = Outbox::delivering_to(filter.clone());
        outbox.queue(["first", "poison", "third"].map(alert).to_vec());

        outbox.settle().await;
        assert_eq!(*filter.accepted.lock().unwrap(), ["first", "third"]);
        let left = outbox.store.outbox().unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(left[0].alert.message, "poison");
        assert!(left[0].set_aside);
        assert!(left[0].next_attempt_at > Utc::now() + chrono::Duration::minutes(20));
        // The digest, then each alone: first, poison, third.
        assert_eq!(*filter.attempts.lock().unwrap(), 4);

        // An alert queued later goes out at once, past the one set aside.
        outbox.queue(vec![alert("fourth")]);
        outbox.settle().await;
        assert_eq!(
            *filter.accepted.lock().unwrap(),
            ["first", "third", "fourth"]
        );
        assert_eq!(outbox.store.outbox().unwrap().len(), 1);
    }

    /// A machine channel (webhook): records each event's id and message; refuses messages
    /// with "refuse" (a 400), and answers 503 while `down`.
    #[derive(Default)]
    struct Receiver {
        accepted: Mutex<Vec<(String, String)>>,
        attempts: Mutex<Vec<String>>,
        down: std::sync::atomic::AtomicBool,
    }

    impl Notifier for Receiver {
        fn channel(&self) -> Channel {
            Channel::Webhook
        }

        fn deliver<'a>(&'a self, _recipient: &'a Recipient, _alerts: &'a [Alert]) -> Delivery<'a> {
            panic!("a machine channel is never handed a digest");
        }

        fn deliver_event<'a>(
            &'a self,
            _recipient: &'a Recipient,
            event_id: &'a str,
            alert: &'a Alert,
        ) -> Delivery<'a> {
            self.attempts.lock().unwrap().push(event_id.to_string());
            let result = if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                Err(DeliveryError::Retry {
                    reason: "unavailable",
                    after: None,
                    detail: "503".to_string(),
                })
            } else if alert.message.contains("refuse") {
                Err(DeliveryError::Reject {
                    reason: "rejected",
                    detail: "400".to_string(),
                })
            } else {
                let mut accepted = self.accepted.lock().unwrap();
                accepted.push((event_id.to_string(), alert.message.clone()));
                Ok(())
            };
            Box::pin(async move { result })
        }
    }

    fn event(message: &str) -> (Recipient, Alert) {
        let (_, alert) = alert(message);
        let recipient = Recipient::Webhook {
            target: "hooks.example.com#0011223344556677".to_string(),
        };
        (recipient, alert)
    }

    #[tokio::test]
    async fn events_go_one_by_one_in_order_with_ids_that_survive_retries() {
        let receiver = Arc::new(Receiver::default());
        let outbox = Outbox::delivering_to(receiver.clone());
        outbox.queue(["one", "refuse two", "three", "four"].map(event).to_vec());
        let store = &outbox.store;
        let ids: Vec<String> = store.outbox().unwrap().iter().map(event_id).collect();

        // Down: the head is tried once and everything behind it waits.
        receiver
            .down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        outbox.round().await;
        assert_eq!(*receiver.attempts.lock().unwrap(), [ids[0].clone()]);

        // Back: the head is due again after its backoff; make it due now, as time would.
        receiver
            .down
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let mut waiting = store.outbox().unwrap();
        for entry in &mut waiting {
            entry.next_attempt_at = Utc::now();
        }
        store.reschedule(&waiting).unwrap();
        outbox.settle().await;
        let accepted = receiver.accepted.lock().unwrap().clone();
        assert_eq!(
            accepted,
            [
                (ids[0].clone(), "one".to_string()),
                (ids[2].clone(), "three".to_string()),
                (ids[3].clone(), "four".to_string()),
            ],
            "in order, each once, the refused one set aside"
        );
        // The head's retry carried the id of its first attempt.
        assert_eq!(
            receiver.attempts.lock().unwrap()[..2],
            [ids[0].clone(), ids[0].clone()]
        );
        let left = store.outbox().unwrap();
        assert_eq!(left.len(), 1);
        assert!(left[0].set_aside && left[0].alert.message == "refuse two");
        assert_eq!(event_id(&left[0]), ids[1]);
    }
}
