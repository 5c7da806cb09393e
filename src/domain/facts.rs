//! What a probe learned about a key: rights, IP binding, expiry, and the problems it met.
//!
//! The exchange layer produces these and [`crate::check`] judges them; the alert engine asks
//! for a remedy with empty facts. They are plain data, so they live with the vocabulary.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Permissions;

/// The kinds of trouble a probe can meet, in the order [`crate::check`] ranks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProblemKind {
    /// Down, in maintenance, timing out, or answering something that is not its API.
    Unavailable,
    /// The exchange throttled us.
    RateLimited,
    /// Our clock is outside the exchange's receive window.
    ClockSkew,
    /// The connection points at an exchange site its key, or this host's location, does not
    /// belong to: a key made on OKX EEA asked on the global site, Binance refusing this host's
    /// country. Not the key's fault and not an outage: a setting (`region`) or the host must
    /// change, so it is its own kind (see [`super::Status::WrongRegion`]).
    WrongRegion,
    /// Unknown, revoked or expired key, wrong secret or passphrase.
    InvalidKey,
    /// This host's IP is not on the key's whitelist.
    IpNotAllowed,
}

/// One piece of trouble, with the exchange's own words (code and message) for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub message: String,
    /// The IP address the exchange says it saw (for the IP-whitelist remedy), when it names one.
    pub seen_ip: Option<String>,
    /// How long the exchange asked us to wait (HTTP `Retry-After`), when it said.
    pub retry_after: Option<Duration>,
}

impl Problem {
    pub fn new(kind: ProblemKind, message: impl Into<String>) -> Problem {
        Problem {
            kind,
            message: message.into(),
            seen_ip: None,
            retry_after: None,
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Problem {
        Problem::new(ProblemKind::Unavailable, message)
    }

    pub fn invalid_key(message: impl Into<String>) -> Problem {
        Problem::new(ProblemKind::InvalidKey, message)
    }

    pub fn clock_skew(message: impl Into<String>) -> Problem {
        Problem::new(ProblemKind::ClockSkew, message)
    }

    pub fn wrong_region(message: impl Into<String>) -> Problem {
        Problem::new(ProblemKind::WrongRegion, message)
    }

    /// The clock-skew problem for an offset (positive: the server is ahead) that falls outside
    /// an exchange's window, or `None` when `inside_window`. The exchange keeps what is its own:
    /// its window rule, how it names the clock (`whose_clock`, e.g. "OKX's server clock") and
    /// the documented window (`window`, built only when the problem is reported).
    pub fn skew_outside_window(
        inside_window: bool,
        what: &str,
        whose_clock: &str,
        offset_ms: i64,
        window: impl FnOnce() -> String,
    ) -> Option<Problem> {
        if inside_window {
            return None;
        }
        let direction = if offset_ms >= 0 { "ahead of" } else { "behind" };
        Some(Problem::clock_skew(format!(
            "{what}: {whose_clock} is {} ms {direction} ours; {}",
            offset_ms.unsigned_abs(),
            window()
        )))
    }

    pub fn rate_limited(message: impl Into<String>, retry_after: Option<Duration>) -> Problem {
        Problem {
            retry_after,
            ..Problem::new(ProblemKind::RateLimited, message)
        }
    }

    /// An IP refusal; the seen IP is pulled out of the exchange's message when it names one.
    pub fn ip_not_allowed(message: impl Into<String>) -> Problem {
        let message = message.into();
        Problem {
            seen_ip: extract_ip(&message),
            ..Problem::new(ProblemKind::IpNotAllowed, message)
        }
    }
}

/// Everything one probe learned. Partial facts are normal: a probe that met a problem halfway
/// still reports what it saw before.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facts {
    pub permissions: Permissions,
    pub ip_restricted: Option<bool>,
    pub expires_at: Option<DateTime<Utc>>,
    pub problems: Vec<Problem>,
    /// Things worth telling the operator that are not problems (e.g. a right that is unknowable).
    pub notes: Vec<String>,
}

impl Facts {
    pub fn with_problem(problem: Problem) -> Facts {
        Facts {
            problems: vec![problem],
            ..Facts::default()
        }
    }

    /// Whether the probe met any problem at all; probes stop at the first one that makes
    /// further questions pointless.
    pub fn has_problem(&self) -> bool {
        !self.problems.is_empty()
    }
}

/// Finds the first IPv4 or IPv6 address in an exchange's error message, e.g. MEXC's
/// `IP [203.0.113.7] not in the ip white list` or KuCoin's `clientIp is: 203.0.113.7`.
pub fn extract_ip(message: &str) -> Option<String> {
    message
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .map(|token| token.trim_matches(|c| c == '.' || c == ':'))
        .find(|token| {
            token.parse::<std::net::Ipv4Addr>().is_ok()
                || (token.contains(':') && token.parse::<std::net::Ipv6Addr>().is_ok())
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::{extract_ip, Problem, ProblemKind};

    #[test]
    fn skew_outside_window_names_the_direction_and_the_window() {
        let window = || "X refuses timestamps more than 5 s away".to_string();
        assert_eq!(
            Problem::skew_outside_window(true, "GET /t", "X's server clock", 9_000, window),
            None
        );
        let ahead =
            Problem::skew_outside_window(false, "GET /t", "X's server clock", 120_000, window)
                .unwrap();
        assert_eq!(ahead.kind, ProblemKind::ClockSkew);
        assert_eq!(
            ahead.message,
            "GET /t: X's server clock is 120000 ms ahead of ours; X refuses timestamps more \
             than 5 s away"
        );
        let behind =
            Problem::skew_outside_window(false, "GET /t", "server clock", -5, window).unwrap();
        assert_eq!(
            behind.message,
            "GET /t: server clock is 5 ms behind ours; X refuses timestamps more than 5 s away"
        );
        // The most negative offset a reply can produce does not overflow the magnitude.
        let extreme =
            Problem::skew_outside_window(false, "GET /t", "server clock", -i64::MAX, window)
                .unwrap();
        assert!(extreme.message.contains(&format!("{} ms behind", i64::MAX)));
    }

    #[test]
    fn finds_the_ip_exchanges_name_in_their_refusals() {
        assert_eq!(
            extract_ip("IP [203.0.113.7] not in the ip white list").as_deref(),
            Some("203.0.113.7")
        );
        assert_eq!(
            extract_ip("Invalid request ip, the current clientIp is: 198.51.100.23").as_deref(),
            Some("198.51.100.23")
        );
        assert_eq!(
            extract_ip("ip 2001:db8::1 not allowed").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(extract_ip("IP non white list"), None);
        assert_eq!(extract_ip("code 700006"), None);
    }
}
