//! The platform's HTTP API (issue 14) on the real daemon: test keys, create, read, list, check,
//! replace and delete connections, survive a restart and a `kill -9` right after a `PUT` was
//! acknowledged, refuse what must be refused, and leak no secret into an answer, a log line or
//! a store file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use keywarden::domain::ExchangeKind;
use keywarden::sim::{RunningSim, Scenario, ScenarioFile, SimKey};
use serde_json::{json, Value};

use crate::botapi_sim::BotApiSim;
use crate::smtp_server::{self, SmtpServer};
use crate::support::{self, eventually, free_port, sim_key, DaemonProcess, Scratch};

const TOKEN: &str = "api-test-token-0123456789";
const STORE_KEY: &str = "8f3c1d2e4b5a69788f3c1d2e4b5a69788f3c1d2e4b5a69788f3c1d2e4b5a6978";
const OTHER_STORE_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";
const LONG: Duration = Duration::from_secs(30);

struct World {
    scratch: Scratch,
    sim: RunningSim,
    good: SimKey,
    withdraw: SimKey,
    kucoin: SimKey,
    file_key: SimKey,
    api: SocketAddr,
    metrics: SocketAddr,
    config: PathBuf,
    client: reqwest::Client,
    /// Every answer body seen, for the secret scan.
    seen: std::sync::Mutex<Vec<String>>,
}

impl World {
    async fn new() -> World {
        let good = sim_key(ExchangeKind::Mexc, "api-good", Scenario::FuturesMissing);
        let withdraw = sim_key(
            ExchangeKind::Mexc,
            "api-withdraw",
            Scenario::WithdrawEnabled,
        );
        let kucoin = sim_key(ExchangeKind::Kucoin, "api-kucoin", Scenario::FuturesMissing);
        let file_key = sim_key(ExchangeKind::Mexc, "api-file", Scenario::FuturesMissing);
        let sim = support::start_sim(ScenarioFile {
            keys: vec![
                good.clone(),
                withdraw.clone(),
                kucoin.clone(),
                file_key.clone(),
            ],
            ..ScenarioFile::default()
        })
        .await;
        let scratch = Scratch::new();
        let (api, metrics) = (free_port(), free_port());
        let world = World {
            config: PathBuf::new(),
            scratch,
            sim,
            good,
            withdraw,
            kucoin,
            file_key,
            api,
            metrics,
            // A connection per request: an answer given before a refused body was read (413)
            // closes its connection, and a pooled one would fail the next request.
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            seen: Default::default(),
        };
        let config = world.write_config(STORE_KEY, true);
        World { config, ..world }
    }

    /// The config: one file connection, and `[api]` with `store_key` (when `with_api`).
    fn write_config(&self, store_key: &str, with_api: bool) -> PathBuf {
        let mut text = format!(
            "[daemon]\nstate_dir = \"{}\"\nmetrics_listen = \"{}\"\nschedule = \"0 0 * * * *\"\n\n",
            self.scratch.path().join("state").display(),
            self.metrics
        );
        if with_api {
            text.push_str(&format!(
                "[api]\nlisten = \"{}\"\ntokens = [\"{TOKEN}\"]\nstore_key = \"{store_key}\"\n\n",
                self.api
            ));
        }
        text.push_str(&support::connection_toml(
            "file-conn",
            &self.file_key,
            &self.sim,
            &["spot"],
        ));
        self.scratch.write("keywarden.toml", &text)
    }

    fn start(&self, log: &str) -> DaemonProcess {
        DaemonProcess::start(&self.config, self.scratch.path().join(log))
    }

    /// Starts the daemon and waits for its API to answer.
    async fn start_serving(&self, log: &str) -> DaemonProcess {
        let daemon = self.start(log);
        self.up().await;
        daemon
    }

    /// Starts the daemon, which must refuse to start (exit 2) with a log naming each of `words`.
    async fn refused_start(&self, log: &str, words: &[&str]) {
        let mut daemon = self.start(log);
        let code = daemon.exit_within(LONG).await;
        let log = daemon.log();
        assert_eq!(code, Some(2), "{log}");
        support::assert_contains_all(&log, words);
    }

    async fn up(&self) {
        eventually(LONG, "the API answering", || async {
            let r = self
                .call("GET", "/api/v1/connections", None, Some(TOKEN))
                .await;
            (r.0 == 200).then_some(())
        })
        .await;
    }

    /// A request with `token` (none: no Authorization header); the status and body.
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        token: Option<&str>,
    ) -> (u16, String) {
        let url = format!("http://{}{path}", self.api);
        let mut request = self
            .client
            .request(method.parse().unwrap(), url)
            .timeout(LONG);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                self.seen.lock().unwrap().push(text.clone());
                (status, text)
            }
            Err(_) => (0, String::new()),
        }
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let (status, text) = self
            .call(method, path, body.map(|b| b.to_string()), Some(TOKEN))
            .await;
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, value)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.json("GET", path, None).await
    }

    /// `PUT /api/v1/connections/NAME`: create or replace.
    async fn put(&self, name: &str, body: Value) -> (u16, Value) {
        let path = format!("/api/v1/connections/{name}");
        self.json("PUT", &path, Some(body)).await
    }

    async fn delete(&self, name: &str) -> (u16, Value) {
        self.json("DELETE", &format!("/api/v1/connections/{name}"), None)
            .await
    }

    /// `POST /api/v1/test`: a check of the key in `body` that stores nothing.
    async fn test_key(&self, body: Value) -> (u16, Value) {
        self.json("POST", "/api/v1/test", Some(body)).await
    }

    /// `POST /api/v1/connections/NAME/check`: a check now.
    async fn check_now(&self, name: &str) -> (u16, Value) {
        let path = format!("/api/v1/connections/{name}/check");
        self.json("POST", &path, None).await
    }

    /// A `PUT` body for `key` pointed at the simulator.
    fn body(&self, key: &SimKey, extra: Value) -> Value {
        let mut body = json!({
            "exchange": key.exchange.to_string(),
            "api_key": key.api_key,
            "api_secret": key.api_secret,
            "base_url": self.sim.base_url(key.exchange),
            "markets": ["spot"],
        });
        if let Some(p) = &key.passphrase {
            body["passphrase"] = json!(p);
        }
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    }

    /// Every secret of the test keys, and their full API keys.
    fn secrets(&self) -> Vec<String> {
        let mut secrets = Vec::new();
        for key in [&self.good, &self.withdraw, &self.kucoin] {
            secrets.push(key.api_secret.clone());
            secrets.push(key.api_key.clone());
            secrets.extend(key.passphrase.clone());
        }
        secrets.push("wrong-secret-for-the-api-test".to_string());
        secrets
    }
}

/// The string `member` of each element of the JSON array `list`.
fn each_string<'a>(list: &'a Value, member: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|element| element[member].as_str().unwrap())
        .collect()
}

fn status_of(value: &Value) -> &str {
    value["status"].as_str().unwrap_or("")
}

fn error_code(value: &Value) -> &str {
    value["error"]["code"].as_str().unwrap_or("")
}

fn error_message(value: &Value) -> String {
    value["error"]["message"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_tests_keys_and_manages_connections_on_the_real_daemon() {
    let world = World::new().await;
    let mut daemon = world.start_serving("daemon-1.log").await;

    // "Test connection": a good key, one with withdraw rights, one with the wrong secret.
    let (status, verdict) = world.test_key(world.body(&world.good, json!({}))).await;
    assert_eq!(
        (status, status_of(&verdict)),
        (200, "connected"),
        "{verdict}"
    );
    assert_eq!(verdict["connection"], "test");
    for field in [
        "permissions",
        "ip_restricted",
        "expires_at",
        "warnings",
        "message",
        "remedy",
        "checked_at",
    ] {
        assert!(
            verdict.get(field).is_some(),
            "the check --json shape has {field}: {verdict}"
        );
    }
    let (_, verdict) = world.test_key(world.body(&world.withdraw, json!({}))).await;
    assert_eq!(status_of(&verdict), "withdraw_enabled", "{verdict}");
    let wrong = world.body(
        &world.good,
        json!({"api_secret": "wrong-secret-for-the-api-test"}),
    );
    let (_, verdict) = world.test_key(wrong).await;
    assert_eq!(status_of(&verdict), "invalid_key", "{verdict}");
    let (_, list) = world.get("/api/v1/connections").await;
    assert_eq!(list["total"], 1, "a test stores nothing: {list}");

    // Create: stored, checked at once, scheduled.
    let alice = world.body(
        &world.good,
        json!({"owner_email": "alice@example.com", "schedule": "*/2 * * * * *"}),
    );
    let (status, put) = world.put("alice", alice).await;
    assert_eq!(status, 201, "{put}");
    assert_eq!(put["created"], true);
    assert_eq!(
        status_of(&put["connection"]["verdict"]),
        "connected",
        "{put}"
    );
    let (status, shown) = world.get("/api/v1/connections/alice").await;
    assert_eq!((status, status_of(&shown)), (200, "connected"), "{shown}");
    assert_eq!(shown["source"], "api");
    assert_eq!(shown["owner_email"], "alice@example.com");
    assert!(
        shown["since"].is_string() && shown["last_checked"].is_string(),
        "{shown}"
    );
    assert_ne!(
        shown["api_key"],
        json!(world.good.api_key),
        "the key is masked"
    );
    // Scheduled like a file connection: its check count grows without being asked.
    eventually(LONG, "scheduled checks of alice", || async {
        let (_, h) = world.get("/api/v1/connections/alice/history").await;
        (h["spans"][0]["checks"].as_u64().unwrap_or(0) >= 3).then_some(())
    })
    .await;

    // List: paged, filtered by exchange and status.
    let bob = world.body(&world.kucoin, json!({}));
    let (status, _) = world.put("bob", bob).await;
    assert_eq!(status, 201);
    let (_, page) = world.get("/api/v1/connections?per_page=2&page=1").await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["connections"].as_array().map(Vec::len)
        ),
        (Some(3), Some(2)),
        "{page}"
    );
    let (_, page) = world.get("/api/v1/connections?per_page=2&page=2").await;
    assert_eq!(
        page["connections"][0]["name"], "file-conn",
        "name order across pages: {page}"
    );
    let (_, page) = world.get("/api/v1/connections?exchange=kucoin").await;
    assert_eq!(
        (
            page["total"].as_u64(),
            page["connections"][0]["name"].as_str()
        ),
        (Some(1), Some("bob")),
        "{page}"
    );
    let (status, page) = world.get("/api/v1/connections?status=nonsense").await;
    assert_eq!(
        (status, error_code(&page)),
        (400, "invalid_field"),
        "{page}"
    );
    assert!(error_message(&page).starts_with("status:"), "{page}");

    // Check now, then replace with a key that has withdraw rights.
    let (status, verdict) = world.check_now("alice").await;
    assert_eq!(
        (status, status_of(&verdict)),
        (200, "connected"),
        "{verdict}"
    );
    let replaced = world.body(&world.withdraw, json!({}));
    let (status, put) = world.put("alice", replaced).await;
    assert_eq!(
        (status, put["created"].as_bool()),
        (200, Some(false)),
        "{put}"
    );
    assert_eq!(status_of(&put["connection"]["verdict"]), "withdraw_enabled");
    let (_, page) = world
        .get("/api/v1/connections?status=withdraw_enabled")
        .await;
    assert_eq!(page["connections"][0]["name"], "alice", "{page}");
    let (_, history) = world.get("/api/v1/connections/alice/history").await;
    let statuses = each_string(&history["spans"], "status");
    assert_eq!(statuses, ["withdraw_enabled", "connected"], "{history}");
    // Its metrics are the file connections' metrics.
    let exposition = support::http_get(&format!("http://{}/metrics", world.metrics))
        .await
        .unwrap()
        .1;
    assert!(exposition.contains("connection=\"alice\""), "{exposition}");

    // The file's connections can be read, not changed.
    let (status, shown) = world.get("/api/v1/connections/file-conn").await;
    assert_eq!((status, shown["source"].as_str()), (200, Some("file")));
    let (status, refused) = world
        .put("file-conn", world.body(&world.good, json!({})))
        .await;
    assert_eq!(
        (status, error_code(&refused)),
        (409, "conflict"),
        "{refused}"
    );
    let (status, _) = world.delete("file-conn").await;
    assert_eq!(status, 409);

    // No token, a wrong token: 401, and nothing done.
    let carol = world.body(&world.good, json!({})).to_string();
    for token in [None, Some("wrong-token"), Some("")] {
        let (status, body) = world
            .call(
                "PUT",
                "/api/v1/connections/carol",
                Some(carol.clone()),
                token,
            )
            .await;
        assert_eq!(status, 401, "{token:?}: {body}");
        assert!(body.contains("\"unauthorized\""), "{body}");
        let (status, _) = world
            .call("DELETE", "/api/v1/connections/bob", None, token)
            .await;
        assert_eq!(status, 401);
        let (status, _) = world
            .call("POST", "/api/v1/test", Some(carol.clone()), token)
            .await;
        assert_eq!(status, 401);
    }
    let (status, _) = world.get("/api/v1/connections/carol").await;
    assert_eq!(status, 404, "a refused PUT stored nothing");
    let (status, _) = world.get("/api/v1/connections/bob").await;
    assert_eq!(status, 200, "a refused DELETE removed nothing");

    // Malformed JSON, unknown exchange, unknown field, invalid values, a secret by reference
    // (it would read the daemon's files), an oversized body: each refused, naming why.
    let good_with = |extra: Value| world.body(&world.good, extra).to_string();
    for (body, status, words) in [
        (
            "{\"exchange\": \"mexc\",".to_string(),
            400,
            &["malformed_json"][..],
        ),
        (
            good_with(json!({"exchange": "nasdaq"})),
            400,
            &["\"invalid_field\"", "exchange:"],
        ),
        (
            good_with(json!({"withdraw": true})),
            400,
            &["\"unknown_field\"", "withdraw"],
        ),
        (
            good_with(json!({"schedule": "every minute"})),
            400,
            &["schedule:"],
        ),
        (
            good_with(json!({"region": "eea"})),
            400,
            &["region: mexc has no region", "use one of global"],
        ),
        (
            good_with(json!({"api_secret": "file:/etc/passwd"})),
            400,
            &["api_secret:"],
        ),
        (
            good_with(json!({"owner_email": "x".repeat(70 * 1024)})),
            413,
            &["body_too_large"],
        ),
    ] {
        let (answered, text) = world
            .call("PUT", "/api/v1/connections/dave", Some(body), Some(TOKEN))
            .await;
        assert_eq!(answered, status, "{text}");
        support::assert_contains_all(&text, words);
    }
    let (status, _) = world.get("/api/v1/connections/dave").await;
    assert_eq!(status, 404, "no refused body stored anything");

    // Delete: no more checks, metrics gone, history kept.
    let (status, _) = world.delete("alice").await;
    assert_eq!(status, 204);
    let (status, gone) = world.get("/api/v1/connections/alice").await;
    assert_eq!((status, error_code(&gone)), (404, "not_found"));
    let (status, history) = world.get("/api/v1/connections/alice/history").await;
    assert_eq!(status, 200, "history is kept to retention: {history}");
    let exposition = support::http_get(&format!("http://{}/metrics", world.metrics))
        .await
        .unwrap()
        .1;
    assert!(!exposition.contains("connection=\"alice\""), "{exposition}");

    // kill -9 right after an acknowledged PUT: the connection is there after a restart, and
    // checked by its schedule.
    let erin = world.body(&world.good, json!({"schedule": "*/2 * * * * *"}));
    let (status, _) = world.put("erin", erin).await;
    assert_eq!(status, 201);
    // A reload (SIGHUP) keeps the API's connections beside the file's.
    daemon.signal("HUP");
    daemon.log_line("config reloaded", LONG, "the reload").await;
    let (_, page) = world.get("/api/v1/connections").await;
    assert_eq!(
        page["total"], 3,
        "bob, erin and file-conn after the reload: {page}"
    );
    let frank = world.body(&world.good, json!({}));
    let (status, _) = world.put("frank", frank).await;
    assert_eq!(status, 201);
    daemon.kill(LONG).await;
    let mut daemon = world.start_serving("daemon-2.log").await;
    let restarted = chrono::Utc::now();
    for name in ["bob", "erin", "frank"] {
        let (status, shown) = world.get(&format!("/api/v1/connections/{name}")).await;
        assert_eq!(
            (status, shown["source"].as_str()),
            (200, Some("api")),
            "{name}: {shown}"
        );
    }
    eventually(LONG, "erin checked after the restart", || async {
        let (_, shown) = world.get("/api/v1/connections/erin").await;
        let last: chrono::DateTime<chrono::Utc> = shown["last_checked"].as_str()?.parse().ok()?;
        (last > restarted && status_of(&shown) == "connected").then_some(())
    })
    .await;
    let (status, checked) = world.check_now("bob").await;
    assert_eq!(
        (status, status_of(&checked)),
        (200, "connected"),
        "{checked}"
    );
    daemon.terminate(LONG).await;

    // `keywarden check` and `history` read the API's connections from the store.
    let config = world.config.to_str().unwrap();
    let checked = support::run(&["check", "--config", config, "--json"], &[]).await;
    let names: Vec<String> = support::json_lines(&checked.stdout)
        .iter()
        .map(|v| format!("{}={}", v["connection"].as_str().unwrap(), status_of(v)))
        .collect();
    assert_eq!(
        names,
        [
            "bob=connected",
            "erin=connected",
            "file-conn=connected",
            "frank=connected"
        ],
        "{}",
        checked.stderr
    );
    let history = support::history_json(&world.config, "erin", &[]).await;
    assert_eq!(history.code, 0, "{}", history.stderr);
    assert!(
        history.stdout.contains("\"connected\""),
        "{}",
        history.stdout
    );
    for output in [
        &checked.stdout,
        &checked.stderr,
        &history.stdout,
        &history.stderr,
    ] {
        world.seen.lock().unwrap().push(output.to_string());
    }

    // The scan: no secret of any test key in an answer, a log line or a store file.
    let mut logs = String::new();
    for log in ["daemon-1.log", "daemon-2.log"] {
        logs.push_str(&std::fs::read_to_string(world.scratch.path().join(log)).unwrap());
    }
    let answers = world.seen.lock().unwrap().join("\n");
    let mut store = Vec::new();
    for entry in walk(&world.scratch.path().join("state")) {
        store.extend(std::fs::read(entry).unwrap());
    }
    assert!(!store.is_empty());
    for secret in world.secrets() {
        assert!(!answers.contains(&secret), "an answer shows {secret}");
        assert!(!logs.contains(&secret), "the log shows {secret}");
        assert!(
            !store.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a store file holds {secret}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_or_missing_store_key_stops_start_up_naming_it() {
    let world = World::new().await;
    let mut daemon = world.start_serving("first.log").await;
    let (status, _) = world.put("alice", world.body(&world.good, json!({}))).await;
    assert_eq!(status, 201);
    daemon.terminate(LONG).await;

    world.write_config(OTHER_STORE_KEY, true);
    world
        .refused_start("wrong.log", &["\"alice\"", "api.store_key"])
        .await;

    world.write_config(STORE_KEY, false);
    world
        .refused_start("missing.log", &["api.store_key", "1 connection(s)"])
        .await;

    // The right key again: nothing was lost.
    world.write_config(STORE_KEY, true);
    let mut daemon = world.start_serving("again.log").await;
    let (status, _) = world.get("/api/v1/connections/alice").await;
    assert_eq!(status, 200);
    daemon.terminate(LONG).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_endpoint() {
    let world = World::new().await;
    let mut daemon = world.start_serving("daemon.log").await;
    let (status, _) = world.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, 401);
    let (status, doc) = world.get("/api/v1/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");
    for (path, method) in [
        ("/api/v1/test", "post"),
        ("/api/v1/connections", "get"),
        ("/api/v1/connections/{name}", "put"),
        ("/api/v1/connections/{name}", "get"),
        ("/api/v1/connections/{name}", "delete"),
        ("/api/v1/connections/{name}/history", "get"),
        ("/api/v1/connections/{name}/check", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let assert_described = |schema: &str, fields: &[&str]| {
        for field in fields {
            assert!(
                schemas[schema]["properties"][field].is_object(),
                "{schema}'s {field}: {}",
                schemas[schema]
            );
        }
    };
    // The PUT body.
    assert_described(
        "RawConnection",
        &[
            "api_key",
            "api_secret",
            "owner_email",
            "schedule",
            "alerts",
            "region",
        ],
    );
    // The webhook channel's body (issue 15) is described beside the API it belongs with.
    assert_described(
        "WebhookEvent",
        &[
            "version",
            "id",
            "kind",
            "connection",
            "masked_key",
            "status",
            "previous_status",
            "remedy",
            "since",
            "checked_at",
        ],
    );
    daemon.terminate(LONG).await;
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_listens_on_a_unix_socket() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let scratch = Scratch::new();
    let socket = scratch.path().join("api.sock");
    let config = scratch.write(
        "keywarden.toml",
        &format!(
            "[daemon]\nstate_dir = \"{}\"\nmetrics_listen = \"{}\"\n\n[api]\nlisten = \"unix:{}\"\ntokens = [\"{TOKEN}\"]\nstore_key = \"{STORE_KEY}\"\n",
            scratch.path().join("state").display(),
            free_port(),
            socket.display()
        ),
    );
    let mut daemon = DaemonProcess::start(&config, scratch.path().join("daemon.log"));
    let ask = |token: &'static str| {
        let socket = socket.clone();
        async move {
            let mut stream = tokio::net::UnixStream::connect(&socket).await.ok()?;
            let request = format!(
                "GET /api/v1/connections HTTP/1.1\r\nHost: keywarden\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(request.as_bytes()).await.ok()?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await.ok()?;
            Some(answer)
        }
    };
    let answer = eventually(LONG, "the API on its socket", || ask(TOKEN)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"total\":0"), "{answer}");
    let refused = ask("wrong").await.unwrap();
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    daemon.terminate(LONG).await;
}

/// An API connection alerts like a file connection: the operators' channels and its owner's
/// email, and the bot's `/status` and `/check` know it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_connection_alerts_its_owner_and_answers_the_bot() {
    const BOT_TOKEN: &str = "123456:api-test-bot-token";
    const CHAT: i64 = -1001;
    let world = World::new().await;
    let bot = BotApiSim::start(BOT_TOKEN).await;
    let smtp = SmtpServer::start(smtp_server::Behaviour::Accept).await;
    let text = format!(
        "[daemon]\nstate_dir = \"{}\"\nmetrics_listen = \"{}\"\nschedule = \"0 0 0 1 1 *\"\n\n\
         [alerts]\n[alerts.telegram]\nbot_token = \"env:TELEGRAM_TOKEN\"\nchat_ids = [{CHAT}]\napi_url = \"{}\"\n\n\
         [alerts.email]\nsmtp_url = \"{}\"\nfrom = \"keywarden@example.com\"\nto = [\"ops@example.com\"]\n\n\
         [api]\nlisten = \"{}\"\ntokens = [\"{TOKEN}\"]\nstore_key = \"{STORE_KEY}\"\n",
        world.scratch.path().join("state").display(),
        world.metrics,
        bot.url(),
        smtp.url(),
        world.api
    );
    let config = world.scratch.write("keywarden.toml", &text);
    let mut daemon = DaemonProcess::start_with_env(
        &config,
        world.scratch.path().join("daemon.log"),
        &[("TELEGRAM_TOKEN", BOT_TOKEN)],
    );
    world.up().await;
    let carol = world.body(&world.withdraw, json!({"owner_email": "carol@example.com"}));
    let (status, put) = world.put("carol", carol).await;
    assert_eq!(status, 201, "{put}");
    let owner_mail = eventually(LONG, "the owner's email", || async {
        smtp.messages()
            .into_iter()
            .find(|m| m.recipients == ["carol@example.com"])
    })
    .await;
    assert!(owner_mail.data.contains("carol"), "{}", owner_mail.data);
    eventually(LONG, "the operators' email and Telegram alert", || async {
        let mailed = smtp
            .messages()
            .iter()
            .any(|m| m.recipients == ["ops@example.com"] && m.data.contains("carol"));
        let told = bot.delivered().iter().any(|m| m.text.contains("carol"));
        (mailed && told).then_some(())
    })
    .await;

    let before = bot.delivered().len();
    bot.push_update(CHAT, "/status");
    let status = eventually(LONG, "the answer to /status", || async {
        bot.delivered()
            .into_iter()
            .skip(before)
            .find(|m| m.text.contains("carol"))
    })
    .await;
    assert!(status.text.contains("withdraw"), "{}", status.text);
    let before = bot.delivered().len();
    bot.push_update(CHAT, "/check carol");
    let checked = eventually(LONG, "the answer to /check carol", || async {
        bot.delivered().into_iter().nth(before)
    })
    .await;
    assert!(checked.text.contains("carol"), "{}", checked.text);
    daemon.terminate(LONG).await;
}

/// PUTs and DELETEs that arrive together share one flush and one rebuild of the running set;
/// none of them is lost, and the last write of a name wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_puts_and_deletes_all_take_effect() {
    let world = World::new().await;
    let mut daemon = world.start_serving("daemon.log").await;
    let puts = (0..24).map(|i| {
        let body = world.body(&world.good, json!({}));
        let world = &world;
        async move { world.put(&format!("c{i:02}"), body).await.0 }
    });
    let statuses = futures_util::future::join_all(puts).await;
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
    let deletes = (0..24).step_by(2).map(|i| {
        let world = &world;
        async move { world.delete(&format!("c{i:02}")).await.0 }
    });
    let statuses = futures_util::future::join_all(deletes).await;
    assert!(statuses.iter().all(|s| *s == 204), "{statuses:?}");
    let (_, page) = world.get("/api/v1/connections").await;
    let names = each_string(&page["connections"], "name");
    let expected: Vec<String> = (1..24)
        .step_by(2)
        .map(|i| format!("c{i:02}"))
        .chain(["file-conn".to_string()])
        .collect();
    assert_eq!(names, expected);
    // What runs is what is stored: the same set after a restart.
    daemon.terminate(LONG).await;
    let mut daemon = world.start_serving("daemon-2.log").await;
    let (_, page) = world.get("/api/v1/connections").await;
    assert_eq!(page["total"], expected.len(), "{page}");
    daemon.terminate(LONG).await;
}
