//! The history store: a sled database in `daemon.state_dir` that remembers what every check
//! found, so `keywarden history` can show it, a restarted daemon can compare against what it saw
//! before, and alerting can count streaks.
//!
//! Trees:
//! - `history`: status spans (see [`Span`]); key = length-prefixed connection name ‖ big-endian
//!   timestamp, so a prefix scan is one connection's history in time order.
//! - `state`: connection name → [`ConnectionState`] (last verdict and streak counters).
//! - `alerts`: the alert policy's memory (see `crate::alert::engine`).
//! - `outbox` and `delivered` (`outbox.rs`): alerts not yet delivered, and the ids of those that
//!   were, removed from the outbox in the same step.
//! - `api_connections` (`api_connections.rs`): the connections users added over the API,
//!   encrypted with `api.store_key`.
//!
//! Values are JSON (serde_json): the volume is small (one record per change, not per check), and
//! JSON keeps the database debuggable with nothing but a sled dump and `jq`, and lets fields be
//! added with `#[serde(default)]`.
//!
//! Durability: a change of verdict is written when it is recorded (span and state in one
//! transaction), a repeat of the same verdict only at a checkpoint (`open_spans`); nothing is
//! fsynced per check. What anyone is shown is flushed first: `GET /history` checkpoints before
//! it reads, alerts are flushed before they are sent, shutdown checkpoints. A `kill -9` can lose
//! the `last_seen` and counts of open spans since the last checkpoint, never a change that was
//! flushed; sled flushes in the background every 500 ms.

mod api_connections;
mod error;
mod open_spans;
mod outbox;
mod private;
mod record;
mod retention;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use crate::domain::Verdict;

pub use api_connections::{ApiConnections, StoreKey};
pub use error::StoreError;
pub use outbox::OutboxEntry;
pub use record::{same_span, ConnectionState, Recorded, Span};
pub use retention::spawn_retention;

use open_spans::{OpenSpan, OpenSpans};
use record::{key_prefix, span_key};

/// How many spans `keywarden history` shows unless told otherwise.
pub const DEFAULT_HISTORY_LIMIT: usize = 20;

/// sled's page cache bound. sled defaults to 1 GiB, far more than a store of a few thousand
/// small records needs, and the trading host's memory belongs to the trading engine. Small,
/// because the daemon rarely reads: the open spans live in memory (`open_spans`), and sled is
/// read at a connection's first check after start, for `GET /history` and at checkpoints.
const CACHE_CAPACITY: u64 = 4 * 1024 * 1024;

/// A handle to the history store. Cheap to clone (sled's `Db` and `Tree` are reference-counted
/// inside), so every check task can hold one; the database closes when the last clone drops.
#[derive(Clone)]
pub struct HistoryStore {
    db: sled::Db,
    history: sled::Tree,
    state: sled::Tree,
    /// The alert policy's memory: `c/<connection>` and `shared` (see [`crate::alert::policy`]).
    alerts: sled::Tree,
    /// Alerts not yet accepted by their channel, keyed by big-endian id (delivery order).
    outbox: sled::Tree,
    /// Ids of delivered alerts, written in the same step that removes them from the outbox.
    delivered: sled::Tree,
    /// Open spans and states in memory, with the repeats not yet written; shared by every
    /// clone, and checkpointed when the last one drops.
    open: Arc<OpenSpans>,
    path: PathBuf,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Why a transaction closure gave up: a stored value that does not parse (or, in theory, one
/// that does not serialise). The string says which value.
type Abort = (String, serde_json::Error);

impl HistoryStore {
    /// Opens the store in `dir`, creating the directory and the database if needed. The cache
    /// is bounded explicitly (16 MiB, not sled's 1 GiB default). A database held by another process gives
    /// [`StoreError::Locked`], which says so, instead of a bare I/O error.
    ///
    /// Only its owner may read it: a new directory is created 0700, and the directory and
    /// sled's files lose the group's and others' permissions (see [`private`]).
    pub fn open(dir: &Path) -> Result<HistoryStore, StoreError> {
        let path = dir.to_path_buf();
        private::create_dir(dir)
            .map_err(|e| StoreError::from_open(path.clone(), sled::Error::Io(e)))?;
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_CAPACITY)
            .open()
            .map_err(|e| StoreError::from_open(path.clone(), e))?;
        private::restrict(dir);
        let open_tree = |name: &str| {
            db.open_tree(name).map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })
        };
        let history = open_tree("history")?;
        let state = open_tree("state")?;
        Ok(HistoryStore {
            open: Arc::new(OpenSpans::new(
                db.clone(),
                history.clone(),
                state.clone(),
                path.clone(),
            )),
            db: db.clone(),
            history,
            state,
            alerts: open_tree("alerts")?,
            outbox: open_tree("outbox")?,
            delivered: open_tree("delivered")?,
            path,
        })
    }

    /// Whether a store was ever created in `dir` (sled writes its `conf` file first).
    pub fn exists(dir: &Path) -> bool {
        dir.join("conf").is_file()
    }

    /// The directory the store lives in, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records one verdict: extends the connection's open span when the verdict is unchanged,
    /// otherwise closes it and starts a new one; updates the `state` tree. Returns whether a new
    /// span started, the previous verdict and the streak counters, so the caller can decide
    /// about alerts without reading again.
    ///
    /// A repeat of the open span's verdict is folded in memory and written at the next
    /// checkpoint (see [`open_spans`](self::open_spans)); a change is written at once, span and
    /// state in one sled transaction (atomic on crash). Neither is flushed here: one fsync per
    /// check would dominate a daemon with thousands of keys. What anyone has been shown is
    /// flushed first (`GET /history` checkpoints before it reads, alerts are flushed before
    /// they are sent), sled flushes in the background every 500 ms, and shutdown checkpoints.
    pub fn record(&self, verdict: &Verdict) -> Result<Recorded, StoreError> {
        match self.record_repeat(verdict) {
            Some(recorded) => Ok(recorded),
            None => self.record_change(verdict),
        }
    }

    /// The memory-only half of [`Self::record`]: `Some` when `verdict` repeats the open span
    /// of its connection and was folded in, `None` when the database is needed (a change, or
    /// the first verdict of a connection since the store opened). Cheap enough to call on an
    /// async worker thread.
    pub fn record_repeat(&self, verdict: &Verdict) -> Option<Recorded> {
        self.open.fold(verdict)
    }

    /// The database half of [`Self::record`], for a verdict `record_repeat` did not take.
    pub fn record_change(&self, verdict: &Verdict) -> Result<Recorded, StoreError> {
        let name = verdict.connection.as_str();
        let prefix = key_prefix(name)?;
        let checked = verdict.checked_at.timestamp_micros();
        let _writing = self.open.writing();
        let cached = self.open.take(name);
        let outcome = (&self.history, &self.state).transaction(|(history, state)| {
            let previous: Option<ConnectionState> = match &cached {
                Some(open) => {
                    if open.dirty {
                        // The closing span ends with the repeats folded in since it was written.
                        let key = span_key(&prefix, open.state.open_span);
                        history.insert(key, encode(&open.span()).map_err(abort)?)?;
                    }
                    Some(open.state.clone())
                }
                None => match state.get(name)? {
                    Some(raw) => Some(decode(&raw, || format!("state of {name}")).map_err(abort)?),
                    None => None,
                },
            };
            let mut open = None;
            if let Some(p) = previous.as_ref().filter(|p| same_span(&p.last, verdict)) {
                let key = span_key(&prefix, p.open_span);
                // The open span may be gone if retention pruned it; then a new one starts.
                if let Some(raw) = history.get(&key)? {
                    let mut span: Span =
                        decode(&raw, || format!("open span of {name}")).map_err(abort)?;
                    span.extend(verdict);
                    history.insert(key, encode(&span).map_err(abort)?)?;
                    open = Some((p.open_span, span));
                }
            }
            let new_span = open.is_none();
            let (open, span) = match open {
                Some(open) => open,
                None => {
                    // Keys stay strictly increasing per connection even if the clock steps
                    // back or two verdicts carry the same time: a new span never overwrites
                    // an old one and is always the newest in a scan.
                    let mut at = match &previous {
                        Some(p) => checked.max(p.open_span.saturating_add(1)),
                        None => checked,
                    };
                    while history.get(span_key(&prefix, at))?.is_some() {
                        at = at.saturating_add(1);
                    }
                    let span = Span::start(verdict);
                    history.insert(span_key(&prefix, at), encode(&span).map_err(abort)?)?;
                    (at, span)
                }
            };
            let next = ConnectionState::next(previous.as_ref(), verdict, open);
            state.insert(name, encode(&next).map_err(abort)?)?;
            let recorded = Recorded {
                new_span,
                previous: previous.map(|p| p.last),
                same_status_checks: next.same_status_checks,
                unavailable_checks: next.unavailable_checks,
            };
            Ok((recorded, OpenSpan::written(next, &span)))
        });
        match outcome {
            Ok((recorded, written)) => {
                self.open.put(name, written);
                self.open.set_failing(false);
                Ok(recorded)
            }
            Err(e) => {
                self.open.set_failing(true);
                // Nothing was written: keep what memory had, repeats included.
                if let Some(open) = cached {
                    self.open.put(name, open);
                }
                Err(self.transaction_error("record a verdict", e))
            }
        }
    }

    /// Writes the repeats folded in memory since the last checkpoint (every connection's, or
    /// `only` one's), then flushes: afterwards `history` and `state` on disk are what
    /// [`Self::spans`] and [`Self::state`] show.
    pub fn checkpoint(&self, only: Option<&str>) -> Result<(), StoreError> {
        self.open.checkpoint(only)?;
        self.flush()
    }

    /// The spans of one connection, newest first, at most `limit`: what `keywarden history`
    /// shows.
    /// The open span comes from memory, with the repeats not yet written.
    pub fn spans(&self, connection: &str, limit: usize) -> Result<Vec<Span>, StoreError> {
        let prefix = key_prefix(connection)?;
        let open = self.open.get(connection);
        let open_key = open.as_ref().map(|o| span_key(&prefix, o.state.open_span));
        self.history
            .scan_prefix(&prefix)
            .rev()
            .take(limit)
            .map(|entry| {
                let (key, raw) = entry.map_err(|e| self.db_error("read history", e))?;
                match &open {
                    Some(open) if open_key.as_deref() == Some(&key[..]) => Ok(open.span()),
                    _ => decode(&raw, || format!("a span of {connection}"))
                        .map_err(|(what, source)| self.corrupt(what, source)),
                }
            })
            .collect()
    }

    /// The last verdict recorded for `connection`, so a restarted daemon compares a fresh
    /// check against what it saw before going down, not against nothing.
    pub fn last_verdict(&self, connection: &str) -> Result<Option<Verdict>, StoreError> {
        Ok(self.state(connection)?.map(|s| s.last))
    }

    /// The whole stored state of `connection` (last verdict and streak counters), for the
    /// alert policy at start-up.
    pub fn state(&self, connection: &str) -> Result<Option<ConnectionState>, StoreError> {
        if let Some(open) = self.open.get(connection) {
            return Ok(Some(open.state));
        }
        let raw = self
            .state
            .get(connection)
            .map_err(|e| self.db_error("read state", e))?;
        raw.map(|raw| {
            decode(&raw, || format!("state of {connection}"))
                .map_err(|(what, source)| self.corrupt(what, source))
        })
        .transpose()
    }

    /// The connections that have history, in name order (the `state` tree's keys; retention
    /// removes a connection's state together with its last span, so the two agree).
    pub fn connections(&self) -> Result<Vec<String>, StoreError> {
        self.state
            .iter()
            .keys()
            .map(|key| {
                let key = key.map_err(|e| self.db_error("list connections", e))?;
                Ok(String::from_utf8_lossy(&key).into_owned())
            })
            .collect()
    }

    /// Retention: deletes spans whose `last_seen` is older than `cutoff` and returns how many.
    /// A connection whose last check is older than `cutoff` (it left the config long ago) loses
    /// its `state` record too, so nothing older than the retention period is kept.
    ///
    /// A full scan, which is fine because spans are few (one per change). Each delete is a
    /// compare-and-swap against the value that was read, so a span that a concurrent `record`
    /// just extended is left alone.
    ///
    /// Repeats held in memory are written first, so an open span is judged by its real
    /// `last_seen`; connections pruned whole are dropped from memory too.
    pub fn prune(&self, cutoff: DateTime<Utc>) -> Result<usize, StoreError> {
        self.checkpoint(None)?;
        let _writing = self.open.writing();
        let mut removed = 0;
        for entry in self.history.iter() {
            let (key, raw) = entry.map_err(|e| self.db_error("scan history", e))?;
            let span: Span = decode(&raw, || "a span".to_string())
                .map_err(|(what, source)| self.corrupt(what, source))?;
            if span.last_seen < cutoff && self.remove_if_unchanged(&self.history, &key, &raw)? {
                removed += 1;
            }
        }
        for entry in self.state.iter() {
            let (key, raw) = entry.map_err(|e| self.db_error("scan state", e))?;
            let state: ConnectionState = decode(&raw, || {
                format!("state of {}", String::from_utf8_lossy(&key))
            })
            .map_err(|(what, source)| self.corrupt(what, source))?;
            if state.last.checked_at < cutoff {
                self.remove_if_unchanged(&self.state, &key, &raw)?;
            }
        }
        self.open.forget_checked_before(cutoff);
        self.flush()?;
        Ok(removed)
    }

    /// Makes what was written durable (an fsync of sled's log). Repeats still held in memory
    /// are not written by this: [`Self::checkpoint`] does both.
    ///
    /// sled writes in the background, so a full disk may first show here: a failure also
    /// sends repeats down the database path (see `OpenSpans::failing`), where every check
    /// reports it.
    pub fn flush(&self) -> Result<(), StoreError> {
        let flushed = self.db.flush().map(drop);
        if flushed.is_err() {
            self.open.set_failing(true);
        }
        flushed.map_err(|e| self.db_error("flush", e))
    }

    /// The database's size on disk in bytes, for the `store_size_bytes` metric.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db
            .size_on_disk()
            .map_err(|e| self.db_error("measure its size", e))
    }

    /// Removes `key` if it still holds `expected`; `false` if someone changed it meanwhile.
    fn remove_if_unchanged(
        &self,
        tree: &sled::Tree,
        key: &[u8],
        expected: &sled::IVec,
    ) -> Result<bool, StoreError> {
        let swapped = tree
            .compare_and_swap(key, Some(expected), None::<&[u8]>)
            .map_err(|e| self.db_error("delete old history", e))?;
        Ok(swapped.is_ok())
    }

    fn transaction_error(&self, op: &'static str, error: TransactionError<Abort>) -> StoreError {
        match error {
            TransactionError::Abort((what, source)) => self.corrupt(what, source),
            TransactionError::Storage(source) => self.db_error(op, source),
        }
    }

    fn db_error(&self, op: &'static str, source: sled::Error) -> StoreError {
        StoreError::db(&self.path, op, source)
    }

    fn corrupt(&self, what: String, source: serde_json::Error) -> StoreError {
        StoreError::corrupt(&self.path, what, source)
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Abort> {
    serde_json::to_vec(value).map_err(|e| ("a value to write".to_string(), e))
}

fn decode<T: DeserializeOwned>(raw: &[u8], what: impl FnOnce() -> String) -> Result<T, Abort> {
    serde_json::from_slice(raw).map_err(|e| (what(), e))
}

fn abort(reason: Abort) -> ConflictableTransactionError<Abort> {
    ConflictableTransactionError::Abort(reason)
}

#[cfg(test)]
mod tests;
