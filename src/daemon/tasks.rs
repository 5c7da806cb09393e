//! The daemon's tasks: the cron jobs (one per schedule, plus the heartbeat) and the periodic
//! ones (alert ticks, checkpoints).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use super::Daemon;
use crate::alert::engine::AlertEngine;
use crate::config::Config;
use crate::scheduler;
use crate::store::HistoryStore;

/// How often the scheduler's heartbeat job runs; `/healthz` and the systemd watchdog use it.
const HEARTBEAT_CRON: &str = "*/2 * * * * *";
/// How often reminders and time-driven incident changes are looked at.
const ALERT_TICK: Duration = Duration::from_secs(5);
/// How often the repeats kept in memory (open spans, alert streaks) are written; what a crash
/// can lose of them. Changes are written when they happen.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

/// The cron jobs registered for the current config: one per distinct schedule.
pub(super) struct Jobs {
    scheduler: JobScheduler,
    ids: tokio::sync::Mutex<BTreeMap<String, Uuid>>,
}

impl Jobs {
    /// Creates the scheduler with the heartbeat and one job per schedule of `config`, and
    /// starts it.
    pub(super) async fn start(daemon: &Arc<Daemon>, config: &Config) -> Result<Jobs, String> {
        let scheduler = JobScheduler::new()
            .await
            .map_err(|e| format!("cannot start the scheduler: {e}"))?;
        let beat = Arc::clone(daemon);
        let heartbeat = Job::new_async(HEARTBEAT_CRON, move |_, _| {
            let daemon = Arc::clone(&beat);
            Box::pin(async move { daemon.beat().await })
        })
        .map_err(|e| format!("cannot create the heartbeat job: {e}"))?;
        scheduler
            .add(heartbeat)
            .await
            .map_err(|e| format!("cannot add the heartbeat job: {e}"))?;
        let jobs = Jobs {
            scheduler: scheduler.clone(),
            ids: tokio::sync::Mutex::new(BTreeMap::new()),
        };
        jobs.replace(daemon, config).await;
        scheduler
            .start()
            .await
            .map_err(|e| format!("cannot start the scheduler: {e}"))?;
        Ok(jobs)
    }

    /// Stops the scheduler: no job fires from here on.
    pub(super) async fn shutdown(&self) {
        if let Err(e) = self.scheduler.clone().shutdown().await {
            tracing::warn!(error = %e, "scheduler did not stop cleanly");
        }
    }

    /// Makes the registered jobs match `config`'s schedules: adds the new, removes the gone.
    pub(super) async fn replace(&self, daemon: &Arc<Daemon>, config: &Config) {
        let wanted = scheduler::groups(config);
        let mut ids = self.ids.lock().await;
        let stale: Vec<String> = ids
            .keys()
            .filter(|cron| !wanted.contains_key(*cron))
            .cloned()
            .collect();
        for cron in stale {
            if let Some(id) = ids.remove(&cron) {
                if let Err(e) = self.scheduler.remove(&id).await {
                    tracing::error!(schedule = %cron, error = %e, "cannot remove schedule");
                }
            }
        }
        for cron in wanted.keys() {
            if ids.contains_key(cron) {
                continue;
            }
            let for_job = Arc::clone(daemon);
            let cron_for_job = cron.clone();
            let job = Job::new_async(cron.as_str(), move |_, _| {
                let daemon = Arc::clone(&for_job);
                let cron = cron_for_job.clone();
                Box::pin(async move { daemon.dispatch(&cron) })
            });
            match job {
                Ok(job) => match self.scheduler.add(job).await {
                    Ok(id) => {
                        ids.insert(cron.clone(), id);
                    }
                    Err(e) => tracing::error!(schedule = %cron, error = %e, "cannot add schedule"),
                },
                Err(e) => tracing::error!(schedule = %cron, error = %e, "cannot parse schedule"),
            }
        }
    }
}

impl Daemon {
    /// The heartbeat: the scheduler is alive. Also refreshes the store size and flushes sled.
    async fn beat(&self) {
        self.heartbeat
            .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
        if let Ok(bytes) = self.store.size_on_disk() {
            self.metrics.set_store_size(bytes);
        }
        // sled writes in the background: a flush is how a full or failing disk shows
        // up while checks only repeat (and cheap when there is nothing to write).
        // Timed (see `store_watch`): a flush that never returns makes the daemon unhealthy.
        if !self.store_watch.begin(chrono::Utc::now().timestamp()) {
            return;
        }
        let store = self.store.clone();
        let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
        self.store_watch.end();
        if let Ok(Err(e)) = flushed {
            tracing::error!(error = %e, "cannot write history");
        }
    }
}

/// Reminders and time-driven incident changes, every few seconds.
pub(super) fn spawn_alert_ticks(
    alerts: Arc<AlertEngine>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let ticks = tokio::time::interval(ALERT_TICK);
    spawn_periodic(ticks, shutdown, "alert tick", move || {
        alerts.tick(chrono::Utc::now()).map(drop)
    })
}

/// Writes what the store and the alert policy keep in memory between changes (see
/// `store::open_spans`) every `CHECKPOINT_EVERY`, so a crash loses at most that much of the
/// open spans' `last_seen` and counters, never a change. The first one is a period away:
/// nothing is in memory at start.
pub(super) fn spawn_checkpoints(
    store: HistoryStore,
    alerts: Arc<AlertEngine>,
    shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    let start = tokio::time::Instant::now() + CHECKPOINT_EVERY;
    let mut ticks = tokio::time::interval_at(start, CHECKPOINT_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    spawn_periodic(ticks, shutdown, "checkpoint", move || {
        checkpoint(&store, &alerts)
    })
}

/// Runs `job` on the blocking pool (it writes to sled) at every tick of `ticks` until
/// shutdown; a failure is logged as "`what` failed" and retried at the next tick.
pub(super) fn spawn_periodic<E: std::fmt::Display + Send + 'static>(
    mut ticks: tokio::time::Interval,
    mut shutdown: watch::Receiver<bool>,
    what: &'static str,
    job: impl Fn() -> Result<(), E> + Send + Sync + 'static,
) -> tokio::task::JoinHandle<()> {
    let job = Arc::new(job);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            let run = Arc::clone(&job);
            match tokio::task::spawn_blocking(move || run()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "{what} failed"),
                Err(e) => tracing::error!(error = %e, "{what} task failed"),
            }
        }
    })
}

/// The history store's and the alert policy's memory, written and flushed.
pub(super) fn checkpoint(
    store: &HistoryStore,
    alerts: &AlertEngine,
) -> Result<(), crate::store::StoreError> {
    alerts.checkpoint()?;
    store.checkpoint(None)
}
