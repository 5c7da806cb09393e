//! The statuses and warnings a verdict can carry, with their wire names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One status per connection, in the design's precedence order (first that applies wins).
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
#[serde(rename_all = "snake_case")]
pub enum Status {
    ExchangeUnavailable,
    RateLimited,
    ClockSkew,
    /// The connection points at an exchange site (region) that its key, or this host's
    /// location, does not belong to: an OKX EEA key on the global site (OKX 50119), Binance
    /// refusing the host's country (HTTP 451). Neither `invalid_key` (the key is fine, and
    /// "create a new key" would not help) nor `ip_not_allowed` (no whitelist entry fixes it)
    /// nor `exchange_unavailable` (it never passes by itself, so waiting is the wrong advice):
    /// a critical status of its own whose remedy names the setting to change. Ranked after
    /// `clock_skew` and before the key's own faults: like them it hides the key's rights.
    WrongRegion,
    InvalidKey,
    IpNotAllowed,
    WithdrawEnabled,
    /// The exchange would not say whether the key may withdraw, and the connection is set to
    /// `require_withdraw_verified = true`. A status of its own, not `withdraw_enabled`: the key
    /// may well be safe, and saying it can withdraw would be a false claim (the design's second
    /// failure, a healthy key reported as broken). It ranks just below `withdraw_enabled`
    /// (the main rule, known broken) and above the lost rights, because the operator who asked
    /// for it holds an unverified key to the main rule; critical like the key problems, so it
    /// opens an incident at once.
    WithdrawUnverified,
    NoReadPermission,
    NoTradePermission,
    NoFuturesPermission,
    Connected,
}

/// How loud a status is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Critical,
}

impl Status {
    pub const ALL: [Status; 12] = [
        Status::ExchangeUnavailable,
        Status::RateLimited,
        Status::ClockSkew,
        Status::WrongRegion,
        Status::InvalidKey,
        Status::IpNotAllowed,
        Status::WithdrawEnabled,
        Status::WithdrawUnverified,
        Status::NoReadPermission,
        Status::NoTradePermission,
        Status::NoFuturesPermission,
        Status::Connected,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Status::ExchangeUnavailable => "exchange_unavailable",
            Status::RateLimited => "rate_limited",
            Status::ClockSkew => "clock_skew",
            Status::WrongRegion => "wrong_region",
            Status::InvalidKey => "invalid_key",
            Status::IpNotAllowed => "ip_not_allowed",
            Status::WithdrawEnabled => "withdraw_enabled",
            Status::WithdrawUnverified => "withdraw_unverified",
            Status::NoReadPermission => "no_read_permission",
            Status::NoTradePermission => "no_trade_permission",
            Status::NoFuturesPermission => "no_futures_permission",
            Status::Connected => "connected",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Status::Connected => Severity::Ok,
            Status::RateLimited => Severity::Info,
            Status::ExchangeUnavailable => Severity::Warning,
            _ => Severity::Critical,
        }
    }

    /// Whether a check that ended in this status got as far as the key's rights: the statuses
    /// from `withdraw_enabled` on are judged on them, the ones before stop at a problem that
    /// hides them (so what the rights look like then says nothing).
    pub fn reached_rights(self) -> bool {
        self >= Status::WithdrawEnabled
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Warnings ride along with any status.
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
#[serde(rename_all = "snake_case")]
pub enum Warning {
    /// The key is not bound to an IP whitelist (and the connection requires one).
    IpWhitelistMissing,
    /// The key holds futures rights the connection does not use.
    FuturesNotNeeded,
    /// The key expires within the configured `expiry_warning`.
    KeyExpiresSoon,
    /// The exchange does not reveal whether the key may withdraw (the right is unknown, JSON
    /// `null`): the platform's main rule could not be checked, so it is said out loud rather
    /// than left in a note under a `connected` status.
    WithdrawUnverified,
    /// The exchange does not reveal whether the key is bound to an IP whitelist (and the
    /// connection requires one).
    IpBindingUnverified,
}

impl Warning {
    pub fn name(self) -> &'static str {
        match self {
            Warning::IpWhitelistMissing => "ip_whitelist_missing",
            Warning::FuturesNotNeeded => "futures_not_needed",
            Warning::KeyExpiresSoon => "key_expires_soon",
            Warning::WithdrawUnverified => "withdraw_unverified",
            Warning::IpBindingUnverified => "ip_binding_unverified",
        }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
