//! Config checks that guard the host: where `/metrics` listens, who can read secret files.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Config, ConfigError};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/keywarden/keywarden.toml"))
}

const CONNECTION: &str = "[connections.alice]\nexchange = \"mexc\"\napi_key = \"mx0vAliceKey0000001\"\napi_secret = \"alice-secret-literal\"\n";

#[test]
fn metrics_on_a_public_address_needs_the_opt_in() {
    let text = format!("[daemon]\nmetrics_listen = \"0.0.0.0:9477\"\n\n{CONNECTION}");
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("/etc/keywarden/keywarden.toml: daemon.metrics_listen: 0.0.0.0:9477"),
        "{message}"
    );
    assert!(
        message.contains("daemon.metrics_public = true"),
        "{message}"
    );
    for addr in ["192.168.1.10:9477", "[::]:9477"] {
        let text = format!("[daemon]\nmetrics_listen = \"{addr}\"\n\n{CONNECTION}");
        assert!(load(&text).is_err(), "{addr} accepted without the opt-in");
    }

    let text = format!(
        "[daemon]\nmetrics_listen = \"0.0.0.0:9477\"\nmetrics_public = true\n\
         http_token = \"a-literal-token-never-shown\"\n\n{CONNECTION}"
    );
    let config = load(&text).expect("opted in");
    assert_eq!(config.daemon.metrics_listen.to_string(), "0.0.0.0:9477");
    assert!(config.daemon.metrics_public);
    assert!(config.daemon.http_token.is_some());
    assert!(!format!("{config:?}").contains("a-literal-token-never-shown"));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("daemon.http_token")),
        "a literal token is warned about: {:?}",
        config.warnings
    );
}

#[test]
fn metrics_public_needs_a_token_for_history() {
    let text = format!(
        "[daemon]\nmetrics_listen = \"0.0.0.0:9477\"\nmetrics_public = true\n\n{CONNECTION}"
    );
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("keywarden.toml: daemon.http_token: daemon.metrics_public = true"),
        "{message}"
    );
    let text = format!("[daemon]\nhttp_token_for_metrics = true\n\n{CONNECTION}");
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("daemon.http_token_for_metrics"),
        "{message}"
    );
    let text = format!("[daemon]\nhttp_token = \"env:KEYWARDEN_TEST_UNSET_TOKEN\"\n\n{CONNECTION}");
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("daemon.http_token: environment variable KEYWARDEN_TEST_UNSET_TOKEN"),
        "{message}"
    );
}

#[test]
fn metrics_on_loopback_needs_nothing() {
    for addr in ["127.0.0.1:9477", "[::1]:9477", "127.0.0.2:1"] {
        let text = format!("[daemon]\nmetrics_listen = \"{addr}\"\n\n{CONNECTION}");
        let config = load(&text).unwrap_or_else(|e| panic!("{addr}: {e}"));
        assert!(!config.daemon.metrics_public);
    }
    let config = load(CONNECTION).unwrap();
    assert_eq!(config.daemon.metrics_listen.to_string(), "127.0.0.1:9477");
}

#[test]
fn a_world_readable_secret_file_is_warned_about_by_key_and_path_not_content() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("alice_secret");
    std::fs::write(&secret, "file-secret-value-never-shown\n").unwrap();
    let text = CONNECTION.replace(
        "alice-secret-literal",
        &format!("file:{}", secret.display()),
    );

    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = load(&text).unwrap();
    let warning = config
        .warnings
        .iter()
        .find(|w| w.contains("readable by every user"))
        .unwrap_or_else(|| panic!("no warning in {:?}", config.warnings));
    assert!(
        warning.contains("connections.alice.api_secret"),
        "{warning}"
    );
    assert!(warning.contains(&secret.display().to_string()), "{warning}");
    assert!(warning.contains("0644"), "{warning}");
    assert!(!warning.contains("file-secret-value"), "{warning}");

    // Group-readable is how a service group is given access: not warned about.
    for mode in [0o600, 0o640, 0o400] {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        let config = load(&text).unwrap();
        assert!(
            config
                .warnings
                .iter()
                .all(|w| !w.contains("readable by every user")),
            "mode {mode:o}: {:?}",
            config.warnings
        );
    }
}

#[test]
fn debug_of_every_config_type_is_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let pass = dir.path().join("smtp_password");
    std::fs::write(&pass, "smtp-password-never-shown").unwrap();
    let text = format!(
        "[alerts.telegram]\nbot_token = \"123:bot-token-never-shown\"\nchat_ids = [1]\n\n\
         [alerts.email]\nsmtp_url = \"smtp://127.0.0.1:25\"\nusername = \"kw\"\npassword = \"file:{}\"\n\
         from = \"kw@example.com\"\nto = [\"ops@example.com\"]\n\n\
         [connections.bob]\nexchange = \"kucoin\"\napi_key = \"kucoin-full-api-key-never-shown\"\n\
         api_secret = \"api-secret-never-shown\"\npassphrase = \"passphrase-never-shown\"\n",
        pass.display()
    );
    let config = load(&text).unwrap();
    let raw = super::parse::parse(&text, "x.toml").unwrap();
    let shown = [
        format!("{config:?}"),
        format!("{:?}", config.daemon),
        format!("{:?}", config.alerts),
        format!("{:?}", config.alerts.telegram),
        format!("{:?}", config.alerts.email),
        format!("{:?}", config.connections),
        format!("{:?}", config.connections[0].credentials),
        format!("{raw:?}"),
    ];
    for text in &shown {
        assert!(!text.contains("never-shown"), "a secret in Debug: {text}");
    }
    assert!(shown[0].contains("bob"), "Debug still shows the rest");
}

#[test]
fn the_literal_secret_warning_names_ten_keys_and_counts_the_rest() {
    let text: String = (0..30)
        .map(|i| {
            format!(
                "[connections.c{i:02}]\nexchange = \"mexc\"\napi_key = \"mx0vKey{i:013}\"\napi_secret = \"literal-{i}\"\n"
            )
        })
        .collect();
    let config = load(&text).expect("literal secrets work");
    let warning = config
        .warnings
        .iter()
        .find(|w| w.starts_with("secrets written into the config file"))
        .expect("warned");
    assert!(warning.contains("connections.c00.api_key, connections.c00.api_secret"));
    assert!(
        warning.contains("connections.c04.api_secret and 50 more"),
        "{warning}"
    );
    assert!(!warning.contains("connections.c05."), "{warning}");
    assert!(!warning.contains("literal-"), "no secret in the warning");
}

#[test]
fn telegram_allowed_user_ids_are_optional_but_never_empty() {
    let telegram = "[alerts.telegram]\nbot_token = \"123:abc\"\nchat_ids = [-100]\n";
    let config = load(&format!("{telegram}\n{CONNECTION}")).unwrap();
    assert_eq!(config.alerts.telegram.unwrap().allowed_user_ids, None);
    let text = format!("{telegram}allowed_user_ids = [42, 7]\n\n{CONNECTION}");
    let config = load(&text).unwrap();
    assert_eq!(
        config.alerts.telegram.unwrap().allowed_user_ids,
        Some(vec![42, 7])
    );
    let text = format!("{telegram}allowed_user_ids = []\n\n{CONNECTION}");
    let message = load(&text).unwrap_err().to_string();
    assert!(
        message.contains("alerts.telegram.allowed_user_ids: an empty list"),
        "{message}"
    );
}
