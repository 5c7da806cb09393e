//! What the tests share: a scratch directory, the real binary (the daemon, the demo, systemd's
//! notify socket), a simulator on loopback, the configs the daemon tests run on, and the pieces
//! of a test proxy in front of the simulator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;

use axum::extract::Request;
use axum::http::{header, HeaderMap, StatusCode};

use keywarden::domain::ExchangeKind;
use keywarden::sim::{self, RunningSim, Scenario, ScenarioFile, SimKey};

/// The `keywarden` binary cargo built for these tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_keywarden")
}

/// `keywarden demo` with nothing of our environment but `PATH`, its stdout piped (for [`Demo`]
/// to read line by line) and the process killed when dropped; where stderr goes is the test's.
pub fn demo_command() -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary());
    command
        .arg("demo")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
    command
}

/// A running `keywarden demo` whose stdout the test reads as it comes.
pub struct Demo {
    child: tokio::process::Child,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    /// Every line read so far.
    pub stdout: String,
}

impl Demo {
    /// Starts `command` (from [`demo_command`]).
    pub fn spawn(command: &mut tokio::process::Command) -> Demo {
        use tokio::io::AsyncBufReadExt;
        let mut child = command.spawn().expect("start keywarden demo");
        let stdout = child.stdout.take().expect("demo_command pipes stdout");
        Demo {
            child,
            lines: tokio::io::BufReader::new(stdout).lines(),
            stdout: String::new(),
        }
    }

    /// Reads stdout up to the first line that starts with `prefix` and returns it; panics,
    /// showing what was read, when the demo ends first or `timeout` passes.
    pub async fn read_until(&mut self, prefix: &str, timeout: std::time::Duration) -> String {
        let (lines, stdout) = (&mut self.lines, &mut self.stdout);
        let found = tokio::time::timeout(timeout, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                stdout.push_str(&line);
                stdout.push('\n');
                if line.starts_with(prefix) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            Ok(None) => panic!("the demo ended without {prefix:?}:\n{}", self.stdout),
            Err(_) => panic!("no {prefix:?} within {timeout:?}:\n{}", self.stdout),
        }
    }

    /// SIGTERM, after which the demo must exit 0 within 15 s.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("demo running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(std::time::Duration::from_secs(15), self.child.wait())
            .await
            .expect("the demo stops on SIGTERM")
            .unwrap();
        assert_eq!(exit.code(), Some(0));
    }

    /// `kill -9`, waiting until the demo is gone.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        let _ = self.child.wait().await;
    }
}

/// A scratch directory with files written into it; removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Writes `text` to `name` inside the scratch dir and returns the full path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("write scratch file");
        path
    }
}

/// The result of running the binary, with stdout and stderr as text.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Runs `keywarden ARGS` with `envs` added to a clean environment (no inherited KEYWARDEN__
/// overrides), the way systemd would start it.
pub async fn run(args: &[&str], envs: &[(&str, &str)]) -> Run {
    let mut command = tokio::process::Command::new(binary());
    command.args(args).env_clear().env("PATH", "/usr/bin:/bin");
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().await.expect("run keywarden").into()
}

/// A simulator key for `scenario`, with a key, secret and passphrase derived from `label`.
pub fn sim_key(exchange: ExchangeKind, label: &str, scenario: Scenario) -> SimKey {
    SimKey {
        exchange,
        api_key: key_for(exchange, label),
        api_secret: secret_for(exchange, label),
        passphrase: exchange.needs_passphrase().then(|| format!("pass-{label}")),
        scenario,
    }
}

/// One key per exchange playing `scenario`, labelled `{prefix}-{exchange}`.
pub fn key_per_exchange(prefix: &str, scenario: Scenario) -> Vec<SimKey> {
    ExchangeKind::ALL
        .into_iter()
        .map(|e| sim_key(e, &format!("{prefix}-{e}"), scenario))
        .collect()
}

/// A secret for `label`. Coinbase CDP secrets are EC P-256 private keys in SEC1 PEM: one is
/// made from a fixed scalar derived from the label, written on one line with literal `\n`
/// escapes (the way it sits in TOML, a JSON key file or an env var).
pub fn secret_for(exchange: ExchangeKind, label: &str) -> String {
    match exchange {
        ExchangeKind::Coinbase => coinbase_pem(label).replace('\n', "\\n"),
        _ => format!("secret-{label}-0123456789abcdef"),
    }
}

/// A deterministic P-256 private key PEM for `label` (the scalar is SHA-256 of the label).
pub fn coinbase_pem(label: &str) -> String {
    use sha2::Digest;
    let scalar = sha2::Sha256::digest(format!("keywarden-test/{label}").as_bytes());
    p256::SecretKey::from_slice(&scalar)
        .expect("a SHA-256 digest is a valid P-256 scalar (but with negligible odds)")
        .to_sec1_pem(p256::pkcs8::LineEnding::LF)
        .expect("PEM encoding")
        .to_string()
}

/// A key shaped like the exchange's own (MEXC `mx0…`, KuCoin 24 hex), unique per label.
pub fn key_for(exchange: ExchangeKind, label: &str) -> String {
    let digest = format!("{:x}", md5_like(label));
    match exchange {
        ExchangeKind::Mexc => format!("mx0v{}", &digest[..14]),
        // Binance keys are 64 letters and digits; the simulator refuses other shapes (-2014).
        ExchangeKind::Binance => format!("{digest}{:x}", md5_like(&format!("{label}/binance"))),
        // Coinbase CDP key names: organizations/{org uuid}/apiKeys/{key uuid}.
        ExchangeKind::Coinbase => {
            let other = format!("{:x}", md5_like(&format!("{label}/coinbase")));
            let uuid = |h: &str| {
                format!(
                    "{}-{}-{}-{}-{}",
                    &h[..8],
                    &h[8..12],
                    &h[12..16],
                    &h[16..20],
                    &h[20..32]
                )
            };
            format!("organizations/{}/apiKeys/{}", uuid(&other), uuid(&digest))
        }
        _ => digest[..24].to_string(),
    }
}

/// A stable 128-bit mix of the label, enough to make distinct fake keys.
fn md5_like(label: &str) -> u128 {
    label
        .bytes()
        .fold(0x6c62272e07bb014262b821756295c58d_u128, |h, b| {
            (h ^ b as u128).wrapping_mul(0x0000000001000000000000000000013b)
        })
        | (1 << 127)
}

/// Starts a simulator on a free loopback port.
pub async fn start_sim(file: ScenarioFile) -> RunningSim {
    sim::spawn("127.0.0.1:0".parse().unwrap(), file)
        .await
        .expect("simulator starts")
}

/// A simulator that knows just `keys`, with the default exchange settings.
pub async fn start_sim_with(keys: Vec<SimKey>) -> RunningSim {
    start_sim(ScenarioFile {
        keys,
        ..ScenarioFile::default()
    })
    .await
}

/// Serves `app` on a free loopback port in the background and returns the port's address.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends a request that a test proxy received on to `upstream` as it came (the Host header
/// too: HTX signs it), and returns the reply's status, its `Content-Type` and `Retry-After`
/// (what the client reads of a reply's headers) and its body.
pub async fn relay(
    client: &reqwest::Client,
    upstream: SocketAddr,
    request: Request,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    let (mut parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    // reqwest frames the body itself
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    let reply = client
        .request(parts.method, format!("http://{upstream}{}", parts.uri))
        .headers(parts.headers)
        .body(body)
        .send()
        .await
        .expect("the simulator answers the proxy");
    let status = reply.status();
    let mut kept = HeaderMap::new();
    for name in [header::CONTENT_TYPE, header::RETRY_AFTER] {
        if let Some(v) = reply.headers().get(&name) {
            kept.insert(name, v.clone());
        }
    }
    (status, kept, reply.bytes().await.unwrap().to_vec())
}

/// Sets every object member named `name`, at any depth, to `value`: how a test proxy makes an
/// exchange's reply say something else.
pub fn set_everywhere(json: &mut serde_json::Value, name: &str, value: &serde_json::Value) {
    match json {
        serde_json::Value::Object(members) => {
            for (key, member) in members.iter_mut() {
                if key == name {
                    *member = value.clone();
                } else {
                    set_everywhere(member, name, value);
                }
            }
        }
        serde_json::Value::Array(items) => items
            .iter_mut()
            .for_each(|i| set_everywhere(i, name, value)),
        _ => {}
    }
}

/// A `[connections.NAME]` section for `key` pointed at `sim`, secrets as literals.
pub fn connection_toml(name: &str, key: &SimKey, sim: &RunningSim, markets: &[&str]) -> String {
    let mut text = format!(
        "[connections.{name}]\nexchange = \"{}\"\napi_key = \"{}\"\napi_secret = \"{}\"\nbase_url = \"{}\"\nmarkets = [{}]\n",
        key.exchange,
        key.api_key,
        key.api_secret,
        sim.base_url(key.exchange),
        markets
            .iter()
            .map(|m| format!("\"{m}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(p) = &key.passphrase {
        text.push_str(&format!("passphrase = \"{p}\"\n"));
    }
    text.push('\n');
    text
}

/// The schedule of a daemon test that wants its checks soon: every second.
pub const EVERY_SECOND: &str = "* * * * * *";

/// The `[daemon]` table of a test config: checks on `schedule`, each given at most
/// `check_timeout`, state in `state` and metrics served on `metrics`; then its
/// [`ample_budgets`] for `exchanges`, so that no check waits for a budget.
pub fn daemon_table(
    schedule: &str,
    check_timeout: &str,
    state: &Path,
    metrics: SocketAddr,
    exchanges: &[ExchangeKind],
) -> String {
    format!(
        "[daemon]\nschedule = \"{schedule}\"\nstate_dir = \"{}\"\nmetrics_listen = \"{metrics}\"\n\
         check_timeout = \"{check_timeout}\"\n\n{}",
        state.display(),
        ample_budgets(exchanges),
    )
}

/// One MEXC key playing `scenario` on a simulator of its own, a scratch dir and a free port for
/// `/metrics`: where a daemon test of one connection starts.
pub struct OneKey {
    pub key: SimKey,
    pub sim: RunningSim,
    pub scratch: Scratch,
    pub metrics: SocketAddr,
}

impl OneKey {
    /// `label` names the key (see [`sim_key`]).
    pub async fn start(label: &str, scenario: Scenario) -> OneKey {
        let key = sim_key(ExchangeKind::Mexc, label, scenario);
        OneKey {
            sim: start_sim_with(vec![key.clone()]).await,
            key,
            scratch: Scratch::new(),
            metrics: free_port(),
        }
    }

    /// The key's `[connections.NAME]` section, spot only.
    pub fn connection(&self, name: &str) -> String {
        connection_toml(name, &self.key, &self.sim, &["spot"])
    }

    /// [`mexc_daemon_config`] with the state in `state` and metrics on this port.
    pub fn daemon_config(&self, state: &Path, rest: &str) -> String {
        mexc_daemon_config(state, self.metrics, rest)
    }
}

/// The config of a daemon test on MEXC keys: a check every second, each given at most 3 s,
/// state in `state`, metrics on `metrics`, an ample MEXC budget, then `rest` (sections and
/// connections).
pub fn mexc_daemon_config(state: &Path, metrics: SocketAddr, rest: &str) -> String {
    daemon_table(EVERY_SECOND, "3s", state, metrics, &[ExchangeKind::Mexc]) + rest
}

/// Writes a daemon config into `scratch` and returns its path: a check every second, each given
/// at most `check_timeout`, state in the scratch dir, metrics on a free port, ample budgets for
/// every exchange, then `connections`.
pub fn every_second_config(scratch: &Scratch, check_timeout: &str, connections: &str) -> PathBuf {
    let state = scratch.path().join("state");
    let daemon = daemon_table(
        EVERY_SECOND,
        check_timeout,
        &state,
        free_port(),
        &ExchangeKind::ALL,
    );
    scratch.write("keywarden.toml", &(daemon + connections))
}

/// `text` (a config a helper wrote) with `from` replaced by `to`; panics when `from` is not in
/// it, so that a test adjusting a shared helper's config fails loudly when the helper's wording
/// changes, rather than running unadjusted.
#[track_caller]
pub fn edited(text: &str, from: &str, to: &str) -> String {
    assert!(
        text.contains(from),
        "{from:?} is not in the config:\n{text}"
    );
    text.replace(from, to)
}

/// `[daemon.request_budget]` of 1000 requests a second for each of `exchanges`, so that no
/// check in a test waits for a budget; a blank line ends it.
pub fn ample_budgets(exchanges: &[ExchangeKind]) -> String {
    let mut text = String::from("[daemon.request_budget]\n");
    for exchange in exchanges {
        text.push_str(&format!("{exchange} = 1000\n"));
    }
    text.push('\n');
    text
}

/// `keywarden check --json` on a config file holding `config`.
pub async fn check_json(config: &str) -> Run {
    let scratch = Scratch::new();
    let path = scratch.write("keywarden.toml", config);
    run(
        &["check", "--config", path.to_str().unwrap(), "--json"],
        &[],
    )
    .await
}

/// `keywarden history --config CONFIG CONNECTION --json` with `envs`: its stdout is the
/// connection's spans as JSON Lines.
pub async fn history_json(config: &Path, connection: &str, envs: &[(&str, &str)]) -> Run {
    let config = config.to_str().unwrap();
    run(&["history", "--config", config, connection, "--json"], envs).await
}

/// A connection's spans (`keywarden history --json`), or `None` while the history cannot be read
/// (the daemon still starting, or holding the store).
pub async fn spans(config: &Path, connection: &str) -> Option<Vec<serde_json::Value>> {
    let run = history_json(config, connection, &[]).await;
    (run.code == 0).then(|| json_lines(&run.stdout))
}

/// Parses `check --json` output into one JSON value per line.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}

/// A free loopback port (bound, then released for the daemon to take).
pub fn free_port() -> std::net::SocketAddr {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    socket.local_addr().expect("local addr")
}

/// Polls `probe` every 100 ms until it returns `Some`, or panics with `what` after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The `/metrics` text of the daemon listening on `addr`, once it answers 200.
pub async fn metrics(addr: SocketAddr) -> Option<String> {
    http_get(&format!("http://{addr}/metrics"))
        .await
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
}

/// `Some` once the daemon on `addr` serves `/metrics`: for waiting until it is up.
pub async fn metrics_up(addr: SocketAddr) -> Option<()> {
    metrics(addr).await.map(|_| ())
}

/// `keywarden_alert_outbox_depth` as the daemon on `addr` reports it.
pub async fn outbox_depth(addr: SocketAddr) -> Option<u64> {
    metrics(addr)
        .await?
        .lines()
        .find_map(|l| l.strip_prefix("keywarden_alert_outbox_depth "))
        .and_then(|v| v.trim().parse().ok())
}

/// GETs `url`; `None` when the server is not answering (yet).
pub async fn http_get(url: &str) -> Option<(u16, String)> {
    let response = reqwest::get(url).await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Runs `promtool check metrics` on `exposition`; panics with promtool's words if it objects.
/// Fails (not skips) without promtool: `.ci/run` installs Debian's `prometheus` package.
pub fn assert_promtool_accepts(exposition: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("`promtool` is not on PATH: install the Debian package `prometheus`");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The daemon as systemd runs it: `keywarden run --config F` as a child process, stderr
/// captured to a file, signalled with `kill`.
pub struct DaemonProcess {
    child: tokio::process::Child,
    log: PathBuf,
}

impl DaemonProcess {
    pub fn start(config: &std::path::Path, log: PathBuf) -> DaemonProcess {
        DaemonProcess::start_with_env(config, log, &[])
    }

    /// Like [`DaemonProcess::start`] with extra environment (e.g. systemd's `NOTIFY_SOCKET`).
    pub fn start_with_env(
        config: &std::path::Path,
        log: PathBuf,
        envs: &[(&str, &str)],
    ) -> DaemonProcess {
        let err = std::fs::File::create(&log).expect("daemon log file");
        let child = tokio::process::Command::new(binary())
            .args(["run", "--config", config.to_str().unwrap()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("KEYWARDEN_LOG", "info")
            .envs(envs.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .expect("start keywarden run");
        DaemonProcess { child, log }
    }

    /// Like [`DaemonProcess::start`] with the daemon's open-file limit set to `max_files`
    /// (soft and hard), as a small `LimitNOFILE=` would.
    pub fn start_with_file_limit(
        config: &std::path::Path,
        log: PathBuf,
        max_files: u64,
    ) -> DaemonProcess {
        let err = std::fs::File::create(&log).expect("daemon log file");
        let mut command = tokio::process::Command::new(binary());
        command
            .args(["run", "--config", config.to_str().unwrap()])
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("KEYWARDEN_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(err)
            .kill_on_drop(true);
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(move || {
                let limit = libc::rlimit {
                    rlim_cur: max_files,
                    rlim_max: max_files,
                };
                match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                }
            });
        }
        let child = command.spawn().expect("start keywarden run");
        DaemonProcess { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("daemon still running")
    }

    /// Sends `signal` (e.g. "HUP", "TERM", "KILL") to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the daemon to exit; `None` if it is still running after `timeout`.
    pub async fn exit_within(&mut self, timeout: std::time::Duration) -> Option<i32> {
        let status = tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?;
        Some(status.expect("wait for daemon").code().unwrap_or(-1))
    }

    /// SIGTERM, after which the daemon must drain and exit 0 within `timeout` (its log shown
    /// when it does not): the clean shutdown every daemon test ends with.
    pub async fn terminate(&mut self, timeout: std::time::Duration) {
        self.signal("TERM");
        let code = self.exit_within(timeout).await;
        assert_eq!(code, Some(0), "{}", self.log());
    }

    /// `kill -9`, as a crash: waits until the process is gone, giving it no chance to drain.
    pub async fn kill(&mut self, timeout: std::time::Duration) {
        self.signal("KILL");
        self.exit_within(timeout).await.expect("killed");
    }

    /// What the daemon has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The first line the daemon logs that contains `words`, once there is one (panics with
    /// `what` after `timeout`).
    pub async fn log_line(&self, words: &str, timeout: std::time::Duration, what: &str) -> String {
        eventually(timeout, what, || async {
            self.log()
                .lines()
                .find(|l| l.contains(words))
                .map(str::to_string)
        })
        .await
    }
}

/// systemd's side of `Type=notify`: a datagram socket the daemon reports to, named to it by
/// `NOTIFY_SOCKET`.
pub struct NotifySocket {
    pub path: PathBuf,
    socket: std::os::unix::net::UnixDatagram,
}

impl NotifySocket {
    /// Binds `notify.sock` in `dir`.
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(15)))
            .unwrap();
        NotifySocket { path, socket }
    }

    /// The messages not read yet, up to the first that contains `words`, waiting for them as
    /// they come; panics when 15 s pass without a message.
    pub async fn messages_until(&self, words: &str) -> Vec<String> {
        let socket = self.socket.try_clone().unwrap();
        let words = words.to_string();
        tokio::task::spawn_blocking(move || {
            let mut seen = Vec::new();
            let mut buf = [0u8; 8192];
            while !seen.iter().any(|m: &String| m.contains(&words)) {
                let n = socket
                    .recv(&mut buf)
                    .unwrap_or_else(|e| panic!("no {words:?} within 15 s: {e}"));
                seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            seen
        })
        .await
        .unwrap()
    }
}

/// Asserts that each of `words` appears in `text`.
pub fn assert_contains_all(text: &str, words: &[&str]) {
    for word in words {
        assert!(text.contains(word), "{word:?} missing from:\n{text}");
    }
}

/// Asserts that none of `words` appears in `text`; `what` names the text.
pub fn assert_absent(text: &str, words: &[&str], what: &str) {
    for word in words {
        assert!(!text.contains(word), "{word:?} in {what}:\n{text}");
    }
}

/// The delivery failed for good (the outbox sets it aside) with this `reason`.
pub fn assert_refused(err: &keywarden::notifier::DeliveryError, reason: &str) {
    assert!(
        matches!(err, keywarden::notifier::DeliveryError::Reject { .. }) && err.reason() == reason,
        "expected a refusal for {reason}, got {err:?}"
    );
}

/// The delivery failed for now (the outbox retries it) with this `reason`.
pub fn assert_retried(err: &keywarden::notifier::DeliveryError, reason: &str) {
    assert!(
        matches!(err, keywarden::notifier::DeliveryError::Retry { .. }) && err.reason() == reason,
        "expected a retry for {reason}, got {err:?}"
    );
}
