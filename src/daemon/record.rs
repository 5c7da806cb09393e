//! Recording: one connection checked, its verdict written to history and fed to the alert
//! policy, with the common case (a healthy key found as it was) kept off sled.

use std::sync::Arc;

use super::Daemon;
use crate::domain::Verdict;

/// What [`Daemon::check_and_record`] did with one connection.
pub(super) struct Checked {
    pub verdict: Verdict,
    /// The verdict was not a quiet repeat: it was written to the store (a new span, or alert
    /// memory worth keeping) and logged at info level.
    pub changed: bool,
}

impl Daemon {
    /// Checks one connection (as configured now), records the verdict and feeds it to the
    /// alert policy. `None` when no connection has that name (any more).
    pub(super) async fn check_and_record(&self, name: &str) -> Option<Checked> {
        let connection = self.config().connection(name).cloned()?;
        let verdict = self.checker().check(&connection).await;
        self.metrics.observe(&verdict);
        // The common case, a healthy key found as it was, touches memory only: the store folds
        // the repeat into the open span and the alert policy has nothing to write, so it stays
        // on this thread. Anything else needs sled (and maybe an fsync): one hand-off to the
        // blocking pool for both, history first.
        let folded = self.store.record_repeat(&verdict).is_some();
        if folded && self.alerts.observe_quietly(&verdict) {
            tracing::debug!(
                connection = %verdict.connection,
                status = %verdict.status,
                latency_ms = verdict.latency_ms,
                "checked, unchanged"
            );
            return Some(Checked {
                verdict,
                changed: false,
            });
        }
        tracing::info!(
            connection = %verdict.connection,
            exchange = %verdict.exchange,
            status = %verdict.status,
            latency_ms = verdict.latency_ms,
            "checked"
        );
        let (store, alerts, to_record) = (
            self.store.clone(),
            Arc::clone(&self.alerts),
            verdict.clone(),
        );
        let written = tokio::task::spawn_blocking(move || {
            // A repeat folded in above is recorded already.
            let recorded = match folded {
                true => Ok(()),
                false => store.record_change(&to_record).map(drop),
            };
            (recorded, alerts.observe(&to_record))
        })
        .await;
        match written {
            Ok((recorded, queued)) => {
                if let Err(e) = recorded {
                    tracing::error!(connection = %name, error = %e, "cannot record check");
                }
                match queued {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(connection = %name, alerts = n, "alerts queued"),
                    Err(e) => {
                        tracing::error!(connection = %name, error = %e, "cannot queue alerts")
                    }
                }
            }
            Err(e) => tracing::error!(connection = %name, error = %e, "record task failed"),
        }
        Some(Checked {
            verdict,
            changed: true,
        })
    }
}
