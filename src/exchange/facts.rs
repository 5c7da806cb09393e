//! How one exchange reply reads once its envelope and error codes are understood.

use std::fmt::Display;

use chrono::{TimeZone, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::http::Reply;
use crate::domain::{Facts, Permissions, Problem};

/// How one reply from an exchange reads once its envelope and error codes are understood.
#[derive(Debug)]
pub enum Outcome {
    /// Success: the call's data.
    Ok(serde_json::Value),
    /// The key lacks the right this endpoint needs: a fact about the key, not a problem.
    Denied(String),
    /// Anything that ends the probe.
    Problem(Problem),
}

impl Outcome {
    /// The data of a public endpoint. Such an endpoint needs no right, so a refusal there is not
    /// the key's doing: it counts as the exchange not answering properly.
    pub fn public_data(self) -> Result<serde_json::Value, Problem> {
        match self {
            Outcome::Ok(data) => Ok(data),
            Outcome::Denied(said) => Err(Problem::unavailable(said)),
            Outcome::Problem(problem) => Err(problem),
        }
    }

    /// The data of a signed call that needs one right of the key (`right` picks it), when the
    /// exchange gave it. A refusal is a fact about the key, not a problem: the right is recorded
    /// absent, the exchange's words become a note, and there is no data (`Ok(None)`).
    pub fn granted(
        self,
        facts: &mut Facts,
        right: fn(&mut Permissions) -> &mut Option<bool>,
    ) -> Result<Option<Value>, Problem> {
        match self {
            Outcome::Ok(data) => Ok(Some(data)),
            Outcome::Denied(said) => {
                *right(&mut facts.permissions) = Some(false);
                facts.notes.push(said);
                Ok(None)
            }
            Outcome::Problem(problem) => Err(problem),
        }
    }
}

/// A futures read the exchange refused: the key lacks the futures right, and the exchange's
/// words `said` become a note saying which read was refused.
pub fn futures_refused(facts: &mut Facts, said: &str) {
    facts.permissions.futures = Some(false);
    facts.notes.push(format!("futures refused: {said}"));
}

/// A futures read the exchange answered (`read` names what was read: "futures account"). It
/// proves futures access, not the right to trade them: a futures right no earlier step learned
/// stays unknown, with a note saying so.
pub fn futures_readable(facts: &mut Facts, read: &str) {
    if facts.permissions.futures.is_none() {
        facts
            .notes
            .push(format!("{read} readable; futures trade right unknown"));
    }
}

#[cfg(test)]
impl Outcome {
    /// The problem this outcome is, for tests of an exchange's error codes.
    pub fn expect_problem(self) -> Problem {
        match self {
            Outcome::Problem(problem) => problem,
            other => panic!("expected a problem, got {other:?}"),
        }
    }
}

/// What a call to an exchange whose errors are `{"code": n, "msg": ..}` came back with (Binance,
/// and MEXC, whose spot API copies Binance's), once the HTTP-level problems are out of the way.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The call succeeded: the body (or, for MEXC futures, its `data`).
    Ok(Value),
    /// The exchange refused, with its own code (`None`: an HTTP error without a JSON code).
    Refused {
        status: u16,
        code: Option<i64>,
        msg: String,
    },
}

impl Answer {
    /// An HTTP error without the exchange's JSON (a bare 404 for a path a host does not
    /// serve): its status and the first bytes of its body.
    pub fn refused_without_code(reply: &Reply) -> Answer {
        Answer::Refused {
            status: reply.status.as_u16(),
            code: None,
            msg: reply.snippet(),
        }
    }
}

/// The `{code, msg, data}` envelope OKX and KuCoin wrap every reply in (`{"code":"0","msg":"",
/// "data":[...]}`); an error comes as `code` and `msg` without `data`.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    code: Value,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    pub data: Value,
}

impl Envelope {
    /// The code as text, as sent. The docs say it is a string; a number is accepted too,
    /// tolerantly.
    pub fn code(&self) -> String {
        match &self.code {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    pub fn msg(&self) -> &str {
        self.msg.as_deref().unwrap_or("")
    }
}

/// The words of a refusal: `what` (the call) with the exchange's code and message, or the HTTP
/// status when the body carried no code (Binance, MEXC, BingX).
pub fn refusal_text(what: &str, status: u16, code: Option<i64>, msg: &str) -> String {
    match code {
        Some(code) => code_text(what, code, msg),
        None => format!("{what}: HTTP {status} {msg}")
            .trim_end()
            .to_string(),
    }
}

/// The words of a refusal with the exchange's code: `what` (the call), the code and the
/// message, as in `"GET /v1/account/accounts: code api-signature-not-valid Signature not
/// valid"` (no trailing space when the message is empty).
pub fn code_text(what: &str, code: impl Display, msg: &str) -> String {
    format!("{what}: code {code} {msg}").trim_end().to_string()
}

/// An error body's numeric `code` (Binance, BingX, MEXC): a number per the docs; a numeric
/// string is accepted too, tolerantly.
pub fn numeric_code(body: &Value) -> Option<i64> {
    integer(body.get("code")?)
}

/// A whole number as the exchanges send one (a code, a time in ms, a status): a JSON number,
/// or, tolerantly, a numeric string.
pub fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An exchange's system status read into a problem: `None` while `status` is `up`; for any
/// other status, `unavailable` in the exchange's words (`described`); and `unavailable` for a
/// reply without a status field, which is not the status API answering as documented.
pub fn service_status_problem<T: PartialEq>(
    what: &str,
    status: Option<T>,
    up: T,
    described: impl FnOnce(T) -> String,
) -> Option<Problem> {
    match status {
        Some(status) if status == up => None,
        Some(other) => Some(Problem::unavailable(format!(
            "{what}: {}",
            described(other)
        ))),
        None => Some(reply_without(what, "a status field")),
    }
}

/// A time an exchange announces in ms since the epoch (a halt's end, a maintenance window's
/// bounds, an expected recovery), as a maintenance problem or note shows it:
/// `2023-11-14 22:13 UTC`. `None` when the number is no time chrono can hold (untrusted input).
pub fn announced_time(ms: i64) -> Option<String> {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// An error body's text: `msg`, else `message` (BingX, Bitget and MEXC each answer with one or
/// the other, depending on the endpoint); empty when there is neither.
pub fn msg_text(body: &Value) -> String {
    ["msg", "message"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .unwrap_or("")
        .to_string()
}

/// Whether `rights` (a key's rights as the exchange listed them) names `right`, in any ASCII
/// letter case.
pub fn lists_right(rights: &[String], right: &str) -> bool {
    rights.iter().any(|r| r.eq_ignore_ascii_case(right))
}

/// A list of strings as the exchanges send one (the key's rights, its bound IPs): a JSON array
/// of strings or a comma-separated string, each entry trimmed and empty ones dropped; absent or
/// `null` is an empty list. `None` for any other shape: a reply that does not read.
pub fn string_list(value: Option<&Value>) -> Option<Vec<String>> {
    let entries: Vec<&str> = match value {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split(',').collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        Some(_) => return None,
    };
    Some(
        entries
            .into_iter()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

/// An id or a short label as the exchanges send one, a string or a number: the string trimmed
/// (none when that leaves nothing), the number as written; `None` for anything else.
pub fn id_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `data` when it has the shape the call promises (`fits`), else [`reply_without`]
/// `expected` ("an account list").
pub fn expect_shape(
    data: Value,
    fits: fn(&Value) -> bool,
    what: &str,
    expected: &str,
) -> Result<Value, Problem> {
    if fits(&data) {
        Ok(data)
    } else {
        Err(reply_without(what, expected))
    }
}

/// The problem of a reply that does not read: `what` (the call) answered without `expected`
/// ("a permissions list"), so the exchange is not answering as its API documents.
pub fn reply_without(what: &str, expected: &str) -> Problem {
    Problem::unavailable(format!("{what}: reply without {expected}"))
}

/// What an exchange's error code means for a key check, once the exchange's own table has read
/// it (each exchange maps its codes; the meanings are shared so every exchange ends in the same
/// problems).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    InvalidKey,
    ClockSkew,
    IpNotAllowed,
    RateLimited,
    Unavailable,
    /// The key lacks the right this endpoint needs: a fact about the key, not a problem.
    NoPermission,
}

impl Meaning {
    /// The problem `text` (the exchange's words, with where they came from) is under this
    /// meaning; `None` for a missing right, which the probe records as a fact instead.
    pub fn problem(
        self,
        text: String,
        retry_after: Option<std::time::Duration>,
    ) -> Option<Problem> {
        Some(match self {
            Meaning::InvalidKey => Problem::invalid_key(text),
            Meaning::ClockSkew => Problem::clock_skew(text),
            Meaning::IpNotAllowed => Problem::ip_not_allowed(text),
            Meaning::RateLimited => Problem::rate_limited(text, retry_after),
            Meaning::Unavailable => Problem::unavailable(text),
            Meaning::NoPermission => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ProblemKind;
    use std::time::Duration;

    #[test]
    fn a_service_status_is_no_problem_when_up_and_unavailable_otherwise_or_without_one() {
        let described = |n: i64| format!("status {n}");
        assert!(service_status_problem("GET /s", Some(0), 0, described).is_none());
        let down = service_status_problem("GET /s", Some(1), 0, described).unwrap();
        assert_eq!(down.kind, ProblemKind::Unavailable);
        assert_eq!(down.message, "GET /s: status 1");
        let missing = service_status_problem("GET /s", None, 0, described).unwrap();
        assert_eq!(missing.kind, ProblemKind::Unavailable);
        assert_eq!(missing.message, "GET /s: reply without a status field");
    }

    #[test]
    fn an_announced_time_is_minutes_in_utc_and_an_impossible_one_is_none() {
        assert_eq!(
            announced_time(1_700_000_000_000).as_deref(),
            Some("2023-11-14 22:13 UTC")
        );
        assert_eq!(announced_time(i64::MAX), None);
    }

    #[test]
    fn a_refused_read_is_the_right_absent_and_a_note_not_a_problem() {
        let mut facts = Facts::default();
        let denied = Outcome::Denied("GET /x: code 7 no".to_string());
        assert_eq!(
            denied.granted(&mut facts, |p| &mut p.futures).unwrap(),
            None
        );
        assert_eq!(facts.permissions.futures, Some(false));
        assert_eq!(facts.notes, ["GET /x: code 7 no"]);
        let data = Outcome::Ok(serde_json::json!([])).granted(&mut facts, |p| &mut p.read);
        assert_eq!(data.unwrap(), Some(serde_json::json!([])));
        assert_eq!(facts.permissions.read, None);
        let problem =
            Outcome::Problem(Problem::unavailable("down")).granted(&mut facts, |p| &mut p.read);
        assert_eq!(problem.unwrap_err().kind, ProblemKind::Unavailable);
    }

    #[test]
    fn a_futures_read_leaves_an_unknown_trade_right_unknown_with_a_note() {
        let mut facts = Facts::default();
        futures_readable(&mut facts, "futures account");
        assert_eq!(facts.permissions.futures, None);
        assert_eq!(
            facts.notes,
            ["futures account readable; futures trade right unknown"]
        );
        let mut known = Facts::default();
        known.permissions.futures = Some(true);
        futures_readable(&mut known, "futures account");
        assert!(known.notes.is_empty());
    }

    #[test]
    fn data_of_another_shape_is_an_unreadable_reply() {
        let list = serde_json::json!([1]);
        assert_eq!(
            expect_shape(list.clone(), Value::is_array, "GET /x", "a list").unwrap(),
            list
        );
        let p =
            expect_shape(serde_json::json!({}), Value::is_array, "GET /x", "a list").unwrap_err();
        assert_eq!(
            (p.kind, p.message.as_str()),
            (ProblemKind::Unavailable, "GET /x: reply without a list")
        );
    }

    #[test]
    fn a_listed_right_is_found_in_any_letter_case_and_only_whole() {
        let rights = ["Spot".to_string(), "withdraw".to_string()];
        assert!(lists_right(&rights, "spot"));
        assert!(lists_right(&rights, "WITHDRAW"));
        assert!(!lists_right(&rights, "spo"));
        assert!(!lists_right(&[], "spot"));
    }

    #[test]
    fn a_string_list_is_an_array_or_a_comma_string_trimmed() {
        let list = |v: Value| string_list(Some(&v));
        let ab = Some(vec!["a".to_string(), "b".to_string()]);
        assert_eq!(list(serde_json::json!(" a, ,b ")), ab);
        assert_eq!(list(serde_json::json!([" a", "", "b", 7])), ab);
        assert_eq!(list(Value::Null), Some(vec![]));
        assert_eq!(string_list(None), Some(vec![]));
        assert_eq!(list(serde_json::json!({"a": 1})), None);
        assert_eq!(list(serde_json::json!(1)), None);
    }

    #[test]
    fn an_id_is_a_trimmed_string_or_a_number() {
        let id = |v: Value| id_text(Some(&v));
        assert_eq!(id(serde_json::json!(" 42 ")), Some("42".to_string()));
        assert_eq!(id(serde_json::json!(42)), Some("42".to_string()));
        assert_eq!(id(serde_json::json!("  ")), None);
        assert_eq!(id(serde_json::json!(true)), None);
        assert_eq!(id_text(None), None);
    }

    #[test]
    fn refusal_text_quotes_code_and_message() {
        // Binance's and MEXC's signature refusals, and a bare 404.
        assert_eq!(
            refusal_text(
                "GET /api/v3/account",
                400,
                Some(-1022),
                "Signature for this request is not valid."
            ),
            "GET /api/v3/account: code -1022 Signature for this request is not valid."
        );
        assert_eq!(
            refusal_text(
                "GET /api/v3/account",
                400,
                Some(700002),
                "Signature for this request is not valid."
            ),
            "GET /api/v3/account: code 700002 Signature for this request is not valid."
        );
        assert_eq!(refusal_text("x", 404, None, ""), "x: HTTP 404");
    }

    #[test]
    fn each_meaning_is_its_problem_and_a_missing_right_is_none() {
        let wait = Some(Duration::from_secs(3));
        let kind = |m: Meaning| m.problem("x".to_string(), wait).map(|p| p.kind);
        assert_eq!(kind(Meaning::InvalidKey), Some(ProblemKind::InvalidKey));
        assert_eq!(kind(Meaning::ClockSkew), Some(ProblemKind::ClockSkew));
        assert_eq!(kind(Meaning::IpNotAllowed), Some(ProblemKind::IpNotAllowed));
        assert_eq!(kind(Meaning::Unavailable), Some(ProblemKind::Unavailable));
        assert_eq!(kind(Meaning::NoPermission), None);
        let limited = Meaning::RateLimited.problem("x".to_string(), wait).unwrap();
        assert_eq!(
            (limited.kind, limited.retry_after),
            (ProblemKind::RateLimited, wait)
        );
    }
}
