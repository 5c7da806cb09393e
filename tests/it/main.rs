//! KeyWarden's integration tests: one binary, one module per concern.

mod sim_kucoin;
mod sim_mexc;
