//! Bad config never starts anything: `validate` and `check` exit 2 with a message that names
//! the file, the key and what is wrong, and never the secret.

use crate::support::{self, Scratch};

const GOOD_CONNECTION: &str = "[connections.alice-mexc]\nexchange = \"mexc\"\napi_key = \"env:ALICE_KEY\"\napi_secret = \"env:ALICE_SECRET\"\n";

const ENV: &[(&str, &str)] = &[
    ("ALICE_KEY", "mx0vAliceKey0000001"),
    ("ALICE_SECRET", "alice-secret-value-that-must-not-leak"),
];

/// A password written into a URL: never printed.
const URL_PASSWORD: &str = "url-password-never-shown";

/// Runs `validate` and `check` on `text` and asserts both exit 2 naming everything in `expect`.
async fn refused(text: &str, expect: &[&str]) {
    let scratch = Scratch::new();
    let path = scratch.write("keywarden.toml", text);
    let path = path.to_str().unwrap();
    for command in ["validate", "check"] {
        let run = support::run(&[command, "--config", path], ENV).await;
        assert_eq!(
            run.code, 2,
            "{command} must exit 2; stderr:\n{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(path),
            "{command}: names the file:\n{}",
            run.stderr
        );
        for word in expect {
            assert!(
                run.stderr.contains(word),
                "{command}: stderr lacks {word:?}:\n{}",
                run.stderr
            );
        }
        support::assert_absent(
            &run.stderr,
            &["alice-secret-value", URL_PASSWORD],
            &format!("{command}'s stderr"),
        );
        assert!(run.stdout.is_empty(), "nothing on stdout:\n{}", run.stdout);
    }
}

#[tokio::test]
async fn a_good_config_validates() {
    let run = validates(GOOD_CONNECTION, &[]).await;
    assert!(run.stdout.contains("ok, 1 connection"));
}

#[tokio::test]
async fn the_shipped_example_config_validates() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/keywarden.example.toml");
    // The example reads its secrets as systemd credentials (cred:kw_NAME), the way the shipped
    // unit's LoadCredential=kw:/etc/keywarden/credentials hands them over.
    let scratch = Scratch::new();
    for (name, value) in [
        ("kw_alice_mexc_key", "mx0vAliceKey0000001"),
        ("kw_alice_mexc_secret", "s1"),
        ("kw_bob_kucoin_key", "6705f5c311545b000157d3eb"),
        ("kw_bob_kucoin_secret", "s2"),
        ("kw_bob_kucoin_passphrase", "p"),
        ("kw_telegram_token", "123:abc"),
        ("kw_smtp_password", "pw\n"),
        ("kw_webhook_secret", "0123456789abcdef0123456789abcdef"),
    ] {
        scratch.write(name, value);
    }
    let dir = scratch.path().to_str().unwrap();
    let run = support::run(
        &["validate", "--config", example],
        &[("CREDENTIALS_DIRECTORY", dir)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        !run.stderr.contains("secrets written into the config file"),
        "no literal secrets in the example:\n{}",
        run.stderr
    );
}

/// `cred:NAME` reads `$CREDENTIALS_DIRECTORY/NAME` (systemd `LoadCredential=`); without the
/// variable, or without the file, the error names the key, the variable and the path.
#[tokio::test]
async fn systemd_credentials_are_read_and_their_absence_is_explained() {
    let text = GOOD_CONNECTION.replace("env:ALICE_SECRET", "cred:kw_alice_secret");
    let scratch = Scratch::new();
    let path = scratch.write("keywarden.toml", &text);
    let path = path.to_str().unwrap();
    let creds = scratch.path().join("credentials");
    std::fs::create_dir(&creds).unwrap();
    let creds_dir = creds.to_str().unwrap();
    let key = ("ALICE_KEY", "mx0vAliceKey0000001");

    // Not started by systemd: no CREDENTIALS_DIRECTORY.
    refused(
        &text,
        &[
            "connections.alice-mexc.api_secret",
            "cred:kw_alice_secret",
            "CREDENTIALS_DIRECTORY",
        ],
    )
    .await;

    // The unit has no LoadCredential for it: the file is missing.
    let run = support::run(
        &["validate", "--config", path],
        &[key, ("CREDENTIALS_DIRECTORY", creds_dir)],
    )
    .await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    let expected_path = creds.join("kw_alice_secret");
    support::assert_contains_all(
        &run.stderr,
        &[
            "connections.alice-mexc.api_secret",
            "cannot read credential kw_alice_secret",
            expected_path.to_str().unwrap(),
        ],
    );

    // Present (systemd writes it as the file, trailing newline and all): it validates.
    std::fs::write(
        creds.join("kw_alice_secret"),
        "alice-secret-value-that-must-not-leak\n",
    )
    .unwrap();
    let run = support::run(
        &["validate", "--config", path],
        &[key, ("CREDENTIALS_DIRECTORY", creds_dir)],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!run.stderr.contains("alice-secret-value"), "{}", run.stderr);
}

#[tokio::test]
async fn missing_file() {
    let run = support::run(
        &["validate", "--config", "/nonexistent/keywarden.toml"],
        &[],
    )
    .await;
    assert_eq!(run.code, 2);
    assert!(run
        .stderr
        .contains("/nonexistent/keywarden.toml: cannot read config file"));
}

#[tokio::test]
async fn bad_toml_names_the_line() {
    refused("[daemon\nschedule = 1\n", &["not valid TOML", "line 1"]).await;
}

#[tokio::test]
async fn unknown_keys_are_errors_not_ignored() {
    refused(
        "[daemon]\nschedul = \"0 * * * * *\"\n",
        &["unknown field `schedul`", "daemon"],
    )
    .await;
    let typo = format!("{GOOD_CONNECTION}api_secert = \"x\"\n");
    refused(
        &typo,
        &["unknown field `api_secert`", "connections.alice-mexc"],
    )
    .await;
    refused("[alarms]\nx = 1\n", &["unknown field `alarms`"]).await;
}

#[tokio::test]
async fn missing_secret_env_var_names_the_key_and_variable() {
    let text = GOOD_CONNECTION.replace("env:ALICE_SECRET", "env:NOT_SET_ANYWHERE");
    refused(
        &text,
        &[
            "connections.alice-mexc.api_secret",
            "environment variable NOT_SET_ANYWHERE is not set",
        ],
    )
    .await;
}

#[tokio::test]
async fn unreadable_secret_file_names_the_key_and_path() {
    let text = GOOD_CONNECTION.replace("env:ALICE_SECRET", "file:/nonexistent/secret");
    refused(
        &text,
        &[
            "connections.alice-mexc.api_secret",
            "cannot read secret file /nonexistent/secret",
        ],
    )
    .await;
}

#[tokio::test]
async fn secrets_from_files_are_read_and_trimmed() {
    let scratch = Scratch::new();
    let secret = scratch.write("secret", "alice-secret-value-that-must-not-leak\n");
    let text = GOOD_CONNECTION.replace("env:ALICE_SECRET", &format!("file:{}", secret.display()));
    validates(&text, &[]).await;
}

#[tokio::test]
async fn literal_secrets_work_but_are_warned_about_without_showing_them() {
    let text = GOOD_CONNECTION.replace("env:ALICE_SECRET", "alice-secret-value-that-must-not-leak");
    let run = validates(&text, &[]).await;
    assert!(
        run.stderr.contains("secrets written into the config file")
            && run.stderr.contains("connections.alice-mexc.api_secret"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("alice-secret-value"));
}

#[tokio::test]
async fn unknown_exchange() {
    let text = GOOD_CONNECTION.replace("\"mexc\"", "\"mtgox\"");
    refused(
        &text,
        &[
            "connections.alice-mexc.exchange",
            "unknown exchange \"mtgox\"",
        ],
    )
    .await;
}

#[tokio::test]
async fn bad_cron_in_daemon_and_connection() {
    refused(
        "[daemon]\nschedule = \"*/5 * * * *\"\n",
        &["daemon.schedule", "expected 6"],
    )
    .await;
    let text = format!("{GOOD_CONNECTION}schedule = \"0 61 * * * *\"\n");
    refused(
        &text,
        &[
            "connections.alice-mexc.schedule",
            "not a valid cron expression",
        ],
    )
    .await;
}

#[tokio::test]
async fn duplicate_connection_names() {
    let text = format!("{GOOD_CONNECTION}\n{GOOD_CONNECTION}");
    refused(&text, &["duplicate key `alice-mexc`", "line 6"]).await;
}

#[tokio::test]
async fn malformed_connection_names() {
    // Quoted TOML keys may hold anything; KeyWarden's names may not.
    for name in ["Alice", "\"alice mexc\"", "\"alice/mexc\"", "\"\""] {
        let text = GOOD_CONNECTION.replace("alice-mexc", name);
        refused(&text, &["is not allowed", "lower-case letters"]).await;
    }
}

#[tokio::test]
async fn every_problem_is_reported_at_once() {
    let text = "[daemon]\ncheck_timeout = \"soon\"\n\n[connections.a]\nexchange = \"kucoin\"\napi_key = \"env:ALICE_KEY\"\napi_secret = \"env:ALICE_SECRET\"\nmarkets = [\"options\"]\n";
    refused(
        text,
        &[
            "daemon.check_timeout",
            "connections.a.passphrase: kucoin keys need a passphrase",
            "connections.a.markets[0]: unknown market \"options\"",
        ],
    )
    .await;
}

#[tokio::test]
async fn environment_overrides_apply_and_are_validated() {
    let scratch = Scratch::new();
    let path = scratch.write("keywarden.toml", GOOD_CONNECTION);
    let path = path.to_str().unwrap();
    let mut env = ENV.to_vec();
    env.push(("KEYWARDEN__DAEMON__SCHEDULE", "not cron"));
    let run = support::run(&["validate", "--config", path], &env).await;
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("daemon.schedule"), "{}", run.stderr);
    env.pop();
    env.push(("KEYWARDEN__DAEMON__MAX_CONCURRENT_CHECKS", "8"));
    let run = support::run(&["validate", "--config", path], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[tokio::test]
async fn a_single_chat_id_or_recipient_from_the_environment_is_a_list_of_one() {
    let scratch = Scratch::new();
    let text = format!(
        "[alerts.telegram]\nbot_token = \"env:TOKEN\"\nchat_ids = [1, 2]\n\n\
         [alerts.email]\nsmtp_url = \"smtp://127.0.0.1:2525\"\nfrom = \"k@example.com\"\nto = [\"a@example.com\"]\n\n{GOOD_CONNECTION}"
    );
    let path = scratch.write("keywarden.toml", &text);
    let mut env = ENV.to_vec();
    env.extend([
        ("TOKEN", "123:abc"),
        ("KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS", "-100123"),
        ("KEYWARDEN__ALERTS__EMAIL__TO", "ops@example.com"),
    ]);
    let run = support::run(&["validate", "--config", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Several, comma-separated, still work; a chat id that is not a number is named.
    env.retain(|(k, _)| *k != "KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS");
    env.push(("KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS", "-1001,-1002"));
    let run = support::run(&["validate", "--config", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.retain(|(k, _)| *k != "KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS");
    env.push(("KEYWARDEN__ALERTS__TELEGRAM__CHAT_IDS", "ops-chat"));
    let run = support::run(&["validate", "--config", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("chat id \"ops-chat\" is not a number"),
        "{}",
        run.stderr
    );
}

/// `[alerts.email]` with `smtp_url` and the lines in `extra`, and a good connection.
fn email_section(smtp_url: &str, extra: &str) -> String {
    format!(
        "[alerts.email]\nsmtp_url = \"{smtp_url}\"\nfrom = \"kw@example.com\"\nto = [\"ops@example.com\"]\n{extra}\n{GOOD_CONNECTION}"
    )
}

/// `validate` accepts `text` (with [`ENV`] and `env`) and shows no URL password; returns the
/// run (its stderr holds the warnings).
async fn validates(text: &str, env: &[(&str, &str)]) -> support::Run {
    let scratch = Scratch::new();
    let path = scratch.write("keywarden.toml", text);
    let mut env = env.to_vec();
    env.extend_from_slice(ENV);
    let run = support::run(&["validate", "--config", path.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{text}\n{}", run.stderr);
    for output in [&run.stdout, &run.stderr] {
        assert!(!output.contains(URL_PASSWORD), "{output}");
    }
    run
}

/// Issue 19, item 4: credentials over a plaintext transport to another host are refused with
/// the key named, unless the section says `insecure = true`; loopback needs nothing.
#[tokio::test]
async fn plaintext_transports_with_credentials_are_refused_naming_the_key() {
    let password = "username = \"kw\"\npassword = \"env:SMTP_PASSWORD\"\n";
    refused(
        &email_section(
            &format!("smtp://kw:{URL_PASSWORD}@relay.example.com:25"),
            "",
        ),
        &[
            "alerts.email.smtp_url",
            "unencrypted",
            "alerts.email.insecure = true",
        ],
    )
    .await;
    refused(
        &email_section("smtp://relay.example.com:587?tls=opportunistic", password),
        &["alerts.email.smtp_url", "unencrypted", "tls=required"],
    )
    .await;
    let telegram = |url: &str, extra: &str| {
        format!(
            "[alerts.telegram]\nbot_token = \"env:TOKEN\"\nchat_ids = [1]\napi_url = \"{url}\"\n{extra}\n{GOOD_CONNECTION}"
        )
    };
    refused(
        &telegram("http://telegram-proxy.example.com", ""),
        &[
            "alerts.telegram.api_url",
            "plain http",
            "bot token",
            "alerts.telegram.insecure = true",
        ],
    )
    .await;
    for field in ["base_url", "futures_base_url"] {
        refused(
            &format!("{GOOD_CONNECTION}{field} = \"http://mexc-proxy.example.com/mexc\"\n"),
            &[
                &format!("connections.alice-mexc.{field}"),
                "plain http",
                "API key",
                "connections.alice-mexc.insecure = true",
            ],
        )
        .await;
    }

    // Encrypted, on loopback (the simulator, a local relay), or opted in: usable.
    let env = [("SMTP_PASSWORD", "smtp-pw"), ("TOKEN", "123:abc")];
    for text in [
        email_section("smtps://relay.example.com", password),
        email_section("smtp://relay.example.com:587?tls=required", password),
        email_section("smtp://127.0.0.1:2525", password),
        email_section("smtp://localhost:2525", password),
        email_section(
            "smtp://relay.example.com:25",
            &format!("{password}insecure = true\n"),
        ),
        telegram("http://127.0.0.1:8081", ""),
        telegram("http://telegram-proxy.example.com", "insecure = true\n"),
        format!("{GOOD_CONNECTION}base_url = \"http://[::1]:18080/mexc\"\n"),
        format!(
            "{GOOD_CONNECTION}base_url = \"http://mexc-proxy.example.com/mexc\"\ninsecure = true\n"
        ),
    ] {
        validates(&text, &env).await;
    }
}

/// Issue 19, item 6: a password written into a URL is never printed by `validate` or `check`,
/// whichever error quotes the URL, and a URL with credentials in it is warned about by key.
#[tokio::test]
async fn a_password_in_a_url_is_never_printed_and_is_warned_about() {
    // Refused for the plaintext transport, for the scheme, for not being a URL, for a
    // syntax error on its line: the key or line is named, the password is not.
    for (smtp_url, expect) in [
        (
            format!("smtp://kw:{URL_PASSWORD}@relay.example.com:25"),
            "alerts.email.smtp_url",
        ),
        (
            format!("http://kw:{URL_PASSWORD}@relay.example.com"),
            "alerts.email.smtp_url",
        ),
        (
            format!("kw:{URL_PASSWORD}@relay.example.com"),
            "alerts.email.smtp_url",
        ),
        (
            format!("smtps://kw:{URL_PASSWORD}@relay.example.com\" oops"),
            "line 2",
        ),
    ] {
        refused(&email_section(&smtp_url, ""), &[expect]).await;
    }
    refused(
        &format!("{GOOD_CONNECTION}base_url = \"ftp://kw:{URL_PASSWORD}@proxy.example.com\"\n"),
        &["connections.alice-mexc.base_url", "is not an http(s) URL"],
    )
    .await;
    let warnings = validates(
        &email_section(&format!("smtps://kw:{URL_PASSWORD}@relay.example.com"), ""),
        &[],
    )
    .await
    .stderr;
    assert!(
        warnings.contains("credentials written into URLs")
            && warnings.contains("alerts.email.smtp_url"),
        "{warnings}"
    );
}

/// Issue 19, should-fix: values that cannot be meant are refused with the reason.
#[tokio::test]
async fn values_that_cannot_be_meant_are_refused_with_the_reason() {
    for (section, line, key, reason) in [
        (
            "daemon",
            "schedule = \"0 0 0 31 2 *\"",
            "daemon.schedule",
            "never fires",
        ),
        (
            "daemon",
            "schedule = \"0 0 0 29 2 *\"",
            "daemon.schedule",
            "at least once a year",
        ),
        (
            "daemon",
            "check_timeout = \"0s\"",
            "daemon.check_timeout",
            "shorter than 1s",
        ),
        (
            "daemon",
            "check_timeout = \"2h\"",
            "daemon.check_timeout",
            "longer than 10m",
        ),
        (
            "daemon",
            "state_dir = \"\"",
            "daemon.state_dir",
            "names no directory",
        ),
        (
            "daemon",
            "history_retention = \"1m\"",
            "daemon.history_retention",
            "shorter than 1h",
        ),
        (
            "alerts",
            "remind_every = \"10s\"",
            "alerts.remind_every",
            "shorter than a minute",
        ),
    ] {
        refused(
            &format!("[{section}]\n{line}\n\n{GOOD_CONNECTION}"),
            &[key, reason],
        )
        .await;
    }
    refused(
        &format!("{GOOD_CONNECTION}schedule = \"0 0 0 30 2 *\"\n"),
        &["connections.alice-mexc.schedule", "never fires"],
    )
    .await;
    refused(
        &format!("{GOOD_CONNECTION}\n[connections.alice-mexc.alerts]\nremind_every = \"5s\"\n"),
        &[
            "connections.alice-mexc.alerts.remind_every",
            "shorter than a minute",
        ],
    )
    .await;
}
