//! The running connection set: the file's connections and the ones the API stored, merged
//! into one [`Config`] that every job reads (schedules, dispatch, alerts, metrics, the bot).
//! So an API connection behaves exactly like a file one everywhere else.
//!
//! A change of either side (a reload, a `PUT` or `DELETE`) goes through [`Daemon::apply`],
//! one at a time (`Daemon::changing`): the merged config is rebuilt and swapped, metrics of
//! connections that left are removed, the alert routes and the cron jobs follow. `PUT`s and
//! `DELETE`s that arrive together share one flush and one rebuild (`ApiSide::pending`).
//!
//! A name in both the file and the store: the file's wins (the API cannot change or shadow the
//! operator's connections), and start-up and reloads say so.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use secrecy::zeroize::Zeroizing;

use super::{schedule_periods, Daemon};
use crate::config::{Config, Connection, RawConnection};
use crate::domain::Verdict;
use crate::store::{ApiConnections, HistoryStore};

/// The connections the API stored: their encrypted records, and the names of those that run.
/// The connections themselves live once, in the running set (at 10,000 a second copy would be
/// megabytes for nothing).
pub(crate) struct ApiSide {
    store: ApiConnections,
    names: Mutex<BTreeSet<String>>,
    /// Changes written to the store and not yet applied to the running set, in the order they
    /// were written. Whoever takes `Daemon::changing` next applies all of them in one rebuild
    /// (a group commit): at 10,000 connections a rebuild per `PUT` was most of its cost.
    pending: Mutex<Vec<Pending>>,
}

/// A change to the running set that the store already has.
enum Pending {
    Put(Connection),
    Remove(String),
}

impl ApiSide {
    /// Opens the API's stored connections with `config`'s `api.store_key` (see
    /// [`crate::api::stored::load`]); the side and the connections to run.
    pub(super) fn open(
        config: &Config,
        store: &HistoryStore,
    ) -> Result<Option<(ApiSide, Vec<Connection>)>, String> {
        Ok(
            crate::api::stored::load(config, store)?.map(|(store, connections)| {
                let names = connections.iter().map(|c| c.name.clone()).collect();
                let side = ApiSide {
                    store,
                    names: Mutex::new(names),
                    pending: Mutex::new(Vec::new()),
                };
                (side, connections)
            }),
        )
    }

    fn names(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The file's connections and `api`'s, in name order; the file's win a name in both.
pub(super) fn merge(file: Config, api: Vec<Connection>) -> Config {
    let mut merged = file;
    let mut shadowed = Vec::new();
    for connection in api {
        if merged.connection(&connection.name).is_some() {
            shadowed.push(connection.name);
        } else {
            merged.connections.push(connection);
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

/// The names of `config`'s connections: those of the file, told apart from the API's.
pub(super) fn names(config: &Config) -> BTreeSet<String> {
    config.connections.iter().map(|c| c.name.clone()).collect()
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
        self.file_names
            .read()
            .expect("file names lock")
            .contains(name)
    }

    /// A reload's new file config with the API's running connections: the set to run.
    pub(super) fn with_api_connections(&self, file: Config) -> Config {
        let Some(api) = &self.api else {
            return file;
        };
        let names = api.names().clone();
        let running = self.config();
        let mut api_connections: Vec<Connection> = running
            .connections
            .iter()
            .filter(|c| names.contains(&c.name) && !self.is_file_connection(&c.name))
            .cloned()
            .collect();
        // A name the file had taken over runs the API's own connection again once the file
        // lets it go: read back from the store.
        for name in names.iter().filter(|n| self.is_file_connection(n)) {
            match api
                .store
                .get(name)
                .map_err(|e| e.to_string())
                .and_then(|plaintext| {
                    plaintext
                        .map(|p| crate::api::stored::decode(name, &p))
                        .transpose()
                }) {
                Ok(Some(connection)) => api_connections.push(connection),
                Ok(None) => {}
                Err(why) => {
                    tracing::error!(connection = %name, "stored API connection not run: {why}")
                }
            }
        }
        merge(file, api_connections)
    }

    /// Creates or replaces the API connection `name` (already validated as `connection` from
    /// `raw`): stored and flushed, then run, then checked once at once and recorded.
    pub(crate) async fn put_api_connection(
        self: &Arc<Self>,
        raw: RawConnection,
        connection: Connection,
    ) -> Result<Put, ChangeError> {
        let name = connection.name.clone();
        let api = self.api.as_ref().ok_or(ChangeError::NoApi)?;
        if self.is_file_connection(&name) {
            return Err(ChangeError::FromFile(name));
        }
        let plaintext =
            Zeroizing::new(serde_json::to_vec(&raw).expect("a raw connection always serializes"));
        let created = {
            // Store order is pending order: two PUTs of one name end as the store has them.
            let mut pending = api.pending();
            api.store
                .insert(&name, &plaintext)
                .map_err(|e| ChangeError::Store(e.to_string()))?;
            pending.push(Pending::Put(connection));
            api.names().insert(name.clone())
        };
        self.flush_and_apply(api).await?;
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
        let api = self.api.as_ref().ok_or(ChangeError::NoApi)?;
        if self.is_file_connection(name) {
            return Err(ChangeError::FromFile(name.to_string()));
        }
        {
            let mut pending = api.pending();
            if !api.names().remove(name) {
                return Err(ChangeError::NotFound(name.to_string()));
            }
            api.store
                .delete(name)
                .map_err(|e| ChangeError::Store(e.to_string()))?;
            pending.push(Pending::Remove(name.to_string()));
        }
        self.flush_and_apply(api).await?;
        tracing::info!(connection = %name, "API connection removed");
        Ok(())
    }

    /// Makes the store's writes durable (one fsync for every change waiting), then applies the
    /// pending changes to the running set, unless an earlier caller already did.
    async fn flush_and_apply(self: &Arc<Self>, api: &ApiSide) -> Result<(), ChangeError> {
        let store = api.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| ChangeError::Store(e.to_string()))?
            .map_err(|e| ChangeError::Store(e.to_string()))?;
        let _changing = self.changing.lock().await;
        let changes = std::mem::take(&mut *api.pending());
        if changes.is_empty() {
            return Ok(());
        }
        let mut running = Config::clone(&self.config());
        for change in changes {
            let name = match &change {
                Pending::Put(c) => c.name.as_str(),
                Pending::Remove(name) => name.as_str(),
            };
            let at = running
                .connections
                .binary_search_by(|c| c.name.as_str().cmp(name));
            match (change, at) {
                (Pending::Put(c), Ok(at)) => running.connections[at] = c,
                (Pending::Put(c), Err(at)) => running.connections.insert(at, c),
                (Pending::Remove(_), Ok(at)) => {
                    running.connections.remove(at);
                }
                (Pending::Remove(_), Err(_)) => {}
            }
        }
        self.apply(running).await;
        Ok(())
    }

    /// Checks `name` now and records it, after any check of it already in progress (see
    /// `bot::Commands::check_now`). `None` when no connection has that name.
    pub(crate) async fn check_now(&self, name: &str) -> Option<Verdict> {
        let _busy = self.busy.claim_waiting(name).await;
        self.check_and_record(name).await.map(|c| c.verdict)
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
        self.config()
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
