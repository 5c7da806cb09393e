//! A webhook receiver on loopback: records every POST (headers, body, what it answered) and
//! answers as the test says. It can go down for real (listener closed, open connections cut,
//! so the daemon sees refused connections) and come back on the same port.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

/// How the receiver answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// 200 OK.
    Accept,
    /// This status, with `Retry-After: 1` when it is 429.
    Answer(u16),
}

/// One POST as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Every header, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// What the receiver answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON: {:?}: {e}", String::from_utf8_lossy(&self.body)))
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.answered)
    }
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    received: Mutex<Vec<Received>>,
}

/// A running receiver; stops when dropped.
pub struct WebhookReceiver {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    /// The accept loop; it owns every connection's task, so aborting it cuts them all.
    server: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port, accepting everything.
    pub async fn start() -> WebhookReceiver {
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour::Accept),
            received: Mutex::new(Vec::new()),
        });
        let listener = bind("127.0.0.1:0".parse().unwrap());
        let addr = listener.local_addr().unwrap();
        let server = Some(serve(listener, shared.clone()));
        WebhookReceiver {
            addr,
            shared,
            server,
        }
    }

    /// The URL to configure (path `/keywarden`).
    pub fn url(&self) -> String {
        format!("http://{}/keywarden", self.addr)
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().unwrap() = behaviour;
    }

    /// Closes the port and cuts open connections: the daemon's POSTs are refused.
    pub async fn go_down(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port.
    pub fn come_back(&mut self) {
        assert!(self.server.is_none(), "the receiver is up");
        let listener = bind(self.addr);
        self.server = Some(serve(listener, self.shared.clone()));
    }

    /// Every POST so far, in order.
    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// The POSTs answered 2xx, in order.
    pub fn accepted(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.accepted())
            .collect()
    }
}

/// A listener on `addr` that may take a port just released (SO_REUSEADDR).
fn bind(addr: std::net::SocketAddr) -> tokio::net::TcpListener {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket.bind(addr).expect("bind loopback");
    socket.listen(64).expect("listen")
}

fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let app = Router::new().fallback(receive).with_state(shared);
    tokio::spawn(async move {
        // Dropped with this task when it is aborted: every connection is cut with it.
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let service = hyper_util::service::TowerToHyperService::new(app.clone());
            connections.spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    })
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let behaviour = *shared.behaviour.lock().unwrap();
    let status = match behaviour {
        Behaviour::Accept => 200,
        Behaviour::Answer(status) => status,
    };
    shared.received.lock().unwrap().push(Received {
        path: uri.path().to_string(),
        headers: headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        answered: status,
    });
    let code = StatusCode::from_u16(status).unwrap();
    match status {
        429 => (code, [("retry-after", "1")], "slow down").into_response(),
        _ => (code, format!("answered {status}")).into_response(),
    }
}
