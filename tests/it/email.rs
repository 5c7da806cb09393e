//! The email channel against a real SMTP conversation: lettre talks to our loopback server
//! (`smtp_server.rs`) over TCP, and the tests read back what arrived.

use std::time::Duration;

use base64::Engine as _;
use chrono::{TimeZone, Utc};

use keywarden::alert::{Alert, AlertKind, Subject, Topic};
use keywarden::config::EmailConfig;
use keywarden::domain::{ExchangeKind, Status, Warning};
use keywarden::notifier::email::Email;
use keywarden::notifier::{Audience, Channel, DeliveryError, Notifier, Recipient};
use keywarden::secret::SecretString;

use crate::smtp_server::{AuthRecord, Behaviour, Received, SmtpServer};
use crate::support;

const PASSWORD: &str = "s3cret-smtp-pa55word";
const INVALID_KEY_REMEDY: &str = "The API key was copied wrong, deleted or regenerated. Create a \
new key at the exchange (read and trade rights only) and paste the key, secret and passphrase again.";

fn config(server: &SmtpServer, with_credentials: bool) -> EmailConfig {
    EmailConfig {
        smtp_url: server.url(),
        username: with_credentials.then(|| "keywarden".to_string()),
        password: with_credentials.then(|| SecretString::from(PASSWORD.to_string())),
        from: "KeyWarden <keywarden@example.com>".to_string(),
        to: vec!["ops@example.com".to_string()],
    }
}

fn email(server: &SmtpServer) -> Email {
    Email::new(&config(server, true))
        .expect("email config")
        .with_timeout(Duration::from_secs(5))
}

fn operator(address: &str) -> Recipient {
    Recipient::Email {
        address: address.to_string(),
        audience: Audience::Operator,
    }
}

fn owner(address: &str) -> Recipient {
    Recipient::Email {
        address: address.to_string(),
        audience: Audience::Owner,
    }
}

fn alert(name: &str, kind: AlertKind, status: Status, message: &str) -> Alert {
    Alert {
        raised_at: Utc.with_ymd_and_hms(2025, 3, 1, 12, 5, 0).unwrap(),
        message: message.to_string(),
        remedy: match kind {
            AlertKind::Resolved => None,
            _ => Some(INVALID_KEY_REMEDY.to_string()),
        },
        ..Alert::sample(name, kind, status)
    }
}

/// An alert about carol-mexc, whose key the exchange no longer accepts.
fn invalid_key_alert(kind: AlertKind, message: &str) -> Alert {
    alert("carol-mexc", kind, Status::InvalidKey, message)
}

fn withdraw_alert() -> Alert {
    Alert {
        remedy: Some(
            "Switch withdraw rights off on this API key at the exchange now, or delete the key \
             and create one with read and trade rights only."
                .to_string(),
        ),
        previous: Some(Status::NoTradePermission),
        last_check: None,
        ..alert(
            "carol-mexc",
            AlertKind::Opened,
            Status::WithdrawEnabled,
            "MEXC account flag canWithdraw=true",
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the message back: headers, the multipart/alternative parts, transfer decoding.

struct Mail {
    headers: Vec<(String, String)>,
    parts: Vec<Part>,
    content_type: String,
}

struct Part {
    content_type: String,
    body: String,
}

impl Mail {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn part(&self, content_type: &str) -> &str {
        &self
            .parts
            .iter()
            .find(|p| p.content_type.starts_with(content_type))
            .unwrap_or_else(|| panic!("no {content_type} part"))
            .body
    }

    fn text(&self) -> &str {
        self.part("text/plain")
    }

    fn html(&self) -> &str {
        self.part("text/html")
    }
}

/// Splits a header block into unfolded (name, value) pairs.
fn headers_of(block: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in block.split("\r\n") {
        if line.starts_with(' ') || line.starts_with('\t') {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    headers
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn decode(encoding: &str, body: &str) -> String {
    match encoding.to_ascii_lowercase().as_str() {
        "quoted-printable" => {
            let bytes = quoted_printable::decode(body, quoted_printable::ParseMode::Strict)
                .expect("quoted-printable body");
            String::from_utf8(bytes).expect("UTF-8 body")
        }
        "base64" => {
            let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .expect("base64 body");
            String::from_utf8(bytes).expect("UTF-8 body")
        }
        _ => body.to_string(),
    }
}

fn parse(raw: &str) -> Mail {
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("headers, blank line, body");
    let headers = headers_of(head);
    let content_type = header(&headers, "Content-Type")
        .expect("Content-Type")
        .to_string();
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no boundary in {content_type}"));
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for chunk in body.split(&delimiter).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix("\r\n").unwrap_or(chunk);
        let chunk = chunk.strip_suffix("\r\n").unwrap_or(chunk);
        let (part_head, part_body) = chunk.split_once("\r\n\r\n").unwrap_or((chunk, ""));
        let part_headers = headers_of(part_head);
        let encoding = header(&part_headers, "Content-Transfer-Encoding").unwrap_or("7bit");
        parts.push(Part {
            content_type: header(&part_headers, "Content-Type")
                .unwrap_or("text/plain")
                .to_string(),
            body: decode(encoding, part_body),
        });
    }
    Mail {
        headers,
        parts,
        content_type,
    }
}

fn only_message(server: &SmtpServer) -> (Received, Mail) {
    let messages = server.messages();
    assert_eq!(messages.len(), 1, "expected one message, got {messages:#?}");
    let received = messages.into_iter().next().unwrap();
    let mail = parse(&received.data);
    (received, mail)
}

/// Delivers `alerts` to `recipient` through a real SMTP server that accepts everything, and
/// returns the one message it received.
async fn deliver_one(recipient: &Recipient, alerts: &[Alert]) -> (Received, Mail) {
    let server = SmtpServer::start(Behaviour::Accept).await;
    email(&server)
        .deliver(recipient, alerts)
        .await
        .expect("delivered");
    only_message(&server)
}

/// The email `recipient` gets when carol-mexc's key works again.
async fn resolved_mail(recipient: &Recipient) -> Mail {
    let resolved = invalid_key_alert(AlertKind::Resolved, "connected");
    deliver_one(recipient, &[resolved]).await.1
}

/// Delivers [`withdraw_alert`] alone to `recipient`.
async fn deliver_withdraw(email: &Email, recipient: &Recipient) -> Result<(), DeliveryError> {
    email.deliver(recipient, &[withdraw_alert()]).await
}

/// Delivers [`withdraw_alert`] alone to ops@example.com, which must succeed (`when` says when,
/// for the panic).
async fn delivered_to_ops(email: &Email, when: &str) {
    deliver_withdraw(email, &operator("ops@example.com"))
        .await
        .unwrap_or_else(|e| panic!("not delivered {when}: {e}"));
}

/// Delivers [`withdraw_alert`] alone to `recipient`, which must fail; returns the error.
async fn failed_withdraw(email: &Email, recipient: &Recipient) -> DeliveryError {
    deliver_withdraw(email, recipient).await.unwrap_err()
}

fn assert_password_hidden(error: &DeliveryError) {
    let b64 = base64::engine::general_purpose::STANDARD.encode(PASSWORD);
    for text in [error.to_string(), format!("{error:?}")] {
        assert!(!text.contains(PASSWORD), "password in {text}");
        assert!(!text.contains(&b64), "base64 password in {text}");
    }
}

// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn operator_alert_arrives_with_from_to_subject_and_both_parts() {
    let server = SmtpServer::start(Behaviour::Accept).await;
    let email = email(&server);
    assert_eq!(email.channel(), Channel::Email);

    delivered_to_ops(&email, "to an accepting relay").await;

    let (received, mail) = only_message(&server);
    assert_eq!(received.from, "keywarden@example.com");
    assert_eq!(received.recipients, vec!["ops@example.com".to_string()]);
    assert_eq!(
        mail.header("From"),
        Some("KeyWarden <keywarden@example.com>")
    );
    assert_eq!(mail.header("To"), Some("ops@example.com"));
    assert_eq!(
        mail.header("Subject"),
        Some("[KeyWarden] withdraw_enabled: carol-mexc (mexc)")
    );
    assert!(mail.header("Date").is_some());
    let message_id = mail.header("Message-ID").expect("Message-ID");
    assert!(message_id.ends_with("@example.com>"), "{message_id}");
    assert!(
        mail.content_type.starts_with("multipart/alternative"),
        "{}",
        mail.content_type
    );
    assert_eq!(mail.parts.len(), 2);
    assert!(mail.parts[0].content_type.starts_with("text/plain"));
    assert!(mail.parts[1].content_type.starts_with("text/html"));

    for body in [mail.text(), mail.html()] {
        support::assert_contains_all(
            body,
            &[
                "carol-mexc",
                "mexc",
                "mx0v…9f2a",
                "withdraw_enabled",
                "critical",
                "2025-03-01 12:00:00 UTC",
                "canWithdraw=true",
                "Switch withdraw rights off on this API key",
                "no_trade_permission",
            ],
        );
    }
    assert!(mail.html().contains("<html>"));
}

#[tokio::test]
async fn html_part_escapes_markup_from_the_exchange_message() {
    let mut a = invalid_key_alert(AlertKind::Opened, "code 10072: <b>&amp key</b> \"invalid\"");
    a.subject = Subject::Connection {
        name: "carol-mexc".to_string(),
        exchange: ExchangeKind::Mexc,
        masked_key: "<i>mx0v…9f2a".to_string(),
        owner_email: None,
    };
    let (_, mail) = deliver_one(&operator("ops@example.com"), &[a]).await;
    let html = mail.html();
    assert!(
        html.contains("code 10072: &lt;b&gt;&amp;amp key&lt;/b&gt; &quot;invalid&quot;"),
        "{html}"
    );
    assert!(html.contains("&lt;i&gt;mx0v…9f2a"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    assert!(!html.contains("<i>"), "{html}");
    // The text part carries the exchange's words unchanged.
    assert!(mail
        .text()
        .contains("code 10072: <b>&amp key</b> \"invalid\""));
}

#[tokio::test]
async fn owner_version_has_no_exchange_internals_and_says_what_to_do() {
    let a = invalid_key_alert(
        AlertKind::Opened,
        "code 10072: Api key info invalid (latency 231 ms)",
    );
    let (received, mail) = deliver_one(&owner("carol@example.com"), &[a]).await;
    assert_eq!(received.recipients, vec!["carol@example.com".to_string()]);
    assert_eq!(
        mail.header("Subject"),
        Some("[KeyWarden] Your MEXC API key \"carol-mexc\" needs attention")
    );
    for body in [mail.text(), mail.html()] {
        assert!(body.contains("Hello,"), "{body}");
        assert!(
            body.contains(
                "Your MEXC API key connection \u{201c}carol-mexc\u{201d} needs attention"
            ),
            "{body}"
        );
        assert!(
            body.contains("The exchange no longer accepts the API key"),
            "{body}"
        );
        assert!(body.contains("What to do at MEXC"), "{body}");
        assert!(body.contains("Since 2025-03-01 12:00 UTC"), "{body}");
        support::assert_absent(
            body,
            &[
                "10072",
                "Api key info invalid",
                "latency",
                "231",
                "mx0v",
                "invalid_key",
                "outbox",
                "127.0.0.1",
            ],
            "the owner's email",
        );
    }
    assert!(mail.text().contains(INVALID_KEY_REMEDY), "{}", mail.text());
    // The HTML part carries the same remedy, escaped (it has no markup characters).
    assert!(mail.html().contains("Create a new key at the exchange"));
}

#[tokio::test]
async fn owner_resolved_notice_says_the_connection_works_again() {
    let mail = resolved_mail(&owner("carol@example.com")).await;
    assert_eq!(
        mail.header("Subject"),
        Some("[KeyWarden] Your MEXC API key \"carol-mexc\" works again")
    );
    assert!(
        mail.text()
            .contains("your MEXC API key connection \u{201c}carol-mexc\u{201d} works again"),
        "{}",
        mail.text()
    );
}

#[tokio::test]
async fn operator_resolved_subject() {
    let mail = resolved_mail(&operator("ops@example.com")).await;
    assert_eq!(
        mail.header("Subject"),
        Some("[KeyWarden] resolved: carol-mexc (mexc)")
    );
}

#[tokio::test]
async fn a_digest_of_three_alerts_is_one_email() {
    let mut notice = alert(
        "bob-mexc",
        AlertKind::Notice,
        Status::Connected,
        "key not bound to an IP",
    );
    notice.topic = Topic::Warning(Warning::IpWhitelistMissing);
    let alerts = [
        withdraw_alert(),
        alert(
            "alice-mexc",
            AlertKind::Opened,
            Status::InvalidKey,
            "code 10072",
        ),
        notice,
    ];
    let (received, mail) = deliver_one(&operator("ops@example.com"), &alerts).await;
    assert_eq!(received.recipients.len(), 1);
    assert_eq!(mail.header("Subject"), Some("[KeyWarden] 3 alerts"));
    for body in [mail.text(), mail.html()] {
        support::assert_contains_all(
            body,
            &[
                "withdraw_enabled: carol-mexc (mexc)",
                "invalid_key: alice-mexc (mexc)",
                "ip_whitelist_missing: bob-mexc (mexc)",
            ],
        );
    }
}

#[tokio::test]
async fn a_451_to_data_or_rcpt_is_retried() {
    let server = SmtpServer::start(Behaviour::TransientOnData).await;
    let email = email(&server);
    let err = failed_withdraw(&email, &operator("ops@example.com")).await;
    support::assert_retried(&err, "smtp_transient");
    assert!(err.to_string().contains("try again later"), "{err}");

    server.set_behaviour(Behaviour::TransientOnRcpt);
    let err = failed_withdraw(&email, &operator("ops@example.com")).await;
    support::assert_retried(&err, "smtp_transient");

    // The relay recovers: the same alert goes through.
    server.set_behaviour(Behaviour::Accept);
    delivered_to_ops(&email, "after the relay recovered").await;
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_550_to_rcpt_is_rejected() {
    let server = SmtpServer::start(Behaviour::PermanentOnRcpt).await;
    let err = failed_withdraw(&email(&server), &operator("nobody@example.com")).await;
    support::assert_refused(&err, "smtp_permanent");
    assert!(err.to_string().contains("no such user"), "{err}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_is_retried() {
    let server = SmtpServer::start(Behaviour::Accept).await;
    let email = email(&server);
    delivered_to_ops(&email, "while up").await;

    // Down: the listener is gone and the pooled connection dies with the server.
    server.set_behaviour(Behaviour::Closed);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = failed_withdraw(&email, &operator("ops@example.com")).await;
    support::assert_retried(&err, "unavailable");

    // Up again on the same port: delivered.
    server.set_behaviour(Behaviour::Accept);
    tokio::time::sleep(Duration::from_millis(50)).await;
    delivered_to_ops(&email, "after the relay came back").await;
    assert_eq!(server.messages().len(), 2);
}

#[tokio::test]
async fn a_relay_that_never_answers_times_out_and_is_retried() {
    let server = SmtpServer::start(Behaviour::Silent).await;
    let email = email(&server).with_timeout(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let err = failed_withdraw(&email, &operator("ops@example.com")).await;
    support::assert_retried(&err, "timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_malformed_address_is_rejected_without_a_conversation() {
    let server = SmtpServer::start(Behaviour::Accept).await;
    let err = failed_withdraw(&email(&server), &operator("ops@@example..com")).await;
    support::assert_refused(&err, "bad_address");
    assert!(server.commands().is_empty(), "{:?}", server.commands());
}

#[tokio::test]
async fn an_owner_letter_goes_only_to_that_owner() {
    let server = SmtpServer::start(Behaviour::Accept).await;
    let err = failed_withdraw(&email(&server), &owner("mallory@example.com")).await;
    support::assert_refused(&err, "not_owner");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn auth_credentials_reach_the_server() {
    let server = SmtpServer::start(Behaviour::Accept).await;
    delivered_to_ops(&email(&server), "with credentials").await;
    assert_eq!(
        server.auths(),
        vec![AuthRecord {
            mechanism: "PLAIN".to_string(),
            username: "keywarden".to_string(),
            password: PASSWORD.to_string(),
        }]
    );

    // Without credentials in the config there is no AUTH at all.
    let anonymous = SmtpServer::start(Behaviour::Accept).await;
    delivered_to_ops(
        &Email::new(&config(&anonymous, false)).unwrap(),
        "without credentials",
    )
    .await;
    assert!(anonymous.auths().is_empty());
    assert_eq!(anonymous.messages().len(), 1);
}

#[tokio::test]
async fn the_smtp_password_never_appears_in_a_delivery_error() {
    // A careless relay that echoes the credentials in its refusal.
    let server = SmtpServer::start(Behaviour::RejectAuthEchoing).await;
    let email = email(&server).with_timeout(Duration::from_millis(500));
    let err = failed_withdraw(&email, &operator("ops@example.com")).await;
    support::assert_refused(&err, "smtp_permanent");
    assert!(err.to_string().contains("[REDACTED]"), "{err}");
    assert_password_hidden(&err);

    let mut errors = vec![err];
    for behaviour in [
        Behaviour::TransientOnData,
        Behaviour::TransientOnRcpt,
        Behaviour::PermanentOnRcpt,
        Behaviour::Silent,
        Behaviour::Closed,
    ] {
        server.set_behaviour(behaviour);
        tokio::time::sleep(Duration::from_millis(20)).await;
        errors.push(failed_withdraw(&email, &operator("ops@example.com")).await);
    }
    errors.push(failed_withdraw(&email, &operator("not an address")).await);
    for err in &errors {
        assert_password_hidden(err);
    }
    assert!(format!("{email:?}").find(PASSWORD).is_none());
}

#[tokio::test]
async fn dot_stuffed_lines_arrive_intact() {
    let a = invalid_key_alert(AlertKind::Opened, "first line\n.\n..two dots\n.end");
    // In the HTML part the message's lines start at the left margin, so "." and ".." lines
    // travel dot-stuffed; a server that ended DATA early would have cut the message short.
    let (_, mail) = deliver_one(&operator("ops@example.com"), &[a]).await;
    let html = mail.html().replace("\r\n", "\n");
    assert!(
        html.contains("first line<br>\n.<br>\n..two dots<br>\n.end"),
        "{html:?}"
    );
    assert!(html.trim_end().ends_with("</html>"), "{html:?}");
}

#[test]
fn a_bad_smtp_url_names_the_config_key() {
    let mut c = EmailConfig {
        smtp_url: "https://relay.example.com".to_string(),
        username: None,
        password: None,
        from: "keywarden@example.com".to_string(),
        to: vec![],
    };
    let err = Email::new(&c).unwrap_err().to_string();
    assert!(err.starts_with("alerts.email.smtp_url: "), "{err}");
    c.smtp_url = "smtps://relay.example.com".to_string();
    assert!(Email::new(&c).is_ok());
}
