//! MEXC (placeholder, being written).
use super::{BoxFuture, Exchange, ExchangeKind, Facts, HttpClient, ProbeTarget};

pub struct Mexc {
    #[allow(dead_code)]
    http: HttpClient,
}

impl Mexc {
    pub fn new(http: HttpClient) -> Mexc {
        Mexc { http }
    }
}

impl Exchange for Mexc {
    fn kind(&self) -> ExchangeKind {
        ExchangeKind::Mexc
    }
    fn probe<'a>(&'a self, _target: &'a ProbeTarget) -> BoxFuture<'a, Facts> {
        Box::pin(async { Facts::default() })
    }
}
