//! No secret anywhere: every scenario on every exchange, alerts to Telegram and email (owners
//! included), and every command, run with known secret values; then every place KeyWarden
//! writes to is searched for them, byte for byte (sled files included).
//!
//! Searched for: each full API key (only the masked form may appear), each API secret, each
//! passphrase, the bot token and the SMTP password.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use keywarden::domain::ExchangeKind;
use keywarden::sim::{Scenario, ScenarioFile, SimKey};

use crate::botapi_sim::BotApiSim;
use crate::smtp_server::{self, SmtpServer};
use crate::support::{self, eventually, free_port, http_get, sim_key, DaemonProcess, Scratch};

const TOKEN: &str = "777000:secret-scan-bot-token-zq81";
const SMTP_PASSWORD: &str = "smtp-password-scan-x7k2";
const CHAT: i64 = -1001;

/// One secret to look for, with the forms it could leak in.
struct Secret {
    what: String,
    needles: Vec<Vec<u8>>,
}

impl Secret {
    fn new(what: String, value: &str) -> Secret {
        // A PEM key leaks as any of its base64 lines, whatever newline form surrounds them.
        let mut needles: Vec<Vec<u8>> = if value.contains("-----BEGIN") {
            value
                .replace("\\n", "\n")
                .lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(|l| l.as_bytes().to_vec())
                .collect()
        } else {
            vec![value.as_bytes().to_vec()]
        };
        // Encoded the way a careless sender would: base64 (SMTP AUTH, a JWT), JSON-escaped.
        let plain = value.as_bytes().to_vec();
        if !value.contains("-----BEGIN") {
            needles.push(
                base64::engine::general_purpose::STANDARD
                    .encode(&plain)
                    .trim_end_matches('=')
                    .as_bytes()
                    .to_vec(),
            );
        }
        Secret { what, needles }
    }
}

/// Counts the places searched and collects every hit.
#[derive(Default)]
struct Scan {
    places: usize,
    bytes: usize,
    hits: Vec<String>,
}

/// The first [`PREFIX`] bytes of every needle, for one pass over a haystack however many
/// secrets there are (megabytes of sled files and debug logs, hundreds of secrets).
const PREFIX: usize = 8;

impl Scan {
    fn search(&mut self, place: &str, haystack: &[u8], secrets: &[Secret]) {
        self.places += 1;
        self.bytes += haystack.len();
        let mut by_prefix: std::collections::HashMap<&[u8], Vec<(&str, &[u8])>> =
            std::collections::HashMap::new();
        for secret in secrets {
            for needle in &secret.needles {
                assert!(
                    needle.len() >= PREFIX,
                    "{} is too short to search",
                    secret.what
                );
                by_prefix
                    .entry(&needle[..PREFIX])
                    .or_default()
                    .push((secret.what.as_str(), needle.as_slice()));
            }
        }
        let mut found = std::collections::BTreeSet::new();
        for start in 0..haystack.len().saturating_sub(PREFIX - 1) {
            if let Some(candidates) = by_prefix.get(&haystack[start..start + PREFIX]) {
                for (what, needle) in candidates {
                    if haystack[start..].starts_with(needle) {
                        found.insert(*what);
                    }
                }
            }
        }
        for what in found {
            self.hits.push(format!("{what} in {place}"));
        }
    }

    fn search_text(&mut self, place: &str, text: &str, secrets: &[Secret]) {
        self.search(place, text.as_bytes(), secrets);
    }

    /// The stdout and stderr of `run`, the run named by `what`.
    fn search_run(&mut self, what: &str, run: &support::Run, secrets: &[Secret]) {
        self.search_text(&format!("{what} stdout"), &run.stdout, secrets);
        self.search_text(&format!("{what} stderr"), &run.stderr, secrets);
    }

    /// Every file under `dir`, recursively, as raw bytes.
    fn search_dir(&mut self, dir: &Path, skip: &[&Path], secrets: &[Secret]) -> usize {
        let mut files = 0;
        for path in walk(dir) {
            if skip.contains(&path.as_path()) {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path:?}: {e}"));
            self.search(&path.display().to_string(), &bytes, secrets);
            files += 1;
        }
        files
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else if path.is_file() {
            out.push(path);
        }
    }
    out
}

/// An email as sent plus every decoded form of it: quoted-printable bodies, base64 bodies and
/// base64 encoded-words in headers, so a secret cannot hide behind a transfer encoding.
pub fn mail_text(raw: &str) -> String {
    let mut out = raw.to_string();
    out.push('\n');
    let decoded = quoted_printable::decode(raw, quoted_printable::ParseMode::Robust)
        .expect("robust decoding takes any input");
    out.push_str(&String::from_utf8_lossy(&decoded));
    let engine = base64::engine::general_purpose::STANDARD;
    let mut run = String::new();
    for line in raw.lines().chain(std::iter::once("")) {
        let line = line.trim();
        let b64 = line.len() >= 4
            && line
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
        if b64 {
            run.push_str(line);
        } else if !run.is_empty() {
            if let Ok(bytes) = engine.decode(&run) {
                out.push('\n');
                out.push_str(&String::from_utf8_lossy(&bytes));
            }
            run.clear();
        }
        for word in line.split("=?").skip(1) {
            let parts: Vec<&str> = word.splitn(3, '?').collect();
            if parts.len() == 3 && parts[1].eq_ignore_ascii_case("b") {
                let encoded = parts[2].split("?=").next().unwrap_or("");
                if let Ok(bytes) = engine.decode(encoded) {
                    out.push('\n');
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
    }
    out
}

struct World {
    scratch: Scratch,
    config: PathBuf,
    env: Vec<(String, String)>,
    secrets: Vec<Secret>,
    state: PathBuf,
    metrics: std::net::SocketAddr,
    names: Vec<String>,
    bot: BotApiSim,
    smtp: SmtpServer,
    _sim: keywarden::sim::RunningSim,
}

impl World {
    /// One connection per (exchange, scenario), spot and futures, every owner with an email.
    /// Keys come from the environment, secrets from files (mode 0600), passphrases are literals
    /// in the file (warned about), the bot token from the environment, the SMTP password from
    /// a file.
    async fn new() -> World {
        let mut keys: Vec<(String, SimKey)> = Vec::new();
        for exchange in ExchangeKind::ALL {
            for scenario in Scenario::ALL {
                let name = format!("{exchange}-{}", scenario.name().replace('_', "-"));
                keys.push((
                    name.clone(),
                    sim_key(exchange, &format!("scan-{name}"), scenario),
                ));
            }
        }
        let sim = support::start_sim(ScenarioFile {
            keys: keys.iter().map(|(_, k)| k.clone()).collect(),
            ..ScenarioFile::default()
        })
        .await;
        let bot = BotApiSim::start(TOKEN).await;
        let smtp = SmtpServer::start(smtp_server::Behaviour::Accept).await;
        let scratch = Scratch::new();
        let secret_dir = scratch.path().join("secrets");
        std::fs::create_dir(&secret_dir).unwrap();
        let write_secret = |name: &str, value: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = secret_dir.join(name);
            std::fs::write(&path, format!("{value}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            path
        };
        let state = scratch.path().join("state");
        let metrics = free_port();
        let mut env = vec![("TELEGRAM_TOKEN".to_string(), TOKEN.to_string())];
        let mut secrets = vec![
            Secret::new("the bot token".into(), TOKEN),
            Secret::new("the SMTP password".into(), SMTP_PASSWORD),
        ];
        let daemon =
            support::daemon_table("*/2 * * * * *", "2s", &state, metrics, &ExchangeKind::ALL);
        let mut text = support::edited(
            &daemon,
            "[daemon]\n",
            "[daemon]\nmax_concurrent_checks = 32\n",
        );
        text.push_str(&format!(
            "[alerts]\nresolve_after = 1\n\n\
             [alerts.telegram]\nbot_token = \"env:TELEGRAM_TOKEN\"\nchat_ids = [{CHAT}]\napi_url = \"{}\"\n\n\
             [alerts.email]\nsmtp_url = \"{}\"\nusername = \"keywarden\"\npassword = \"file:{}\"\n\
             from = \"KeyWarden <keywarden@example.com>\"\nto = [\"ops@example.com\"]\n\n",
            bot.url(),
            smtp.url(),
            write_secret("smtp_password", SMTP_PASSWORD).display()
        ));
        let mut names = Vec::new();
        for (i, (name, key)) in keys.iter().enumerate() {
            let key_var = format!("KEY_{i}");
            env.push((key_var.clone(), key.api_key.clone()));
            let secret_file = write_secret(&format!("{name}.secret"), &key.api_secret);
            text.push_str(&format!(
                "[connections.{name}]\nexchange = \"{}\"\napi_key = \"env:{key_var}\"\n\
                 api_secret = \"file:{}\"\nbase_url = \"{}\"\nmarkets = [\"spot\", \"futures\"]\n\
                 owner_email = \"owner-{name}@example.com\"\n",
                key.exchange,
                secret_file.display(),
                sim.base_url(key.exchange)
            ));
            secrets.push(Secret::new(format!("{name}'s API key"), &key.api_key));
            secrets.push(Secret::new(format!("{name}'s API secret"), &key.api_secret));
            if let Some(passphrase) = &key.passphrase {
                text.push_str(&format!("passphrase = \"{passphrase}\"\n"));
                secrets.push(Secret::new(format!("{name}'s passphrase"), passphrase));
            }
            text.push('\n');
            names.push(name.clone());
        }
        let config = scratch.write("keywarden.toml", &text);
        World {
            scratch,
            config,
            env,
            secrets,
            state,
            metrics,
            names,
            bot,
            smtp,
            _sim: sim,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    async fn run(&self, args: &[&str]) -> support::Run {
        support::run(args, &self.env()).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_any_output_log_file_metric_or_message() {
    let w = World::new().await;
    let config = w.config.to_str().unwrap();
    let mut scan = Scan::default();

    let validate = w.run(&["validate", "--config", config]).await;
    assert_eq!(validate.code, 0, "{}", validate.stderr);
    assert!(
        validate.stderr.contains(".passphrase"),
        "the literal passphrases are warned about by key: {}",
        validate.stderr
    );
    for (what, run) in [
        ("validate", &validate),
        ("check", &w.run(&["check", "--config", config]).await),
        (
            "check --json",
            &w.run(&["check", "--config", config, "--json"]).await,
        ),
    ] {
        assert!(run.code == 0 || run.code == 1, "{what}: {}", run.stderr);
        scan.search_run(what, run, &w.secrets);
    }

    // The daemon, logging at debug level, with alerts flowing to every channel.
    let log = w.scratch.path().join("daemon.log");
    let mut daemon = DaemonProcess::start_with_env(
        &w.config,
        log.clone(),
        &w.env()
            .into_iter()
            .chain([("KEYWARDEN_LOG", "debug")])
            .collect::<Vec<_>>(),
    );
    eventually(
        Duration::from_secs(40),
        "alerts in Telegram, the ops inbox and an owner's inbox",
        || async {
            let ops = w
                .smtp
                .messages()
                .iter()
                .any(|m| m.recipients.iter().any(|r| r == "ops@example.com"));
            let owner = w
                .smtp
                .messages()
                .iter()
                .any(|m| m.recipients.iter().any(|r| r.starts_with("owner-")));
            (ops && owner && !w.bot.delivered().is_empty()).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await; // a few more rounds, reminders, digests
    let (status, exposition) = http_get(&format!("http://{}/metrics", w.metrics))
        .await
        .expect("/metrics answers");
    assert_eq!(status, 200);
    scan.search_text("/metrics", &exposition, &w.secrets);
    let (_, health) = http_get(&format!("http://{}/healthz", w.metrics))
        .await
        .expect("/healthz answers");
    scan.search_text("/healthz", &health, &w.secrets);
    // One connection in four (every exchange, every scenario somewhere): `history` is a
    // process start each.
    for name in w.names.iter().step_by(4) {
        let run = w
            .run(&["history", "--config", config, name, "--json"])
            .await;
        assert_eq!(
            run.code, 0,
            "history {name} (from the daemon): {}",
            run.stderr
        );
        scan.search_run(&format!("history {name}"), &run, &w.secrets);
    }
    // The state dir while the daemon writes to it, then after it stopped.
    scan.search_dir(&w.state, &[], &w.secrets);
    daemon.terminate(Duration::from_secs(15)).await;
    scan.search(
        "the daemon's log",
        &std::fs::read(&log).unwrap(),
        &w.secrets,
    );
    for name in w.names.iter().take(5) {
        let run = w.run(&["history", "--config", config, name]).await;
        assert_eq!(
            run.code, 0,
            "history {name} (from the store): {}",
            run.stderr
        );
        scan.search_run(&format!("history {name} table"), &run, &w.secrets);
    }
    let state_files = scan.search_dir(&w.state, &[], &w.secrets);
    assert!(state_files >= 2, "the sled files were searched");

    let messages = w.bot.sent();
    assert!(!messages.is_empty());
    for (i, m) in messages.iter().enumerate() {
        scan.search_text(&format!("Telegram message {i}"), &m.text, &w.secrets);
    }
    let mails = w.smtp.messages();
    for (i, m) in mails.iter().enumerate() {
        let to = m.recipients.join(",");
        scan.search_text(
            &format!("email {i} to {to}"),
            &mail_text(&m.data),
            &w.secrets,
        );
    }

    let demo_places = scan_demo(&mut scan).await;
    println!(
        "secrets: {} secrets searched in {} places ({} KiB; {} Telegram messages, {} emails, \
         {state_files} state files, {demo_places} demo places): {} hits",
        w.secrets.len(),
        scan.places,
        scan.bytes / 1024,
        messages.len(),
        mails.len(),
        scan.hits.len()
    );
    assert!(
        scan.hits.is_empty(),
        "secrets found:\n{}",
        scan.hits.join("\n")
    );
}

/// `keywarden demo` for a few seconds: its stdout, stderr, `/metrics` and state files, searched
/// for the demo config's own (made-up) secrets.
async fn scan_demo(scan: &mut Scan) -> usize {
    let before = scan.places;
    let demo: toml::Table = keywarden::demo::DEMO_CONFIG.parse().unwrap();
    let mut secrets = Vec::new();
    for (name, connection) in demo["connections"].as_table().unwrap() {
        for field in ["api_key", "api_secret", "passphrase"] {
            if let Some(value) = connection.get(field).and_then(|v| v.as_str()) {
                secrets.push(Secret::new(format!("demo {name}'s {field}"), value));
            }
        }
    }
    assert!(secrets.len() >= 18, "the demo's secrets were found");
    let tmp = Scratch::new();
    let stderr_path = tmp.path().join("demo.stderr");
    let mut demo = support::Demo::spawn(
        support::demo_command()
            .env("TMPDIR", tmp.path())
            .stderr(std::fs::File::create(&stderr_path).unwrap()),
    );
    demo.read_until("Ctrl-C stops the demo", Duration::from_secs(60))
        .await;
    let url = demo
        .stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("curl "))
        .rfind(|url| url.ends_with("/metrics"))
        .expect("the demo names its /metrics URL")
        .to_string();
    let exposition = eventually(Duration::from_secs(20), "demo metrics", || async {
        http_get(&url)
            .await
            .filter(|(_, body)| body.contains("keywarden_connection_status"))
            .map(|(_, body)| body)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    scan.search_text("demo /metrics", &exposition, &secrets);
    // The demo's own config file holds its secrets as literals, by design; everything else
    // under its directory is searched.
    let demo_dirs: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(demo_dirs.len(), 1, "the demo's directory under TMPDIR");
    let demo_config = demo_dirs[0].join("keywarden.toml");
    let files = scan.search_dir(&demo_dirs[0], &[demo_config.as_path()], &secrets);
    assert!(files >= 2, "the demo's state files were searched");
    let stdout = demo.stdout.clone();
    demo.kill().await;
    scan.search_text("demo stdout", &stdout, &secrets);
    scan.search(
        "demo stderr",
        &std::fs::read(&stderr_path).unwrap(),
        &secrets,
    );
    scan.places - before
}

/// The search itself: it must find a secret in binary data, behind a transfer encoding, and
/// each PEM line of a Coinbase key, or the zero above means nothing.
#[test]
fn the_scan_finds_a_planted_secret_in_every_form() {
    let secret = Secret::new("planted".into(), "planted-secret-9f8e7d");
    let pem = support::secret_for(ExchangeKind::Coinbase, "scan-self-test");
    let pem_secret = Secret::new("pem".into(), &pem);
    let mut scan = Scan::default();
    let mut binary = vec![0u8, 159, 146, 150];
    binary.extend_from_slice(b"planted-secret-9f8e7d");
    binary.extend_from_slice(&[0xff, 0]);
    scan.search("binary", &binary, std::slice::from_ref(&secret));
    let b64 = base64::engine::general_purpose::STANDARD.encode("x planted-secret-9f8e7d y");
    let mail = format!("Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n");
    scan.search_text(
        "base64 mail",
        &mail_text(&mail),
        std::slice::from_ref(&secret),
    );
    let qp = "Content-Transfer-Encoding: quoted-printable\r\n\r\nplanted-sec=\r\nret-9f8e7d=3D\r\n";
    scan.search_text("qp mail", &mail_text(qp), std::slice::from_ref(&secret));
    let line = pem.split("\\n").nth(2).unwrap().to_string();
    scan.search_text("pem line", &format!("{{\"x\":\"{line}\"}}"), &[pem_secret]);
    scan.search_text("clean", "nothing here", std::slice::from_ref(&secret));
    assert_eq!(scan.places, 5);
    assert_eq!(
        scan.hits,
        vec![
            "planted in binary",
            "planted in base64 mail",
            "planted in qp mail",
            "pem in pem line"
        ]
    );
}
