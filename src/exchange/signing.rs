//! Helpers the exchanges' signing recipes share. Each recipe (what is signed, in which order,
//! with which hash) stays in its exchange's file; only the identical building blocks live here.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Every byte except RFC 3986's unreserved characters (`A-Z a-z 0-9 - _ . ~`) is encoded: the
/// form the exchanges that sign an encoded query (Binance, BingX, Bitget, HTX, MEXC) expect.
const RFC3986_RESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

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
