//! Whether the store still answers. sled 0.34 can deadlock inside a write (a segment-tip bump
//! waits for a file truncation queued on sled's own thread pool, whose threads wait for the
//! lock the bump holds; seen under load in this repository's store tests, sled issue #1412).
//! A stuck store stops history and the alert outbox while checks and the scheduler's heartbeat
//! go on, so the watchdog would keep systemd content. The heartbeat's flush is timed here: one
//! that has not returned within [`STUCK_AFTER`] makes the daemon unhealthy, systemd's watchdog
//! restarts it, and sled recovers from its log at start (nothing acknowledged is lost).

use std::sync::atomic::{AtomicI64, Ordering};

/// A heartbeat flush writes what two seconds of checks left; a minute is far beyond any disk
/// that is merely slow, and well inside the unit's `WatchdogSec=60s` plus a restart.
pub const STUCK_AFTER_SECS: i64 = 60;

/// The flush in flight, if any: when it started (Unix seconds), 0 when none.
#[derive(Debug, Default)]
pub struct StoreWatch {
    started: AtomicI64,
}

impl StoreWatch {
    /// Marks a flush started at `now`; `false` when one is still in flight (then no second one
    /// is started: a stuck store must not pile up blocked threads).
    pub fn begin(&self, now: i64) -> bool {
        self.started
            .compare_exchange(0, now.max(1), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Marks the flush in flight finished.
    pub fn end(&self) {
        self.started.store(0, Ordering::Release);
    }

    /// How long the flush in flight has been running at `now`, when longer than
    /// [`STUCK_AFTER_SECS`].
    pub fn stuck_for(&self, now: i64) -> Option<i64> {
        let started = self.started.load(Ordering::Acquire);
        let running = now - started;
        (started != 0 && running > STUCK_AFTER_SECS).then_some(running)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flush_that_does_not_return_within_a_minute_is_stuck_and_not_doubled() {
        let watch = StoreWatch::default();
        assert_eq!(watch.stuck_for(1_000), None, "no flush, nothing stuck");
        assert!(watch.begin(1_000));
        assert!(!watch.begin(1_002), "one flush at a time");
        assert_eq!(
            watch.stuck_for(1_000 + STUCK_AFTER_SECS),
            None,
            "slow is not stuck"
        );
        assert_eq!(
            watch.stuck_for(1_000 + STUCK_AFTER_SECS + 5),
            Some(STUCK_AFTER_SECS + 5)
        );
        watch.end();
        assert_eq!(watch.stuck_for(5_000), None, "it returned");
        assert!(watch.begin(5_000));
    }
}
