//! What to do about each status, in the platform's own words (its help text), so that an
//! operator can forward it to a user unchanged.

use crate::domain::{ExchangeKind, Facts, ProblemKind, Status, Warning};

/// The remedy for `status` on `exchange`; `None` for `connected`. The IP remedy names the exact
/// address the exchange saw when its refusal names one (MEXC and KuCoin do); the unverified
/// withdraw right names where on that exchange's API-management page to look.
pub fn remedy_for(status: Status, facts: &Facts, exchange: ExchangeKind) -> Option<String> {
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
        Status::WithdrawUnverified => format!(
            "{} This connection requires the exchange to confirm it \
             (require_withdraw_verified = true); it stays failing until the exchange does, or \
             until the setting is removed once a person has confirmed it.",
            withdraw_unverified_remedy(exchange)
        ),
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

/// What to do about a warning on `exchange`, in the same plain words as the status remedies.
pub fn warning_remedy(warning: Warning, exchange: ExchangeKind) -> String {
    match warning {
        Warning::IpWhitelistMissing => "Bind the API key to this trading host's IP address \
             at the exchange, so that a leaked key cannot be used from anywhere else."
            .to_string(),
        Warning::KeyExpiresSoon => "Create a new key at the exchange (read and trade rights \
             only, bound to this host's IP) before this one expires, and paste it into the platform."
            .to_string(),
        Warning::FuturesNotNeeded => "Switch the futures rights off on this key at the \
             exchange; the connection does not trade futures."
            .to_string(),
        Warning::WithdrawUnverified => withdraw_unverified_remedy(exchange),
        Warning::IpBindingUnverified => ip_binding_unverified_remedy(exchange),
    }
}

/// Where a person confirms by eye what the exchange's API would not tell: the key's entry on
/// the exchange's API-management page and the permission's name there (the names are the ones
/// /work/shared/docs/exchanges/<name>.md gives for the right).
fn withdraw_unverified_remedy(exchange: ExchangeKind) -> String {
    let (page, permission) = match exchange {
        ExchangeKind::Mexc => (
            "MEXC's API Management page (account menu, API Management)",
            "the \"Withdraw\" permission (SPOT_WITHDRAW_WRITE) is not ticked",
        ),
        ExchangeKind::Kucoin => (
            "KuCoin's API Management page",
            "the withdrawal permission (\"Transfer\" in KuCoin's API) is off",
        ),
        ExchangeKind::Binance => (
            "Binance's API Management page",
            "\"Enable Withdrawals\" is not ticked",
        ),
        ExchangeKind::Okx => (
            "OKX's API page (profile menu, API)",
            "the permissions list Read and Trade but not Withdraw",
        ),
        ExchangeKind::Bybit => (
            "Bybit's API Management page",
            "Wallet, Withdrawal is not ticked",
        ),
        ExchangeKind::Bitget => (
            "Bitget's API Management page",
            "the Withdraw permission is not granted",
        ),
        ExchangeKind::Gate => (
            "Gate's API Management page (APIv4 keys)",
            "the Withdrawal permission group is not enabled (Gate's API lists it only when \
             granted, under a name its docs do not give, so its absence proves nothing)",
        ),
        ExchangeKind::Htx => (
            "HTX's API Management page",
            "the Withdraw permission is not ticked",
        ),
        ExchangeKind::Bingx => (
            "BingX's API Management page",
            "the Withdraw permission is not ticked",
        ),
        ExchangeKind::Coinbase => (
            "the Coinbase Developer Platform portal's API keys page",
            "the Transfer permission (Coinbase has no separate withdraw right) is off",
        ),
    };
    format!(
        "The exchange did not reveal whether this key can withdraw funds. Open the key on \
         {page} and confirm that {permission}; if it is, delete the key and create one with read \
         and trade rights only."
    )
}

/// Where a person sees the IP binding the exchange's API would not show.
fn ip_binding_unverified_remedy(exchange: ExchangeKind) -> String {
    let page = match exchange {
        ExchangeKind::Coinbase => {
            "the Coinbase Developer Platform portal's API keys page (the key's IP allowlist)"
        }
        ExchangeKind::Okx => "OKX's API page (the key's IP address list)",
        ExchangeKind::Gate => "Gate's API Management page (the key's IP whitelist)",
        ExchangeKind::Bybit => "Bybit's API Management page (the key's IP restriction)",
        ExchangeKind::Binance => {
            "Binance's API Management page (Restrict access to trusted IPs only)"
        }
        ExchangeKind::Mexc
        | ExchangeKind::Kucoin
        | ExchangeKind::Bitget
        | ExchangeKind::Htx
        | ExchangeKind::Bingx => {
            return format!(
                "The exchange's API does not show whether this key is bound to an IP whitelist. \
                 Open the key on {}'s API Management page and confirm that its IP whitelist \
                 lists this trading host's IP address and nothing wider.",
                exchange.spec().display_name
            )
        }
    };
    format!(
        "The exchange's API does not show whether this key is bound to an IP whitelist. Open the \
         key on {page} and confirm that it lists this trading host's IP address and nothing \
         wider."
    )
}
