//! `keywarden demo`: the simulator on a free loopback port, the demo config pointed at it, and
//! the checks run the way an operator would run them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::checker::Checker;
use crate::config::Config;
use crate::daemon;
use crate::sim::{self, ScenarioFile};

/// The demo config, as shipped in `config/demo/keywarden.toml`.
pub const DEMO_CONFIG: &str = include_str!("../config/demo/keywarden.toml");
/// The simulator's keys for the demo, as shipped in `config/demo/scenarios.toml`.
pub const DEMO_SCENARIOS: &str = include_str!("../config/demo/scenarios.toml");
/// The simulator address the shipped demo config names; the demo rewrites it to its own port.
pub const DEMO_SIM_ADDR: &str = "127.0.0.1:18080";

/// The demo config with its simulator address replaced by `addr`.
pub fn demo_config_text(addr: SocketAddr) -> String {
    DEMO_CONFIG.replace(DEMO_SIM_ADDR, &addr.to_string())
}

/// Runs the demo: simulator, config, one round of checks printed as a table, then the daemon
/// on that config (metrics on a free loopback port) until SIGTERM or Ctrl-C.
pub async fn run() -> ExitCode {
    let mut scenarios: ScenarioFile =
        toml::from_str(DEMO_SCENARIOS).expect("the shipped demo scenarios parse");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address parses");
    let api = match DemoApi::bind().await {
        Ok(api) => api,
        Err(e) => {
            eprintln!("error: cannot listen on loopback for the API: {e}");
            return ExitCode::from(2);
        }
    };
    scenarios.keys.push(api.key.clone());
    let running = match sim::spawn(loopback, scenarios).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the exchange simulator on loopback: {e}");
            return ExitCode::from(2);
        }
    };
    let listener = match tokio::net::TcpListener::bind(loopback).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on loopback for metrics: {e}");
            return ExitCode::from(2);
        }
    };
    let metrics_addr = listener
        .local_addr()
        .expect("bound listener has an address");
    let dir = std::env::temp_dir().join(format!("keywarden-demo-{}", std::process::id()));
    let config_path = dir.join("keywarden.toml");
    // The platform's side of `[[alerts.webhook]]`: events printed as they arrive.
    let webhook = match crate::demo_webhook::DemoReceiver::start(&dir).await {
        Ok(receiver) => receiver,
        Err(e) => {
            eprintln!("error: cannot start the demo webhook receiver on loopback: {e}");
            return ExitCode::from(2);
        }
    };
    let mut text = demo_config_text(running.addr).replace(
        "state_dir = \"./keywarden-demo-state\"",
        &format!(
            "state_dir = \"{}\"\nmetrics_listen = \"{metrics_addr}\"",
            dir.join("state").display()
        ),
    );
    text.push_str(&webhook.config_section());
    text.push('\n');
    text.push_str(&api.section());
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&config_path, &text))
    {
        eprintln!(
            "error: cannot write the demo config to {}: {e}",
            dir.display()
        );
        return ExitCode::from(2);
    }
    // The shipped demo config is valid; KEYWARDEN__ overrides from the environment may not be.
    let config = match Config::from_toml(&text, Path::new("(demo config)")) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "KeyWarden demo: exchange simulator on http://{}, {} demo connections\n",
        running.addr,
        config.connections.len()
    );
    let checker = Arc::new(Checker::new(&config.daemon));
    let verdicts = checker.check_all(&config.connections).await;
    crate::output::print(&config.connections, &verdicts, false);
    println!("\n{}", webhook.describe());
    println!(
        "\nThe daemon now checks them every 10 seconds. Look at:\n  \
         curl http://{metrics_addr}/metrics\n  \
         curl http://{metrics_addr}/healthz\n  \
         keywarden history --config {} carol-mexc-withdraw\n\
         The platform's API (README: \"The platform's API\") tests a key against the simulator:\n  \
         {}\n\
         Ctrl-C stops the demo.",
        config_path.display(),
        api.test_curl(&running)
    );
    let code = daemon::run(daemon::Options {
        config_path: config_path.clone(),
        listener: Some(listener),
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}

/// The demo's `[api]`: a free loopback port, a token and store key made for this run, and a
/// simulated key made for the printed `curl` line: a throwaway that no demo connection uses, so
/// the line shows no secret of a watched connection.
struct DemoApi {
    addr: SocketAddr,
    token: String,
    store_key: String,
    key: sim::SimKey,
}

impl DemoApi {
    /// Picks a free loopback port (bound, then released for the daemon to take).
    async fn bind() -> std::io::Result<DemoApi> {
        use chacha20poly1305::aead::rand_core::RngCore as _;
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await?
            .local_addr()?;
        let mut random = [0u8; 72];
        chacha20poly1305::aead::OsRng.fill_bytes(&mut random);
        Ok(DemoApi {
            addr,
            token: hex::encode(&random[..16]),
            store_key: hex::encode(&random[16..48]),
            key: sim::SimKey {
                exchange: crate::domain::ExchangeKind::Mexc,
                api_key: format!("mx0vdemoApi{}", hex::encode(&random[48..52])),
                api_secret: hex::encode(&random[52..68]),
                passphrase: None,
                scenario: sim::Scenario::FuturesMissing,
            },
        })
    }

    fn section(&self) -> String {
        format!(
            "[api]\nlisten = \"{}\"\ntokens = [\"{}\"]\nstore_key = \"{}\"\n",
            self.addr, self.token, self.store_key
        )
    }

    /// A `curl` line that tests the throwaway key through `POST /api/v1/test`.
    fn test_curl(&self, sim: &sim::RunningSim) -> String {
        let body = serde_json::json!({
            "exchange": self.key.exchange.to_string(),
            "api_key": self.key.api_key,
            "api_secret": self.key.api_secret,
            "base_url": sim.base_url(self.key.exchange),
        });
        format!(
            "curl -s -H 'Authorization: Bearer {}' -H 'Content-Type: application/json' -d '{}' http://{}/api/v1/test",
            self.token, body, self.addr
        )
    }
}
