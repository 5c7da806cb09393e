use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use tempfile::TempDir;

use super::record::key_prefix;
use super::*;
use crate::domain::{ExchangeKind, Permissions, Status, Verdict, Warning};

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

fn good_rights() -> Permissions {
    Permissions {
        read: Some(true),
        trade: Some(true),
        withdraw: Some(false),
        futures: Some(false),
    }
}

fn verdict(connection: &str, status: Status, at: DateTime<Utc>) -> Verdict {
    Verdict {
        connection: connection.to_string(),
        exchange: ExchangeKind::Mexc,
        status,
        permissions: good_rights(),
        ip_restricted: Some(true),
        expires_at: None,
        latency_ms: 120,
        message: format!("{status} at {at}"),
        remedy: None,
        warnings: Vec::new(),
        checked_at: at,
    }
}

fn connected(connection: &str, at: DateTime<Utc>) -> Verdict {
    verdict(connection, Status::Connected, at)
}

fn scratch() -> (TempDir, HistoryStore) {
    let dir = TempDir::new().unwrap();
    let store = HistoryStore::open(&dir.path().join("state")).unwrap();
    (dir, store)
}

/// `store` closed (its last handle dropped) and opened again from the same directory, as
/// after a restart.
fn reopened(dir: TempDir, store: HistoryStore) -> (TempDir, HistoryStore) {
    drop(store);
    let store = HistoryStore::open(&dir.path().join("state")).unwrap();
    (dir, store)
}

/// A scratch store that has recorded `history`, in order.
fn store_with(history: impl IntoIterator<Item = Verdict>) -> (TempDir, HistoryStore) {
    let (dir, store) = scratch();
    for verdict in history {
        store.record(&verdict).unwrap();
    }
    (dir, store)
}

#[test]
fn unchanged_verdicts_extend_one_span() {
    let (_dir, store) = scratch();
    let first = store.record(&connected("alice", t(0))).unwrap();
    assert!(first.new_span);
    assert_eq!(first.previous, None);
    for m in 1..=4 {
        let mut v = connected("alice", t(m * 5));
        v.latency_ms = 100 + m as u64; // details change, identity does not
        let r = store.record(&v).unwrap();
        assert!(!r.new_span, "check {m} should extend the span");
    }
    let spans = store.spans("alice", 10).unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.checks, 5);
    assert_eq!(span.first_seen, t(0));
    assert_eq!(span.last_seen, t(20));
    assert_eq!(span.latency_ms, 104, "the latest details are kept");
    assert_eq!(span.message, connected("alice", t(20)).message);
}

#[test]
fn a_changed_status_permission_or_warning_starts_a_new_span() {
    let (_dir, store) = scratch();
    store.record(&connected("alice", t(0))).unwrap();

    let r = store
        .record(&verdict("alice", Status::InvalidKey, t(5)))
        .unwrap();
    assert!(r.new_span, "status change");
    assert_eq!(r.previous.unwrap().status, Status::Connected);

    let mut withdraw = verdict("alice", Status::InvalidKey, t(10));
    withdraw.permissions.withdraw = Some(true);
    assert!(
        store.record(&withdraw).unwrap().new_span,
        "permission change"
    );

    let mut warned = withdraw.clone();
    warned.checked_at = t(15);
    warned.warnings = vec![Warning::KeyExpiresSoon];
    assert!(store.record(&warned).unwrap().new_span, "warning change");

    let mut unbound = warned.clone();
    unbound.checked_at = t(20);
    unbound.ip_restricted = Some(false);
    assert!(
        store.record(&unbound).unwrap().new_span,
        "IP binding change"
    );

    let mut same = unbound.clone();
    same.checked_at = t(25);
    same.expires_at = Some(t(10_000));
    same.remedy = Some("different words".into());
    assert!(
        !store.record(&same).unwrap().new_span,
        "expiry and remedy are details"
    );

    let spans = store.spans("alice", 10).unwrap();
    assert_eq!(spans.len(), 5);
    assert_eq!(spans[0].checks, 2);
    assert_eq!(spans[0].expires_at, Some(t(10_000)));
    assert!(spans[1..].iter().all(|s| s.checks == 1));
}

#[test]
fn spans_come_newest_first_and_respect_the_limit() {
    let statuses = [
        Status::Connected,
        Status::ExchangeUnavailable,
        Status::Connected,
        Status::WithdrawEnabled,
        Status::Connected,
    ];
    let (_dir, store) = store_with(
        (0..)
            .zip(statuses)
            .map(|(minute, status)| verdict("bob", status, t(minute))),
    );
    let all = store.spans("bob", 100).unwrap();
    let firsts: Vec<_> = all.iter().map(|s| s.first_seen).collect();
    assert_eq!(firsts, vec![t(4), t(3), t(2), t(1), t(0)]);
    let two = store.spans("bob", 2).unwrap();
    assert_eq!(two, all[..2].to_vec());
    assert!(store.spans("bob", 0).unwrap().is_empty());
    assert!(store.spans("nobody", 10).unwrap().is_empty());
}

#[test]
fn a_verdict_at_the_same_time_or_earlier_still_becomes_the_newest_span() {
    let (_dir, store) = store_with([
        connected("carol", t(10)),
        verdict("carol", Status::InvalidKey, t(10)),
        verdict("carol", Status::ClockSkew, t(3)),
    ]);
    let statuses: Vec<_> = store
        .spans("carol", 10)
        .unwrap()
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(
        statuses,
        vec![Status::ClockSkew, Status::InvalidKey, Status::Connected]
    );
}

#[test]
fn a_connection_name_that_prefixes_another_sees_only_its_own_history() {
    let (_dir, store) = store_with([
        connected("alice", t(0)),
        verdict("alice2", Status::InvalidKey, t(1)),
        verdict("alice2", Status::Connected, t(2)),
        verdict("alic", Status::RateLimited, t(3)),
    ]);

    let alice = store.spans("alice", 10).unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].connection, "alice");
    assert_eq!(store.spans("alice2", 10).unwrap().len(), 2);
    assert_eq!(store.spans("alic", 10).unwrap().len(), 1);
    assert_eq!(store.connections().unwrap(), ["alic", "alice", "alice2"]);
}

#[test]
fn state_keeps_the_last_verdict_and_streaks_that_reset_on_change() {
    let (_dir, store) = scratch();
    assert_eq!(store.last_verdict("dave").unwrap(), None);

    let down = |m| verdict("dave", Status::ExchangeUnavailable, t(m));
    let r1 = store.record(&down(0)).unwrap();
    let r2 = store.record(&down(5)).unwrap();
    let r3 = store.record(&down(10)).unwrap();
    assert_eq!((r1.same_status_checks, r1.unavailable_checks), (1, 1));
    assert_eq!((r2.same_status_checks, r2.unavailable_checks), (2, 2));
    assert_eq!((r3.same_status_checks, r3.unavailable_checks), (3, 3));
    assert_eq!(r3.previous, Some(down(5)));

    let up = store.record(&connected("dave", t(15))).unwrap();
    assert_eq!((up.same_status_checks, up.unavailable_checks), (1, 0));

    // A warning appearing starts a span but is not a status change.
    let mut warned = connected("dave", t(20));
    warned.warnings = vec![Warning::IpWhitelistMissing];
    let w = store.record(&warned).unwrap();
    assert!(w.new_span);
    assert_eq!((w.same_status_checks, w.unavailable_checks), (2, 0));

    assert_eq!(store.last_verdict("dave").unwrap(), Some(warned.clone()));
    let state = store.state("dave").unwrap().unwrap();
    assert_eq!(state.last, warned);
    assert_eq!(state.same_status_checks, 2);
    assert_eq!(state.unavailable_checks, 0);
}

#[test]
fn prune_removes_only_spans_last_seen_before_the_cutoff() {
    let (_dir, store) = store_with([
        // erin: an old span, then a current one.
        connected("erin", t(0)),
        connected("erin", t(10)),
        verdict("erin", Status::InvalidKey, t(100)),
        // frank: one long span that started before the cutoff but was seen after it.
        connected("frank", t(0)),
        connected("frank", t(200)),
        // gone: left the config long ago.
        connected("gone", t(1)),
    ]);

    assert_eq!(store.prune(t(50)).unwrap(), 2);

    let erin = store.spans("erin", 10).unwrap();
    assert_eq!(erin.len(), 1);
    assert_eq!(erin[0].status, Status::InvalidKey);
    assert_eq!(store.spans("frank", 10).unwrap()[0].checks, 2);
    assert!(store.spans("gone", 10).unwrap().is_empty());
    assert_eq!(store.last_verdict("gone").unwrap(), None);
    assert_eq!(store.connections().unwrap(), ["erin", "frank"]);
    assert_eq!(store.prune(t(50)).unwrap(), 0, "nothing left to prune");
}

#[test]
fn an_unchanged_verdict_after_its_span_was_pruned_starts_a_new_span() {
    let (dir, store) = store_with([connected("gina", t(0))]);
    // As if an older retention had removed the open span while the state stayed.
    store.history.clear().unwrap();
    let (_dir, store) = reopened(dir, store);
    let r = store.record(&connected("gina", t(5))).unwrap();
    assert!(r.new_span);
    assert_eq!(
        r.same_status_checks, 2,
        "the streak lives in state, not history"
    );
    assert_eq!(store.spans("gina", 10).unwrap().len(), 1);
}

#[test]
fn everything_is_there_after_a_reopen() {
    let (dir, store) = store_with([
        connected("hank", t(0)),
        connected("hank", t(5)),
        verdict("hank", Status::NoTradePermission, t(10)),
    ]);
    let (_dir, store) = reopened(dir, store);
    let spans = store.spans("hank", 10).unwrap();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[1].checks, 2);
    assert_eq!(
        store.last_verdict("hank").unwrap(),
        Some(verdict("hank", Status::NoTradePermission, t(10)))
    );
    let next = store
        .record(&verdict("hank", Status::NoTradePermission, t(15)))
        .unwrap();
    assert!(!next.new_span, "the open span continues across a restart");
    assert_eq!(next.same_status_checks, 2);
}

/// The spans as sled holds them, newest first, without the repeats kept in memory.
fn spans_on_disk(store: &HistoryStore, connection: &str) -> Vec<Span> {
    store
        .history
        .scan_prefix(key_prefix(connection).unwrap())
        .rev()
        .map(|entry| serde_json::from_slice(&entry.unwrap().1).unwrap())
        .collect()
}

#[test]
fn repeats_stay_in_memory_until_a_checkpoint() {
    let (_dir, store) = scratch();
    for m in 0..5 {
        store.record(&connected("jill", t(m))).unwrap();
    }
    assert_eq!(
        spans_on_disk(&store, "jill")[0].checks,
        1,
        "only the start is written"
    );
    let shown = store.spans("jill", 10).unwrap();
    assert_eq!(
        (shown[0].checks, shown[0].last_seen),
        (5, t(4)),
        "readers see memory"
    );
    assert_eq!(store.state("jill").unwrap().unwrap().same_status_checks, 5);

    store.checkpoint(Some("jill")).unwrap();
    let written = spans_on_disk(&store, "jill");
    assert_eq!(
        written, shown,
        "a checkpoint writes exactly what readers saw"
    );
}

#[test]
fn a_change_writes_the_closing_span_with_its_repeats() {
    let (_dir, store) = scratch();
    for m in 0..3 {
        store.record(&connected("kim", t(m))).unwrap();
    }
    let change = store
        .record(&verdict("kim", Status::InvalidKey, t(3)))
        .unwrap();
    assert!(change.new_span);
    assert_eq!(change.previous, Some(connected("kim", t(2))));
    let disk = spans_on_disk(&store, "kim");
    assert_eq!(disk.len(), 2);
    assert_eq!(disk[0].status, Status::InvalidKey);
    assert_eq!((disk[1].checks, disk[1].last_seen), (3, t(2)));
}

#[test]
fn repeats_are_written_when_the_last_handle_drops() {
    let (dir, store) = store_with((0..4).map(|m| connected("lou", t(m))));
    let clone = store.clone();
    drop(store);
    assert_eq!(
        spans_on_disk(&clone, "lou")[0].checks,
        1,
        "a clone still holds it"
    );
    let (_dir, store) = reopened(dir, clone);
    assert_eq!(spans_on_disk(&store, "lou")[0].checks, 4);
    assert_eq!(store.state("lou").unwrap().unwrap().same_status_checks, 4);
}

#[test]
fn unchanged_checks_write_nothing() {
    let (_dir, store) = scratch();
    store.record(&connected("ivan", t(0))).unwrap();
    store.flush().unwrap();
    let before = store.size_on_disk().unwrap();
    for m in 1..10_000 {
        store.record(&connected("ivan", t(m))).unwrap();
    }
    assert_eq!(store.size_on_disk().unwrap(), before);
    assert_eq!(store.spans("ivan", 10).unwrap()[0].checks, 10_000);
}

/// Runs the test `name` alone in a child process of this test binary, unless this is that
/// child. sled 0.34 shares one thread pool among every database in a process, and a long run
/// of checkpoints beside the other tests' databases can deadlock inside sled (a segment bump
/// waits for a truncation queued behind pool threads that wait for the bump's lock; reproduced
/// about once in ten runs of the lib tests). Alone it has not (30 runs). The daemon holds one
/// database, and `daemon::store_watch` restarts it should a flush ever stick.
fn in_own_process(name: &str) -> bool {
    const CHILD: &str = "KEYWARDEN_TEST_OWN_PROCESS";
    if std::env::var_os(CHILD).is_some() {
        return false;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{name} in its own process: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    true
}

#[test]
fn checkpoints_of_a_long_healthy_run_stay_within_sleds_working_space() {
    if in_own_process(
        "store::tests::checkpoints_of_a_long_healthy_run_stay_within_sleds_working_space",
    ) {
        return;
    }
    // sled is log-structured: a rewritten span is appended to the log and the old copy's
    // segment (512 KiB) is reclaimed later, so the files need a few segments of working space
    // whatever the data. 13,000 checks with a checkpoint after each (the worst case: the
    // daemon checkpoints every few minutes) must keep the files within that working space,
    // far below what keeping every check would take (measured: 2-3.6 MiB on a quiet machine,
    // 5.2-6.2 MiB with the other core busy, where sled reclaims old segments later).
    let (_dir, store) = scratch();
    let mut largest = 0;
    for m in 0..13_000 {
        store.record(&connected("ivan", t(m))).unwrap();
        store.open.checkpoint(None).unwrap();
        if m % 1_000 == 999 {
            largest = largest.max(store.size_on_disk().unwrap());
        }
    }
    let spans = store.spans("ivan", 10).unwrap();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].checks, 13_000);
    // Had every check been kept, 13,000 of them would take this much (span + state records).
    let per_check = serde_json::to_vec(&spans[0]).unwrap().len()
        + serde_json::to_vec(&store.state("ivan").unwrap().unwrap())
            .unwrap()
            .len();
    let accumulated = 13_000 * per_check as u64;
    let mib = 1024 * 1024;
    assert!(
        largest <= 7 * mib && accumulated > largest + 2 * mib,
        "over 13,000 checkpointed checks the files reached {largest} bytes \
         (keeping every check would take {accumulated})"
    );
}

#[test]
fn opening_a_store_that_is_in_use_says_another_keywarden_holds_it() {
    let (dir, _store) = scratch();
    let err = HistoryStore::open(&dir.path().join("state")).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("is another keywarden running?"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
}

#[test]
fn concurrent_records_for_many_connections_all_land() {
    let (_dir, store) = scratch();
    std::thread::scope(|s| {
        for c in 0..8 {
            let store = store.clone();
            s.spawn(move || {
                let name = format!("conn{c}");
                for m in 0..20 {
                    let status = if m % 5 == 0 {
                        Status::RateLimited
                    } else {
                        Status::Connected
                    };
                    store.record(&verdict(&name, status, t(m))).unwrap();
                }
            });
        }
    });
    for c in 0..8 {
        let spans = store.spans(&format!("conn{c}"), 100).unwrap();
        assert_eq!(spans.iter().map(|s| s.checks).sum::<u64>(), 20);
        assert_eq!(spans.len(), 8); // R C R C R C R C: four of each
    }
}

#[tokio::test]
async fn the_retention_task_prunes_old_history() {
    let (_dir, store) = scratch();
    let now = Utc::now();
    store
        .record(&connected("old", now - TimeDelta::days(10)))
        .unwrap();
    store.record(&connected("new", now)).unwrap();
    let task = spawn_retention(
        store.clone(),
        Duration::from_secs(24 * 3600),
        Duration::from_millis(10),
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !store.spans("old", 1).unwrap().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "retention never ran"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert_eq!(store.spans("new", 10).unwrap().len(), 1);
}
