//! KeyWarden's integration tests: one binary, one module per concern.

mod alerts;
mod botapi_sim;
mod check_cli;
mod config_errors;
mod crash;
mod daemon;
mod demo;
mod disk;
mod email;
mod exchanges;
mod exposure;
mod faults;
mod fuzz;
mod hostile;
mod http_guard;
mod metrics;
mod pacing;
mod probe_support;
mod secrets;
mod smtp_server;
mod support;
mod telegram;
mod webhook;
mod webhook_receiver;
