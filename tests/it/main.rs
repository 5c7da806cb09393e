//! KeyWarden's integration tests: one binary, one module per concern.

mod check_cli;
mod config_errors;
mod daemon;
mod demo;
mod email;
mod metrics;
mod sim_kucoin;
mod sim_mexc;
mod smtp_server;
mod support;
