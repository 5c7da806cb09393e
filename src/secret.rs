//! Secrets: where they come from (`env:`, `file:`, `cred:`, literal) and how they are shown (never,
//! or masked).
//!
//! Every secret lives in a [`SecretString`] from the moment it is resolved, so `Debug` prints
//! `[REDACTED]` and nothing leaks through a stray `{:?}` in a log line or an error.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

pub use secrecy::{ExposeSecret, SecretString};

/// Where a secret field's value comes from, as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `env:NAME`: read the environment variable at load (and reload) time.
    Env(String),
    /// `file:PATH`: read the file, trailing newline stripped (systemd credentials, Docker secrets).
    File(PathBuf),
    /// `cred:NAME`: the systemd credential NAME, i.e. the file `$CREDENTIALS_DIRECTORY/NAME` that
    /// systemd fills from the unit's `LoadCredential=` lines (readable only by the service).
    Credential(String),
    /// Anything else: the secret itself, written into the config file. Works, but is warned about.
    Literal,
}

impl SecretSource {
    /// Classifies a raw config value without looking at the secret's content.
    pub fn of(raw: &str) -> SecretSource {
        if let Some(name) = raw.strip_prefix("env:") {
            SecretSource::Env(name.to_string())
        } else if let Some(path) = raw.strip_prefix("file:") {
            SecretSource::File(PathBuf::from(path))
        } else if let Some(name) = raw.strip_prefix("cred:") {
            SecretSource::Credential(name.to_string())
        } else {
            SecretSource::Literal
        }
    }
}

/// Why a secret reference could not be resolved. Never carries the secret itself.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    #[error("environment variable {0} is empty")]
    EnvEmpty(String),
    #[error("cannot read secret file {path}: {reason}")]
    FileUnreadable { path: String, reason: String },
    #[error("secret file {0} is empty")]
    FileEmpty(String),
    #[error(
        "cred:{0} needs the environment variable CREDENTIALS_DIRECTORY, which is not set: \
         systemd sets it for a unit with LoadCredential= lines (start KeyWarden from its unit), \
         or use file:PATH"
    )]
    CredentialsDirectoryUnset(String),
    #[error("cred:{0} is not a credential name (a file name, without '/')")]
    CredentialName(String),
    #[error(
        "cannot read credential {name} at {path} ($CREDENTIALS_DIRECTORY/{name}): {reason}; \
         is there a LoadCredential= line for it in the unit?"
    )]
    CredentialUnreadable {
        name: String,
        path: String,
        reason: String,
    },
    #[error("value is empty")]
    Empty,
}

/// Resolves a secret reference (`env:NAME`, `file:PATH` or a literal) to the secret.
pub fn resolve(raw: &str) -> Result<SecretString, SecretError> {
    let value = match SecretSource::of(raw) {
        SecretSource::Env(name) => match std::env::var(&name) {
            Ok(v) if v.trim().is_empty() => return Err(SecretError::EnvEmpty(name)),
            Ok(v) => v,
            Err(_) => return Err(SecretError::EnvMissing(name)),
        },
        SecretSource::File(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| SecretError::FileUnreadable {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
            non_empty_file_text(text, &path)?
        }
        SecretSource::Credential(name) => {
            let dir = std::env::var_os("CREDENTIALS_DIRECTORY");
            read_credential(&name, dir.as_deref())?
        }
        SecretSource::Literal if raw.is_empty() => return Err(SecretError::Empty),
        SecretSource::Literal => raw.to_string(),
    };
    Ok(SecretString::from(value))
}

/// The file's permission bits when every user on this host may read it (`o+r`), `None` when
/// not, or when that cannot be told. A secret file should be readable by its service only.
pub fn world_readable(path: &std::path::Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o004 != 0).then_some(mode)
}

/// Reads the systemd credential `name` from `dir` (the value of `$CREDENTIALS_DIRECTORY`).
fn read_credential(name: &str, dir: Option<&OsStr>) -> Result<String, SecretError> {
    // A credential is one file directly in the directory: no paths, no way out of it.
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(SecretError::CredentialName(name.to_string()));
    }
    let dir = match dir {
        Some(d) if !d.is_empty() => Path::new(d),
        _ => return Err(SecretError::CredentialsDirectoryUnset(name.to_string())),
    };
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| SecretError::CredentialUnreadable {
        name: name.to_string(),
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    non_empty_file_text(text, &path)
}

/// A secret file's text without its trailing newline; an empty file is an error.
fn non_empty_file_text(text: String, path: &Path) -> Result<String, SecretError> {
    let trimmed = text.trim_end_matches(['\n', '\r']);
    if trimmed.is_empty() {
        return Err(SecretError::FileEmpty(path.display().to_string()));
    }
    Ok(trimmed.to_string())
}

/// Shows an API key the way operators recognise it without revealing it: the first four and
/// the last four characters (`mx0v…9f2a`). Keys of twelve characters or fewer show only their
/// first two, since four plus four would be most of the key.
pub fn mask_key(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() > 12 {
        let head: String = chars[..4].iter().collect();
        let tail: String = chars[chars.len() - 4..].iter().collect();
        format!("{head}…{tail}")
    } else {
        let head: String = chars.iter().take(2).collect();
        format!("{head}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_keys_to_four_and_four() {
        assert_eq!(mask_key("mx0vglBqh3Y7Z9f2a"), "mx0v…9f2a");
        assert_eq!(mask_key("5c2db93503aa674c74a31734"), "5c2d…1734");
    }

    #[test]
    fn masks_short_keys_harder() {
        assert_eq!(mask_key("testkey"), "te…");
        assert_eq!(mask_key(""), "…");
    }

    #[test]
    fn classifies_sources() {
        assert_eq!(SecretSource::of("env:X"), SecretSource::Env("X".into()));
        assert_eq!(
            SecretSource::of("file:/run/x"),
            SecretSource::File("/run/x".into())
        );
        assert_eq!(
            SecretSource::of("cred:smtp_password"),
            SecretSource::Credential("smtp_password".into())
        );
        assert_eq!(SecretSource::of("abc"), SecretSource::Literal);
    }

    #[test]
    fn debug_of_a_resolved_secret_is_redacted() {
        let s = resolve("hunter2-literal").unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn world_readable_means_others_may_read() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "x").unwrap();
        for (mode, expected) in [(0o644, Some(0o644)), (0o604, Some(0o604)), (0o640, None)] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert_eq!(world_readable(&path), expected, "{mode:o}");
        }
        assert_eq!(world_readable(&dir.path().join("missing")), None);
    }

    #[test]
    fn missing_env_names_the_variable() {
        let err = resolve("env:KEYWARDEN_TEST_SURELY_UNSET_VAR").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KEYWARDEN_TEST_SURELY_UNSET_VAR is not set"
        );
    }

    #[test]
    fn credential_is_read_from_the_credentials_directory_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smtp_password"), "pw-from-systemd\n").unwrap();
        let got = read_credential("smtp_password", Some(dir.path().as_os_str())).unwrap();
        assert_eq!(got, "pw-from-systemd");
    }

    #[test]
    fn credential_without_credentials_directory_names_the_variable() {
        for unset in [None, Some(OsStr::new(""))] {
            let err = read_credential("smtp_password", unset).unwrap_err();
            assert_eq!(
                err,
                SecretError::CredentialsDirectoryUnset("smtp_password".into())
            );
            let text = err.to_string();
            assert!(text.contains("cred:smtp_password"), "{text}");
            assert!(text.contains("CREDENTIALS_DIRECTORY"), "{text}");
            assert!(text.contains("LoadCredential="), "{text}");
        }
    }

    #[test]
    fn missing_credential_names_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_credential("bot_token", Some(dir.path().as_os_str())).unwrap_err();
        let path = dir.path().join("bot_token").display().to_string();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "cannot read credential bot_token at {path} ($CREDENTIALS_DIRECTORY/bot_token): "
            )),
            "{text}"
        );
        assert!(text.contains("LoadCredential="), "{text}");
    }

    #[test]
    fn empty_credential_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "\n").unwrap();
        let err = read_credential("token", Some(dir.path().as_os_str())).unwrap_err();
        assert_eq!(
            err,
            SecretError::FileEmpty(dir.path().join("token").display().to_string())
        );
    }

    #[test]
    fn credential_names_cannot_leave_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["", ".", "..", "../etc/shadow", "a/b"] {
            assert_eq!(
                read_credential(bad, Some(dir.path().as_os_str())).unwrap_err(),
                SecretError::CredentialName(bad.into()),
                "{bad:?}"
            );
        }
    }
}
