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
mod metrics;
mod secrets;
mod sim_binance;
mod sim_bingx;
mod sim_bitget;
mod sim_bybit;
mod sim_coinbase;
mod sim_gate;
mod sim_htx;
mod sim_kucoin;
mod sim_mexc;
mod sim_okx;
mod smtp_server;
mod support;
mod telegram;
