//! The long-running service: cron-scheduled checks, history, metrics, reload and shutdown the
//! way systemd drives them.
//!
//! Shape (after mini-redis): one [`Daemon`] holds the shared state; the cron scheduler has one job
//! per distinct schedule plus a heartbeat; each firing hands connections to [`Daemon::dispatch`],
//! which releases each after its stable jitter. SIGHUP reloads, SIGTERM/SIGINT drains.

mod busy;
mod http;
mod systemd;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_cron_scheduler::{Job, JobScheduler};
use uuid::Uuid;

use crate::alert::delivery::Notifiers;
use crate::alert::engine::AlertEngine;
use crate::checker::Checker;
use crate::config::Config;
use crate::domain::{BoxFuture, Verdict};
use crate::metrics::Metrics;
use crate::notifier::CommandBackend;
use crate::scheduler;
use crate::shutdown::{Request, Signals};
use crate::store::HistoryStore;

/// How often the scheduler's heartbeat job runs; `/healthz` and the systemd watchdog use it.
const HEARTBEAT_CRON: &str = "*/2 * * * * *";
/// The scheduler counts as dead when its heartbeat is older than this.
const HEARTBEAT_STALE: Duration = Duration::from_secs(15);
/// How often reminders and time-driven incident changes are looked at.
const ALERT_TICK: Duration = Duration::from_secs(5);
/// How long start-up waits for a store that another process holds before giving up.
const STORE_LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often history past `history_retention` is pruned.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
/// How often the repeats kept in memory (open spans, alert streaks) are written; what a crash
/// can lose of them. Changes are written when they happen.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);
/// The longest SIGTERM waits for in-flight checks before flushing and exiting anyway.
const MAX_DRAIN: Duration = Duration::from_secs(5);

/// How the daemon is started: by `keywarden run`, or by `keywarden demo` with a listener it
/// already bound.
pub struct Options {
    pub config_path: PathBuf,
    pub listener: Option<TcpListener>,
}

/// The daemon's shared state.
pub struct Daemon {
    config_path: PathBuf,
    config: RwLock<Arc<Config>>,
    checker: RwLock<Arc<Checker>>,
    store: HistoryStore,
    metrics: Arc<Metrics>,
    alerts: Arc<AlertEngine>,
    notifiers: Arc<RwLock<Notifiers>>,
    /// Connections dispatched and not yet recorded: a connection is never checked twice at once.
    busy: Arc<busy::Busy>,
    /// Unix seconds of the scheduler's last heartbeat.
    heartbeat: AtomicI64,
    shutdown: watch::Sender<bool>,
}

/// What [`Daemon::check_and_record`] did with one connection.
struct Checked {
    verdict: Verdict,
    /// The verdict was not a quiet repeat: it was written to the store (a new span, or alert
    /// memory worth keeping) and logged at info level.
    changed: bool,
}

/// One firing of a schedule, summed up in one info line when its last check is done: ten
/// thousand healthy keys say "10000 checked, 0 changed" once a round, not ten thousand lines.
/// Each check's own line is at debug level unless it changed something.
struct Round {
    schedule: String,
    /// The time between two firings of the schedule: a round that takes longer overran.
    period: Duration,
    metrics: Arc<Metrics>,
    started: std::time::Instant,
    left: std::sync::atomic::AtomicUsize,
    checked: std::sync::atomic::AtomicUsize,
    changed: std::sync::atomic::AtomicUsize,
    problems: std::sync::atomic::AtomicUsize,
    skipped: std::sync::atomic::AtomicUsize,
}

impl Round {
    fn new(schedule: &str, period: Duration, metrics: Arc<Metrics>, connections: usize) -> Round {
        Round {
            schedule: schedule.to_string(),
            period,
            metrics,
            started: std::time::Instant::now(),
            left: connections.into(),
            checked: 0.into(),
            changed: 0.into(),
            problems: 0.into(),
            skipped: 0.into(),
        }
    }

    /// A connection skipped its turn: its previous check was still queued or running.
    fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        self.metrics.check_skipped(&self.schedule);
        self.done(None);
    }

    /// One connection of the round is done: checked, or `None` when it was skipped (still
    /// busy, removed by a reload, or shutdown came first).
    fn done(&self, checked: Option<&Checked>) {
        if let Some(checked) = checked {
            self.checked.fetch_add(1, Ordering::Relaxed);
            if checked.changed {
                self.changed.fetch_add(1, Ordering::Relaxed);
            }
            if checked.verdict.status != crate::domain::Status::Connected {
                self.problems.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            let took = self.started.elapsed();
            self.metrics.round_finished(&self.schedule, took);
            tracing::info!(
                schedule = %self.schedule,
                checked = self.checked.load(Ordering::Relaxed),
                not_connected = self.problems.load(Ordering::Relaxed),
                changed = self.changed.load(Ordering::Relaxed),
                skipped = self.skipped.load(Ordering::Relaxed),
                took_ms = took.as_millis() as u64,
                period_ms = self.period.as_millis() as u64,
                overran = took > self.period,
                "round done"
            );
        }
    }
}

impl Daemon {
    fn config(&self) -> Arc<Config> {
        self.config.read().expect("config lock").clone()
    }

    fn checker(&self) -> Arc<Checker> {
        self.checker.read().expect("checker lock").clone()
    }

    /// Whether the scheduler is alive: its heartbeat job ran recently.
    pub fn healthy(&self) -> bool {
        let age = chrono::Utc::now().timestamp() - self.heartbeat.load(Ordering::Relaxed);
        age <= HEARTBEAT_STALE.as_secs() as i64 && !*self.shutdown.borrow()
    }

    /// A firing of `schedule`: each of its connections is checked after its jitter, unless its
    /// previous check is still running. The round is summed up in one log line at its end.
    ///
    /// One task releases the round's connections in jitter order and spawns each check when
    /// its slot comes (jitter rounded to `scheduler::RELEASE_SLOT`), so ten thousand
    /// connections cost one timer at a time and one wake-up per slot, and only the checks in
    /// flight hold memory, not ten thousand sleeping tasks.
    fn dispatch(self: &Arc<Self>, cron: &str) {
        let config = self.config();
        let Some((schedule, names)) = scheduler::groups(&config).remove(cron) else {
            return;
        };
        let period = scheduler::period(&schedule, chrono::Utc::now()).unwrap_or(Duration::ZERO);
        let mut due: Vec<(Duration, String)> = names
            .into_iter()
            .map(|name| (scheduler::release_slot(&name, period), name))
            .collect();
        due.sort_unstable();
        let round = Arc::new(Round::new(
            cron,
            period,
            Arc::clone(&self.metrics),
            due.len(),
        ));
        let daemon = Arc::clone(self);
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut shutdown = daemon.shutdown.subscribe();
            let mut slot = None;
            for (delay, name) in due {
                if slot != Some(delay) {
                    tokio::select! {
                        _ = tokio::time::sleep_until(start + delay) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    slot = Some(delay);
                }
                daemon.release(name, Arc::clone(&round));
            }
        });
    }

    /// Starts one connection's check of a round, unless its previous check is still queued
    /// or running: then this turn is skipped (and counted), never doubled.
    fn release(self: &Arc<Self>, name: String, round: Arc<Round>) {
        let Some(guard) = self.busy.claim(&name) else {
            tracing::debug!(connection = %name, "previous check still in progress; skipped this turn");
            round.skipped();
            return;
        };
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            // Released when this task ends, however it ends (issue 19: a panic used to leave
            // the connection marked busy for good).
            let _busy = guard;
            let checked = daemon.check_and_record(&name).await;
            round.done(checked.as_ref());
        });
    }

    /// Checks one connection (as configured now), records the verdict and feeds it to the
    /// alert policy. `None` when no connection has that name (any more).
    async fn check_and_record(&self, name: &str) -> Option<Checked> {
        let connection = self.config().connection(name).cloned()?;
        let verdict = self.checker().check(&connection).await;
        self.metrics.observe(&verdict);
        // The common case, a healthy key found as it was, touches memory only: the store folds
        // the repeat into the open span and the alert policy has nothing to write, so it stays
        // on this thread. Anything else needs sled (and maybe an fsync): one hand-off to the
        // blocking pool for both, history first.
        let folded = self.store.record_repeat(&verdict).is_some();
        if folded && self.alerts.observe_quietly(&verdict) {
            tracing::debug!(
                connection = %verdict.connection,
                status = %verdict.status,
                latency_ms = verdict.latency_ms,
                "checked, unchanged"
            );
            return Some(Checked {
                verdict,
                changed: false,
            });
        }
        tracing::info!(
            connection = %verdict.connection,
            exchange = %verdict.exchange,
            status = %verdict.status,
            latency_ms = verdict.latency_ms,
            "checked"
        );
        let (store, alerts, to_record) = (
            self.store.clone(),
            Arc::clone(&self.alerts),
            verdict.clone(),
        );
        let written = tokio::task::spawn_blocking(move || {
            // A repeat folded in above is recorded already.
            let recorded = match folded {
                true => Ok(()),
                false => store.record_change(&to_record).map(drop),
            };
            (recorded, alerts.observe(&to_record))
        })
        .await;
        match written {
            Ok((recorded, queued)) => {
                if let Err(e) = recorded {
                    tracing::error!(connection = %name, error = %e, "cannot record check");
                }
                match queued {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(connection = %name, alerts = n, "alerts queued"),
                    Err(e) => {
                        tracing::error!(connection = %name, error = %e, "cannot queue alerts")
                    }
                }
            }
            Err(e) => tracing::error!(connection = %name, error = %e, "record task failed"),
        }
        Some(Checked {
            verdict,
            changed: true,
        })
    }

    /// Loads the config again; a bad file keeps the running one. Returns whether it changed.
    async fn reload(self: &Arc<Self>, jobs: &Jobs) -> bool {
        systemd::reloading();
        let result = Config::load(&self.config_path);
        let changed = match result {
            Err(e) => {
                tracing::error!("reload refused, keeping the running config: {e}");
                false
            }
            Ok(new) => {
                let old = self.config();
                for warning in &new.warnings {
                    tracing::warn!("{}: {warning}", new.source.display());
                }
                if new.daemon.metrics_listen != old.daemon.metrics_listen
                    || new.daemon.state_dir != old.daemon.state_dir
                {
                    tracing::warn!(
                        "metrics_listen and state_dir changes take effect at the next restart"
                    );
                }
                for gone in old
                    .connections
                    .iter()
                    .filter(|c| new.connection(&c.name).is_none())
                {
                    self.metrics.forget(&gone.name, gone.exchange);
                }
                match build_notifiers(&new) {
                    Ok(notifiers) => *self.notifiers.write().expect("notifiers lock") = notifiers,
                    Err(e) => tracing::error!("alert channels kept as they were: {e}"),
                }
                if let Err(e) = self.alerts.reconfigure(&new) {
                    tracing::error!(error = %e, "cannot apply the new alert settings");
                }
                warn_overcommits(&new);
                let new = Arc::new(new);
                *self.checker.write().expect("checker lock") =
                    Arc::new(Checker::new(&new.daemon).with_metrics(Arc::clone(&self.metrics)));
                self.metrics.set_schedules(&schedule_periods(&new));
                self.metrics
                    .set_exchanges(new.connections.iter().map(|c| c.exchange));
                *self.config.write().expect("config lock") = new.clone();
                jobs.replace(self, &new).await;
                tracing::info!(connections = new.connections.len(), "config reloaded");
                true
            }
        };
        systemd::ready(&self.status_line());
        changed
    }

    /// The one-line summary systemd shows in `systemctl status`.
    fn status_line(&self) -> String {
        let config = self.config();
        format!(
            "watching {} connection(s) on {} schedule(s)",
            config.connections.len(),
            scheduler::groups(&config).len()
        )
    }
}

/// The cron jobs registered for the current config: one per distinct schedule.
struct Jobs {
    scheduler: JobScheduler,
    ids: tokio::sync::Mutex<BTreeMap<String, Uuid>>,
}

impl Jobs {
    /// Makes the registered jobs match `config`'s schedules: adds the new, removes the gone.
    async fn replace(&self, daemon: &Arc<Daemon>, config: &Config) {
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

/// Runs the daemon until SIGTERM/SIGINT. Exit code 2 for a config or start-up error.
pub async fn run(options: Options) -> ExitCode {
    match start(options).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            systemd::status(&format!("failed: {message}"));
            ExitCode::from(2)
        }
    }
}

async fn start(options: Options) -> Result<ExitCode, String> {
    let mut signals =
        Signals::install().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let config = Config::load(&options.config_path).map_err(|e| e.to_string())?;
    for warning in &config.warnings {
        tracing::warn!("{}: {warning}", options.config_path.display());
    }
    warn_overcommits(&config);
    let notifiers = Arc::new(RwLock::new(build_notifiers(&config)?));
    let store = open_store(&config.daemon.state_dir).await?;
    let alerts = {
        let (store, config) = (store.clone(), config.clone());
        tokio::task::spawn_blocking(move || AlertEngine::open(store, &config))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?
    };
    let alerts = Arc::new(alerts);
    let listener = match options.listener {
        Some(l) => l,
        None => TcpListener::bind(config.daemon.metrics_listen)
            .await
            .map_err(|e| {
                format!(
                    "daemon.metrics_listen: cannot listen on {}: {e}",
                    config.daemon.metrics_listen
                )
            })?,
    };
    let listen_addr: SocketAddr = listener.local_addr().map_err(|e| e.to_string())?;
    let metrics = Arc::new(Metrics::new());
    let (shutdown, _) = watch::channel(false);
    let config = Arc::new(config);
    let daemon = Arc::new(Daemon {
        config_path: options.config_path.clone(),
        checker: RwLock::new(Arc::new(
            Checker::new(&config.daemon).with_metrics(Arc::clone(&metrics)),
        )),
        config: RwLock::new(config.clone()),
        store: store.clone(),
        metrics: metrics.clone(),
        alerts: Arc::clone(&alerts),
        notifiers: Arc::clone(&notifiers),
        busy: Arc::default(),
        heartbeat: AtomicI64::new(chrono::Utc::now().timestamp()),
        shutdown,
    });
    restore_metrics(&daemon);
    metrics.set_schedules(&schedule_periods(&config));
    metrics.set_exchanges(config.connections.iter().map(|c| c.exchange));
    // Serve before anything else: from here on the store is ours, and `keywarden history`
    // reaches it through this server.
    let server = tokio::spawn(http::serve(listener, Arc::clone(&daemon)));

    let mut scheduler = JobScheduler::new()
        .await
        .map_err(|e| format!("cannot start the scheduler: {e}"))?;
    let beat = Arc::clone(&daemon);
    let heartbeat = Job::new_async(HEARTBEAT_CRON, move |_, _| {
        let daemon = Arc::clone(&beat);
        Box::pin(async move {
            daemon
                .heartbeat
                .store(chrono::Utc::now().timestamp(), Ordering::Relaxed);
            if let Ok(bytes) = daemon.store.size_on_disk() {
                daemon.metrics.set_store_size(bytes);
            }
            // sled writes in the background: a flush is how a full or failing disk shows
            // up while checks only repeat (and cheap when there is nothing to write).
            let store = daemon.store.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || store.flush()).await {
                tracing::error!(error = %e, "cannot write history");
            }
        })
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
    jobs.replace(&daemon, &config).await;
    scheduler
        .start()
        .await
        .map_err(|e| format!("cannot start the scheduler: {e}"))?;

    // Retention is read at start; a reload that changes it takes effect at the next restart.
    let retention = crate::store::spawn_retention(
        store.clone(),
        config.daemon.history_retention,
        RETENTION_EVERY,
    );
    let watchdog = systemd::spawn_watchdog(Arc::clone(&daemon));
    let delivery = crate::alert::delivery::spawn(
        store.clone(),
        Arc::clone(&notifiers),
        Arc::clone(&metrics),
        alerts.queued(),
        daemon.shutdown.subscribe(),
    );
    let alert_ticks = spawn_alert_ticks(Arc::clone(&alerts), daemon.shutdown.subscribe());
    let checkpoints = spawn_checkpoints(
        store.clone(),
        Arc::clone(&alerts),
        daemon.shutdown.subscribe(),
    );
    tracing::info!(
        listen = %listen_addr,
        connections = config.connections.len(),
        "keywarden running"
    );
    systemd::ready(&daemon.status_line());

    let mut commands = spawn_commands(&daemon);
    while signals.next().await == Request::Reload {
        if daemon.reload(&jobs).await {
            if let Some(old) = commands.take() {
                old.abort();
            }
            commands = spawn_commands(&daemon);
        }
    }
    if let Some(commands) = commands {
        commands.abort();
    }

    tracing::info!("stopping: no new checks, draining the ones in flight");
    systemd::stopping();
    let _ = daemon.shutdown.send(true);
    if let Err(e) = scheduler.shutdown().await {
        tracing::warn!(error = %e, "scheduler did not stop cleanly");
    }
    let drain = daemon.config().daemon.check_timeout.min(MAX_DRAIN);
    let deadline = tokio::time::Instant::now() + drain;
    while !daemon.busy.is_empty() {
        if tokio::time::Instant::now() >= deadline {
            let left = daemon.busy.len();
            tracing::warn!(
                left,
                "checks still running at the drain deadline; not recorded"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.abort();
    retention.abort();
    watchdog.abort();
    alert_ticks.abort();
    // A checkpoint in progress finishes on the blocking pool; the final one below follows it.
    checkpoints.abort();
    // Delivery saw the shutdown signal; a send still in flight is abandoned and its alert stays
    // in the outbox for the next start (at most one duplicate, never a loss).
    let _ = tokio::time::timeout(Duration::from_secs(2), delivery).await;
    let flushed = tokio::task::spawn_blocking(move || checkpoint(&store, &alerts)).await;
    match flushed {
        Ok(Ok(())) => tracing::info!("history flushed; stopped"),
        Ok(Err(e)) => tracing::error!(error = %e, "cannot flush history"),
        Err(e) => tracing::error!(error = %e, "flush task failed"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Says, as a warning, which schedules need more of an exchange's request budget than one
/// period gives (see [`crate::load`]).
fn warn_overcommits(config: &Config) {
    for overcommit in crate::load::overcommits_now(config) {
        tracing::warn!("{}: {overcommit}", config.source.display());
    }
}

/// Each schedule of `config` with its period, for the schedule metrics.
fn schedule_periods(config: &Config) -> Vec<(String, Duration)> {
    let now = chrono::Utc::now();
    scheduler::groups(config)
        .into_iter()
        .filter_map(|(cron, (schedule, _))| Some((cron, scheduler::period(&schedule, now)?)))
        .collect()
}

/// Opens the store, waiting a little while another process holds it: `keywarden history`
/// opens it for a moment when no daemon runs, and a restart may overlap the old process's exit.
async fn open_store(dir: &Path) -> Result<HistoryStore, String> {
    let deadline = tokio::time::Instant::now() + STORE_LOCK_WAIT;
    loop {
        let path = dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || HistoryStore::open(&path))
            .await
            .map_err(|e| e.to_string())?;
        match opened {
            Err(e) if e.is_locked() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other.map_err(|e| e.to_string()),
        }
    }
}

/// Puts each configured connection's last known verdict back on `/metrics` after a restart,
/// so dashboards do not go blank until the next check.
fn restore_metrics(daemon: &Daemon) {
    for connection in &daemon.config().connections {
        if let Ok(Some(verdict)) = daemon.store.last_verdict(&connection.name) {
            daemon.metrics.restore(&verdict);
        }
    }
    if let Ok(bytes) = daemon.store.size_on_disk() {
        daemon.metrics.set_store_size(bytes);
    }
}

/// The alert channels the config asks for. Errors name the config key.
fn build_notifiers(config: &Config) -> Result<Notifiers, String> {
    let mut notifiers = Notifiers::default();
    if let Some(telegram) = &config.alerts.telegram {
        let telegram = crate::notifier::telegram::Telegram::new(telegram)
            .map_err(|e| format!("alerts.telegram: {e}"))?;
        notifiers.add(Arc::new(telegram));
    }
    if let Some(email) = &config.alerts.email {
        let email = crate::notifier::email::Email::new(email).map_err(|e| e.to_string())?;
        notifiers.add(Arc::new(email));
    }
    Ok(notifiers)
}

/// Reminders and time-driven incident changes, every few seconds.
fn spawn_alert_ticks(
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
fn spawn_checkpoints(
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
fn spawn_periodic<E: std::fmt::Display + Send + 'static>(
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
fn checkpoint(store: &HistoryStore, alerts: &AlertEngine) -> Result<(), crate::store::StoreError> {
    alerts.checkpoint()?;
    store.checkpoint(None)
}

/// The Telegram bot's `/status` and `/check NAME`, answered from the running daemon.
struct Commands(Arc<Daemon>);

impl CommandBackend for Commands {
    fn statuses(&self) -> Vec<Verdict> {
        self.0
            .config()
            .connections
            .iter()
            .filter_map(|c| self.0.store.last_verdict(&c.name).ok().flatten())
            .collect()
    }

    /// Checks `connection` now. When a check of it is already in progress (a scheduled turn,
    /// maybe queued for the request budget), this waits for that one to finish and then checks
    /// again, so verdicts are recorded in the order they were taken and never two at once.
    fn check_now<'a>(&'a self, connection: &'a str) -> BoxFuture<'a, Option<Verdict>> {
        Box::pin(async move {
            let _busy = self.0.busy.claim_waiting(connection).await;
            let checked = self.0.check_and_record(connection).await;
            checked.map(|c| c.verdict)
        })
    }
}

/// Starts the bot's command loop when Telegram is configured.
fn spawn_commands(daemon: &Arc<Daemon>) -> Option<tokio::task::JoinHandle<()>> {
    let config = daemon.config();
    let telegram = config.alerts.telegram.as_ref()?;
    Some(crate::notifier::telegram::spawn_commands(
        telegram,
        Arc::new(Commands(Arc::clone(daemon))),
        daemon.shutdown.subscribe(),
    ))
}
