//! A small real SMTP server on loopback for the email tests: it speaks the protocol over TCP
//! (greeting, EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP,
//! QUIT), records every accepted message and every AUTH, and can be switched to fail the way
//! real relays fail.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

/// How the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Accepts everything.
    Accept,
    /// `451 4.3.0 try again later` to DATA.
    TransientOnData,
    /// `451 4.3.0 try again later` to RCPT.
    TransientOnRcpt,
    /// `550 5.1.1 no such user` to RCPT.
    PermanentOnRcpt,
    /// `535 5.7.8` to AUTH, echoing the credentials it was sent (a careless relay).
    RejectAuthEchoing,
    /// `554 5.7.1` at the end of DATA for a message containing this text (a content filter);
    /// other messages are accepted. Refused messages are recorded apart ([`SmtpServer::refused`]).
    RejectDataContaining(&'static str),
    /// Accepts the TCP connection and never says a word.
    Silent,
    /// Not listening: connections are refused.
    Closed,
}

/// One AUTH exchange the server saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRecord {
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The MAIL FROM address, without angle brackets.
    pub from: String,
    /// The RCPT TO addresses.
    pub recipients: Vec<String>,
    /// The message as transmitted, dot-unstuffed, lines joined with CRLF.
    pub data: String,
}

#[derive(Default)]
struct Log {
    messages: Vec<Received>,
    refused: Vec<Received>,
    auths: Vec<AuthRecord>,
    /// Every command line received, for debugging a failing test.
    commands: Vec<String>,
}

/// A running server; stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    behaviour: watch::Sender<Behaviour>,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    /// Starts a server on a free loopback port.
    pub async fn start(behaviour: Behaviour) -> SmtpServer {
        let listener = bind("127.0.0.1:0".parse().unwrap()).expect("bind SMTP server");
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = watch::channel(behaviour);
        let log = Arc::new(Mutex::new(Log::default()));
        let task = tokio::spawn(accept_loop(listener, addr, rx, Arc::clone(&log)));
        SmtpServer {
            addr,
            behaviour: tx,
            log,
            task,
        }
    }

    /// `smtp://127.0.0.1:PORT`: plain SMTP, lettre's form for a loopback relay.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.behaviour.send_replace(behaviour);
    }

    pub fn messages(&self) -> Vec<Received> {
        self.log.lock().unwrap().messages.clone()
    }

    /// Messages refused by [`Behaviour::RejectDataContaining`], in order.
    pub fn refused(&self) -> Vec<Received> {
        self.log.lock().unwrap().refused.clone()
    }

    pub fn auths(&self) -> Vec<AuthRecord> {
        self.log.lock().unwrap().auths.clone()
    }

    pub fn commands(&self) -> Vec<String> {
        self.log.lock().unwrap().commands.clone()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

/// Accepts connections while the behaviour is not [`Behaviour::Closed`]; while it is, the
/// listener is dropped (so the kernel refuses connections) and bound again afterwards.
async fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    mut behaviour: watch::Receiver<Behaviour>,
    log: Arc<Mutex<Log>>,
) {
    let mut listener = Some(listener);
    loop {
        let closed = *behaviour.borrow_and_update() == Behaviour::Closed;
        if closed {
            listener = None;
            if behaviour.changed().await.is_err() {
                return;
            }
            continue;
        }
        let current = match listener.take() {
            Some(l) => l,
            None => bind(addr).expect("bind the SMTP server's port again"),
        };
        tokio::select! {
            accepted = current.accept() => {
                if let Ok((stream, _)) = accepted {
                    tokio::spawn(session(stream, behaviour.clone(), Arc::clone(&log)));
                }
            }
            changed = behaviour.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        // Either way the top of the loop re-reads the behaviour (and closes if told to).
        listener = Some(current);
    }
}

struct Conn {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Conn {
    /// One line without its CRLF; `None` at end of stream.
    async fn line(&mut self) -> Option<String> {
        let mut buf = Vec::new();
        match self.reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                Some(String::from_utf8_lossy(&buf).into_owned())
            }
        }
    }

    async fn reply(&mut self, text: &str) -> bool {
        self.writer
            .write_all(format!("{text}\r\n").as_bytes())
            .await
            .is_ok()
    }
}

fn b64_decode(text: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// The address inside `FROM:<a@b> SIZE=1` or `TO:<a@b>`.
fn path_of(argument: &str) -> Option<String> {
    let start = argument.find('<')?;
    let end = argument[start..].find('>')? + start;
    Some(argument[start + 1..end].to_string())
}

async fn session(stream: TcpStream, behaviour: watch::Receiver<Behaviour>, log: Arc<Mutex<Log>>) {
    let (read, writer) = stream.into_split();
    let mut conn = Conn {
        reader: BufReader::new(read),
        writer,
    };
    if *behaviour.borrow() == Behaviour::Silent {
        // Hold the connection open, say nothing, until the client gives up.
        while conn.line().await.is_some() {}
        return;
    }
    if !conn.reply("220 keywarden-test ESMTP ready").await {
        return;
    }
    let mut greeted = false;
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    while let Some(line) = conn.line().await {
        log.lock().unwrap().commands.push(line.clone());
        let mode = *behaviour.borrow();
        if mode == Behaviour::Closed {
            // The server went down: open connections die with it (a pooled client notices).
            return;
        }
        let (verb, argument) = match line.split_once(' ') {
            Some((v, a)) => (v.to_ascii_uppercase(), a.trim().to_string()),
            None => (line.trim().to_ascii_uppercase(), String::new()),
        };
        let ok = match verb.as_str() {
            "EHLO" => {
                greeted = true;
                conn.reply("250-keywarden-test greets you\r\n250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n250 SIZE 10485760")
                    .await
            }
            "HELO" => {
                greeted = true;
                conn.reply("250 keywarden-test").await
            }
            "AUTH" if !greeted => conn.reply("503 5.5.1 EHLO first").await,
            "AUTH" => {
                let (mechanism, initial) = match argument.split_once(' ') {
                    Some((m, i)) => (m.to_ascii_uppercase(), Some(i.to_string())),
                    None => (argument.to_ascii_uppercase(), None),
                };
                let record = match mechanism.as_str() {
                    "PLAIN" => {
                        let blob = match initial {
                            Some(i) => i,
                            None => {
                                conn.reply("334 ").await;
                                conn.line().await.unwrap_or_default()
                            }
                        };
                        let decoded = b64_decode(&blob);
                        let mut parts = decoded.split('\0').skip(1);
                        Some(AuthRecord {
                            mechanism,
                            username: parts.next().unwrap_or_default().to_string(),
                            password: parts.next().unwrap_or_default().to_string(),
                        })
                    }
                    "LOGIN" => {
                        let username = match initial {
                            Some(i) => b64_decode(&i),
                            None => {
                                conn.reply("334 VXNlcm5hbWU6").await;
                                b64_decode(&conn.line().await.unwrap_or_default())
                            }
                        };
                        conn.reply("334 UGFzc3dvcmQ6").await;
                        let password = b64_decode(&conn.line().await.unwrap_or_default());
                        Some(AuthRecord {
                            mechanism,
                            username,
                            password,
                        })
                    }
                    _ => None,
                };
                match record {
                    None => {
                        conn.reply("504 5.5.4 unrecognised authentication type")
                            .await
                    }
                    Some(record) => {
                        let echo = format!("{}/{}", record.username, record.password);
                        log.lock().unwrap().auths.push(record);
                        if mode == Behaviour::RejectAuthEchoing {
                            conn.reply(&format!("535 5.7.8 authentication failed for {echo}"))
                                .await
                        } else {
                            conn.reply("235 2.7.0 authentication successful").await
                        }
                    }
                }
            }
            "MAIL" => match path_of(&argument) {
                Some(path) if greeted => {
                    from = Some(path);
                    recipients.clear();
                    conn.reply("250 2.1.0 sender ok").await
                }
                Some(_) => conn.reply("503 5.5.1 EHLO first").await,
                None => conn.reply("501 5.5.4 syntax: MAIL FROM:<address>").await,
            },
            "RCPT" if from.is_none() => conn.reply("503 5.5.1 MAIL first").await,
            "RCPT" => match (path_of(&argument), mode) {
                (None, _) => conn.reply("501 5.5.4 syntax: RCPT TO:<address>").await,
                (Some(_), Behaviour::TransientOnRcpt) => {
                    conn.reply("451 4.3.0 try again later").await
                }
                (Some(_), Behaviour::PermanentOnRcpt) => conn.reply("550 5.1.1 no such user").await,
                (Some(path), _) => {
                    recipients.push(path);
                    conn.reply("250 2.1.5 recipient ok").await
                }
            },
            "DATA" if recipients.is_empty() => conn.reply("503 5.5.1 RCPT first").await,
            "DATA" if mode == Behaviour::TransientOnData => {
                conn.reply("451 4.3.0 try again later").await
            }
            "DATA" => {
                conn.reply("354 end data with <CR><LF>.<CR><LF>").await;
                let mut lines = Vec::new();
                let mut complete = false;
                while let Some(line) = conn.line().await {
                    if line == "." {
                        complete = true;
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    lines.push(line.strip_prefix('.').map(str::to_string).unwrap_or(line));
                }
                if !complete {
                    return;
                }
                let received = Received {
                    from: from.take().unwrap_or_default(),
                    recipients: std::mem::take(&mut recipients),
                    data: lines.join("\r\n"),
                };
                match mode {
                    Behaviour::RejectDataContaining(marker) if received.data.contains(marker) => {
                        log.lock().unwrap().refused.push(received);
                        conn.reply("554 5.7.1 message content rejected").await
                    }
                    _ => {
                        log.lock().unwrap().messages.push(received);
                        conn.reply("250 2.0.0 OK queued").await
                    }
                }
            }
            "RSET" => {
                from = None;
                recipients.clear();
                conn.reply("250 2.0.0 reset").await
            }
            "NOOP" => conn.reply("250 2.0.0 OK").await,
            "QUIT" => {
                conn.reply("221 2.0.0 bye").await;
                return;
            }
            _ => conn.reply("500 5.5.2 command not recognised").await,
        };
        if !ok {
            return;
        }
    }
}
