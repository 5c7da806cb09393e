//! `keywarden check --json` through the real binary against the simulator: every scenario on
//! both exchanges, spot and futures connections, gives the status, rights, warnings and remedy
//! the design promises, and no secret ever reaches the output.

use std::collections::BTreeMap;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{Scenario, ScenarioFile, SimExchangeSettings, SimKey};
use serde_json::Value;

use crate::support::{self, connection_toml, json_lines, sim_key, Scratch};

/// Exchanges that report when a key without IP binding expires (MEXC: 90 days; Binance: the
/// trading authority of an unbound key lapses; Bybit: `expiredAt` in query-api; Gate: unbound
/// keys live 90 days from `created_at`; HTX: `validDays` in /v2/user/api-key).
fn unbound_key_expires(exchange: ExchangeKind) -> bool {
    matches!(
        exchange,
        ExchangeKind::Mexc
            | ExchangeKind::Binance
            | ExchangeKind::Bybit
            | ExchangeKind::Gate
            | ExchangeKind::Htx
    )
}

/// What one connection must come out as.
struct Expect {
    status: &'static str,
    warnings: Vec<&'static str>,
    /// (read, trade, withdraw, futures) when the scenario lets the exchange tell them; a `None`
    /// inside is a right the exchange cannot show (JSON `null`).
    rights: Option<[Option<bool>; 4]>,
    remedy_mentions: Option<&'static str>,
}

fn expect(status: &'static str, warnings: &[&'static str]) -> Expect {
    Expect {
        status,
        warnings: warnings.to_vec(),
        rights: None,
        remedy_mentions: None,
    }
}

impl Expect {
    fn rights(mut self, read: bool, trade: bool, withdraw: bool, futures: bool) -> Expect {
        self.rights = Some([Some(read), Some(trade), Some(withdraw), Some(futures)]);
        self
    }
    /// The withdraw right is expected to be `null` (unknown).
    fn withdraw_unknown(mut self) -> Expect {
        if let Some(rights) = &mut self.rights {
            rights[2] = None;
        }
        self
    }
    /// The withdraw right is `null` and said out loud: the `withdraw_unverified` warning (and
    /// the remedy that says where to look) on a verdict that reached the key's rights.
    fn withdraw_unverified(mut self) -> Expect {
        if self.reaches_rights() {
            self.warnings.push("withdraw_unverified");
        }
        self.withdraw_unknown()
    }
    /// The IP binding cannot be seen: `ip_binding_unverified` on a verdict that reached the
    /// key's rights.
    fn ip_binding_unverified(mut self) -> Expect {
        if self.reaches_rights() {
            self.warnings.push("ip_binding_unverified");
        }
        self
    }
    /// Whether the status is judged on the key's rights (the check got that far).
    fn reaches_rights(&self) -> bool {
        matches!(
            self.status,
            "withdraw_enabled"
                | "withdraw_unverified"
                | "no_read_permission"
                | "no_trade_permission"
                | "no_futures_permission"
                | "connected"
        )
    }
    /// The futures right is unknown (`null`): the exchange cannot tell it on this connection.
    fn futures_unknown(mut self) -> Expect {
        if let Some(rights) = &mut self.rights {
            rights[3] = None;
        }
        self
    }
    fn without_warning(mut self, warning: &str) -> Expect {
        self.warnings.retain(|w| *w != warning);
        self
    }
    fn remedy(mut self, mentions: &'static str) -> Expect {
        self.remedy_mentions = Some(mentions);
        self
    }
}

/// The scenario table: what a spot-only connection and a spot+futures connection see.
fn table(exchange: ExchangeKind, scenario: Scenario) -> (Expect, Option<Expect>) {
    let rows = common_table(exchange, scenario);
    match exchange {
        ExchangeKind::Htx => htx_futures_right(rows),
        ExchangeKind::Coinbase => coinbase_can_report(scenario, rows.0, rows.1),
        ExchangeKind::Okx => okx_futures_right(rows),
        _ => rows,
    }
}

/// What Coinbase can and cannot report (shared/docs/exchanges/coinbase.md §5, §6, §8), applied
/// to the common table:
/// - it never says whether a key is bound to an IP allowlist: no `ip_whitelist_missing`;
/// - key_permissions has no futures flag and a spot-only connection does not read the futures
///   account: futures `null` there, so no `futures_not_needed` either;
/// - a request from outside the key's IP allowlist gets the same bare 401 as an unknown key, so
///   it can only be reported as `invalid_key` (the message says it may be the IP);
/// - a request token lives 120 s, so a server clock a minute ahead (`clock_skew`) is inside the
///   window: Coinbase accepts it (a two-minute offset is caught, see the exchange-wide test).
fn coinbase_can_report(
    scenario: Scenario,
    spot: Expect,
    futures: Option<Expect>,
) -> (Expect, Option<Expect>) {
    match scenario {
        Scenario::IpNotWhitelisted => (expect("invalid_key", &[]).remedy("new key"), None),
        Scenario::ClockSkew => (
            expect("connected", &[])
                .rights(true, true, false, true)
                .futures_unknown()
                .ip_binding_unverified(),
            None,
        ),
        _ => (
            spot.futures_unknown()
                .without_warning("ip_whitelist_missing")
                .without_warning("futures_not_needed")
                .ip_binding_unverified(),
            futures.map(|f| {
                no_futures_without_trade(f.without_warning("ip_whitelist_missing"))
                    .ip_binding_unverified()
            }),
        ),
    }
}

/// A key without the trade right has no futures right, however readable its futures account
/// (issue 18 item 4): Coinbase's view-only keys read the CFM balance; OKX's read-only keys sit
/// on accounts in futures mode.
fn no_futures_without_trade(mut row: Expect) -> Expect {
    if let Some(rights) = &mut row.rights {
        if rights[1] == Some(false) {
            rights[3] = Some(false);
        }
    }
    row
}

/// OKX has no futures right of its own: the key's `trade` right (`perm`) covers futures on an
/// account whose mode has derivatives (`acctLv`). A key without `trade` has no futures right on
/// either connection, so a spot-only one does not warn `futures_not_needed` for it.
fn okx_futures_right((spot, futures): (Expect, Option<Expect>)) -> (Expect, Option<Expect>) {
    let mut spot = no_futures_without_trade(spot);
    if spot.rights.is_some_and(|r| r[3] == Some(false)) {
        spot.warnings.retain(|w| *w != "futures_not_needed");
    }
    (spot, futures.map(no_futures_without_trade))
}

/// HTX has no futures right of its own: `trade` covers futures once the account has opened
/// contract trading, which only the futures account read (futures connections) shows. So a
/// spot-only connection reports futures `null` for a trade key (hence no `futures_not_needed`),
/// and a key without `trade` has no futures right on either connection (`trade_missing`).
fn htx_futures_right((mut spot, futures): (Expect, Option<Expect>)) -> (Expect, Option<Expect>) {
    spot.warnings.retain(|w| *w != "futures_not_needed");
    if let Some(rights) = &mut spot.rights {
        rights[3] = if rights[1] == Some(true) {
            None
        } else {
            Some(false)
        };
    }
    let futures = futures.map(|mut row| {
        if let Some(rights) = &mut row.rights {
            if rights[1] == Some(false) {
                rights[3] = Some(false);
            }
        }
        row
    });
    (spot, futures)
}

fn common_table(exchange: ExchangeKind, scenario: Scenario) -> (Expect, Option<Expect>) {
    use Scenario::*;
    let expires = unbound_key_expires(exchange);
    let (spot, futures) = match scenario {
        // Gate and MEXC hide the withdraw right from this key (see `table`); the others answer
        // it as `valid`.
        Valid | RightsUnrevealed => (
            expect("connected", &["futures_not_needed"]).rights(true, true, false, true),
            Some(expect("connected", &[]).rights(true, true, false, true)),
        ),
        WithdrawEnabled => (
            expect("withdraw_enabled", &["futures_not_needed"])
                .rights(true, true, true, true)
                .remedy("withdraw"),
            Some(expect("withdraw_enabled", &[]).rights(true, true, true, true)),
        ),
        FuturesMissing => (
            expect("connected", &[]).rights(true, true, false, false),
            Some(
                expect("no_futures_permission", &[])
                    .rights(true, true, false, false)
                    .remedy("futures"),
            ),
        ),
        TradeMissing => (
            expect("no_trade_permission", &["futures_not_needed"])
                .rights(true, false, false, true)
                .remedy("trading rights"),
            Some(expect("no_trade_permission", &[]).rights(true, false, false, true)),
        ),
        ReadOnly => (
            expect("no_trade_permission", &[]).rights(true, false, false, false),
            Some(expect("no_trade_permission", &[]).rights(true, false, false, false)),
        ),
        // BingX's refusal (100419 "IP does not match IP whitelist") names no IP, so its remedy
        // cannot name the address; it still says what to do.
        IpNotWhitelisted if exchange == ExchangeKind::Bingx => {
            (expect("ip_not_allowed", &[]).remedy("IP whitelist"), None)
        }
        IpNotWhitelisted => (expect("ip_not_allowed", &[]).remedy("127.0.0.1"), None),
        NoIpWhitelist => {
            let mut spot = vec!["ip_whitelist_missing", "futures_not_needed"];
            let mut futures = vec!["ip_whitelist_missing"];
            if expires {
                spot.push("key_expires_soon");
                futures.push("key_expires_soon");
            }
            (
                Expect {
                    warnings: spot,
                    ..expect("connected", &[]).rights(true, true, false, true)
                },
                Some(Expect {
                    warnings: futures,
                    ..expect("connected", &[])
                }),
            )
        }
        // (the faults outside `Scenario::ALL` are tested in faults.rs; listed for exhaustiveness)
        Maintenance | Http503 | CdnHtml | Hang | MalformedJson | ConnectionReset | SlowDrip
        | ErrorBody200 => (
            expect("exchange_unavailable", &[]).remedy("maintenance"),
            None,
        ),
        RateLimited | RateLimitedNoRetryAfter => (expect("rate_limited", &[]), None),
        ClockSkew => (expect("clock_skew", &[]).remedy("clock"), None),
        // (tested in the rows of the exchanges that play them, tests/it/exchanges/)
        MaskedSiblingKeys | UnifiedAccount | FuturesOnly | OtherRegion | RestrictedLocation => {
            panic!("{scenario:?} is not in Scenario::ALL")
        }
    };
    // Gate: no endpoint documents the withdraw right; the probe reads a `withdrawal` entry in
    // the key's permission list when there is one (the withdraw_enabled key) and otherwise
    // reports the right unknown (`null`, with a note), never `false`.
    // MEXC: apiKeyInfo answers 404, so the rights only it shows (trade, withdraw, futures, IP
    // binding) are unknown; the account read still shows the read right.
    if exchange == ExchangeKind::Mexc && scenario == RightsUnrevealed {
        let unrevealed = || Expect {
            rights: Some([Some(true), None, None, None]),
            ..expect(
                "connected",
                &["withdraw_unverified", "ip_binding_unverified"],
            )
        };
        return (unrevealed(), Some(unrevealed()));
    }
    if exchange == ExchangeKind::Gate && scenario != WithdrawEnabled {
        return (
            spot.withdraw_unverified(),
            futures.map(Expect::withdraw_unverified),
        );
    }
    (spot, futures)
}

fn check_line(line: &Value, want: &Expect, name: &str) {
    assert_eq!(line["status"], want.status, "{name}: status in {line}");
    let warnings: Vec<&str> = line["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(warnings, want.warnings, "{name}: warnings in {line}");
    if let Some([read, trade, withdraw, futures]) = want.rights {
        let p = &line["permissions"];
        assert_eq!(
            [&p["read"], &p["trade"], &p["withdraw"], &p["futures"]],
            [
                &Value::from(read),
                &Value::from(trade),
                &Value::from(withdraw),
                &Value::from(futures)
            ],
            "{name}: permissions in {line}"
        );
    }
    match (want.status, &line["remedy"]) {
        // A connected key whose withdraw right went unrevealed is told where to look.
        ("connected", Value::String(remedy)) if want.warnings.contains(&"withdraw_unverified") => {
            assert!(
                remedy.contains("page") && remedy.contains("withdraw"),
                "{name}: remedy {remedy:?} does not say where to confirm the withdraw right"
            );
        }
        ("connected", remedy) => assert!(remedy.is_null(), "{name}: connected has no remedy"),
        (_, Value::String(remedy)) => {
            if let Some(word) = want.remedy_mentions {
                assert!(
                    remedy.contains(word),
                    "{name}: remedy {remedy:?} lacks {word:?}"
                );
            }
        }
        (_, other) => panic!("{name}: a failing status needs a remedy, got {other}"),
    }
    assert!(
        !line["message"].as_str().unwrap().is_empty(),
        "{name}: message"
    );
}

/// Every secret a config holds, to look for in everything the binary printed.
fn secrets_of(keys: &[SimKey]) -> Vec<String> {
    keys.iter()
        .flat_map(|k| {
            [
                Some(k.api_key.clone()),
                Some(k.api_secret.clone()),
                k.passphrase.clone(),
            ]
        })
        .flatten()
        .collect()
}

fn assert_no_secret(outputs: &[&str], secrets: &[String]) {
    for secret in secrets {
        for out in outputs {
            assert!(
                !out.contains(secret.as_str()),
                "secret {secret:?} leaked into output:\n{out}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scenario_on_every_exchange_gives_the_designed_verdict() {
    let mut keys = Vec::new();
    for exchange in ExchangeKind::ALL {
        for scenario in Scenario::ALL {
            keys.push(sim_key(
                exchange,
                &format!("{exchange}-{}", scenario.name()),
                scenario,
            ));
        }
    }
    let scenarios: Vec<Scenario> = keys.iter().map(|k| k.scenario).collect();
    let sim = support::start_sim(ScenarioFile {
        keys: keys.clone(),
        ..ScenarioFile::default()
    })
    .await;

    let mut config = format!(
        "[daemon]\ncheck_timeout = \"2s\"\nmax_concurrent_checks = 16\n\n{}",
        support::ample_budgets(&ExchangeKind::ALL)
    );
    let mut expected: BTreeMap<String, Expect> = BTreeMap::new();
    for (key, &scenario) in keys.iter().zip(&scenarios) {
        let base = format!("{}-{}", key.exchange, scenario.name().replace('_', "-"));
        let (spot, futures) = table(key.exchange, scenario);
        config.push_str(&connection_toml(
            &format!("{base}-spot"),
            key,
            &sim,
            &["spot"],
        ));
        expected.insert(format!("{base}-spot"), spot);
        if let Some(futures) = futures {
            config.push_str(&connection_toml(
                &format!("{base}-futures"),
                key,
                &sim,
                &["spot", "futures"],
            ));
            expected.insert(format!("{base}-futures"), futures);
        }
    }
    let run = support::check_json(&config).await;

    assert_eq!(
        run.code, 1,
        "some connections fail, so exit 1; stderr:\n{}",
        run.stderr
    );
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), expected.len(), "one line per connection");
    for line in &lines {
        let name = line["connection"].as_str().unwrap();
        check_line(line, &expected[name], name);
    }
    let mexc_unbound = lines
        .iter()
        .find(|l| l["connection"] == "mexc-no-ip-whitelist-spot")
        .unwrap();
    assert!(
        mexc_unbound["expires_at"].is_string(),
        "MEXC reports when an unbound key expires"
    );
    assert_no_secret(&[&run.stdout, &run.stderr], &secrets_of(&keys));
}

/// Connections whose credentials differ from what the exchange holds, on every exchange.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_unknown_key_and_wrong_passphrase_are_invalid_keys() {
    let real: Vec<SimKey> = ExchangeKind::ALL
        .into_iter()
        .map(|e| sim_key(e, &format!("{e}-real"), Scenario::Valid))
        .collect();
    let sim = support::start_sim(ScenarioFile {
        keys: real.clone(),
        ..ScenarioFile::default()
    })
    .await;
    let mut cases: Vec<(String, SimKey)> = Vec::new();
    for key in &real {
        let e = key.exchange;
        let wrong_secret = SimKey {
            api_secret: "not-the-secret-the-exchange-holds".into(),
            ..key.clone()
        };
        cases.push((format!("{e}-wrong-secret"), wrong_secret));
        let unknown = sim_key(e, &format!("never-registered-{e}"), Scenario::Valid);
        cases.push((format!("{e}-unknown-key"), unknown));
        if e.needs_passphrase() {
            let wrong_passphrase = SimKey {
                passphrase: Some("not-the-passphrase".into()),
                ..key.clone()
            };
            cases.push((format!("{e}-wrong-passphrase"), wrong_passphrase));
        }
    }
    let config: String = cases
        .iter()
        .map(|(name, key)| connection_toml(name, key, &sim, &["spot"]))
        .collect();
    let run = support::check_json(&config).await;

    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), cases.len());
    for line in &lines {
        let name = line["connection"].as_str().unwrap();
        check_line(line, &expect("invalid_key", &[]).remedy("new key"), name);
    }
    let all_keys: Vec<SimKey> = cases
        .iter()
        .map(|(_, k)| k.clone())
        .chain(real.iter().cloned())
        .collect();
    assert_no_secret(&[&run.stdout, &run.stderr], &secrets_of(&all_keys));
}

/// Exchange-wide trouble: the whole exchange in maintenance, or its clock far from ours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exchange_wide_maintenance_and_clock_offset() {
    for exchange in ExchangeKind::ALL {
        for (label, settings, status) in [
            (
                "maintenance",
                SimExchangeSettings {
                    maintenance: true,
                    ..SimExchangeSettings::default()
                },
                "exchange_unavailable",
            ),
            (
                "clock",
                SimExchangeSettings {
                    // Outside every exchange's window, HTX's five minutes the widest.
                    clock_offset_ms: 400_000,
                    ..SimExchangeSettings::default()
                },
                "clock_skew",
            ),
        ] {
            let key = sim_key(exchange, &format!("{exchange}-{label}"), Scenario::Valid);
            let sim = support::start_sim(ScenarioFile {
                keys: vec![key.clone()],
                exchanges: [(exchange, settings)].into_iter().collect(),
            })
            .await;
            let run = support::check_json(&connection_toml("c", &key, &sim, &["spot"])).await;
            let lines = json_lines(&run.stdout);
            assert_eq!(lines.len(), 1, "{exchange} {label}: {}", run.stderr);
            assert_eq!(
                lines[0]["status"], status,
                "{exchange} {label}: {}",
                lines[0]
            );
            assert_eq!(run.code, 1);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_connections_exit_zero_and_the_table_masks_keys() {
    let key = sim_key(
        ExchangeKind::Mexc,
        "healthy-table",
        Scenario::FuturesMissing,
    );
    let sim = support::start_sim_with(vec![key.clone()]).await;
    let scratch = Scratch::new();
    let path = scratch.write("k.toml", &connection_toml("alice", &key, &sim, &["spot"]));
    let run = support::run(&["check", "--config", path.to_str().unwrap()], &[]).await;
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    let masked = format!(
        "{}…{}",
        &key.api_key[..4],
        &key.api_key[key.api_key.len() - 4..]
    );
    assert!(
        run.stdout.contains(&masked),
        "table shows {masked}:\n{}",
        run.stdout
    );
    assert!(run.stdout.contains("alice") && run.stdout.contains("connected"));
    assert!(run.stdout.contains("1 of 1 connections connected"));
    assert_no_secret(&[&run.stdout, &run.stderr], &secrets_of(&[key]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_connections_only_and_unknown_names_are_usage_errors() {
    let key = sim_key(ExchangeKind::Kucoin, "named", Scenario::FuturesMissing);
    let sim = support::start_sim_with(vec![key.clone()]).await;
    let scratch = Scratch::new();
    let config = connection_toml("one", &key, &sim, &["spot"])
        + &connection_toml(
            "two",
            &sim_key(ExchangeKind::Kucoin, "absent", Scenario::Valid),
            &sim,
            &["spot"],
        );
    let path = scratch.write("k.toml", &config);
    let path = path.to_str().unwrap();

    let run = support::run(&["check", "--config", path, "--json", "one"], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines = json_lines(&run.stdout);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["connection"], "one");

    let run = support::run(&["check", "--config", path, "three"], &[]).await;
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no connection named \"three\""),
        "{}",
        run.stderr
    );
}
