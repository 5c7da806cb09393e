//! Property tests (proptest) of everything that parses outside input:
//! - the config parser, on arbitrary text and on mutated valid configs: never a panic, and an
//!   error always names the file and a key or the TOML position;
//! - each exchange's reply parsing, through the real probe: a loopback proxy in front of the
//!   simulator mutates one of the replies (a JSON value removed or replaced, the body truncated
//!   or replaced by arbitrary bytes, the HTTP status changed): never a panic, and the facts
//!   always carry a problem or the key's read and trade rights;
//! - each exchange's expiry and date fields (MEXC `remainingValidity`, HTX `validDays`, Bybit
//!   `deadlineDay`/`expiredAt`, Gate `created_at`, Binance `tradingAuthorityExpirationTime`,
//!   the server times...) set to extreme numbers (huge, negative, fractional, numeric strings)
//!   in every reply, for bound and unbound keys: never a panic, and the verdict's expiry is a
//!   date every reader takes (at most 9999-12-31) that survives a JSON round trip;
//! - the simulator's request parsing: arbitrary paths, queries, headers and bodies over
//!   loopback: always an HTTP answer, never a 500 (a handler panic drops the connection).
//!
//! CI runs [`DEFAULT_CASES`] cases per property (a few seconds). A longer run:
//!
//! ```sh
//! PROPTEST_CASES=20000 cargo test --release --test it fuzz:: -- --nocapture
//! ```
//!
//! (`fuzz/README.md` has the figures of such a run.) cargo-fuzz would need a nightly
//! toolchain; proptest runs on stable, shrinks failures, and needs no harness of its own.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use keywarden::config::{Config, ConfigError};
use keywarden::domain::{Credentials, ExchangeKind, Markets};
use keywarden::exchange::{self, HttpClient, ProbeTarget};
use keywarden::sim::{RunningSim, Scenario, ScenarioFile, SimKey};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::Value;

use crate::support;

/// Cases per property in CI; `PROPTEST_CASES` overrides it.
const DEFAULT_CASES: u32 = 96;

fn runner() -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// One runtime for every case: the simulator and the proxy live as long as the test binary.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

// ---------------------------------------------------------------------------------------------
// Config parser

const VALID_CONFIG: &str = r#"[daemon]
schedule = "0 */5 * * * *"
state_dir = "/var/lib/keywarden"
metrics_listen = "127.0.0.1:9477"
history_retention = "90d"
max_concurrent_checks = 64
check_timeout = "15s"
expiry_warning = "14d"

[alerts]
unavailable_after = 2
remind_every = "6h"
send_resolved = true

[connections.alice-mexc-main]
exchange = "mexc"
api_key = "mx0vAliceKey0000001"
api_secret = "alice-secret"
markets = ["spot"]
require_ip_whitelist = true
owner_email = "alice@example.com"

[connections.bob-okx]
exchange = "okx"
api_key = "bob-key"
api_secret = "bob-secret"
passphrase = "bob-pass"
markets = ["spot", "futures"]
base_url = "http://127.0.0.1:8080/okx"
"#;

/// Checks what `from_toml` said about `text`: it must not panic (the property runner would
/// report it), and an error must name the file and a key or the TOML position.
fn config_error_is_located(text: &str) -> Result<(), TestCaseError> {
    let source = Path::new("fuzz.toml");
    match Config::from_toml(text, source) {
        Ok(_) => Ok(()),
        Err(ConfigError::Syntax { path, detail }) => {
            prop_assert_eq!(path, "fuzz.toml");
            // TOML errors carry "line N, column M"; the shape errors of the `config` crate
            // name the key instead ("unknown field `x` ... for key `daemon`", `missing
            // configuration field "connections.a.api_key"`).
            let position = detail.contains("line ") && detail.contains("column ");
            let key = detail.contains('`') || detail.contains("field \"");
            prop_assert!(
                position || key,
                "a syntax error names the TOML position or the key: {}",
                detail
            );
            Ok(())
        }
        Err(ConfigError::Invalid { path, problems }) => {
            prop_assert_eq!(path, "fuzz.toml");
            prop_assert!(!problems.is_empty());
            for p in &problems {
                prop_assert!(!p.key.is_empty() && !p.message.is_empty(), "{:?}", p);
            }
            Ok(())
        }
        Err(other) => Err(TestCaseError::fail(format!("unexpected error: {other}"))),
    }
}

/// Edits of a valid config: the kinds of damage a hand-edited file gets.
#[derive(Debug, Clone)]
enum TextEdit {
    Delete { at: usize, len: usize },
    Insert { at: usize, text: String },
    DuplicateLine { line: usize },
    ReplaceValue { line: usize, value: String },
}

/// One of `tokens` or a string matching the regex `free`, each of the `tokens.len() + 1` choices
/// as likely as the others.
fn one_of_or_free(tokens: &[&'static str], free: &'static str) -> BoxedStrategy<String> {
    prop_oneof![
        tokens.len() as u32 => prop::sample::select(tokens.to_vec()).prop_map(str::to_string),
        1 => free,
    ]
    .boxed()
}

fn text_edit() -> impl Strategy<Value = TextEdit> {
    let tomlish = one_of_or_free(
        &[
            "\"",
            "[",
            "]\n",
            "=",
            "\n[connections.x]\n",
            "\nexchange = \"gate\"\n",
            "\nunknown_key = 1\n",
        ],
        "\\PC{0,12}",
    );
    let value = one_of_or_free(
        &[
            "\"\"",
            "-1",
            "0",
            "18446744073709551616",
            "\"env:KEYWARDEN_FUZZ_UNSET\"",
            "\"file:/nonexistent/keywarden-fuzz\"",
            "[]",
            "{}",
            "true",
            "\"99999999999d\"",
            "\"* * *\"",
        ],
        "\"[ -~]{0,16}\"",
    );
    prop_oneof![
        (any::<usize>(), 1..40usize).prop_map(|(at, len)| TextEdit::Delete { at, len }),
        (any::<usize>(), tomlish).prop_map(|(at, text)| TextEdit::Insert { at, text }),
        any::<usize>().prop_map(|line| TextEdit::DuplicateLine { line }),
        (any::<usize>(), value).prop_map(|(line, value)| TextEdit::ReplaceValue { line, value }),
    ]
}

fn apply_edit(text: &str, edit: &TextEdit) -> String {
    let boundary = |at: usize| {
        let mut at = at % (text.len() + 1);
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let lines: Vec<&str> = text.lines().collect();
    match edit {
        TextEdit::Delete { at, len } => {
            let start = boundary(*at);
            let end = boundary((start + len).min(text.len()));
            format!("{}{}", &text[..start], &text[end.max(start)..])
        }
        TextEdit::Insert { at, text: insert } => {
            let at = boundary(*at);
            format!("{}{insert}{}", &text[..at], &text[at..])
        }
        TextEdit::DuplicateLine { line } => {
            let i = line % lines.len();
            let mut out: Vec<&str> = lines.clone();
            out.insert(i, lines[i]);
            out.join("\n")
        }
        TextEdit::ReplaceValue { line, value } => {
            let i = line % lines.len();
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if let Some((key, _)) = lines[i].split_once('=') {
                out[i] = format!("{key}= {value}");
            }
            out.join("\n")
        }
    }
}

#[test]
fn the_config_parser_never_panics_on_arbitrary_text() {
    runner()
        .run(&"\\PC{0,400}", |text| config_error_is_located(&text))
        .unwrap();
    // TOML-shaped noise reaches further than arbitrary characters
    let tomlish =
        "(\\[[a-z._-]{0,20}\\]\n|[a-z_]{1,16} = (\"[ -~]{0,20}\"|[0-9-]{1,6}|true|\\[\\])\n){0,12}";
    runner()
        .run(&tomlish, |text| config_error_is_located(&text))
        .unwrap();
}

#[test]
fn the_config_parser_never_panics_on_mutated_valid_configs() {
    config_error_is_located(VALID_CONFIG).unwrap();
    assert!(Config::from_toml(VALID_CONFIG, Path::new("fuzz.toml")).is_ok());
    runner()
        .run(&prop::collection::vec(text_edit(), 1..4), |edits| {
            let text = edits
                .iter()
                .fold(VALID_CONFIG.to_string(), |t, e| apply_edit(&t, e));
            config_error_is_located(&text)
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Exchange replies, through the probe

/// How one reply of the exchange is damaged.
#[derive(Debug, Clone)]
enum ReplyEdit {
    /// Remove the `node`-th JSON value (pre-order, modulo the count).
    RemoveValue { node: usize },
    /// Replace the `node`-th JSON value with `value`.
    ReplaceValue { node: usize, value: Value },
    /// Keep only the first `at` bytes (modulo the length).
    Truncate { at: usize },
    /// Send these bytes instead.
    Bytes(Vec<u8>),
    /// Keep the body, change the HTTP status.
    Status(u16),
    /// Set every member with one of these names, at any depth, in every reply (not only the
    /// target's): an expiry field lives in one reply whose position differs per exchange.
    SetFields(Vec<(String, Value)>),
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        one_of_or_free(
            &[
                "0",
                "-1",
                "",
                "true",
                "200000",
                "General,Spot,Futures,Transfer",
                "read_only,trade,withdraw",
                "9999999999999999999999",
                "1.5e300",
                "127.0.0.1",
            ],
            "\\PC{0,16}",
        )
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn reply_edit() -> impl Strategy<Value = ReplyEdit> {
    prop_oneof![
        3 => any::<usize>().prop_map(|node| ReplyEdit::RemoveValue { node }),
        5 => (any::<usize>(), json_value())
            .prop_map(|(node, value)| ReplyEdit::ReplaceValue { node, value }),
        1 => any::<usize>().prop_map(|at| ReplyEdit::Truncate { at }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(ReplyEdit::Bytes),
        1 => prop::sample::select(vec![200u16, 201, 204, 400, 401, 403, 404, 418, 429, 500, 503])
            .prop_map(ReplyEdit::Status),
    ]
}

/// Every JSON value in `root`, pre-order, as JSON pointers.
fn pointers(root: &Value) -> Vec<String> {
    fn walk(v: &Value, at: String, out: &mut Vec<String>) {
        out.push(at.clone());
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let k = k.replace('~', "~0").replace('/', "~1");
                    walk(child, format!("{at}/{k}"), out);
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    walk(child, format!("{at}/{i}"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(root, String::new(), &mut out);
    out
}

fn edit_json(body: &[u8], node: usize, replacement: Option<&Value>) -> Vec<u8> {
    let Ok(mut root) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let all = pointers(&root);
    let pointer = &all[node % all.len()];
    match (pointer.rsplit_once('/'), replacement) {
        (_, Some(value)) => {
            if let Some(slot) = root.pointer_mut(pointer) {
                *slot = value.clone();
            }
        }
        (Some((parent, last)), None) => match root.pointer_mut(parent) {
            Some(Value::Object(m)) => {
                m.remove(&last.replace("~1", "/").replace("~0", "~"));
            }
            Some(Value::Array(a)) => {
                if let Ok(i) = last.parse::<usize>() {
                    a.remove(i);
                }
            }
            _ => {}
        },
        (None, None) => root = Value::Null,
    }
    serde_json::to_vec(&root).unwrap()
}

/// The proxy's current case: which request (counted from 0) to damage, and how.
#[derive(Default)]
struct Tamper {
    target: usize,
    edit: Option<ReplyEdit>,
    seen: AtomicUsize,
}

struct Proxy {
    sim: RunningSim,
    tamper: Mutex<Arc<Tamper>>,
    client: reqwest::Client,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    let tamper = proxy.tamper.lock().unwrap().clone();
    let n = tamper.seen.fetch_add(1, Ordering::SeqCst);
    let (mut status, out_headers, mut body) =
        support::relay(&proxy.client, proxy.sim.addr, request).await;
    if let Some(ReplyEdit::SetFields(fields)) = &tamper.edit {
        if let Ok(mut root) = serde_json::from_slice::<Value>(&body) {
            for (name, value) in fields {
                support::set_everywhere(&mut root, name, value);
            }
            body = serde_json::to_vec(&root).unwrap();
        }
    } else if n == tamper.target {
        match &tamper.edit {
            Some(ReplyEdit::RemoveValue { node }) => body = edit_json(&body, *node, None),
            Some(ReplyEdit::ReplaceValue { node, value }) => {
                body = edit_json(&body, *node, Some(value))
            }
            Some(ReplyEdit::Truncate { at }) => body.truncate(at % (body.len() + 1)),
            Some(ReplyEdit::Bytes(bytes)) => body = bytes.clone(),
            Some(ReplyEdit::Status(code)) => status = StatusCode::from_u16(*code).unwrap(),
            Some(ReplyEdit::SetFields(_)) | None => {}
        }
    }
    (status, out_headers, body).into_response()
}

/// The simulator (one healthy key per exchange, and one without IP binding: the keys that
/// expire) behind the tampering proxy.
struct ProbeBench {
    proxy: Arc<Proxy>,
    proxy_addr: std::net::SocketAddr,
    keys: Vec<SimKey>,
    unbound_keys: Vec<SimKey>,
}

/// The bench of the damaged-replies property. Each property has its own: a bench's proxy
/// plays one case at a time, and the tests of this binary run in parallel.
fn probe_bench() -> &'static ProbeBench {
    static BENCH: OnceLock<ProbeBench> = OnceLock::new();
    BENCH.get_or_init(start_probe_bench)
}

/// The bench of the expiry-fields property (see [`probe_bench`]).
fn expiry_bench() -> &'static ProbeBench {
    static BENCH: OnceLock<ProbeBench> = OnceLock::new();
    BENCH.get_or_init(start_probe_bench)
}

fn start_probe_bench() -> ProbeBench {
    runtime().block_on(async {
        let keys = support::key_per_exchange("fuzz", Scenario::Valid);
        let unbound_keys = support::key_per_exchange("fuzz-unbound", Scenario::NoIpWhitelist);
        let sim = support::start_sim(ScenarioFile {
            keys: keys.iter().chain(&unbound_keys).cloned().collect(),
            ..ScenarioFile::default()
        })
        .await;
        let proxy = Arc::new(Proxy {
            sim,
            tamper: Mutex::new(Arc::default()),
            client: reqwest::Client::new(),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(proxy.clone());
        let proxy_addr = support::serve(app).await;
        ProbeBench {
            proxy,
            proxy_addr,
            keys,
            unbound_keys,
        }
    })
}

fn target_for(bench: &ProbeBench, key: &SimKey, futures: bool) -> ProbeTarget {
    // the secret as the config holds it (Coinbase PEMs with literal `\n`) is what the probe reads
    let secret = key.api_secret.replace("\\n", "\n");
    ProbeTarget {
        credentials: Credentials {
            api_key: key.api_key.clone().into(),
            api_secret: secret.into(),
            passphrase: key.passphrase.clone().map(Into::into),
        },
        markets: Markets {
            spot: true,
            futures,
        },
        base_url: Some(format!("http://{}/{}", bench.proxy_addr, key.exchange)),
        futures_base_url: None,
        region: key.exchange.spec().global(),
    }
}

#[test]
fn every_exchange_probe_survives_damaged_replies() {
    let bench = probe_bench();
    let http = HttpClient::new(Duration::from_secs(5));
    // Undamaged, every probe connects: the bench itself works.
    for key in &bench.keys {
        *bench.proxy.tamper.lock().unwrap() = Arc::default();
        let probe = exchange::for_kind_with_rate(key.exchange, http.clone(), 1e6);
        let facts = runtime().block_on(probe.probe(&target_for(bench, key, true)));
        assert!(!facts.has_problem(), "{}: {facts:?}", key.exchange);
        assert_eq!(facts.permissions.read, Some(true), "{}", key.exchange);
    }
    let case = (0..bench.keys.len(), 0..6usize, reply_edit(), any::<bool>());
    runner()
        .run(&case, |(which, target, edit, futures)| {
            let key = &bench.keys[which];
            *bench.proxy.tamper.lock().unwrap() = Arc::new(Tamper {
                target,
                edit: Some(edit),
                seen: AtomicUsize::new(0),
            });
            let probe = exchange::for_kind_with_rate(key.exchange, http.clone(), 1e6);
            let facts = runtime().block_on(probe.probe(&target_for(bench, key, futures)));
            let p = &facts.permissions;
            // A right the exchange did not show may stay unknown (`null`), but only with a note
            // saying why (MEXC's apiKeyInfo is optional, Gate shows no withdraw right...).
            let known = p.read.is_some() && p.trade.is_some() && p.withdraw.is_some();
            prop_assert!(
                facts.has_problem() || (p.read.is_some() && (known || !facts.notes.is_empty())),
                "{}: no problem, yet rights unknown without a word: {:?}",
                key.exchange,
                facts
            );
            for problem in &facts.problems {
                prop_assert!(!problem.message.trim().is_empty(), "{:?}", facts);
            }
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Expiry and date fields, through the probe

/// The members each exchange's replies carry a date or a count of days in, as the simulator
/// sends them (expiry first, then creation and server times).
fn date_fields(exchange: ExchangeKind) -> &'static [&'static str] {
    match exchange {
        ExchangeKind::Mexc => &["remainingValidity", "createTime", "serverTime"],
        ExchangeKind::Htx => &["validDays", "createTime", "ts"],
        ExchangeKind::Bybit => &[
            "deadlineDay",
            "expiredAt",
            "createdAt",
            "timeSecond",
            "timeNano",
            "time",
        ],
        ExchangeKind::Gate => &["created_at", "server_time"],
        ExchangeKind::Binance => &["tradingAuthorityExpirationTime", "createTime", "serverTime"],
        ExchangeKind::Kucoin => &["createdAt"],
        ExchangeKind::Coinbase => &["created_at", "epochMillis", "epochSeconds", "iso"],
        ExchangeKind::Okx => &["ts"],
        ExchangeKind::Bitget => &["serverTime", "requestTime"],
        ExchangeKind::Bingx => &["serverTime"],
    }
}

/// Numbers that break date arithmetic: the ends of i64 and f64, the edge of chrono's range in
/// days and seconds, negatives, fractions, and the same as strings (exchanges send both).
fn extreme_value() -> impl Strategy<Value = Value> {
    use serde_json::json;
    let named = vec![
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(0),
        json!(-1),
        json!(1.5e300),
        json!(-1.5e300),
        json!(f64::MAX),
        json!(f64::MIN),
        json!(5e-324),
        json!(0.5),
        json!(-0.5),
        json!(106_751_991_167_301_i64), // i64::MAX seconds in days: TimeDelta::days' edge
        json!(8_210_266_876_799_i64),   // chrono's last second
        json!(8_210_266_876_800_000_i64),
        json!("9223372036854775807"),
        json!("-9223372036854775808"),
        json!("99999999999999999999999"),
        json!("1e308"),
        json!("-1e308"),
        json!("NaN"),
        json!("inf"),
        json!("-infinity"),
        json!("5.5"),
        json!(" 7 "),
        json!(""),
        json!("+200000-01-01T00:00:00Z"),
        json!("9999-12-31T23:59:59Z"),
        json!("-0001-01-01T00:00:00Z"),
    ];
    prop_oneof![
        3 => prop::sample::select(named),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => any::<i64>().prop_map(|i| Value::from(i.to_string())),
        1 => any::<f64>().prop_map(|f| Value::from(f.to_string())),
    ]
}

#[test]
fn every_exchange_probe_survives_extreme_expiry_and_date_fields() {
    use keywarden::check::{judge, CheckContext, Policy};
    use keywarden::domain::Verdict;
    use keywarden::exchange::expiry;

    let bench = expiry_bench();
    let http = HttpClient::new(Duration::from_secs(5));
    let count = bench.keys.len();
    // which exchange, bound or not, which of its fields (1 to 3, by index) get which value
    let fields = prop::collection::vec((any::<prop::sample::Index>(), extreme_value()), 1..4);
    let case = (0..count, any::<bool>(), fields, any::<bool>());
    runner()
        .run(&case, |(which, unbound, fields, futures)| {
            let key = if unbound {
                &bench.unbound_keys[which]
            } else {
                &bench.keys[which]
            };
            let names = date_fields(key.exchange);
            let set: Vec<(String, Value)> = fields
                .into_iter()
                .map(|(index, value)| (names[index.index(names.len())].to_string(), value))
                .collect();
            *bench.proxy.tamper.lock().unwrap() = Arc::new(Tamper {
                target: usize::MAX,
                edit: Some(ReplyEdit::SetFields(set.clone())),
                seen: AtomicUsize::new(0),
            });
            let probe = exchange::for_kind_with_rate(key.exchange, http.clone(), 1e6);
            // a panic in the probe fails the case (proptest catches it and shrinks)
            let facts = runtime().block_on(probe.probe(&target_for(bench, key, futures)));
            let ctx = CheckContext {
                connection: "fuzz".to_string(),
                exchange: key.exchange,
                checked_at: chrono::Utc::now(),
                latency_ms: 1,
            };
            let policy = Policy {
                markets: Markets {
                    spot: true,
                    futures,
                },
                require_ip_whitelist: true,
                require_withdraw_verified: false,
                expiry_warning: chrono::Duration::days(14),
            };
            let verdict = judge(ctx, &facts, &policy);
            if let Some(at) = verdict.expires_at {
                prop_assert!(
                    at <= expiry::latest(),
                    "{}: {:?} {:?}",
                    key.exchange,
                    set,
                    at
                );
            }
            let json = serde_json::to_string(&verdict).unwrap();
            let back: Verdict = serde_json::from_str(&json)
                .map_err(|e| TestCaseError::fail(format!("{json}: {e}")))?;
            prop_assert_eq!(back, verdict);
            Ok(())
        })
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The simulator's request parsing

/// Header names the simulators read, so arbitrary values reach their parsers.
const AUTH_HEADERS: &[&str] = &[
    "KC-API-KEY",
    "KC-API-SIGN",
    "KC-API-TIMESTAMP",
    "KC-API-PASSPHRASE",
    "KC-API-KEY-VERSION",
    "X-MBX-APIKEY",
    "OK-ACCESS-KEY",
    "OK-ACCESS-SIGN",
    "OK-ACCESS-TIMESTAMP",
    "OK-ACCESS-PASSPHRASE",
    "X-BAPI-API-KEY",
    "X-BAPI-SIGN",
    "X-BAPI-TIMESTAMP",
    "X-BAPI-RECV-WINDOW",
    "ACCESS-KEY",
    "ACCESS-SIGN",
    "ACCESS-TIMESTAMP",
    "ACCESS-PASSPHRASE",
    "KEY",
    "SIGN",
    "Timestamp",
    "X-BX-APIKEY",
    "x-mexc-apikey",
    "apikey",
    "request-time",
    "signature",
    "recv-window",
    "Authorization",
    "Content-Type",
];

/// Paths each simulator serves, so arbitrary queries reach the signed handlers.
const PATHS: &[&str] = &[
    "/mexc/api/v3/account",
    "/mexc/api/v3/apiKeyInfo",
    "/mexc/api/v1/private/account/assets",
    "/kucoin/api/v1/user/api-key",
    "/kucoin/api/v1/accounts",
    "/kucoin/api/v1/account-overview",
    "/okx/api/v5/account/config",
    "/okx/api/v5/account/balance",
    "/binance/sapi/v1/account/apiRestrictions",
    "/binance/api/v3/account",
    "/bybit/v5/user/query-api",
    "/bybit/v5/account/wallet-balance",
    "/bitget/api/v2/spot/account/info",
    "/gate/api/v4/account/detail",
    "/htx/v1/account/accounts",
    "/htx/v2/user/api-key",
    "/bingx/openApi/v1/account/apiPermissions",
    "/coinbase/api/v3/brokerage/key_permissions",
];

#[derive(Debug, Clone)]
struct FuzzRequest {
    method: Method,
    path: String,
    query: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

fn fuzz_request(keys: Vec<String>) -> impl Strategy<Value = FuzzRequest> {
    let method = prop::sample::select(vec![Method::GET, Method::POST, Method::PUT, Method::DELETE]);
    let path = prop_oneof![
        3 => prop::sample::select(PATHS.to_vec()).prop_map(str::to_string),
        1 => (prop::sample::select(PATHS.to_vec()), "[a-zA-Z0-9/%._~-]{0,24}")
            .prop_map(|(p, tail)| format!("{p}{tail}")),
        1 => "/[a-zA-Z0-9/%._~-]{0,40}",
    ];
    let query_value = prop_oneof![
        prop::sample::select(keys.clone()),
        "[0-9]{0,16}",
        "[ -~]{0,24}".prop_map(|s| s.replace(['#', ' '], "%20")),
    ];
    let query = prop::collection::vec(
        (
            prop::sample::select(vec![
                "timestamp",
                "signature",
                "recvWindow",
                "AccessKeyId",
                "SignatureMethod",
                "SignatureVersion",
                "Timestamp",
                "Signature",
                "accessKey",
                "uid",
                "currency",
                "instType",
                "category",
                "x",
            ]),
            query_value,
        ),
        0..6,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    });
    let header_value = prop_oneof![
        prop::sample::select(keys),
        "[0-9]{0,16}",
        "[!-~][ -~]{0,40}",
        Just("Bearer a.b.c".to_string()),
    ];
    let headers = prop::collection::vec(
        (prop::sample::select(AUTH_HEADERS.to_vec()), header_value),
        0..8,
    );
    let body = prop::collection::vec(any::<u8>(), 0..128);
    (method, path, query, headers, body).prop_map(|(method, path, query, headers, body)| {
        FuzzRequest {
            method,
            path,
            query,
            headers,
            body,
        }
    })
}

#[test]
fn the_simulator_answers_every_request_without_a_panic() {
    let bench = probe_bench();
    // known keys make the simulators go past key lookup into verification
    let keys: Vec<String> = bench.keys.iter().map(|k| k.api_key.clone()).collect();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let sim = bench.proxy.sim.addr;
    runner()
        .run(&fuzz_request(keys), |request| {
            let url = if request.query.is_empty() {
                format!("http://{sim}{}", request.path)
            } else {
                format!("http://{sim}{}?{}", request.path, request.query)
            };
            let Ok(parsed) = reqwest::Url::parse(&url) else {
                return Ok(()); // not a URL reqwest can send: nothing reaches the simulator
            };
            let mut builder = client.request(request.method.clone(), parsed);
            for (name, value) in &request.headers {
                builder = builder.header(*name, value.as_str());
            }
            let sent =
                runtime().block_on(async { builder.body(request.body.clone()).send().await });
            let response = match sent {
                Ok(r) => r,
                Err(e) if e.is_builder() => return Ok(()),
                Err(e) => {
                    return Err(TestCaseError::fail(format!(
                        "no HTTP answer (a handler panic drops the connection): {e}"
                    )))
                }
            };
            prop_assert_ne!(
                response.status(),
                reqwest::StatusCode::INTERNAL_SERVER_ERROR,
                "{:?}",
                request
            );
            Ok(())
        })
        .unwrap();
}
