//! Property tests of everything a person or another tool hands the oncall plugin: rotations,
//! windows and spans typed in chat, and calendar exports fetched from the internet. Whatever
//! comes in, the answer is a value or one line saying what was expected, never a panic; and a
//! computed schedule covers each instant at most once.
//!
//! `FIREBELL_FUZZ_CASES` sets the number of cases (a few thousand by default; `scripts/fuzz`
//! runs millions).

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

use crate::ical;
use crate::schedule::{Restriction, Rotation};
use crate::when::{parse_moment, parse_span};

fn cases() -> u32 {
    std::env::var("FIREBELL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(3000)
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z").expect("a time").to_utc()
}

/// Text shaped like what people type for spans and windows, and anything else.
fn typed() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "(from |until |for |tomorrow |today )?[0-9]{1,4}[-:]?[0-9]{0,2}[-: ]?[0-9]{0,2}( UTC| until | for )?[0-9hdmsw ]{0,8}",
        "(mon|tue|weekdays|weekends|daily|sat,sun|fri-mon)? ?[0-9]{2}:[0-9]{2}-[0-9]{2}:[0-9]{2}( [A-Za-z/_]{0,20})?",
        "[0-9]{0,6}[hdw]?(ours|ays|eeks)?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn typed_rotations_windows_and_spans_read_or_say_what_was_expected(text in typed()) {
        for refusal in [
            text.parse::<Rotation>().err().map(|err| err.to_string()),
            text.parse::<Restriction>().err().map(|err| err.to_string()),
            parse_span(&text, now(), chrono_tz::Europe::Madrid).err(),
        ]
        .into_iter()
        .flatten()
        {
            let said = ["expected", "at most", "the interval"].iter().any(|start| refusal.starts_with(start));
            prop_assert!(!refusal.contains('\n') && said, "{refusal}");
        }
        if let Ok((start, end)) = parse_span(&text, now(), chrono_tz::Europe::Madrid) {
            prop_assert!(start >= now() && end > start && end - start <= Duration::days(90));
        }
        let _ = parse_moment(&text, now(), chrono_tz::America::Los_Angeles);
    }

    #[test]
    fn calendar_exports_read_or_say_what_was_wrong(body in prop_oneof![
        ".{0,400}",
        "BEGIN:VCALENDAR\r\n(BEGIN:VEVENT\r\n(DTSTART(;TZID=[A-Za-z/]{1,20})?:[0-9T]{8,16}Z?\r\n|DTEND:[0-9T]{8,16}\r\n|SUMMARY:[ -~]{0,30}\r\n|RRULE:FREQ=DAILY\r\n|STATUS:CANCELLED\r\n|[A-Z]{1,8}(;[A-Z]+=[^:\r\n]{0,5})?:[ -~]{0,20}\r\n){0,6}END:VEVENT\r\n){0,3}(END:VCALENDAR)?",
    ]) {
        match ical::parse(&body, now(), now() + Duration::days(90)) {
            Ok(shifts) => prop_assert!(shifts.iter().all(|s| s.start < s.end && !s.names.is_empty())),
            Err(err) => prop_assert!(!err.to_string().contains('\n'), "{err}"),
        }
    }
}
