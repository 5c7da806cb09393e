//! The scenario file: which keys the simulator knows and how each one behaves.
//!
//! ```toml
//! [exchanges.kucoin]
//! maintenance = false       # /api/v1/status answers "close"
//! clock_offset_ms = 0       # the exchange's clock runs this far from ours
//!
//! [[keys]]
//! exchange = "kucoin"
//! api_key = "6705f5c311545b000157d3eb"
//! api_secret = "f03a5284-5c39-4aaa-9b20-dea10bdcf8e3"
//! passphrase = "correct horse"
//! scenario = "withdraw_enabled"
//! ```
//!
//! A wrong secret, a wrong passphrase or an unknown key are not scenarios: give the connection a
//! secret (passphrase, key) other than the one registered here and the simulator refuses it the
//! way the exchange would.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::domain::ExchangeKind;

/// How far ahead of ours the exchange's clock runs for a key playing `clock_skew`.
pub const CLOCK_SKEW_MS: i64 = 90_000;

/// How far ahead the clock of HTX runs for a key playing `clock_skew`: HTX documents a 5-minute
/// window (htx.md §2), which 90 s does not leave.
pub const HTX_CLOCK_SKEW_MS: i64 = 360_000;

/// The clock offset a key playing `clock_skew` meets at `exchange`: past that exchange's
/// documented window (Coinbase excepted: its request token lives 120 s, and the tests show a
/// 90 s offset accepted there).
pub fn clock_skew_ms(exchange: ExchangeKind) -> i64 {
    match exchange {
        ExchangeKind::Htx => HTX_CLOCK_SKEW_MS,
        _ => CLOCK_SKEW_MS,
    }
}

/// How a simulated key behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scenario {
    /// Read, spot trade and futures rights, IP-bound: everything a healthy key has.
    Valid,
    /// Like `valid`, plus the withdraw right.
    WithdrawEnabled,
    /// Read and spot trade, no futures rights.
    FuturesMissing,
    /// Read and futures, no spot trade right.
    TradeMissing,
    /// Read only.
    ReadOnly,
    /// IP-bound, but not to the address the request comes from.
    IpNotWhitelisted,
    /// Healthy rights but no IP binding; where the exchange expires unbound keys, close to expiry.
    NoIpWhitelist,
    /// The exchange answers this key's requests with its maintenance error.
    Maintenance,
    /// HTTP 503 with a plain-text body.
    #[serde(rename = "http_503")]
    Http503,
    /// An HTML error page from a CDN in front of the exchange.
    CdnHtml,
    /// HTTP 429 with `Retry-After`.
    RateLimited,
    /// Requests hang far past any check timeout.
    Hang,
    /// HTTP 200 with a truncated JSON body.
    MalformedJson,
    /// The exchange's clock runs 90 s ahead (past every exchange's receive window, Gate's 60 s
    /// included; 6 minutes at HTX, whose window is 5) for this key, so its timestamps are refused.
    ClockSkew,
    /// The request is read, then the TCP connection is reset without a byte of HTTP answer
    /// (a load balancer or firewall dropping the flow).
    ConnectionReset,
    /// HTTP 200 whose headers arrive at once but whose body trickles a few bytes a second, far
    /// past any check timeout (a congested or throttled path).
    SlowDrip,
    /// The exchange's own HTTP 429 body, without `Retry-After`.
    RateLimitedNoRetryAfter,
    /// HTTP 200 carrying the exchange's own error body for an internal or system error.
    ErrorBody200,
    /// A healthy key (like `valid`) whose exchange does not reveal the withdraw right: MEXC's
    /// `GET /api/v3/apiKeyInfo` answers a bare 404 (an endpoint this region or version does not
    /// have, mexc.md §4), so the rights only it shows stay unknown; Gate's `main_keys` lists no
    /// withdrawal group (as for every Gate key without the right: the group appears only when
    /// granted, under a name the docs do not give). The other exchanges always reveal the
    /// right, and answer this key as `valid`.
    RightsUnrevealed,
    /// Healthy rights, on an account holding two more keys (one of them able to withdraw) that
    /// key lists show masked the way Gate shows them (`"c5dcfbf1f3a7*****"`, issue 18).
    MaskedSiblingKeys,
    /// Healthy rights on a unified trading account: Bitget's classic API refuses the key with
    /// code 40085, its UTA API (`/api/v3`) answers (issue 18).
    UnifiedAccount,
    /// Read and futures rights without spot read: endpoints that need spot read refuse the key.
    FuturesOnly,
    /// The key was made on another site of the exchange (OKX EEA): the global site does not
    /// know it and answers OKX's 50119 (issue 18).
    OtherRegion,
    /// The exchange refuses this host's location: Binance's HTTP 451 (issue 18).
    RestrictedLocation,
}

impl Scenario {
    /// The scenarios of the key-verdict table (`tests/it/check_cli.rs`); the network and
    /// server faults of [`Scenario::FAULTS`] are tested on their own (`tests/it/faults.rs`).
    pub const ALL: [Scenario; 15] = [
        Scenario::Valid,
        Scenario::WithdrawEnabled,
        Scenario::FuturesMissing,
        Scenario::TradeMissing,
        Scenario::ReadOnly,
        Scenario::IpNotWhitelisted,
        Scenario::NoIpWhitelist,
        Scenario::Maintenance,
        Scenario::Http503,
        Scenario::CdnHtml,
        Scenario::RateLimited,
        Scenario::Hang,
        Scenario::MalformedJson,
        Scenario::ClockSkew,
        Scenario::RightsUnrevealed,
    ];

    /// The scenarios only some exchanges play differently from `valid` (or a scenario above):
    /// the rows of the exchanges that do name them (`tests/it/exchanges/`); the others answer
    /// them as their [`Scenario::grants`] say.
    pub const EXCHANGE_SPECIFIC: [Scenario; 5] = [
        Scenario::MaskedSiblingKeys,
        Scenario::UnifiedAccount,
        Scenario::FuturesOnly,
        Scenario::OtherRegion,
        Scenario::RestrictedLocation,
    ];

    /// Every way the exchange (or the path to it) can fail while the key itself is fine.
    pub const FAULTS: [Scenario; 11] = [
        Scenario::Http503,
        Scenario::CdnHtml,
        Scenario::Hang,
        Scenario::MalformedJson,
        Scenario::Maintenance,
        Scenario::RateLimited,
        Scenario::ClockSkew,
        Scenario::ConnectionReset,
        Scenario::SlowDrip,
        Scenario::RateLimitedNoRetryAfter,
        Scenario::ErrorBody200,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Valid => "valid",
            Scenario::WithdrawEnabled => "withdraw_enabled",
            Scenario::FuturesMissing => "futures_missing",
            Scenario::TradeMissing => "trade_missing",
            Scenario::ReadOnly => "read_only",
            Scenario::IpNotWhitelisted => "ip_not_whitelisted",
            Scenario::NoIpWhitelist => "no_ip_whitelist",
            Scenario::Maintenance => "maintenance",
            Scenario::Http503 => "http_503",
            Scenario::CdnHtml => "cdn_html",
            Scenario::RateLimited => "rate_limited",
            Scenario::Hang => "hang",
            Scenario::MalformedJson => "malformed_json",
            Scenario::ClockSkew => "clock_skew",
            Scenario::ConnectionReset => "connection_reset",
            Scenario::SlowDrip => "slow_drip",
            Scenario::RateLimitedNoRetryAfter => "rate_limited_no_retry_after",
            Scenario::ErrorBody200 => "error_body_200",
            Scenario::RightsUnrevealed => "rights_unrevealed",
            Scenario::MaskedSiblingKeys => "masked_sibling_keys",
            Scenario::UnifiedAccount => "unified_account",
            Scenario::FuturesOnly => "futures_only",
            Scenario::OtherRegion => "other_region",
            Scenario::RestrictedLocation => "restricted_location",
        }
    }

    /// Whether the key's requests are throttled (with or without `Retry-After`).
    pub fn is_rate_limited(self) -> bool {
        matches!(
            self,
            Scenario::RateLimited | Scenario::RateLimitedNoRetryAfter
        )
    }

    /// The rights a key playing this scenario holds.
    pub fn grants(self) -> Grants {
        let healthy = Grants {
            read: true,
            spot_read: true,
            trade: true,
            withdraw: false,
            futures: true,
            ip_bound: true,
        };
        match self {
            Scenario::WithdrawEnabled => Grants {
                withdraw: true,
                ..healthy
            },
            Scenario::FuturesMissing => Grants {
                futures: false,
                ..healthy
            },
            Scenario::TradeMissing => Grants {
                trade: false,
                ..healthy
            },
            Scenario::ReadOnly => Grants {
                trade: false,
                futures: false,
                ..healthy
            },
            Scenario::NoIpWhitelist => Grants {
                ip_bound: false,
                ..healthy
            },
            Scenario::FuturesOnly => Grants {
                trade: false,
                spot_read: false,
                ..healthy
            },
            _ => healthy,
        }
    }
}

/// The rights and binding a simulated key has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grants {
    pub read: bool,
    /// Read on the spot account in particular (a futures-only key has `read` without it).
    pub spot_read: bool,
    pub trade: bool,
    pub withdraw: bool,
    pub futures: bool,
    pub ip_bound: bool,
}

/// One key the simulator knows. `Debug` is derived: simulator keys are test fixtures, not secrets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimKey {
    pub exchange: ExchangeKind,
    pub api_key: String,
    pub api_secret: String,
    #[serde(default)]
    pub passphrase: Option<String>,
    pub scenario: Scenario,
}

#[cfg(test)]
impl SimKey {
    /// The API key of [`SimKey::for_tests`], for the unit tests that write its requests by hand.
    pub const TEST_KEY: &'static str = "testkey";
    /// The secret of [`SimKey::for_tests`].
    pub const TEST_SECRET: &'static str = "testsecret";
    /// The passphrase of [`SimKey::for_tests`] at an exchange whose keys carry one.
    pub const TEST_PASSPHRASE: &'static str = "testpass";

    /// The key an exchange simulator's unit tests sign with: [`SimKey::TEST_KEY`], its secret
    /// and, where the exchange's keys carry one, its passphrase.
    pub fn for_tests(exchange: ExchangeKind, scenario: Scenario) -> SimKey {
        SimKey {
            exchange,
            api_key: Self::TEST_KEY.into(),
            api_secret: Self::TEST_SECRET.into(),
            passphrase: exchange
                .spec()
                .passphrase
                .then(|| Self::TEST_PASSPHRASE.into()),
            scenario,
        }
    }
}

/// Exchange-wide behaviour.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimExchangeSettings {
    /// The exchange's public status endpoint reports maintenance.
    #[serde(default)]
    pub maintenance: bool,
    /// The exchange's clock runs this many ms away from ours, for every key.
    #[serde(default)]
    pub clock_offset_ms: i64,
    /// The exchange's IP rate limit trips once: every request answered 429 for a while.
    #[serde(default)]
    pub throttle: Option<SimThrottle>,
}

/// An exchange-wide rate limit that trips once, the way an exchange answers a host that sent
/// too much: after `after_requests` requests, every request (any key, any endpoint) gets HTTP
/// 429 with `Retry-After: retry_after_s` for `for_ms` milliseconds; then it answers normally.
///
/// ```toml
/// [exchanges.mexc.throttle]
/// after_requests = 15
/// for_ms = 3000
/// retry_after_s = 1
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimThrottle {
    pub after_requests: u64,
    pub for_ms: u64,
    pub retry_after_s: u64,
}

/// The whole scenario file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(default)]
    pub exchanges: HashMap<ExchangeKind, SimExchangeSettings>,
    #[serde(default)]
    pub keys: Vec<SimKey>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScenarioFileError {
    #[error("cannot read scenario file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("scenario file {path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
}

impl ScenarioFile {
    pub fn load(path: &Path) -> Result<ScenarioFile, ScenarioFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ScenarioFileError::Read {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ScenarioFileError::Parse {
            path: shown,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    #[test]
    fn every_scenario_is_spelled_in_the_file_as_its_name() {
        for scenario in Scenario::ALL.into_iter().chain(Scenario::EXCHANGE_SPECIFIC) {
            let parsed: Scenario = serde_json::from_value(serde_json::json!(scenario.name()))
                .unwrap_or_else(|e| panic!("{}: {e}", scenario.name()));
            assert_eq!(parsed, scenario);
        }
    }
}
