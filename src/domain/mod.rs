//! The domain's words, shared by every layer: which exchange, a key's credentials and rights,
//! what a probe learned, and the status, warnings and verdict `check` judges it to.
//!
//! Plain data with no behaviour beyond naming itself: it depends on no other KeyWarden module
//! (bar `secret` for the credentials' type), so the store, the metrics, the alerts and the
//! notifiers can speak of exchanges and verdicts without importing the HTTP layer
//! ([`crate::exchange`]) or the judging ([`crate::check`]).

mod facts;
mod key_access;
mod kind;
mod markets;
mod permissions;
pub mod spec;
mod status;
mod verdict;

use std::future::Future;
use std::pin::Pin;

pub use facts::{extract_ip, Facts, Problem, ProblemKind};
pub use key_access::Credentials;
pub use kind::ExchangeKind;
pub use markets::Markets;
pub use permissions::Permissions;
pub use spec::{ClockWindow, ExchangeSpec, Limit, Region, RequestsPerCheck};
pub use status::{Severity, Status, Warning};
pub use verdict::Verdict;

/// A boxed future, so that traits with async methods (`Exchange`, `Notifier`) stay object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
