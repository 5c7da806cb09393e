//! `keywarden demo` runs end to end on a fresh machine: simulator, demo config, a round of
//! checks printed as a table, then the daemon with metrics until SIGTERM.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use crate::support::{self, eventually, http_get};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checks_every_demo_connection_then_runs_the_daemon() {
    let mut child = tokio::process::Command::new(support::binary())
        .arg("demo")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start keywarden demo");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout = String::new();
    let read_until_ready = async {
        while let Some(line) = lines.next_line().await.unwrap() {
            stdout.push_str(&line);
            stdout.push('\n');
            if line.starts_with("Ctrl-C stops the demo") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read_until_ready)
        .await
        .expect("demo prints its table within a minute");

    for (connection, status) in [
        ("alice-mexc-spot", "connected"),
        ("bob-kucoin-futures", "connected"),
        ("carol-mexc-withdraw", "withdraw_enabled"),
        ("dave-kucoin-notrade", "no_trade_permission"),
        ("erin-mexc-iplist", "ip_not_allowed"),
        ("frank-kucoin-regenerated", "invalid_key"),
        ("grace-mexc-unbound", "connected"),
        ("heidi-kucoin-maintenance", "exchange_unavailable"),
        ("ivan-mexc-futures", "no_futures_permission"),
    ] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(connection))
            .unwrap_or_else(|| panic!("no row for {connection}:\n{stdout}"));
        assert!(
            row.contains(status),
            "{connection} should be {status}: {row}"
        );
    }
    assert!(stdout.contains("3 of 9 connections connected"), "{stdout}");
    assert!(
        stdout.contains("127.0.0.1 to"),
        "the IP remedy names the address"
    );

    let metrics_url = stdout
        .split_whitespace()
        .find(|w| w.starts_with("http://") && w.ends_with("/metrics"))
        .expect("the demo says where its metrics are")
        .to_string();
    let body = eventually(
        Duration::from_secs(30),
        "the daemon's first checks on /metrics",
        || async {
            http_get(&metrics_url)
                .await
                .filter(|(_, body)| {
                    body.contains("keywarden_connection_status{connection=\"carol-mexc-withdraw\"")
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

    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("demo stops on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
