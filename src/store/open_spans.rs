//! The open span of every connection, kept in memory so that a repeat of an unchanged verdict
//! costs no database write.
//!
//! A healthy key is checked thousands of times between two changes. Writing its span and state
//! on every check made sled rewrite two JSON records per check: the log grew with checks (not
//! with changes) and sled's I/O threads cost more CPU than the checks themselves (issue 9's
//! profile: ~45% of the daemon's samples). Now a repeat only moves `last_seen` and the counters
//! here; they reach the disk at the next change of that connection, at a [`checkpoint`]
//! (periodic, on `GET /history`, before pruning, on shutdown and when the store is dropped).
//!
//! What a crash can lose is bounded and never a change: the `last_seen` and `checks` of open
//! spans and the streak counters since the last checkpoint. Every new span, every status change,
//! is written when it happens.
//!
//! [`checkpoint`]: super::HistoryStore::checkpoint

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, Utc};

use super::record::{key_prefix, same_span, span_key, ConnectionState, Recorded, Span};
use super::{encode, StoreError};
use crate::domain::Verdict;

/// The in-memory copy of one connection's open span and state.
#[derive(Debug, Clone)]
pub(super) struct OpenSpan {
    /// As it would be stored: the latest verdict, the streaks and the open span's key.
    pub state: ConnectionState,
    /// `first_seen` of the open span (identity and details come from `state.last`).
    pub first_seen: DateTime<Utc>,
    /// `last_seen` of the open span.
    pub last_seen: DateTime<Utc>,
    /// Checks in the open span.
    pub checks: u64,
    /// Repeats were folded in since the span and state were last written.
    pub dirty: bool,
}

impl OpenSpan {
    /// The cached copy of what was just written: `state` and `span` as stored.
    pub fn written(state: ConnectionState, span: &Span) -> OpenSpan {
        OpenSpan {
            state,
            first_seen: span.first_seen,
            last_seen: span.last_seen,
            checks: span.checks,
            dirty: false,
        }
    }

    /// The open span as it is to be stored. Every detail a repeat may change (message, remedy,
    /// expiry, latency) is the latest verdict's, which is exactly what [`Span::extend`] keeps.
    pub fn span(&self) -> Span {
        Span {
            first_seen: self.first_seen,
            last_seen: self.last_seen,
            checks: self.checks,
            ..Span::start(&self.state.last)
        }
    }

    /// Folds in a verdict of the same span: what `record` would have written, in memory.
    fn fold(&mut self, verdict: &Verdict) -> Recorded {
        let next = ConnectionState::next(Some(&self.state), verdict, self.state.open_span);
        let previous = std::mem::replace(&mut self.state, next);
        self.last_seen = self.last_seen.max(verdict.checked_at);
        self.checks += 1;
        self.dirty = true;
        Recorded {
            new_span: false,
            previous: Some(previous.last),
            same_status_checks: self.state.same_status_checks,
            unavailable_checks: self.state.unavailable_checks,
        }
    }
}

/// Every connection's [`OpenSpan`] that has been recorded since the store opened, and the
/// trees they are written to.
pub(super) struct OpenSpans {
    spans: Mutex<HashMap<String, OpenSpan>>,
    /// Held by whoever writes open spans to sled (a change, a checkpoint, retention), so that
    /// a checkpoint never writes an older copy over the one a change has just written.
    writing: Mutex<()>,
    /// The last write or flush failed (a full disk, say). Repeats then take the database path
    /// too, so every check tries to write and reports the failure until writes work again,
    /// instead of piling up in memory unnoticed.
    failing: AtomicBool,
    db: sled::Db,
    history: sled::Tree,
    state: sled::Tree,
    path: PathBuf,
}

impl OpenSpans {
    pub fn new(db: sled::Db, history: sled::Tree, state: sled::Tree, path: PathBuf) -> Self {
        OpenSpans {
            spans: Mutex::default(),
            writing: Mutex::default(),
            failing: AtomicBool::new(false),
            db,
            history,
            state,
            path,
        }
    }

    fn spans(&self) -> MutexGuard<'_, HashMap<String, OpenSpan>> {
        // A panic while holding the lock leaves a map that is still consistent entry by entry.
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Serialises writers of open spans; see the field.
    pub fn writing(&self) -> MutexGuard<'_, ()> {
        self.writing.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records `verdict` in memory when it repeats the connection's open span; `None` when it
    /// starts a new span, or the connection's span is not in memory yet, and the database is
    /// needed.
    pub fn fold(&self, verdict: &Verdict) -> Option<Recorded> {
        if self.failing.load(Ordering::Relaxed) {
            return None;
        }
        let mut spans = self.spans();
        let open = spans.get_mut(verdict.connection.as_str())?;
        same_span(&open.state.last, verdict).then(|| open.fold(verdict))
    }

    /// Records whether the last write or flush worked; see the field.
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::Relaxed);
    }

    /// Takes a connection's entry out, for a writer that replaces it (hold [`Self::writing`]).
    pub fn take(&self, connection: &str) -> Option<OpenSpan> {
        self.spans().remove(connection)
    }

    /// Puts a connection's entry (back) in.
    pub fn put(&self, connection: &str, open: OpenSpan) {
        self.spans().insert(connection.to_string(), open);
    }

    /// A copy of a connection's entry, for readers.
    pub fn get(&self, connection: &str) -> Option<OpenSpan> {
        self.spans().get(connection).cloned()
    }

    /// Writes the repeats folded in since the last checkpoint (every connection's, or `only`
    /// one's). Not flushed: the caller flushes.
    pub fn checkpoint(&self, only: Option<&str>) -> Result<(), StoreError> {
        let _writing = self.writing();
        let dirty = self.take_dirty(only);
        let written = self.write(&dirty);
        if written.is_err() {
            self.restore_dirty(&dirty);
            self.set_failing(true);
        }
        written
    }

    /// Copies of the entries with unwritten repeats (all of them, or `only` one), marked clean.
    /// A repeat folded in while they are written marks its entry dirty again: it goes out with
    /// the next checkpoint.
    fn take_dirty(&self, only: Option<&str>) -> Vec<OpenSpan> {
        let mut spans = self.spans();
        let mut dirty = Vec::new();
        let mut mark = |open: &mut OpenSpan| {
            if open.dirty {
                open.dirty = false;
                dirty.push(open.clone());
            }
        };
        match only {
            Some(name) => spans.get_mut(name).into_iter().for_each(&mut mark),
            None => spans.values_mut().for_each(mark),
        }
        dirty
    }

    /// Marks entries dirty again after writing them failed, unless a change replaced them.
    fn restore_dirty(&self, failed: &[OpenSpan]) {
        let mut spans = self.spans();
        for copy in failed {
            if let Some(open) = spans.get_mut(copy.state.last.connection.as_str()) {
                if open.state.open_span == copy.state.open_span {
                    open.dirty = true;
                }
            }
        }
    }

    /// Two batches, not one transaction: a crash between them leaves a span and a state that
    /// both hold the same span's verdict, one of them a few repeats behind.
    fn write(&self, dirty: &[OpenSpan]) -> Result<(), StoreError> {
        if dirty.is_empty() {
            return Ok(());
        }
        let (mut spans, mut states) = (sled::Batch::default(), sled::Batch::default());
        for open in dirty {
            let name = open.state.last.connection.as_str();
            spans.insert(
                span_key(&key_prefix(name)?, open.state.open_span),
                self.encoded(encode(&open.span()))?,
            );
            states.insert(name.as_bytes(), self.encoded(encode(&open.state))?);
        }
        self.history
            .apply_batch(spans)
            .map_err(|source| self.db_error("write open spans", source))?;
        self.state
            .apply_batch(states)
            .map_err(|source| self.db_error("write connection states", source))
    }

    /// Drops the entries of connections last checked before `cutoff`, after retention removed
    /// their state: a connection that comes back starts a new span instead of reviving one
    /// that is gone from disk.
    pub fn forget_checked_before(&self, cutoff: DateTime<Utc>) {
        self.spans()
            .retain(|_, open| open.state.last.checked_at >= cutoff);
    }

    fn encoded(&self, value: Result<Vec<u8>, super::Abort>) -> Result<Vec<u8>, StoreError> {
        value.map_err(|(what, source)| StoreError::corrupt(&self.path, what, source))
    }

    fn db_error(&self, op: &'static str, source: sled::Error) -> StoreError {
        StoreError::db(&self.path, op, source)
    }
}

/// The last handle of the store is going away: write what memory still holds, so a library
/// user (or a test) that drops the store without a checkpoint loses nothing either.
impl Drop for OpenSpans {
    fn drop(&mut self) {
        let written = self.checkpoint(None).and_then(|()| {
            self.db
                .flush()
                .map(drop)
                .map_err(|e| self.db_error("flush", e))
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "could not write the open spans on close");
        }
    }
}
