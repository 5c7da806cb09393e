//! Rights the exchange will not reveal (issue 17), on the real binary: a Gate key whose key list
//! shows no withdrawal group and a MEXC key whose apiKeyInfo answers 404 come out with
//! `withdraw_unverified`, one notice each to the operator's chat and the owner's inbox (not
//! repeated, not after a restart, resolved once the exchange reveals the right), the metric the
//! dashboard counts, and `require_withdraw_verified = true` making them fail.

use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{Scenario, ScenarioFile, SimKey};

use crate::alerting::Stage;
use crate::support::{self, connection_toml, eventually, json_lines, sim_key, Scratch};

const TOKEN: &str = "123456:unverified-bot-token";
const CHAT: i64 = -1017;

/// (connection, exchange, owner): the Gate key, the MEXC key, and a MEXC key that tells all.
const GATE: (&str, ExchangeKind, &str) = ("dan-gate", ExchangeKind::Gate, "dan@example.com");
const MEXC: (&str, ExchangeKind, &str) = ("eve-mexc", ExchangeKind::Mexc, "eve@example.com");
const TOLD: (&str, ExchangeKind, &str) = ("fay-mexc", ExchangeKind::Mexc, "fay@example.com");

/// The three connections on the alerting stage, and the keys they play.
struct World {
    stage: Stage,
    keys: Vec<SimKey>,
}

impl World {
    async fn new() -> World {
        let keys = vec![
            sim_key(GATE.1, "unverified-dan", Scenario::RightsUnrevealed),
            sim_key(MEXC.1, "unverified-eve", Scenario::RightsUnrevealed),
            sim_key(TOLD.1, "unverified-fay", Scenario::FuturesMissing),
        ];
        let stage = Stage::new(keys.clone(), TOKEN).await;
        let connections: String = keys
            .iter()
            .zip([GATE, MEXC, TOLD])
            .map(|(key, (name, _, owner))| stage.owned_connection(name, key, owner))
            .collect();
        stage.write_config(
            &stage.daemon_toml(
                "* * * * * *",
                "5s",
                &[ExchangeKind::Mexc, ExchangeKind::Gate],
            ),
            "resolve_after = 2\n",
            &[CHAT],
            &connections,
        );
        World { stage, keys }
    }

    /// How many alerts of `kind` ("Notice", "Resolved") about `topic` on `connection` reached
    /// the chat: a message holds one alert, or a digest one block per alert.
    fn alerts(&self, kind: &str, topic: &str, connection: &str) -> usize {
        self.stage
            .bot
            .delivered()
            .iter()
            .filter(|m| m.chat_id == CHAT)
            .flat_map(|m| m.text.split("\n\n").map(str::to_string).collect::<Vec<_>>())
            .filter(|block| {
                let single = block.contains(&format!("{kind}: {topic}</b> on <b>{connection}</b>"));
                let in_digest = block.contains(&format!("<b>{connection}</b>"))
                    && block.contains(&format!("{kind}: <code>{topic}</code>"));
                single || in_digest
            })
            .count()
    }

    fn emails_to(&self, address: &str) -> usize {
        self.stage
            .smtp
            .messages()
            .iter()
            .filter(|m| m.recipients.iter().any(|r| r == address))
            .count()
    }

    /// `keywarden_connection_unverified_right` of `connection` and `right`, as /metrics shows it.
    async fn unverified(&self, connection: &str, right: &str) -> Option<String> {
        let (_, body) =
            support::http_get(&format!("http://{}/metrics", self.stage.metrics)).await?;
        let series =
            format!("keywarden_connection_unverified_right{{connection=\"{connection}\",exchange=");
        body.lines()
            .find(|l| l.starts_with(&series) && l.contains(&format!("right=\"{right}\"")))
            .and_then(|l| l.rsplit(' ').next())
            .map(str::to_string)
    }

    /// How many checks the daemon has counted so far (every exchange, every status).
    async fn checks(&self) -> u64 {
        let Some((_, body)) =
            support::http_get(&format!("http://{}/metrics", self.stage.metrics)).await
        else {
            return 0;
        };
        body.lines()
            .filter(|l| l.starts_with("keywarden_checks_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// Waits until the daemon has made `more` checks after now.
    async fn wait_checks(&self, more: u64) {
        let from = self.checks().await;
        eventually(Duration::from_secs(30), "more checks", || async {
            (self.checks().await >= from + more).then_some(())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_withdraw_rights_are_noticed_once_counted_survive_restart_and_resolve() {
    let w = World::new().await;
    let mut daemon = w.stage.start("daemon.log");
    let (gate, mexc, told) = (GATE.0, MEXC.0, TOLD.0);

    eventually(
        Duration::from_secs(40),
        "a withdraw_unverified notice for both keys in the chat and both owners' inboxes",
        || async {
            let chat = w.alerts("Notice", "withdraw_unverified", gate) > 0
                && w.alerts("Notice", "withdraw_unverified", mexc) > 0
                && w.alerts("Notice", "ip_binding_unverified", mexc) > 0;
            let mail = w.emails_to(GATE.2) > 0 && w.emails_to(MEXC.2) > 0;
            (chat && mail).then_some(())
        },
    )
    .await;
    // The dashboard's series: 1 for each unrevealed right, 0 where the exchange told.
    let expected = [
        (gate, "withdraw", "1"),
        (gate, "ip_binding", "0"),
        (mexc, "withdraw", "1"),
        (mexc, "ip_binding", "1"),
        (told, "withdraw", "0"),
        (told, "ip_binding", "0"),
    ];
    eventually(
        Duration::from_secs(30),
        "keywarden_connection_unverified_right for every connection",
        || async {
            for (connection, right, want) in expected {
                if w.unverified(connection, right).await.as_deref() != Some(want) {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    // The notice says where to look on the exchange's own API-management page.
    let gate_notice = w
        .stage
        .bot
        .delivered()
        .into_iter()
        .find(|m| m.text.contains(gate) && m.text.contains("withdraw_unverified"))
        .unwrap();
    assert!(
        gate_notice.text.contains("Gate's API Management page"),
        "{}",
        gate_notice.text
    );

    // More checks with the same verdicts: no repeat (notices have no reminders).
    w.wait_checks(6).await;
    let once = |w: &World| {
        (
            w.alerts("Notice", "withdraw_unverified", gate),
            w.alerts("Notice", "withdraw_unverified", mexc),
            w.alerts("Notice", "ip_binding_unverified", mexc),
            w.alerts("Notice", "withdraw_unverified", told),
        )
    };
    assert_eq!(once(&w), (1, 1, 1, 0));
    let dan_mails = w.emails_to(GATE.2);
    assert_eq!(dan_mails, 1, "one notice to the Gate key's owner");
    assert_eq!(
        w.emails_to(TOLD.2),
        0,
        "nothing to the owner of a key that tells"
    );

    // A restart remembers what was noticed.
    daemon.terminate(Duration::from_secs(15)).await;
    let mut daemon = w.stage.start("daemon-2.log");
    w.wait_checks(6).await;
    assert_eq!(once(&w), (1, 1, 1, 0), "no notice again after a restart");
    assert_eq!(w.emails_to(GATE.2), dan_mails);

    // MEXC's apiKeyInfo answers again: both rights are revealed, and the notices resolved.
    assert!(w
        .stage
        .sim
        .state
        .set_scenario(MEXC.1, &w.keys[1].api_key, Scenario::FuturesMissing));
    eventually(
        Duration::from_secs(30),
        "the resolved notices for the MEXC key",
        || async {
            (w.alerts("Resolved", "withdraw_unverified", mexc) == 1
                && w.alerts("Resolved", "ip_binding_unverified", mexc) == 1)
                .then_some(())
        },
    )
    .await;
    assert_eq!(w.unverified(mexc, "withdraw").await.as_deref(), Some("0"));
    assert_eq!(w.alerts("Resolved", "withdraw_unverified", gate), 0);

    let log = daemon.log();
    for key in &w.keys {
        for secret in [&key.api_key, &key.api_secret] {
            assert!(!log.contains(secret.as_str()), "secret in the log");
            for m in w.stage.bot.sent() {
                assert!(!m.text.contains(secret.as_str()), "secret in a message");
            }
        }
    }
    daemon.terminate(Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn require_withdraw_verified_turns_an_unrevealed_withdraw_right_into_a_failing_status() {
    let keys = vec![
        sim_key(GATE.1, "required-dan", Scenario::RightsUnrevealed),
        sim_key(MEXC.1, "required-eve", Scenario::RightsUnrevealed),
        sim_key(TOLD.1, "required-fay", Scenario::FuturesMissing),
    ];
    let sim = support::start_sim(ScenarioFile {
        keys: keys.clone(),
        ..ScenarioFile::default()
    })
    .await;
    let scratch = Scratch::new();
    let mut text = format!(
        "[daemon]\nstate_dir = \"{}\"\ncheck_timeout = \"5s\"\n\n",
        scratch.path().join("state").display()
    );
    for (key, (name, _, _)) in keys.iter().zip([GATE, MEXC, TOLD]) {
        // The same key twice: as the default leaves it, and required verified.
        text += &connection_toml(name, key, &sim, &["spot"]);
        text += &connection_toml(&format!("{name}-strict"), key, &sim, &["spot"]);
        text = text.trim_end().to_string() + "\nrequire_withdraw_verified = true\n\n";
    }
    let config = scratch.write("keywarden.toml", &text);
    let run = support::run(
        &["check", "--config", config.to_str().unwrap(), "--json"],
        &[],
    )
    .await;
    assert_eq!(run.code, 1, "a failing connection: {}", run.stderr);
    let lines = json_lines(&run.stdout);
    let line = |name: &str| {
        lines
            .iter()
            .find(|l| l["connection"] == name)
            .unwrap_or_else(|| panic!("no line for {name}: {}", run.stdout))
    };
    for (name, exchange) in [(GATE.0, "Gate"), (MEXC.0, "MEXC")] {
        let passing = line(name);
        assert_eq!(passing["status"], "connected", "{passing}");
        assert!(passing["permissions"]["withdraw"].is_null(), "{passing}");
        let strict = line(&format!("{name}-strict"));
        assert_eq!(strict["status"], "withdraw_unverified", "{strict}");
        assert!(strict["permissions"]["withdraw"].is_null(), "{strict}");
        let warnings = strict["warnings"].as_array().unwrap();
        assert!(
            warnings.iter().any(|w| w == "withdraw_unverified"),
            "{strict}"
        );
        let remedy = strict["remedy"].as_str().unwrap();
        assert!(
            remedy.contains(&format!("{exchange}'s API Management page")),
            "{remedy}"
        );
        assert!(remedy.contains("require_withdraw_verified"), "{remedy}");
    }
    // A key whose exchange tells its rights passes either way.
    for name in [TOLD.0.to_string(), format!("{}-strict", TOLD.0)] {
        let told = line(&name);
        assert_eq!(told["status"], "connected", "{told}");
        assert_eq!(told["warnings"], serde_json::json!([]), "{told}");
        assert!(told["remedy"].is_null(), "{told}");
    }
}
