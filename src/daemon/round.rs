//! Rounds and dispatch: a firing of a schedule releases its connections after their stable
//! jitter, never checks one twice at once, and sums the round up in one log line.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::record::Checked;
use super::Daemon;
use crate::domain::Status;
use crate::metrics::Metrics;
use crate::scheduler;

/// One firing of a schedule, summed up in one info line when its last check is done: ten
/// thousand healthy keys say "10000 checked, 0 changed" once a round, not ten thousand lines.
/// Each check's own line is at debug level unless it changed something.
pub(super) struct Round {
    schedule: String,
    /// The time between two firings of the schedule: a round that takes longer overran.
    period: Duration,
    metrics: Arc<Metrics>,
    started: Instant,
    left: AtomicUsize,
    checked: AtomicUsize,
    changed: AtomicUsize,
    problems: AtomicUsize,
    skipped: AtomicUsize,
}

/// What a finished round did, as its "round done" line says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RoundSummary {
    pub checked: usize,
    pub not_connected: usize,
    pub changed: usize,
    pub skipped: usize,
    pub took: Duration,
}

impl Round {
    pub(super) fn new(
        schedule: &str,
        period: Duration,
        metrics: Arc<Metrics>,
        connections: usize,
    ) -> Round {
        Round {
            schedule: schedule.to_string(),
            period,
            metrics,
            started: Instant::now(),
            left: connections.into(),
            checked: 0.into(),
            changed: 0.into(),
            problems: 0.into(),
            skipped: 0.into(),
        }
    }

    /// A connection skipped its turn: its previous check was still queued or running.
    pub(super) fn skipped(&self) -> Option<RoundSummary> {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        self.metrics.check_skipped(&self.schedule);
        self.done(None)
    }

    /// One connection of the round is done: checked, or `None` when it was skipped (still
    /// busy, removed by a reload, or shutdown came first). The last one finishes the round:
    /// its summary is logged, recorded in the metrics and returned.
    pub(super) fn done(&self, checked: Option<&Checked>) -> Option<RoundSummary> {
        if let Some(checked) = checked {
            self.checked.fetch_add(1, Ordering::Relaxed);
            if checked.changed {
                self.changed.fetch_add(1, Ordering::Relaxed);
            }
            if checked.verdict.status != Status::Connected {
                self.problems.fetch_add(1, Ordering::Relaxed);
            }
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return None;
        }
        let summary = RoundSummary {
            checked: self.checked.load(Ordering::Relaxed),
            not_connected: self.problems.load(Ordering::Relaxed),
            changed: self.changed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            took: self.started.elapsed(),
        };
        self.metrics.round_finished(&self.schedule, summary.took);
        tracing::info!(
            schedule = %self.schedule,
            checked = summary.checked,
            not_connected = summary.not_connected,
            changed = summary.changed,
            skipped = summary.skipped,
            took_ms = summary.took.as_millis() as u64,
            period_ms = self.period.as_millis() as u64,
            overran = summary.took > self.period,
            "round done"
        );
        Some(summary)
    }
}

impl Daemon {
    /// A firing of `schedule`: each of its connections is checked after its jitter, unless its
    /// previous check is still running. The round is summed up in one log line at its end.
    ///
    /// One task releases the round's connections in jitter order and spawns each check when
    /// its slot comes (jitter rounded to `scheduler::RELEASE_SLOT`), so ten thousand
    /// connections cost one timer at a time and one wake-up per slot, and only the checks in
    /// flight hold memory, not ten thousand sleeping tasks.
    pub(super) fn dispatch(self: &Arc<Self>, cron: &str) {
        let config = self.config();
        let Some((schedule, names)) = scheduler::groups(&config).remove(cron) else {
            return;
        };
        let period = scheduler::period(&schedule, chrono::Utc::now()).unwrap_or(Duration::ZERO);
        let mut due: Vec<(Duration, String)> = names
            .into_iter()
            .map(|name| (scheduler::release_slot(&name, period), name))
            .collect();
        due.sort_unstable();
        let round = Arc::new(Round::new(
            cron,
            period,
            Arc::clone(&self.metrics),
            due.len(),
        ));
        let daemon = Arc::clone(self);
        let start = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut shutdown = daemon.shutdown.subscribe();
            let mut slot = None;
            for (delay, name) in due {
                if slot != Some(delay) {
                    tokio::select! {
                        _ = tokio::time::sleep_until(start + delay) => {}
                        _ = shutdown.wait_for(|stop| *stop) => return,
                    }
                    slot = Some(delay);
                }
                daemon.release(name, Arc::clone(&round));
            }
        });
    }

    /// Starts one connection's check of a round, unless its previous check is still queued
    /// or running: then this turn is skipped (and counted), never doubled.
    fn release(self: &Arc<Self>, name: String, round: Arc<Round>) {
        let Some(guard) = self.busy.claim(&name) else {
            tracing::debug!(connection = %name, "previous check still in progress; skipped this turn");
            round.skipped();
            return;
        };
        let daemon = Arc::clone(self);
        tokio::spawn(async move {
            // Released when this task ends, however it ends (issue 19: a panic used to leave
            // the connection marked busy for good).
            let _busy = guard;
            let checked = daemon.check_and_record(&name).await;
            round.done(checked.as_ref());
        });
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::domain::ExchangeKind;
    use crate::domain::Verdict;

    fn checked(status: Status, changed: bool) -> Checked {
        let verdict = Verdict::sample("alice", ExchangeKind::Mexc, status);
        Checked { verdict, changed }
    }

    fn round(connections: usize) -> (Round, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new());
        let round = Round::new(
            "0 * * * * *",
            Duration::from_secs(60),
            Arc::clone(&metrics),
            connections,
        );
        (round, metrics)
    }

    #[test]
    fn a_round_is_summed_up_once_by_its_last_connection() {
        let (round, metrics) = round(4);
        assert_eq!(round.done(Some(&checked(Status::Connected, false))), None);
        assert_eq!(round.skipped(), None);
        assert_eq!(round.done(Some(&checked(Status::InvalidKey, true))), None);
        let summary = round
            .done(Some(&checked(Status::Connected, true)))
            .expect("the fourth of four finishes the round");
        assert_eq!(
            (
                summary.checked,
                summary.not_connected,
                summary.changed,
                summary.skipped
            ),
            (3, 1, 2, 1)
        );
        let text = metrics.render();
        assert!(
            text.contains("keywarden_round_duration_seconds{schedule=\"0 * * * * *\"}"),
            "the finished round is on /metrics:\n{text}"
        );
    }

    #[test]
    fn a_round_of_only_skipped_turns_still_finishes() {
        let (round, _metrics) = round(2);
        assert_eq!(round.skipped(), None);
        let summary = round.done(None).expect("the last turn finishes it");
        assert_eq!((summary.checked, summary.skipped), (0, 1));
    }
}
