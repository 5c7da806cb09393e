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

/// What stands in for a URL's user name and password wherever a URL is shown.
const MASKED_USERINFO: &str = "***";

/// A URL value as it may be shown in an error, a log line or `Debug`, quoted: its user info
/// (`user:password@`) masked as `***:***@`. A value that does not parse as a URL with a host but
/// holds an `@` is not shown at all, since the part before it may be a password. The one place
/// that decides how a URL is shown: config errors, the notifiers' setup errors and `Debug` of
/// the config types all go through it.
pub fn shown_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.has_host() => {
            if url_has_credentials(raw) {
                let masked_password = url.password().is_some().then_some(MASKED_USERINFO);
                // Both only fail for URLs without a host, excluded above.
                let _ = url.set_username(MASKED_USERINFO);
                let _ = url.set_password(masked_password);
            }
            format!("{:?}", url.as_str())
        }
        _ if raw.contains('@') => "the value (not shown: it may hold credentials)".to_string(),
        _ => format!("{raw:?}"),
    }
}

/// Whether the URL `raw` carries a user name or password (`scheme://user:password@host`).
pub fn url_has_credentials(raw: &str) -> bool {
    url::Url::parse(raw)
        .is_ok_and(|url| url.has_host() && (!url.username().is_empty() || url.password().is_some()))
}

/// `text` with the user info of every `scheme://user:password@host` in it masked, for text that
/// quotes a value KeyWarden did not pick out itself (a TOML syntax error quotes the whole line).
/// Problems of the config go through it as they are recorded, so no config error can carry a
/// URL's password, whoever words it.
pub fn mask_url_credentials(text: &str) -> std::borrow::Cow<'_, str> {
    /// Where an authority ends in running text: a path, a query, a fragment, or the end of a
    /// quoted or written-out value.
    fn ends_authority(c: char) -> bool {
        matches!(c, '/' | '?' | '#' | '"' | '\'' | '`' | '<' | '>' | '\\') || c.is_whitespace()
    }
    if !text.contains("://") || !text.contains('@') {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after.find(ends_authority).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@') {
            Some(userinfo_end) => {
                let userinfo = &authority[..userinfo_end];
                out.push_str(MASKED_USERINFO);
                if userinfo.contains(':') {
                    out.push(':');
                    out.push_str(MASKED_USERINFO);
                }
                rest = &after[userinfo_end..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// `Debug` of a URL field: shown as [`shown_url`] shows it.
pub struct MaskedUrl<'a>(pub &'a str);

impl std::fmt::Debug for MaskedUrl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&shown_url(self.0))
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

    #[test]
    fn a_shown_url_masks_its_user_info() {
        assert_eq!(
            shown_url("smtp://kw:hunter2@relay.example.com:587?tls=required"),
            "\"smtp://***:***@relay.example.com:587?tls=required\""
        );
        assert_eq!(
            shown_url("https://bot-token@proxy.example.com/x"),
            "\"https://***@proxy.example.com/x\""
        );
        assert_eq!(
            shown_url("https://api.telegram.org"),
            "\"https://api.telegram.org/\""
        );
        // Not a URL with a host, but an '@' in it: the part before may be a password.
        for raw in [
            "kw:hunter2@relay.example.com",
            "smtp://kw:hun ter2@relay",
            "mailto:kw:hunter2@x",
        ] {
            let shown = shown_url(raw);
            assert!(!shown.contains("hunter2"), "{raw}: {shown}");
        }
        assert_eq!(
            shown_url("relay.example.com:587"),
            "\"relay.example.com:587\""
        );
        assert_eq!(
            format!("{:?}", MaskedUrl("http://u:hunter2@h")),
            "\"http://***:***@h/\""
        );
    }

    #[test]
    fn credentials_in_a_url_are_recognised() {
        assert!(url_has_credentials("smtp://kw:pw@relay.example.com"));
        assert!(url_has_credentials("https://token@proxy.example.com"));
        assert!(url_has_credentials("smtp://:pw@relay.example.com"));
        assert!(!url_has_credentials("smtps://relay.example.com"));
        assert!(!url_has_credentials("not a url"));
    }

    #[test]
    fn url_credentials_in_running_text_are_masked() {
        let line = "  |\n3 | smtp_url = \"smtp://kw:hunter2@relay.example.com:25\"x\n  |   ^";
        let masked = mask_url_credentials(line);
        assert!(!masked.contains("hunter2"), "{masked}");
        assert!(
            masked.contains("\"smtp://***:***@relay.example.com:25\"x"),
            "{masked}"
        );
        assert_eq!(
            mask_url_credentials("a https://tok@h/p?x=a@b and ftp://u:p@q, done"),
            "a https://***@h/p?x=a@b and ftp://***:***@q, done"
        );
        // A password with '@' in it: everything up to the last '@' of the authority.
        assert_eq!(
            mask_url_credentials("smtp://kw:p@ss@relay"),
            "smtp://***:***@relay"
        );
        assert_eq!(mask_url_credentials("no url, a@b"), "no url, a@b");
        assert_eq!(mask_url_credentials("http://h/ é @"), "http://h/ é @");
    }
}
