//! The webhook channel: alerts for machines. Each event (one alert about one connection) is one
//! signed JSON POST to each `[[alerts.webhook]]` target, so the platform can pause a bot whose
//! key lost a right, gained withdraw, or was revoked, without waiting for a person.
//!
//! The body is versioned ([`BODY_VERSION`]); its `id` is the outbox record's
//! ([`crate::alert::delivery::event_id`]), the same at every attempt, for the receiver's
//! idempotency. The `X-KeyWarden-Signature` header (`t=<unix seconds>,v1=<hex HMAC-SHA256 over
//! "<t>.<body>">`) is computed at each attempt, so a receiver can check origin and reject old
//! replays by `t`. No secret is in a body or header: the key only masked, the webhook secret only
//! as the HMAC's key. Errors name the target by host only: a URL may carry a token.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::alert::{Alert, AlertKind, Subject, Topic};
use crate::config::WebhookConfig;
use crate::domain::{ExchangeKind, Permissions, Severity, Status, Warning};
use crate::notifier::{Channel, Delivery, DeliveryError, Notifier, Recipient};
use crate::secret::{ExposeSecret, SecretString};

/// The version of the body's schema; a change that breaks a receiver gets a new one.
pub const BODY_VERSION: u32 = 1;
/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "X-KeyWarden-Signature";
/// The longest a `Retry-After` is honoured for; a receiver asking for more is tried then anyway
/// (an event a day late is worth less than a retry that finds the receiver back).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How much of a refusing receiver's answer is kept for the log.
const SHOWN_ANSWER: usize = 300;

/// One configured target.
struct Target {
    url: reqwest::Url,
    /// The URL's host (and port), the only part of it errors show.
    host: String,
    secret: SecretString,
    timeout: Duration,
}

/// The webhook notifier: one pooled HTTP client, every configured target by its
/// [`WebhookConfig::target`] key.
pub struct Webhook {
    client: reqwest::Client,
    targets: BTreeMap<String, Target>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("targets", &self.targets.keys().collect::<Vec<_>>())
            .field("secrets", &"[REDACTED]")
            .finish()
    }
}

/// Why a webhook notifier could not be built; names the config key.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("alerts.webhook[{index}].url: {shown} is not an http(s) URL")]
    BadUrl { index: usize, shown: String },
    #[error("alerts.webhook: cannot build the HTTP client: {0}")]
    Client(String),
}

impl Webhook {
    pub fn new(configs: &[WebhookConfig]) -> Result<Webhook, SetupError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
            // The signature is for this target: a redirect is the receiver's configuration to
            // fix, not a place to replay events to.
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| SetupError::Client(e.without_url().to_string()))?;
        let mut targets = BTreeMap::new();
        for (index, config) in configs.iter().enumerate() {
            let url = reqwest::Url::parse(&config.url)
                .ok()
                .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
                .ok_or_else(|| SetupError::BadUrl {
                    index,
                    shown: crate::secret::shown_url(&config.url),
                })?;
            let host = match url.port() {
                Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
                None => url.host_str().unwrap_or_default().to_string(),
            };
            targets.insert(
                config.target(),
                Target {
                    url,
                    host,
                    secret: config.secret.clone(),
                    timeout: config.timeout,
                },
            );
        }
        Ok(Webhook { client, targets })
    }

    async fn post(&self, target: &Target, body: Vec<u8>) -> Result<(), DeliveryError> {
        let signature = signature_header(&target.secret, Utc::now().timestamp(), &body);
        let sent = self
            .client
            .post(target.url.clone())
            .timeout(target.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) => return Err(network_error(&target.host, &e)),
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let answer = read_answer(response).await;
        Err(answer_error(
            &target.host,
            status.as_u16(),
            retry_after,
            &answer,
        ))
    }
}

impl Notifier for Webhook {
    fn channel(&self) -> Channel {
        Channel::Webhook
    }

    /// Webhook events go one at a time, each with its id ([`Notifier::deliver_event`]); the
    /// delivery loop never hands this channel a digest ([`Channel::digests`] is false).
    fn deliver<'a>(&'a self, _recipient: &'a Recipient, alerts: &'a [Alert]) -> Delivery<'a> {
        let count = alerts.len();
        Box::pin(async move {
            Err(DeliveryError::Reject {
                reason: "wrong_channel",
                detail: format!(
                    "a webhook takes one event at a time with its outbox id, not a digest of {count}"
                ),
            })
        })
    }

    fn deliver_event<'a>(
        &'a self,
        recipient: &'a Recipient,
        event_id: &'a str,
        alert: &'a Alert,
    ) -> Delivery<'a> {
        Box::pin(async move {
            let Recipient::Webhook { target } = recipient else {
                return Err(DeliveryError::Reject {
                    reason: "wrong_channel",
                    detail: format!("the webhook notifier cannot deliver to {recipient:?}"),
                });
            };
            let Some(target) = self.targets.get(target) else {
                return Err(DeliveryError::Reject {
                    reason: "wrong_channel",
                    detail: format!("webhook target {target} is no longer configured"),
                });
            };
            let body = event_body(event_id, alert).map_err(|detail| DeliveryError::Reject {
                reason: "wrong_channel",
                detail,
            })?;
            self.post(target, body).await
        })
    }
}

/// The JSON body of one event, version [`BODY_VERSION`] (documented in the README and, as
/// `WebhookEvent`, in the API's OpenAPI document): what each `[[alerts.webhook]]` url receives.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = WebhookEvent)]
pub struct EventBody<'a> {
    pub version: u32,
    /// The same at every attempt and after a restart: drop an event whose id you have seen.
    pub id: &'a str,
    pub kind: AlertKind,
    pub connection: &'a str,
    pub exchange: ExchangeKind,
    pub masked_key: &'a str,
    /// The platform user the connection belongs to (`owner_email`), if configured.
    pub owner: Option<&'a str>,
    /// The connection's status the event is about: the incident's for `opened` and `reminder`,
    /// `connected` for `resolved`.
    pub status: Status,
    /// The status before: the incident's for `resolved`, the one replaced for an `opened` that
    /// changes one problem into another; otherwise `null`.
    pub previous_status: Option<Status>,
    pub severity: Severity,
    /// The rights the last check found; `null` when not known (see [`crate::alert::LastCheck`]).
    pub permissions: Option<Permissions>,
    pub warnings: Option<&'a [Warning]>,
    pub message: &'a str,
    pub remedy: Option<&'a str>,
    /// When the incident started.
    pub since: DateTime<Utc>,
    /// When the last check ran; `null` when not known.
    pub checked_at: Option<DateTime<Utc>>,
    /// When the event was raised.
    pub raised_at: DateTime<Utc>,
}

/// The body of `alert` as event `event_id`; an error for an alert that is not about one
/// connection (routing sends none such here).
pub fn event_body(event_id: &str, alert: &Alert) -> Result<Vec<u8>, String> {
    let Subject::Connection {
        name,
        exchange,
        masked_key,
        owner_email,
    } = &alert.subject
    else {
        return Err(format!(
            "a webhook event is about one connection; this alert is about {}",
            alert.subject_name()
        ));
    };
    let last = alert.last_check.as_ref();
    let (status, previous_status) = match (alert.kind, alert.topic) {
        (AlertKind::Resolved, Topic::Status(was)) => (Status::Connected, Some(was)),
        (_, Topic::Status(status)) => (status, alert.previous),
        // Warnings raise notices, which no webhook takes; should one come, the check says.
        (_, Topic::Warning(_)) => (last.map_or(Status::Connected, |l| l.status), None),
    };
    let body = EventBody {
        version: BODY_VERSION,
        id: event_id,
        kind: alert.kind,
        connection: name,
        exchange: *exchange,
        masked_key,
        owner: owner_email.as_deref(),
        status,
        previous_status,
        severity: alert.severity,
        permissions: last.map(|l| l.permissions),
        warnings: last.map(|l| l.warnings.as_slice()),
        message: &alert.message,
        remedy: alert.remedy.as_deref(),
        since: alert.started_at,
        checked_at: last.map(|l| l.checked_at),
        raised_at: alert.raised_at,
    };
    serde_json::to_vec(&body).map_err(|e| format!("cannot write the event as JSON: {e}"))
}

/// The `X-KeyWarden-Signature` value for `body` sent at `unix_seconds`:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 keyed by the secret over "<t>.<body>">`.
pub fn signature_header(secret: &SecretString, unix_seconds: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// A `Retry-After` value: seconds, or an HTTP date; capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&Utc) - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What a receiver's non-2xx answer means for delivery: 408, 5xx and 429 are tried again
/// (429 after its `Retry-After`); any other answer (4xx, a redirect) is a refusal that the same
/// event cannot change, counted as `rejected` and not retried in a loop.
pub fn answer_error(
    host: &str,
    status: u16,
    retry_after: Option<Duration>,
    answer: &str,
) -> DeliveryError {
    let detail = match answer.is_empty() {
        true => format!("{host} answered HTTP {status}"),
        false => format!("{host} answered HTTP {status}: {answer}"),
    };
    match status {
        429 => DeliveryError::Retry {
            reason: "rate_limited",
            after: retry_after,
            detail,
        },
        408 => DeliveryError::Retry {
            reason: "timeout",
            after: retry_after,
            detail,
        },
        500..=599 => DeliveryError::Retry {
            reason: "unavailable",
            after: retry_after,
            detail,
        },
        300..=399 => DeliveryError::Reject {
            reason: "rejected",
            detail: format!(
                "{detail} (a redirect is not followed: point the url at the final address)"
            ),
        },
        _ => DeliveryError::Reject {
            reason: "rejected",
            detail,
        },
    }
}

/// A request that got no answer: a timeout, or the receiver unreachable. The error is shown
/// without its URL (it may carry a token), with its causes (refused, reset, DNS).
fn network_error(host: &str, error: &reqwest::Error) -> DeliveryError {
    let mut detail = format!("POST to {host}: ");
    let mut cause: Option<&dyn std::error::Error> = error.source();
    match cause {
        None => detail.push_str("request failed"),
        Some(_) => {
            let mut first = true;
            while let Some(e) = cause {
                if !first {
                    detail.push_str(": ");
                }
                detail.push_str(&e.to_string());
                first = false;
                cause = e.source();
            }
        }
    }
    let reason = match error.is_timeout() {
        true => "timeout",
        false => "unavailable",
    };
    DeliveryError::Retry {
        reason,
        after: None,
        detail: crate::secret::mask_url_credentials(&detail).into_owned(),
    }
}

/// The start of a refusing receiver's answer, printable, for the log.
async fn read_answer(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < SHOWN_ANSWER * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    crate::printable::printable_capped(text.trim(), SHOWN_ANSWER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::LastCheck;

    #[test]
    fn the_signature_matches_a_hand_computed_vector() {
        // python3 -c 'import hmac,hashlib; print(hmac.new(b"whsec_0123456789abcdef",
        //   b"1700000000.{\"version\":1}", hashlib.sha256).hexdigest())'
        let secret = SecretString::from("whsec_0123456789abcdef");
        assert_eq!(
            signature_header(&secret, 1_700_000_000, br#"{"version":1}"#),
            "t=1700000000,v1=8fa393fa56ffd4e65f29d8f757fe3cb585a757e587538962a14415611248d8f2"
        );
    }

    fn alert(kind: AlertKind, topic: Status, previous: Option<Status>) -> Alert {
        let at = DateTime::parse_from_rfc3339("2026-12-03T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        Alert {
            kind,
            subject: Subject::Connection {
                name: "alice-mexc".to_string(),
                exchange: ExchangeKind::Mexc,
                masked_key: "mx0v…9f2a".to_string(),
                owner_email: Some("alice@example.com".to_string()),
            },
            topic: Topic::Status(topic),
            severity: Severity::Critical,
            started_at: at,
            raised_at: at + chrono::Duration::seconds(5),
            message: "withdraw is enabled".to_string(),
            remedy: Some("turn withdraw off".to_string()),
            previous,
            last_check: Some(LastCheck {
                status: topic,
                permissions: Permissions {
                    read: Some(true),
                    trade: Some(true),
                    withdraw: Some(true),
                    futures: None,
                },
                warnings: vec![Warning::IpWhitelistMissing],
                checked_at: at,
            }),
        }
    }

    #[test]
    fn the_body_carries_every_field_of_version_one() {
        let body = event_body(
            "18c5-2a",
            &alert(
                AlertKind::Opened,
                Status::WithdrawEnabled,
                Some(Status::NoTradePermission),
            ),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "version": 1,
                "id": "18c5-2a",
                "kind": "opened",
                "connection": "alice-mexc",
                "exchange": "mexc",
                "masked_key": "mx0v…9f2a",
                "owner": "alice@example.com",
                "status": "withdraw_enabled",
                "previous_status": "no_trade_permission",
                "severity": "critical",
                "permissions": {"read": true, "trade": true, "withdraw": true, "futures": null},
                "warnings": ["ip_whitelist_missing"],
                "message": "withdraw is enabled",
                "remedy": "turn withdraw off",
                "since": "2026-12-03T10:00:00Z",
                "checked_at": "2026-12-03T10:00:00Z",
                "raised_at": "2026-12-03T10:00:05Z",
            })
        );
    }

    #[test]
    fn a_resolved_event_says_connected_and_what_it_was() {
        let body = event_body(
            "1-1",
            &alert(AlertKind::Resolved, Status::WithdrawEnabled, None),
        )
        .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["status"], "connected");
        assert_eq!(json["previous_status"], "withdraw_enabled");
        assert_eq!(json["kind"], "resolved");
    }

    #[test]
    fn an_alert_not_about_a_connection_is_no_event() {
        let mut host = alert(AlertKind::Opened, Status::ClockSkew, None);
        host.subject = Subject::Host;
        assert!(event_body("1-1", &host)
            .unwrap_err()
            .contains("this trading host"));
    }

    #[test]
    fn answers_are_retried_or_refused_by_status() {
        let reason = |status, after| answer_error("h", status, after, "").reason();
        assert_eq!(reason(500, None), "unavailable");
        assert_eq!(reason(503, None), "unavailable");
        assert_eq!(reason(408, None), "timeout");
        assert_eq!(reason(429, None), "rate_limited");
        for refused in [400, 401, 403, 404, 410, 422, 301, 302] {
            assert!(matches!(
                answer_error("h", refused, None, "bad"),
                DeliveryError::Reject {
                    reason: "rejected",
                    ..
                }
            ));
        }
        match answer_error("h", 429, Some(Duration::from_secs(7)), "slow down") {
            DeliveryError::Retry { after, detail, .. } => {
                assert_eq!(after, Some(Duration::from_secs(7)));
                assert_eq!(detail, "h answered HTTP 429: slow down");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date_and_capped() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after("12", now), Some(Duration::from_secs(12)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
