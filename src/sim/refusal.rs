//! The refusal most simulated exchanges answer with: an HTTP status, the exchange's error code
//! and its message. The type and its constructor are written once; each exchange words the body
//! in its own envelope ([`ErrorBody`]), which is what a client parses and so what must stay the
//! exchange's own. (MEXC, HTX and Coinbase pick their envelope by API family, per request, and
//! keep refusals of their own.)

use std::fmt;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// A refusal by exchange `X`: the HTTP status, `X`'s error code (Gate's label) and message.
pub struct ExchangeError<X: ErrorBody> {
    pub status: StatusCode,
    pub code: X::Code,
    pub msg: String,
}

/// How an exchange writes its refusals.
pub trait ErrorBody: Sized {
    /// The exchange's error code: text (KuCoin's `"400005"`, Gate's `"INVALID_SIGNATURE"`) or a
    /// number (Binance's `-1022`).
    type Code: Copy + fmt::Debug + PartialEq;

    /// The reply that carries `error` in the exchange's envelope.
    fn reply(error: ExchangeError<Self>) -> Response;
}

impl<X: ErrorBody> ExchangeError<X> {
    pub fn new(status: StatusCode, code: X::Code, msg: impl Into<String>) -> Self {
        ExchangeError {
            status,
            code,
            msg: msg.into(),
        }
    }

    /// An authentication failure (HTTP 401).
    pub fn unauthorized(code: X::Code, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, msg)
    }
}

// `Debug` and `PartialEq` are written out: a derive would ask them of the exchange `X` too,
// which is only a name here.
impl<X: ErrorBody> fmt::Debug for ExchangeError<X> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExchangeError")
            .field("status", &self.status)
            .field("code", &self.code)
            .field("msg", &self.msg)
            .finish()
    }
}

impl<X: ErrorBody> PartialEq for ExchangeError<X> {
    fn eq(&self, other: &Self) -> bool {
        (self.status, self.code, &self.msg) == (other.status, other.code, &other.msg)
    }
}

impl<X: ErrorBody> IntoResponse for ExchangeError<X> {
    fn into_response(self) -> Response {
        X::reply(self)
    }
}

/// The code a unit test's refused request was refused with (a request that passed fails the test).
#[cfg(test)]
pub fn code<X: ErrorBody>(result: Result<(), ExchangeError<X>>) -> X::Code {
    result.unwrap_err().code
}
