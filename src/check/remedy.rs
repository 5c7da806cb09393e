//! What to do about each status, in the platform's own words (its help text), so that an
//! operator can forward it to a user unchanged.

use crate::domain::{Facts, ProblemKind, Status};

/// The remedy for `status`; `None` for `connected`. The IP remedy names the exact address the
/// exchange saw when its refusal names one (MEXC and KuCoin do).
pub fn remedy_for(status: Status, facts: &Facts) -> Option<String> {
    let text = match status {
        Status::Connected => return None,
        Status::InvalidKey => "The API key was copied wrong, deleted or regenerated. Create a new key \
             at the exchange (read and trade rights only) and paste the key, secret and passphrase again."
            .to_string(),
        Status::NoTradePermission => {
            "Enable trading rights (spot trade) on the API key at the exchange.".to_string()
        }
        Status::NoReadPermission => {
            "Enable read rights on the API key at the exchange; without them no balance or order \
             can be read."
                .to_string()
        }
        Status::NoFuturesPermission => "This connection trades futures: enable futures trading \
             rights on the API key at the exchange, or remove \"futures\" from the connection's markets."
            .to_string(),
        Status::IpNotAllowed => match seen_ip(facts) {
            Some(ip) => format!(
                "Add this trading host's IP address {ip} to the API key's IP whitelist at the exchange."
            ),
            None => "Add this trading host's IP address to the API key's IP whitelist at the exchange."
                .to_string(),
        },
        Status::WithdrawEnabled => "Switch withdraw rights off on this API key at the exchange now, \
             or delete the key and create one with read and trade rights only."
            .to_string(),
        Status::ExchangeUnavailable => "The exchange is in maintenance or has an outage. Wait and \
             retry; nothing needs to change on the key."
            .to_string(),
        Status::RateLimited => "The exchange throttled our requests; the next check retries. If it \
             persists, check fewer keys per minute on this host."
            .to_string(),
        Status::WrongRegion => "The exchange serves this key or this host from another site. \
             When the key was made on a regional site of the exchange (OKX EEA or US, Bybit EU, \
             NL, TR, ...), set the connection's region to that site (region = \"eea\", see the \
             message); when the exchange refuses this host's location (Binance HTTP 451), check \
             the key from a host in a location the exchange serves."
            .to_string(),
        Status::ClockSkew => "This host's clock is outside the exchange's receive window: enable \
             time synchronisation (systemd-timesyncd or chrony) and check the clock."
            .to_string(),
    };
    Some(text)
}

fn seen_ip(facts: &Facts) -> Option<&str> {
    facts
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::IpNotAllowed)
        .and_then(|p| p.seen_ip.as_deref())
}

/// What to do about a warning, in the same plain words as the status remedies.
pub fn warning_remedy(warning: super::Warning) -> String {
    match warning {
        super::Warning::IpWhitelistMissing => "Bind the API key to this trading host's IP address \
             at the exchange, so that a leaked key cannot be used from anywhere else."
            .to_string(),
        super::Warning::KeyExpiresSoon => "Create a new key at the exchange (read and trade rights \
             only, bound to this host's IP) before this one expires, and paste it into the platform."
            .to_string(),
        super::Warning::FuturesNotNeeded => "Switch the futures rights off on this key at the \
             exchange; the connection does not trade futures."
            .to_string(),
    }
}
