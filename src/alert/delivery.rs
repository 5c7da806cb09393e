//! Delivery: drains the outbox to the channels, in order per recipient, as digests.
//!
//! Retry only what can succeed (design "Alert semantics"): a `Retry` failure backs off
//! exponentially with jitter, or waits what the channel asked (Telegram's `retry_after`); a
//! `Reject` (bad chat, bad address, SMTP 5xx) is counted with its reason and tried again rarely,
//! until the alert is too old to matter. Nothing leaves the outbox undelivered except by age.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

use crate::metrics::Metrics;
use crate::notifier::{Channel, DeliveryError, Notifier, Recipient};
use crate::store::{HistoryStore, OutboxEntry};

/// At most this many alerts go out as one digest per recipient per round.
pub const DIGEST_MAX: usize = 25;
/// An alert older than this is dropped (logged and counted as `expired`) instead of sent.
pub const MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two tries of a failing recipient.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The shortest wait after a rejection (retrying a rejected message soon cannot help).
pub const REJECT_BACKOFF: Duration = Duration::from_secs(1800);

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
}

/// The wait before try number `attempts + 1`: 2 s doubling to [`MAX_BACKOFF`], with ±20 %
/// jitter derived from the entry id so recipients do not retry in lockstep.
pub fn backoff(attempts: u32, id: u64) -> Duration {
    let base = Duration::from_secs(2).saturating_mul(1u32 << attempts.min(16));
    let capped = base.min(MAX_BACKOFF);
    let spread = (id.wrapping_mul(0x9e3779b97f4a7c15) >> 33) % 41; // 0..=40
    capped.mul_f64(0.8 + spread as f64 / 100.0)
}

/// Runs delivery until `shutdown` turns true.
pub fn spawn(
    store: HistoryStore,
    notifiers: Arc<RwLock<Notifiers>>,
    metrics: Arc<Metrics>,
    queued: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
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

/// One pass over the outbox; returns when the next entry becomes due.
async fn round(
    store: &HistoryStore,
    notifiers: &RwLock<Notifiers>,
    metrics: &Metrics,
) -> Result<Option<DateTime<Utc>>, crate::store::StoreError> {
    let now = Utc::now();
    let entries = store.outbox()?;
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
    let mut more_waiting = false;
    let mut sends = tokio::task::JoinSet::new();
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
            store.discard(&expired.iter().map(|e| e.id).collect::<Vec<_>>())?;
        }
        let Some(head) = fresh.first() else { continue };
        if head.next_attempt_at > now {
            next = Some(next.map_or(head.next_attempt_at, |n| n.min(head.next_attempt_at)));
            continue;
        }
        let Some(notifier) = notifiers
            .read()
            .expect("notifiers lock")
            .get(recipient.channel())
        else {
            // The channel was removed from the config; the alerts wait until they expire.
            continue;
        };
        // More than one digest's worth waiting for this recipient: come back at once.
        more_waiting |= fresh.len() > DIGEST_MAX;
        let batch: Vec<OutboxEntry> = fresh.into_iter().take(DIGEST_MAX).collect();
        sends.spawn(async move {
            let alerts: Vec<_> = batch.iter().map(|e| e.alert.clone()).collect();
            let result = notifier.deliver(&recipient, &alerts).await;
            (recipient, batch, result)
        });
    }
    while let Some(joined) = sends.join_next().await {
        let Ok((recipient, mut batch, result)) = joined else {
            continue;
        };
        let channel = recipient.channel();
        let ids: Vec<u64> = batch.iter().map(|e| e.id).collect();
        match result {
            Ok(()) => {
                store.mark_delivered(&ids, Utc::now())?;
                for _ in &ids {
                    metrics.alert_sent(channel.name());
                }
                tracing::info!(
                    channel = channel.name(),
                    alerts = ids.len(),
                    "alerts delivered"
                );
            }
            Err(error) => {
                metrics.alert_failed(channel.name(), error.reason());
                let attempts = batch[0].attempts + 1;
                let mut wait = backoff(attempts - 1, batch[0].id);
                match &error {
                    DeliveryError::Retry {
                        after: Some(after), ..
                    } => wait = wait.max(*after),
                    DeliveryError::Reject { .. } => wait = wait.max(REJECT_BACKOFF),
                    DeliveryError::Retry { after: None, .. } => {}
                }
                tracing::warn!(
                    channel = channel.name(),
                    alerts = ids.len(),
                    attempts,
                    retry_in_s = wait.as_secs(),
                    error = %error,
                    "alert delivery failed"
                );
                let at = Utc::now() + chrono::Duration::from_std(wait).expect("short waits fit");
                for entry in &mut batch {
                    entry.attempts = attempts;
                    entry.next_attempt_at = at;
                    entry.last_error = Some(error.to_string());
                }
                store.reschedule(&batch)?;
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        }
    }
    if more_waiting {
        next = Some(Utc::now());
    }
    metrics.set_outbox_depth(store.outbox_depth() as u64);
    Ok(next)
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
}
