//! KuCoin simulator and probe, through the library.
