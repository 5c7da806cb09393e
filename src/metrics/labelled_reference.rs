//! The per-connection series as the prometheus crate's `IntGaugeVec`s: how
//! [`Metrics`](super::Metrics) held them before issue 9. Not for production: it is the reference
//! the hand-written exposition is pinned to (a unit test compares them byte for byte) and
//! measured against (`examples/metrics_render.rs`), kept here once for both.

use prometheus::{IntGaugeVec, Opts, Registry, TextEncoder};

use super::connections::{
    permission_values, unverified_rights, CONNECTION_STATUS, CONNECTION_STATUS_HELP,
    CONNECTION_UNVERIFIED_RIGHT, CONNECTION_UNVERIFIED_RIGHT_HELP, CONNECTION_UP,
    CONNECTION_UP_HELP, KEY_EXPIRY, KEY_EXPIRY_HELP, KEY_IP_RESTRICTED, KEY_IP_RESTRICTED_HELP,
    KEY_PERMISSION, KEY_PERMISSION_HELP, LAST_CHECK, LAST_CHECK_HELP,
};
use super::register;
use crate::domain::{Status, Verdict};

/// The seven per-connection families in their own registry.
pub struct LabelledConnectionSeries {
    registry: Registry,
    connection_status: IntGaugeVec,
    connection_unverified_right: IntGaugeVec,
    connection_up: IntGaugeVec,
    key_permission: IntGaugeVec,
    key_ip_restricted: IntGaugeVec,
    key_expiry: IntGaugeVec,
    last_check: IntGaugeVec,
}

impl Default for LabelledConnectionSeries {
    fn default() -> Self {
        LabelledConnectionSeries::new()
    }
}

impl LabelledConnectionSeries {
    pub fn new() -> LabelledConnectionSeries {
        let registry = Registry::new();
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            register(&registry, IntGaugeVec::new(Opts::new(name, help), labels))
        };
        let conn = ["connection", "exchange"];
        LabelledConnectionSeries {
            connection_status: gauges(
                CONNECTION_STATUS,
                CONNECTION_STATUS_HELP,
                &["connection", "exchange", "status"],
            ),
            connection_unverified_right: gauges(
                CONNECTION_UNVERIFIED_RIGHT,
                CONNECTION_UNVERIFIED_RIGHT_HELP,
                &["connection", "exchange", "right"],
            ),
            connection_up: gauges(CONNECTION_UP, CONNECTION_UP_HELP, &conn),
            key_permission: gauges(
                KEY_PERMISSION,
                KEY_PERMISSION_HELP,
                &["connection", "exchange", "permission"],
            ),
            key_ip_restricted: gauges(KEY_IP_RESTRICTED, KEY_IP_RESTRICTED_HELP, &conn),
            key_expiry: gauges(KEY_EXPIRY, KEY_EXPIRY_HELP, &conn),
            last_check: gauges(LAST_CHECK, LAST_CHECK_HELP, &conn),
            registry,
        }
    }

    /// Shows `verdict`: the former `Metrics::observe` minus the histogram and counter.
    pub fn show(&self, verdict: &Verdict) {
        let conn = verdict.connection.as_str();
        let exchange = verdict.exchange.name();
        let labels = [conn, exchange];
        for status in Status::ALL {
            self.connection_status
                .with_label_values(&[conn, exchange, status.name()])
                .set(i64::from(status == verdict.status));
        }
        match unverified_rights(verdict) {
            Some(rights) => {
                for (right, unverified) in rights {
                    self.connection_unverified_right
                        .with_label_values(&[conn, exchange, right])
                        .set(i64::from(unverified));
                }
            }
            None => {
                for right in ["ip_binding", "withdraw"] {
                    let _ = self
                        .connection_unverified_right
                        .remove_label_values(&[conn, exchange, right]);
                }
            }
        }
        self.connection_up
            .with_label_values(&labels)
            .set(i64::from(verdict.status == Status::Connected));
        for (permission, value) in permission_values(&verdict.permissions) {
            let perm_labels = [conn, exchange, permission];
            match value {
                Some(granted) => self
                    .key_permission
                    .with_label_values(&perm_labels)
                    .set(i64::from(granted)),
                None => {
                    let _ = self.key_permission.remove_label_values(&perm_labels);
                }
            }
        }
        let facts = [
            (
                &self.key_ip_restricted,
                verdict.ip_restricted.map(i64::from),
            ),
            (
                &self.key_expiry,
                verdict.expires_at.map(|at| at.timestamp()),
            ),
            (&self.last_check, Some(verdict.checked_at.timestamp())),
        ];
        for (gauges, value) in facts {
            match value {
                Some(value) => gauges.with_label_values(&labels).set(value),
                None => {
                    let _ = gauges.remove_label_values(&labels);
                }
            }
        }
    }

    /// The exposition as the former `Metrics::render` made it: gather, then encode.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .expect("gauges encode")
    }
}
