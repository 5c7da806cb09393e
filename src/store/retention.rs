//! The retention task: prunes old history on a timer, so the store stays within
//! `daemon.history_retention` without the daemon thinking about it.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use tokio::task::JoinHandle;

use super::HistoryStore;

/// Spawns a task that prunes spans older than `retention` every `every` (the first pass runs at
/// once, so a daemon started after a long pause catches up). Pruning runs on the blocking pool
/// because sled does file I/O. A failed pass is logged and retried at the next tick; the task
/// runs until it is aborted (drop of the runtime, or `JoinHandle::abort` on shutdown).
pub fn spawn_retention(
    store: HistoryStore,
    retention: Duration,
    every: Duration,
) -> JoinHandle<()> {
    let retention = TimeDelta::from_std(retention).unwrap_or(TimeDelta::MAX);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(1)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let cutoff = Utc::now()
                .checked_sub_signed(retention)
                .unwrap_or(chrono::DateTime::<Utc>::MIN_UTC);
            let pass = store.clone();
            match tokio::task::spawn_blocking(move || pass.prune(cutoff)).await {
                Ok(Ok(0)) => {}
                Ok(Ok(removed)) => tracing::info!(removed, %cutoff, "pruned old history"),
                Ok(Err(e)) => tracing::warn!(error = %e, "history retention failed"),
                Err(e) => tracing::warn!(error = %e, "history retention task panicked"),
            }
        }
    })
}
