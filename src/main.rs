//! The `keywarden` command line. Errors get their context here, at the edge; exit codes are the
//! design's: 0 all connected, 1 some connection is not, 2 usage or config error.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use keywarden::domain::{Status, Verdict};

use keywarden::checker::Checker;
use keywarden::config::{Config, Connection};
use keywarden::sim::ScenarioFile;
use keywarden::{demo, output};

#[derive(Parser)]
#[command(
    name = "keywarden",
    version,
    about = "Watches the exchange API keys a trading platform holds"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon: scheduled checks, history, metrics; SIGHUP reloads, SIGTERM stops.
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show a connection's history as status spans, newest first.
    History {
        #[arg(long, short)]
        config: PathBuf,
        /// The connection's name.
        name: String,
        /// At most this many spans.
        #[arg(long, default_value_t = keywarden::store::DEFAULT_HISTORY_LIMIT)]
        limit: usize,
        /// One JSON object per span per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Check connections once now, print the results and exit (0 all connected, 1 not, 2 error).
    Check {
        #[arg(long, short)]
        config: PathBuf,
        /// Connections to check (default: all).
        names: Vec<String>,
        /// One JSON object per connection per line instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Parse and validate the config and resolve its secrets; exit 0 when usable, 2 when not.
    Validate {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Run the built-in exchange simulator and check a demo config against it.
    Demo,
    /// Serve the exchange simulator on ADDR (one path per exchange: /mexc, /kucoin, ...) until interrupted.
    Sim {
        #[arg(long, default_value = "127.0.0.1:18080")]
        listen: SocketAddr,
        #[arg(long)]
        scenarios: PathBuf,
    },
}

fn main() -> ExitCode {
    bound_malloc_arenas();
    let cli = Cli::parse();
    init_logging(cli.log_format);
    // A small blocking pool: sled writes are short, and hundreds of idle blocking threads would
    // cost the trading host memory for nothing.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(16)
        .enable_all()
        .build()
        .expect("tokio runtime starts");
    runtime.block_on(async {
        match cli.command {
            Command::Check {
                config,
                names,
                json,
            } => check(config, names, json).await,
            Command::Validate { config } => validate(config),
            Command::Run { config } => {
                keywarden::daemon::run(keywarden::daemon::Options {
                    config_path: config,
                    listener: None,
                })
                .await
            }
            Command::History {
                config,
                name,
                limit,
                json,
            } => history(config, name, limit, json).await,
            Command::Demo => demo::run().await,
            Command::Sim { listen, scenarios } => sim(listen, scenarios).await,
        }
    })
}

/// Our own lines at info, dependencies' only from warn: tokio-cron-scheduler alone says
/// "Uninited" and "Job creator created" at info on every start. `KEYWARDEN_LOG` replaces it.
const DEFAULT_LOG_FILTER: &str = "warn,keywarden=info";

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYWARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Loads the config, logging its warnings; on error prints it and yields exit code 2.
fn load(path: &std::path::Path) -> Result<Config, ExitCode> {
    match Config::load(path) {
        Ok(config) => {
            for warning in &config.warnings {
                tracing::warn!("{}: {warning}", path.display());
            }
            Ok(config)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(2))
        }
    }
}

fn validate(path: PathBuf) -> ExitCode {
    match load(&path) {
        Ok(config) => {
            for overcommit in keywarden::load::overcommits_now(&config) {
                tracing::warn!("{}: {overcommit}", path.display());
            }
            println!(
                "{}: ok, {} connection(s)",
                path.display(),
                config.connections.len()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

async fn check(path: PathBuf, names: Vec<String>, json: bool) -> ExitCode {
    let config = match load(&path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // The connections added over the API too, from the store (they need api.store_key).
    let (config, note) = keywarden::api::stored::with_stored(&config);
    if let Some(note) = note {
        tracing::warn!("{}: {note}", path.display());
    }
    let selected: Vec<Connection> = if names.is_empty() {
        config.connections.clone()
    } else {
        let mut selected = Vec::new();
        for name in &names {
            match config.connection(name) {
                Some(c) => selected.push(c.clone()),
                None => {
                    eprintln!("error: {}: no connection named {name:?}", path.display());
                    return ExitCode::from(2);
                }
            }
        }
        selected
    };
    if selected.is_empty() {
        eprintln!("error: {}: no connections configured", path.display());
        return ExitCode::from(2);
    }
    let checker = Arc::new(Checker::new(&config.daemon));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = keywarden::progress::Progress::on_terminal(Arc::clone(&done), selected.len());
    let verdicts = checker.check_all_counted(&selected, done).await;
    drop(progress);
    output::print(&selected, &verdicts, json);
    exit_code(&verdicts)
}

async fn history(path: PathBuf, name: String, limit: usize, json: bool) -> ExitCode {
    let config = match load(&path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match keywarden::history::fetch(&config, &name, limit).await {
        Ok(spans) => {
            if config.connection(&name).is_none() && spans.is_empty() {
                eprintln!("error: {}: no connection named {name:?}", path.display());
                return ExitCode::from(2);
            }
            output::print_history(&name, &spans, json);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn exit_code(verdicts: &[Verdict]) -> ExitCode {
    if verdicts.iter().all(|v| v.status == Status::Connected) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

async fn sim(listen: SocketAddr, scenarios: PathBuf) -> ExitCode {
    let file = match ScenarioFile::load(&scenarios) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let keys = file.keys.len();
    let running = match keywarden::sim::spawn(listen, file).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "exchange simulator on http://{} with {keys} key(s); point a connection at it with base_url = \"{}\" (one path per exchange)",
        running.addr,
        running.base_url(keywarden::domain::ExchangeKind::Mexc)
    );
    keywarden::shutdown::signalled().await;
    ExitCode::SUCCESS
}

/// glibc's malloc gives each thread that allocates (tokio's workers and blocking pool, sled's
/// I/O threads) an arena of its own, up to eight per core, and keeps what was freed in each;
/// it also raises its mmap threshold after large frees, so buffers of a few MB (a config file
/// being parsed) end up on a heap that is never trimmed. Issue 9's measurement at 10,000
/// connections (`/proc/PID/smaps`): 85 MB resident, over 50 MB of it in a dozen half-empty
/// thread arenas. Two arenas and fixed thresholds: ~54 MB, at no measurable CPU cost (the
/// daemon's threads allocate little once it runs). Must run before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn bound_malloc_arenas() {
    const ARENAS: libc::c_int = 2;
    /// Allocations from 128 KiB up are mapped and unmapped on their own, and the heap is
    /// trimmed once 128 KiB are free at its top; fixing both turns off glibc's raising them.
    const THRESHOLD: libc::c_int = 128 * 1024;
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread
    // exists, as glibc requires of M_ARENA_MAX, and every parameter is a documented option
    // with a valid value. A refusal (return 0) leaves the defaults, which is harmless.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
        libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, THRESHOLD);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn bound_malloc_arenas() {}
