//! The alert engine: feeds verdicts to the policy, addresses what it raises, and queues it in
//! the durable outbox, state and alerts in one store transaction.
//!
//! Every change works on a copy of the policy's memory, commits it with the alerts it raised,
//! and only then applies the copy: a failed store write leaves the memory as it was, so the
//! next verdict or tick raises the same alerts again instead of nothing (issue 19).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use super::policy::{self, ConnectionAlerts, Member, Raised, SharedIncidents, Thresholds};
use super::{Alert, AlertKind, LastCheck, Subject, Topic};
use crate::check::{remedy_for, warning_remedy};
use crate::config::{Config, WebhookEvents};
use crate::domain::{ExchangeKind, Facts, Severity, Status, Verdict};
use crate::notifier::{Audience, Recipient};
use crate::secret::{mask_key, ExposeSecret};
use crate::store::{HistoryStore, StoreError};

/// What the engine knows about one configured connection.
#[derive(Debug, Clone)]
struct Route {
    exchange: ExchangeKind,
    thresholds: Thresholds,
    masked_key: String,
    owner_email: Option<String>,
}

/// Who hears about what, from the config.
#[derive(Debug, Clone, Default)]
struct Routes {
    defaults: Option<Thresholds>,
    connections: BTreeMap<String, Route>,
    telegram_chats: Vec<i64>,
    /// Operators' addresses; empty when email is not configured (then owners get nothing either).
    operator_emails: Vec<String>,
    email: bool,
    /// `[[alerts.webhook]]` targets ([`Recipient::Webhook`]'s key) and the events each takes.
    webhooks: Vec<(String, WebhookEvents)>,
}

impl Routes {
    fn from_config(config: &Config) -> Routes {
        Routes {
            defaults: Some(config.alerts.defaults()),
            connections: config
                .connections
                .iter()
                .map(|c| {
                    (
                        c.name.clone(),
                        Route {
                            exchange: c.exchange,
                            thresholds: config.alerts.thresholds(&c.alerts),
                            masked_key: mask_key(c.credentials.api_key.expose_secret()),
                            owner_email: c.owner_email.clone(),
                        },
                    )
                })
                .collect(),
            telegram_chats: config
                .alerts
                .telegram
                .as_ref()
                .map(|t| t.chat_ids.clone())
                .unwrap_or_default(),
            operator_emails: config
                .alerts
                .email
                .as_ref()
                .map(|e| e.to.clone())
                .unwrap_or_default(),
            email: config.alerts.email.is_some(),
            webhooks: config
                .alerts
                .webhook
                .iter()
                .map(|w| (w.target(), w.events))
                .collect(),
        }
    }

    fn defaults(&self) -> Thresholds {
        self.defaults.expect("routes come from a config")
    }

    /// Every recipient of `alert`: all chats, all operators, the owner of its connection, and
    /// the webhook targets that take its kind when it is about one connection (a machine pauses
    /// one user's bot; exchange and host incidents are for people).
    fn recipients(&self, alert: &Alert) -> Vec<Recipient> {
        let mut to: Vec<Recipient> = self
            .telegram_chats
            .iter()
            .map(|&chat_id| Recipient::Telegram { chat_id })
            .collect();
        if self.email {
            to.extend(self.operator_emails.iter().map(|address| Recipient::Email {
                address: address.clone(),
                audience: Audience::Operator,
            }));
            if let Some(owner) = alert.owner_email() {
                to.push(Recipient::Email {
                    address: owner.to_string(),
                    audience: Audience::Owner,
                });
            }
        }
        if matches!(alert.subject, Subject::Connection { .. }) {
            to.extend(
                self.webhooks
                    .iter()
                    .filter(|(_, events)| events.includes(alert.kind))
                    .map(|(target, _)| Recipient::Webhook {
                        target: target.clone(),
                    }),
            );
        }
        to
    }
}

struct Book {
    connections: BTreeMap<String, ConnectionAlerts>,
    shared: SharedIncidents,
    routes: Routes,
    /// Each configured connection's last check that counts (not `rate_limited`), for the
    /// alerts' [`LastCheck`]. Memory only: after a restart it fills as connections are checked.
    last_checks: BTreeMap<String, LastCheck>,
}

impl Book {
    /// Keeps `verdict` as its connection's last check, when the connection is configured and
    /// the check says something about the key.
    fn remember_check(&mut self, verdict: &Verdict) {
        if verdict.status == Status::RateLimited
            || !self.routes.connections.contains_key(&verdict.connection)
        {
            return;
        }
        match self.last_checks.get_mut(&verdict.connection) {
            Some(last) => *last = LastCheck::of(verdict),
            None => {
                self.last_checks
                    .insert(verdict.connection.clone(), LastCheck::of(verdict));
            }
        }
    }
}

/// What one step of the engine wants to change in the [`Book`], held apart until the store
/// has the same change: connections' new memory and, when evaluated, the shared incidents.
struct Changes {
    connections: Vec<(String, Option<ConnectionAlerts>)>,
    shared: Option<SharedIncidents>,
}

impl Changes {
    /// Puts the committed change into memory.
    fn apply(self, book: &mut Book) {
        for (name, state) in self.connections {
            match state {
                Some(state) => book.connections.insert(name, state),
                None => book.connections.remove(&name),
            };
        }
        if let Some(shared) = self.shared {
            book.shared = shared;
        }
    }
}

/// Shared by the daemon's check tasks; cheap to call, serialised inside.
pub struct AlertEngine {
    store: HistoryStore,
    book: Mutex<Book>,
    /// Woken whenever something was queued, so delivery starts at once.
    queued: Arc<Notify>,
    /// Unit tests make the next commit fail here, as a full disk would.
    #[cfg(test)]
    fail_next_commit: std::sync::atomic::AtomicBool,
}

impl AlertEngine {
    /// Loads the policy's memory from the store, so a restart with nothing changed is quiet
    /// and a change that happened while the daemon was down is alerted.
    pub fn open(store: HistoryStore, config: &Config) -> Result<AlertEngine, StoreError> {
        let (connections, shared) = store.alert_states()?;
        Ok(AlertEngine {
            store,
            book: Mutex::new(Book {
                connections,
                shared,
                routes: Routes::from_config(config),
                last_checks: BTreeMap::new(),
            }),
            queued: Arc::new(Notify::new()),
            #[cfg(test)]
            fail_next_commit: false.into(),
        })
    }

    /// The policy's memory. A panic while it was held (a bug) does not stop alerting for good:
    /// every change is applied only after its commit, so the memory a panicking holder left
    /// is a consistent one, and the lock is taken back as the rest of the daemon does.
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Notified whenever alerts were queued.
    pub fn queued(&self) -> Arc<Notify> {
        Arc::clone(&self.queued)
    }

    /// Takes a reloaded config: new recipients and thresholds; removed connections' memory is
    /// dropped (their open incidents end without a notice: the operator removed them).
    pub fn reconfigure(&self, config: &Config) -> Result<(), StoreError> {
        let mut book = self.book();
        let removed: Vec<(String, Option<ConnectionAlerts>)> = book
            .connections
            .keys()
            .filter(|name| config.connection(name).is_none())
            .map(|name| (name.clone(), None))
            .collect();
        // The new routes apply whatever the store says: they are the config, not memory.
        book.routes = Routes::from_config(config);
        book.last_checks
            .retain(|name, _| config.connection(name).is_some());
        self.store
            .commit_alerts(&removed, None, Vec::new(), Utc::now())?;
        Changes {
            connections: removed,
            shared: None,
        }
        .apply(&mut book);
        Ok(())
    }

    /// Feeds one verdict to the policy and queues what it raises. Returns how many alerts
    /// (per recipient) were queued.
    ///
    /// The connection's memory is written only when it changed in a way that matters after a
    /// restart (see [`worth_writing`]): a healthy key's repeats touch memory only, and
    /// [`Self::checkpoint`] writes the rest now and then.
    pub fn observe(&self, verdict: &Verdict) -> Result<usize, StoreError> {
        let mut book = self.book();
        book.remember_check(verdict);
        let Some(step) = Step::take(&book, verdict) else {
            return Ok(0);
        };
        let Step {
            state,
            mut raised,
            write,
            evaluate,
        } = step;
        // A connection whose first verdict is `rate_limited` has no alert state yet, and the
        // policy keeps none for throttling: nothing to record.
        let Some(state) = state else {
            return Ok(0);
        };
        let shared = evaluate.then(|| {
            let mut shared = book.shared.clone();
            let changed = Some((verdict.connection.as_str(), &state));
            raised.extend(Self::evaluate_shared(
                &book,
                changed,
                &mut shared,
                verdict.checked_at,
            ));
            shared
        });
        let changes = Changes {
            connections: vec![(verdict.connection.clone(), Some(state))],
            shared,
        };
        // The connection's new memory goes to the store only when a restart must see it; in
        // memory it is applied either way, after the commit.
        let to_write = match write {
            true => &changes.connections[..],
            false => &[],
        };
        let queued = self.queue(
            &book,
            to_write,
            changes.shared.as_ref(),
            raised,
            verdict.checked_at,
        )?;
        changes.apply(&mut book);
        Ok(queued)
    }

    /// [`Self::observe`] for the common case that needs no store: when `verdict` raises
    /// nothing, changes nothing worth writing and cannot change a shared incident, it is
    /// applied in memory and `true` is returned; otherwise nothing happens and `false` says
    /// to call `observe` (off the async threads, since it writes and may flush).
    pub fn observe_quietly(&self, verdict: &Verdict) -> bool {
        let mut book = self.book();
        book.remember_check(verdict);
        let Some(step) = Step::take(&book, verdict) else {
            return true;
        };
        if step.write || step.evaluate || !step.raised.is_empty() {
            return false;
        }
        if let Some(state) = step.state {
            book.connections.insert(verdict.connection.clone(), state);
        }
        true
    }

    /// Writes every connection's memory as it is now (the repeats [`Self::observe`] kept in
    /// memory: last check time, message, streaks past their thresholds). The daemon calls it
    /// periodically and on shutdown.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let book = self.book();
        let changes: Vec<(String, Option<ConnectionAlerts>)> = book
            .connections
            .iter()
            .map(|(name, state)| (name.clone(), Some(state.clone())))
            .collect();
        self.store
            .commit_alerts(&changes, None, Vec::new(), Utc::now())
            .map(drop)
    }

    /// Time-driven work: reminders, and shared incidents whose picture changed with time or
    /// a reload. Run it every few seconds.
    pub fn tick(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut book = self.book();
        let mut shared = book.shared.clone();
        let mut raised = Self::evaluate_shared(&book, None, &mut shared, now);
        let mut connections = Vec::new();
        for (name, state) in &book.connections {
            let Some(route) = book.routes.connections.get(name) else {
                continue;
            };
            // Only an open incident can be reminded of: clone just those.
            if state.incident.is_none() {
                continue;
            }
            let mut state = state.clone();
            if let Some(reminder) = policy::remind_key(name, &mut state, &route.thresholds, now) {
                raised.push(reminder);
                connections.push((name.clone(), Some(state)));
            }
        }
        let changes = Changes {
            connections,
            shared: Some(shared),
        };
        let queued = self.queue(
            &book,
            &changes.connections,
            changes.shared.as_ref(),
            raised,
            now,
        )?;
        changes.apply(&mut book);
        Ok(queued)
    }

    /// The shared incidents' alerts, evaluated into `shared` (a copy of the book's), with
    /// `changed` standing in for that connection's memory in the book.
    fn evaluate_shared(
        book: &Book,
        changed: Option<(&str, &ConnectionAlerts)>,
        shared: &mut SharedIncidents,
        now: DateTime<Utc>,
    ) -> Vec<Raised> {
        let members: Vec<Member> = book
            .routes
            .connections
            .iter()
            .map(|(name, route)| Member {
                name,
                exchange: route.exchange,
                state: match changed {
                    Some((changed, state)) if changed == name => Some(state),
                    _ => book.connections.get(name),
                },
                thresholds: route.thresholds,
            })
            .collect();
        policy::evaluate_shared(&members, shared, &book.routes.defaults(), now)
    }

    /// Addresses `raised` and writes state, shared incidents and the outbox in one step. The
    /// book is not changed here: the caller applies its copy once this returned `Ok`.
    fn queue(
        &self,
        book: &Book,
        changes: &[(String, Option<ConnectionAlerts>)],
        shared: Option<&SharedIncidents>,
        raised: Vec<Raised>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut queued = Vec::new();
        for r in raised {
            let alert = self.alert(book, r, now);
            for recipient in book.routes.recipients(&alert) {
                queued.push((recipient, alert.clone()));
            }
        }
        if changes.is_empty() && shared.is_none() && queued.is_empty() {
            return Ok(0);
        }
        let count = queued.len();
        #[cfg(test)]
        if self
            .fail_next_commit
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(crate::store::StoreError::Db {
                path: self.store.path().to_path_buf(),
                op: "queue alerts",
                source: sled::Error::Io(std::io::Error::other("injected: no space left")),
            });
        }
        self.store.commit_alerts(changes, shared, queued, now)?;
        if count > 0 {
            self.queued.notify_one();
        }
        Ok(count)
    }

    fn alert(&self, book: &Book, raised: Raised, now: DateTime<Utc>) -> Alert {
        let routes = &book.routes;
        let last_check = match &raised.subject {
            super::policy::RaisedSubject::Connection(name) => book.last_checks.get(name).cloned(),
            _ => None,
        };
        let subject = raised.subject.to_subject(|name| {
            let route = routes.connections.get(name);
            Subject::Connection {
                name: name.to_string(),
                exchange: route.map(|r| r.exchange).unwrap_or(ExchangeKind::Mexc),
                masked_key: route.map(|r| r.masked_key.clone()).unwrap_or_default(),
                owner_email: route.and_then(|r| r.owner_email.clone()),
            }
        });
        let severity = match (raised.kind, raised.topic) {
            (AlertKind::Resolved, _) => Severity::Ok,
            (_, Topic::Warning(_)) => Severity::Warning,
            (_, Topic::Status(status)) => status.severity(),
        };
        let host_offline = matches!(raised.subject, super::policy::RaisedSubject::Host)
            && raised.topic == Topic::Status(Status::ExchangeUnavailable);
        let remedy = match (raised.kind, raised.topic) {
            (AlertKind::Resolved, _) => None,
            _ if host_offline => Some(
                "No exchange answers this host: check its network, DNS, firewall and proxy; the \
                 keys themselves may be fine."
                    .to_string(),
            ),
            (_, Topic::Warning(w)) => Some(warning_remedy(w)),
            (_, Topic::Status(status)) => raised
                .remedy
                .or_else(|| remedy_for(status, &Facts::default())),
        };
        Alert {
            kind: raised.kind,
            subject,
            topic: raised.topic,
            severity,
            started_at: raised.started_at,
            raised_at: now,
            message: raised.message,
            remedy,
            previous: raised.previous,
            last_check,
        }
    }
}

/// What the policy makes of one verdict, before anything is applied.
struct Step {
    /// The connection's memory after the verdict (`None`: the policy keeps none yet).
    state: Option<ConnectionAlerts>,
    raised: Vec<Raised>,
    /// The memory changed in a way worth writing.
    write: bool,
    /// The verdict may change a shared incident (exchange, host, clock): evaluate them.
    evaluate: bool,
}

impl Step {
    /// `None` when the connection is no longer configured (removed by a reload while it was
    /// being checked).
    fn take(book: &Book, verdict: &Verdict) -> Option<Step> {
        let thresholds = book.routes.connections.get(&verdict.connection)?.thresholds;
        let before = book.connections.get(&verdict.connection);
        let mut state = before.cloned();
        let raised = policy::on_verdict(&mut state, verdict, &thresholds);
        let write = state
            .as_ref()
            .is_some_and(|after| worth_writing(before, after, &thresholds));
        // Outages and clock trouble are judged across connections; only evaluate them when
        // this verdict could change that picture.
        let shared_relevant = |s: Option<Status>| {
            matches!(
                s,
                Some(Status::ExchangeUnavailable) | Some(Status::ClockSkew)
            )
        };
        let evaluate =
            shared_relevant(before.map(|b| b.status)) || shared_relevant(Some(verdict.status));
        Some(Step {
            state,
            raised,
            write,
            evaluate,
        })
    }
}

/// Whether a connection's alert memory changed in a way a restarted daemon must see: anything
/// but the last check time and message, and the streak while a threshold counts it
/// (`unavailable_after` for `exchange_unavailable`, `resolve_after` for `connected` with an
/// incident open). Past its threshold, or in a status no threshold looks at, a longer streak
/// decides nothing, so a key that stays healthy for months costs no writes.
fn worth_writing(
    before: Option<&ConnectionAlerts>,
    after: &ConnectionAlerts,
    thresholds: &Thresholds,
) -> bool {
    let Some(before) = before else {
        return true;
    };
    let counting = match after.status {
        Status::ExchangeUnavailable => after.streak <= thresholds.unavailable_after,
        Status::Connected if after.incident.is_some() => after.streak <= thresholds.resolve_after,
        _ => false,
    };
    counting
        || before.exchange != after.exchange
        || before.status != after.status
        || before.status_since != after.status_since
        || before.incident != after.incident
        || before.noticed != after.noticed
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::TimeZone;

    use super::*;
    use crate::alert::policy::Incident;

    const THRESHOLDS: Thresholds = Thresholds {
        unavailable_after: 3,
        resolve_after: 2,
        remind_every: None,
        send_resolved: true,
    };

    fn memory(status: Status, streak: u32, incident: Option<Status>) -> ConnectionAlerts {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        ConnectionAlerts {
            exchange: ExchangeKind::Mexc,
            status,
            status_since: at,
            streak,
            last_checked_at: at + chrono::TimeDelta::seconds(i64::from(streak)),
            last_message: format!("check {streak}"),
            incident: incident.map(|status| Incident {
                status,
                started_at: at,
                last_notified_at: at,
                message: String::new(),
                remedy: None,
            }),
            noticed: BTreeSet::new(),
        }
    }

    const CONFIG: &str = r#"
[daemon]
state_dir = "/nonexistent"
[alerts]
remind_every = "1h"
[alerts.telegram]
bot_token = "123:token"
chat_ids = [-100]
api_url = "http://127.0.0.1:9/"
[connections.alice]
exchange = "mexc"
api_key = "mx0vglexamplekey1234"
api_secret = "secret"
"#;

    fn engine() -> (tempfile::TempDir, HistoryStore, AlertEngine) {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(dir.path()).unwrap();
        let config = Config::from_toml(CONFIG, std::path::Path::new("test.toml")).unwrap();
        let engine = AlertEngine::open(store.clone(), &config).unwrap();
        (dir, store, engine)
    }

    fn verdict(status: Status, minute: u32) -> Verdict {
        Verdict {
            connection: "alice".to_string(),
            exchange: ExchangeKind::Mexc,
            status,
            permissions: Default::default(),
            ip_restricted: Some(true),
            expires_at: None,
            latency_ms: 5,
            message: status.name().to_string(),
            remedy: None,
            warnings: Vec::new(),
            checked_at: Utc.with_ymd_and_hms(2026, 1, 1, 0, minute, 0).unwrap(),
        }
    }

    fn queued_topics(store: &HistoryStore) -> Vec<(AlertKind, String)> {
        let outbox = store.outbox().unwrap();
        outbox
            .iter()
            .map(|e| (e.alert.kind, e.alert.topic_name().to_string()))
            .collect()
    }

    #[test]
    fn a_failed_commit_leaves_the_memory_as_it_was_so_the_repeat_raises_the_alert() {
        let (_dir, store, engine) = engine();
        assert_eq!(engine.observe(&verdict(Status::Connected, 0)).unwrap(), 0);
        engine
            .fail_next_commit
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(engine
            .observe(&verdict(Status::WithdrawEnabled, 1))
            .is_err());
        assert!(store.outbox().unwrap().is_empty());
        // The same verdict again: the incident was never recorded, so it opens now.
        assert!(
            !engine.observe_quietly(&verdict(Status::WithdrawEnabled, 2)),
            "the repeat needs the store: it raises the alert the failed write lost"
        );
        assert_eq!(
            engine
                .observe(&verdict(Status::WithdrawEnabled, 2))
                .unwrap(),
            1
        );
        assert_eq!(
            queued_topics(&store),
            vec![(AlertKind::Opened, "withdraw_enabled".to_string())]
        );
        // And once it is in the outbox, the next repeat is quiet.
        assert!(engine.observe_quietly(&verdict(Status::WithdrawEnabled, 3)));
    }

    #[test]
    fn a_failed_commit_of_a_reminder_is_reminded_at_the_next_tick() {
        let (_dir, store, engine) = engine();
        engine.observe(&verdict(Status::InvalidKey, 0)).unwrap();
        assert_eq!(queued_topics(&store).len(), 1);
        let later = Utc.with_ymd_and_hms(2026, 1, 1, 2, 0, 0).unwrap();
        engine
            .fail_next_commit
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(engine.tick(later).is_err());
        assert_eq!(queued_topics(&store).len(), 1);
        assert_eq!(engine.tick(later).unwrap(), 1);
        assert_eq!(
            queued_topics(&store).last(),
            Some(&(AlertKind::Reminder, "invalid_key".to_string()))
        );
        assert_eq!(engine.tick(later).unwrap(), 0, "reminded once");
    }

    #[test]
    fn a_poisoned_book_lock_does_not_stop_alerting() {
        let (_dir, store, engine) = engine();
        let engine = Arc::new(engine);
        let holder = Arc::clone(&engine);
        let panicked = std::thread::spawn(move || {
            let _book = holder.book.lock().unwrap();
            panic!("a bug while the alert book is held");
        })
        .join();
        assert!(panicked.is_err());
        assert!(engine.book.is_poisoned());
        engine.observe(&verdict(Status::Connected, 0)).unwrap();
        assert_eq!(
            engine
                .observe(&verdict(Status::WithdrawEnabled, 1))
                .unwrap(),
            1
        );
        assert_eq!(queued_topics(&store).len(), 1);
        engine.tick(Utc::now()).unwrap();
        engine.checkpoint().unwrap();
    }

    fn worth(before: ConnectionAlerts, after: ConnectionAlerts) -> bool {
        worth_writing(Some(&before), &after, &THRESHOLDS)
    }

    #[test]
    fn a_healthy_repeat_is_not_worth_a_write() {
        let repeat = |n| memory(Status::Connected, n, None);
        assert!(!worth(repeat(1), repeat(2)));
        assert!(!worth(repeat(500), repeat(501)));
    }

    #[test]
    fn streaks_are_written_while_a_threshold_counts_them() {
        let down = |n| memory(Status::ExchangeUnavailable, n, None);
        assert!(
            worth(down(2), down(3)),
            "unavailable_after = 3 is reached here"
        );
        assert!(
            !worth(down(3), down(4)),
            "past it a longer streak decides nothing"
        );
        let recovering = |n| memory(Status::Connected, n, Some(Status::InvalidKey));
        assert!(worth(recovering(1), recovering(2)), "resolve_after = 2");
        assert!(!worth(recovering(2), recovering(3)));
        let broken = |n| memory(Status::InvalidKey, n, Some(Status::InvalidKey));
        assert!(
            !worth(broken(1), broken(2)),
            "no threshold counts a key problem"
        );
    }

    #[test]
    fn changes_that_a_restart_must_see_are_written() {
        let base = memory(Status::Connected, 9, None);
        assert!(worth_writing(None, &base, &THRESHOLDS), "first memory");
        assert!(worth(base.clone(), memory(Status::InvalidKey, 1, None)));
        assert!(worth(
            base.clone(),
            memory(Status::Connected, 10, Some(Status::InvalidKey))
        ));
        let mut noticed = memory(Status::Connected, 10, None);
        noticed
            .noticed
            .insert(crate::domain::Warning::IpWhitelistMissing);
        assert!(worth(base, noticed));
    }

    #[test]
    fn webhooks_get_connection_events_they_asked_for_with_the_last_check() {
        let text = format!(
            "{CONFIG}\n[[alerts.webhook]]\nurl = \"http://127.0.0.1:9/all\"\nsecret = \"0123456789abcdef0123\"\n\
             [[alerts.webhook]]\nurl = \"http://127.0.0.1:9/opened\"\nsecret = \"0123456789abcdef0123\"\n\
             events = [\"opened\"]\n"
        );
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(dir.path()).unwrap();
        let config = Config::from_toml(&text, std::path::Path::new("test.toml")).unwrap();
        let all = config.alerts.webhook[0].target();
        let opened_only = config.alerts.webhook[1].target();
        let engine = AlertEngine::open(store.clone(), &config).unwrap();

        engine.observe(&verdict(Status::Connected, 0)).unwrap();
        let mut withdraw = verdict(Status::WithdrawEnabled, 1);
        withdraw.permissions.withdraw = Some(true);
        engine.observe(&withdraw).unwrap();
        engine.observe(&verdict(Status::Connected, 2)).unwrap();
        engine.observe(&verdict(Status::Connected, 3)).unwrap();

        let to_webhooks: Vec<(String, AlertKind, Option<LastCheck>)> = store
            .outbox()
            .unwrap()
            .into_iter()
            .filter_map(|e| match e.recipient {
                Recipient::Webhook { target } => Some((target, e.alert.kind, e.alert.last_check)),
                _ => None,
            })
            .collect();
        let kinds: Vec<(&str, AlertKind)> = to_webhooks
            .iter()
            .map(|(t, k, _)| (if *t == all { "all" } else { "opened" }, *k))
            .collect();
        assert_eq!(
            kinds,
            [
                ("all", AlertKind::Opened),
                ("opened", AlertKind::Opened),
                ("all", AlertKind::Resolved)
            ]
        );
        assert!(to_webhooks.iter().any(|(t, _, _)| *t == opened_only));
        let opened = to_webhooks[0].2.as_ref().expect("the check that opened it");
        assert_eq!(opened.status, Status::WithdrawEnabled);
        assert_eq!(opened.permissions.withdraw, Some(true));
        let resolved = to_webhooks[2]
            .2
            .as_ref()
            .expect("the check that resolved it");
        assert_eq!(resolved.status, Status::Connected);
        assert_eq!(
            resolved.checked_at,
            verdict(Status::Connected, 3).checked_at
        );
    }
}
