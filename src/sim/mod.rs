//! A loopback exchange simulator for tests, benchmarks and `keywarden demo`.
//!
//! It is strict on purpose: every signed request is verified exactly as the exchange verifies it
//! (the bytes signed, the timestamp window, the passphrase), and refused with the exchange's own
//! error body and HTTP status when anything is off. A simulator that accepted anything would let
//! a signing bug through to production.
//!
//! Each exchange is served under its own path prefix (`/mexc`, `/kucoin`, ...), so one listener
//! serves them all; the prefix is stripped before verification, the way a proxy in front of the
//! exchange would strip it, so what is verified is exactly what the exchange would see.
//! Each API key plays a [`Scenario`]: a healthy key, a key with withdraw rights, a key whose
//! requests hang, and so on.

pub mod binance;
pub mod bingx;
pub mod bitget;
pub mod bybit;
pub mod coinbase;
pub mod connection;
pub mod gate;
pub mod htx;
pub mod kucoin;
mod mac;
pub mod mexc;
pub mod okx;
pub mod pipeline;
pub mod refusal;
mod scenario;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::net::TcpListener;

pub use scenario::{
    Scenario, ScenarioFile, ScenarioFileError, SimExchangeSettings, SimKey, SimThrottle,
};

use crate::domain::ExchangeKind;

/// How long a `hang` scenario holds a request before answering: far past any sane check timeout.
pub const HANG_FOR: Duration = Duration::from_secs(120);

/// The simulator's shared, read-only state: the keys it knows and how each behaves.
#[derive(Debug)]
pub struct SimState {
    /// Behind a lock so a test (or an operator trying things) can change a key's scenario while
    /// the simulator runs, the way a user changes a key at the exchange.
    keys: RwLock<HashMap<(ExchangeKind, String), SimKey>>,
    exchanges: HashMap<ExchangeKind, SimExchangeSettings>,
    /// The live connections' fault switches (`connection_reset`, `slow_drip`).
    connections: Arc<connection::Connections>,
    /// What each exchange was sent, for the exchange-wide throttle and for tests.
    traffic: HashMap<ExchangeKind, Traffic>,
}

/// Requests one simulated exchange received, and the 429s its throttle answered.
#[derive(Debug, Default)]
struct Traffic {
    requests: std::sync::atomic::AtomicU64,
    throttled: std::sync::atomic::AtomicU64,
    /// When the throttle tripped.
    tripped_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl SimState {
    pub fn new(file: ScenarioFile) -> SimState {
        let keys = file
            .keys
            .into_iter()
            .map(|k| ((k.exchange, k.api_key.clone()), k))
            .collect();
        SimState {
            keys: RwLock::new(keys),
            exchanges: file.exchanges,
            connections: Arc::default(),
            traffic: ExchangeKind::ALL
                .into_iter()
                .map(|k| (k, Traffic::default()))
                .collect(),
        }
    }

    /// Requests `exchange` has received (throttled ones included).
    pub fn requests(&self, exchange: ExchangeKind) -> u64 {
        self.traffic[&exchange]
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Requests `exchange`'s throttle answered with 429.
    pub fn throttled_replies(&self, exchange: ExchangeKind) -> u64 {
        self.traffic[&exchange]
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a request to `exchange`; `Some(retry_after_s)` when its throttle answers it.
    fn throttles(&self, exchange: ExchangeKind) -> Option<u64> {
        use std::sync::atomic::Ordering;
        let traffic = &self.traffic[&exchange];
        let seen = traffic.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let throttle = self.settings(exchange).throttle?;
        if seen <= throttle.after_requests {
            return None;
        }
        let now = std::time::Instant::now();
        let tripped = *traffic
            .tripped_at
            .lock()
            .expect("sim throttle lock")
            .get_or_insert(now);
        if now.duration_since(tripped) >= Duration::from_millis(throttle.for_ms) {
            return None;
        }
        traffic.throttled.fetch_add(1, Ordering::Relaxed);
        Some(throttle.retry_after_s)
    }

    /// The key registered under `api_key` at `exchange`, if any.
    pub fn key(&self, exchange: ExchangeKind, api_key: &str) -> Option<SimKey> {
        self.keys
            .read()
            .expect("sim keys lock")
            .get(&(exchange, api_key.to_string()))
            .cloned()
    }

    /// Makes `api_key` play `scenario` from the next request on; false when the key is unknown.
    pub fn set_scenario(&self, exchange: ExchangeKind, api_key: &str, scenario: Scenario) -> bool {
        match self
            .keys
            .write()
            .expect("sim keys lock")
            .get_mut(&(exchange, api_key.to_string()))
        {
            Some(key) => {
                key.scenario = scenario;
                true
            }
            None => false,
        }
    }

    /// Exchange-wide settings (maintenance, clock offset), defaults when the file says nothing.
    pub fn settings(&self, exchange: ExchangeKind) -> SimExchangeSettings {
        self.exchanges.get(&exchange).cloned().unwrap_or_default()
    }

    /// The exchange's clock in ms: ours plus the exchange-wide offset plus, for a key that plays
    /// `clock_skew`, the scenario's offset (so only that key's requests fall out of the window).
    pub fn server_time_ms(&self, exchange: ExchangeKind, key: Option<&SimKey>) -> i64 {
        let skew = match key.map(|k| k.scenario) {
            Some(Scenario::ClockSkew) => scenario::clock_skew_ms(exchange),
            _ => 0,
        };
        crate::exchange::now_ms() + self.settings(exchange).clock_offset_ms + skew
    }
}

/// The full simulator: every exchange under its prefix.
pub fn router(state: Arc<SimState>) -> Router {
    ExchangeKind::ALL
        .into_iter()
        .fold(Router::new(), |router, kind| {
            let exchange = exchange_router(kind, state.clone()).layer(
                axum::middleware::from_fn_with_state((state.clone(), kind), exchange_throttle),
            );
            router.nest(kind.spec().sim_prefix, exchange)
        })
        .layer(axum::middleware::from_fn_with_state(
            state.connections.clone(),
            connection::apply,
        ))
}

/// One simulated exchange's routes (served under its spec's `sim_prefix`).
fn exchange_router(kind: ExchangeKind, state: Arc<SimState>) -> Router {
    match kind {
        ExchangeKind::Mexc => mexc::router(state),
        ExchangeKind::Kucoin => kucoin::router(state),
        ExchangeKind::Okx => okx::router(state),
        ExchangeKind::Binance => binance::router(state),
        ExchangeKind::Bybit => bybit::router(state),
        ExchangeKind::Bitget => bitget::router(state),
        ExchangeKind::Bingx => bingx::router(state),
        ExchangeKind::Gate => gate::router(state),
        ExchangeKind::Htx => htx::router(state),
        ExchangeKind::Coinbase => coinbase::router(state),
    }
}

/// Counts every request to an exchange and plays its exchange-wide throttle
/// ([`SimThrottle`]): HTTP 429 with `Retry-After` while it is tripped.
async fn exchange_throttle(
    axum::extract::State((state, kind)): axum::extract::State<(Arc<SimState>, ExchangeKind)>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    match state.throttles(kind) {
        Some(retry_after_s) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_s.to_string())],
            axum::Json(serde_json::json!({"code": 429, "msg": "Too many requests"})),
        )
            .into_response(),
        None => next.run(request).await,
    }
}

/// A running simulator on a loopback port; dropping it leaves the server running until the
/// runtime ends, so tests keep the handle for the address only.
#[derive(Debug, Clone)]
pub struct RunningSim {
    pub addr: SocketAddr,
    pub state: Arc<SimState>,
}

impl RunningSim {
    /// The base URL to put in a connection's `base_url` for `exchange`.
    pub fn base_url(&self, exchange: ExchangeKind) -> String {
        format!("http://{}/{}", self.addr, exchange.name())
    }
}

/// Binds `listen` and serves the simulator in a background task.
pub async fn spawn(listen: SocketAddr, file: ScenarioFile) -> std::io::Result<RunningSim> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(SimState::new(file));
    let app = router(state.clone());
    // `tap_io` is a no-op here: it is what lets handlers keep extracting `ConnectInfo<SocketAddr>`
    // from a listener of our own (axum implements that for any tapped listener).
    let listener = axum::serve::ListenerExt::tap_io(
        connection::SimListener::new(listener, state.connections.clone()),
        |_: &mut connection::SimIo| {},
    );
    tokio::spawn(async move {
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, service).await {
            tracing::error!(error = %e, "simulator stopped");
        }
    });
    Ok(RunningSim { addr, state })
}

/// The transport-level faults every exchange shares, played before any verification so they
/// behave like a broken network path or CDN in front of the exchange. Returns `None` for
/// scenarios the exchange module answers itself.
pub async fn transport_fault(scenario: Scenario) -> Option<Response> {
    match scenario {
        Scenario::Http503 => Some(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain")],
                "Service Unavailable",
            )
                .into_response(),
        ),
        Scenario::CdnHtml => Some(
            (
                StatusCode::FORBIDDEN,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                CDN_ERROR_PAGE,
            )
                .into_response(),
        ),
        Scenario::Hang => {
            tokio::time::sleep(HANG_FOR).await;
            Some(StatusCode::GATEWAY_TIMEOUT.into_response())
        }
        Scenario::MalformedJson => Some(
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                "{\"code\":\"200000\",\"data\":{\"permission\":\"Gen",
            )
                .into_response(),
        ),
        Scenario::ConnectionReset => {
            let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            response
                .extensions_mut()
                .insert(connection::ConnectionFault::Reset);
            Some(response)
        }
        Scenario::SlowDrip => {
            let mut response = (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                slow_drip_body(),
            )
                .into_response();
            response
                .extensions_mut()
                .insert(connection::ConnectionFault::Drip);
            Some(response)
        }
        _ => None,
    }
}

/// A JSON body long enough that, at the drip rate, it outlasts any check timeout (minutes).
fn slow_drip_body() -> String {
    let balances: Vec<String> = (0..40)
        .map(|i| format!("{{\"asset\":\"COIN{i}\",\"free\":\"0.00000000\",\"locked\":\"0\"}}"))
        .collect();
    format!("{{\"code\":0,\"data\":[{}]}}", balances.join(","))
}

/// `Retry-After` (seconds) on every simulated exchange's rate-limited reply.
pub const RETRY_AFTER_SECS: u64 = 7;

/// An exchange's 429 `reply` with `Retry-After: 7` ([`RETRY_AFTER_SECS`]) added, as every
/// simulated exchange sends it.
pub fn with_retry_after(reply: impl IntoResponse) -> Response {
    let mut response = reply.into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, RETRY_AFTER_SECS.into());
    response
}

/// An exchange's 429 for a key playing `rate_limited` or `rate_limited_no_retry_after`: the
/// latter is the same reply without `Retry-After` (the exchange's other headers stay).
pub fn rate_limit_reply(scenario: Scenario, mut response: Response) -> Response {
    if scenario == Scenario::RateLimitedNoRetryAfter {
        response.headers_mut().remove(header::RETRY_AFTER);
    }
    response
}

/// A JSON reply with the given HTTP status.
pub fn json_reply(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// What a CloudFront-style edge answers when it blocks or loses the origin.
const CDN_ERROR_PAGE: &str = "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">\n\
<HTML><HEAD><TITLE>ERROR: The request could not be satisfied</TITLE></HEAD><BODY>\n\
<H1>403 ERROR</H1><H2>The request could not be satisfied.</H2>\n\
<HR noshade size=\"1px\">Request blocked. We can't connect to the server for this app or website at this time.\n\
</BODY></HTML>\n";
