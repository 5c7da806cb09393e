//! The email channel: alerts as multipart (text + HTML) messages over SMTP, through lettre.
//!
//! The relay is `alerts.email.smtp_url` in lettre's URL forms: `smtps://host` (implicit TLS,
//! port 465), `smtp://host:587?tls=required` (STARTTLS), or plain `smtp://127.0.0.1:2525` for a
//! loopback relay. Credentials come from `username` + `password`; the password is a
//! [`SecretString`] and never appears in a log line, a `Debug` or a [`DeliveryError`].
//!
//! Failures say whether retrying can help: SMTP 4xx, timeouts and an unreachable relay are
//! retried; SMTP 5xx and a malformed address are not (see [`Email::deliver`]).

mod render;

use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::AsyncSmtpTransportBuilder;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::alert::Alert;
use crate::config::EmailConfig;
use crate::notifier::{Audience, Channel, Delivery, DeliveryError, Notifier, Recipient};
use crate::secret::{ExposeSecret, SecretString};

pub use render::{escape_html, exchange_display, render, Rendered};

/// How long one delivery (connect, greeting, AUTH, envelope, data) may take in all.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the email channel cannot be set up from its config. Names the config key; never shows a
/// password (one written into the URL is masked).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailSetupError {
    #[error(
        "alerts.email.smtp_url: {url} is not a usable SMTP URL: {reason} (expected \
         smtps://host for implicit TLS, smtp://host:587?tls=required for STARTTLS, or \
         smtp://127.0.0.1:PORT for a loopback relay)"
    )]
    SmtpUrl { url: String, reason: String },
    #[error("alerts.email.from: {value:?} is not an email address: {reason}")]
    From { value: String, reason: String },
    #[error("alerts.email.{missing}: username and password go together; set both or neither")]
    Credentials { missing: &'static str },
}

/// The email [`Notifier`]. Cheap to keep; the SMTP connection pool is created on the first
/// delivery (inside the tokio runtime), so [`Email::new`] works anywhere.
pub struct Email {
    builder: AsyncSmtpTransportBuilder,
    transport: OnceLock<AsyncSmtpTransport<Tokio1Executor>>,
    /// `host:port` of the relay, for failure details.
    server: String,
    from: Mailbox,
    operators: Vec<String>,
    timeout: Duration,
    /// Everything that must never appear in an error text: the password (from the config or
    /// the URL).
    secrets: Vec<Secret>,
}

/// A password and the user name it was sent with (AUTH PLAIN carries both in one base64 blob).
struct Secret {
    username: String,
    password: SecretString,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .field("operators", &self.operators)
            .field("timeout", &self.timeout)
            .field("authenticated", &!self.secrets.is_empty())
            .finish_non_exhaustive()
    }
}

impl Email {
    /// Sets the channel up from `[alerts.email]`: parses the relay URL and the sender, and
    /// attaches the credentials. Nothing is contacted yet.
    pub fn new(config: &EmailConfig) -> Result<Email, EmailSetupError> {
        let url_error = |reason: String| EmailSetupError::SmtpUrl {
            url: shown_url(&config.smtp_url),
            reason,
        };
        let parsed = url::Url::parse(&config.smtp_url).map_err(|e| url_error(e.to_string()))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| url_error(e.to_string()))?
            .timeout(Some(DEFAULT_TIMEOUT));
        let host = parsed.host_str().unwrap_or_default();
        let server = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };

        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| EmailSetupError::From {
                value: config.from.clone(),
                reason: e.to_string(),
            })?;

        let mut secrets = Vec::new();
        if let Some(password) = parsed.password() {
            secrets.push(Secret {
                username: percent_decode(parsed.username()),
                password: SecretString::from(percent_decode(password)),
            });
        }
        match (&config.username, &config.password) {
            (Some(username), Some(password)) => {
                builder = builder.credentials(Credentials::new(
                    username.clone(),
                    password.expose_secret().to_string(),
                ));
                secrets.push(Secret {
                    username: username.clone(),
                    password: password.clone(),
                });
            }
            (Some(_), None) => {
                return Err(EmailSetupError::Credentials {
                    missing: "password",
                })
            }
            (None, Some(_)) => {
                return Err(EmailSetupError::Credentials {
                    missing: "username",
                })
            }
            (None, None) => {}
        }

        Ok(Email {
            builder,
            transport: OnceLock::new(),
            server,
            from,
            operators: config.to.clone(),
            timeout: DEFAULT_TIMEOUT,
            secrets,
        })
    }

    /// Replaces the default 15 s limit on one delivery (tests use a short one).
    pub fn with_timeout(mut self, timeout: Duration) -> Email {
        self.timeout = timeout;
        self.builder = self.builder.timeout(Some(timeout));
        self.transport = OnceLock::new();
        self
    }

    /// The limit on one delivery.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The operators' addresses (`alerts.email.to`) as recipients.
    pub fn operator_recipients(&self) -> Vec<Recipient> {
        self.operators
            .iter()
            .map(|address| Recipient::Email {
                address: address.clone(),
                audience: Audience::Operator,
            })
            .collect()
    }

    fn transport(&self) -> &AsyncSmtpTransport<Tokio1Executor> {
        self.transport.get_or_init(|| self.builder.clone().build())
    }

    /// The message for `to`: From, To, Subject, a unique Message-ID (on the sender's domain, so
    /// no host name leaks), `Auto-Submitted`, and the text and HTML alternatives.
    fn message(
        &self,
        to: Mailbox,
        alerts: &[Alert],
        audience: Audience,
    ) -> Result<Message, DeliveryError> {
        let rendered = render(alerts, audience);
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(rendered.subject)
            .message_id(Some(message_id(self.from.email.domain())))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("Auto-Submitted"),
                "auto-generated".to_string(),
            ))
            .multipart(MultiPart::alternative_plain_html(
                rendered.text,
                rendered.html,
            ))
            .map_err(|e| DeliveryError::Reject {
                reason: "bad_message",
                detail: self.redact(&format!("cannot build the email: {e}")),
            })
    }

    /// Maps a lettre failure to what the outbox should do about it.
    fn classify(&self, error: &lettre::transport::smtp::Error) -> DeliveryError {
        let detail = self.redact(&format!("SMTP relay {}: {error}", self.server));
        if error.is_transient() {
            DeliveryError::Retry {
                reason: "smtp_transient",
                after: None,
                detail,
            }
        } else if error.is_permanent() {
            DeliveryError::Reject {
                reason: "smtp_permanent",
                detail,
            }
        } else if error.is_timeout() {
            DeliveryError::Retry {
                reason: "timeout",
                after: None,
                detail,
            }
        } else if error.is_tls() {
            DeliveryError::Retry {
                reason: "tls",
                after: None,
                detail,
            }
        } else if error.is_client() {
            // lettre refused before sending: no AUTH mechanism in common with the relay, or a
            // non-ASCII address the relay cannot take. The same message would fail again.
            DeliveryError::Reject {
                reason: "smtp_unsupported",
                detail,
            }
        } else {
            // Refused or reset connections, garbled replies, a transport shut down.
            DeliveryError::Retry {
                reason: "unavailable",
                after: None,
                detail,
            }
        }
    }

    /// `text` with every password (plain, and as AUTH LOGIN / AUTH PLAIN would send it in
    /// base64) replaced by `[REDACTED]`.
    fn redact(&self, text: &str) -> String {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut out = text.to_string();
        for secret in &self.secrets {
            let password = secret.password.expose_secret();
            if password.is_empty() {
                continue;
            }
            let forms = [
                b64.encode(format!("\0{}\0{password}", secret.username)),
                b64.encode(password),
                password.to_string(),
            ];
            for form in forms {
                out = out.replace(&form, "[REDACTED]");
            }
        }
        out
    }

    async fn send(&self, recipient: &Recipient, alerts: &[Alert]) -> Result<(), DeliveryError> {
        let (address, audience) = match recipient {
            Recipient::Email { address, audience } => (address, *audience),
            other => {
                return Err(DeliveryError::Reject {
                    reason: "wrong_channel",
                    detail: format!("the email channel cannot deliver to {other:?}"),
                })
            }
        };
        if alerts.is_empty() {
            return Ok(());
        }
        let to: Mailbox = address
            .parse()
            .map_err(|e: lettre::address::AddressError| DeliveryError::Reject {
                reason: "bad_address",
                detail: format!("{address:?} is not an email address: {e}"),
            })?;
        if audience == Audience::Owner {
            let mine = to.email.to_string();
            if let Some(other) = alerts
                .iter()
                .filter_map(Alert::owner_email)
                .find(|owner| !owner.trim().eq_ignore_ascii_case(&mine))
            {
                // A user is only ever told about their own connections.
                return Err(DeliveryError::Reject {
                    reason: "not_owner",
                    detail: format!("an alert for {other} was addressed to {mine}"),
                });
            }
        }
        let message = self.message(to, alerts, audience)?;
        match tokio::time::timeout(self.timeout, self.transport().send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(self.classify(&error)),
            Err(_) => Err(DeliveryError::Retry {
                reason: "timeout",
                after: None,
                detail: format!(
                    "SMTP relay {}: no answer within {}",
                    self.server,
                    humantime::format_duration(self.timeout)
                ),
            }),
        }
    }
}

impl Notifier for Email {
    fn channel(&self) -> Channel {
        Channel::Email
    }

    /// Sends `alerts` to `recipient` (an [`Recipient::Email`]) as one multipart/alternative
    /// message: one alert, or a digest of several. Errors: SMTP 4xx → `Retry smtp_transient`;
    /// timeouts → `Retry timeout`; refused or dropped connections → `Retry unavailable`; TLS
    /// failures → `Retry tls`; SMTP 5xx → `Reject smtp_permanent`; a malformed address →
    /// `Reject bad_address`; an owner alert addressed to someone else → `Reject not_owner`.
    fn deliver<'a>(&'a self, recipient: &'a Recipient, alerts: &'a [Alert]) -> Delivery<'a> {
        Box::pin(self.send(recipient, alerts))
    }
}

/// The URL as it may be shown (see [`crate::secret::shown_url`], the one place that decides).
fn shown_url(raw: &str) -> String {
    crate::secret::shown_url(raw)
}

/// Decodes `%XX` escapes (URL user info), the way lettre reads the credentials of a URL.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `<keywarden.<time>.<n>@<domain>>`: unique per process and message.
fn message_id(domain: &str) -> String {
    let stamp = crate::unique::stamp();
    format!("<keywarden.{:x}.{}@{domain}>", stamp.nanos, stamp.count)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> EmailConfig {
        EmailConfig {
            smtp_url: url.to_string(),
            username: Some("keywarden".into()),
            password: Some(SecretString::from("hunter2-smtp".to_string())),
            from: "KeyWarden <keywarden@example.com>".into(),
            to: vec!["ops@example.com".into()],
        }
    }

    #[test]
    fn accepts_lettres_url_forms() {
        for url in [
            "smtps://relay.example.com",
            "smtp://relay.example.com:587?tls=required",
            "smtp://127.0.0.1:2525",
        ] {
            Email::new(&config(url)).unwrap_or_else(|e| panic!("{url}: {e}"));
        }
    }

    #[test]
    fn a_bad_url_names_the_key_and_hides_a_password() {
        let err = Email::new(&config("http://user:hunter2@relay.example.com")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("alerts.email.smtp_url: "), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        let err = Email::new(&config("relay.example.com:587")).unwrap_err();
        assert!(
            err.to_string().starts_with("alerts.email.smtp_url: "),
            "{err}"
        );
        let err = Email::new(&config("not a url")).unwrap_err();
        assert!(
            err.to_string().starts_with("alerts.email.smtp_url: "),
            "{err}"
        );
    }

    #[test]
    fn a_bad_sender_names_the_key() {
        let mut c = config("smtp://127.0.0.1:2525");
        c.from = "not an address".into();
        let err = Email::new(&c).unwrap_err();
        assert!(err.to_string().starts_with("alerts.email.from: "), "{err}");
    }

    #[test]
    fn debug_and_redaction_hide_the_password() {
        let email = Email::new(&config("smtp://u:url%2Dpass@127.0.0.1:2525")).unwrap();
        let debug = format!("{email:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let b64 = base64::engine::general_purpose::STANDARD.encode("hunter2-smtp");
        let redacted = email.redact(&format!("535 hunter2-smtp {b64} url-pass"));
        assert_eq!(redacted, "535 [REDACTED] [REDACTED] [REDACTED]");
    }
}
