//! Faults below HTTP: a connection reset before any answer, and a body that trickles in.
//!
//! A handler cannot reach its TCP socket, so these faults are played by the connection itself:
//! the simulator serves through [`SimListener`], whose [`SimIo`] wraps each accepted stream with
//! a fault switch. A handler answers with a response carrying a [`ConnectionFault`] extension;
//! the [`apply`] middleware flips the switch of the connection the request came on before hyper
//! writes a byte, and `SimIo` then refuses the write (reset) or meters it (drip). What the client
//! sees is what a real broken path gives: `ECONNRESET` with no HTTP answer, or a 200 whose body
//! never finishes.

use std::collections::HashMap;
use std::future::Future as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

/// Bytes a dripping connection lets through per [`DRIP_EVERY`], once the head is out.
pub const DRIP_BYTES: usize = 4;
/// How often a dripping connection lets [`DRIP_BYTES`] through: 8 bytes a second.
pub const DRIP_EVERY: Duration = Duration::from_millis(500);

/// What the connection a response goes out on must do; set as a response extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionFault {
    /// Send nothing and reset the connection (RST, not FIN: zero linger).
    Reset,
    /// Send the head at once, then the body [`DRIP_BYTES`] every [`DRIP_EVERY`].
    Drip,
}

const NORMAL: u8 = 0;
const RESET: u8 = 1;
const DRIP: u8 = 2;

/// The fault switches of the live connections, by peer address (unique while connected).
#[derive(Debug, Default)]
pub struct Connections {
    switches: Mutex<HashMap<SocketAddr, Arc<AtomicU8>>>,
}

impl Connections {
    fn register(&self, peer: SocketAddr) -> Arc<AtomicU8> {
        let switch = Arc::new(AtomicU8::new(NORMAL));
        self.lock().insert(peer, switch.clone());
        switch
    }

    fn forget(&self, peer: &SocketAddr) {
        self.lock().remove(peer);
    }

    fn set(&self, peer: &SocketAddr, fault: ConnectionFault) {
        if let Some(switch) = self.lock().get(peer) {
            let mode = match fault {
                ConnectionFault::Reset => RESET,
                ConnectionFault::Drip => DRIP,
            };
            switch.store(mode, Ordering::SeqCst);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Arc<AtomicU8>>> {
        // A panic elsewhere while holding this map cannot leave it inconsistent (single
        // inserts and removes), so a poisoned lock is still usable.
        self.switches.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Middleware: hands a response's [`ConnectionFault`] to the connection it goes out on. Requests
/// that did not come through [`SimListener`] (no `ConnectInfo`) are left alone.
pub async fn apply(
    State(connections): State<Arc<Connections>>,
    request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let response = next.run(request).await;
    if let (Some(peer), Some(fault)) = (peer, response.extensions().get::<ConnectionFault>()) {
        connections.set(&peer, *fault);
    }
    response
}

/// A TCP listener whose connections can be told to fail.
pub struct SimListener {
    listener: TcpListener,
    connections: Arc<Connections>,
}

impl SimListener {
    pub fn new(listener: TcpListener, connections: Arc<Connections>) -> SimListener {
        SimListener {
            listener,
            connections,
        }
    }
}

impl axum::serve::Listener for SimListener {
    type Io = SimIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (SimIo, SocketAddr) {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    let switch = self.connections.register(peer);
                    let io = SimIo {
                        stream,
                        peer,
                        switch,
                        connections: self.connections.clone(),
                        head_left: None,
                        next_drip: None,
                    };
                    return (io, peer);
                }
                // Out of file descriptors and the like: wait, as axum's own listener does.
                Err(e) => {
                    tracing::warn!(error = %e, "simulator accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

/// One accepted connection with its fault switch.
pub struct SimIo {
    stream: TcpStream,
    peer: SocketAddr,
    switch: Arc<AtomicU8>,
    connections: Arc<Connections>,
    /// While dripping: bytes of the response head still to send at full speed.
    head_left: Option<usize>,
    next_drip: Option<Pin<Box<Sleep>>>,
}

impl Drop for SimIo {
    fn drop(&mut self) {
        self.connections.forget(&self.peer);
    }
}

impl SimIo {
    fn reset(&mut self) -> io::Error {
        // Zero linger makes close() send RST instead of FIN, and it never blocks.
        let _ = self.stream.set_zero_linger();
        io::Error::new(io::ErrorKind::ConnectionReset, "simulated connection reset")
    }

    fn poll_drip(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        // hyper writes head and body as one flat buffer (no vectored writes here), so the first
        // write of the response holds the whole head: let it through, meter what follows.
        let head_left = *self.head_left.get_or_insert_with(|| {
            buf.windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(0, |end| end + 4)
        });
        if head_left > 0 {
            let n = std::task::ready!(
                Pin::new(&mut self.stream).poll_write(cx, &buf[..head_left.min(buf.len())])
            )?;
            self.head_left = Some(head_left - n);
            return Poll::Ready(Ok(n));
        }
        let sleep = self
            .next_drip
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(DRIP_EVERY)));
        std::task::ready!(sleep.as_mut().poll(cx));
        let n = std::task::ready!(
            Pin::new(&mut self.stream).poll_write(cx, &buf[..DRIP_BYTES.min(buf.len())])
        )?;
        self.next_drip = None;
        Poll::Ready(Ok(n))
    }
}

impl AsyncRead for SimIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.switch.load(Ordering::SeqCst) == RESET {
            return Poll::Ready(Err(self.reset()));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.switch.load(Ordering::SeqCst) {
            RESET => Poll::Ready(Err(self.reset())),
            DRIP => self.poll_drip(cx, buf),
            _ => Pin::new(&mut self.stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.switch.load(Ordering::SeqCst) == RESET {
            return Poll::Ready(Err(self.reset()));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-route app behind `SimListener` answering with `fault`.
    async fn serve(fault: Option<ConnectionFault>) -> SocketAddr {
        let connections = Arc::new(Connections::default());
        let app = axum::Router::new()
            .fallback(move || async move {
                let mut response = axum::response::IntoResponse::into_response("0123456789");
                if let Some(fault) = fault {
                    response.extensions_mut().insert(fault);
                }
                response
            })
            .layer(axum::middleware::from_fn_with_state(
                connections.clone(),
                apply,
            ));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = axum::serve::ListenerExt::tap_io(
            SimListener::new(listener, connections),
            |_: &mut SimIo| {},
        );
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        addr
    }

    async fn raw_get(addr: SocketAddr) -> (Vec<u8>, Option<io::ErrorKind>) {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 256];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => return (got, Some(e.kind())),
            }
        }
    }

    #[tokio::test]
    async fn a_normal_connection_answers_whole() {
        let (got, error) = raw_get(serve(None).await).await;
        assert!(got.starts_with(b"HTTP/1.1 200 OK"));
        assert!(got.ends_with(b"0123456789"));
        assert_eq!(error, None);
    }

    #[tokio::test]
    async fn a_reset_connection_sends_no_byte_and_resets() {
        let (got, error) = raw_get(serve(Some(ConnectionFault::Reset)).await).await;
        assert!(got.is_empty(), "no HTTP answer, got {got:?}");
        assert_eq!(error, Some(io::ErrorKind::ConnectionReset));
    }

    #[tokio::test]
    async fn a_dripping_connection_sends_the_head_then_a_few_bytes_a_tick() {
        let addr = serve(Some(ConnectionFault::Drip)).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let mut got = Vec::new();
        let mut chunk = [0u8; 256];
        while !got.ends_with(b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        assert!(got.starts_with(b"HTTP/1.1 200 OK"), "head at once");
        assert!(started.elapsed() < DRIP_EVERY, "the head is not metered");
        let n = stream.read(&mut chunk).await.unwrap();
        assert_eq!(
            &chunk[..n],
            b"0123",
            "the body comes {DRIP_BYTES} bytes a tick"
        );
        assert!(started.elapsed() >= DRIP_EVERY);
    }
}
