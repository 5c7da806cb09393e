//! Expiry dates from the counts exchanges report ("valid 82 more days"), by arithmetic that
//! cannot overflow.
//!
//! A reply is untrusted input: a proxy or a broken exchange can send `remainingValidity: 1e300`
//! or `validDays: 9223372036854775807`, and `now + chrono::Duration::days(d)` panics on those,
//! which killed the whole `check` run (issue 19). Every "now + N units" of an exchange module
//! goes through [`after`], which clamps instead.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

/// The unit an exchange counts a key's remaining life in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Days,
}

impl Unit {
    fn seconds(self) -> f64 {
        match self {
            Unit::Seconds => 1.0,
            Unit::Days => 86_400.0,
        }
    }
}

/// The latest expiry ever reported: 9999-12-31 23:59:59 UTC. A later date means "not in any
/// lifetime" just as well, and this one still has a four-digit year, so every consumer (RFC 3339
/// readers, Prometheus' float seconds, email and Telegram text) takes it as it is.
pub fn latest() -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(9999, 12, 31)
        .and_then(|d| d.and_hms_opt(23, 59, 59))
        .expect("9999-12-31 23:59:59 is a valid date")
        .and_utc()
}

/// `from` plus `amount` units, clamped: a negative amount (or -inf) counts as none, so the
/// result is `from`; a result past [`latest`] (a huge amount, +inf) is [`latest`]. `None` only
/// for NaN, which is no number at all. Sub-second parts are kept to the millisecond.
pub fn after(from: DateTime<Utc>, amount: f64, unit: Unit) -> Option<DateTime<Utc>> {
    if amount.is_nan() {
        return None;
    }
    let latest = latest();
    let seconds = amount.max(0.0) * unit.seconds();
    // Both ends are real dates, so their distance is far inside TimeDelta's range.
    let room = (latest - from).num_milliseconds();
    if room <= 0 {
        return Some(latest);
    }
    let millis = seconds * 1000.0;
    if millis >= room as f64 {
        return Some(latest);
    }
    // Below `room` (at most ~3.2e14 ms), so the cast is exact enough and cannot saturate.
    let delta = TimeDelta::try_milliseconds(millis as i64)?;
    Some(from.checked_add_signed(delta).unwrap_or(latest).min(latest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 3, 8, 0, 0).unwrap()
    }

    #[test]
    fn ordinary_counts_add_exactly() {
        assert_eq!(
            after(now(), 5.0, Unit::Days),
            Some(now() + TimeDelta::days(5))
        );
        assert_eq!(
            after(now(), 0.5, Unit::Days),
            Some(now() + TimeDelta::hours(12))
        );
        assert_eq!(
            after(now(), 90.0, Unit::Seconds),
            Some(now() + TimeDelta::seconds(90))
        );
        assert_eq!(after(now(), 0.0, Unit::Days), Some(now()));
    }

    #[test]
    fn huge_counts_clamp_to_the_latest_date() {
        for huge in [i64::MAX as f64, f64::MAX, f64::INFINITY, 1e300] {
            assert_eq!(
                after(now(), huge, Unit::Days),
                Some(latest()),
                "{huge} days"
            );
            assert_eq!(
                after(now(), huge, Unit::Seconds),
                Some(latest()),
                "{huge} s"
            );
        }
        // just past the end: 9999-12-31 is about 2.9 million days away
        assert_eq!(after(now(), 3_000_000.0, Unit::Days), Some(latest()));
        assert_eq!(latest().to_rfc3339(), "9999-12-31T23:59:59+00:00");
    }

    #[test]
    fn negative_counts_mean_now_and_nan_means_nothing() {
        for negative in [-1.0, -0.0, f64::MIN, f64::NEG_INFINITY, i64::MIN as f64] {
            assert_eq!(
                after(now(), negative, Unit::Days),
                Some(now()),
                "{negative}"
            );
        }
        assert_eq!(after(now(), f64::NAN, Unit::Days), None);
        assert_eq!(after(now(), f64::NAN, Unit::Seconds), None);
    }

    #[test]
    fn a_start_at_or_past_the_latest_date_stays_there() {
        let far = Utc.with_ymd_and_hms(200_000, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(after(far, 1.0, Unit::Days), Some(latest()));
        assert_eq!(after(latest(), 1.0, Unit::Days), Some(latest()));
        assert_eq!(
            after(DateTime::<Utc>::MAX_UTC, f64::MAX, Unit::Days),
            Some(latest())
        );
        // the earliest date chrono knows: still no overflow, only the clamp
        assert_eq!(
            after(DateTime::<Utc>::MIN_UTC, f64::MAX, Unit::Days),
            Some(latest())
        );
        let last_day = latest() - TimeDelta::days(1);
        assert_eq!(after(last_day, 1.0, Unit::Days), Some(latest()));
        assert_eq!(after(last_day, 2.0, Unit::Days), Some(latest()));
    }
}
