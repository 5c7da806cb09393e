//! What the daemon leaves where other local users can see it: the log line of a refused reload,
//! systemd's `STATUS=` (readable by every user with `systemctl status`), and the state
//! directory. A password written into a URL never appears in the first two; the third is its
//! owner's only.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use keywarden::sim::Scenario;

use crate::support::{self, eventually, free_port, DaemonProcess, NotifySocket, OneKey, Scratch};

/// A password written into a URL.
const URL_PASSWORD: &str = "url-password-never-shown";

fn email_section(smtp_url: &str) -> String {
    format!(
        "[alerts.email]\nsmtp_url = \"{smtp_url}\"\nfrom = \"kw@example.com\"\nto = [\"ops@example.com\"]\n\n"
    )
}

/// Issue 19, item 6: a reload refused because of `smtp_url` logs the key and why, never the
/// password in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_reload_logs_the_key_but_not_the_password_in_a_url() {
    let alice = OneKey::start("exposure-reload", Scenario::Valid).await;
    let (scratch, metrics) = (&alice.scratch, alice.metrics);
    let state = scratch.path().join("state");
    let connection = alice.connection("alice");
    let config = scratch.write("keywarden.toml", &alice.daemon_config(&state, &connection));
    let mut daemon = DaemonProcess::start(&config, scratch.path().join("daemon.log"));
    eventually(Duration::from_secs(20), "the daemon serving", || async {
        support::metrics_up(metrics).await
    })
    .await;

    // Refused for the plaintext transport, then for the scheme: each reload's line names the
    // key, neither shows the password.
    for (n, smtp_url) in [
        format!("smtp://kw:{URL_PASSWORD}@relay.example.com:25"),
        format!("http://kw:{URL_PASSWORD}@relay.example.com"),
    ]
    .iter()
    .enumerate()
    {
        let text = alice.daemon_config(&state, &(email_section(smtp_url) + &connection));
        std::fs::write(&config, text).unwrap();
        daemon.signal("HUP");
        let log = eventually(
            Duration::from_secs(15),
            "the refusal in the log",
            || async {
                let log = daemon.log();
                (log.matches("reload refused").count() > n).then_some(log)
            },
        )
        .await;
        let refusal = log
            .lines()
            .filter(|l| l.contains("reload refused"))
            .nth(n)
            .unwrap();
        assert!(refusal.contains("alerts.email.smtp_url"), "{refusal}");
        assert!(!log.contains(URL_PASSWORD), "{log}");
    }
    support::metrics_up(metrics)
        .await
        .expect("still serving the old config");
    daemon.terminate(Duration::from_secs(10)).await;
    assert!(!daemon.log().contains(URL_PASSWORD));
}

/// Issue 19, item 6: a start refused because of `smtp_url` tells systemd why in `STATUS=`
/// (readable by every local user) with the key, never the password in the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn systemd_status_of_a_refused_start_names_the_key_but_not_the_password_in_a_url() {
    let scratch = Scratch::new();
    let text = support::mexc_daemon_config(
        &scratch.path().join("state"),
        free_port(),
        &(email_section(&format!("http://kw:{URL_PASSWORD}@relay.example.com"))
            + "[connections.alice]\nexchange = \"mexc\"\napi_key = \"mx0vAliceKey0000001\"\napi_secret = \"s\"\n"),
    );
    // A second problem: systemd's notify protocol takes one line per field, so both must
    // arrive on the STATUS= line.
    let text = support::edited(&text, "check_timeout = \"3s\"", "check_timeout = \"0s\"");
    let config = scratch.write("keywarden.toml", &text);
    let notify = NotifySocket::bind(scratch.path());
    let mut daemon = DaemonProcess::start_with_env(
        &config,
        scratch.path().join("daemon.log"),
        &[("NOTIFY_SOCKET", notify.path.to_str().unwrap())],
    );
    assert_eq!(
        daemon.exit_within(Duration::from_secs(15)).await,
        Some(2),
        "{}",
        daemon.log()
    );
    let status = notify.messages_until("STATUS=failed").await.pop().unwrap();
    let status_line = status
        .lines()
        .find(|l| l.starts_with("STATUS=failed"))
        .unwrap();
    assert!(
        status_line.contains("alerts.email.smtp_url")
            && status_line.contains("daemon.check_timeout"),
        "{status}"
    );
    assert!(!status.contains(URL_PASSWORD), "{status}");
    let log = daemon.log();
    assert!(log.contains("alerts.email.smtp_url"), "{log}");
    assert!(!log.contains(URL_PASSWORD), "{log}");
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Issue 19, should-fix: outside systemd the state directory is its owner's only, whatever
/// the umask: created 0700, an existing 0755 one restricted, sled's files 0600 (also those of a
/// store an earlier version left 0644).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_dir_and_its_files_are_private_to_their_owner() {
    let alice = OneKey::start("exposure-state", Scenario::Valid).await;
    let (scratch, metrics) = (&alice.scratch, alice.metrics);
    let connection = alice.connection("alice");
    let run = |state: &Path, log: &str| {
        let config = scratch.write("keywarden.toml", &alice.daemon_config(state, &connection));
        DaemonProcess::start(&config, scratch.path().join(log))
    };
    let stop = |mut daemon: DaemonProcess| async move {
        daemon.terminate(Duration::from_secs(10)).await;
    };

    // A new state dir (and its missing parent).
    let fresh = scratch.path().join("var/keywarden");
    let daemon = run(&fresh, "fresh.log");
    eventually(Duration::from_secs(20), "the daemon serving", || async {
        support::metrics_up(metrics).await
    })
    .await;
    stop(daemon).await;
    assert_eq!(mode(&fresh), 0o700, "a new state dir");
    for file in ["conf", "db"] {
        assert_eq!(mode(&fresh.join(file)) & 0o077, 0, "{file}");
    }

    // A store left open to everyone: restricted at the next start.
    set_mode(&fresh, 0o755);
    for file in ["conf", "db"] {
        set_mode(&fresh.join(file), 0o644);
    }
    let daemon = run(&fresh, "again.log");
    eventually(Duration::from_secs(20), "the daemon serving", || async {
        support::metrics_up(metrics).await
    })
    .await;
    assert_eq!(mode(&fresh), 0o700, "an existing state dir");
    for file in ["conf", "db"] {
        assert_eq!(mode(&fresh.join(file)), 0o600, "{file}");
    }
    stop(daemon).await;
}
