//! The long-running service: cron-scheduled checks, history, metrics, reload and shutdown the
//! way systemd drives them.
//!
//! Shape (after mini-redis): one [`Daemon`] holds the shared state; the cron scheduler has one job
//! per distinct schedule plus a heartbeat; each firing hands connections to [`Daemon::dispatch`],
//! which releases each after its stable jitter. SIGHUP reloads, SIGTERM/SIGINT drains: shutdown
//! waits for the last busy mark to be released (`busy::Busy::idle`), bounded by `MAX_DRAIN`.
//! One file per job: `round` (rounds and dispatch), `record`, `reload`, `tasks` (cron and
//! periodic jobs), `bot` (the Telegram command backend).

mod bot;
mod busy;
mod connections;
mod http;
mod record;
mod reload;
mod round;
mod store_watch;
mod systemd;
mod tasks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::alert::delivery::Notifiers;
use crate::alert::engine::AlertEngine;
use crate::checker::Checker;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::scheduler;
use crate::shutdown::{Request, Signals};
use crate::store::HistoryStore;
use tasks::Jobs;

pub(crate) use connections::{ApiSide, ChangeError};
pub(crate) use http::{bearer_matches, serve_router};

/// The scheduler counts as dead when its heartbeat is older than this.
const HEARTBEAT_STALE: Duration = Duration::from_secs(15);
/// How long start-up waits for a store that another process holds before giving up.
const STORE_LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often history past `history_retention` is pruned.
const RETENTION_EVERY: Duration = Duration::from_secs(600);
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
    /// The running set: the file's connections and the API's (see `connections`).
    config: RwLock<Arc<Config>>,
    /// The names of the config file's connections (the rest of `config` came from the API).
    file_names: RwLock<std::collections::BTreeSet<String>>,
    /// The API's stored connections, when `[api]` is configured.
    api: Option<ApiSide>,
    /// The cron jobs, set once they are started.
    jobs: OnceLock<Jobs>,
    /// Held while the running set changes (a reload, an API `PUT` or `DELETE`): one at a time.
    changing: tokio::sync::Mutex<()>,
    checker: RwLock<Arc<Checker>>,
    store: HistoryStore,
    metrics: Arc<Metrics>,
    alerts: Arc<AlertEngine>,
    notifiers: Arc<RwLock<Notifiers>>,
    /// Connections dispatched and not yet recorded: a connection is never checked twice at once.
    busy: Arc<busy::Busy>,
    /// Unix seconds of the scheduler's last heartbeat.
    heartbeat: AtomicI64,
    /// The heartbeat's store flush in flight (see `store_watch`).
    store_watch: store_watch::StoreWatch,
    shutdown: watch::Sender<bool>,
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
        let now = chrono::Utc::now().timestamp();
        let age = now - self.heartbeat.load(Ordering::Relaxed);
        if let Some(secs) = self.store_watch.stuck_for(now) {
            tracing::error!(
                seconds = secs,
                "the store has not finished a flush; unhealthy, so systemd's watchdog restarts \
                 the service"
            );
            return false;
        }
        age <= HEARTBEAT_STALE.as_secs() as i64 && !*self.shutdown.borrow()
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
    let notifiers = Arc::new(RwLock::new(build_notifiers(&config)?));
    let store = open_store(&config.daemon.state_dir).await?;
    // Start-up: nothing else runs on the runtime yet, so the store is read on this thread.
    let api = ApiSide::open(&config, &store)?;
    let api_listener = match &config.api {
        Some(section) => Some(crate::api::Listener::bind(&section.listen).await?),
        None => None,
    };
    let file_names = connections::names(&config);
    let (api, config) = match api {
        Some((side, stored)) => (Some(side), connections::merge(config, stored)),
        None => (None, config),
    };
    warn_overcommits(&config);
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
        file_names: RwLock::new(file_names),
        api,
        jobs: OnceLock::new(),
        changing: tokio::sync::Mutex::new(()),
        store: store.clone(),
        metrics: metrics.clone(),
        alerts: Arc::clone(&alerts),
        notifiers: Arc::clone(&notifiers),
        busy: Arc::default(),
        heartbeat: AtomicI64::new(chrono::Utc::now().timestamp()),
        store_watch: store_watch::StoreWatch::default(),
        shutdown,
    });
    restore_metrics(&daemon);
    declare_alert_failures(&metrics, &notifiers.read().expect("notifiers lock"));
    metrics.set_schedules(&schedule_periods(&config));
    metrics.set_exchanges(config.connections.iter().map(|c| c.exchange));
    // Serve before anything else: from here on the store is ours, and `keywarden history`
    // reaches it through this server.
    let server = tokio::spawn(http::serve(listener, Arc::clone(&daemon)));

    let jobs = Jobs::start(&daemon, &config).await?;
    let jobs = daemon.jobs.get_or_init(|| jobs);
    let api_server = api_listener.map(|listener| {
        tracing::info!(listen = %listener, "API listening");
        tokio::spawn(crate::api::serve(listener, Arc::clone(&daemon)))
    });

    // Retention is read at start; a reload that changes it takes effect at the next restart.
    let retention = crate::store::spawn_retention(
        store.clone(),
        config.daemon.history_retention,
        RETENTION_EVERY,
    );
    let delivery = crate::alert::delivery::spawn(
        store.clone(),
        Arc::clone(&notifiers),
        Arc::clone(&metrics),
        alerts.queued(),
        daemon.shutdown.subscribe(),
    );
    let alert_ticks = tasks::spawn_alert_ticks(Arc::clone(&alerts), daemon.shutdown.subscribe());
    let checkpoints = tasks::spawn_checkpoints(
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
    // After READY: the first ping goes out at once, and systemd (and the test of it) expects
    // the service ready before its watchdog is fed.
    let watchdog = systemd::spawn_watchdog(Arc::clone(&daemon));

    let mut commands = bot::spawn_commands(&daemon);
    while signals.next().await == Request::Reload {
        if daemon.reload().await {
            if let Some(old) = commands.take() {
                old.abort();
            }
            commands = bot::spawn_commands(&daemon);
        }
    }
    if let Some(commands) = commands {
        commands.abort();
    }

    tracing::info!("stopping: no new checks, draining the ones in flight");
    systemd::stopping();
    let _ = daemon.shutdown.send(true);
    jobs.shutdown().await;
    let drain = daemon.config().daemon.check_timeout.min(MAX_DRAIN);
    if tokio::time::timeout(drain, daemon.busy.idle())
        .await
        .is_err()
    {
        let left = daemon.busy.len();
        tracing::warn!(
            left,
            "checks still running at the drain deadline; not recorded"
        );
    }
    server.abort();
    if let Some(api_server) = api_server {
        api_server.abort();
    }
    retention.abort();
    watchdog.abort();
    alert_ticks.abort();
    // A checkpoint in progress finishes on the blocking pool; the final one below follows it.
    checkpoints.abort();
    // Delivery saw the shutdown signal; a send still in flight is abandoned and its alert stays
    // in the outbox for the next start (at most one duplicate, never a loss).
    let _ = tokio::time::timeout(Duration::from_secs(2), delivery).await;
    let flushed = tokio::task::spawn_blocking(move || tasks::checkpoint(&store, &alerts)).await;
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

/// Puts each configured channel's `alerts_failed_total` series on `/metrics` at 0.
fn declare_alert_failures(metrics: &Metrics, notifiers: &Notifiers) {
    for channel in notifiers.channels() {
        metrics.declare_alert_failures(channel.name(), channel.failure_reasons());
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
    if !config.alerts.webhook.is_empty() {
        let webhook = crate::notifier::webhook::Webhook::new(&config.alerts.webhook)
            .map_err(|e| e.to_string())?;
        notifiers.add(Arc::new(webhook));
    }
    Ok(notifiers)
}
