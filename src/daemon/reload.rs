//! Reload (SIGHUP): the config read again and applied; a bad file keeps the running one.

use std::sync::Arc;

use super::{
    build_notifiers, connections, declare_alert_failures, systemd, warn_overcommits, Daemon,
};
use crate::checker::Checker;
use crate::config::Config;

impl Daemon {
    /// Loads the config again; a bad file keeps the running one. Returns whether it changed.
    /// The API's connections stay as they are.
    pub(super) async fn reload(self: &Arc<Self>) -> bool {
        systemd::reloading();
        let result = Config::load(&self.config_path);
        let _changing = self.changing.lock().await;
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
                if new.api.as_ref().map(|a| &a.listen) != old.api.as_ref().map(|a| &a.listen)
                    || new.api.is_some() != old.api.is_some()
                {
                    tracing::warn!(
                        "api.listen and api.store_key changes take effect at the next restart; \
                         api.tokens at once"
                    );
                }
                match build_notifiers(&new) {
                    Ok(notifiers) => {
                        declare_alert_failures(&self.metrics, &notifiers);
                        *self.notifiers.write().expect("notifiers lock") = notifiers;
                    }
                    Err(e) => tracing::error!("alert channels kept as they were: {e}"),
                }
                *self.checker.write().expect("checker lock") =
                    Arc::new(Checker::new(&new.daemon).with_metrics(Arc::clone(&self.metrics)));
                let from_file = new.connections.len();
                let file_names = connections::names(&new);
                let merged = self.with_api_connections(new);
                *self.file_names.write().expect("file names lock") = file_names;
                warn_overcommits(&merged);
                let running = merged.connections.len();
                self.apply(merged).await;
                tracing::info!(connections = running, from_file, "config reloaded");
                true
            }
        };
        systemd::ready(&self.status_line());
        changed
    }
}
