//! Raw HTTP against the simulator, for the tests that build a request by hand (signed by the
//! client's own code, then altered) to see the simulator answer it with the exchange's own
//! codes.

use keywarden::domain::ExchangeKind;
use keywarden::sim::RunningSim;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::RequestBuilder;
use serde_json::Value;

use crate::probe_support::{exchange_maintenance, status_and_json, Cast};

/// Requests to one exchange of a simulator.
pub struct Raw {
    /// The exchange's base URL on the simulator.
    pub base: String,
    client: reqwest::Client,
}

impl Raw {
    /// A healthy simulator with the whole `cast`.
    pub async fn new(cast: &Cast) -> Raw {
        Raw::on(&cast.sim(None).await, cast.kind)
    }

    /// `kind`'s exchange on the running `sim`.
    pub fn on(sim: &RunningSim, kind: ExchangeKind) -> Raw {
        Raw {
            base: sim.base_url(kind),
            client: reqwest::Client::new(),
        }
    }

    /// A GET of `path_and_query`, sent as it is.
    pub fn get(&self, path_and_query: &str) -> RequestBuilder {
        self.client.get(format!("{}{path_and_query}", self.base))
    }
}

/// The answer to a public GET of `path` from `cast`'s exchange in maintenance.
pub async fn get_in_maintenance(cast: &Cast, path: &str) -> reqwest::Response {
    let sim = cast.sim(Some(exchange_maintenance())).await;
    Raw::on(&sim, cast.kind).get(path).send().await.unwrap()
}

/// Sends `request` with the API key, if any, in the header `name` (the exchanges that sign the
/// query carry the key in a header of its own), and returns the status and the JSON body.
pub async fn send_with_key(
    request: RequestBuilder,
    name: &'static str,
    api_key: Option<&str>,
) -> (u16, Value) {
    match api_key {
        Some(api_key) => status_and_json(request.header(name, api_key)).await,
        None => status_and_json(request).await,
    }
}

/// An edit of a signed request's headers: `name` set to `value` after signing.
pub fn set_header(name: &'static str, value: &str) -> impl FnOnce(&mut HeaderMap) {
    let value: HeaderValue = value.parse().unwrap();
    move |headers| {
        headers.insert(name, value);
    }
}

/// An edit of a signed request's headers: `name` taken out after signing.
pub fn remove_header(name: &'static str) -> impl FnOnce(&mut HeaderMap) {
    move |headers| {
        headers.remove(name);
    }
}

/// The numeric `code` of a Binance-style reply (Binance, and MEXC's spot API, which follows
/// Binance's): 0 where there is none.
pub fn binance_code(body: &Value) -> i64 {
    body["code"].as_i64().unwrap_or(0)
}

/// The `code` of a reply that carries it as a string (Bitget, KuCoin, OKX).
pub fn text_code(body: &Value) -> Option<&str> {
    body["code"].as_str()
}
