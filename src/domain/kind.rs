//! The exchanges KeyWarden knows, by the names the config, the store and the alerts use.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::spec::{self, ExchangeSpec};

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

    /// The word the config's `exchange` key takes (from the spec table).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// This exchange's static facts: hosts, clock window, default rate ([`super::spec`]).
    pub fn spec(self) -> &'static ExchangeSpec {
        spec::spec(self)
    }

    /// Whether the exchange's keys carry a passphrase chosen by the user.
    pub fn needs_passphrase(self) -> bool {
        self.spec().passphrase
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
