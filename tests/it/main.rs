//! KeyWarden's integration tests: one binary, one module per concern.

mod check_cli;
mod config_errors;
mod daemon;
mod demo;
mod metrics;
mod sim_binance;
mod sim_bitget;
mod sim_bybit;
mod sim_coinbase;
mod sim_kucoin;
mod sim_mexc;
mod sim_okx;
mod support;
