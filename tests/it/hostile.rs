//! Hostile and broken replies, through the real binary (issue 19): a proxy between `keywarden`
//! and the simulator plays the exchange gone wrong, or a man in the middle. It rewrites expiry
//! counts to absurd numbers, floods a reply with hundreds of MiB or an endless body, redirects
//! signed requests to another host, and salts error messages with terminal escape sequences.
//! Whatever it does, every connection gets a verdict, memory stays bounded, no request carrying
//! a key leaves for another host, and no control character reaches the table, the JSON or the
//! store.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use keywarden::domain::ExchangeKind;
use keywarden::sim::{RunningSim, Scenario, ScenarioFile, SimKey};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use crate::support::{
    self, connection_toml, eventually, json_lines, sim_key, DaemonProcess, Scratch,
};

// ---------------------------------------------------------------------------------------------
// The proxy

/// Rewrites the JSON of a reply, given the request it answers.
type Rewrite = Box<dyn Fn(&Uri, &HeaderMap, &mut Value) + Send + Sync>;

/// Whether a request carries `key`: in its query (HTX) or as a header value (the rest).
fn carries(uri: &Uri, headers: &HeaderMap, key: &str) -> bool {
    uri.query().is_some_and(|q| q.contains(key))
        || headers.values().any(|v| v.as_bytes() == key.as_bytes())
}

/// What the proxy does with each request.
enum Mode {
    /// Forwards to the simulator and rewrites every JSON reply.
    Rewrite(Rewrite),
    /// Answers every request with HTTP 200 and a JSON-looking body of `len` bytes (`None`:
    /// endless), declared in `Content-Length` or chunked, at full speed or one byte every
    /// 100 ms.
    Flood {
        len: Option<u64>,
        declare_length: bool,
        slow: bool,
    },
    /// Forwards public requests; answers each signed one (it carries an API key or an
    /// `Authorization`) with a 302 to `to`, echoing the signed path and query the way a
    /// rewriting proxy would.
    RedirectSigned { to: SocketAddr, keys: Vec<String> },
}

struct Proxy {
    sim: SocketAddr,
    mode: Mode,
    client: reqwest::Client,
    /// Body bytes the flood produced (what the client made the proxy write, socket buffers
    /// included).
    flooded: Arc<AtomicU64>,
}

async fn proxy_handler(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    match &proxy.mode {
        Mode::Flood {
            len,
            declare_length,
            slow,
        } => flood(proxy.flooded.clone(), *len, *declare_length, *slow),
        Mode::RedirectSigned { to, keys } => {
            let (uri, headers) = (request.uri(), request.headers());
            let signed = headers.contains_key(header::AUTHORIZATION)
                || keys.iter().any(|key| carries(uri, headers, key));
            if signed {
                let location = format!("http://{to}{}", uri.path_and_query().unwrap());
                return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
            }
            forward(&proxy, request, None).await
        }
        Mode::Rewrite(rewrite) => forward(&proxy, request, Some(rewrite)).await,
    }
}

/// Sends the request on to the simulator, rewriting the JSON of its reply if `rewrite` is given.
async fn forward(proxy: &Proxy, request: Request, rewrite: Option<&Rewrite>) -> Response {
    let (uri, headers) = (request.uri().clone(), request.headers().clone());
    let (status, out_headers, mut bytes) = support::relay(&proxy.client, proxy.sim, request).await;
    if let Some(rewrite) = rewrite {
        if let Ok(mut json) = serde_json::from_slice::<Value>(&bytes) {
            rewrite(&uri, &headers, &mut json);
            bytes = serde_json::to_vec(&json).unwrap();
        }
    }
    (status, out_headers, bytes).into_response()
}

/// A 200 whose body starts like an exchange's JSON and then runs on with `a`s.
fn flood(counter: Arc<AtomicU64>, len: Option<u64>, declare_length: bool, slow: bool) -> Response {
    const CHUNK: usize = 64 * 1024;
    let opening = Bytes::from_static(br#"{"code":0,"data":""#);
    let total = len.unwrap_or(u64::MAX);
    let stream = futures_util::stream::unfold(0u64, move |sent| {
        let (counter, opening) = (counter.clone(), opening.clone());
        async move {
            if sent >= total {
                return None;
            }
            let chunk = if sent == 0 {
                opening
            } else if slow {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Bytes::from_static(b"a")
            } else {
                Bytes::from(vec![b'a'; CHUNK.min((total - sent) as usize)])
            };
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            let sent = sent + chunk.len() as u64;
            Some((Ok::<_, std::io::Error>(chunk), sent))
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let (true, Some(len)) = (declare_length, len) {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    response
}

/// The simulator with `keys`, and the proxy in front of it playing `mode`.
struct Bench {
    sim: RunningSim,
    proxy: SocketAddr,
    flooded: Arc<AtomicU64>,
}

impl Bench {
    async fn start(keys: Vec<SimKey>, mode: Mode) -> Bench {
        let sim = support::start_sim(ScenarioFile {
            keys,
            ..ScenarioFile::default()
        })
        .await;
        let flooded = Arc::new(AtomicU64::new(0));
        let state = Arc::new(Proxy {
            sim: sim.addr,
            mode,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            flooded: flooded.clone(),
        });
        let app = axum::Router::new()
            .fallback(proxy_handler)
            .with_state(state);
        let proxy = support::serve(app).await;
        Bench {
            sim,
            proxy,
            flooded,
        }
    }

    /// A connection per key, named after its exchange, pointed at the proxy.
    fn connection_per_exchange(&self, keys: &[SimKey]) -> String {
        keys.iter()
            .map(|k| self.connection(&k.exchange.to_string(), k, None))
            .collect()
    }

    /// A `[connections.NAME]` section for `key`, pointed at the proxy; `secret` replaces the
    /// registered secret when given (the simulator then refuses the signature).
    fn connection(&self, name: &str, key: &SimKey, secret: Option<&str>) -> String {
        let mut key = key.clone();
        if let Some(secret) = secret {
            key.api_secret = secret.to_string();
        }
        connection_toml(name, &key, &self.sim, &["spot"]).replace(
            &format!("http://{}", self.sim.addr),
            &format!("http://{}", self.proxy),
        )
    }
}

/// A check config: `[daemon]` with `check_timeout`, the budgets, then `connections`.
fn check_config(check_timeout: &str, connections: &str) -> String {
    format!(
        "[daemon]\ncheck_timeout = \"{check_timeout}\"\n\n{}{connections}",
        support::ample_budgets(&ExchangeKind::ALL)
    )
}

/// `check --json` lines by connection name.
fn by_name(stdout: &str) -> BTreeMap<String, Value> {
    json_lines(stdout)
        .into_iter()
        .map(|l| (l["connection"].as_str().unwrap().to_string(), l))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// 1. Absurd expiry counts

/// Members of a reply and the values to set them to.
type FieldValues = Vec<(&'static str, Value)>;

/// The expiry fields each exchange reports, with the values that overflowed `now + days(d)`
/// (or, for the absolute ones, lie past year 9999).
fn absurd_expiries() -> Vec<(ExchangeKind, &'static str, FieldValues)> {
    use serde_json::json;
    vec![
        (
            ExchangeKind::Mexc,
            "float",
            vec![("remainingValidity", json!(1.5e300))],
        ),
        (
            ExchangeKind::Mexc,
            "string",
            vec![("remainingValidity", json!("1e308"))],
        ),
        (
            ExchangeKind::Htx,
            "i64-max",
            vec![("validDays", json!(i64::MAX))],
        ),
        (
            ExchangeKind::Htx,
            "string",
            vec![("validDays", json!("9223372036854775807"))],
        ),
        (
            ExchangeKind::Bybit,
            "i64-max",
            vec![("deadlineDay", json!(i64::MAX)), ("expiredAt", json!(""))],
        ),
        (
            ExchangeKind::Bybit,
            "float",
            vec![("deadlineDay", json!(1.5e300)), ("expiredAt", json!(""))],
        ),
        (
            ExchangeKind::Bybit,
            "far-date",
            vec![("expiredAt", json!(8_000_000_000_000_000_i64))],
        ),
        (
            ExchangeKind::Gate,
            "end-of-time",
            vec![("created_at", json!("8210266876799"))],
        ),
        (
            ExchangeKind::Binance,
            "far-ms",
            vec![(
                "tradingAuthorityExpirationTime",
                json!(8_000_000_000_000_000_i64),
            )],
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn absurd_expiry_counts_give_every_connection_a_verdict_instead_of_a_panic() {
    let cases = absurd_expiries();
    // One unbound key (the ones that expire) per case.
    let keys: Vec<(String, SimKey)> = cases
        .iter()
        .map(|(exchange, label, _)| {
            let name = format!("{exchange}-{label}");
            let key = sim_key(
                *exchange,
                &format!("absurd-{name}"),
                Scenario::NoIpWhitelist,
            );
            (name, key)
        })
        .collect();
    let healthy = sim_key(ExchangeKind::Okx, "absurd-healthy", Scenario::Valid);
    // The connection name is not on the wire, the API key is: the proxy finds the case by it.
    let by_key: Vec<(String, FieldValues)> = keys
        .iter()
        .zip(&cases)
        .map(|((_, key), (_, _, fields))| (key.api_key.clone(), fields.clone()))
        .collect();
    let rewrite: Rewrite = Box::new(move |uri, headers, json| {
        for (key, fields) in &by_key {
            if carries(uri, headers, key) {
                for (field, value) in fields {
                    support::set_everywhere(json, field, value);
                }
            }
        }
    });
    let mut all_keys: Vec<SimKey> = keys.iter().map(|(_, k)| k.clone()).collect();
    all_keys.push(healthy.clone());
    let bench = Bench::start(all_keys, Mode::Rewrite(rewrite)).await;

    let mut connections: String = keys
        .iter()
        .map(|(name, key)| bench.connection(name, key, None))
        .collect();
    connections.push_str(&bench.connection("okx-healthy", &healthy, None));
    let scratch = Scratch::new();
    let config = scratch.write("keywarden.toml", &check_config("10s", &connections));
    let config = config.to_str().unwrap();

    let run = support::run(&["check", "--config", config, "--json"], &[]).await;
    assert!(
        run.code == 0 || run.code == 1,
        "exit {} (101 is a panic); stderr:\n{}",
        run.code,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let lines = by_name(&run.stdout);
    assert_eq!(lines.len(), keys.len() + 1, "a verdict per connection");
    for (name, _) in &keys {
        let line = &lines[name];
        assert_eq!(line["status"], "connected", "{name}: {line}");
        assert_eq!(
            line["expires_at"], "9999-12-31T23:59:59Z",
            "{name}: clamped to the latest date: {line}"
        );
    }
    assert_eq!(lines["okx-healthy"]["status"], "connected");

    // the table too: a row per connection, the far date printed plainly
    let run = support::run(&["check", "--config", config], &[]).await;
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    for (name, _) in &keys {
        let row = run
            .stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", run.stdout));
        assert!(row.contains("9999-12-31"), "{row}");
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Floods: huge, endless and slow bodies

/// The cap the client reads replies up to, and the words of its refusal.
const CAP_WORDS: &str = "reply larger than 1 MiB, not read further";

/// Runs `keywarden ARGS` like [`support::run`] and also reports the child's peak resident
/// memory in KiB: the `VmHWM` of its own address space, read from /proc every few milliseconds
/// until it exits (a high-water mark, so the last reading covers all but the final moments).
/// Not `ru_maxrss` from wait4(2): Linux carries the parent's peak into the child at exec, so
/// that figure is this test process's own peak (hundreds of MB while other tests run beside it).
async fn run_measuring_memory(args: &[&str], scratch: &Scratch) -> (support::Run, u64) {
    let (out_path, err_path) = (scratch.path().join("stdout"), scratch.path().join("stderr"));
    let mut child = std::process::Command::new(support::binary())
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("run keywarden");
    let status_file = format!("/proc/{}/status", child.id());
    let (status, max_rss_kib) = tokio::task::spawn_blocking(move || {
        let mut peak_kib = 0;
        loop {
            if let Some(kib) = std::fs::read_to_string(&status_file)
                .ok()
                .as_deref()
                .and_then(high_water_kib)
            {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = child.try_wait().expect("wait for keywarden") {
                return (status, peak_kib);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
    .await
    .unwrap();
    let code = status.code().unwrap_or(-1);
    let run = support::Run {
        code,
        stdout: std::fs::read_to_string(out_path).unwrap(),
        stderr: std::fs::read_to_string(err_path).unwrap(),
    };
    (run, max_rss_kib)
}

/// The `VmHWM:   12345 kB` line of a /proc/PID/status text, in KiB.
fn high_water_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_256_mib_reply_is_cut_at_1_mib_with_bounded_memory_on_every_exchange() {
    const FLOOD: u64 = 256 << 20;
    let keys = support::key_per_exchange("flood", Scenario::Valid);
    let bench = Bench::start(
        keys.clone(),
        Mode::Flood {
            len: Some(FLOOD),
            declare_length: false,
            slow: false,
        },
    )
    .await;
    let connections = bench.connection_per_exchange(&keys);
    let scratch = Scratch::new();
    let config = scratch.write("keywarden.toml", &check_config("15s", &connections));
    let (run, max_rss_kib) = run_measuring_memory(
        &["check", "--config", config.to_str().unwrap(), "--json"],
        &scratch,
    )
    .await;

    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let lines = by_name(&run.stdout);
    assert_eq!(lines.len(), keys.len(), "{}", run.stdout);
    for (name, line) in &lines {
        assert_eq!(line["status"], "exchange_unavailable", "{name}: {line}");
        let message = line["message"].as_str().unwrap();
        assert!(message.contains(CAP_WORDS), "{name}: {message}");
    }
    // Read no further: what the proxy produced is the cap plus socket buffers per connection
    // (measured: 49 MB for the ten, peak RSS 29 MB), bounded here at a quarter of one flood
    // per connection; reading on would produce all 2.5 GiB. The binary's peak memory is far
    // below one flood, which reading it whole would take (twice, with the copy).
    let flooded = bench.flooded.load(Ordering::Relaxed);
    assert!(
        flooded < keys.len() as u64 * (FLOOD / 4),
        "{flooded} bytes streamed for {} connections",
        keys.len()
    );
    // A reading was taken (a running keywarden holds more than a MiB), so the bound means something.
    assert!(max_rss_kib > 1024, "no memory reading: {max_rss_kib} KiB");
    assert!(
        max_rss_kib < 200 * 1024,
        "peak RSS {max_rss_kib} KiB for {} connections",
        keys.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_huge_or_endless_reply_is_refused_and_a_slow_endless_one_times_out() {
    // one proxy (and simulator) per kind of flood, one exchange each
    let cases = [
        (
            "declared",
            ExchangeKind::Mexc,
            Some(2u64 << 30),
            true,
            false,
            CAP_WORDS,
        ),
        ("endless", ExchangeKind::Okx, None, false, false, CAP_WORDS),
        ("slow", ExchangeKind::Htx, None, false, true, "timed out"),
    ];
    let mut connections = String::new();
    let mut benches = Vec::new();
    for (name, exchange, len, declare_length, slow, _) in cases {
        let key = sim_key(exchange, &format!("flood-{name}"), Scenario::Valid);
        let bench = Bench::start(
            vec![key.clone()],
            Mode::Flood {
                len,
                declare_length,
                slow,
            },
        )
        .await;
        connections.push_str(&bench.connection(name, &key, None));
        benches.push(bench);
    }
    let started = Instant::now();
    let run = support::check_json(&check_config("3s", &connections)).await;
    let took = started.elapsed();

    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let lines = by_name(&run.stdout);
    for (name, _, _, _, _, words) in cases {
        let line = &lines[name];
        assert_eq!(line["status"], "exchange_unavailable", "{name}: {line}");
        let message = line["message"].as_str().unwrap();
        assert!(message.contains(words), "{name}: {message}");
    }
    // The slow body runs into check_timeout (3 s) rather than on for minutes; the bound here is
    // only "not unbounded", generous for a loaded machine.
    assert!(took < Duration::from_secs(60), "took {took:?}");
    for bench in &benches {
        assert!(bench.flooded.load(Ordering::Relaxed) < 64 << 20);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Redirects

/// A listener that only counts who connects and keeps what they send: the host a redirect
/// would hand the keys to.
struct Thief {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<u8>>>,
}

async fn start_thief() -> Thief {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let received = Arc::new(Mutex::new(Vec::new()));
    let (count, store) = (connections.clone(), received.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let store = store.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 16 * 1024];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer)).await
                {
                    store.lock().unwrap().extend_from_slice(&buffer[..n]);
                }
            });
        }
    });
    Thief {
        addr,
        connections,
        received,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_of_a_signed_request_is_not_followed_and_names_only_the_host() {
    let thief = start_thief().await;
    let keys = support::key_per_exchange("redirect", Scenario::Valid);
    let bench = Bench::start(
        keys.clone(),
        Mode::RedirectSigned {
            to: thief.addr,
            keys: keys.iter().map(|k| k.api_key.clone()).collect(),
        },
    )
    .await;
    let connections = bench.connection_per_exchange(&keys);
    let run = support::check_json(&check_config("10s", &connections)).await;

    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let lines = by_name(&run.stdout);
    assert_eq!(lines.len(), keys.len(), "{}", run.stdout);
    let target = format!("redirect to {}", thief.addr);
    for key in &keys {
        let name = key.exchange.to_string();
        let line = &lines[&name];
        assert_eq!(line["status"], "exchange_unavailable", "{name}: {line}");
        let message = line["message"].as_str().unwrap();
        assert!(message.contains(&target), "{name}: {message}");
        assert!(message.contains("302"), "{name}: {message}");
        // the host only: not the signed query the Location echoed, nor the key
        support::assert_absent(
            message,
            &["?", "signature", "Signature", "timestamp", &key.api_key],
            &format!("{name}'s message"),
        );
    }
    // give a follow-up connection (there must be none) time to arrive before looking
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        thief.connections.load(Ordering::SeqCst),
        0,
        "the redirect target received: {:?}",
        String::from_utf8_lossy(&thief.received.lock().unwrap())
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Control characters in the exchange's words

/// What the proxy appends to the exchange's error text: a screen clear, a window-title change,
/// a forged table row, a right-to-left override, and a tail past the message cap.
fn hostile_text() -> String {
    format!(
        " \u{1b}[2J\u{1b}]0;owned\u{7}FORGED\r\nROW\u{9b}31m \u{202E}evil {}",
        "x".repeat(3000)
    )
}

/// Appends [`hostile_text`] to every string of a reply that reads like words (has a space) or
/// sits in a message member: error messages, never codes, keys or permission names.
fn salt_words(json: &mut Value) {
    const MESSAGE_MEMBERS: [&str; 4] = ["msg", "message", "err-msg", "retMsg"];
    match json {
        Value::String(s) if s.contains(' ') => s.push_str(&hostile_text()),
        Value::Object(members) => {
            for (name, member) in members.iter_mut() {
                match member {
                    Value::String(s) if MESSAGE_MEMBERS.contains(&name.as_str()) => {
                        s.push_str(&hostile_text())
                    }
                    other => salt_words(other),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(salt_words),
        _ => {}
    }
}

/// No control character but the newlines that end lines.
fn assert_printable(what: &str, text: &str) {
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("{what}: control character {c:?} in:\n{text}");
    }
    assert!(
        !text.contains('\u{202E}'),
        "{what}: bidi override in:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_an_exchange_message_reach_no_output() {
    // A wrong secret: each exchange refuses the signature in its own words. Coinbase answers
    // that with a bare 401, so its key plays an error body with a message instead.
    let keys: Vec<SimKey> = ExchangeKind::ALL
        .into_iter()
        .map(|e| {
            let scenario = match e {
                ExchangeKind::Coinbase => Scenario::ErrorBody200,
                _ => Scenario::Valid,
            };
            sim_key(e, &format!("salted-{e}"), scenario)
        })
        .collect();
    let bench = Bench::start(
        keys.clone(),
        Mode::Rewrite(Box::new(|_, _, json| salt_words(json))),
    )
    .await;
    let connections: String = keys
        .iter()
        .map(|k| {
            let wrong = (k.exchange != ExchangeKind::Coinbase).then_some("not-the-secret-0123");
            bench.connection(&k.exchange.to_string(), k, wrong)
        })
        .collect();
    let scratch = Scratch::new();
    let config = scratch.write("keywarden.toml", &check_config("10s", &connections));
    let config = config.to_str().unwrap();

    let run = support::run(&["check", "--config", config, "--json"], &[]).await;
    assert_eq!(run.code, 1, "stderr:\n{}", run.stderr);
    let lines = by_name(&run.stdout);
    assert_eq!(lines.len(), keys.len());
    for (name, line) in &lines {
        let message = line["message"].as_str().unwrap();
        assert!(
            message.contains("FORGED") && message.contains("ROW"),
            "{name}: the exchange's words reach the message: {line}"
        );
        assert_printable(name, message);
        assert!(message.chars().count() <= 1000, "{name}: {message}");
    }

    let table = support::run(&["check", "--config", config], &[]).await;
    assert_eq!(table.code, 1, "{}", table.stderr);
    assert!(table.stdout.contains("FORGED"), "{}", table.stdout);
    assert_printable("table", &table.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_characters_in_an_exchange_message_reach_neither_the_store_nor_history() {
    let key = sim_key(ExchangeKind::Mexc, "salted-store", Scenario::Valid);
    let bench = Bench::start(
        vec![key.clone()],
        Mode::Rewrite(Box::new(|_, _, json| salt_words(json))),
    )
    .await;
    let scratch = Scratch::new();
    let config = support::every_second_config(
        &scratch,
        "5s",
        &bench.connection("salted", &key, Some("not-the-secret-0123456789")),
    );
    let config_arg = config.to_str().unwrap();
    let mut daemon = DaemonProcess::start(&config, scratch.path().join("daemon.log"));
    let spans = eventually(Duration::from_secs(30), "a recorded check", || async {
        support::spans(&config, "salted")
            .await
            .filter(|spans| !spans.is_empty())
    })
    .await;
    let message = spans[0]["message"].as_str().unwrap();
    assert!(message.contains("FORGED"), "{:?}", spans[0]);
    assert_printable("stored message", message);

    let table = support::run(&["history", "--config", config_arg, "salted"], &[]).await;
    assert_eq!(table.code, 0, "{}", table.stderr);
    assert!(table.stdout.contains("FORGED"), "{}", table.stdout);
    assert_printable("history table", &table.stdout);

    daemon.signal("TERM");
    let code = daemon.exit_within(Duration::from_secs(15)).await;
    let log = daemon.log();
    assert_eq!(code, Some(0), "{log}");
    assert_printable("daemon log", &log);
}
