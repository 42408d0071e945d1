//! Times as people type them in chat (`2h`, `until 18:00`, `from 2026-12-24 09:00 for 2d`) and
//! as the bot writes them back, in a timezone.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

/// The longest override or listing span.
pub(crate) const LONGEST: Duration = Duration::days(90);

/// What an interval should look like, for error messages.
const EXPECTED_SPAN: &str = "expected how long (2h, 1h 30m), until <time>, or from <time> until <time> / for <how long>; \
     a time is 18:00, tomorrow 09:00 or 2026-12-24 09:00, in your timezone unless it ends with UTC";

/// Reads a wall-clock time `HH:MM` (`24:00` is not one).
pub(crate) fn parse_clock(text: &str) -> Result<NaiveTime, String> {
    NaiveTime::parse_from_str(text.trim(), "%H:%M")
        .map_err(|_| format!("expected a time of day like 09:00, got {:?}", text.trim()))
}

/// The instant of a wall-clock time in `tz`: in a gap (spring forward), the first instant
/// after it; when ambiguous (fall back), the earlier.
pub(crate) fn instant(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    (0..=180)
        .filter_map(|minutes| local.checked_add_signed(Duration::minutes(minutes)))
        .find_map(|local| tz.from_local_datetime(&local).earliest())
        .map_or_else(|| Utc.from_utc_datetime(&local), |at| at.with_timezone(&Utc))
}

/// Reads the time of a moment: `18:00`, or `18:00:30` to the second.
fn parse_time(text: &str) -> Option<NaiveTime> {
    parse_clock(text).ok().or_else(|| NaiveTime::parse_from_str(text, "%H:%M:%S").ok())
}

/// Reads a moment: `18:00` (the next one), `tomorrow 09:00`, `2026-12-24 09:00`, `2026-12-24`,
/// each in `tz` unless followed by `UTC`; a time may have seconds (`18:00:30`).
pub(crate) fn parse_moment(text: &str, now: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let (text, tz) = match text.strip_suffix(" UTC").or_else(|| text.strip_suffix(" utc")) {
        Some(rest) => (rest.trim(), chrono_tz::UTC),
        None => (text, tz),
    };
    let today = now.with_timezone(&tz).date_naive();
    let words: Vec<&str> = text.split_whitespace().collect();
    let local = match words.as_slice() {
        [clock] if clock.contains(':') => {
            let time = parse_time(clock)?;
            let at = instant(tz, today.and_time(time));
            return Some(if at > now { at } else { instant(tz, (today + Duration::days(1)).and_time(time)) });
        }
        ["today", clock] => today.and_time(parse_time(clock)?),
        ["tomorrow", clock] => (today + Duration::days(1)).and_time(parse_time(clock)?),
        [date] => date.parse::<NaiveDate>().ok()?.and_time(NaiveTime::MIN),
        [date, clock] => date.parse::<NaiveDate>().ok()?.and_time(parse_time(clock)?),
        _ => return None,
    };
    Some(instant(tz, local))
}

fn parse_length(text: &str) -> Option<Duration> {
    let length = humantime::parse_duration(text.trim()).ok()?;
    Duration::from_std(length).ok().filter(|length| *length > Duration::zero())
}

/// Reads an interval from `now`: `2h`, `until <moment>`, `from <moment> until <moment>`,
/// `from <moment> for <length>`. It must end after `now`, after it starts, and last at most
/// [`LONGEST`].
pub(crate) fn parse_span(text: &str, now: DateTime<Utc>, tz: Tz) -> Result<(DateTime<Utc>, DateTime<Utc>), String> {
    let text = text.trim();
    let refused = || format!("{EXPECTED_SPAN}; got {text:?}");
    let (start, end) = if let Some(rest) = text.strip_prefix("from ") {
        let (from, end) = if let Some((from, until)) = rest.split_once(" until ") {
            let from = parse_moment(from, now, tz).ok_or_else(refused)?;
            (from, parse_moment(until, from, tz).ok_or_else(refused)?)
        } else if let Some((from, length)) = rest.split_once(" for ") {
            let from = parse_moment(from, now, tz).ok_or_else(refused)?;
            (from, from.checked_add_signed(parse_length(length).ok_or_else(refused)?).ok_or_else(refused)?)
        } else {
            return Err(refused());
        };
        (from, end)
    } else if let Some(until) = text.strip_prefix("until ") {
        (now, parse_moment(until, now, tz).ok_or_else(refused)?)
    } else {
        (now, now.checked_add_signed(parse_length(text).ok_or_else(refused)?).ok_or_else(refused)?)
    };
    if end <= start.max(now) {
        return Err(format!(
            "the interval {} to {} is over or empty; {EXPECTED_SPAN}",
            local(start, tz),
            local(end, tz)
        ));
    }
    if end - start > LONGEST {
        return Err(format!(
            "at most {} days at once; got {} to {}",
            LONGEST.num_days(),
            local(start, tz),
            local(end, tz)
        ));
    }
    Ok((start.max(now), end))
}

/// `Mon 7 Dec 09:00` in `tz`.
pub(crate) fn local(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%a %-d %b %H:%M").to_string()
}

/// `45m`, `3h`, `2d 4h`.
pub(crate) fn length(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes().max(0);
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let parts: Vec<String> = [(days, "d"), (hours, "h"), (minutes, "m")]
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if parts.is_empty() { "0m".to_owned() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Madrid;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn moments_read_in_the_readers_timezone() {
        let now = at("2026-12-07T10:00:00Z"); // 11:00 in Madrid
        assert_eq!(parse_moment("18:00", now, Madrid), Some(at("2026-12-07T17:00:00Z")));
        assert_eq!(parse_moment("09:00", now, Madrid), Some(at("2026-12-08T08:00:00Z")), "the next one");
        assert_eq!(parse_moment("tomorrow 09:00", now, Madrid), Some(at("2026-12-08T08:00:00Z")));
        assert_eq!(parse_moment("2026-12-24 09:00", now, Madrid), Some(at("2026-12-24T08:00:00Z")));
        assert_eq!(parse_moment("2026-12-24 09:00 UTC", now, Madrid), Some(at("2026-12-24T09:00:00Z")));
        assert_eq!(parse_moment("10:00:30 UTC", now, Madrid), Some(at("2026-12-07T10:00:30Z")));
        assert_eq!(parse_moment("2026-12-24", now, Madrid), Some(at("2026-12-23T23:00:00Z")));
        assert_eq!(parse_moment("soon", now, Madrid), None);
        assert_eq!(parse_moment("25:00", now, Madrid), None);
    }

    #[test]
    fn spans_start_now_or_later_and_end_after_they_start() {
        let now = at("2026-12-07T10:00:00Z");
        assert_eq!(parse_span("2h", now, Madrid), Ok((now, at("2026-12-07T12:00:00Z"))));
        assert_eq!(parse_span("1h 30m", now, Madrid), Ok((now, at("2026-12-07T11:30:00Z"))));
        assert_eq!(parse_span("until 18:00", now, Madrid), Ok((now, at("2026-12-07T17:00:00Z"))));
        assert_eq!(
            parse_span("from 2026-12-24 09:00 until 2026-12-26 09:00", now, Madrid),
            Ok((at("2026-12-24T08:00:00Z"), at("2026-12-26T08:00:00Z")))
        );
        assert_eq!(
            parse_span("from 2026-12-24 09:00 for 2d", now, Madrid),
            Ok((at("2026-12-24T08:00:00Z"), at("2026-12-26T08:00:00Z")))
        );
        assert!(parse_span("0s", now, Madrid).unwrap_err().starts_with("expected how long"));
        assert!(parse_span("from 2026-12-01 09:00 until 2026-12-02 09:00", now, Madrid).unwrap_err().contains("over"));
        assert!(parse_span("200d", now, Madrid).unwrap_err().starts_with("at most 90 days"));
        assert!(parse_span("99999999999999999999h", now, Madrid).is_err());
        assert!(parse_span("from +262142-12-31 23:59 for 9000000h", now, Madrid).is_err(), "no overflow");
        assert!(parse_span("from 9999-12-31 23:59 until +262143-12-31 23:59", now, Madrid).is_err());
    }

    #[test]
    fn a_wall_clock_time_in_a_dst_gap_starts_after_it() {
        let local = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap().and_hms_opt(2, 30, 0).unwrap();
        assert_eq!(instant(Madrid, local), at("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn lengths_read_shortly() {
        let from = at("2026-12-07T10:00:00Z");
        assert_eq!(length(from, at("2026-12-09T14:30:00Z")), "2d 4h 30m");
        assert_eq!(length(from, from), "0m");
    }
}
