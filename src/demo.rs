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
    let scenarios: ScenarioFile =
        toml::from_str(DEMO_SCENARIOS).expect("the shipped demo scenarios parse");
    let loopback: SocketAddr = "127.0.0.1:0".parse().expect("loopback address parses");
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
         Ctrl-C stops the demo.",
        config_path.display()
    );
    let code = daemon::run(daemon::Options {
        config_path: config_path.clone(),
        listener: Some(listener),
    })
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    code
}
