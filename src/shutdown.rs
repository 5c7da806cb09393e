//! The signals that drive a process the way systemd drives it. Handlers are installed once, at
//! start, before anything slow happens: a SIGTERM that arrives while the store is still opening
//! must stop the daemon cleanly, not kill it with the default action.

use tokio::signal::unix::{signal, Signal, SignalKind};

/// What a signal asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// SIGTERM (systemd's stop) or SIGINT (Ctrl-C).
    Stop,
    /// SIGHUP (systemd's reload).
    Reload,
}

/// Installed signal handlers.
pub struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// Waits for the next signal.
    pub async fn next(&mut self) -> Request {
        tokio::select! {
            _ = self.term.recv() => Request::Stop,
            _ = self.int.recv() => Request::Stop,
            _ = self.hup.recv() => Request::Reload,
        }
    }
}

/// Resolves on SIGTERM or SIGINT (SIGHUP is ignored here).
pub async fn signalled() {
    let mut signals = Signals::install().expect("signal handlers install");
    while signals.next().await != Request::Stop {}
}
