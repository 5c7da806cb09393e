//! From the file's text (and the `KEYWARDEN__` environment) to the raw structs: syntax errors,
//! unknown keys, wrong types and malformed connection names end here, each named by its key
//! path or line.
//!
//! Without environment overrides the raw structs are deserialized straight from the text by
//! `toml` (the parser the `config` crate itself uses). The `config` crate, needed to merge the
//! environment into the file, builds a second tree on top of toml's, with an origin string per
//! value, and clones it while merging: at 10,000 connections that was most of the load's CPU
//! time and much of its peak memory. So it runs only when an override is set, or when the
//! direct pass refuses the file: it coerces types the direct pass does not
//! (`max_concurrent_checks = "8"` is accepted) and its messages name the key path
//! (``for key `daemon` ``) where toml's only quote the line, so what it accepted and how it
//! words a refusal stay as they were.

use super::raw::RawConfig;
use super::{ConfigError, Problem, ENV_PREFIX};

/// Reads the TOML text, and the `KEYWARDEN__` environment when it holds any override, into the
/// raw structs.
pub fn parse(text: &str, shown_path: &str) -> Result<RawConfig, ConfigError> {
    if std::env::vars_os().any(|(name, _)| is_override(&name)) {
        return parse_with_environment(text, shown_path, environment());
    }
    match toml::from_str::<RawConfig>(text) {
        Ok(raw) => {
            check_connection_names(raw.connections.keys(), shown_path)?;
            Ok(raw)
        }
        // The config crate may still accept it (coercing a type); if not, it names the key.
        Err(_) => parse_with_environment(text, shown_path, environment()),
    }
}

/// Whether the config crate's [`environment`] source takes the variable `name`: it skips names
/// that are not Unicode and compares the rest lower-cased.
fn is_override(name: &std::ffi::OsStr) -> bool {
    let prefix = format!("{ENV_PREFIX}__").to_lowercase();
    name.to_str()
        .is_some_and(|name| name.to_lowercase().starts_with(&prefix))
}

/// The `KEYWARDEN__` overrides: `__` between levels, values parsed as bool or number where they
/// are one, and the two address lists split on commas.
fn environment() -> config::Environment {
    config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .with_list_parse_key("alerts.telegram.chat_ids")
        .with_list_parse_key("alerts.email.to")
}

/// The file merged with `environment` through the config crate, whose messages name the key
/// path of a wrong value.
fn parse_with_environment(
    text: &str,
    shown_path: &str,
    environment: config::Environment,
) -> Result<RawConfig, ConfigError> {
    // The file alone first: a syntax error is reported by line, and a malformed connection name
    // is reported before anything the environment adds or overrides.
    let table: toml::Table = text
        .parse()
        .map_err(|e| syntax_error(&e, text, shown_path))?;
    if let Some(toml::Value::Table(connections)) = table.get("connections") {
        check_connection_names(connections.keys(), shown_path)?;
    }
    config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .add_source(environment)
        .build()
        .and_then(|c| c.try_deserialize::<RawConfig>())
        .map_err(|e| ConfigError::syntax(shown_path, &e.to_string()))
}

/// A TOML syntax error, by line and column with the line quoted, as toml writes it. For a
/// duplicate key toml only underlines the key; the words name it too (a connection pasted twice
/// is the likeliest duplicate in a file of thousands).
fn syntax_error(e: &toml::de::Error, text: &str, shown_path: &str) -> ConfigError {
    let mut detail = format!("not valid TOML: {}", e.to_string().trim_end());
    if e.message() == "duplicate key" {
        if let Some(key) = e.span().and_then(|span| text.get(span)) {
            detail.push_str(&format!(" `{key}`"));
        }
    }
    ConfigError::syntax(shown_path, &detail)
}

/// Connection names are what users see, so they are held to `[a-z0-9_.-]+` even where TOML's
/// quoted keys allow anything.
fn check_connection_names<'a>(
    names: impl Iterator<Item = &'a String>,
    shown_path: &str,
) -> Result<(), ConfigError> {
    let problems: Vec<Problem> = names
        .filter_map(|name| {
            check_connection_name(name)
                .err()
                .map(|message| Problem::new(format_args!("connections.{name}"), message))
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            path: shown_path.to_string(),
            problems,
        })
    }
}

pub(super) fn check_connection_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "connection name {name:?} is not allowed: use lower-case letters, digits, '_', '.' and '-'"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the raw structs know, in the forms the file allows (a single recipient, nested
    /// and per-connection alert tables, a quoted name with a dot).
    const RICH: &str = r#"
[daemon]
schedule = "0 */5 * * * *"
state_dir = "/var/lib/keywarden"
metrics_listen = "127.0.0.1:9477"
metrics_public = false
http_token = "cred:http-token"
http_token_for_metrics = true
history_retention = "90d"
max_concurrent_checks = 64
check_timeout = "15s"
expiry_warning = "14d"

[daemon.request_budget]
mexc = 10
kucoin = 49.5

[alerts]
unavailable_after = 3
resolve_after = 2
remind_every = "6h"
send_resolved = true

[alerts.telegram]
bot_token = "env:TOKEN"
chat_ids = [-1001234567890, 42]
api_url = "http://127.0.0.1:1"
insecure = false
allowed_user_ids = [4242, 17]

[alerts.email]
smtp_url = "smtp://relay.example.com:587?tls=required"
username = "keywarden"
password = "file:/run/credentials/keywarden.service/smtp_password"
from = "KeyWarden <keywarden@example.com>"
to = "ops@example.com"
insecure = true

[connections.alice-mexc]
exchange = "mexc"
api_key = "env:ALICE_KEY"
api_secret = "literal-secret"
markets = ["spot", "futures"]
require_ip_whitelist = false
owner_email = "alice@example.com"
schedule = "0 * * * * *"
base_url = "http://127.0.0.1:8080/mexc"
futures_base_url = "http://127.0.0.1:8080/mexc-futures"
insecure = false

[connections.alice-mexc.alerts]
unavailable_after = 5
remind_every = "0"
send_resolved = false

[connections."bob.kucoin"]
exchange = "kucoin"
api_key = "cred:bob_key"
api_secret = "cred:bob_secret"
passphrase = "cred:bob_pass"
markets = []

[connections.carol]
exchange = "okx"
api_key = "k"
api_secret = "s"
alerts = {}
"#;

    /// An environment source with exactly `vars`, not the test process's own.
    fn environment_of(vars: &[(&str, &str)]) -> config::Environment {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        environment().source(Some(vars))
    }

    #[test]
    fn the_direct_pass_and_the_config_crate_read_a_file_alike() {
        let direct: RawConfig = toml::from_str(RICH).expect("direct");
        let merged = parse_with_environment(RICH, "x.toml", environment_of(&[])).expect("merged");
        assert_eq!(direct, merged);
        assert_eq!(direct.connections.len(), 3);
        assert_eq!(
            direct.alerts.email.as_ref().unwrap().to,
            ["ops@example.com"]
        );
    }

    /// RICH with values replaced by ones of every TOML type and notation: whenever the direct
    /// pass accepts the result, the config crate must read the same.
    #[test]
    fn whatever_the_direct_pass_accepts_the_config_crate_reads_alike() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let values = prop::sample::select(vec![
            "\"\"",
            "\"x\"",
            "\"\\u00e9\\t\"",
            "'C:\\dir'",
            "\"0 0 * * * *\"",
            "\"90d\"",
            "0",
            "-1",
            "7",
            "0x1F",
            "0o17",
            "0b11",
            "1_000",
            "+3",
            "1.5",
            "-0.0",
            "1e3",
            "2.5E-1",
            "inf",
            "-inf",
            "true",
            "false",
            "[]",
            "[\"spot\"]",
            "[\"futures\", \"spot\"]",
            "[1, -2]",
            "[\"a@b.c\"]",
            "{}",
            "{ unavailable_after = 4 }",
            "1979-05-27T07:32:00Z",
            "2026-01-01",
            "07:32:00",
        ]);
        let lines: Vec<&str> = RICH.lines().collect();
        let edits = prop::collection::vec((0..lines.len(), values), 1..5);
        let mut runner = TestRunner::new(Config {
            failure_persistence: None,
            ..Config::default()
        });
        runner
            .run(&edits, |edits| {
                let mut text: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
                for (line, value) in edits {
                    if let Some((key, _)) = lines[line].split_once(" = ") {
                        text[line] = format!("{key} = {value}");
                    }
                }
                let text = text.join("\n");
                if let Ok(direct) = toml::from_str::<RawConfig>(&text) {
                    let merged = parse_with_environment(&text, "x.toml", environment_of(&[]));
                    prop_assert_eq!(
                        Some(&direct),
                        merged.as_ref().ok(),
                        "{}\n{:?}",
                        text,
                        merged
                    );
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn overrides_are_merged_with_the_config_crate_semantics() {
        let raw = parse_with_environment(
            RICH,
            "x.toml",
            environment_of(&[
                ("KEYWARDEN__DAEMON__MAX_CONCURRENT_CHECKS", "8"),
                ("KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS", "-1001,-1002"),
                (
                    "KEYWARDEN__ALERTS__EMAIL__TO",
                    "a@example.com,b@example.com",
                ),
                ("KEYWARDEN__CONNECTIONS__CAROL__SCHEDULE", "0 0 * * * *"),
                ("UNRELATED", "1"),
            ]),
        )
        .unwrap();
        assert_eq!(raw.daemon.max_concurrent_checks, Some(8));
        assert_eq!(raw.alerts.telegram.unwrap().chat_ids, [-1001, -1002]);
        assert_eq!(
            raw.alerts.email.unwrap().to,
            ["a@example.com", "b@example.com"]
        );
        assert_eq!(
            raw.connections["carol"].schedule.as_deref(),
            Some("0 0 * * * *")
        );
    }

    #[test]
    fn overrides_are_recognised_as_the_config_crate_does() {
        for name in ["KEYWARDEN__DAEMON__SCHEDULE", "keywarden__daemon__schedule"] {
            assert!(is_override(name.as_ref()), "{name}");
        }
        for name in ["KEYWARDEN_LOG", "KEYWARDEN", "XKEYWARDEN__DAEMON", "HOME"] {
            assert!(!is_override(name.as_ref()), "{name}");
        }
    }

    #[test]
    fn what_the_direct_pass_refuses_is_decided_and_named_by_the_config_crate() {
        // Coerced by the config crate, as always: a number written as a string.
        let raw = parse("[daemon]\nmax_concurrent_checks = \"8\"\n", "x.toml").unwrap();
        assert_eq!(raw.daemon.max_concurrent_checks, Some(8));
        // Refused with the key path, not only a line.
        let message = parse("[daemon]\nschedul = \"x\"\n", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("unknown field `schedul`") && message.contains("for key `daemon`"),
            "{message}"
        );
        let message = parse("[daemon\n", "x.toml").unwrap_err().to_string();
        assert!(
            message.starts_with("x.toml: not valid TOML: TOML parse error at line 1"),
            "{message}"
        );
    }

    #[test]
    fn a_duplicate_key_is_named() {
        let text = "[connections.a]\nexchange = \"mexc\"\n\n[connections.a]\nexchange = \"mexc\"\n";
        let message = parse(text, "x.toml").unwrap_err().to_string();
        assert!(
            message.contains("line 4") && message.ends_with("duplicate key `a`"),
            "{message}"
        );
    }

    #[test]
    fn malformed_connection_names_are_refused_on_both_paths() {
        let text =
            "[connections.Alice]\nexchange = \"mexc\"\napi_key = \"k\"\napi_secret = \"s\"\n";
        let expected = "x.toml: connections.Alice: connection name \"Alice\" is not allowed";
        let direct = parse(text, "x.toml").unwrap_err().to_string();
        assert!(direct.starts_with(expected), "{direct}");
        let merged = parse_with_environment(text, "x.toml", environment_of(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(direct, merged);
    }
}
