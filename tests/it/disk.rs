//! Disk faults under the store: a full disk while the daemon runs, and a read-only state dir
//! at start-up. The daemon says which path failed, keeps checking and serving `/metrics`, and
//! loses nothing it had stored once the disk is usable again.
//!
//! Both need a small filesystem of their own: a tmpfs mounted in a scratch dir (root only; the
//! tests and CI run as root). Where mounting is not permitted the tests say so and stop early.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{RunningSim, Scenario, SimKey};
use serde_json::Value;

use crate::support::{self, eventually, http_get, DaemonProcess, OneKey, Scratch};

/// A tmpfs of `size` mounted at `path`, unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// `None` (with the reason printed) when this process may not mount.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(path)
            .output()
            .expect("run mount");
        if !out.status.success() {
            eprintln!(
                "SKIPPED: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

struct Setup {
    /// First, so that it is unmounted before the scratch dir is removed.
    disk: Tmpfs,
    scratch: Scratch,
    sim: RunningSim,
    key: SimKey,
    config: PathBuf,
    state: PathBuf,
    metrics: SocketAddr,
}

/// A daemon config checking `alice` every second, its state dir on a tmpfs of `size` mounted at
/// `disk/` in the scratch dir, with `extra` config sections (e.g. `[alerts...]`) before the
/// connection; `None` where mounting is not permitted.
async fn setup_on_tmpfs(size: &str, extra: &str) -> Option<Setup> {
    let one = OneKey::start("disk-alice", Scenario::FuturesMissing).await;
    let state = one.scratch.path().join("disk").join("state");
    let text = one.daemon_config(&state, &format!("{extra}{}", one.connection("alice")));
    let config = one.scratch.write("keywarden.toml", &text);
    let disk = Tmpfs::mount(&one.scratch.path().join("disk"), size)?;
    Some(Setup {
        disk,
        scratch: one.scratch,
        sim: one.sim,
        key: one.key,
        config,
        state,
        metrics: one.metrics,
    })
}

impl Setup {
    /// Fills the disk under the state dir; returns the filler file.
    fn fill_disk(&self) -> PathBuf {
        fill(&self.disk.path)
    }

    fn start(&self, log: &str) -> DaemonProcess {
        DaemonProcess::start(&self.config, self.scratch.path().join(log))
    }

    fn play(&self, scenario: Scenario) {
        assert!(self
            .sim
            .state
            .set_scenario(ExchangeKind::Mexc, &self.key.api_key, scenario));
    }

    async fn history(&self) -> Option<Vec<Value>> {
        support::spans(&self.config, "alice").await
    }

    /// The history once it holds one span of two checks or more.
    async fn span_checked_twice(&self) -> Vec<Value> {
        eventually(Duration::from_secs(20), "a span checked twice", || async {
            self.history()
                .await
                .filter(|spans| spans.len() == 1 && spans[0]["checks"].as_u64() >= Some(2))
        })
        .await
    }

    async fn metrics(&self) -> Option<String> {
        support::metrics(self.metrics).await
    }

    async fn stop(&self, mut daemon: DaemonProcess) -> String {
        daemon.terminate(Duration::from_secs(15)).await;
        daemon.log()
    }
}

fn status_line(status: &str) -> String {
    format!(
        "keywarden_connection_status{{connection=\"alice\",exchange=\"mexc\",status=\"{status}\"}} 1"
    )
}

/// Fills the filesystem holding `dir` until it refuses another byte; returns the filler file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![0xa5u8; 4096];
    loop {
        if let Err(e) = file.write_all(&block).and_then(|_| file.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "ENOSPC expected, got {e}");
            return path;
        }
    }
}

/// Every span of `before` (by its start and status) is among `after`: nothing stored was lost.
fn assert_all_kept(before: &[Value], after: &[Value]) {
    let key_of = |span: &Value| (span["first_seen"].to_string(), span["status"].to_string());
    for span in before {
        assert!(
            after.iter().any(|a| key_of(a) == key_of(span)),
            "span lost: {span}\nafter: {after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_history_writes_loudly_checks_go_on_and_nothing_stored_is_lost() {
    let Some(s) = setup_on_tmpfs("4M", "").await else {
        return;
    };
    let daemon = s.start("first.log");
    let before = s.span_checked_twice().await;

    let filler = s.fill_disk();
    s.play(Scenario::WithdrawEnabled);
    // Checks go on and /metrics follows them, though the history cannot be written.
    eventually(
        Duration::from_secs(20),
        "withdraw_enabled on /metrics",
        || async {
            s.metrics()
                .await
                .filter(|m| m.contains(&status_line("withdraw_enabled")))
        },
    )
    .await;
    let failed = daemon
        .log_line(
            "cannot record check",
            Duration::from_secs(20),
            "the failed write in the log",
        )
        .await;
    assert!(
        failed.contains(&s.state.display().to_string()),
        "the log names the store's path: {failed}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        http_get(&format!("http://{}/healthz", s.metrics))
            .await
            .map(|r| r.0),
        Some(200),
        "the scheduler is alive: {}",
        daemon.log()
    );
    let log = s.stop(daemon).await;
    assert!(!log.contains("panicked"), "{log}");
    println!(
        "full disk: {} failed history writes logged, e.g. {failed}",
        log.matches("cannot record check").count()
    );

    // Space again: a restart finds every span stored before the disk filled up.
    std::fs::remove_file(filler).unwrap();
    let daemon = s.start("second.log");
    let after = eventually(Duration::from_secs(20), "a withdraw span", || async {
        s.history()
            .await
            .filter(|spans| spans.iter().any(|sp| sp["status"] == "withdraw_enabled"))
    })
    .await;
    assert_all_kept(&before, &after);
    s.stop(daemon).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_state_dir_stops_start_up_with_exit_2_naming_it_and_keeps_the_history() {
    let Some(s) = setup_on_tmpfs("8M", "").await else {
        return;
    };
    let daemon = s.start("first.log");
    let before = eventually(Duration::from_secs(20), "a first span", || async {
        s.history().await.filter(|spans| !spans.is_empty())
    })
    .await;
    s.stop(daemon).await;

    s.disk.remount("ro");
    let run = support::run(&["run", "--config", s.config.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains(&s.state.display().to_string()),
        "names the path: {}",
        run.stderr
    );
    assert!(
        run.stderr.to_lowercase().contains("read-only"),
        "says why: {}",
        run.stderr
    );
    // The history is still readable from a read-only store.
    let shown = s.history().await;
    println!(
        "read-only state dir: run exits 2 with {:?}; history readable: {}",
        run.stderr.trim(),
        shown.is_some()
    );

    // A state dir that does not exist yet on a read-only filesystem: the same, clearly.
    let fresh = s.config.with_file_name("fresh.toml");
    let text = support::edited(
        &std::fs::read_to_string(&s.config).unwrap(),
        &s.state.display().to_string(),
        &s.state.with_file_name("new").display().to_string(),
    );
    std::fs::write(&fresh, text).unwrap();
    let run = support::run(&["run", "--config", fresh.to_str().unwrap()], &[]).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("new"), "{}", run.stderr);

    s.disk.remount("rw");
    let daemon = s.start("second.log");
    let after = eventually(Duration::from_secs(20), "history after remount", || async {
        s.history().await.filter(|spans| !spans.is_empty())
    })
    .await;
    assert_all_kept(&before, &after);
    s.stop(daemon).await;
}

/// Issue 19, item 7: the alert engine moved its memory before the outbox commit, so after a
/// failed write the repeat verdict raised nothing and the alert was gone. Now the memory moves
/// only with the commit: every later check of the same verdict tries to queue the alert again,
/// and once the disk is usable (sled keeps failing after an I/O error until it is reopened,
/// so: a restart) the alert arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_that_cannot_be_queued_on_a_full_disk_is_tried_again_not_forgotten() {
    const TOKEN: &str = "123456:disk-test-token";
    const CHAT: i64 = -1001;
    let bot = crate::botapi_sim::BotApiSim::start(TOKEN).await;
    let alerts = format!(
        "[alerts.telegram]\nbot_token = \"{TOKEN}\"\nchat_ids = [{CHAT}]\napi_url = \"{}\"\n\n",
        bot.url()
    );
    let Some(s) = setup_on_tmpfs("4M", &alerts).await else {
        return;
    };
    let daemon = s.start("first.log");
    s.span_checked_twice().await;

    let filler = s.fill_disk();
    s.play(Scenario::WithdrawEnabled);
    // Checked every second: each check of the withdraw verdict tries to queue the alert.
    let tries = |log: &str| {
        log.lines()
            .filter(|l| l.contains("cannot queue alerts") && l.contains("alice"))
            .count()
    };
    eventually(
        Duration::from_secs(30),
        "three tries to queue the alert",
        || async { (tries(&daemon.log()) >= 3).then_some(()) },
    )
    .await;
    let log = s.stop(daemon).await;
    assert!(!log.contains("panicked"), "{log}");
    println!(
        "full disk: the withdraw alert was tried {} times while it could not be queued",
        tries(&log)
    );

    std::fs::remove_file(filler).unwrap();
    let daemon = s.start("second.log");
    let sent = eventually(Duration::from_secs(30), "the withdraw alert", || async {
        let sent: Vec<_> = bot
            .delivered()
            .into_iter()
            .filter(|m| m.chat_id == CHAT && m.text.contains("withdraw_enabled"))
            .collect();
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert!(sent[0].text.contains("alice"), "{}", sent[0].text);
    s.stop(daemon).await;
}
