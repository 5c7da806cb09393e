//! The running connection set: the file's connections and the ones the API stored, merged
//! into one [`Config`] that every job reads (schedules, dispatch, alerts, metrics, the bot).
//! So an API connection behaves exactly like a file one everywhere else.
//!
//! A change of either side (a reload, a `PUT` or `DELETE`) goes through [`Daemon::apply`],
//! one at a time (`Daemon::changing`): the merged config is rebuilt and swapped, metrics of
//! connections that left are removed, the alert routes and the cron jobs follow.
//!
//! A name in both the file and the store: the file's wins (the API cannot change or shadow the
//! operator's connections), and start-up and reloads say so.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use secrecy::zeroize::Zeroizing;

use super::{schedule_periods, Daemon};
use crate::config::{Config, Connection, RawConnection};
use crate::domain::Verdict;
use crate::store::{ApiConnections, HistoryStore};

/// The connections the API stored: their encrypted records and, decrypted and validated, the
/// connections themselves.
pub(crate) struct ApiSide {
    store: ApiConnections,
    connections: Mutex<BTreeMap<String, Connection>>,
}

impl ApiSide {
    /// Opens the API's stored connections with `config`'s `api.store_key` (see
    /// [`crate::api::stored::load`]).
    pub(super) fn open(config: &Config, store: &HistoryStore) -> Result<Option<ApiSide>, String> {
        Ok(
            crate::api::stored::load(config, store)?.map(|(store, connections)| ApiSide {
                store,
                connections: Mutex::new(
                    connections
                        .into_iter()
                        .map(|c| (c.name.clone(), c))
                        .collect(),
                ),
            }),
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Connection>> {
        self.connections.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the API stored a connection by this name.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }
}

/// The file's connections and the API's, in name order; the file's win a name in both.
pub(super) fn merge(file: &Config, api: Option<&ApiSide>) -> Config {
    let mut merged = file.clone();
    let Some(api) = api else {
        return merged;
    };
    let api = api.lock();
    let mut shadowed = Vec::new();
    for (name, connection) in api.iter() {
        if file.connection(name).is_some() {
            shadowed.push(name.as_str());
        } else {
            merged.connections.push(connection.clone());
        }
    }
    if !shadowed.is_empty() {
        tracing::warn!(
            connections = %shadowed.join(", "),
            "the config file names connections the API also stored; the file's are run"
        );
    }
    merged.connections.sort_by(|a, b| a.name.cmp(&b.name));
    merged
}

/// Why the API could not change a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    #[error("connection {0:?} belongs to the config file; the API can read it but not change it")]
    FromFile(String),
    #[error("no connection named {0:?}")]
    NotFound(String),
    #[error("the API is not configured")]
    NoApi,
    #[error("{0}")]
    Store(String),
}

/// What a `PUT` did.
pub(crate) struct Put {
    /// No API connection of that name existed before.
    pub created: bool,
    /// The first check's verdict, recorded like any other.
    pub verdict: Verdict,
}

impl Daemon {
    /// Whether `name` is one of the config file's connections.
    pub(crate) fn is_file_connection(&self, name: &str) -> bool {
        self.file
            .read()
            .expect("file config lock")
            .connection(name)
            .is_some()
    }

    /// Creates or replaces the API connection `name` (already validated as `connection` from
    /// `raw`): stored and flushed, then run, then checked once at once and recorded.
    pub(crate) async fn put_api_connection(
        self: &Arc<Self>,
        raw: RawConnection,
        connection: Connection,
    ) -> Result<Put, ChangeError> {
        let name = connection.name.clone();
        let created = {
            let _changing = self.changing.lock().await;
            let api = self.api.as_ref().ok_or(ChangeError::NoApi)?;
            if self.is_file_connection(&name) {
                return Err(ChangeError::FromFile(name));
            }
            let plaintext = Zeroizing::new(
                serde_json::to_vec(&raw).expect("a raw connection always serializes"),
            );
            let (store, key) = (api.store.clone(), name.clone());
            tokio::task::spawn_blocking(move || store.put(&key, &plaintext))
                .await
                .map_err(|e| ChangeError::Store(e.to_string()))?
                .map_err(|e| ChangeError::Store(e.to_string()))?;
            let created = api.lock().insert(name.clone(), connection).is_none();
            self.apply(merge(&self.file_config(), Some(api))).await;
            created
        };
        tracing::info!(connection = %name, created, "API connection stored");
        let verdict = self
            .check_now(&name)
            .await
            .ok_or_else(|| ChangeError::NotFound(name.clone()))?;
        Ok(Put { created, verdict })
    }

    /// Removes the API connection `name`: no more checks, its metrics go; its history stays
    /// until retention prunes it.
    pub(crate) async fn delete_api_connection(
        self: &Arc<Self>,
        name: &str,
    ) -> Result<(), ChangeError> {
        let _changing = self.changing.lock().await;
        let api = self.api.as_ref().ok_or(ChangeError::NoApi)?;
        if self.is_file_connection(name) {
            return Err(ChangeError::FromFile(name.to_string()));
        }
        if !api.contains(name) {
            return Err(ChangeError::NotFound(name.to_string()));
        }
        let (store, key) = (api.store.clone(), name.to_string());
        tokio::task::spawn_blocking(move || store.remove(&key))
            .await
            .map_err(|e| ChangeError::Store(e.to_string()))?
            .map_err(|e| ChangeError::Store(e.to_string()))?;
        api.lock().remove(name);
        self.apply(merge(&self.file_config(), Some(api))).await;
        tracing::info!(connection = %name, "API connection removed");
        Ok(())
    }

    /// Checks `name` now and records it, after any check of it already in progress (see
    /// `bot::Commands::check_now`). `None` when no connection has that name.
    pub(crate) async fn check_now(&self, name: &str) -> Option<Verdict> {
        let _busy = self.busy.claim_waiting(name).await;
        self.check_and_record(name).await.map(|c| c.verdict)
    }

    /// The config file as last loaded, without the API's connections.
    pub(super) fn file_config(&self) -> Arc<Config> {
        self.file.read().expect("file config lock").clone()
    }

    /// Makes `new` the running set: metrics of connections that left it (or changed exchange)
    /// are removed, alert routes, schedule metrics and cron jobs follow. The caller holds
    /// `changing`.
    pub(super) async fn apply(self: &Arc<Self>, new: Config) {
        let old = self.config();
        for gone in old.connections.iter().filter(|c| {
            new.connection(&c.name)
                .is_none_or(|now| now.exchange != c.exchange)
        }) {
            self.metrics.forget(&gone.name, gone.exchange);
        }
        if let Err(e) = self.alerts.reconfigure(&new) {
            tracing::error!(error = %e, "cannot apply the new alert settings");
        }
        self.metrics.set_schedules(&schedule_periods(&new));
        self.metrics
            .set_exchanges(new.connections.iter().map(|c| c.exchange));
        let new = Arc::new(new);
        *self.config.write().expect("config lock") = Arc::clone(&new);
        if let Some(jobs) = self.jobs.get() {
            jobs.replace(self, &new).await;
        }
    }
}

/// What the API reads of the running daemon.
impl Daemon {
    /// The running set (file and API connections).
    pub(crate) fn running(&self) -> Arc<Config> {
        self.config()
    }

    /// The bearer tokens the API accepts now: the running file's `api.tokens` (a reload
    /// rotates them); none when a reload removed `[api]`, so every call is refused.
    pub(crate) fn api_tokens(&self) -> Vec<crate::secret::SecretString> {
        self.file_config()
            .api
            .as_ref()
            .map(|api| api.tokens.clone())
            .unwrap_or_default()
    }

    /// Checks `connection` once and records nothing: the API's "test this key".
    pub(crate) async fn test_connection(&self, connection: &Connection) -> Verdict {
        self.checker().check(connection).await
    }

    /// The last verdict recorded for `name`.
    pub(crate) fn last_verdict(&self, name: &str) -> Option<Verdict> {
        self.store.last_verdict(name).ok().flatten()
    }

    /// The newest span of `name` (its current verdict, since when, last checked).
    pub(crate) fn latest_span(&self, name: &str) -> Option<crate::store::Span> {
        self.store.spans(name, 1).ok()?.into_iter().next()
    }

    /// `name`'s spans, newest first, written and flushed before they are read (what an
    /// answer shows must survive a `kill -9` right after it).
    pub(crate) async fn history(
        &self,
        name: &str,
        limit: usize,
    ) -> Result<Vec<crate::store::Span>, String> {
        let (store, name) = (self.store.clone(), name.to_string());
        tokio::task::spawn_blocking(move || {
            store.checkpoint(Some(&name))?;
            store.spans(&name, limit)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
    }
}
