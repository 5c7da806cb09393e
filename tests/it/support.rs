//! What the tests share: a scratch directory, the real binary, a simulator on loopback.

use std::path::PathBuf;
use std::process::Output;

use keywarden::exchange::ExchangeKind;
use keywarden::sim::{self, RunningSim, Scenario, ScenarioFile, SimKey};

/// The `keywarden` binary cargo built for these tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_keywarden")
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
        api_secret: format!("secret-{label}-0123456789abcdef"),
        passphrase: exchange.needs_passphrase().then(|| format!("pass-{label}")),
        scenario,
    }
}

/// A key shaped like the exchange's own (MEXC `mx0…`, KuCoin 24 hex), unique per label.
pub fn key_for(exchange: ExchangeKind, label: &str) -> String {
    let digest = format!("{:x}", md5_like(label));
    match exchange {
        ExchangeKind::Mexc => format!("mx0v{}", &digest[..14]),
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

/// Parses `check --json` output into one JSON value per line.
pub fn json_lines(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect()
}
