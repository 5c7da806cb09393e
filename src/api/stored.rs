//! The API's stored connections read back: decrypted with `api.store_key` and validated by
//! the rules of the `PUT` that stored them. Shared by the daemon's start and by `keywarden
//! check` and `history`, which read them from the store when no daemon holds it.

use crate::config::{Config, Connection, RawConnection};
use crate::store::{ApiConnections, HistoryStore};

/// The stored connections that can be run, in name order, and the store handle they came
/// from. Without an `[api]` section, a store that holds API connections is an error naming
/// `api.store_key`: they would drop out of view without a word. So is a record that does not
/// open with the key. A record that no longer passes validation (a rule got stricter) is
/// logged by name and left in the store, not run.
pub fn load(
    config: &Config,
    store: &HistoryStore,
) -> Result<Option<(ApiConnections, Vec<Connection>)>, String> {
    let Some(api) = &config.api else {
        let stored = store.api_connection_count().map_err(|e| e.to_string())?;
        if stored > 0 {
            return Err(format!(
                "{}: api.store_key: the store at {} holds {stored} connection(s) added over \
                 the API, and this config has no [api] section with the key to open them; \
                 restore [api] (with the same store_key)",
                config.source.display(),
                store.path().display()
            ));
        }
        return Ok(None);
    };
    let opened = store
        .api_connections(&api.store_key)
        .map_err(|e| e.to_string())?;
    let records = opened
        .load_all()
        .map_err(|e| format!("{}: {e}", config.source.display()))?;
    let mut connections = Vec::with_capacity(records.len());
    for (name, plaintext) in records {
        match decode(&name, &plaintext) {
            Ok(connection) => connections.push(connection),
            Err(why) => tracing::error!(
                connection = %name,
                "stored API connection not run: {why}; replace it with PUT or remove it with DELETE"
            ),
        }
    }
    Ok(Some((opened, connections)))
}

/// A stored record back to a connection, by the same rules as the `PUT` that stored it.
pub(crate) fn decode(name: &str, plaintext: &[u8]) -> Result<Connection, String> {
    let raw: RawConnection =
        serde_json::from_slice(plaintext).map_err(|e| format!("unreadable record: {e}"))?;
    crate::config::api_connection(name, raw).map_err(|problems| {
        problems
            .iter()
            .map(|p| format!("{}: {}", p.key, p.message))
            .collect::<Vec<_>>()
            .join("; ")
    })
}

/// `config`'s connections with the API's stored ones, for `keywarden check`: read from the
/// store when no daemon holds it. Otherwise (sled allows one process; a key that does not open
/// them) the file's connections only, and a note to show as a warning: while the daemon holds
/// the store it checks them, and `POST /api/v1/connections/NAME/check` asks it to now.
pub fn with_stored(config: &Config) -> (Config, Option<String>) {
    let mut merged = config.clone();
    // Never create a store just to read it.
    if !HistoryStore::exists(&config.daemon.state_dir) {
        return (merged, None);
    }
    let store = match HistoryStore::open(&config.daemon.state_dir) {
        Ok(store) => store,
        Err(e) if e.is_locked() => {
            let note = config.api.as_ref().map(|api| {
                format!(
                    "the store at {} is held by the running daemon, so the connections added \
                     over the API were not read: the daemon checks them; ask it with \
                     POST /api/v1/connections/NAME/check on {}",
                    config.daemon.state_dir.display(),
                    api.listen
                )
            });
            return (merged, note);
        }
        Err(e) => return (merged, Some(e.to_string())),
    };
    match load(config, &store) {
        Ok(Some((_, stored))) => {
            for connection in stored {
                if config.connection(&connection.name).is_none() {
                    merged.connections.push(connection);
                }
            }
            merged.connections.sort_by(|a, b| a.name.cmp(&b.name));
            (merged, None)
        }
        Ok(None) => (merged, None),
        Err(e) => (merged, Some(e)),
    }
}
