//! The one HTTP client every probe shares, and what is common to reading any exchange's reply.

use std::str::FromStr;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::budget::HostBudgets;
use super::facts::reply_without;
use crate::domain::spec::ExchangeSpec;
use crate::domain::Problem;

/// The most of a reply we read: 1 MiB. Every endpoint we call answers in a few KiB; a bigger
/// reply (a proxy's junk, an endless stream) is `exchange_unavailable`, read no further, so a
/// check's memory and time stay bounded whatever comes back (issue 19: a 256 MiB reply took
/// 52 s and 2.4 GB before this cap).
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// A cheap-to-clone handle on one pooled reqwest client (rustls, per-request timeout), with the
/// request budgets of the exchange it is used for.
#[derive(Debug, Clone)]
pub struct HttpClient {
    client: reqwest::Client,
    budgets: Option<HostBudgets>,
}

impl HttpClient {
    /// Builds the shared client. `request_timeout` bounds every single request, body included,
    /// so a reply that hangs or trickles becomes `exchange_unavailable` instead of a stuck check.
    ///
    /// Redirects are never followed and no `Referer` is ever sent: a signed request carries the
    /// key (and for OKX, KuCoin and Bitget the passphrase) in its headers and the signature in
    /// its URL, and reqwest's default policy would replay all of it to whatever host a 3xx
    /// names. A 3xx is reported instead (`read_reply`).
    pub fn new(request_timeout: Duration) -> HttpClient {
        let client = reqwest::Client::builder()
            .user_agent(concat!("keywarden/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .timeout(request_timeout)
            .connect_timeout(request_timeout.min(Duration::from_secs(10)))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .expect("reqwest client with rustls builds from static settings");
        HttpClient {
            client,
            budgets: None,
        }
    }

    /// The same pooled client, with requests metered by `budgets` (one bucket per host).
    pub fn with_budgets(&self, budgets: HostBudgets) -> HttpClient {
        HttpClient {
            client: self.client.clone(),
            budgets: Some(budgets),
        }
    }

    /// Sends an unsigned GET to `url` with `headers`, after taking a token from the host's
    /// budget. Transport failures come back as an `Unavailable` problem naming what failed.
    pub async fn get(&self, url: &str, headers: HeaderMap) -> Result<Reply, Problem> {
        self.get_timed(url, headers).await.map(|(reply, _)| reply)
    }

    /// Like [`HttpClient::get`], with the wall-clock instants the request actually left and its
    /// answer came back: what a clock-offset measurement must use, since the time spent queued
    /// for the budget is before `sent_ms` (issue 13: measuring from before the queue made a
    /// long wait look like the exchange's clock running behind).
    pub async fn get_timed(
        &self,
        url: &str,
        headers: HeaderMap,
    ) -> Result<(Reply, RoundTrip), Problem> {
        self.take_token(url).await;
        self.send(url.to_string(), headers).await
    }

    /// A public GET read by `read` (the exchange's reply reader), with the instants it was sent
    /// and answered: what a clock step measures the server time against.
    pub async fn get_read<T>(
        &self,
        url: &str,
        read: impl FnOnce(&Reply) -> Result<T, Problem>,
    ) -> Result<(T, RoundTrip), Problem> {
        let (reply, trip) = self.get_timed(url, HeaderMap::new()).await?;
        Ok((read(&reply)?, trip))
    }

    /// A signed GET: takes the token for `base`'s host FIRST, then calls `build` with our clock
    /// (ms since the epoch) read at that moment, to make the URL and headers with a fresh
    /// timestamp and signature. Signing before waiting for the budget would send a request
    /// that could have gone stale in the queue (`clock_skew` for a healthy key). `build`'s URL
    /// must be on `base`'s host; its problems (a key that cannot travel in a header) end the
    /// request before anything is sent.
    pub async fn get_signed(
        &self,
        base: &str,
        build: impl FnOnce(i64) -> Result<(String, HeaderMap), Problem>,
    ) -> Result<Reply, Problem> {
        self.take_token(base).await;
        let (url, headers) = build(super::now_ms())?;
        debug_assert_eq!(
            host_key(&url),
            host_key(base),
            "signed URL left its base's host"
        );
        self.send(url, headers).await.map(|(reply, _)| reply)
    }

    /// A signed GET of `path_and_query` at `base` (which may carry a proxy prefix that is never
    /// signed), for the exchanges whose signature travels in headers alone (OKX, KuCoin,
    /// Bitget): `auth` gives the header pairs, signed over the path and query, for our clock
    /// read as in [`HttpClient::get_signed`], made sensitive by [`sensitive_headers`].
    pub async fn get_header_signed<P>(
        &self,
        base: &str,
        path_and_query: &str,
        auth: impl FnOnce(i64) -> P,
    ) -> Result<Reply, Problem>
    where
        P: IntoIterator<Item = (&'static str, String)>,
    {
        self.get_signed(base, |now| {
            let headers = sensitive_headers(auth(now))?;
            Ok((format!("{base}{path_and_query}"), headers))
        })
        .await
    }

    /// Waits for a token of `url`'s host, when this client is metered. The wait is pacing, not
    /// the exchange being slow: it is added to the check's [`budget::Pacing`], which
    /// `check_timeout` does not count.
    async fn take_token(&self, url: &str) {
        if let Some(budgets) = &self.budgets {
            budgets.take(&host_key(url)).await;
        }
    }

    async fn send(&self, url: String, headers: HeaderMap) -> Result<(Reply, RoundTrip), Problem> {
        let sent_ms = super::now_ms();
        let response = self
            .client
            .get(&url)
            .headers(headers)
            .send()
            .await
            .map_err(|e| transport_problem(&url, &e))?;
        let received_ms = super::now_ms();
        if let Some(budgets) = &self.budgets {
            budgets.heed(&host_key(&url), &url, response.status(), response.headers());
        }
        let reply = read_reply(response, &url).await?;
        Ok((
            reply,
            RoundTrip {
                sent_ms,
                received_ms,
            },
        ))
    }
}

/// When a request left and when its answer's headers came back, in ms since the epoch by our
/// clock; the budget wait is never inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoundTrip {
    pub sent_ms: i64,
    pub received_ms: i64,
}

impl RoundTrip {
    /// How far the server's clock runs from ours, in ms (positive: the server is ahead), measured
    /// against the midpoint of this round trip. A method on the trip, so the server's time is the
    /// only bare number and cannot be swapped with ours.
    pub fn clock_offset_ms(self, server_ms: i64) -> i64 {
        let midpoint = self.sent_ms + (self.received_ms - self.sent_ms) / 2;
        // A reply's time is untrusted input: i64::MIN or a huge float must not overflow (found
        // by tests/it/fuzz.rs); clamped so callers may take `abs()`.
        server_ms.saturating_sub(midpoint).max(-i64::MAX)
    }

    /// The clock step of the exchanges whose window and wording are their spec row's (OKX,
    /// KuCoin, Bitget, Gate): [`check_clock_by`](RoundTrip::check_clock_by) `spec`'s
    /// [`skew_problem`](ExchangeSpec::skew_problem).
    pub fn check_clock(
        self,
        spec: &ExchangeSpec,
        what: &str,
        server_ms: Option<i64>,
        field: &str,
    ) -> Result<(), Problem> {
        self.check_clock_by(what, server_ms, field, |offset| {
            spec.skew_problem(what, offset)
        })
    }

    /// The clock step: the server's time `server_ms` read from the reply at `what` (`None`: a
    /// reply without `field`, the exchange not answering as its API), its offset against this
    /// trip judged by the exchange's `skew_problem` (`None` inside its window).
    pub fn check_clock_by(
        self,
        what: &str,
        server_ms: Option<i64>,
        field: &str,
        skew_problem: impl FnOnce(i64) -> Option<Problem>,
    ) -> Result<(), Problem> {
        let server_ms = server_ms.ok_or_else(|| reply_without(what, field))?;
        skew_problem(self.clock_offset_ms(server_ms)).map_or(Ok(()), Err)
    }
}

/// The budget key of `url`: `host:port`, empty when the URL does not parse (the request then
/// fails on its own with a message naming it).
fn host_key(url: &str) -> String {
    budget_host(url).unwrap_or_default()
}

/// `host:port` of a URL, the key request budgets are kept by (and what the load estimate in
/// [`crate::load`] counts requests against); `None` when it does not parse.
pub fn budget_host(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(format!(
        "{}:{}",
        url.host_str().unwrap_or(""),
        url.port_or_known_default().unwrap_or(0)
    ))
}

/// Reads `response` (to the request for `url`) into a [`Reply`]: a redirect is refused unread,
/// naming only the host it points to (its URL may echo our signed query); the body is read as
/// it streams, at most [`MAX_REPLY_BYTES`], and a longer one is dropped at the cap, which
/// closes the connection. The client's timeout keeps running over the body, so a slow one
/// still times out.
async fn read_reply(mut response: reqwest::Response, url: &str) -> Result<Reply, Problem> {
    let status = response.status();
    if status.is_redirection() {
        return Err(redirect_problem(url, status, response.headers()));
    }
    let too_large = || {
        Problem::unavailable(format!(
            "{}: HTTP {}: reply larger than {} MiB, not read further",
            path_of(url),
            status.as_u16(),
            MAX_REPLY_BYTES >> 20
        ))
    };
    let declared = response.content_length().unwrap_or(0);
    if declared > MAX_REPLY_BYTES as u64 {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_problem(url, &e))?
    {
        if body.len() + chunk.len() > MAX_REPLY_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers: std::mem::take(response.headers_mut()),
        body,
    })
}

/// A 3xx: not followed (see [`HttpClient::new`]). The message names the target's host (and
/// port, when the `Location` gives one), never its path or query.
fn redirect_problem(url: &str, status: StatusCode, headers: &HeaderMap) -> Problem {
    let target = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| url::Url::parse(url).ok()?.join(location.trim()).ok())
        .and_then(|t| {
            let host = t.host_str()?.to_string();
            Some(match t.port() {
                Some(port) => format!("{host}:{port}"),
                None => host,
            })
        });
    let to = match target {
        Some(host) => format!("a redirect to {host}"),
        None => "a redirect without a usable Location".to_string(),
    };
    Problem::unavailable(format!(
        "{}: HTTP {} with {to}, not followed (signed requests go only to the configured host)",
        path_of(url),
        status.as_u16()
    ))
}

/// The path of `url`, for messages: the query of a signed request holds its signature.
fn path_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.path().to_string())
        .unwrap_or_default()
}

fn transport_problem(url: &str, error: &reqwest::Error) -> Problem {
    // The URL of a signed spot request carries the signature but never the secret; still, show
    // only the path so messages stay short and stable.
    let path = path_of(url);
    let what = if error.is_timeout() {
        "timed out".to_string()
    } else if error.is_connect() {
        // The cause tells a DNS failure ("failed to lookup address") from a refused or
        // unreachable host, which is the operator's first question.
        format!("connection failed: {}", without_url(error))
    } else {
        format!("request failed: {}", without_url(error))
    };
    Problem::unavailable(format!("{path}: {what}"))
}

fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut innermost = String::new();
    while let Some(e) = source {
        innermost = e.to_string();
        source = e.source();
    }
    innermost
}

/// A header value carrying key material, marked sensitive (so no client debug output shows it).
/// Fails without quoting the value when it holds bytes that cannot travel in a header (a key
/// pasted with a stray control character): that is the key's fault, reported as `invalid_key`.
pub fn sensitive_header(what: &str, value: &str) -> Result<HeaderValue, Problem> {
    let mut header = HeaderValue::from_str(value).map_err(|_| {
        Problem::invalid_key(format!(
            "{what}: the configured value holds characters that cannot be sent in an HTTP header"
        ))
    })?;
    header.set_sensitive(true);
    Ok(header)
}

/// The headers `(name, value)` of a signed request, every one built with [`sensitive_header`]:
/// the one place an exchange's auth header pairs (OKX, KuCoin, Bitget, Gate) become a
/// `HeaderMap`, failing without quoting a value that cannot travel in a header.
pub fn sensitive_headers(
    pairs: impl IntoIterator<Item = (&'static str, String)>,
) -> Result<HeaderMap, Problem> {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let value = sensitive_header(name, &value)?;
        let name = HeaderName::from_bytes(name.as_bytes()).expect("static header names are valid");
        headers.insert(name, value);
    }
    Ok(headers)
}

/// The header `name`'s value read as a number (or anything else that parses from its trimmed
/// text): `Retry-After` and the exchanges' rate-limit headers. `None` when it is absent or does
/// not parse: a header is advice from untrusted input, never a reason to fail.
pub fn header_value<T: FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// An exchange's answer, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// Credentials for the unit tests' worked examples (the docs' sample key and secret).
#[cfg(test)]
pub(crate) fn test_credentials(
    key: &str,
    secret: &str,
    passphrase: Option<&str>,
) -> crate::domain::Credentials {
    crate::domain::Credentials {
        api_key: key.into(),
        api_secret: secret.into(),
        passphrase: passphrase.map(Into::into),
    }
}

/// Asserts an exchange's table of error codes: for each `(HTTP status, code, kind)`, the reply
/// with that status and the body `body(code)` (the exchange's envelope, `words` its message)
/// reads, through `problem_of`, as a problem of that kind quoting `what: code CODE words`.
#[cfg(test)]
pub(crate) fn assert_code_table(
    cases: &[(u16, &str, crate::domain::ProblemKind)],
    what: &str,
    body: impl Fn(&str) -> String,
    problem_of: impl Fn(&Reply) -> Problem,
) {
    for (status, code, kind) in cases {
        let p = problem_of(&test_reply(*status, &[], &body(code)));
        assert_eq!(p.kind, *kind, "{code}");
        let said = format!("{what}: code {code} words");
        assert!(p.message.starts_with(&said), "{}", p.message);
    }
}

/// Asserts that each of an exchange's outage `replies`, and what a CDN or proxy in front of any
/// exchange answers when the exchange is not reached (a CloudFront-style HTML 403, a bare 502),
/// read through `problem_of` as the exchange unavailable.
#[cfg(test)]
pub(crate) fn assert_unavailable(
    replies: impl IntoIterator<Item = Reply>,
    problem_of: impl Fn(&Reply) -> Problem,
) {
    for r in replies.into_iter().chain(proxy_replies()) {
        let kind = problem_of(&r).kind;
        assert_eq!(kind, crate::domain::ProblemKind::Unavailable, "{r:?}");
    }
}

#[cfg(test)]
fn proxy_replies() -> [Reply; 2] {
    [
        test_reply(
            403,
            &[("content-type", "text/html")],
            "<html>The request could not be satisfied</html>",
        ),
        test_reply(502, &[("content-type", "text/plain")], "Bad Gateway"),
    ]
}

/// A reply as an exchange would send it, for the exchanges' unit tests of their reply readers.
#[cfg(test)]
pub(crate) fn test_reply(status: u16, headers: &[(&'static str, &str)], body: &str) -> Reply {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        map.insert(
            *name,
            reqwest::header::HeaderValue::from_str(value).unwrap(),
        );
    }
    Reply {
        status: StatusCode::from_u16(status).unwrap(),
        headers: map,
        body: body.as_bytes().to_vec(),
    }
}

impl Reply {
    /// `Retry-After` in seconds, when the exchange sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        header_value(&self.headers, RETRY_AFTER.as_str()).map(Duration::from_secs)
    }

    /// An HTML page (a CDN or WAF error page) where the API should have answered JSON.
    pub fn is_html(&self) -> bool {
        let declared = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"));
        let start = String::from_utf8_lossy(&self.body[..self.body.len().min(64)])
            .trim_start()
            .to_ascii_lowercase();
        declared || start.starts_with("<!doctype html") || start.starts_with("<html")
    }

    /// Parses the body as JSON into `T`; anything else (an HTML page, a truncated body) means the
    /// exchange is not answering as its API, which is `exchange_unavailable`, never a key fault.
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, Problem> {
        if self.is_html() {
            return Err(Problem::unavailable(format!(
                "{what}: HTTP {} with an HTML page instead of the API's JSON (CDN or WAF error page)",
                self.status.as_u16()
            )));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Problem::unavailable(format!(
                "{what}: HTTP {} with a reply that is not the expected JSON ({e})",
                self.status.as_u16()
            ))
        })
    }

    /// The first bytes of the body, for messages about replies we could not understand.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        one_line.chars().take(120).collect()
    }
}

/// `, retry after Ns` when the exchange said how long to wait, else nothing: the tail every
/// rate-limit message ends with.
pub fn retry_text(wait: Option<Duration>) -> String {
    wait.map(|d| format!(", retry after {}s", d.as_secs()))
        .unwrap_or_default()
}

/// An exchange's rate-limit refusal: its words `said`, with the wait it asked for.
pub fn rate_limited(said: String, wait: Option<Duration>) -> Problem {
    Problem::rate_limited(format!("{said}{}", retry_text(wait)), wait)
}

/// `problem` (from [`generic_problem`]) reworded to quote the exchange's own `words` ("code
/// 50001 msg") when the 429 or 5xx carried its body: those say more than the HTTP status.
pub fn quoting(mut problem: Problem, reply: &Reply, what: &str, words: &str) -> Problem {
    problem.message = format!("{what}: HTTP {}, {words}", reply.status.as_u16())
        .trim_end()
        .to_string()
        + &retry_text(problem.retry_after);
    problem
}

/// The problems every exchange shares, read from the HTTP layer alone: HTTP 429 means we were
/// throttled; an HTML page (CDN, WAF) or any 5xx means the exchange is unavailable, whatever the
/// body says. Returns `None` when the reply should be read by the exchange's own error codes.
pub fn generic_problem(reply: &Reply, what: &str) -> Option<Problem> {
    if reply.status == StatusCode::TOO_MANY_REQUESTS {
        return Some(rate_limited(
            format!("{what}: HTTP 429 Too Many Requests"),
            reply.retry_after(),
        ));
    }
    if reply.is_html() {
        return Some(Problem::unavailable(format!(
            "{what}: HTTP {} with an HTML page instead of the API's JSON (CDN or WAF error page)",
            reply.status.as_u16()
        )));
    }
    if reply.status.is_server_error() {
        return Some(Problem::unavailable(format!(
            "{what}: HTTP {} {}",
            reply.status.as_u16(),
            reply.snippet()
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offset_is_measured_against_the_round_trip_midpoint() {
        let trip = RoundTrip {
            sent_ms: 1_000,
            received_ms: 1_200,
        };
        assert_eq!(trip.clock_offset_ms(1_100), 0);
        assert_eq!(trip.clock_offset_ms(121_100), 120_000);
        assert_eq!(trip.clock_offset_ms(-8_900), -10_000);
        // Untrusted extremes neither overflow nor leave a value whose abs() panics.
        assert_eq!(trip.clock_offset_ms(i64::MIN), -i64::MAX);
        assert_eq!(trip.clock_offset_ms(i64::MAX), i64::MAX - 1_100);
    }

    #[test]
    fn the_clock_step_needs_a_server_time_inside_the_spec_window() {
        let trip = RoundTrip {
            sent_ms: 1_000,
            received_ms: 1_200,
        };
        let okx = &crate::domain::spec::OKX;
        assert!(trip.check_clock(okx, "GET /t", Some(1_100), "ts").is_ok());
        let skewed = trip.check_clock(okx, "GET /t", Some(121_100), "ts");
        assert_eq!(
            skewed.unwrap_err().kind,
            crate::domain::ProblemKind::ClockSkew
        );
        let missing = trip.check_clock(okx, "GET /t", None, "a server time");
        let p = missing.unwrap_err();
        assert_eq!(
            (p.kind, p.message.as_str()),
            (
                crate::domain::ProblemKind::Unavailable,
                "GET /t: reply without a server time"
            )
        );
    }

    fn redirect(location: Option<&str>) -> String {
        let mut headers = HeaderMap::new();
        if let Some(location) = location {
            headers.insert(LOCATION, HeaderValue::from_str(location).unwrap());
        }
        redirect_problem(
            "https://api.mexc.com/api/v3/account?timestamp=1&signature=abc",
            StatusCode::FOUND,
            &headers,
        )
        .message
    }

    #[test]
    fn a_redirect_names_the_target_host_and_nothing_of_the_signed_url() {
        let message = redirect(Some(
            "https://user:pw@evil.example:8443/api/v3/account?timestamp=1&signature=abc",
        ));
        assert_eq!(
            message,
            "/api/v3/account: HTTP 302 with a redirect to evil.example:8443, not followed \
             (signed requests go only to the configured host)"
        );
        for leak in ["signature", "timestamp", "user", "pw"] {
            assert!(!message.contains(leak), "{leak} in {message}");
        }
        // relative: resolved against the request, so it names the exchange's own host
        assert!(redirect(Some("/elsewhere?signature=abc")).contains("redirect to api.mexc.com,"));
        assert!(redirect(None).contains("a redirect without a usable Location"));
        assert!(redirect(Some("http://[::1")).contains("without a usable Location"));
    }
}
