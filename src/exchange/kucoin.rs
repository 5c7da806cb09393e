//! KuCoin (placeholder, being written).
use super::{BoxFuture, Exchange, ExchangeKind, Facts, HttpClient, ProbeTarget};

pub struct Kucoin {
    #[allow(dead_code)]
    http: HttpClient,
}

impl Kucoin {
    pub fn new(http: HttpClient) -> Kucoin {
        Kucoin { http }
    }
}

impl Exchange for Kucoin {
    fn kind(&self) -> ExchangeKind {
        ExchangeKind::Kucoin
    }
    fn probe<'a>(&'a self, _target: &'a ProbeTarget) -> BoxFuture<'a, Facts> {
        Box::pin(async { Facts::default() })
    }
}
