//! The exchanges KeyWarden knows, by the names the config, the store and the alerts use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The exchanges KeyWarden knows by name. Names are what the config's `exchange` key takes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ExchangeKind {
    Mexc,
    Kucoin,
    Binance,
    Okx,
    Bybit,
    Bitget,
    Gate,
    Htx,
    Bingx,
    Coinbase,
}

impl ExchangeKind {
    pub const ALL: [ExchangeKind; 10] = [
        ExchangeKind::Mexc,
        ExchangeKind::Kucoin,
        ExchangeKind::Binance,
        ExchangeKind::Okx,
        ExchangeKind::Bybit,
        ExchangeKind::Bitget,
        ExchangeKind::Gate,
        ExchangeKind::Htx,
        ExchangeKind::Bingx,
        ExchangeKind::Coinbase,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ExchangeKind::Mexc => "mexc",
            ExchangeKind::Kucoin => "kucoin",
            ExchangeKind::Binance => "binance",
            ExchangeKind::Okx => "okx",
            ExchangeKind::Bybit => "bybit",
            ExchangeKind::Bitget => "bitget",
            ExchangeKind::Gate => "gate",
            ExchangeKind::Htx => "htx",
            ExchangeKind::Bingx => "bingx",
            ExchangeKind::Coinbase => "coinbase",
        }
    }

    /// Whether this build can check keys of this exchange (the rest are on the roadmap).
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            ExchangeKind::Mexc
                | ExchangeKind::Kucoin
                | ExchangeKind::Okx
                | ExchangeKind::Binance
                | ExchangeKind::Bybit
                | ExchangeKind::Bitget
                | ExchangeKind::Bingx
                | ExchangeKind::Gate
                | ExchangeKind::Htx
                | ExchangeKind::Coinbase
        )
    }

    /// Whether the exchange's keys carry a passphrase chosen by the user.
    pub fn needs_passphrase(self) -> bool {
        matches!(
            self,
            ExchangeKind::Kucoin | ExchangeKind::Okx | ExchangeKind::Bitget
        )
    }
}

impl fmt::Display for ExchangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ExchangeKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ExchangeKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = ExchangeKind::ALL.iter().map(|k| k.name()).collect();
                format!(
                    "unknown exchange {s:?} (expected one of: {})",
                    names.join(", ")
                )
            })
    }
}
