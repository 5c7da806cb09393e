//! Reload (SIGHUP): the config read again and applied; a bad file keeps the running one.

use std::sync::Arc;

use super::tasks::Jobs;
use super::{
    build_notifiers, declare_alert_failures, schedule_periods, systemd, warn_overcommits, Daemon,
};
use crate::checker::Checker;
use crate::config::Config;

impl Daemon {
    /// Loads the config again; a bad file keeps the running one. Returns whether it changed.
    pub(super) async fn reload(self: &Arc<Self>, jobs: &Jobs) -> bool {
        systemd::reloading();
        let result = Config::load(&self.config_path);
        let changed = match result {
            Err(e) => {
                tracing::error!("reload refused, keeping the running config: {e}");
                false
            }
            Ok(new) => {
                let old = self.config();
                for warning in &new.warnings {
                    tracing::warn!("{}: {warning}", new.source.display());
                }
                if new.daemon.metrics_listen != old.daemon.metrics_listen
                    || new.daemon.state_dir != old.daemon.state_dir
                {
                    tracing::warn!(
                        "metrics_listen and state_dir changes take effect at the next restart"
                    );
                }
                for gone in old
                    .connections
                    .iter()
                    .filter(|c| new.connection(&c.name).is_none())
                {
                    self.metrics.forget(&gone.name, gone.exchange);
                }
                match build_notifiers(&new) {
                    Ok(notifiers) => {
                        declare_alert_failures(&self.metrics, &notifiers);
                        *self.notifiers.write().expect("notifiers lock") = notifiers;
                    }
                    Err(e) => tracing::error!("alert channels kept as they were: {e}"),
                }
                if let Err(e) = self.alerts.reconfigure(&new) {
                    tracing::error!(error = %e, "cannot apply the new alert settings");
                }
                warn_overcommits(&new);
                let new = Arc::new(new);
                *self.checker.write().expect("checker lock") =
                    Arc::new(Checker::new(&new.daemon).with_metrics(Arc::clone(&self.metrics)));
                self.metrics.set_schedules(&schedule_periods(&new));
                self.metrics
                    .set_exchanges(new.connections.iter().map(|c| c.exchange));
                *self.config.write().expect("config lock") = new.clone();
                jobs.replace(self, &new).await;
                tracing::info!(connections = new.connections.len(), "config reloaded");
                true
            }
        };
        systemd::ready(&self.status_line());
        changed
    }
}
