//! Which connections have a check in progress, so a connection is never checked twice at once
//! (a scheduled turn and a Telegram `/check`, or two turns of an overrunning schedule) and its
//! verdicts are recorded in the order they were taken.
//!
//! A connection is marked busy by a [`BusyGuard`] and released when the guard drops: whatever
//! ends the check (a verdict, a panic, a cancelled task), the mark goes. Issue 19: releasing it
//! by hand after the check skipped the release on a panic, and every later turn of that
//! connection was skipped for good.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

/// The connections with a check in progress.
#[derive(Debug, Default)]
pub struct Busy {
    names: Mutex<HashSet<String>>,
    /// Woken whenever a mark is released, for [`Busy::claim_waiting`].
    released: Notify,
}

impl Busy {
    fn names(&self) -> MutexGuard<'_, HashSet<String>> {
        // The set holds no invariant a panic elsewhere could break.
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `name` busy, or `None` when its previous check is still in progress.
    pub fn claim(self: &Arc<Self>, name: &str) -> Option<BusyGuard> {
        self.names().insert(name.to_string()).then(|| BusyGuard {
            busy: Arc::clone(self),
            name: name.to_string(),
        })
    }

    /// Marks `name` busy, first waiting for its check in progress (if any) to finish.
    pub async fn claim_waiting(self: &Arc<Self>, name: &str) -> BusyGuard {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before looking, so a release between the look and the wait is seen.
            released.as_mut().enable();
            if let Some(guard) = self.claim(name) {
                return guard;
            }
            released.await;
        }
    }

    /// Waits until no connection is busy: how shutdown drains the checks in flight. Woken by
    /// each release (the guard's drop), so it never polls.
    pub async fn idle(&self) {
        loop {
            let released = self.released.notified();
            tokio::pin!(released);
            // Registered before looking, so a release between the look and the wait is seen.
            released.as_mut().enable();
            if self.is_empty() {
                return;
            }
            released.await;
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }

    pub fn len(&self) -> usize {
        self.names().len()
    }
}

/// A connection's busy mark; dropping it releases the mark.
#[derive(Debug)]
pub struct BusyGuard {
    busy: Arc<Busy>,
    name: String,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        self.busy.names().remove(&self.name);
        self.busy.released.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_connection_is_claimed_once_until_released() {
        let busy = Arc::new(Busy::default());
        let guard = busy.claim("alice").expect("free");
        assert!(busy.claim("alice").is_none(), "never twice at once");
        assert!(busy.claim("bob").is_some(), "others are independent");
        drop(guard);
        assert!(busy.claim("alice").is_some());
        assert!(busy.is_empty());
    }

    #[tokio::test]
    async fn a_check_that_panics_releases_its_mark() {
        let busy = Arc::new(Busy::default());
        let guard = busy.claim("alice").expect("free");
        let task = tokio::spawn(async move {
            let _guard = guard;
            panic!("a probe bug");
        });
        assert!(task.await.unwrap_err().is_panic());
        assert!(busy.is_empty(), "the panic released the mark");
        assert!(busy.claim("alice").is_some(), "the next turn runs");
    }

    #[tokio::test]
    async fn idle_returns_when_the_last_mark_is_released() {
        let busy = Arc::new(Busy::default());
        tokio::time::timeout(Duration::from_secs(10), busy.idle())
            .await
            .expect("nothing busy: idle at once");
        let alice = busy.claim("alice").expect("free");
        let bob = busy.claim("bob").expect("free");
        let drained = {
            let busy = Arc::clone(&busy);
            tokio::spawn(async move { busy.idle().await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!drained.is_finished(), "two checks in flight");
        drop(alice);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!drained.is_finished(), "one check still in flight");
        drop(bob);
        tokio::time::timeout(Duration::from_secs(10), drained)
            .await
            .expect("woken by the last release")
            .unwrap();
    }

    #[tokio::test]
    async fn a_waiting_claim_gets_the_mark_when_the_check_in_progress_ends() {
        let busy = Arc::new(Busy::default());
        let first = busy.claim("alice").expect("free");
        let waiter = {
            let busy = Arc::clone(&busy);
            tokio::spawn(async move { busy.claim_waiting("alice").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "waits while the first check runs");
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("released in time")
            .unwrap();
        assert_eq!(busy.len(), 1);
        drop(second);
        assert!(busy.is_empty());
    }
}
