//! When each connection is checked: its cron schedule, and a stable offset inside the schedule's
//! period so that thousands of keys on one schedule do not fire in the same second.
//!
//! The daemon registers one cron job per distinct schedule (not one per connection); each firing
//! hands the schedule's connections to the dispatcher, which releases each one after its offset.
//! Pure functions here; the timers live in [`crate::daemon`].

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::{Config, Schedule};

/// The time between two consecutive firings of `schedule` after `after`; `None` when the
/// schedule never fires again (e.g. a date in the past).
pub fn period(schedule: &Schedule, after: DateTime<Utc>) -> Option<Duration> {
    let cron = croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(schedule.as_str())
        .ok()?;
    let first = cron.find_next_occurrence(&after, false).ok()?;
    let second = cron.find_next_occurrence(&first, false).ok()?;
    (second - first).to_std().ok()
}

/// The offset of `connection`'s check inside a period: stable across restarts and reloads
/// (derived from the name alone, FNV-1a), spread evenly, and always shorter than the period.
pub fn jitter(connection: &str, period: Duration) -> Duration {
    let hash = connection.bytes().fold(0xcbf29ce484222325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    let period_ms = period.as_millis().max(1) as u64;
    Duration::from_millis(hash % period_ms)
}

/// The granularity at which a round releases its checks. Waking for every connection's exact
/// offset costs a wake-up of the runtime per check (at 10,000 keys on a 10-second schedule,
/// one per millisecond: issue 9's profile put that at about 40% of a healthy daemon's CPU);
/// releasing the connections of each 100 ms slot together keeps the round spread over its
/// period at a human scale while the exchanges' request budgets smooth the rest.
pub const RELEASE_SLOT: Duration = Duration::from_millis(100);

/// When in a round of `period` the check of `connection` is released: its [`jitter`],
/// rounded down to a [`RELEASE_SLOT`] (still always inside the period).
pub fn release_slot(connection: &str, period: Duration) -> Duration {
    let jitter = jitter(connection, period).as_millis() as u64;
    let slot = RELEASE_SLOT.as_millis() as u64;
    Duration::from_millis(jitter - jitter % slot)
}

/// The connections of `config` grouped by the schedule they run on (their own or the daemon's),
/// keyed by the cron expression.
pub fn groups(config: &Config) -> BTreeMap<String, (Schedule, Vec<String>)> {
    let mut groups: BTreeMap<String, (Schedule, Vec<String>)> = BTreeMap::new();
    for connection in &config.connections {
        let schedule = connection
            .schedule
            .clone()
            .unwrap_or_else(|| config.daemon.schedule.clone());
        groups
            .entry(schedule.as_str().to_string())
            .or_insert_with(|| (schedule, Vec::new()))
            .1
            .push(connection.name.clone());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn period_is_the_gap_between_firings() {
        let every_5_min = Schedule::parse("0 */5 * * * *").unwrap();
        assert_eq!(
            period(&every_5_min, at(12, 1, 0)),
            Some(Duration::from_secs(300))
        );
        let every_second = Schedule::parse("* * * * * *").unwrap();
        assert_eq!(
            period(&every_second, at(12, 0, 0)),
            Some(Duration::from_secs(1))
        );
        let hourly = Schedule::parse("0 0 * * * *").unwrap();
        assert_eq!(
            period(&hourly, at(12, 30, 0)),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn jitter_is_stable_and_inside_the_period() {
        let period = Duration::from_secs(60);
        assert_eq!(jitter("alice-mexc", period), jitter("alice-mexc", period));
        for i in 0..1000 {
            assert!(jitter(&format!("conn-{i}"), period) < period);
        }
    }

    #[test]
    fn jitter_spreads_ten_thousand_keys_over_the_period() {
        let period = Duration::from_secs(60);
        let mut per_second = [0u32; 60];
        for i in 0..10_000 {
            per_second[jitter(&format!("user-{i}-mexc"), period).as_secs() as usize] += 1;
        }
        // An even spread puts ~167 in each second; no second should get more than double.
        let busiest = per_second.iter().max().unwrap();
        let quietest = per_second.iter().min().unwrap();
        assert!(*busiest < 334 && *quietest > 80, "{per_second:?}");
    }

    #[test]
    fn release_slots_are_whole_slots_inside_the_period_and_never_after_the_jitter() {
        let period = Duration::from_secs(10);
        let mut slots = std::collections::BTreeSet::new();
        for i in 0..10_000 {
            let name = format!("user-{i}-kucoin");
            let slot = release_slot(&name, period);
            assert!(slot <= jitter(&name, period) && slot < period);
            assert_eq!(slot.as_millis() % RELEASE_SLOT.as_millis(), 0);
            slots.insert(slot);
        }
        assert_eq!(
            slots.len(),
            100,
            "10,000 keys use every 100 ms slot of 10 s"
        );
    }
}
