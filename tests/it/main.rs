//! KeyWarden's integration tests: one binary, one module per concern.

mod botapi_sim;
mod check_cli;
mod config_errors;
mod daemon;
mod demo;
mod metrics;
mod sim_kucoin;
mod sim_mexc;
mod support;
mod telegram;
