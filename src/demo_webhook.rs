//! The webhook part of `keywarden demo`: a receiver on loopback, set up as the demo daemon's one
//! `[[alerts.webhook]]` target, that checks each event's signature the way the README tells a
//! platform to and prints one line per event it received.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use hmac::Mac as _;

use crate::notifier::webhook::SIGNATURE_HEADER;

/// How old a signature's `t` may be before the receiver calls it a replay.
const TOLERANCE_SECONDS: i64 = 300;

/// The demo's receiver; stops when dropped.
pub struct DemoReceiver {
    addr: SocketAddr,
    secret_path: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for DemoReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl DemoReceiver {
    /// Starts the receiver on a free loopback port, with a fresh secret written to
    /// `dir/webhook_secret` (created owner-only, like any secret file).
    pub async fn start(dir: &Path) -> std::io::Result<DemoReceiver> {
        std::fs::create_dir_all(dir)?;
        let secret = fresh_secret(dir);
        let secret_path = dir.join("webhook_secret");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&secret_path)?
            .write_all(secret.as_bytes())?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .fallback(receive)
            .with_state(std::sync::Arc::new(secret));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(DemoReceiver {
            addr,
            secret_path,
            server,
        })
    }

    /// The `[[alerts.webhook]]` table that points the demo daemon at this receiver.
    pub fn config_section(&self) -> String {
        format!(
            "\n[[alerts.webhook]]\nurl = \"http://{}/keywarden\"\nsecret = \"file:{}\"\n",
            self.addr,
            self.secret_path.display()
        )
    }

    /// What the demo tells the operator about it.
    pub fn describe(&self) -> String {
        format!(
            "A webhook receiver listens on http://{}/keywarden (what the platform would run): each \
             signed event the daemon sends it is checked and printed below as `webhook ←`.",
            self.addr
        )
    }
}

/// A secret for this demo run: SHA-256 of the process, the time and the directory, as hex.
/// Good enough for a receiver on loopback that lives as long as the demo; a real one is made
/// with `openssl rand -hex 32`.
fn fresh_secret(dir: &Path) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(std::process::id().to_le_bytes());
    hash.update(crate::unique::stamp().nanos.to_le_bytes());
    hash.update(dir.as_os_str().as_encoded_bytes());
    hex::encode(hash.finalize())
}

/// Whether `header` signs `body` with `secret` at a `t` within [`TOLERANCE_SECONDS`] of `now`:
/// the README's check.
pub fn signature_ok(secret: &[u8], header: &str, body: &[u8], now: i64) -> bool {
    let Some((t, v1)) = header.strip_prefix("t=").and_then(|h| h.split_once(",v1=")) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    t.parse::<i64>()
        .is_ok_and(|t| (now - t).abs() <= TOLERANCE_SECONDS)
        && hex::decode(v1).is_ok_and(|v1| mac.verify_slice(&v1).is_ok())
}

/// One event: checked, printed, answered 200 (401 when the signature is wrong).
async fn receive(
    State(secret): State<std::sync::Arc<String>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    let signed = signature_ok(secret.as_bytes(), header, &body, now);
    println!("{}", describe_event(&body, signed));
    match signed {
        true => StatusCode::OK,
        false => StatusCode::UNAUTHORIZED,
    }
}

/// The line printed for one event.
fn describe_event(body: &[u8], signed: bool) -> String {
    let signature = match signed {
        true => "signature ok",
        false => "SIGNATURE INVALID, refused",
    };
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(body) else {
        return format!("webhook ← a body that is not JSON ({signature})");
    };
    let text = |key: &str| event[key].as_str().unwrap_or("-").to_string();
    let was = match event["previous_status"].as_str() {
        Some(previous) => format!(" (was {previous})"),
        None => String::new(),
    };
    let line = format!(
        "webhook ← {} {}: {}{was}, key {}, event {} ({signature})",
        text("kind"),
        text("connection"),
        text("status"),
        text("masked_key"),
        text("id"),
    );
    crate::printable::printable(&line).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretString;

    #[test]
    fn the_receiver_accepts_what_the_notifier_signs_and_nothing_else() {
        let secret = "0123456789abcdef0123456789abcdef";
        let body =
            br#"{"version":1,"kind":"opened","connection":"carol","status":"withdraw_enabled"}"#;
        let now = 1_700_000_000;
        let header =
            crate::notifier::webhook::signature_header(&SecretString::from(secret), now, body);
        assert!(signature_ok(secret.as_bytes(), &header, body, now + 10));
        assert!(!signature_ok(b"another secret", &header, body, now));
        assert!(!signature_ok(secret.as_bytes(), &header, b"{}", now));
        assert!(!signature_ok(secret.as_bytes(), &header, body, now + 301));
        assert!(!signature_ok(secret.as_bytes(), "v1=00", body, now));
        let line = describe_event(body, true);
        assert_eq!(
            line,
            "webhook ← opened carol: withdraw_enabled, key -, event - (signature ok)"
        );
    }
}
