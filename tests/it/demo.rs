//! `keywarden demo` runs end to end on a fresh machine: simulator, demo config, checks.

use crate::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_checks_every_demo_connection_against_the_simulator() {
    let run = support::run(&["demo"], &[]).await;
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
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
        let row = run
            .stdout
            .lines()
            .find(|l| l.starts_with(connection))
            .unwrap_or_else(|| panic!("no row for {connection}:\n{}", run.stdout));
        assert!(
            row.contains(status),
            "{connection} should be {status}: {row}"
        );
    }
    assert!(
        run.stdout.contains("3 of 9 connections connected"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("127.0.0.1"),
        "the IP remedy names the address"
    );
}
