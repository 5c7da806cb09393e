//! KeyWarden watches the exchange API keys a trading platform holds for its users.
//!
//! Users keep their funds on the exchange and hand the platform a key with read and trade
//! rights only; a key must never carry withdraw rights. KeyWarden re-tests each key, says in
//! plain words what is wrong with it and what to do about it.
//!
//! Module map, in the order data flows (see `ARCHITECTURE.md`):
//! - [`domain`]: the words every layer shares (exchange kinds, credentials, permissions, facts,
//!   statuses, warnings, verdicts, markets). Depends on no other layer.
//! - [`config`]: the TOML file, environment overrides, validation, secret resolution.
//! - [`exchange`]: one file per exchange behind a small trait; signs requests, asks the
//!   exchange about a key and returns [`domain::Facts`]. The only module that talks HTTP.
//! - [`check`]: facts → [`domain::Verdict`] (status by precedence, warnings, remedy). Pure.
//! - [`checker`]: runs probes for many connections concurrently, with a bound and a timeout.
//! - [`store`]: the sled history store: status spans per connection, last verdict, retention.
//! - [`daemon`]: the service: schedules, reload, shutdown, systemd, HTTP.
//! - [`api`]: the platform's HTTP API: "test this key" and users' connections (issue 14).
//! - [`scheduler`]: schedule periods and stable per-connection jitter.
//! - [`history`]: `keywarden history`, from the store or the running daemon.
//! - [`alert`]: the alert model, the policy (when to alert), the engine and delivery.
//! - [`notifier`]: channels that deliver alerts (Telegram, email, webhook) behind one trait.
//! - [`output`]: the readable table and the JSON Lines that `keywarden check` prints.
//! - [`printable`]: outside text (exchange messages) stripped of control characters and capped.
//! - [`metrics`]: the Prometheus registry, `GET /metrics` and `GET /healthz`.
//! - [`sim`]: the loopback exchange simulator used by tests and `keywarden demo`.
//! - [`shutdown`]: SIGTERM / SIGINT handling.
//! - [`secret`]: where secrets come from and how keys are shown masked.

pub mod alert;
pub mod api;
pub mod check;
pub mod checker;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod demo_webhook;
pub mod domain;
pub mod exchange;
pub mod history;
pub mod load;
pub mod metrics;
pub mod notifier;
pub mod output;
pub mod printable;
pub mod progress;
pub mod scheduler;
pub mod secret;
pub mod shutdown;
pub mod sim;
pub mod store;
pub mod unique;
