//! Each probe's key-introspection parser against the response samples the exchanges publish
//! (`tests/fixtures/<exchange>/`, sources in its README): a sample's rights come out as the
//! sample says, and a right the sample does not show comes out unknown (`None`), never `false`.
//! The simulator tests beside this one check the probes against our own simulator's replies;
//! these pin the parsers to the exchanges' own shapes.

use chrono::{TimeZone, Utc};
use keywarden::domain::Facts;
use keywarden::exchange::{binance, bitget, bybit, gate, htx, kucoin, okx};
use serde_json::Value;

use crate::probe_support::{has_note, rights, F, T, U};

/// The published sample `tests/fixtures/<path>`.
fn sample(path: &str) -> Value {
    let file = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The facts a parsed sample gives: `apply`, the probe's own, fills them in.
fn facts_from(apply: impl FnOnce(&mut Facts)) -> Facts {
    let mut facts = Facts::default();
    apply(&mut facts);
    facts
}

/// The facts the sample `tests/fixtures/<path>` gives, for the exchanges that wrap the key's
/// info in `data` and judge it without a clock: `from_data` reads it (the documented shape, or
/// the test fails) and `apply` fills the facts in.
fn facts_from_data<Info>(
    path: &str,
    from_data: fn(&Value) -> Option<Info>,
    apply: fn(&Info, &mut Facts),
) -> Facts {
    let body = sample(path);
    let info = from_data(&body["data"]).expect("the documented shape");
    facts_from(|f| apply(&info, f))
}

#[test]
fn binance_api_restrictions_sample() {
    // developers.binance.com, "Get API Key Permission": a read-only key, not IP-restricted.
    let body = sample("binance/api_restrictions.json");
    let restrictions = binance::Restrictions::parse(&body).expect("the documented shape");
    let facts = facts_from(|f| restrictions.apply(f, 1_700_000_000_000));
    assert_eq!(rights(&facts), [T, F, F, F]);
    assert_eq!(facts.ip_restricted, F);
    // The current sample has no `tradingAuthorityExpirationTime` (older pages and live replies
    // do): no expiry then, not a made-up one.
    assert_eq!(facts.expires_at, None);
}

#[test]
fn gate_main_keys_sample() {
    // gate.io APIv4 docs, "Query All Main Account Key Information": two keys (shown masked),
    // each with `account` and `spot` read-write, no IP whitelist. No entry lists a withdrawal
    // group, and the docs' list of group names has none: the withdraw right stays unknown.
    let body = sample("gate/main_keys.json");
    let entries = body.as_array().expect("a list of keys");
    assert_eq!(entries.len(), 2);
    for entry in entries {
        let key = entry["key"].as_str().unwrap();
        // Each entry alone is the single-object shape the SDKs declare.
        let gate::KeyLookup::Found(info) = gate::KeyLookup::from_body(entry, key) else {
            panic!("the documented shape")
        };
        let facts =
            facts_from(|f| info.apply(f, Utc.with_ymd_and_hms(2025, 9, 1, 0, 0, 0).unwrap()));
        assert_eq!(rights(&facts), [T, T, U, F], "{key}");
        assert_eq!(facts.ip_restricted, F, "{key}");
        // Unbound keys live 90 days from `created_at` (a number in the sample, a string in
        // the SDK's model: both read).
        let created = entry["created_at"].as_i64().unwrap();
        assert_eq!(
            facts.expires_at,
            Utc.timestamp_opt(created + 90 * 86_400, 0).single(),
            "{key}"
        );
        assert!(
            has_note(&facts, "withdraw right not visible"),
            "{key}: {:?}",
            facts.notes
        );
    }
}

#[test]
fn okx_account_config_sample() {
    // okx.com docs-v5, "Get account configuration": `perm` "read_only,withdraw,trade", no IP,
    // account mode 2 (spot and futures).
    let facts = facts_from_data(
        "okx/account_config.json",
        okx::KeyConfig::from_data,
        okx::KeyConfig::apply,
    );
    assert_eq!(rights(&facts), [T, T, T, T]);
    assert_eq!(facts.ip_restricted, F);
}

#[test]
fn kucoin_api_key_sample() {
    // kucoin.com docs, "Get Apikey Info": every permission including `Transfer` (withdraw),
    // and a masked IP whitelist.
    let facts = facts_from_data(
        "kucoin/api_key.json",
        kucoin::KeyInfo::from_data,
        kucoin::KeyInfo::apply,
    );
    assert_eq!(rights(&facts), [T, T, T, T]);
    assert_eq!(facts.ip_restricted, T);
}

#[test]
fn bybit_query_api_sample() {
    // bybit-exchange.github.io, "Get API Key Information": read-write, only
    // `Wallet: AccountTransfer` (a transfer between the user's own accounts is not a
    // withdrawal), not IP-bound (`["*"]`), expiring 2023-05-15.
    let body = sample("bybit/query_api.json");
    let info = bybit::KeyInfo::parse(&body["result"]).expect("the documented shape");
    let facts = facts_from(|f| info.apply(f, Utc.with_ymd_and_hms(2023, 2, 15, 4, 0, 0).unwrap()));
    assert_eq!(rights(&facts), [T, F, F, F]);
    assert_eq!(facts.ip_restricted, F);
    assert_eq!(
        facts.expires_at,
        Some(Utc.with_ymd_and_hms(2023, 5, 15, 3, 13, 24).unwrap())
    );
}

#[test]
fn bitget_account_info_sample() {
    // bitget.com api-doc, "Get Account Information": the legacy words `trade` and `readonly`,
    // bound to 127.0.0.1. Legacy words do not say whether `trade` covers futures: unknown.
    let facts = facts_from_data(
        "bitget/account_info.json",
        bitget::KeyInfo::from_data,
        bitget::KeyInfo::apply,
    );
    assert_eq!(rights(&facts), [T, T, F, U]);
    assert_eq!(facts.ip_restricted, T);
}

#[test]
fn htx_api_key_sample() {
    // huobiapi.github.io, "Get API Key Query": `readOnly,trade`, two bound IPs, never expires.
    let body = sample("htx/api_key.json");
    let key = body["data"][0]["accessKey"].as_str().unwrap();
    let info = htx::KeyInfo::from_data(&body["data"], key).expect("the documented shape");
    let facts = facts_from(|f| {
        info.apply(f, Utc.with_ymd_and_hms(2020, 6, 6, 0, 0, 0).unwrap())
            .expect("a normal key")
    });
    let [read, trade, withdraw, _] = rights(&facts);
    // HTX has no futures right of its own: it is judged with the futures account read.
    assert_eq!([read, trade, withdraw], [T, T, F]);
    assert_eq!(facts.ip_restricted, T);
    assert_eq!(facts.expires_at, None);
}

/// A sample that lacks a field the probe reads is read as unknown, never as `false`: the
/// samples with their rights fields taken out.
#[test]
fn a_sample_without_its_rights_fields_is_unknown_not_false() {
    let mut binance = sample("binance/api_restrictions.json");
    binance.as_object_mut().unwrap().remove("enableWithdrawals");
    match binance::Restrictions::parse(&binance) {
        None => {}
        Some(r) => {
            let facts = facts_from(|f| r.apply(f, 0));
            assert_ne!(
                facts.permissions.withdraw, F,
                "a missing flag read as false"
            );
        }
    }
    // The whole list (the docs' array shape): each key found by its visible head.
    let list = sample("gate/main_keys.json");
    for (full_key, name) in [("c5dcfbf1f3a7aaaa", "test1"), ("52fd0035f665bbbb", "test2")] {
        assert!(
            matches!(
                gate::KeyLookup::from_body(&list, full_key),
                gate::KeyLookup::Found(_)
            ),
            "{name}"
        );
    }
    assert_eq!(
        gate::KeyLookup::from_body(&list, "ffff0035f665bbbb"),
        gate::KeyLookup::NotListed
    );
    let mut gate = sample("gate/main_keys.json")[0].clone();
    gate.as_object_mut().unwrap().remove("ip_whitelist");
    let gate::KeyLookup::Found(info) = gate::KeyLookup::from_body(&gate, "c5dcfbf1f3a7abcd") else {
        panic!("the single-object shape")
    };
    let facts = facts_from(|f| info.apply(f, Utc::now()));
    assert_eq!(facts.ip_restricted, U);
    assert_eq!(facts.permissions.withdraw, U);
}
