//! Dates, times and durations as incident responders read them: always UTC, minutes precision.

use chrono::{DateTime, Utc};

/// `2026-11-21 03:05`.
pub(crate) fn date_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// `03:05`.
pub(crate) fn time(at: DateTime<Utc>) -> String {
    at.format("%H:%M").to_string()
}

/// `2h 8m`, `45m`, `1d 3h`, or `<1m`.
pub(crate) fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => "<1m".to_owned(),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// `10m` for a std duration.
pub(crate) fn span(duration: std::time::Duration) -> String {
    let start = DateTime::<Utc>::UNIX_EPOCH;
    self::duration(start, firebell_core::clock::after(start, duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
    }

    #[test]
    fn durations_read_like_people_write_them() {
        let start = at("2026-11-21T03:00:00Z");
        let after = |minutes: i64| start + chrono::Duration::minutes(minutes);
        assert_eq!(duration(start, start + chrono::Duration::seconds(20)), "<1m");
        assert_eq!(duration(start, after(45)), "45m");
        assert_eq!(duration(start, after(120)), "2h");
        assert_eq!(duration(start, after(128)), "2h 8m");
        assert_eq!(duration(start, after(27 * 60 + 5)), "1d 3h");
        assert_eq!(span(std::time::Duration::from_secs(600)), "10m");
        assert_eq!(date_time(start), "2026-11-21 03:00");
        assert_eq!(time(after(5)), "03:05");
    }
}
