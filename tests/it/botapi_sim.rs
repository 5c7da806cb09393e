//! A small Telegram Bot API on loopback, enough for teloxide: `getMe`, `sendMessage` (recorded,
//! with switchable failures) and `getUpdates` (long polling over a queue the test fills).
//! It checks the token in the path the way Telegram does (`/bot<token>/<method>`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

/// The username `getMe` reports.
pub const BOT_USERNAME: &str = "KeyWardenBot";

/// How `sendMessage` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Ok,
    /// 429 with `parameters.retry_after = 1`.
    RateLimited,
    /// 500 Internal Server Error.
    ServerError,
    /// Never answers.
    Hang,
    /// 400 Bad Request: chat not found.
    ChatNotFound,
}

/// One `sendMessage` call as the simulator saw it.
#[derive(Debug, Clone)]
pub struct SentMessage {
    pub chat_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    /// Whether the simulator answered `ok` (the behaviour was [`Behaviour::Ok`]).
    pub accepted: bool,
}

struct Inner {
    behaviour: Behaviour,
    sent: Vec<SentMessage>,
    /// Queued updates (id, JSON), dropped once a `getUpdates` offset confirms them.
    updates: Vec<(i64, Value)>,
    next_update: i64,
    calls: Vec<String>,
}

struct Shared {
    token: String,
    inner: Mutex<Inner>,
    news: Notify,
}

/// A running simulator; stops when dropped.
pub struct BotApiSim {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for BotApiSim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl BotApiSim {
    /// Starts a simulator on a free loopback port that accepts `token` only.
    pub async fn start(token: &str) -> BotApiSim {
        let shared = Arc::new(Shared {
            token: token.to_string(),
            inner: Mutex::new(Inner {
                behaviour: Behaviour::Ok,
                sent: Vec::new(),
                updates: Vec::new(),
                next_update: 1,
                calls: Vec::new(),
            }),
            news: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", post(method).get(method))
            .fallback(|| async { error(404, "Not Found") })
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("bot api sim serves");
        });
        BotApiSim {
            url: format!("http://{addr}/"),
            shared,
            server,
        }
    }

    /// The `api_url` to configure.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.shared.inner.lock().unwrap().behaviour = behaviour;
    }

    /// Every `sendMessage` call so far, in order.
    pub fn sent(&self) -> Vec<SentMessage> {
        self.shared.inner.lock().unwrap().sent.clone()
    }

    /// The `sendMessage` calls that were answered `ok`.
    pub fn delivered(&self) -> Vec<SentMessage> {
        self.sent().into_iter().filter(|m| m.accepted).collect()
    }

    /// How many times `method` was called (with the right token; any letter case).
    pub fn calls(&self, method: &str) -> usize {
        let method = method.to_ascii_lowercase();
        let inner = self.shared.inner.lock().unwrap();
        inner.calls.iter().filter(|m| **m == method).count()
    }

    /// Queues a text message from `chat_id` for `getUpdates`, sent by user 4242.
    pub fn push_update(&self, chat_id: i64, text: &str) {
        self.push_update_from(chat_id, 4242, text);
    }

    /// Queues a text message from user `user_id` in `chat_id` for `getUpdates`.
    pub fn push_update_from(&self, chat_id: i64, user_id: i64, text: &str) {
        {
            let mut inner = self.shared.inner.lock().unwrap();
            let id = inner.next_update;
            inner.next_update += 1;
            let update = json!({
                "update_id": id,
                "message": {
                    "message_id": id,
                    "date": 1_714_564_800,
                    "chat": chat(chat_id),
                    "from": {"id": user_id, "is_bot": false, "first_name": "Operator"},
                    "text": text,
                }
            });
            inner.updates.push((id, update));
        }
        self.shared.news.notify_waiters();
    }
}

fn chat(chat_id: i64) -> Value {
    if chat_id < 0 {
        json!({"id": chat_id, "type": "supergroup", "title": "ops"})
    } else {
        json!({"id": chat_id, "type": "private", "first_name": "Operator"})
    }
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(code: u16, description: &str) -> Response {
    answer(
        StatusCode::from_u16(code).unwrap(),
        json!({"ok": false, "error_code": code, "description": description}),
    )
}

async fn method(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if bot.strip_prefix("bot") != Some(shared.token.as_str()) {
        return error(401, "Unauthorized");
    }
    let params: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return error(400, "Bad Request: can't parse JSON"),
        }
    };
    // Method names are case-insensitive in the Bot API (teloxide sends `SendMessage`).
    let method = method.to_ascii_lowercase();
    shared.inner.lock().unwrap().calls.push(method.clone());
    match method.as_str() {
        "getme" => answer(
            StatusCode::OK,
            json!({"ok": true, "result": {
                "id": 777, "is_bot": true, "first_name": "KeyWarden", "username": BOT_USERNAME,
                "can_join_groups": true, "can_read_all_group_messages": false,
                "supports_inline_queries": false, "can_connect_to_business": false,
                "has_main_web_app": false
            }}),
        ),
        "sendmessage" => send_message(&shared, &params).await,
        "getupdates" => get_updates(&shared, &params).await,
        _ => error(404, "Not Found"),
    }
}

async fn send_message(shared: &Shared, params: &Value) -> Response {
    let chat_id = match &params["chat_id"] {
        Value::Number(n) => n.as_i64().unwrap_or_default(),
        Value::String(s) => s.parse().unwrap_or_default(),
        _ => return error(400, "Bad Request: chat_id is empty"),
    };
    let text = params["text"].as_str().unwrap_or_default().to_string();
    let parse_mode = params["parse_mode"].as_str().map(str::to_string);
    let behaviour = {
        let mut inner = shared.inner.lock().unwrap();
        let behaviour = inner.behaviour;
        inner.sent.push(SentMessage {
            chat_id,
            text: text.clone(),
            parse_mode,
            accepted: behaviour == Behaviour::Ok,
        });
        behaviour
    };
    match behaviour {
        Behaviour::Ok => {
            if text.encode_utf16().count() > 4096 {
                return error(400, "Bad Request: message is too long");
            }
            answer(
                StatusCode::OK,
                json!({"ok": true, "result": {
                    "message_id": 1, "date": 1_714_564_800, "chat": chat(chat_id),
                    "from": {"id": 777, "is_bot": true, "first_name": "KeyWarden",
                             "username": BOT_USERNAME},
                    "text": text
                }}),
            )
        }
        Behaviour::RateLimited => answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"ok": false, "error_code": 429,
                   "description": "Too Many Requests: retry after 1",
                   "parameters": {"retry_after": 1}}),
        ),
        Behaviour::ServerError => error(500, "Internal Server Error"),
        Behaviour::Hang => std::future::pending().await,
        Behaviour::ChatNotFound => error(400, "Bad Request: chat not found"),
    }
}

async fn get_updates(shared: &Shared, params: &Value) -> Response {
    let offset = params["offset"].as_i64().unwrap_or(0);
    let wait = Duration::from_secs(params["timeout"].as_u64().unwrap_or(0).min(30));
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let news = shared.news.notified();
        tokio::pin!(news);
        news.as_mut().enable();
        let ready: Vec<Value> = {
            let mut inner = shared.inner.lock().unwrap();
            inner.updates.retain(|(id, _)| *id >= offset);
            inner.updates.iter().map(|(_, u)| u.clone()).collect()
        };
        if !ready.is_empty() || tokio::time::Instant::now() >= deadline {
            return answer(StatusCode::OK, json!({"ok": true, "result": ready}));
        }
        let _ = tokio::time::timeout_at(deadline, news).await;
    }
}
