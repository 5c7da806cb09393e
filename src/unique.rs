//! Stamps unique within this process, for values that must never repeat: a Coinbase JWT's nonce,
//! an email's `Message-ID`, the demo's webhook secret. The wall clock in nanoseconds alone can
//! repeat (two calls in one tick, a clock stepped back), so a process-wide counter rides along.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The time a stamp was taken and its place in this process's sequence of stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Nanoseconds since the Unix epoch (0 for a clock set before it).
    pub nanos: u128,
    /// How many stamps this process took before this one.
    pub count: u64,
}

/// A fresh stamp: no two taken by one process are equal.
pub fn stamp() -> Stamp {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    Stamp {
        nanos: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
        count: COUNTER.fetch_add(1, Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::stamp;

    #[test]
    fn stamps_taken_in_a_burst_all_differ() {
        let stamps: Vec<_> = (0..1000).map(|_| stamp()).collect();
        let distinct: std::collections::HashSet<_> =
            stamps.iter().map(|s| (s.nanos, s.count)).collect();
        assert_eq!(distinct.len(), stamps.len());
        assert!(stamps.windows(2).all(|w| w[1].count > w[0].count));
    }
}
