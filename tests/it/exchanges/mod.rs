//! Every exchange through the library against the simulator.
//!
//! [`table`] is the suite all of them pass: one row per (exchange, scenario, market, server
//! fault) with the status, rights and warnings it must come out as. Each exchange's module holds
//! its rows and the tests that are about that exchange alone: raw requests the simulator must
//! refuse with the exchange's own codes (a tampered signature, a reordered query, a stale
//! timestamp), its public endpoints' shapes, and the refusals no scenario plays; what those raw
//! requests share (the client, the header edits, the codes several exchanges word alike) is in
//! [`raw`].

mod fixtures;
mod raw;
mod table;

mod binance;
mod bingx;
mod bitget;
mod bybit;
mod coinbase;
mod gate;
mod htx;
mod kucoin;
mod mexc;
mod okx;

use keywarden::domain::{ExchangeKind, Facts};
use keywarden::sim::Scenario;

use crate::probe_support::{
    assert_nothing_leaks, creds, markets, run_probe, target, Cast, Secrets,
};

/// The cast of an exchange that issues one type of key, all its keys sharing `secret` (and
/// `passphrase`, where the exchange has one): the key alone tells the scenarios apart.
pub const fn one_secret_cast(
    kind: ExchangeKind,
    key: fn(Scenario) -> String,
    secret: &'static str,
    passphrase: Option<&'static str>,
) -> Cast {
    Cast {
        kind,
        key,
        secret: Secrets::Shared(secret),
        passphrase,
        second_key_type: None,
    }
}

/// Probes a bare stand-in for `kind` at `base_url` (a refusal no scenario plays) with a
/// spot-only or a futures connection; neither the key nor the secret may show in what it says.
pub async fn probe_stand_in(
    kind: ExchangeKind,
    base_url: String,
    api_key: &str,
    secret: &str,
    futures: bool,
) -> Facts {
    let target = target(
        kind,
        creds(api_key, secret, None),
        base_url,
        markets(futures),
    );
    let facts = run_probe(kind, &target).await;
    assert_nothing_leaks(&facts, &[("secret", secret), ("key", api_key)]);
    facts
}

/// Each exchange: who plays its scenarios, and its own rows.
type Exchange = (&'static Cast, fn() -> Vec<table::Row>);

const EXCHANGES: [Exchange; 10] = [
    (&binance::CAST, binance::rows),
    (&bingx::CAST, bingx::rows),
    (&bitget::CAST, bitget::rows),
    (&bybit::CAST, bybit::rows),
    (&coinbase::CAST, coinbase::rows),
    (&gate::CAST, gate::rows),
    (&htx::CAST, htx::rows),
    (&kucoin::CAST, kucoin::rows),
    (&mexc::CAST, mexc::rows),
    (&okx::CAST, okx::rows),
];

#[test]
fn every_exchange_has_rows() {
    for kind in ExchangeKind::ALL {
        assert!(
            EXCHANGES.iter().any(|(cast, _)| cast.kind == kind),
            "{} has no rows",
            kind.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_exchange_gives_every_row_of_the_table() {
    let casts: Vec<&'static Cast> = EXCHANGES.iter().map(|(cast, _)| *cast).collect();
    let mut rows = Vec::new();
    for (cast, own_rows) in EXCHANGES {
        let all = own_rows().into_iter().chain(table::every_exchange());
        rows.extend(all.map(|row| row.of(cast.kind)));
    }
    table::run(&casts, rows).await;
}
