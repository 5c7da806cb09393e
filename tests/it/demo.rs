//! `keywarden demo` runs end to end on a fresh machine: simulator, demo config, a round of
//! checks printed as a table, then the daemon with metrics until SIGTERM. The demo shows what
//! the product covers: every exchange, healthy keys, each error the platform explains to its
//! users and a withdraw-enabled key.

use std::collections::BTreeSet;
use std::time::Duration;

use keywarden::demo::{DEMO_CONFIG, DEMO_SCENARIOS};
use keywarden::domain::ExchangeKind;
use keywarden::sim::ScenarioFile;

use crate::support::{self, eventually, http_get, Demo};

/// One demo connection: its exchange, the scenario its key plays in the demo's scenario file
/// (`None`: the simulator does not hold that key with those credentials) and the status that
/// scenario implies for the connection's markets.
struct DemoRow {
    connection: &'static str,
    exchange: &'static str,
    scenario: Option<&'static str>,
    status: &'static str,
}

const fn demo(
    connection: &'static str,
    exchange: &'static str,
    scenario: Option<&'static str>,
    status: &'static str,
) -> DemoRow {
    DemoRow {
        connection,
        exchange,
        scenario,
        status,
    }
}

/// Every connection of `config/demo/keywarden.toml`, as `config/demo/scenarios.toml` plays it.
#[rustfmt::skip]
const DEMO: [DemoRow; 17] = [
    // A spot connection needs no futures right: a key without one is healthy.
    demo("alice-mexc-spot", "mexc", Some("futures_missing"), "connected"),
    demo("bob-kucoin-futures", "kucoin", Some("valid"), "connected"),
    demo("carol-mexc-withdraw", "mexc", Some("withdraw_enabled"), "withdraw_enabled"),
    demo("dave-bitget-notrade", "bitget", Some("trade_missing"), "no_trade_permission"),
    demo("erin-okx-iplist", "okx", Some("ip_not_whitelisted"), "ip_not_allowed"),
    // The key is not in the scenario file at all: the exchange does not know it.
    demo("frank-gate-regenerated", "gate", None, "invalid_key"),
    demo("grace-mexc-unbound", "mexc", Some("no_ip_whitelist"), "connected"),
    demo("heidi-kucoin-maintenance", "kucoin", Some("maintenance"), "exchange_unavailable"),
    demo("ivan-bybit-futures", "bybit", Some("futures_missing"), "no_futures_permission"),
    demo("judy-binance-spot", "binance", Some("futures_missing"), "connected"),
    demo("ken-htx-futures", "htx", Some("valid"), "connected"),
    demo("liam-bingx-spot", "bingx", Some("futures_missing"), "connected"),
    demo("mia-coinbase-futures", "coinbase", Some("valid"), "connected"),
    // The simulator holds the key with another passphrase than the config's.
    demo("nick-okx-passphrase", "okx", None, "invalid_key"),
    // MEXC's apiKeyInfo answers 404: connected, the withdraw right unverified (a warning).
    demo("olga-mexc-keyinfo", "mexc", Some("rights_unrevealed"), "connected"),
    // The same on Gate, where the connection requires the withdraw right verified.
    demo("pat-gate-strict", "gate", Some("rights_unrevealed"), "withdraw_unverified"),
    // A key of OKX's EEA site on the global one: wrong_region, not invalid_key.
    demo("quinn-okx-eea", "okx", Some("other_region"), "wrong_region"),
];

/// The expectations above match the shipped files: the same connections on the same exchanges,
/// each key playing the scenario the row names, and every exchange KeyWarden supports shown.
#[test]
fn demo_rows_match_the_shipped_demo_config_and_scenarios() {
    let config: toml::Table = toml::from_str(DEMO_CONFIG).expect("the demo config parses");
    let connections = config["connections"]
        .as_table()
        .expect("the demo config has connections");
    let scenarios: ScenarioFile = toml::from_str(DEMO_SCENARIOS).expect("the demo scenarios parse");

    let named: BTreeSet<&str> = DEMO.iter().map(|row| row.connection).collect();
    let configured: BTreeSet<&str> = connections.keys().map(String::as_str).collect();
    assert_eq!(named, configured, "DEMO lists every demo connection once");

    for row in &DEMO {
        let connection = &connections[row.connection];
        let field = |name: &str| connection.get(name).and_then(toml::Value::as_str);
        assert_eq!(field("exchange"), Some(row.exchange), "{}", row.connection);
        assert!(
            field("base_url")
                .is_some_and(|url| url
                    == format!("http://{}/{}", keywarden::demo::DEMO_SIM_ADDR, row.exchange)),
            "{} points at the simulator's {} prefix",
            row.connection,
            row.exchange
        );
        let played = scenarios
            .keys
            .iter()
            .find(|key| {
                key.exchange.name() == row.exchange
                    && Some(key.api_key.as_str()) == field("api_key")
                    && Some(key.api_secret.as_str()) == field("api_secret")
                    && key.passphrase.as_deref() == field("passphrase")
            })
            .map(|key| key.scenario.name());
        assert_eq!(
            played, row.scenario,
            "the scenario {} plays in the demo's scenario file",
            row.connection
        );
    }

    let shown: BTreeSet<&str> = DEMO.iter().map(|row| row.exchange).collect();
    let supported: BTreeSet<&str> = ExchangeKind::ALL.iter().map(|kind| kind.name()).collect();
    assert_eq!(shown, supported, "the demo shows every exchange");
    let statuses: BTreeSet<&str> = DEMO.iter().map(|row| row.status).collect();
    for status in [
        "connected",
        "withdraw_enabled",
        "invalid_key",
        "no_trade_permission",
        "ip_not_allowed",
        "exchange_unavailable",
        "withdraw_unverified",
    ] {
        assert!(statuses.contains(status), "the demo shows {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checks_every_demo_connection_then_runs_the_daemon() {
    let mut demo = Demo::spawn(support::demo_command().stderr(std::process::Stdio::null()));
    demo.read_until("Ctrl-C stops the demo", Duration::from_secs(60))
        .await;
    let stdout = demo.stdout.clone();

    for row in &DEMO {
        let printed = stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(row.connection))
            .unwrap_or_else(|| panic!("no row for {}:\n{stdout}", row.connection));
        let columns: Vec<&str> = printed.split_whitespace().collect();
        assert_eq!(
            (columns.get(1).copied(), columns.get(3).copied()),
            (Some(row.exchange), Some(row.status)),
            "{} should be on {} and {}: {printed}",
            row.connection,
            row.exchange,
            row.status
        );
    }
    let connected = DEMO.iter().filter(|r| r.status == "connected").count();
    let summary = format!("{connected} of {} connections connected", DEMO.len());
    assert!(stdout.contains(&summary), "{summary}:\n{stdout}");
    assert!(
        stdout.contains("127.0.0.1 to"),
        "the IP remedy names the address"
    );
    support::assert_absent(
        &stdout,
        &[
            "-----BEGIN EC PRIVATE KEY-----",
            "demo-passphrase",
            "11c582a8c6",
        ],
        "the demo's output",
    );

    let metrics_url = stdout
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/metrics"))
        .expect("the demo says where its metrics are")
        .to_string();
    // The daemon checks each connection once per 10 s period, at its own offset: wait until
    // every one has been checked, then its status series says what the table said.
    let body = eventually(
        Duration::from_secs(60),
        "the daemon's checks of every demo connection on /metrics",
        || async {
            http_get(&metrics_url)
                .await
                .filter(|(_, body)| {
                    DEMO.iter().all(|row| {
                        body.contains(&format!(
                            "keywarden_connection_status{{connection=\"{}\",exchange=\"{}\",status=\"{}\"}} 1\n",
                            row.connection, row.exchange, row.status
                        ))
                    })
                })
                .map(|(_, body)| body)
        },
    )
    .await;
    support::assert_promtool_accepts(&body);

    // The printed curl line works: it tests the demo's first key through the API.
    let curl = stdout
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("curl -s "))
        .expect("the demo prints a curl line for the API");
    let token = curl
        .split("Bearer ")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the curl line carries the token");
    let body = curl
        .split("-d '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("the curl line carries a body");
    let url = curl.split_whitespace().last().unwrap();
    let verdict: serde_json::Value =
        eventually(Duration::from_secs(30), "the API answering", || async {
            let response = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .ok()?;
            response.json().await.ok()
        })
        .await;
    assert_eq!(verdict["status"], "connected", "{verdict}");

    demo.terminate().await;
}
