//! Talking to systemd (`Type=notify`): READY, RELOADING, STOPPING, STATUS and watchdog pings.
//! Every call is a no-op when not started by systemd (no `NOTIFY_SOCKET`).

use std::sync::Arc;

use sd_notify::NotifyState;

use super::Daemon;

fn notify(states: &[NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "cannot notify systemd");
    }
}

/// Start-up (or a reload) is complete.
pub fn ready(status: &str) {
    notify(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A reload has begun (systemd's `Type=notify-reload` wants the monotonic time with it).
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => notify(&[NotifyState::Reloading, now]),
        Err(_) => notify(&[NotifyState::Reloading]),
    }
}

pub fn stopping() {
    notify(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// Sets the line `systemctl status` shows. The notify protocol is one `KEY=VALUE` per line, so
/// a multi-line text (a config error lists every problem) is joined with "; ".
pub fn status(text: &str) {
    let line = text.trim_end().replace('\n', "; ");
    notify(&[NotifyState::Status(&line)]);
}

/// Pings the watchdog at half its interval while the scheduler is healthy; a stuck scheduler
/// stops the pings and systemd restarts the service.
pub fn spawn_watchdog(daemon: Arc<Daemon>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some(interval) = sd_notify::watchdog_enabled() else {
            return;
        };
        let mut tick = tokio::time::interval(interval / 2);
        loop {
            tick.tick().await;
            if daemon.healthy() {
                notify(&[NotifyState::Watchdog]);
            } else {
                tracing::warn!("scheduler heartbeat is stale; withholding the watchdog ping");
            }
        }
    })
}
