//! The connections users add over the API (issue 14), kept in the store's `api_connections`
//! tree, encrypted: the platform's users' exchange secrets must not lie in sled's files in
//! plaintext, where a backup, a copied state directory or a disk image would carry them.
//!
//! Each record is `VERSION ‖ nonce (24 bytes) ‖ XChaCha20-Poly1305(plaintext)`, keyed by the
//! connection's name, with the name as associated data: a record moved to another name does not
//! open. The nonce is random and fresh for every write (XChaCha's 192 bits make a collision out
//! of reach without a counter to keep). What the plaintext is (the connection's table as JSON)
//! is the caller's business; this module seals, stores, flushes and opens bytes.
//!
//! A record that does not open (the wrong `api.store_key`, or a damaged file) is an error that
//! names `api.store_key`, never a connection silently left out.

use std::fmt;
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox};

use super::{HistoryStore, StoreError};

/// The record layout's version, the first byte of every record.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
/// The tree's name in the sled database.
const TREE: &str = "api_connections";

/// The 32-byte key that encrypts the stored connections (`api.store_key`). Cheap to clone;
/// `Debug` shows nothing of it.
#[derive(Clone)]
pub struct StoreKey(Arc<SecretBox<[u8; 32]>>);

impl StoreKey {
    /// Reads 32 bytes written as 64 hex digits or as base64 (padded or not). The message
    /// never quotes the value.
    pub fn parse(text: &secrecy::SecretString) -> Result<StoreKey, String> {
        let text = text.expose_secret().trim();
        let bytes: Zeroizing<Vec<u8>> =
            if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Zeroizing::new(hex::decode(text).map_err(|e| e.to_string())?)
            } else {
                use base64::Engine as _;
                let engine = base64::engine::general_purpose::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::general_purpose::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                Zeroizing::new(engine.decode(text).map_err(|_| {
                    format!(
                        "is not 32 bytes written as 64 hex digits or base64 (a value of {} \
                     characters that is neither); make one with `openssl rand -hex 32`",
                        text.len()
                    )
                })?)
            };
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "decodes to {} bytes; the key must be 32 bytes (64 hex digits, or 44 characters \
                 of base64); make one with `openssl rand -hex 32`",
                bytes.len()
            )
        })?;
        Ok(StoreKey(Arc::new(SecretBox::new(Box::new(key)))))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.expose_secret().into())
    }
}

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey([REDACTED])")
    }
}

/// A stored connection's name and plaintext (wiped from memory when dropped).
pub type StoredRecord = (String, Zeroizing<Vec<u8>>);

/// The encrypted connections of one store, opened with one key. Cheap to clone.
#[derive(Clone)]
pub struct ApiConnections {
    store: HistoryStore,
    tree: sled::Tree,
    key: StoreKey,
}

impl HistoryStore {
    /// How many connections the API has stored, without opening any: start-up says so when
    /// there is no key to open them with.
    pub fn api_connection_count(&self) -> Result<usize, StoreError> {
        Ok(self.api_tree()?.len())
    }

    /// The API's connections, opened with `key`.
    pub fn api_connections(&self, key: &StoreKey) -> Result<ApiConnections, StoreError> {
        Ok(ApiConnections {
            store: self.clone(),
            tree: self.api_tree()?,
            key: key.clone(),
        })
    }

    fn api_tree(&self) -> Result<sled::Tree, StoreError> {
        self.db.open_tree(TREE).map_err(|source| StoreError::Open {
            path: self.path.clone(),
            source,
        })
    }
}

impl ApiConnections {
    /// Every stored connection's plaintext, in name order. One record that does not open
    /// fails the whole load, naming it: the key is wrong, or the file was damaged.
    pub fn load_all(&self) -> Result<Vec<StoredRecord>, StoreError> {
        let cipher = self.key.cipher();
        let total = self.tree.len();
        self.tree
            .iter()
            .map(|entry| {
                let (name, sealed) =
                    entry.map_err(|e| self.store.db_error("read API connections", e))?;
                let name = String::from_utf8_lossy(&name).into_owned();
                let plaintext =
                    open(&cipher, &name, &sealed).ok_or_else(|| StoreError::StoreKeyMismatch {
                        path: self.store.path.clone(),
                        name: name.clone(),
                        total,
                    })?;
                Ok((name, plaintext))
            })
            .collect()
    }

    /// `name`'s plaintext, if stored; an error naming `api.store_key` if it does not open.
    pub fn get(&self, name: &str) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        let Some(sealed) = self
            .tree
            .get(name.as_bytes())
            .map_err(|e| self.store.db_error("read an API connection", e))?
        else {
            return Ok(None);
        };
        open(&self.key.cipher(), name, &sealed)
            .map(Some)
            .ok_or_else(|| StoreError::StoreKeyMismatch {
                path: self.store.path.clone(),
                name: name.to_string(),
                total: self.tree.len(),
            })
    }

    /// Stores (or replaces) `name`'s record, sealed with a fresh nonce, and flushes: when this
    /// returns, a `kill -9` does not lose it.
    pub fn put(&self, name: &str, plaintext: &[u8]) -> Result<(), StoreError> {
        self.insert(name, plaintext)?;
        self.flush()
    }

    /// Removes `name`'s record and flushes; whether there was one.
    pub fn remove(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self.delete(name)?;
        self.flush()?;
        Ok(removed)
    }

    /// [`Self::put`] without the flush, for callers that flush once for several writes.
    pub fn insert(&self, name: &str, plaintext: &[u8]) -> Result<(), StoreError> {
        let sealed = seal(&self.key.cipher(), name, plaintext);
        self.tree
            .insert(name.as_bytes(), sealed)
            .map_err(|e| self.store.db_error("store an API connection", e))?;
        Ok(())
    }

    /// [`Self::remove`] without the flush.
    pub fn delete(&self, name: &str) -> Result<bool, StoreError> {
        let removed = self
            .tree
            .remove(name.as_bytes())
            .map_err(|e| self.store.db_error("remove an API connection", e))?;
        Ok(removed.is_some())
    }

    /// Makes every write so far durable (one fsync covers all writes before it).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }
}

fn seal(cipher: &XChaCha20Poly1305, name: &str, plaintext: &[u8]) -> Vec<u8> {
    let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: name.as_bytes(),
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any message below 256 GiB");
    let mut record = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
    record.push(VERSION);
    record.extend_from_slice(&nonce);
    record.extend_from_slice(&ciphertext);
    record
}

/// The plaintext of `record`, or `None` when it does not open under this key and name.
fn open(cipher: &XChaCha20Poly1305, name: &str, record: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let (&version, rest) = record.split_first()?;
    if version != VERSION || rest.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    cipher
        .decrypt(
            nonce.into(),
            Payload {
                msg: ciphertext,
                aad: name.as_bytes(),
            },
        )
        .ok()
        .map(Zeroizing::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> StoreKey {
        StoreKey::parse(&hex::encode([byte; 32]).into()).unwrap()
    }

    #[test]
    fn a_key_is_64_hex_digits_or_base64_of_32_bytes() {
        assert!(StoreKey::parse(&"ab".repeat(32).into()).is_ok());
        let b64 = "q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=";
        assert!(StoreKey::parse(&b64.into()).is_ok());
        assert!(StoreKey::parse(&b64.trim_end_matches('=').into()).is_ok());
        let short = StoreKey::parse(&"ab".repeat(16).into()).unwrap_err();
        assert!(short.contains("decodes to 24 bytes"), "{short}");
        let garbage = StoreKey::parse(&"not a key!".into()).unwrap_err();
        assert!(
            !garbage.contains("not a key"),
            "the value is never quoted: {garbage}"
        );
        assert_eq!(format!("{:?}", key(1)), "StoreKey([REDACTED])");
    }

    #[test]
    fn records_open_only_with_their_key_and_name() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(dir.path()).unwrap();
        let connections = store.api_connections(&key(1)).unwrap();
        connections.put("alice", b"the plaintext").unwrap();
        let loaded = connections.load_all().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(
            (loaded[0].0.as_str(), loaded[0].1.as_slice()),
            ("alice", &b"the plaintext"[..])
        );

        let wrong = store.api_connections(&key(2)).unwrap().load_all();
        let message = wrong
            .map(drop)
            .expect_err("the wrong key opens nothing")
            .to_string();
        assert!(
            message.contains("api.store_key") && message.contains("alice"),
            "{message}"
        );

        // Moved to another name, the record does not open: the name is associated data.
        let sealed = connections.tree.get("alice").unwrap().unwrap();
        connections.tree.insert("mallory", sealed).unwrap();
        assert!(connections.load_all().is_err());
        assert!(connections.remove("mallory").unwrap());
        assert_eq!(store.api_connection_count().unwrap(), 1);
    }

    #[test]
    fn every_write_takes_a_fresh_nonce() {
        let cipher = key(3).cipher();
        let a = seal(&cipher, "n", b"same");
        let b = seal(&cipher, "n", b"same");
        assert_ne!(a[1..1 + NONCE_LEN], b[1..1 + NONCE_LEN]);
        assert_eq!(open(&cipher, "n", &a).unwrap().as_slice(), b"same");
    }
}
