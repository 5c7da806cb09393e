//! What exchanges say about our rate-limit use in their reply headers, read so the request
//! budget follows the exchange's own count instead of only our estimate of it (issue 13).
//!
//! Each exchange's doc (shared/docs/exchanges/NAME.md, section 7) names its headers:
//! - Binance: `X-MBX-USED-WEIGHT-1M` (spot `/api` 6000 a minute, futures `/fapi` 2400) and
//!   `X-SAPI-USED-IP-WEIGHT-1M` (12000 a minute per SAPI endpoint), counted per calendar minute;
//! - KuCoin: `gw-ratelimit-remaining` and `gw-ratelimit-reset` (ms until the pool refills);
//! - Bybit: `X-Bapi-Limit-Status` (requests left) and `X-Bapi-Limit-Reset-Timestamp` (epoch ms);
//! - Gate: `X-Gate-RateLimit-Requests-Remain` and `X-Gate-RateLimit-Reset-Timestamp` (epoch s);
//! - HTX: `X-HB-RateLimit-Requests-Remain` and `X-HB-RateLimit-Requests-Expire` (the unit is
//!   not documented: read as epoch ms when it looks like one, else as ms from now).
//!
//! OKX, MEXC, Bitget, BingX and Coinbase send no such header; for them (and for everyone) a 429
//! with `Retry-After` is the signal.
//!
//! A header names a quota that is used up (nothing left, or Binance's weight at
//! [`BINANCE_WEIGHT_HEADROOM`] of its limit): the host then pauses until the quota refills.
//! Anything that does not parse is ignored: a header is advice, never a reason to fail a check.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::http::header_value;

/// The share of Binance's per-minute weight at which we stop until the next minute, leaving
/// the rest to anything else on this host that uses the same IP.
pub const BINANCE_WEIGHT_HEADROOM: f64 = 0.9;

/// `Retry-After` in whole seconds, when sent.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    number(headers, RETRY_AFTER.as_str()).map(|s| Duration::from_secs(s.max(0) as u64))
}

/// How long the host must wait before its quota refills, when a header says the quota is
/// used up; `None` when nothing says so (or nothing parses). `url` tells Binance's futures
/// weight from its spot weight; `now_ms` is our clock, for the headers that give an instant.
pub fn exhausted_for(headers: &HeaderMap, url: &str, now_ms: i64) -> Option<Duration> {
    binance(headers, url, now_ms)
        .or_else(|| kucoin(headers))
        .or_else(|| bybit(headers, now_ms))
        .or_else(|| gate(headers, now_ms))
        .or_else(|| htx(headers, now_ms))
}

/// The quota headers' values: whole numbers.
fn number(headers: &HeaderMap, name: &str) -> Option<i64> {
    header_value(headers, name)
}

fn until(instant_ms: i64, now_ms: i64) -> Duration {
    Duration::from_millis(instant_ms.saturating_sub(now_ms).max(0) as u64)
}

fn binance(headers: &HeaderMap, url: &str, now_ms: i64) -> Option<Duration> {
    let futures = url.contains("/fapi/");
    let used_over = |name: &str, limit: f64| {
        number(headers, name).is_some_and(|used| used as f64 >= limit * BINANCE_WEIGHT_HEADROOM)
    };
    let spot_or_futures = if futures { 2_400.0 } else { 6_000.0 };
    if used_over("x-mbx-used-weight-1m", spot_or_futures)
        || used_over("x-sapi-used-ip-weight-1m", 12_000.0)
    {
        // Weight is counted per calendar minute: the next one starts afresh.
        let into_minute = now_ms.rem_euclid(60_000);
        return Some(Duration::from_millis((60_000 - into_minute) as u64));
    }
    None
}

fn kucoin(headers: &HeaderMap) -> Option<Duration> {
    (number(headers, "gw-ratelimit-remaining")? <= 0)
        .then(|| number(headers, "gw-ratelimit-reset"))
        .flatten()
        .map(|ms| Duration::from_millis(ms.max(0) as u64))
}

fn bybit(headers: &HeaderMap, now_ms: i64) -> Option<Duration> {
    (number(headers, "x-bapi-limit-status")? <= 0)
        .then(|| number(headers, "x-bapi-limit-reset-timestamp"))
        .flatten()
        .map(|at| until(at, now_ms))
}

fn gate(headers: &HeaderMap, now_ms: i64) -> Option<Duration> {
    (number(headers, "x-gate-ratelimit-requests-remain")? <= 0)
        .then(|| number(headers, "x-gate-ratelimit-reset-timestamp"))
        .flatten()
        .map(|at_s| until(at_s.saturating_mul(1000), now_ms))
}

fn htx(headers: &HeaderMap, now_ms: i64) -> Option<Duration> {
    (number(headers, "x-hb-ratelimit-requests-remain")? <= 0)
        .then(|| number(headers, "x-hb-ratelimit-requests-expire"))
        .flatten()
        .map(|expire| {
            // An epoch in ms is past 10^12; anything smaller is a duration in ms.
            if expire > 1_000_000_000_000 {
                until(expire, now_ms)
            } else {
                Duration::from_millis(expire.max(0) as u64)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderName, HeaderValue};

    const NOW: i64 = 1_699_999_990_000; // 10 s into a minute

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_static(k),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn binance_weight_near_the_limit_waits_for_the_next_minute() {
        let spot = "https://api.binance.com/api/v3/account";
        let near = headers(&[("x-mbx-used-weight-1m", "5400")]);
        assert_eq!(
            exhausted_for(&near, spot, NOW),
            Some(Duration::from_secs(50))
        );
        let fine = headers(&[("x-mbx-used-weight-1m", "5399")]);
        assert_eq!(exhausted_for(&fine, spot, NOW), None);
        // The same weight is past the futures limit (2400).
        let futures = "https://fapi.binance.com/fapi/v2/balance";
        let used = headers(&[("x-mbx-used-weight-1m", "2200")]);
        assert!(exhausted_for(&used, futures, NOW).is_some());
        assert_eq!(exhausted_for(&used, spot, NOW), None);
        let sapi = headers(&[("x-sapi-used-ip-weight-1m", "11000")]);
        assert!(exhausted_for(&sapi, spot, NOW).is_some());
    }

    #[test]
    fn a_used_up_quota_pauses_until_the_exchange_says_it_refills() {
        let url = "https://api.example.com/x";
        // (the header that says nothing is left, the one that says when it refills, its
        // value, the wait)
        let (kucoin, bybit, gate, htx) = (
            ("gw-ratelimit-remaining", "gw-ratelimit-reset"),
            ("x-bapi-limit-status", "x-bapi-limit-reset-timestamp"),
            (
                "x-gate-ratelimit-requests-remain",
                "x-gate-ratelimit-reset-timestamp",
            ),
            (
                "x-hb-ratelimit-requests-remain",
                "x-hb-ratelimit-requests-expire",
            ),
        );
        let cases = [
            (kucoin, "1500".to_string(), Duration::from_millis(1500)),
            (bybit, (NOW + 2_000).to_string(), Duration::from_secs(2)),
            (gate, (NOW / 1000 + 3).to_string(), Duration::from_secs(3)),
            // HTX's expiry as an epoch in ms, then as ms from now
            (htx, (NOW + 700).to_string(), Duration::from_millis(700)),
            (htx, "900".to_string(), Duration::from_millis(900)),
        ];
        for ((left, refill), at, wait) in cases {
            let used_up = headers(&[(left, "0"), (refill, &at)]);
            assert_eq!(
                exhausted_for(&used_up, url, NOW),
                Some(wait),
                "{refill}: {at}"
            );
        }
    }

    #[test]
    fn quota_left_or_garbage_changes_nothing() {
        let url = "https://api.example.com/x";
        for pairs in [
            vec![
                ("gw-ratelimit-remaining", "12"),
                ("gw-ratelimit-reset", "1500"),
            ],
            vec![
                ("gw-ratelimit-remaining", "zero"),
                ("gw-ratelimit-reset", "1500"),
            ],
            vec![("x-bapi-limit-status", "0")],
            vec![("x-gate-ratelimit-requests-remain", "")],
            vec![],
        ] {
            assert_eq!(exhausted_for(&headers(&pairs), url, NOW), None, "{pairs:?}");
        }
        // A reset in the past means no wait, not a negative one.
        let past = headers(&[
            ("x-bapi-limit-status", "0"),
            ("x-bapi-limit-reset-timestamp", &(NOW - 5_000).to_string()),
        ]);
        assert_eq!(exhausted_for(&past, url, NOW), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        assert_eq!(
            retry_after(&headers(&[("retry-after", " 7 ")])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")])), None);
    }
}
