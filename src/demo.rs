//! `keywarden demo`: the simulator on a free loopback port, the demo config pointed at it, and
//! the checks run the way an operator would run them.

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::checker::Checker;
use crate::config::Config;
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

/// Runs the demo: simulator, config, one round of checks, printed as a table.
pub async fn run() -> ExitCode {
    let scenarios: ScenarioFile =
        toml::from_str(DEMO_SCENARIOS).expect("the shipped demo scenarios parse");
    let listen: SocketAddr = "127.0.0.1:0".parse().expect("loopback address parses");
    let running = match sim::spawn(listen, scenarios).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the exchange simulator on loopback: {e}");
            return ExitCode::from(2);
        }
    };
    let config = Config::from_toml(&demo_config_text(running.addr), Path::new("(demo config)"))
        .expect("the shipped demo config is valid");
    println!(
        "KeyWarden demo: exchange simulator on http://{}, {} demo connections\n",
        running.addr,
        config.connections.len()
    );
    let checker = Arc::new(Checker::new(&config.daemon));
    let verdicts = checker.check_all(&config.connections).await;
    crate::output::print(&config.connections, &verdicts, false);
    println!(
        "\nTry it by hand: keywarden sim --scenarios config/demo/scenarios.toml, then\n\
         keywarden check --config config/demo/keywarden.toml [--json] in another terminal."
    );
    ExitCode::SUCCESS
}
