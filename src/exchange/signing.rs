//! Helpers the exchanges' signing recipes share. Each recipe (what is signed, in which order,
//! with which hash) stays in its exchange's file; only the identical building blocks live here.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;

use crate::domain::Credentials;
use crate::secret::ExposeSecret;

/// HMAC-SHA256 of `message` keyed with `secret` (its UTF-8 bytes): the MAC under every
/// HMAC-signing recipe; only how the exchange wants it written differs (below).
fn hmac_sha256(secret: &str, message: &[u8]) -> impl AsRef<[u8]> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes()
}

/// Lowercase hex HMAC-SHA256 of `message` under `secret`: Binance, BingX, Bybit, MEXC.
pub fn hmac_hex(secret: &str, message: impl AsRef<[u8]>) -> String {
    hex::encode(hmac_sha256(secret, message.as_ref()))
}

/// base64(HMAC-SHA256(secret, message)), standard alphabet with padding: OKX, KuCoin, Bitget,
/// HTX.
pub fn hmac_base64(secret: &str, message: impl AsRef<[u8]>) -> String {
    BASE64.encode(hmac_sha256(secret, message.as_ref()))
}

/// The key's passphrase as configured, for the exchanges whose requests carry one (OKX, KuCoin,
/// Bitget); empty when none is configured.
pub fn passphrase(credentials: &Credentials) -> &str {
    credentials
        .passphrase
        .as_ref()
        .map(|p| p.expose_secret())
        .unwrap_or_default()
}

/// Every byte except RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) is encoded: the
/// form the exchanges that sign an encoded query (Binance, BingX, Bitget, HTX, MEXC) expect.
const RFC3986_RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `params` sorted by name in byte order, `name=value` joined with `&`, each value written by
/// `value` (percent-encoded or as it is, as the recipe says); empty without parameters. HTX's
/// canonical query, MEXC futures' `paramString` and the query Bitget signs.
pub fn sorted_query(params: &[(&str, &str)], value: impl Fn(&str) -> String) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    sorted
        .iter()
        .map(|(k, v)| format!("{k}={}", value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `value` percent-encoded per RFC 3986 (upper-case hex, space as `%20`, never `+`).
pub fn encode_value(value: &str) -> String {
    utf8_percent_encode(value, RFC3986_RESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::encode_value;

    #[test]
    fn encode_value_keeps_only_the_unreserved_characters() {
        assert_eq!(encode_value("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(encode_value("a b,c"), "a%20b%2Cc");
        assert_eq!(encode_value("a:b/c+d=e&f?"), "a%3Ab%2Fc%2Bd%3De%26f%3F");
        // Multi-byte UTF-8 goes out byte by byte, upper-case hex.
        assert_eq!(encode_value("é"), "%C3%A9");
        assert_eq!(encode_value(""), "");
    }
}
