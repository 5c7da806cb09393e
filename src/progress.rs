//! The progress line `keywarden check` shows on a terminal while many keys are checked:
//! `checked 120/400 · 9.8/s · about 28s left`. On stderr and only when stderr is a terminal, so
//! `--json` output and anything piped stays clean; rewritten in place, cleared at the end.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the line is redrawn; a check that ends sooner never shows it.
pub const REDRAW_EVERY: Duration = Duration::from_millis(500);

/// The line for `done` of `total` checks after `elapsed`.
pub fn line(done: usize, total: usize, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if done == 0 || secs <= 0.0 {
        return format!("checked {done}/{total}");
    }
    let rate = done as f64 / secs;
    let left = total.saturating_sub(done) as f64 / rate;
    let eta = humantime::format_duration(Duration::from_secs(left.ceil() as u64));
    format!("checked {done}/{total} · {rate:.1}/s · about {eta} left")
}

/// Redraws the progress line on stderr until dropped; the line is cleared on drop.
pub struct Progress {
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Starts the line when stderr is a terminal; `None` otherwise.
    pub fn on_terminal(done: Arc<AtomicUsize>, total: usize) -> Option<Progress> {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut ticks =
                tokio::time::interval_at(tokio::time::Instant::now() + REDRAW_EVERY, REDRAW_EVERY);
            loop {
                ticks.tick().await;
                let text = line(done.load(Ordering::Relaxed), total, started.elapsed());
                let mut stderr = std::io::stderr().lock();
                let _ = write!(stderr, "\r\x1b[2K{text}");
                let _ = stderr.flush();
            }
        });
        Some(Progress { task })
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
        let mut stderr = std::io::stderr().lock();
        let _ = write!(stderr, "\r\x1b[2K");
        let _ = stderr.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_done_total_rate_and_time_left() {
        assert_eq!(line(0, 400, Duration::from_secs(2)), "checked 0/400");
        assert_eq!(
            line(100, 400, Duration::from_secs(10)),
            "checked 100/400 · 10.0/s · about 30s left"
        );
        assert_eq!(
            line(400, 400, Duration::from_secs(40)),
            "checked 400/400 · 10.0/s · about 0s left"
        );
    }
}
