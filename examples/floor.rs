//! The benchmark's floor: the same signed requests KeyWarden makes for a key check, made by the
//! leanest client we can write. No classification, no store, no metrics, no config layer: read the
//! scenario file, sign, send, count HTTP 200s.
//!
//! ```sh
//! cargo run --release --example floor -- SCENARIOS.toml http://127.0.0.1:PORT N [CONCURRENCY]
//! ```
//!
//! MEXC: `GET /api/v3/time`, signed `GET /api/v3/account`, signed `GET /api/v3/apiKeyInfo`.
//! KuCoin: `GET /api/v1/timestamp`, `GET /api/v1/status`, signed `GET /api/v1/user/api-key`,
//! signed `GET /api/v1/accounts`. Prints one JSON line: checks, ok, failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

#[derive(Deserialize)]
struct File {
    keys: Vec<Key>,
}

#[derive(Deserialize)]
struct Key {
    exchange: String,
    api_key: String,
    api_secret: String,
    passphrase: Option<String>,
}

fn mac(secret: &str, msg: &str) -> [u8; 32] {
    let mut m = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    m.update(msg.as_bytes());
    m.finalize().into_bytes().into()
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis()
}

async fn ok(request: reqwest::RequestBuilder) -> bool {
    match request.send().await {
        // read the whole body, as any client must to reuse the connection
        Ok(r) => r.status() == 200 && r.bytes().await.is_ok(),
        Err(_) => false,
    }
}

async fn mexc(http: &reqwest::Client, base: &str, key: &Key) -> bool {
    if !ok(http.get(format!("{base}/mexc/api/v3/time"))).await {
        return false;
    }
    for (path, params) in [
        ("account", String::new()),
        ("apiKeyInfo", format!("accessKey={}&", key.api_key)),
    ] {
        let query = format!("{params}timestamp={}&recvWindow=5000", now_ms());
        let signature = hex::encode(mac(&key.api_secret, &query));
        let url = format!("{base}/mexc/api/v3/{path}?{query}&signature={signature}");
        if !ok(http.get(url).header("X-MEXC-APIKEY", &key.api_key)).await {
            return false;
        }
    }
    true
}

async fn kucoin(http: &reqwest::Client, base: &str, key: &Key) -> bool {
    for path in ["/api/v1/timestamp", "/api/v1/status"] {
        if !ok(http.get(format!("{base}/kucoin{path}"))).await {
            return false;
        }
    }
    let passphrase = BASE64.encode(mac(
        &key.api_secret,
        key.passphrase.as_deref().unwrap_or(""),
    ));
    for path in ["/api/v1/user/api-key", "/api/v1/accounts"] {
        let ts = now_ms().to_string();
        let sign = BASE64.encode(mac(&key.api_secret, &format!("{ts}GET{path}")));
        let request = http
            .get(format!("{base}/kucoin{path}"))
            .header("KC-API-KEY", &key.api_key)
            .header("KC-API-SIGN", sign)
            .header("KC-API-TIMESTAMP", ts)
            .header("KC-API-PASSPHRASE", &passphrase)
            .header("KC-API-KEY-VERSION", "2");
        if !ok(request).await {
            return false;
        }
    }
    true
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        eprintln!("usage: floor SCENARIOS.toml SIM_BASE_URL N [CONCURRENCY]");
        std::process::exit(2);
    }
    let text = std::fs::read_to_string(&args[1]).expect("read the scenario file");
    let mut file: File = toml::from_str(&text).expect("parse the scenario file");
    let n: usize = args[3].parse().expect("N is a number");
    let concurrency: usize = args.get(4).map_or(64, |c| c.parse().expect("a number"));
    file.keys.truncate(n);
    let keys = Arc::new(file.keys);
    let base: Arc<str> = args[2].trim_end_matches('/').into();
    let http = reqwest::Client::new();

    // `concurrency` workers pull the next key from a shared index: no per-key task, no queue.
    let next = Arc::new(AtomicUsize::new(0));
    let passed = Arc::new(AtomicUsize::new(0));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (keys, base, http) = (keys.clone(), base.clone(), http.clone());
        let (next, passed) = (next.clone(), passed.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(key) = keys.get(i) else { break };
                let good = match key.exchange.as_str() {
                    "mexc" => mexc(&http, &base, key).await,
                    "kucoin" => kucoin(&http, &base, key).await,
                    _ => false,
                };
                if good {
                    passed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let ok = passed.load(Ordering::Relaxed);
    println!(
        "{{\"tool\":\"floor\",\"checks\":{},\"ok\":{ok},\"failed\":{}}}",
        keys.len(),
        keys.len() - ok
    );
    std::process::exit(if ok == keys.len() { 0 } else { 1 });
}
