//! The Telegram bot's backend: `/status` and `/check NAME` answered from the running daemon.

use std::sync::Arc;

use super::Daemon;
use crate::domain::BoxFuture;
use crate::domain::Verdict;
use crate::notifier::CommandBackend;

/// The Telegram bot's `/status` and `/check NAME`, answered from the running daemon.
struct Commands(Arc<Daemon>);

impl CommandBackend for Commands {
    fn statuses(&self) -> Vec<Verdict> {
        self.0
            .config()
            .connections
            .iter()
            .filter_map(|c| self.0.store.last_verdict(&c.name).ok().flatten())
            .collect()
    }

    /// Checks `connection` now. When a check of it is already in progress (a scheduled turn,
    /// maybe queued for the request budget), this waits for that one to finish and then checks
    /// again, so verdicts are recorded in the order they were taken and never two at once.
    fn check_now<'a>(&'a self, connection: &'a str) -> BoxFuture<'a, Option<Verdict>> {
        Box::pin(async move {
            let _busy = self.0.busy.claim_waiting(connection).await;
            let checked = self.0.check_and_record(connection).await;
            checked.map(|c| c.verdict)
        })
    }
}

/// Starts the bot's command loop when Telegram is configured.
pub(super) fn spawn_commands(daemon: &Arc<Daemon>) -> Option<tokio::task::JoinHandle<()>> {
    let config = daemon.config();
    let telegram = config.alerts.telegram.as_ref()?;
    Some(crate::notifier::telegram::spawn_commands(
        telegram,
        Arc::new(Commands(Arc::clone(daemon))),
        daemon.shutdown.subscribe(),
    ))
}
