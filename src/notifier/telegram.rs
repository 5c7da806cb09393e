//! The Telegram channel: alerts as HTML messages through the Bot API (teloxide), and the bot's
//! `/status` and `/check NAME` commands for the chats in the allowlist.
//!
//! The bot token is part of every Bot API URL (`/bot<token>/sendMessage`), and HTTP client
//! errors quote the URL. So no error text leaves this module unscrubbed: [`Scrubber`] replaces
//! the token in everything that becomes a [`DeliveryError`] or a log line.
//!
//! - [`render`]: escaping, the alert and digest layout, the 4096-character split.
//! - [`commands`]: the long-polling command loop ([`spawn_commands`]).

mod commands;
mod render;

use std::error::Error as _;
use std::time::Duration;

use teloxide::prelude::*;
use teloxide::types::{ChatId, LinkPreviewOptions, ParseMode};
use teloxide::{ApiError, RequestError};

use crate::alert::Alert;
use crate::config::TelegramConfig;
use crate::notifier::{Channel, Delivery, DeliveryError, Notifier, Recipient};
use crate::secret::ExposeSecret;

pub use commands::spawn_commands;
pub use render::{escape_html, render_messages, MAX_MESSAGE};

/// How long one Bot API request may take before delivery gives up and says `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// The Telegram notifier: one bot, one HTTP client with a request timeout.
pub struct Telegram {
    bot: Bot,
    chat_ids: Vec<i64>,
    scrub: Scrubber,
}

impl std::fmt::Debug for Telegram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telegram")
            .field("api_url", &self.bot.api_url().as_str())
            .field("chat_ids", &self.chat_ids)
            .field("bot_token", &"[REDACTED]")
            .finish()
    }
}

impl Telegram {
    /// A notifier for `config`, with the default request timeout ([`DEFAULT_TIMEOUT`]).
    pub fn new(config: &TelegramConfig) -> anyhow::Result<Telegram> {
        Telegram::with_timeout(config, DEFAULT_TIMEOUT)
    }

    /// A notifier whose Bot API requests give up after `timeout` (tests use a short one).
    ///
    /// Note that teloxide waits 10 s after a 5xx answer before reading it, so with a timeout
    /// under about 10 s a 5xx is reported as `timeout` rather than `unavailable` (both retry).
    pub fn with_timeout(config: &TelegramConfig, timeout: Duration) -> anyhow::Result<Telegram> {
        Ok(Telegram {
            bot: build_bot(config, timeout)?,
            chat_ids: config.chat_ids.clone(),
            scrub: Scrubber::new(config),
        })
    }

    /// One recipient per configured chat: where alerts go.
    pub fn recipients(&self) -> Vec<Recipient> {
        self.chat_ids
            .iter()
            .map(|&chat_id| Recipient::Telegram { chat_id })
            .collect()
    }

    async fn send_all(&self, chat_id: i64, alerts: &[Alert]) -> Result<(), DeliveryError> {
        // Parts go in order; a failure part-way returns the error and the outbox retries the
        // whole delivery (at least once: earlier parts may arrive twice, none is lost).
        for text in render::render_messages(alerts) {
            send_html(&self.bot, chat_id, text)
                .await
                .map_err(|e| delivery_error(&e, &self.scrub))?;
        }
        Ok(())
    }
}

impl Notifier for Telegram {
    fn channel(&self) -> Channel {
        Channel::Telegram
    }

    fn deliver<'a>(&'a self, recipient: &'a Recipient, alerts: &'a [Alert]) -> Delivery<'a> {
        Box::pin(async move {
            let Recipient::Telegram { chat_id } = recipient else {
                return Err(DeliveryError::Reject {
                    reason: "wrong_channel",
                    detail: format!("the Telegram notifier cannot deliver to {recipient:?}"),
                });
            };
            self.send_all(*chat_id, alerts).await
        })
    }
}

/// A teloxide bot for `config`: its token, its API URL, a client that gives up after `timeout`.
fn build_bot(config: &TelegramConfig, timeout: Duration) -> anyhow::Result<Bot> {
    let url = reqwest::Url::parse(&config.api_url).map_err(|e| {
        anyhow::anyhow!(
            "alerts.telegram.api_url {} is not a URL: {e}",
            crate::secret::shown_url(&config.api_url)
        )
    })?;
    let client = teloxide::net::default_reqwest_settings()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .build()
        .map_err(|e| anyhow::anyhow!("cannot build the Telegram HTTP client: {e}"))?;
    Ok(Bot::with_client(config.bot_token.expose_secret(), client).set_api_url(url))
}

/// Sends one HTML message, link previews off.
async fn send_html(bot: &Bot, chat_id: i64, text: String) -> Result<(), RequestError> {
    bot.send_message(ChatId(chat_id), text)
        .parse_mode(ParseMode::Html)
        .link_preview_options(LinkPreviewOptions {
            is_disabled: true,
            url: None,
            prefer_small_media: false,
            prefer_large_media: false,
            show_above_text: false,
        })
        .await
        .map(|_| ())
}

/// Takes the bot token out of any text before it is shown or logged.
#[derive(Clone)]
pub(crate) struct Scrubber {
    needles: Vec<String>,
}

impl Scrubber {
    fn new(config: &TelegramConfig) -> Scrubber {
        let token = config.bot_token.expose_secret();
        let mut needles = Vec::new();
        if !token.is_empty() {
            needles.push(token.to_string());
            // As it may appear percent-encoded in a URL.
            let encoded: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
            if encoded != token {
                needles.push(encoded);
            }
            let colon = token.replace(':', "%3A");
            if colon != token {
                needles.push(colon);
            }
        }
        Scrubber { needles }
    }

    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for needle in &self.needles {
            out = out.replace(needle.as_str(), "[REDACTED]");
        }
        out
    }
}

/// What a network error was, without its URL (which holds the token): the kind, then the
/// chain of causes.
fn network_detail(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "request timed out"
    } else if e.is_connect() {
        "cannot connect to the Bot API"
    } else if e.is_body() || e.is_decode() {
        "cannot read the Bot API's answer"
    } else {
        "request failed"
    };
    let mut detail = what.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    detail
}

/// Whether a reqwest error (or any of its causes) is a timeout.
fn is_timeout(e: &reqwest::Error) -> bool {
    if e.is_timeout() {
        return true;
    }
    let mut source = e.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

/// The Bot API's words for a server-side failure (it answers 5xx with these descriptions).
fn is_server_error(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "internal error",
    ]
    .iter()
    .any(|w| d.starts_with(w))
}

/// Maps a teloxide error to retry-or-not, with a scrubbed detail.
fn delivery_error(e: &RequestError, scrub: &Scrubber) -> DeliveryError {
    let retry = |reason, after, detail: String| DeliveryError::Retry {
        reason,
        after,
        detail: scrub.clean(&detail),
    };
    let reject = |detail: String| DeliveryError::Reject {
        reason: "rejected",
        detail: scrub.clean(&detail),
    };
    match e {
        RequestError::RetryAfter(after) => retry(
            "rate_limited",
            Some(after.duration()),
            format!("Too Many Requests: retry after {}", after.seconds()),
        ),
        RequestError::Network(inner) if is_timeout(inner) => {
            retry("timeout", None, network_detail(inner))
        }
        RequestError::Network(inner) => retry("unavailable", None, network_detail(inner)),
        RequestError::Io(inner) => retry("unavailable", None, format!("I/O error: {inner}")),
        RequestError::InvalidJson { raw, .. } => {
            // Not the Bot API answering (a proxy's or CDN's error page): the service is down.
            let shown: String = raw.chars().take(200).collect();
            retry(
                "unavailable",
                None,
                format!("the Bot API answered something that is not its JSON: {shown:?}"),
            )
        }
        RequestError::Api(ApiError::Unknown(description)) if is_server_error(description) => {
            retry("unavailable", None, description.clone())
        }
        RequestError::Api(ApiError::Unknown(description))
            if description.starts_with("Too Many Requests") =>
        {
            retry("rate_limited", None, description.clone())
        }
        RequestError::Api(ApiError::Unknown(description)) => reject(description.clone()),
        RequestError::Api(api) => reject(api.to_string()),
        RequestError::MigrateToChatId(to) => reject(format!(
            "the group was upgraded to a supergroup: put chat id {} in alerts.telegram.chat_ids",
            to.0
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    fn config(token: &str) -> TelegramConfig {
        TelegramConfig {
            bot_token: SecretString::from(token.to_string()),
            chat_ids: vec![1, -2],
            api_url: "http://127.0.0.1:9/".to_string(),
            allowed_user_ids: None,
        }
    }

    #[test]
    fn scrubber_removes_the_token_in_every_spelling() {
        let s = Scrubber::new(&config("123456:AB-cd_EF"));
        assert_eq!(
            s.clean("url (http://h/bot123456:AB-cd_EF/sendMessage) and bot123456%3AAB-cd_EF"),
            "url (http://h/bot[REDACTED]/sendMessage) and bot[REDACTED]"
        );
    }

    #[test]
    fn api_errors_map_to_retry_or_reject() {
        let s = Scrubber::new(&config("t0k3n:x"));
        let e = delivery_error(
            &RequestError::RetryAfter(teloxide::types::Seconds::from_seconds(7)),
            &s,
        );
        assert!(matches!(
            e,
            DeliveryError::Retry { reason: "rate_limited", after: Some(d), .. } if d == Duration::from_secs(7)
        ));
        let e = delivery_error(&RequestError::Api(ApiError::ChatNotFound), &s);
        assert_eq!(e.reason(), "rejected");
        assert!(
            Channel::Telegram.failure_reasons().contains(&e.reason()),
            "every reason is declared at 0 from the start"
        );
        assert!(matches!(e, DeliveryError::Reject { .. }));
        let e = delivery_error(&RequestError::Api(ApiError::BotBlocked), &s);
        assert!(matches!(e, DeliveryError::Reject { .. }));
        let e = delivery_error(
            &RequestError::Api(ApiError::Unknown("Internal Server Error".into())),
            &s,
        );
        assert!(matches!(
            e,
            DeliveryError::Retry {
                reason: "unavailable",
                ..
            }
        ));
        let e = delivery_error(
            &RequestError::Api(ApiError::Unknown("Bad Request: t0k3n:x".into())),
            &s,
        );
        assert!(!e.to_string().contains("t0k3n:x"), "{e}");
    }

    #[test]
    fn debug_hides_the_token() {
        let t = Telegram::new(&config("99:secret-token")).unwrap();
        assert!(!format!("{t:?}").contains("secret-token"));
        assert_eq!(
            t.recipients(),
            vec![
                Recipient::Telegram { chat_id: 1 },
                Recipient::Telegram { chat_id: -2 }
            ]
        );
    }
}
