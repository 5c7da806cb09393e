//! The alert side of the store: the policy's memory and the durable outbox.
//!
//! An alert is written to the outbox, in the same transaction as the policy state that raised
//! it, before anything is sent; it leaves the outbox only in the transaction that records its
//! delivery. A crash between a send and that record gives at most one duplicate, never a loss.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;
use sled::Transactional;

use super::{abort, decode, encode, Abort, HistoryStore, StoreError};
use crate::alert::policy::{ConnectionAlerts, SharedIncidents};
use crate::alert::Alert;
use crate::notifier::Recipient;

const SHARED_KEY: &[u8] = b"shared";
const CONNECTION_PREFIX: &[u8] = b"c/";

/// One alert addressed to one recipient, waiting for its channel to accept it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub id: u64,
    pub recipient: Recipient,
    pub alert: Alert,
    pub created_at: DateTime<Utc>,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, for the log and `keywarden` operators; never a secret.
    pub last_error: Option<String>,
    /// The channel refused this alert (or a digest holding it): it is tried alone, on its own
    /// backoff, and does not hold up the recipient's other alerts.
    #[serde(default)]
    pub set_aside: bool,
}

fn connection_key(name: &str) -> Vec<u8> {
    [CONNECTION_PREFIX, name.as_bytes()].concat()
}

impl HistoryStore {
    /// The alert policy's memory: every connection's state and the shared incidents.
    pub fn alert_states(
        &self,
    ) -> Result<(BTreeMap<String, ConnectionAlerts>, SharedIncidents), StoreError> {
        let mut connections = BTreeMap::new();
        for item in self.alerts.scan_prefix(CONNECTION_PREFIX) {
            let (key, value) = item.map_err(|e| self.db_error("read alert states", e))?;
            let name = String::from_utf8_lossy(&key[CONNECTION_PREFIX.len()..]).into_owned();
            let state = decode(&value, || format!("the alert state of {name}"))
                .map_err(|(what, e)| self.corrupt(what, e))?;
            connections.insert(name, state);
        }
        let shared = match self
            .alerts
            .get(SHARED_KEY)
            .map_err(|e| self.db_error("read shared incidents", e))?
        {
            Some(raw) => decode(&raw, || "the shared incidents".to_string())
                .map_err(|(what, e)| self.corrupt(what, e))?,
            None => SharedIncidents::default(),
        };
        Ok((connections, shared))
    }

    /// Saves what the policy changed and queues the alerts it raised, in one transaction,
    /// flushed before returning when it queued anything. `None` for a connection removes its state.
    pub fn commit_alerts(
        &self,
        connections: &[(String, Option<ConnectionAlerts>)],
        shared: Option<&SharedIncidents>,
        queued: Vec<(Recipient, Alert)>,
        now: DateTime<Utc>,
    ) -> Result<Vec<u64>, StoreError> {
        let mut entries = Vec::with_capacity(queued.len());
        for (recipient, alert) in queued {
            let id = self
                .db
                .generate_id()
                .map_err(|e| self.db_error("number an alert", e))?;
            entries.push(OutboxEntry {
                id,
                recipient,
                alert,
                created_at: now,
                attempts: 0,
                next_attempt_at: now,
                last_error: None,
                set_aside: false,
            });
        }
        (&self.alerts, &self.outbox)
            .transaction(|(alerts, outbox)| {
                for (name, state) in connections {
                    match state {
                        Some(state) => {
                            alerts.insert(connection_key(name), encode(state).map_err(abort)?)?;
                        }
                        None => {
                            alerts.remove(connection_key(name))?;
                        }
                    }
                }
                if let Some(shared) = shared {
                    alerts.insert(SHARED_KEY, encode(shared).map_err(abort)?)?;
                }
                for entry in &entries {
                    outbox.insert(&entry.id.to_be_bytes(), encode(entry).map_err(abort)?)?;
                }
                Ok::<_, ConflictableTransactionError<Abort>>(())
            })
            .map_err(|e| self.transaction_error("queue alerts", e))?;
        // An alert must be on disk before any channel sees it; policy state alone may lag by
        // sled's background flush (a crash then repeats at most one alert).
        if !entries.is_empty() {
            self.flush()?;
        }
        Ok(entries.iter().map(|e| e.id).collect())
    }

    /// Every queued alert, in delivery order.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox
            .iter()
            .map(|item| {
                let (_, value) = item.map_err(|e| self.db_error("read the outbox", e))?;
                decode(&value, || "an outbox entry".to_string())
                    .map_err(|(what, e)| self.corrupt(what, e))
            })
            .collect()
    }

    /// How many alerts wait for delivery (the `alert_outbox_depth` metric).
    pub fn outbox_depth(&self) -> usize {
        self.outbox.len()
    }

    /// Records that `ids` were accepted by their channel and removes them from the outbox, in one
    /// step, flushed: once this returns they are never sent again.
    pub fn mark_delivered(&self, ids: &[u64], at: DateTime<Utc>) -> Result<(), StoreError> {
        let stamp = at.timestamp_micros().to_be_bytes();
        (&self.outbox, &self.delivered)
            .transaction(|(outbox, delivered)| {
                for id in ids {
                    delivered.insert(&id.to_be_bytes(), &stamp)?;
                    outbox.remove(&id.to_be_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<Abort>>(())
            })
            .map_err(|e| self.transaction_error("record a delivery", e))?;
        self.flush()
    }

    /// Whether `id` was delivered (and so must never be sent again).
    pub fn was_delivered(&self, id: u64) -> Result<bool, StoreError> {
        self.delivered
            .contains_key(id.to_be_bytes())
            .map_err(|e| self.db_error("read deliveries", e))
    }

    /// Writes back entries after a failed attempt (attempts, next try, last error).
    pub fn reschedule(&self, entries: &[OutboxEntry]) -> Result<(), StoreError> {
        for entry in entries {
            let value = encode(entry).map_err(|(what, e)| self.corrupt(what, e))?;
            self.outbox
                .insert(entry.id.to_be_bytes(), value)
                .map_err(|e| self.db_error("reschedule an alert", e))?;
        }
        self.flush()
    }

    /// Gives up on `ids` (too old to be worth sending); the caller logs and counts them.
    pub fn discard(&self, ids: &[u64]) -> Result<(), StoreError> {
        for id in ids {
            self.outbox
                .remove(id.to_be_bytes())
                .map_err(|e| self.db_error("discard an alert", e))?;
        }
        self.flush()
    }

    /// Forgets delivery records older than `cutoff` (they only guard against re-sends right
    /// after a crash).
    pub fn prune_deliveries(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        let cutoff = cutoff.timestamp_micros().to_be_bytes();
        let mut removed = 0;
        for item in self.delivered.iter() {
            let (key, stamp) = item.map_err(|e| self.db_error("read deliveries", e))?;
            if stamp.as_ref() < cutoff.as_slice() {
                self.delivered
                    .remove(key)
                    .map_err(|e| self.db_error("prune deliveries", e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
