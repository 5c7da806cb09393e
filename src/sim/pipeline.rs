//! The one signed-request pipeline every simulated exchange answers through.
//!
//! The steps are the same at every exchange and written once here: find the API key the request
//! names, look the key up, play the transport fault its scenario asks for (before any
//! verification, like a broken network path would), read the peer's IP, verify the request with
//! the exchange's own rule, refuse while the whole exchange is in maintenance, answer a
//! rate-limited key with the exchange's 429, and only then answer the endpoint. (Counting the
//! exchange's traffic and its exchange-wide throttle sit in front of this, in `sim::router`.)
//!
//! An exchange supplies only what is its own, as a [`SignedApi`]: where its key travels, how it
//! verifies a signature, and how it words each refusal and answer.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};

use super::mac::hmac_base64;
use super::{rate_limit_reply, transport_fault, SimKey, SimState};
use crate::domain::ExchangeKind;

/// A request as the exchange received it: nothing parsed, re-ordered or decoded, so a signature
/// is checked over exactly the bytes that were sent.
#[derive(Debug)]
pub struct SignedRequest {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The peer's address as the exchange would show it (an IPv4-mapped IPv6 address as IPv4).
    pub client_ip: String,
}

impl SignedRequest {
    /// A request from loopback, for tests that call an exchange's `verify` directly.
    pub fn new(method: Method, path_and_query: &str, headers: HeaderMap, body: &[u8]) -> Self {
        SignedRequest {
            method,
            uri: path_and_query.parse().expect("a path and query"),
            headers,
            body: Bytes::copy_from_slice(body),
            client_ip: "127.0.0.1".to_string(),
        }
    }

    /// A header's value, when present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A header's value, when present, visible ASCII and not empty: the exchanges that name an
    /// auth header missing say so of an empty one too.
    pub fn filled_header(&self, name: &str) -> Option<&str> {
        self.header(name).filter(|v| !v.is_empty())
    }

    /// The API key in header `key_header`, or `missing()` when that header or any of
    /// `also_required` is absent or empty: the whole key check of an exchange whose key travels
    /// in one header and which words every missing auth header alike.
    pub fn key_in_header<R>(
        &self,
        key_header: &str,
        also_required: &[&str],
        missing: impl FnOnce() -> R,
    ) -> Result<String, R> {
        let filled = |name: &&str| self.filled_header(name).is_some();
        match self.filled_header(key_header) {
            Some(api_key) if also_required.iter().all(filled) => Ok(api_key.to_string()),
            _ => Err(missing()),
        }
    }

    /// Method, URI and body, borrowed together (the parts a signature covers besides headers).
    pub fn parts(&self) -> (&Method, &Uri, &[u8]) {
        (&self.method, &self.uri, &self.body)
    }

    /// The raw query, as received (empty when there is none).
    pub fn query(&self) -> &str {
        self.uri.query().unwrap_or("")
    }

    pub fn path(&self) -> &str {
        self.uri.path()
    }
}

/// The signature KuCoin and OKX expect: base64 HMAC-SHA256 over `timestamp + METHOD + path +
/// ?query + body`, the query and body exactly as received (no `?` when there is no query).
pub fn timestamp_method_path_body_sign(
    secret: &str,
    timestamp: &str,
    request: &SignedRequest,
) -> String {
    let query = request.uri.query().map(str::as_bytes);
    timestamp_method_path_query_body_sign(secret, timestamp, request, query)
}

/// The same recipe over `query` as the exchange reads it (Bitget signs its query decoded): `?`
/// and `query` after the path when there is one.
pub fn timestamp_method_path_query_body_sign(
    secret: &str,
    timestamp: &str,
    request: &SignedRequest,
    query: Option<&[u8]>,
) -> String {
    let (method, uri, body) = request.parts();
    let mut signed = Vec::with_capacity(64 + query.map_or(0, <[u8]>::len) + body.len());
    signed.extend_from_slice(timestamp.as_bytes());
    signed.extend_from_slice(method.as_str().as_bytes());
    signed.extend_from_slice(uri.path().as_bytes());
    if let Some(query) = query {
        signed.push(b'?');
        signed.extend_from_slice(query);
    }
    signed.extend_from_slice(body);
    hmac_base64(secret, &signed)
}

/// A request whose signature checked out, for a known key.
#[derive(Debug, Clone, Copy)]
pub struct Verified<'a> {
    pub state: &'a SimState,
    pub key: &'a SimKey,
    pub request: &'a SignedRequest,
    /// The exchange's clock for this key (a `clock_skew` key's offset included).
    pub server_ms: i64,
}

/// What one exchange's signed API does differently from the others.
pub trait SignedApi: Send + Sync + 'static {
    const KIND: ExchangeKind;

    /// A refusal in the exchange's own words (its error type, or a reply already rendered).
    type Refusal: IntoResponse;

    /// The API key the request names, or the exchange's refusal when it names none (or one of
    /// the wrong form).
    fn api_key(request: &SignedRequest) -> Result<String, Self::Refusal>;

    /// The exchange's refusal of a key it does not know.
    fn unknown_key(request: &SignedRequest) -> Self::Refusal;

    /// Checks the request as the exchange does (signed bytes, time window, passphrase), against
    /// the exchange's clock `server_ms`; the exchange's refusal when anything is off. Asked only
    /// of a request whose [`api_key`](SignedApi::api_key) passed, so the headers that check
    /// requires are there.
    fn verify(key: &SimKey, server_ms: i64, request: &SignedRequest) -> Result<(), Self::Refusal>;

    /// The refusal a known key's scenario gets before its signature is looked at, as the
    /// exchange refuses it before verifying anything: a key of another site (OKX 50119), a host
    /// in a location the exchange does not serve (Binance 451). `None` for every other scenario.
    fn refused_unverified(key: &SimKey) -> Option<Self::Refusal> {
        let _ = key;
        None
    }

    /// The reply to a verified request while the whole exchange is in maintenance (the scenario
    /// file's `maintenance`); `None` where the exchange's signed endpoints do not look at it.
    fn exchange_maintenance(verified: &Verified) -> Option<Response>;

    /// The exchange's 429 for a key playing a rate-limited scenario, with its `Retry-After` and
    /// quota headers (the pipeline drops `Retry-After` for `rate_limited_no_retry_after`).
    fn rate_limited(verified: &Verified) -> Response;

    /// The endpoint's answer for a verified key: the refusals its other scenarios play, or the
    /// data its rights allow.
    fn answer(verified: &Verified) -> Response;
}

/// The axum handler of every signed route of exchange `A`.
pub async fn signed<A: SignedApi>(
    State(state): State<Arc<SimState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = SignedRequest {
        method,
        uri,
        headers,
        body,
        client_ip: peer.ip().to_canonical().to_string(),
    };
    answer_signed::<A>(&state, &request).await
}

/// The pipeline itself, for a request already read.
pub async fn answer_signed<A: SignedApi>(state: &SimState, request: &SignedRequest) -> Response {
    let api_key = match A::api_key(request) {
        Ok(api_key) => api_key,
        Err(refusal) => return refusal.into_response(),
    };
    let Some(key) = state.key(A::KIND, &api_key) else {
        return A::unknown_key(request).into_response();
    };
    if let Some(fault) = transport_fault(key.scenario).await {
        return fault;
    }
    if let Some(refusal) = A::refused_unverified(&key) {
        return refusal.into_response();
    }
    let server_ms = state.server_time_ms(A::KIND, Some(&key));
    if let Err(refusal) = A::verify(&key, server_ms, request) {
        return refusal.into_response();
    }
    let verified = Verified {
        state,
        key: &key,
        request,
        server_ms,
    };
    if state.settings(A::KIND).maintenance {
        if let Some(reply) = A::exchange_maintenance(&verified) {
            return reply;
        }
    }
    if key.scenario.is_rate_limited() {
        return rate_limit_reply(key.scenario, A::rate_limited(&verified));
    }
    A::answer(&verified)
}

/// What exchange `A` answers `key`'s hand-written request at its clock `now_ms`, for unit tests:
/// its key check, then its verification, in the pipeline's order.
#[cfg(test)]
pub fn verify_as<A: SignedApi>(
    key: &SimKey,
    now_ms: i64,
    headers: &HeaderMap,
    method: Method,
    uri: &str,
    body: &str,
) -> Result<(), A::Refusal> {
    let request = SignedRequest::new(method, uri, headers.clone(), body.as_bytes());
    A::api_key(&request)?;
    A::verify(key, now_ms, &request)
}

/// Requests that differ from a signed `GET path_and_query` in one part the signature covers: the
/// query's pairs reversed, another method, no query, a body that was not signed. Every exchange
/// must refuse each; for the unit tests that hold it to that.
#[cfg(test)]
pub fn unsigned_changes(path_and_query: &str) -> [(Method, String, &'static str); 4] {
    let (path, query) = path_and_query.split_once('?').expect("a query");
    let reversed: Vec<&str> = query.split('&').rev().collect();
    assert!(
        reversed.len() > 1,
        "a query of two pairs or more, to reorder"
    );
    [
        (Method::GET, format!("{path}?{}", reversed.join("&")), ""),
        (Method::POST, path_and_query.to_string(), ""),
        (Method::GET, path.to_string(), ""),
        (Method::GET, path_and_query.to_string(), "{}"),
    ]
}

/// `headers` with `name` set to `value`, for the unit tests that tamper with one header.
#[cfg(test)]
pub fn with_header(headers: &HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    let mut headers = headers.clone();
    let value = axum::http::HeaderValue::from_str(value).expect("a header value");
    headers.insert(name, value);
    headers
}

/// Headers from `(name, value)` pairs, for the unit tests that write a client's request by hand.
#[cfg(test)]
pub fn header_map<V: AsRef<str>>(pairs: impl IntoIterator<Item = (&'static str, V)>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let value = axum::http::HeaderValue::from_str(value.as_ref()).expect("a header value");
        headers.insert(name, value);
    }
    headers
}

/// The first value of `name` in `uri`'s query, not decoded (as [`raw_param`]).
pub fn query_param<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    raw_param(uri.query()?, name)
}

/// The first value of `name` among raw `key=value` pairs, not decoded (the values the
/// simulators read this way are digits and alphanumerics).
pub fn raw_param<'a>(pairs: &'a str, name: &str) -> Option<&'a str> {
    pairs
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}
