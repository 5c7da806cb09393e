//! The stage the alert tests (`alerts`, `crash`, `unverified`) play on: the exchange simulator
//! playing their keys, our Bot API simulator and an accepting SMTP server on loopback, a scratch
//! dir and a metrics port. Each test writes its own config from the tables here, and its own
//! connections.

use std::net::SocketAddr;
use std::path::PathBuf;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{RunningSim, SimKey};

use crate::botapi_sim::BotApiSim;
use crate::smtp_server::{self, SmtpServer};
use crate::support::{self, free_port, DaemonProcess, Scratch};

pub struct Stage {
    pub scratch: Scratch,
    pub sim: RunningSim,
    pub bot: BotApiSim,
    pub smtp: SmtpServer,
    /// Where [`Stage::write_config`] writes the config the daemon runs on.
    pub config: PathBuf,
    pub metrics: SocketAddr,
    /// The bot token the Bot API simulator answers to, handed to the daemon in its environment.
    token: &'static str,
}

impl Stage {
    /// Starts the simulator playing `keys`, the Bot API simulator answering `token` and an SMTP
    /// server that accepts every message.
    pub async fn new(keys: Vec<SimKey>, token: &'static str) -> Stage {
        let sim = support::start_sim_with(keys).await;
        let bot = BotApiSim::start(token).await;
        let smtp = SmtpServer::start(smtp_server::Behaviour::Accept).await;
        let scratch = Scratch::new();
        let config = scratch.path().join("keywarden.toml");
        Stage {
            scratch,
            sim,
            bot,
            smtp,
            config,
            metrics: free_port(),
            token,
        }
    }

    /// The `[daemon]` table (`schedule`, `check_timeout`, the state dir in the scratch dir,
    /// metrics on this stage's port) and ample request budgets for `exchanges`: see
    /// [`support::daemon_table`].
    pub fn daemon_toml(
        &self,
        schedule: &str,
        check_timeout: &str,
        exchanges: &[ExchangeKind],
    ) -> String {
        let state = self.scratch.path().join("state");
        support::daemon_table(schedule, check_timeout, &state, self.metrics, exchanges)
    }

    /// `[alerts.telegram]` to `chats` on this stage's Bot API (the token from the environment,
    /// as [`Stage::start`] sets it) and `[alerts.email]` to ops@example.com on its SMTP server.
    fn channels_toml(&self, chats: &[i64]) -> String {
        let chats: Vec<String> = chats.iter().map(i64::to_string).collect();
        format!(
            "[alerts.telegram]\nbot_token = \"env:TELEGRAM_TOKEN\"\nchat_ids = [{chats}]\n\
             api_url = \"{bot}\"\n\n\
             [alerts.email]\nsmtp_url = \"{smtp}\"\nfrom = \"KeyWarden <keywarden@example.com>\"\n\
             to = [\"ops@example.com\"]\n\n",
            chats = chats.join(", "),
            bot = self.bot.url(),
            smtp = self.smtp.url(),
        )
    }

    /// A `[connections.NAME]` section for `key` on this stage's simulator (spot), whose alerts
    /// also go to `owner` by email.
    pub fn owned_connection(&self, name: &str, key: &SimKey, owner: &str) -> String {
        support::connection_toml(name, key, &self.sim, &["spot"])
            .trim_end()
            .to_string()
            + &format!("\nowner_email = \"{owner}\"\n\n")
    }

    /// Writes the config the daemon runs on: `daemon` (see [`Stage::daemon_toml`]), `[alerts]`
    /// holding the settings `alerts` (lines such as `resolve_after = 2\n`), the channels to
    /// `chats`, then `connections`.
    pub fn write_config(&self, daemon: &str, alerts: &str, chats: &[i64], connections: &str) {
        let channels = self.channels_toml(chats);
        self.scratch.write(
            "keywarden.toml",
            &format!("{daemon}[alerts]\n{alerts}\n{channels}{connections}"),
        );
    }

    /// Starts the daemon on the config, logging to `log` in the scratch dir.
    pub fn start(&self, log: &str) -> DaemonProcess {
        DaemonProcess::start_with_env(
            &self.config,
            self.scratch.path().join(log),
            &[("TELEGRAM_TOKEN", self.token)],
        )
    }
}
