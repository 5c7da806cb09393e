//! What can go wrong with the history store, worded for the operator who reads the log.

use std::path::PathBuf;

/// A store failure. Every variant names the store's directory and what was being done, because
/// the operator reading "I/O error" alone cannot tell which file or step to look at.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled holds an exclusive file lock on its database; a second process (or a second handle
    /// in this one) gets this instead of silently corrupting the first one's data.
    #[error(
        "cannot open history store at {}: the database is locked (is another keywarden running?)",
        path.display()
    )]
    Locked { path: PathBuf },

    /// The directory could not be created or opened for another reason (permissions, disk full,
    /// a corrupt or incompatible database).
    #[error("cannot open history store at {}: {source}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },

    /// A read, write or flush failed after the store was open.
    #[error("history store at {}: cannot {op}: {source}", path.display())]
    Db {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: sled::Error,
    },

    /// A stored value did not parse: the file was damaged or written by an incompatible version.
    #[error("history store at {}: {what} is unreadable: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        what: String,
        #[source]
        source: serde_json::Error,
    },

    /// A connection the API stored does not open with the configured `api.store_key`: the key
    /// was changed, or the file damaged. Start-up stops here rather than drop connections.
    #[error(
        "history store at {}: the API connection {name:?} (one of {total} stored) does not open \
         with api.store_key: it is not the key the connections were stored with (or the store is \
         damaged); configure the key they were stored with",
        path.display()
    )]
    StoreKeyMismatch {
        path: PathBuf,
        name: String,
        total: usize,
    },

    /// The connection name cannot be used as a key (the length prefix is two bytes).
    #[error("connection name is {len} bytes long; the history store accepts at most 65535")]
    NameTooLong { len: usize },
}

impl StoreError {
    /// Whether another process holds the store (a running daemon).
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Locked { .. })
    }

    /// A read, write or flush of the store at `path` failed while doing `op`.
    pub(super) fn db(path: &std::path::Path, op: &'static str, source: sled::Error) -> StoreError {
        StoreError::Db {
            path: path.to_path_buf(),
            op,
            source,
        }
    }

    /// A value of the store at `path` (`what`) did not parse or serialise.
    pub(super) fn corrupt(
        path: &std::path::Path,
        what: String,
        source: serde_json::Error,
    ) -> StoreError {
        StoreError::Corrupt {
            path: path.to_path_buf(),
            what,
            source,
        }
    }

    /// Classifies an error from `sled::Config::open`. sled reports a held lock only as an I/O
    /// error whose text says "could not acquire lock", so that text is what is matched.
    pub(super) fn from_open(path: PathBuf, source: sled::Error) -> StoreError {
        match &source {
            sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                StoreError::Locked { path }
            }
            _ => StoreError::Open { path, source },
        }
    }
}
