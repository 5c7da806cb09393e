//! Config checks that guard the host: where `/metrics` listens, who can read secret files,
//! which transports may carry credentials, what errors may show of a URL, and values that
//! cannot be meant.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::{Config, ConfigError};

fn load(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml(text, Path::new("/etc/keywarden/keywarden.toml"))
}

/// The load warning that mentions `about`; a panic listing the warnings when none does.
#[track_caller]
fn warning<'a>(config: &'a Config, about: &str) -> &'a str {
    let found = config.warnings.iter().find(|w| w.contains(about));
    found.unwrap_or_else(|| panic!("no warning about {about:?} in {:?}", config.warnings))
}

fn warns_about(config: &Config, about: &str) -> bool {
    config.warnings.iter().any(|w| w.contains(about))
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
    warning(&config, "daemon.http_token");
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
    let warning = warning(&config, "readable by every user");
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
            !warns_about(&config, "readable by every user"),
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
    let warning = warning(&config, "secrets written into the config file");
    assert!(warning.starts_with("secrets written into the config file"));
    assert!(warning.contains("connections.c00.api_key, connections.c00.api_secret"));
    assert!(
        warning.contains("connections.c04.api_secret and 50 more"),
        "{warning}"
    );
    assert!(!warning.contains("connections.c05."), "{warning}");
    assert!(!warning.contains("literal-"), "no secret in the warning");
}

/// The error text of `text`, which must be refused.
fn refusal(text: &str) -> String {
    load(text).map(|_| ()).unwrap_err().to_string()
}

fn email(smtp_url: &str, extra: &str) -> String {
    format!(
        "[alerts.email]\nsmtp_url = \"{smtp_url}\"\nfrom = \"kw@example.com\"\nto = [\"ops@example.com\"]\n{extra}\n{CONNECTION}"
    )
}

const PASSWORD: &str = "username = \"kw\"\npassword = \"smtp-password-never-shown\"\n";

#[test]
fn smtp_credentials_need_an_encrypted_connection_or_a_loopback_relay_or_the_opt_in() {
    // Unencrypted to another host, with the password in the URL or in `password`: refused.
    for (url, extra) in [
        (
            "smtp://kw:url-password-never-shown@relay.example.com:25",
            "",
        ),
        ("smtp://relay.example.com:25", PASSWORD),
        ("smtp://relay.example.com:587?tls=opportunistic", PASSWORD),
        ("smtp://192.168.1.5", PASSWORD),
    ] {
        let message = refusal(&email(url, extra));
        assert!(
            message.contains("/etc/keywarden/keywarden.toml: alerts.email.smtp_url: ")
                && message.contains("unencrypted")
                && message.contains("alerts.email.insecure = true"),
            "{url}: {message}"
        );
        assert!(!message.contains("never-shown"), "{message}");
    }
    // Encrypted, on this host, without credentials, or opted in: accepted.
    for (url, extra) in [
        ("smtps://relay.example.com", PASSWORD),
        ("smtp://relay.example.com:587?tls=required", PASSWORD),
        ("smtp://127.0.0.1:2525", PASSWORD),
        ("smtp://127.0.0.53:25", PASSWORD),
        ("smtp://[::1]:25", PASSWORD),
        ("smtp://localhost:25", PASSWORD),
        ("smtp://relay.example.com:25", ""),
        (
            "smtp://relay.example.com:25",
            &format!("{PASSWORD}insecure = true\n"),
        ),
    ] {
        load(&email(url, extra)).unwrap_or_else(|e| panic!("{url} {extra}: {e}"));
    }
}

#[test]
fn plain_http_carrying_a_token_or_key_is_refused_unless_on_loopback_or_opted_in() {
    let telegram = |url: &str, extra: &str| {
        format!(
            "[alerts.telegram]\nbot_token = \"123:token\"\nchat_ids = [1]\napi_url = \"{url}\"\n{extra}\n{CONNECTION}"
        )
    };
    let message = refusal(&telegram("http://proxy.example.com:8081", ""));
    assert!(
        message
            .contains("alerts.telegram.api_url: \"http://proxy.example.com:8081/\" is plain http")
            && message.contains("bot token")
            && message.contains("alerts.telegram.insecure = true"),
        "{message}"
    );
    for (url, extra) in [
        ("http://127.0.0.1:8081", ""),
        ("http://localhost:8081", ""),
        ("http://[::1]:8081", ""),
        ("https://proxy.example.com", ""),
        ("http://proxy.example.com:8081", "insecure = true\n"),
    ] {
        load(&telegram(url, extra)).unwrap_or_else(|e| panic!("{url}: {e}"));
    }

    for field in ["base_url", "futures_base_url"] {
        let text = format!("{CONNECTION}{field} = \"http://proxy.example.com/mexc\"\n");
        let message = refusal(&text);
        assert!(
            message.contains(&format!(
                "connections.alice.{field}: \"http://proxy.example.com/mexc\" is plain http"
            )) && message.contains("API key")
                && message.contains("connections.alice.insecure = true"),
            "{message}"
        );
        load(&format!("{text}insecure = true\n")).expect("opted in");
        load(&format!(
            "{CONNECTION}{field} = \"http://127.0.0.1:18080/mexc\"\n"
        ))
        .expect("loopback");
        load(&format!(
            "{CONNECTION}{field} = \"https://proxy.example.com/mexc\"\n"
        ))
        .expect("https");
    }
}

#[test]
fn no_config_error_shows_a_password_written_into_a_url() {
    let cases = [
        // Not an SMTP URL at all.
        email("http://kw:url-password-never-shown@relay.example.com", ""),
        // Not a URL, but it may hold one.
        email("kw:url-password-never-shown@relay.example.com", ""),
        // Other URL keys.
        format!("{CONNECTION}base_url = \"ftp://kw:url-password-never-shown@proxy/\"\n"),
        format!(
            "[alerts.telegram]\nbot_token = \"1:t\"\nchat_ids = [1]\napi_url = \"http://kw:url-password-never-shown@proxy.example.com\"\n\n{CONNECTION}"
        ),
        // A syntax error quotes the line.
        email("smtp://kw:url-password-never-shown@relay.example.com\" x", ""),
    ];
    for text in &cases {
        let message = refusal(text);
        assert!(!message.contains("never-shown"), "{message}");
        assert!(
            message.contains("alerts.email.smtp_url")
                || message.contains("base_url")
                || message.contains("api_url")
                || message.contains("line 2"),
            "names the place: {message}"
        );
    }
}

#[test]
fn credentials_in_a_url_are_warned_about_by_key_and_masked_in_debug() {
    let text = format!(
        "[alerts.email]\nsmtp_url = \"smtps://kw:url-password-never-shown@relay.example.com\"\nfrom = \"kw@example.com\"\nto = [\"ops@example.com\"]\n\n\
         {CONNECTION}base_url = \"https://user:proxy-password-never-shown@proxy.example.com/mexc\"\n"
    );
    let config = load(&text).expect("works, with a warning");
    let warning = warning(&config, "credentials written into URLs");
    assert!(warning.starts_with("credentials written into URLs"));
    assert!(
        warning.ends_with(": alerts.email.smtp_url, connections.alice.base_url"),
        "{warning}"
    );
    let raw = super::parse::parse(&text, "x.toml").unwrap();
    for shown in [
        format!("{config:?}"),
        format!("{raw:?}"),
        warning.to_string(),
    ] {
        assert!(!shown.contains("never-shown"), "{shown}");
    }
    assert!(format!("{config:?}").contains("smtps://***:***@relay.example.com"));

    let plain = load(&email("smtps://relay.example.com", PASSWORD)).unwrap();
    assert!(!warns_about(&plain, "URLs"), "{:?}", plain.warnings);
}

#[test]
fn values_that_cannot_be_meant_are_refused_with_the_reason() {
    let daemon = |line: &str| format!("[daemon]\n{line}\n\n{CONNECTION}");
    for (line, key, reason) in [
        (
            "schedule = \"0 0 0 31 2 *\"",
            "daemon.schedule",
            "never fires",
        ),
        (
            "schedule = \"0 0 0 29 2 *\"",
            "daemon.schedule",
            "at least once a year",
        ),
        (
            "check_timeout = \"0s\"",
            "daemon.check_timeout",
            "shorter than 1s",
        ),
        (
            "check_timeout = \"500ms\"",
            "daemon.check_timeout",
            "shorter than 1s",
        ),
        (
            "check_timeout = \"1h\"",
            "daemon.check_timeout",
            "longer than 10m",
        ),
        ("state_dir = \"\"", "daemon.state_dir", "names no directory"),
        (
            "state_dir = \"  \"",
            "daemon.state_dir",
            "names no directory",
        ),
        (
            "history_retention = \"5m\"",
            "daemon.history_retention",
            "shorter than 1h",
        ),
    ] {
        let message = refusal(&daemon(line));
        assert!(
            message.contains(&format!("/etc/keywarden/keywarden.toml: {key}: "))
                && message.contains(reason),
            "{line}: {message}"
        );
    }
    for remind in ["30s", "59s", "1ms"] {
        let text = format!("[alerts]\nremind_every = \"{remind}\"\n\n{CONNECTION}");
        let message = refusal(&text);
        assert!(
            message.contains("alerts.remind_every: ") && message.contains("shorter than a minute"),
            "{message}"
        );
        let text =
            format!("{CONNECTION}\n[connections.alice.alerts]\nremind_every = \"{remind}\"\n");
        assert!(
            refusal(&text).contains("connections.alice.alerts.remind_every: "),
            "per connection too"
        );
    }
    let never = format!("{CONNECTION}schedule = \"0 0 0 31 2 *\"\n");
    assert!(refusal(&never).contains("connections.alice.schedule: \"0 0 0 31 2 *\" never fires"));

    // The bounds themselves, and the ways to say "off", are accepted.
    for line in [
        "check_timeout = \"1s\"",
        "check_timeout = \"10m\"",
        "history_retention = \"1h\"",
        "schedule = \"0 0 0 1 1 *\"",
        "schedule = \"0 0 0 31 * *\"",
        "schedule = \"* * * * * *\"",
    ] {
        load(&daemon(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    for remind in ["0", "0s", "1m", "90d"] {
        let text = format!("[alerts]\nremind_every = \"{remind}\"\n\n{CONNECTION}");
        load(&text).unwrap_or_else(|e| panic!("{remind}: {e}"));
    }
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

fn webhook(body: &str) -> String {
    format!("[[alerts.webhook]]\n{body}\n\n{CONNECTION}")
}

const WEBHOOK_SECRET: &str = "whsec-literal-0123456789abcdef";

#[test]
fn webhook_targets_load_with_defaults_and_a_redacted_debug() {
    let text = format!(
        "[[alerts.webhook]]\nurl = \"https://platform.example.com/keywarden\"\nsecret = \"{WEBHOOK_SECRET}\"\n\n\
         [[alerts.webhook]]\nurl = \"http://127.0.0.1:8080/hook\"\nsecret = \"{WEBHOOK_SECRET}\"\n\
         events = [\"opened\", \"resolved\"]\ntimeout = \"3s\"\n\n{CONNECTION}"
    );
    let config = load(&text).expect("valid webhooks");
    let [first, second] = &config.alerts.webhook[..] else {
        panic!("two targets: {:?}", config.alerts.webhook);
    };
    assert_eq!(first.events, super::WebhookEvents::ALL);
    assert_eq!(first.timeout, std::time::Duration::from_secs(10));
    assert!(second.events.opened && second.events.resolved && !second.events.reminder);
    assert_eq!(second.timeout, std::time::Duration::from_secs(3));
    assert_ne!(first.target(), second.target());
    assert!(first.target().starts_with("platform.example.com#"));
    // Events only: warning notices are for people.
    assert!(!first.events.includes(crate::alert::AlertKind::Notice));
    assert!(second.events.includes(crate::alert::AlertKind::Opened));
    assert!(!second.events.includes(crate::alert::AlertKind::Reminder));
    // The outbox names a target without what its URL may carry.
    let with_token = super::webhook_target("https://hooks.example.com/T0/B0/token-in-the-path?k=v");
    assert!(with_token.starts_with("hooks.example.com#"), "{with_token}");
    assert!(!with_token.contains("token-in-the-path"), "{with_token}");
    assert_ne!(
        with_token,
        super::webhook_target("https://hooks.example.com/T0/B0/other")
    );
    assert!(!format!("{config:?}").contains(WEBHOOK_SECRET));
    warning(&config, "alerts.webhook[0].secret");
}

#[test]
fn webhook_mistakes_are_refused_naming_the_target() {
    let secret = format!("secret = \"{WEBHOOK_SECRET}\"");
    for (body, expected) in [
        (
            format!(
                "url = \"https://h.example.com/\"\n{secret}\nevents = [\"opened\", \"paused\"]"
            ),
            "alerts.webhook[0].events[1]: unknown event \"paused\"",
        ),
        (
            format!("url = \"https://h.example.com/\"\n{secret}\nevents = []"),
            "alerts.webhook[0].events: an empty list",
        ),
        (
            format!("url = \"http://platform.example.com/hook\"\n{secret}"),
            "alerts.webhook[0].url: \"http://platform.example.com/hook\" is plain http",
        ),
        (
            format!("url = \"ftp://h.example.com/\"\n{secret}"),
            "alerts.webhook[0].url: \"ftp://h.example.com/\" is not an http(s) URL",
        ),
        (
            "url = \"https://h.example.com/\"\nsecret = \"short\"".to_string(),
            "alerts.webhook[0].secret: the secret has 5 characters",
        ),
        (
            format!("url = \"https://h.example.com/\"\n{secret}\ntimeout = \"5m\""),
            "alerts.webhook[0].timeout: \"5m\" is longer than 1m",
        ),
        (
            format!("url = \"https://h.example.com/\"\n{secret}\ntimeout = \"0s\""),
            "alerts.webhook[0].timeout: \"0s\" is shorter than 1s",
        ),
        (
            "url = \"https://h.example.com/\"\nsecret = \"env:KEYWARDEN_TEST_UNSET_WEBHOOK\""
                .to_string(),
            "alerts.webhook[0].secret:",
        ),
    ] {
        let message = refusal(&webhook(&body));
        assert!(message.contains(expected), "{body}\n=> {message}");
        assert!(!message.contains(WEBHOOK_SECRET), "{message}");
    }
    // Plain http to another host, when the operator says that network is trusted.
    let trusted = webhook(&format!(
        "url = \"http://platform.internal/hook\"\n{secret}\ninsecure = true"
    ));
    assert!(load(&trusted).is_ok());
    // The same URL twice would send every event twice.
    let twice = format!(
        "[[alerts.webhook]]\nurl = \"https://h.example.com/\"\n{secret}\n\n\
         [[alerts.webhook]]\nurl = \"https://h.example.com/\"\n{secret}\n\n{CONNECTION}"
    );
    let message = refusal(&twice);
    assert!(
        message.contains("alerts.webhook[1].url: \"https://h.example.com/\" is already the URL of alerts.webhook[0]"),
        "{message}"
    );
}

const STORE_KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn the_api_listens_on_loopback_or_a_socket_unless_opted_in() {
    let api = |extra: &str| {
        format!("[api]\ntokens = [\"tok-literal-never-shown\"]\nstore_key = \"{STORE_KEY}\"\n{extra}\n{CONNECTION}")
    };
    let config = load(&api("")).expect("defaults");
    let section = config.api.as_ref().expect("[api] present");
    assert_eq!(section.listen.to_string(), "127.0.0.1:9478");
    assert_eq!(section.tokens.len(), 1);
    assert!(!format!("{config:?}").contains("tok-literal-never-shown"));
    assert!(!format!("{config:?}").contains(STORE_KEY));
    let config = load(&api("listen = \"unix:/run/keywarden/api.sock\"")).unwrap();
    assert_eq!(
        config.api.unwrap().listen.to_string(),
        "unix:/run/keywarden/api.sock"
    );
    let message = load(&api("listen = \"0.0.0.0:9478\""))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("api.listen: 0.0.0.0:9478 is reachable")
            && message.contains("api.public = true"),
        "{message}"
    );
    assert!(load(&api("listen = \"0.0.0.0:9478\"\npublic = true")).is_ok());
    assert!(load(&api("listen = \"unix:relative.sock\"")).is_err());
    assert!(load(CONNECTION).unwrap().api.is_none(), "no [api]: no API");
}

#[test]
fn the_api_needs_tokens_and_a_32_byte_store_key_named_in_the_error() {
    let message = refusal("[api]\nstore_key = \"not a key!\"\n");
    assert!(
        message.contains("api.tokens: at least one bearer token"),
        "{message}"
    );
    assert!(
        message.contains("api.store_key: is not 32 bytes"),
        "{message}"
    );
    let message = refusal("[api]\ntokens = [\"t\"]\n");
    assert!(message.contains("api.store_key: is required"), "{message}");
    let message = refusal("[api]\ntokens = [\"env:KEYWARDEN_TEST_UNSET_TOKEN\"]\nstore_key = \"env:KEYWARDEN_TEST_UNSET_KEY\"\n");
    assert!(
        message
            .contains("api.tokens[0]: environment variable KEYWARDEN_TEST_UNSET_TOKEN is not set")
            && message.contains("api.store_key: environment variable KEYWARDEN_TEST_UNSET_KEY"),
        "{message}"
    );
}

#[test]
fn an_api_connection_is_validated_like_the_file_but_takes_no_secret_references() {
    let raw = |secret: &str, exchange: &str| -> super::RawConnection {
        serde_json::from_value(serde_json::json!({
            "exchange": exchange, "api_key": "mx0vAliceKey0000001", "api_secret": secret,
            "schedule": "0 */2 * * * *", "owner_email": "alice@example.com"
        }))
        .unwrap()
    };
    let connection = super::api_connection("alice", raw("s3cret", "mexc")).unwrap();
    assert_eq!(connection.schedule.unwrap().as_str(), "0 */2 * * * *");
    for reference in ["env:HOME", "file:/etc/passwd", "cred:x"] {
        let problems = super::api_connection("alice", raw(reference, "mexc")).unwrap_err();
        assert_eq!(problems[0].key, "connections.alice.api_secret");
        assert!(
            problems[0].message.contains("takes the secret itself"),
            "{problems:?}"
        );
    }
    let problems = super::api_connection("alice", raw("s", "nope")).unwrap_err();
    assert_eq!(problems[0].key, "connections.alice.exchange");
    let problems = super::api_connection("Alice!", raw("s", "mexc")).unwrap_err();
    assert!(
        problems[0].message.contains("is not allowed"),
        "{problems:?}"
    );
}

#[test]
fn require_withdraw_verified_is_per_connection_and_off_by_default() {
    let config = load(CONNECTION).expect("valid");
    assert!(!config.connections[0].require_withdraw_verified);
    let text = format!("{CONNECTION}require_withdraw_verified = true\n");
    let config = load(&text).expect("valid");
    assert!(config.connections[0].require_withdraw_verified);
}

#[test]
fn region_picks_a_site_the_exchange_documents_and_names_the_others() {
    let okx = "[connections.olga]\nexchange = \"okx\"\napi_key = \"k\"\napi_secret = \"s\"\npassphrase = \"p\"\n";
    let config = load(okx).expect("no region: the main site");
    assert_eq!(config.connections[0].region.name, "global");
    let config = load(&format!("{okx}region = \"eea\"\n")).expect("OKX EEA");
    assert_eq!(
        config.connections[0].region.spot_host,
        "https://eea.okx.com"
    );
    let message = load(&format!("{okx}region = \"eu\"\n"))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(
            "connections.olga.region: okx has no region \"eu\": use one of global, eea, us"
        ),
        "{message}"
    );
    // Bybit's EU site is "eu"; Binance has only its main site.
    let bybit = "[connections.b]\nexchange = \"bybit\"\napi_key = \"k\"\napi_secret = \"s\"\nregion = \"eu\"\n";
    assert_eq!(
        load(bybit).unwrap().connections[0].region.spot_host,
        "https://api.bybit.eu"
    );
    let binance = CONNECTION.replace("mexc", "binance") + "region = \"us\"\n";
    let message = load(&binance).unwrap_err().to_string();
    assert!(
        message
            .contains("connections.alice.region: binance has no region \"us\": use one of global"),
        "{message}"
    );
}
