//! The bot's commands: `/status` and `/check NAME`, answered only in the allowlisted chats, and
//! there only to the allowlisted users when `alerts.telegram.allowed_user_ids` is set (any
//! member of a group could command the bot otherwise).
//!
//! A manual `getUpdates` loop (offset + long polling) rather than teloxide's dispatcher: it stops
//! at once when the shutdown flag flips, and it is the whole of what two commands need. Anything
//! else — another chat or user, other text, another bot's command — gets no answer and an info
//! line, at most one a minute (a stranger flooding the bot must not flood the log).

use std::sync::Arc;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, Message, UpdateKind};
use teloxide::RequestError;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{build_bot, delivery_error, render, send_html, Scrubber};
use crate::config::TelegramConfig;
use crate::notifier::CommandBackend;

/// How long one `getUpdates` call waits for news.
const POLL_SECONDS: u32 = 10;
/// The command client's request timeout: longer than the poll, or every quiet poll would fail.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(POLL_SECONDS as u64 + 15);
/// The longest pause after failed polls.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// At most one log line about ignored messages per this long.
const IGNORED_LOG_EVERY: Duration = Duration::from_secs(60);

/// A command the bot understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command<'a> {
    Status,
    /// `/check NAME`; `None` when the name is missing.
    Check(Option<&'a str>),
}

/// Parses `/status`, `/check NAME`, and their `/cmd@BotName` forms. A command addressed to
/// another bot (`@OtherBot`), or any `@` form while the bot's own name is not known yet, is not
/// ours. Anything else is `None`.
pub(crate) fn parse_command<'a>(text: &'a str, bot_username: Option<&str>) -> Option<Command<'a>> {
    let text = text.trim_start();
    let rest = text.strip_prefix('/')?;
    let (word, args) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let command = match word.split_once('@') {
        Some((command, addressee)) => {
            let ours = bot_username.is_some_and(|me| me.eq_ignore_ascii_case(addressee));
            if !ours {
                return None;
            }
            command
        }
        None => word,
    };
    if command.eq_ignore_ascii_case("status") {
        Some(Command::Status)
    } else if command.eq_ignore_ascii_case("check") {
        Some(Command::Check(args.split_whitespace().next()))
    } else {
        None
    }
}

/// Starts the command loop: long-polls `getUpdates` until `shutdown` turns `true` (or its
/// sender is dropped), and answers `/status` and `/check NAME` in `config.chat_ids` only.
pub fn spawn_commands(
    config: &TelegramConfig,
    backend: Arc<dyn CommandBackend>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let scrub = Scrubber::new(config);
    let bot = build_bot(config, CLIENT_TIMEOUT);
    let allowed = config.chat_ids.clone();
    let allowed_users = config.allowed_user_ids.clone();
    tokio::spawn(async move {
        let bot = match bot {
            Ok(bot) => bot,
            Err(e) => {
                tracing::error!(error = %scrub.clean(&e.to_string()), "telegram commands disabled");
                return;
            }
        };
        let mut looper = Looper {
            bot,
            backend,
            allowed,
            allowed_users,
            scrub,
            shutdown,
            username: None,
            ignored: Ignored::default(),
        };
        looper.run().await;
        tracing::info!("telegram commands stopped");
    })
}

struct Looper {
    bot: Bot,
    backend: Arc<dyn CommandBackend>,
    allowed: Vec<i64>,
    /// `None`: every member of an allowed chat may command the bot.
    allowed_users: Option<Vec<i64>>,
    scrub: Scrubber,
    shutdown: watch::Receiver<bool>,
    username: Option<String>,
    ignored: Ignored,
}

/// Messages the bot does not answer, logged at most once per [`IGNORED_LOG_EVERY`] with how
/// many were ignored since the last line.
#[derive(Default)]
struct Ignored {
    last_logged: Option<tokio::time::Instant>,
    since: u64,
}

impl Ignored {
    fn note(&mut self, chat_id: i64, user_id: Option<i64>, why: &str) {
        let now = tokio::time::Instant::now();
        if self
            .last_logged
            .is_some_and(|last| now - last < IGNORED_LOG_EVERY)
        {
            self.since += 1;
            return;
        }
        self.last_logged = Some(now);
        let more = std::mem::take(&mut self.since);
        tracing::info!(
            chat_id,
            user_id,
            ignored_since_last_line = more,
            "ignoring a telegram message {why}"
        );
    }
}

impl Looper {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps `pause`; `false` when shutdown came first.
    async fn pause(&mut self, pause: Duration) -> bool {
        let slept = tokio::select! {
            _ = tokio::time::sleep(pause) => true,
            _ = self.shutdown.wait_for(|stop| *stop) => false,
        };
        slept && !self.stopping()
    }

    async fn run(&mut self) {
        let mut offset: i32 = 0;
        let mut failures: u32 = 0;
        while !self.stopping() {
            if self.username.is_none() {
                self.learn_username().await;
                if self.stopping() {
                    break;
                }
            }
            let poll = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(POLL_SECONDS)
                .allowed_updates(vec![AllowedUpdate::Message]);
            let result = tokio::select! {
                result = poll => result,
                _ = self.shutdown.wait_for(|stop| *stop) => break,
            };
            match result {
                Ok(updates) => {
                    failures = 0;
                    for update in updates {
                        offset = offset.max(update.id.0 as i32 + 1);
                        if let UpdateKind::Message(message) = update.kind {
                            self.handle(&message).await;
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    let pause = match &e {
                        RequestError::RetryAfter(after) => after.duration(),
                        _ => backoff(failures),
                    };
                    let error = delivery_error(&e, &self.scrub);
                    tracing::warn!(%error, ?pause, "telegram getUpdates failed");
                    if !self.pause(pause).await {
                        break;
                    }
                }
            }
        }
    }

    /// Asks `getMe` for the bot's username, so `/check@ThisBot` is recognised and
    /// `/check@OtherBot` is not. Failing is not fatal: plain commands work without it.
    async fn learn_username(&mut self) {
        let me = tokio::select! {
            me = self.bot.get_me() => me,
            _ = self.shutdown.wait_for(|stop| *stop) => return,
        };
        match me {
            Ok(me) => {
                tracing::info!(bot = me.username(), "telegram commands ready");
                self.username = me.user.username.clone();
            }
            Err(e) => {
                let error = delivery_error(&e, &self.scrub);
                tracing::warn!(%error, "telegram getMe failed; /cmd@bot forms wait for it");
            }
        }
    }

    async fn handle(&mut self, message: &Message) {
        let chat_id = message.chat.id.0;
        let user_id = message
            .from
            .as_ref()
            .and_then(|user| i64::try_from(user.id.0).ok());
        let text = message.text().unwrap_or_default();
        if !self.allowed.contains(&chat_id) {
            let why = "from a chat not in alerts.telegram.chat_ids";
            self.ignored.note(chat_id, user_id, why);
            return;
        }
        if let Some(users) = &self.allowed_users {
            if !user_id.is_some_and(|id| users.contains(&id)) {
                let why = "from a user not in alerts.telegram.allowed_user_ids";
                self.ignored.note(chat_id, user_id, why);
                return;
            }
        }
        let Some(command) = parse_command(text, self.username.as_deref()) else {
            self.ignored.note(chat_id, user_id, "that is not a command");
            return;
        };
        let answer = match command {
            Command::Status => render::render_statuses(&self.backend.statuses()),
            Command::Check(None) => render::render_check_usage(),
            Command::Check(Some(name)) => {
                tracing::info!(chat_id, connection = name, "telegram /check");
                match self.backend.check_now(name).await {
                    Some(verdict) => render::render_verdict(&verdict),
                    None => render::render_unknown_connection(name),
                }
            }
        };
        for part in render::split_lines(&answer, render::MAX_MESSAGE) {
            if let Err(e) = send_html(&self.bot, chat_id, part).await {
                let error = delivery_error(&e, &self.scrub);
                tracing::warn!(chat_id, %error, "cannot answer a telegram command");
                break;
            }
        }
    }
}

/// 1 s, 2 s, 4 s, … up to [`MAX_BACKOFF`].
fn backoff(failures: u32) -> Duration {
    let secs = 1u64 << failures.saturating_sub(1).min(5);
    Duration::from_secs(secs).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_two_commands() {
        assert_eq!(parse_command("/status", None), Some(Command::Status));
        assert_eq!(
            parse_command("  /status extra", None),
            Some(Command::Status)
        );
        assert_eq!(
            parse_command("/check alice-mexc", None),
            Some(Command::Check(Some("alice-mexc")))
        );
        assert_eq!(
            parse_command("/check   alice-mexc  more", None),
            Some(Command::Check(Some("alice-mexc")))
        );
        assert_eq!(parse_command("/check", None), Some(Command::Check(None)));
        assert_eq!(
            parse_command("/check\nbob", None),
            Some(Command::Check(Some("bob")))
        );
    }

    #[test]
    fn bot_name_forms_must_name_this_bot() {
        let me = Some("KeyWardenBot");
        assert_eq!(
            parse_command("/check@KeyWardenBot alice", me),
            Some(Command::Check(Some("alice")))
        );
        assert_eq!(
            parse_command("/status@keywardenbot", me),
            Some(Command::Status)
        );
        assert_eq!(parse_command("/status@OtherBot", me), None);
        assert_eq!(parse_command("/status@KeyWardenBot", None), None);
    }

    #[test]
    fn other_text_is_not_a_command() {
        for text in ["status", "hello /status", "/start", "/statusx", "", "/"] {
            assert_eq!(parse_command(text, None), None, "{text:?}");
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(2), Duration::from_secs(2));
        assert_eq!(backoff(4), Duration::from_secs(8));
        assert_eq!(backoff(50), MAX_BACKOFF);
    }
}
