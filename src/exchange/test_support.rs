//! Assertions the exchanges' unit tests share: what every exchange must do the same way (a
//! refused header, a rate limit, a clock window, the rights a key description yields), worded
//! once so that each `tests.rs` keeps only its exchange's worked examples and peculiar texts.
//! The reply fixtures and table runners stay in `http.rs` beside the code they exercise.

use crate::domain::spec::ClockWindow;
use crate::domain::{Facts, Problem, ProblemKind};
use crate::exchange::{http, Outcome};
use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde_json::Value;
use std::fmt::Debug;
use std::time::Duration;

/// The facts `apply` records on fresh facts: what one key description tells on its own.
pub(crate) fn facts_from(apply: impl FnOnce(&mut Facts)) -> Facts {
    let mut facts = Facts::default();
    apply(&mut facts);
    facts
}

/// `data` without `field`, then with `field` set to each of `empties`: every way an exchange
/// writes an empty list (an IP whitelist, say), for a key description read the same in each.
pub(crate) fn with_each_empty(
    data: Value,
    field: &str,
    empties: impl IntoIterator<Item = Value>,
) -> Vec<Value> {
    let mut without = data;
    without
        .as_object_mut()
        .expect("a JSON object")
        .remove(field);
    let with_each = empties.into_iter().map(|empty| {
        let mut with = without.clone();
        with[field] = empty;
        with
    });
    std::iter::once(without.clone()).chain(with_each).collect()
}

/// A key's four rights in the order the tests write them: read, trade, withdraw, futures.
pub(crate) fn rights(facts: &Facts) -> [Option<bool>; 4] {
    let p = facts.permissions;
    [p.read, p.trade, p.withdraw, p.futures]
}

/// Asserts what a key description told: the key's rights, whether it is bound to IP addresses,
/// and when it expires.
pub(crate) fn assert_key_facts(
    facts: &Facts,
    read_trade_withdraw_futures: [Option<bool>; 4],
    ip_restricted: Option<bool>,
    expires_at: Option<DateTime<Utc>>,
) {
    assert_eq!(rights(facts), read_trade_withdraw_futures, "rights");
    assert_eq!(facts.ip_restricted, ip_restricted, "bound to IP addresses");
    assert_eq!(facts.expires_at, expires_at, "expiry");
}

/// Asserts that one of the facts' notes says `words`.
pub(crate) fn assert_noted(facts: &Facts, words: &str) {
    assert!(
        facts.notes.iter().any(|n| n.contains(words)),
        "no note says {words:?}: {:?}",
        facts.notes
    );
}

/// Asserts that the problem's message says each of `words`.
pub(crate) fn assert_says(problem: &Problem, words: &[&str]) {
    for said in words {
        assert!(problem.message.contains(said), "{}", problem.message);
    }
}

/// The words of a reply that reads as a right the key lacks (a fact about the key, not a
/// problem); panics on any other outcome.
pub(crate) fn expect_denied(outcome: Outcome) -> String {
    match outcome {
        Outcome::Denied(said) => said,
        other => panic!("expected a missing right, got {other:?}"),
    }
}

/// Asserts a refusal of the caller's IP address, naming the address the exchange saw where its
/// message does (`seen_ip`), so the remedy can say which address to allow.
pub(crate) fn assert_ip_refused(problem: &Problem, seen_ip: Option<&str>) {
    assert_eq!(
        problem.kind,
        ProblemKind::IpNotAllowed,
        "{}",
        problem.message
    );
    assert_eq!(problem.seen_ip.as_deref(), seen_ip);
}

/// Asserts a throttled request: rate limited, waiting `retry_after` (`None` where the exchange
/// said nothing of when to come back), and quoting `quoted`, the exchange's own code or words.
pub(crate) fn assert_rate_limited(problem: &Problem, retry_after: Option<Duration>, quoted: &str) {
    assert_eq!(
        problem.kind,
        ProblemKind::RateLimited,
        "{}",
        problem.message
    );
    assert_eq!(problem.retry_after, retry_after);
    assert_says(problem, &[quoted]);
}

/// Asserts that credentials which cannot travel in an HTTP header (a key pasted with a stray
/// newline) are refused as an invalid key, and that the refusal does not quote `hidden`, the
/// part of the secret material it was given.
pub(crate) fn assert_refused_without_quoting<T: Debug>(result: Result<T, Problem>, hidden: &str) {
    let err = result.unwrap_err();
    assert_eq!(err.kind, ProblemKind::InvalidKey);
    assert!(!err.message.contains(hidden), "{}", err.message);
}

/// Asserts the headers of an exchange that signs the query and sends only the API key as a
/// header (Binance, BingX): that one header `name`, carrying `key`, marked sensitive.
pub(crate) fn assert_key_header_only(headers: &HeaderMap, name: &str, key: &str) {
    assert_eq!(headers[name], key);
    assert!(headers[name].is_sensitive());
    assert_eq!(headers.len(), 1);
}

/// Asserts a signing recipe's auth headers against a worked example: exactly the `expected`
/// names, in the order the exchange documents them, with the documented values.
pub(crate) fn assert_header_values(values: &[(&'static str, String)], expected: &[(&str, &str)]) {
    let got: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    assert_eq!(got, expected);
}

/// Asserts the worked example of a passphrase exchange's headers (KuCoin, OKX, Bitget): the
/// pairs are the documented ones, and the request carries exactly those headers, each marked
/// sensitive, since the key, the signature and the passphrase must never show in debug output.
pub(crate) fn assert_signed_headers<const N: usize>(
    values: [(&'static str, String); N],
    expected: [(&str, &str); N],
) {
    assert_header_values(&values, &expected);
    let map = http::sensitive_headers(values).unwrap();
    assert_eq!(map.len(), N);
    for (name, value) in expected {
        assert_eq!(map[name], value, "{name}");
        assert!(map[name].is_sensitive(), "{name}");
    }
}

/// Asserts the window Binance documents and Bybit and MEXC follow (offsets are server − ours): a
/// request is accepted with the server up to `recv_window_ms` ahead and less than 1000 ms behind.
pub(crate) fn assert_recv_window_rule(window: ClockWindow, recv_window_ms: i64) {
    let window_ok = |offset| window.contains(offset);
    assert!(window_ok(0));
    assert!(window_ok(recv_window_ms));
    assert!(!window_ok(recv_window_ms + 1));
    assert!(window_ok(-999));
    assert!(!window_ok(-1_000));
}

/// Asserts how an exchange's own `skew_problem` words a clock skew: offsets of `inside` ms
/// either way pass; the server's clock 120 s ahead, or `behind` ms behind ours, is clock skew,
/// and the message says by how much and which way.
pub(crate) fn assert_skew_wording(
    skew_problem: impl Fn(i64) -> Option<Problem>,
    inside: i64,
    behind: i64,
) {
    for offset in [inside, -inside] {
        assert_eq!(skew_problem(offset), None, "{offset} ms is inside");
    }
    for (offset, said) in [
        (120_000, "120000 ms ahead of ours".to_string()),
        (-behind, format!("{behind} ms behind ours")),
    ] {
        let p = skew_problem(offset).unwrap();
        assert_eq!(p.kind, ProblemKind::ClockSkew);
        assert_says(&p, &[&said]);
    }
}
