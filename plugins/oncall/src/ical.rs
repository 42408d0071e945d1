//! iCalendar (RFC 5545) for on-call schedules: [`render`] publishes shifts as a feed that calendar
//! apps subscribe to, and [`parse`] reads the on-call intervals out of another tool's export
//! (PagerDuty's schedule feed, Grafana OnCall's schedule export, or any plain iCalendar file).
//!
//! Both directions go through the `icalendar` crate: its builder writes the feed and its parser
//! reads the exports. Everything here is pure (no clock, no network, no files), and [`parse`] reads
//! text from the internet, so every malformed input ends in an [`ImportError`], never in a panic.
//!
//! Three things are done here on top of the crate. Its line folding can leave a continuation line
//! at 76 octets, so [`render`] unfolds the builder's output and folds it again at 75 octets. Its
//! parser recurses once per `BEGIN:`, and on a malformed parameter it reads on past the end of the
//! line and can miss an `END:`, so [`parse`] cuts the calendar at its BEGIN/END lines and gives
//! the parser one top-level component at a time, with at most 16 components inside an event: the
//! recursion stays bounded whatever the parser misreads. And it reads a value up to the next CRLF
//! anywhere in the text, so [`parse`] first makes every line end in CRLF.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use chrono_tz::{GapInfo, TZ_VARIANTS, Tz};
use icalendar::parser::{read_calendar_simple, unfold};
use icalendar::{
    Calendar, CalendarComponent, CalendarDateTime, Component, DatePerhapsTime, Event, EventLike, Property, Trigger,
};

/// The `PRODID` of every feed.
const PRODID: &str = "-//Firebell//On-call//EN";

/// How often subscribers should fetch a feed again, as an iCalendar duration.
const REFRESH: &str = "PT1H";

/// The longest content line, in octets without the line break (RFC 5545, section 3.1).
const FOLD_OCTETS: usize = 75;

/// The most events an export may have.
const MAX_EVENTS: usize = 5_000;

/// The deepest nesting of components an export may have (VCALENDAR > VTIMEZONE > STANDARD is 3).
const MAX_NESTING: usize = 8;

/// The most components (such as VALARMs) one VEVENT may contain.
const MAX_NESTED_IN_EVENT: usize = 16;

/// The most candidate names kept for one shift.
const MAX_NAMES: usize = 16;

/// How many characters of a bad value an error message quotes.
const QUOTE_CHARS: usize = 60;

/// One event of a feed: a shift of the on-call schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// The event's stable identity, the same in every refresh of the feed while the shift lasts.
    pub uid: String,
    /// The event's title, shown in the calendar.
    pub summary: String,
    /// The event's longer text.
    pub description: String,
    /// When the shift starts.
    pub start: DateTime<Utc>,
    /// When the shift ends (exclusive).
    pub end: DateTime<Utc>,
}

/// An on-call interval read from another tool's export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedShift {
    /// The ways the export names the person on call, best first, at most 16, without duplicates
    /// (compared case-insensitively): the name in the SUMMARY (PagerDuty's "On Call - Alice Smith -
    /// Primary" gives "Alice Smith"; Grafana OnCall's `[L1] alice` or `alice (Primary)` gives
    /// "alice"), then for each ATTENDEE and the ORGANIZER its CN, its e-mail address and that
    /// address's local part.
    pub names: Vec<String>,
    /// When the interval starts, clipped to the window that was asked for.
    pub start: DateTime<Utc>,
    /// When the interval ends (exclusive), clipped to the window that was asked for.
    pub end: DateTime<Utc>,
}

/// Why an export could not be read: one line that says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The text does not start with `BEGIN:VCALENDAR`, so it is some other kind of file.
    #[error("expected an iCalendar file (BEGIN:VCALENDAR), got {got:?}")]
    NotCalendar {
        /// The start of the text's first line.
        got: String,
    },
    /// The iCalendar parser could not read a line.
    #[error("expected an iCalendar content line (NAME:value) at line {line}, got {got:?}")]
    Malformed {
        /// The line, counted in the file as given.
        line: usize,
        /// The start of that line, unfolded.
        got: String,
    },
    /// The text stops before every component is closed.
    #[error("expected {expected}, but the file ends before it")]
    Truncated {
        /// The END line that is missing.
        expected: String,
    },
    /// An END line does not close the innermost open component.
    #[error("expected {expected} at line {line}, got {got:?}")]
    Unbalanced {
        /// The line, counted in the file as given.
        line: usize,
        /// What should have come.
        expected: String,
        /// The END line that came instead.
        got: String,
    },
    /// An event contains more components (such as alarms) than any shift needs.
    #[error("expected at most {max} components (such as VALARM) inside the VEVENT at line {line}, got more")]
    CrowdedEvent {
        /// The line of the event's `BEGIN:VEVENT`.
        line: usize,
        /// The most components allowed inside one event.
        max: usize,
    },
    /// Components are nested deeper than any calendar needs.
    #[error("expected components nested at most {max} deep, got deeper nesting at line {line}")]
    TooDeep {
        /// The line of the `BEGIN:` that goes too deep.
        line: usize,
        /// The deepest nesting allowed.
        max: usize,
    },
    /// The export has more events than an import takes.
    #[error("expected at most {max} events, got {found}")]
    TooManyEvents {
        /// How many VEVENTs the file has.
        found: usize,
        /// The most that are taken.
        max: usize,
    },
    /// An event has no start.
    #[error("expected a DTSTART in {event}")]
    MissingStart {
        /// Which event: its line and UID.
        event: String,
    },
    /// An event with a date-time start has neither an end nor a duration.
    #[error("expected a DTEND or DURATION in {event}")]
    MissingEnd {
        /// Which event: its line and UID.
        event: String,
    },
    /// A start or end is not a date or date-time.
    #[error("expected {property} in {event} to be a date (20261207) or date-time (20261207T090000Z), got {value:?}")]
    BadTime {
        /// Which event: its line and UID.
        event: String,
        /// DTSTART or DTEND.
        property: String,
        /// The start of the value.
        value: String,
    },
    /// A `DURATION` is not a positive iCalendar duration.
    #[error("expected DURATION in {event} to be a positive duration such as PT8H, got {value:?}")]
    BadDuration {
        /// Which event: its line and UID.
        event: String,
        /// The start of the value.
        value: String,
    },
    /// A `TZID` is not an IANA time zone name (Windows names and custom VTIMEZONEs are not read).
    #[error("expected an IANA time zone such as Europe/Madrid in {event}, got TZID={tzid:?}")]
    UnknownTimeZone {
        /// Which event: its line and UID.
        event: String,
        /// The time zone as the file names it.
        tzid: String,
    },
    /// An event does not end after it starts.
    #[error("expected DTEND after DTSTART in {event}, got {start} to {end}")]
    EmptyInterval {
        /// Which event: its line and UID.
        event: String,
        /// The event's start.
        start: DateTime<Utc>,
        /// The event's end.
        end: DateTime<Utc>,
    },
    /// An event names nobody.
    #[error("expected a person's name in {event} (SUMMARY, ATTENDEE or ORGANIZER), got none")]
    NoName {
        /// Which event: its line and UID.
        event: String,
    },
    /// An event repeats, which would need recurrence expansion.
    #[error("expected one VEVENT per shift, but {event} repeats with {property}, which is not supported")]
    Recurring {
        /// Which event: its line and UID.
        event: String,
        /// RRULE or RDATE.
        property: String,
    },
}

/// A whole VCALENDAR: PRODID "-//Firebell//On-call//EN", VERSION 2.0, CALSCALE GREGORIAN, METHOD
/// PUBLISH, X-WR-CALNAME `name`, REFRESH-INTERVAL and X-PUBLISHED-TTL of one hour, and one VEVENT
/// per event with UID, DTSTAMP (`stamp`, so the same input always gives the same bytes),
/// DTSTART/DTEND in UTC, SUMMARY, DESCRIPTION and TRANSP:TRANSPARENT.
///
/// Lines end in CRLF and are folded at 75 octets, never inside a character; text is escaped
/// (backslashes, commas, semicolons, newlines), and control characters other than tab and newline
/// are dropped. Times are written to the second. An event that does not end after it starts, or
/// whose times fall outside the years 0000 to 9999, cannot be written as iCalendar and is left out.
pub fn render(name: &str, events: &[FeedEvent], stamp: DateTime<Utc>) -> String {
    let mut calendar = Calendar::empty();
    for property in calendar_properties(name) {
        calendar.append_property(property);
    }
    calendar.extend(events.iter().filter(|event| is_writable(event)).map(|event| vevent(event, stamp)));
    fold_lines(&unfold(&calendar.to_string()))
}

/// The properties of the VCALENDAR itself, in the order they are written.
fn calendar_properties(name: &str) -> [Property; 7] {
    [
        Property::new("PRODID", PRODID),
        Property::new("VERSION", "2.0"),
        Property::new("CALSCALE", "GREGORIAN"),
        Property::new("METHOD", "PUBLISH"),
        Property::new("X-WR-CALNAME", clean_text(name)),
        Property::new("REFRESH-INTERVAL", REFRESH).add_parameter("VALUE", "DURATION").done(),
        Property::new("X-PUBLISHED-TTL", REFRESH),
    ]
}

/// Whether `event` can be written: it ends after it starts (to the second) within years 0-9999.
fn is_writable(event: &FeedEvent) -> bool {
    let in_range = |time: DateTime<Utc>| (0..=9999).contains(&time.year());
    event.start.timestamp() < event.end.timestamp() && in_range(event.start) && in_range(event.end)
}

/// The VEVENT of one shift. DTSTAMP and UID are always set, as the builder would otherwise add
/// the current time and a random UID, and the output would change on every call.
fn vevent(event: &FeedEvent, stamp: DateTime<Utc>) -> Event {
    Event::new()
        .uid(&clean_text(&event.uid))
        .timestamp(stamp)
        .starts(CalendarDateTime::Utc(event.start))
        .ends(CalendarDateTime::Utc(event.end))
        .summary(&clean_text(&event.summary))
        .description(&clean_text(&event.description))
        .add_property("TRANSP", "TRANSPARENT")
        .done()
}

/// `text` as iCalendar TEXT can carry it: CR and CRLF become LF (which the builder escapes as
/// `\n`), and other control characters but tab are dropped.
fn clean_text(text: &str) -> String {
    text.replace("\r\n", "\n")
        .replace('\r', "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

/// Folds every line of `unfolded` (CRLF-separated) at [`FOLD_OCTETS`].
fn fold_lines(unfolded: &str) -> String {
    let mut folded = String::with_capacity(unfolded.len() + unfolded.len() / 20);
    for line in unfolded.split_terminator("\r\n") {
        fold_line(line, &mut folded);
    }
    folded
}

/// Appends `line` to `out` folded as RFC 5545 says: no physical line longer than 75 octets, each
/// continuation starting with one space, no cut inside a UTF-8 character.
fn fold_line(line: &str, out: &mut String) {
    let mut rest = line;
    let mut room = FOLD_OCTETS;
    while rest.len() > room {
        let (head, tail) = rest.split_at(floor_char_boundary(rest, room));
        out.push_str(head);
        out.push_str("\r\n ");
        rest = tail;
        room = FOLD_OCTETS - 1;
    }
    out.push_str(rest);
    out.push_str("\r\n");
}

/// The largest character boundary of `text` at or before `index` (and after 0, as `index` is at
/// least 74 here and a character has at most 4 octets).
fn floor_char_boundary(text: &str, index: usize) -> usize {
    (1..=index.min(text.len())).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(text.len())
}

/// Reads every VEVENT of `ics` that overlaps [`from`, `to`), clipped to it, sorted by start.
///
/// Times may be in UTC, with a TZID that is an IANA name (Windows names and custom VTIMEZONEs are
/// refused with an error that names the TZID), floating (read as UTC), or all-day dates (from the
/// start of the day in UTC; without DTEND the event lasts one day). A DURATION stands in for a
/// missing DTEND. A local time skipped by a daylight-saving change is read with the offset before
/// the change, and a repeated one as its first occurrence (RFC 5545, section 3.3.5).
///
/// Only VEVENTs are read: other components (VTIMEZONE, VTODO, …) are skipped, as are cancelled
/// events (STATUS:CANCELLED). Every other event must have a DTSTART, end after it starts, and name
/// someone; otherwise the whole import fails with an error naming the event by line and UID, as
/// does an event that repeats (RRULE or RDATE). A file with more than 5,000 events, or that is not
/// an iCalendar file at all (an HTML page, say), is refused.
pub fn parse(ics: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ImportedShift>, ImportError> {
    let (text, skipped_lines) = calendar_text(ics)?;
    // The crate reads a value up to the next CRLF anywhere in the text: LF-only lines before a
    // CRLF would run together, and each value of an LF-only file would cost a search to its end.
    let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
    let unfolded = unfold(&text);
    let lines = LineMap::new(&text, skipped_lines);
    let layout = Layout::scan(&unfolded, &lines)?;
    check_header(&layout, &lines)?;
    let mut shifts = Vec::new();
    for (index, part) in layout.parts.iter().filter(|part| part.name == "VEVENT").enumerate() {
        let event = read_part(part, &lines)?;
        let label = label(&event, lines.line(part.first), index);
        if let Some(shift) = read_event(&event, &label)?.and_then(|shift| clip(shift, from, to)) {
            shifts.push(shift);
        }
    }
    shifts.sort_by_key(|shift| (shift.start, shift.end));
    Ok(shifts)
}

/// The calendar in `ics` without a byte-order mark and surrounding blank space, with the number of
/// lines dropped before it; or an error if it does not start with `BEGIN:VCALENDAR`.
fn calendar_text(ics: &str) -> Result<(&str, usize), ImportError> {
    let without_bom = ics.strip_prefix('\u{feff}').unwrap_or(ics);
    let text = without_bom.trim_start();
    let skipped = without_bom.len() - text.len();
    let first_line = text.lines().next().unwrap_or("").trim_end();
    if first_line != "BEGIN:VCALENDAR" {
        return Err(ImportError::NotCalendar { got: quote(first_line) });
    }
    let skipped_lines = without_bom.get(..skipped).map_or(0, |blank| blank.matches('\n').count());
    Ok((text.trim_end(), skipped_lines))
}

/// Where each line of the unfolded text starts in the file as given, to name lines in errors.
struct LineMap {
    /// The 1-based line in the file of each unfolded line.
    starts: Vec<usize>,
}

impl LineMap {
    /// The map for `text`, which came after `skipped` blank lines. A line that starts with a space
    /// or tab continues the line before it, which is what unfolding joins.
    fn new(text: &str, skipped: usize) -> Self {
        let starts = text
            .split('\n')
            .enumerate()
            .filter(|(index, line)| *index == 0 || !line.starts_with([' ', '\t']))
            .map(|(index, _)| index + 1 + skipped)
            .collect();
        LineMap { starts }
    }

    /// The line in the file of unfolded line `index` (0-based).
    fn line(&self, index: usize) -> usize {
        self.starts.get(index).or(self.starts.last()).copied().unwrap_or(1)
    }
}

/// The unfolded calendar cut into what the crate's parser reads one piece at a time: the
/// calendar's own properties, and each component directly inside it.
///
/// The parser recurses once per `BEGIN:`, and some malformed parameters make it read past the end
/// of a line, where it may miss an `END:`. Giving it one top-level component at a time, with a
/// bounded number of `BEGIN:` lines in it, bounds its recursion whatever it misreads.
#[derive(Default)]
struct Layout<'a> {
    /// The calendar's own property lines, as unfolded line indexes and text.
    header: Vec<(usize, &'a str)>,
    /// The components directly inside the VCALENDAR, in order.
    parts: Vec<Part<'a>>,
    /// The unfolded line index of the `END:VCALENDAR` line.
    close: usize,
}

/// A component directly inside the VCALENDAR, from its `BEGIN:` line to its `END:` line.
struct Part<'a> {
    /// The component's name, like VEVENT or VTIMEZONE.
    name: &'a str,
    /// The unfolded line index of its `BEGIN:` line.
    first: usize,
    /// Its text, `BEGIN:` and `END:` lines included.
    text: &'a str,
    /// How many components are nested in it.
    nested: usize,
}

impl<'a> Layout<'a> {
    /// Checks nesting, BEGIN/END pairs and the number of events, line by line, and cuts the
    /// calendar into its header and parts.
    fn scan(unfolded: &'a str, lines: &LineMap) -> Result<Self, ImportError> {
        let mut layout = Layout::default();
        let mut open: Vec<&str> = Vec::new();
        let (mut events, mut offset, mut part_start) = (0usize, 0usize, 0usize);
        for (index, raw) in unfolded.split_inclusive('\n').enumerate() {
            let line = raw.trim_end_matches(['\n', '\r']);
            let (start, end) = (offset, offset + raw.len());
            offset = end;
            if open.is_empty() && index > 0 {
                return Err(ImportError::Unbalanced {
                    line: lines.line(index),
                    expected: "nothing after END:VCALENDAR".to_owned(),
                    got: quote(line),
                });
            }
            if let Some(name) = strip_prefix_ignore_case(line, "BEGIN:").map(str::trim_end) {
                open.push(name);
                events += usize::from(name == "VEVENT");
                layout.begin(open.len(), name, index, lines)?;
                part_start = if open.len() == 2 { start } else { part_start };
            } else if let Some(name) = strip_prefix_ignore_case(line, "END:").map(str::trim_end) {
                check_end(open.pop(), name, lines.line(index))?;
                match open.len() {
                    0 => layout.close = index,
                    1 => layout.end(unfolded.get(part_start..end).unwrap_or("")),
                    _ => {}
                }
            } else if open.len() == 1 {
                layout.header.push((index, line));
            }
        }
        if let Some(name) = open.last() {
            return Err(ImportError::Truncated { expected: format!("END:{}", quote(name)) });
        }
        if events > MAX_EVENTS {
            return Err(ImportError::TooManyEvents { found: events, max: MAX_EVENTS });
        }
        Ok(layout)
    }

    /// Notes a `BEGIN:` of `name` at unfolded line `index`, now `depth` components deep.
    fn begin(&mut self, depth: usize, name: &'a str, index: usize, lines: &LineMap) -> Result<(), ImportError> {
        if depth > MAX_NESTING {
            return Err(ImportError::TooDeep { line: lines.line(index), max: MAX_NESTING });
        }
        if depth == 2 {
            self.parts.push(Part { name, first: index, text: "", nested: 0 });
        } else if let Some(part) = self.parts.last_mut().filter(|_| depth > 2) {
            part.nested += 1;
            if part.name == "VEVENT" && part.nested > MAX_NESTED_IN_EVENT {
                let line = lines.line(part.first);
                return Err(ImportError::CrowdedEvent { line, max: MAX_NESTED_IN_EVENT });
            }
        }
        Ok(())
    }

    /// Notes the end of the current part, whose whole text is `text`.
    fn end(&mut self, text: &'a str) {
        if let Some(part) = self.parts.last_mut() {
            part.text = text;
        }
    }
}

/// An error unless `name`, ended at `line`, is the innermost open component `innermost`.
fn check_end(innermost: Option<&str>, name: &str, line: usize) -> Result<(), ImportError> {
    match innermost {
        Some(innermost) if innermost == name => Ok(()),
        Some(innermost) => Err(ImportError::Unbalanced {
            line,
            expected: format!("END:{}", quote(innermost)),
            got: quote(&format!("END:{name}")),
        }),
        None => Err(ImportError::Unbalanced {
            line,
            expected: "nothing after END:VCALENDAR".to_owned(),
            got: quote(&format!("END:{name}")),
        }),
    }
}

/// `line` after `prefix`, compared ignoring ASCII case.
fn strip_prefix_ignore_case<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| line.get(prefix.len()..)).flatten()
}

/// Has the crate's parser read the calendar's own properties, which are otherwise unused.
fn check_header(layout: &Layout<'_>, lines: &LineMap) -> Result<(), ImportError> {
    let body: String = layout.header.iter().map(|(_, line)| format!("{line}\r\n")).collect();
    let header = format!("BEGIN:VCALENDAR\r\n{body}END:VCALENDAR\r\n");
    let line_of = |at: usize| match at.checked_sub(1).map(|at| layout.header.get(at)) {
        None => lines.line(0),
        Some(Some((index, _))) => lines.line(*index),
        Some(None) => lines.line(layout.close),
    };
    read_calendar_simple(&header).map(drop).map_err(|error| syntax_error(&header, error.input, line_of))
}

/// The VEVENT in `part`, as the crate's parser reads it.
fn read_part(part: &Part<'_>, lines: &LineMap) -> Result<Event, ImportError> {
    let line_of = |at: usize| lines.line(part.first + at);
    let mut components =
        read_calendar_simple(part.text).map_err(|error| syntax_error(part.text, error.input, line_of))?;
    match components.pop().map(CalendarComponent::from) {
        Some(CalendarComponent::Event(event)) if components.is_empty() => Ok(event),
        _ => Err(ImportError::Malformed { line: line_of(0), got: quote(part.text.lines().next().unwrap_or("")) }),
    }
}

/// The error for a parse of `text` that failed with `rest` left unread; `line_of` gives the line
/// in the file of a line of `text`.
fn syntax_error(text: &str, rest: &str, line_of: impl Fn(usize) -> usize) -> ImportError {
    let last_line = text.trim_end().rfind('\n').map_or(0, |at| at + 1);
    let offset = text.len().saturating_sub(rest.len()).min(last_line);
    let index = text.get(..offset).map_or(0, |read| read.matches('\n').count());
    let got = text.split('\n').nth(index).unwrap_or("");
    ImportError::Malformed { line: line_of(index), got: quote(got.trim_end_matches('\r')) }
}

/// How errors name `event`, the `index`th VEVENT (from 0), which starts at `line`.
fn label(event: &Event, line: usize, index: usize) -> String {
    match event.get_uid().map(|uid| quote(uid.trim())).filter(|uid| !uid.is_empty()) {
        Some(uid) => format!("the VEVENT at line {line} (UID {uid:?})"),
        None => format!("the VEVENT at line {line} (event {} of the file)", index + 1),
    }
}

/// The shift of one VEVENT, or `None` if it was cancelled.
fn read_event(event: &Event, label: &str) -> Result<Option<ImportedShift>, ImportError> {
    if is_cancelled(event) {
        return Ok(None);
    }
    refuse_recurrence(event, label)?;
    let start =
        read_time(event, "DTSTART", label)?.ok_or_else(|| ImportError::MissingStart { event: label.to_owned() })?;
    let end = read_end(event, &start, label)?;
    let start = start.instant();
    if end <= start {
        return Err(ImportError::EmptyInterval { event: label.to_owned(), start, end });
    }
    let names = names_of(event);
    if names.is_empty() {
        return Err(ImportError::NoName { event: label.to_owned() });
    }
    Ok(Some(ImportedShift { names, start, end }))
}

/// Whether the event says it was cancelled.
fn is_cancelled(event: &Event) -> bool {
    event.property_value("STATUS").is_some_and(|status| status.trim().eq_ignore_ascii_case("CANCELLED"))
}

/// An error if the event repeats: expanding RRULE and RDATE is not supported.
fn refuse_recurrence(event: &Event, label: &str) -> Result<(), ImportError> {
    let has = |key: &str| event.properties().contains_key(key) || event.multi_properties().contains_key(key);
    match ["RRULE", "RDATE"].into_iter().find(|key| has(key)) {
        Some(property) => Err(ImportError::Recurring { event: label.to_owned(), property: property.to_owned() }),
        None => Ok(()),
    }
}

/// A start or end as the file gives it: an instant, or a whole day.
enum Moment {
    /// A date-time, in UTC.
    At(DateTime<Utc>),
    /// A date without time (an all-day event).
    Day(NaiveDate),
}

impl Moment {
    /// The instant: a day starts at midnight UTC.
    fn instant(&self) -> DateTime<Utc> {
        match self {
            Moment::At(instant) => *instant,
            Moment::Day(day) => day.and_time(NaiveTime::MIN).and_utc(),
        }
    }
}

/// The event's `key` (DTSTART or DTEND), if it has one.
fn read_time(event: &Event, key: &str, label: &str) -> Result<Option<Moment>, ImportError> {
    let Some(property) = event.properties().get(key) else {
        return Ok(None);
    };
    let bad_time =
        || ImportError::BadTime { event: label.to_owned(), property: key.to_owned(), value: quote(property.value()) };
    match DatePerhapsTime::from_property(property).ok_or_else(bad_time)? {
        DatePerhapsTime::Date(day) => Ok(Some(Moment::Day(day))),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(instant)) => Ok(Some(Moment::At(instant))),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(local)) => Ok(Some(Moment::At(local.and_utc()))),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            let unknown = || ImportError::UnknownTimeZone { event: label.to_owned(), tzid: quote(&tzid) };
            let zone = time_zone(&tzid).ok_or_else(unknown)?;
            local_to_utc(date_time, zone).map(|instant| Some(Moment::At(instant))).ok_or_else(bad_time)
        }
    }
}

/// The event's end: its DTEND, else its start plus its DURATION, else the end of an all-day
/// start's day.
fn read_end(event: &Event, start: &Moment, label: &str) -> Result<DateTime<Utc>, ImportError> {
    if let Some(end) = read_time(event, "DTEND", label)? {
        return Ok(end.instant());
    }
    if let Some(value) = event.property_value("DURATION") {
        let bad = || ImportError::BadDuration { event: label.to_owned(), value: quote(value) };
        let duration = parse_duration(value).ok_or_else(bad)?;
        return start.instant().checked_add_signed(duration).ok_or_else(bad);
    }
    let bad_start = || ImportError::BadTime {
        event: label.to_owned(),
        property: "DTSTART".to_owned(),
        value: quote(event.property_value("DTSTART").unwrap_or("")),
    };
    match start {
        Moment::Day(_) => start.instant().checked_add_signed(Duration::days(1)).ok_or_else(bad_start),
        Moment::At(_) => Err(ImportError::MissingEnd { event: label.to_owned() }),
    }
}

/// A positive iCalendar duration (`PT8H`, `P1D`, `P1W`), read by the crate's own duration reader,
/// which it exposes only through an alarm's TRIGGER.
fn parse_duration(value: &str) -> Option<Duration> {
    match Trigger::try_from(&Property::new("TRIGGER", value.trim())) {
        Ok(Trigger::Duration(duration, _)) if duration > Duration::zero() => Some(duration),
        _ => None,
    }
}

/// The IANA time zone `tzid` names, matched exactly or else ignoring ASCII case.
fn time_zone(tzid: &str) -> Option<Tz> {
    let tzid = tzid.trim();
    tzid.parse::<Tz>().ok().or_else(|| TZ_VARIANTS.iter().copied().find(|zone| zone.name().eq_ignore_ascii_case(tzid)))
}

/// The instant of the wall-clock time `local` in `zone`. A time repeated when clocks go back is
/// its first occurrence; a time skipped when they go forward is read with the offset in force
/// before the change, as RFC 5545 (section 3.3.5) says.
fn local_to_utc(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => Some(instant.with_timezone(&Utc)),
        LocalResult::None => {
            let (_, offset_before) = GapInfo::new(&local, &zone)?.begin?;
            local.checked_sub_offset(offset_before.fix()).map(|utc| utc.and_utc())
        }
    }
}

/// The ways the event names the person on call, best first, without duplicates.
fn names_of(event: &Event) -> Vec<String> {
    let mut names = Names::default();
    if let Some(summary) = event.get_summary() {
        names.add(summary_name(summary));
    }
    for attendee in event.get_attendees() {
        names.add_person(attendee.cn.as_deref(), &attendee.cal_address);
    }
    if let Some(organizer) = event.properties().get("ORGANIZER") {
        let cn = organizer.params().get("CN").map(|cn| cn.value());
        names.add_person(cn, organizer.value());
    }
    names.0
}

/// Candidate names, in the order found, each once.
#[derive(Default)]
struct Names(Vec<String>);

impl Names {
    /// Adds `name` with its blank space collapsed, unless it is empty or already there, or
    /// [`MAX_NAMES`] names are already known (an event may list thousands of attendees).
    fn add(&mut self, name: &str) {
        if self.0.len() >= MAX_NAMES {
            return;
        }
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        if !name.is_empty() && !self.0.iter().any(|known| known.to_lowercase() == name.to_lowercase()) {
            self.0.push(name);
        }
    }

    /// Adds an ATTENDEE's or ORGANIZER's common name, e-mail address and the address's local part.
    fn add_person(&mut self, cn: Option<&str>, address: &str) {
        if let Some(cn) = cn {
            self.add(cn.trim_matches('"'));
        }
        if let Some((email, local)) = email_of(address) {
            self.add(email);
            self.add(local);
        }
    }
}

/// The e-mail address in a CAL-ADDRESS (`mailto:alice@example.com`, or PagerDuty's bare
/// `alice@example.com`) and its local part.
fn email_of(address: &str) -> Option<(&str, &str)> {
    let address = address.trim();
    let email = strip_prefix_ignore_case(address, "mailto:").unwrap_or(address).trim();
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && !domain.is_empty()).then_some((email, local))
}

/// The person in a SUMMARY: PagerDuty writes "On Call - Alice Smith - Primary"; Grafana OnCall
/// writes the username, maybe after a tag like `[L1] ` and maybe before a note like ` (Primary)`.
fn summary_name(summary: &str) -> &str {
    let summary = summary.trim();
    match strip_prefix_ignore_case(summary, "On Call - ") {
        Some(rest) => rest.split(" - ").next().unwrap_or(rest).trim(),
        None => strip_suffix_note(strip_prefix_tags(summary)),
    }
}

/// `summary` without leading tags such as `[L1] `, unless nothing would be left.
fn strip_prefix_tags(summary: &str) -> &str {
    let mut rest = summary;
    while let Some(after) = rest.strip_prefix('[').and_then(|tagged| tagged.split_once(']')).map(|(_, after)| after) {
        if after.trim().is_empty() {
            break;
        }
        rest = after.trim_start();
    }
    rest
}

/// `summary` without a trailing note such as " (Primary)", unless nothing would be left.
fn strip_suffix_note(summary: &str) -> &str {
    let Some(open) = summary.ends_with(')').then(|| summary.rfind(" (")).flatten() else {
        return summary;
    };
    match summary.get(..open).map(str::trim_end) {
        Some(head) if !head.is_empty() => head,
        _ => summary,
    }
}

/// `shift` clipped to [`from`, `to`), or `None` if it falls outside.
fn clip(shift: ImportedShift, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<ImportedShift> {
    let start = shift.start.max(from);
    let end = shift.end.min(to);
    (start < end).then_some(ImportedShift { start, end, ..shift })
}

/// At most [`QUOTE_CHARS`] characters of `text`, for an error message.
fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The instant `y-m-d h:mi` UTC.
    fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("a valid test time")
    }

    /// `text` with every LF turned into CRLF, as exporters send it.
    fn crlf(text: &str) -> String {
        text.replace('\n', "\r\n")
    }

    /// A window wide enough for every fixture.
    fn all_of_2026() -> (DateTime<Utc>, DateTime<Utc>) {
        (utc(2026, 1, 1, 0, 0), utc(2027, 1, 1, 0, 0))
    }

    /// `parse` over all of 2026, which must fail; its message.
    fn error_of(ics: &str) -> String {
        let (from, to) = all_of_2026();
        parse(ics, from, to).expect_err("the import should fail").to_string()
    }

    /// A calendar of the given VEVENT bodies (lines without BEGIN/END), LF-separated.
    fn calendar_of(bodies: &[&str]) -> String {
        let events: String = bodies.iter().map(|body| format!("BEGIN:VEVENT\n{body}\nEND:VEVENT\n")).collect();
        format!("BEGIN:VCALENDAR\nVERSION:2.0\n{events}END:VCALENDAR\n")
    }

    /// The two shifts of the rendering tests.
    fn two_shifts() -> Vec<FeedEvent> {
        vec![
            FeedEvent {
                uid: "platform-alice-1796720400@firebell".to_owned(),
                summary: "On call: Alice Smith (Platform)".to_owned(),
                description: "Alice Smith is on call for Platform (layer 1).".to_owned(),
                start: utc(2026, 12, 8, 9, 0),
                end: utc(2026, 12, 9, 9, 0),
            },
            FeedEvent {
                uid: "platform-bob-1796806800@firebell".to_owned(),
                summary: "On call: Bob; nights, weekends \\ holidays".to_owned(),
                description: "Covers for Alice.\nCall +1 555 0100 first.".to_owned(),
                start: utc(2026, 12, 9, 9, 0),
                end: utc(2026, 12, 10, 9, 0),
            },
        ]
    }

    #[test]
    fn render_writes_exact_lines_with_crlf() {
        let out = render("Platform on call", &two_shifts(), utc(2026, 12, 1, 12, 0));
        let expected = [
            "BEGIN:VCALENDAR",
            "PRODID:-//Firebell//On-call//EN",
            "VERSION:2.0",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Platform on call",
            "REFRESH-INTERVAL;VALUE=DURATION:PT1H",
            "X-PUBLISHED-TTL:PT1H",
            "BEGIN:VEVENT",
            "DESCRIPTION:Alice Smith is on call for Platform (layer 1).",
            "DTEND:20261209T090000Z",
            "DTSTAMP:20261201T120000Z",
            "DTSTART:20261208T090000Z",
            "SUMMARY:On call: Alice Smith (Platform)",
            "TRANSP:TRANSPARENT",
            "UID:platform-alice-1796720400@firebell",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "DESCRIPTION:Covers for Alice.\\nCall +1 555 0100 first.",
            "DTEND:20261210T090000Z",
            "DTSTAMP:20261201T120000Z",
            "DTSTART:20261209T090000Z",
            "SUMMARY:On call: Bob\\; nights\\, weekends \\\\ holidays",
            "TRANSP:TRANSPARENT",
            "UID:platform-bob-1796806800@firebell",
            "END:VEVENT",
            "END:VCALENDAR",
        ];
        assert_eq!(out, format!("{}\r\n", expected.join("\r\n")));
        assert!(!out.replace("\r\n", "").contains(['\r', '\n']), "every line ends in CRLF");
    }

    #[test]
    fn render_folds_at_75_octets_between_characters() {
        // "SUMMARY:" and 65 letters fill 73 octets; "日" (3 octets) would end at octet 76.
        let summary = format!("{}日本語の名前 Zoë Ångström, on call", "x".repeat(65));
        let shift = FeedEvent { summary: summary.clone(), ..two_shifts().remove(0) };
        let out = render("Platform", &[shift], utc(2026, 12, 1, 12, 0));
        let lines: Vec<&str> = out.split("\r\n").collect();
        let at = lines.iter().position(|line| line.starts_with("SUMMARY:")).expect("a SUMMARY line");
        assert_eq!(lines[at], format!("SUMMARY:{}", "x".repeat(65)));
        assert_eq!(lines[at].len(), 73);
        assert_eq!(lines[at + 1], " 日本語の名前 Zoë Ångström\\, on call");
        assert!(lines.iter().all(|line| line.len() <= 75));
    }

    #[test]
    fn render_folds_every_length_within_75_octets() {
        // The crate's own folding writes a 76-octet line for a 150-octet content line.
        for length in 0..=240 {
            for filler in ["a", "é", "日", "😀"] {
                let description: String = filler.repeat(length / filler.len());
                let shift = FeedEvent { description: description.clone(), ..two_shifts().remove(0) };
                let out = render("Platform", &[shift], utc(2026, 12, 1, 12, 0));
                for line in out.split("\r\n") {
                    assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
                }
                let unfolded = unfold(&out);
                assert!(unfolded.contains(&format!("\r\nDESCRIPTION:{description}\r\n")), "{length} × {filler}");
            }
        }
    }

    #[test]
    fn render_escapes_text_and_drops_control_characters() {
        let shift = FeedEvent {
            uid: "a,b;c@firebell".to_owned(),
            summary: "Ops, on call; see C:\\runbook".to_owned(),
            description: "one\r\ntwo\rthree\nfour\u{7}\tend".to_owned(),
            ..two_shifts().remove(0)
        };
        let out = render("Ops; EU, nights", &[shift], utc(2026, 12, 1, 12, 0));
        assert!(out.contains("\r\nX-WR-CALNAME:Ops\\; EU\\, nights\r\n"));
        assert!(out.contains("\r\nUID:a\\,b\\;c@firebell\r\n"));
        assert!(out.contains("\r\nSUMMARY:Ops\\, on call\\; see C:\\\\runbook\r\n"));
        assert!(out.contains("\r\nDESCRIPTION:one\\ntwo\\nthree\\nfour\tend\r\n"));
    }

    #[test]
    fn render_is_byte_for_byte_stable() {
        let stamp = utc(2026, 12, 1, 12, 0);
        let first = render("Platform on call", &two_shifts(), stamp);
        let second = render("Platform on call", &two_shifts(), stamp);
        assert_eq!(first.as_bytes(), second.as_bytes());
    }

    #[test]
    fn render_leaves_out_events_that_do_not_end_after_they_start() {
        let mut shifts = two_shifts();
        shifts[1].end = shifts[1].start;
        let out = render("Platform", &shifts, utc(2026, 12, 1, 12, 0));
        assert_eq!(out.matches("BEGIN:VEVENT").count(), 1);
        assert!(!out.contains("platform-bob"));
    }

    #[test]
    fn rendered_feed_parses_back_to_the_same_intervals() {
        let shifts = two_shifts();
        let out = render("Platform on call", &shifts, utc(2026, 12, 1, 12, 0));
        let (from, to) = all_of_2026();
        let read = parse(&out, from, to).expect("our own feed parses");
        let intervals: Vec<_> = read.iter().map(|shift| (shift.start, shift.end)).collect();
        let expected: Vec<_> = shifts.iter().map(|shift| (shift.start, shift.end)).collect();
        assert_eq!(intervals, expected);
        assert_eq!(read[0].names, ["On call: Alice Smith"]);
        assert_eq!(read[1].names, ["On call: Bob; nights, weekends \\ holidays"]);
    }

    /// A schedule feed in the style PagerDuty publishes (its ri_cal output), events out of order.
    const PAGERDUTY: &str = "BEGIN:VCALENDAR
PRODID;X-RICAL-TZSOURCE=TZINFO:-//com.denhaven2/NONSGML ri_cal gem//EN
CALSCALE:GREGORIAN
VERSION:2.0
X-WR-CALNAME:On Call Schedule for Platform Primary
BEGIN:VEVENT
DTEND;VALUE=DATE-TIME:20261201T090000Z
DTSTART;VALUE=DATE-TIME:20261130T090000Z
ATTENDEE;CN=Dana Lee:mailto:dana.lee@example.com
UID:Q0A1B2C3D4E5F6
URL:https://acme.pagerduty.com/schedules#PQ1ABCD
SUMMARY:On Call - Dana Lee - Platform Primary
END:VEVENT
BEGIN:VEVENT
DTEND;VALUE=DATE-TIME:20261210T090000Z
DTSTART;VALUE=DATE-TIME:20261209T090000Z
ATTENDEE;CN=Carol Díaz:mailto:carol.diaz@example.com
UID:Q2KLMNOPQRSTUV
URL:https://acme.pagerduty.com/schedules#PQ1ABCD
SUMMARY:On Call - Carol Díaz - Platform Primary
END:VEVENT
BEGIN:VEVENT
DTEND;VALUE=DATE-TIME:20261208T090000Z
DTSTART;VALUE=DATE-TIME:20261207T090000Z
ATTENDEE;CN=Alice Smith:mailto:alice.smith@example.com
UID:Q0RH6NJF2ZYX1A
URL:https://acme.pagerduty.com/schedules#PQ1ABCD
SUMMARY:On Call - Alice Smith - Platform Primary
END:VEVENT
BEGIN:VEVENT
DTEND;VALUE=DATE-TIME:20261209T090000Z
DTSTART;VALUE=DATE-TIME:20261208T090000Z
ATTENDEE:bob.jones@example.com
UID:Q1XK2L7M0PQRS3
URL:https://acme.pagerduty.com/schedules#PQ1ABCD
SUMMARY:On Call - Bob Jones - Platform Primary - Europe and Middle East follow
 -the-sun rotation
END:VEVENT
END:VCALENDAR
";

    #[test]
    fn parse_reads_a_pagerduty_feed_clipped_and_sorted() {
        let shifts = parse(&crlf(PAGERDUTY), utc(2026, 12, 7, 12, 0), utc(2026, 12, 10, 0, 0)).expect("parses");
        let expected = [
            ImportedShift {
                names: vec!["Alice Smith".into(), "alice.smith@example.com".into(), "alice.smith".into()],
                start: utc(2026, 12, 7, 12, 0),
                end: utc(2026, 12, 8, 9, 0),
            },
            ImportedShift {
                names: vec!["Bob Jones".into(), "bob.jones@example.com".into(), "bob.jones".into()],
                start: utc(2026, 12, 8, 9, 0),
                end: utc(2026, 12, 9, 9, 0),
            },
            ImportedShift {
                names: vec!["Carol Díaz".into(), "carol.diaz@example.com".into(), "carol.diaz".into()],
                start: utc(2026, 12, 9, 9, 0),
                end: utc(2026, 12, 10, 0, 0),
            },
        ];
        assert_eq!(shifts, expected);
    }

    /// A schedule export in the style Grafana OnCall writes: the username as SUMMARY, local times.
    const GRAFANA_ONCALL: &str = "BEGIN:VCALENDAR
VERSION:2.0
PRODID://Grafana Labs//Grafana On-Call//
CALSCALE:GREGORIAN
X-WR-CALNAME:SRE rotation
X-WR-TIMEZONE:UTC
BEGIN:VTIMEZONE
TZID:Europe/Madrid
X-LIC-LOCATION:Europe/Madrid
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
SUMMARY:[L1] alice
DTSTART;TZID=Europe/Madrid:20261207T090000
DTEND;TZID=Europe/Madrid:20261207T210000
DTSTAMP:20261201T120000Z
LAST-MODIFIED:20261201T120000Z
PRIORITY:1
UID:oncall-OQ5RH1K2WYZ3M-202612070900-UABC123
END:VEVENT
BEGIN:VEVENT
SUMMARY:bob (SRE rotation)
DTSTART;TZID=Europe/Madrid:20261207T210000
DTEND;TZID=Europe/Madrid:20261208T090000
DTSTAMP:20261201T120000Z
LAST-MODIFIED:20261201T120000Z
PRIORITY:1
UID:oncall-OQ5RH1K2WYZ3M-202612072100-UDEF456
END:VEVENT
BEGIN:VEVENT
SUMMARY:carol
DTSTART:20261208T080000Z
DTEND:20261208T080000Z
DTSTAMP:20261201T120000Z
LAST-MODIFIED:20261201T120000Z
STATUS:CANCELLED
UID:oncall-OQ5RH1K2WYZ3M-202612080800-UGHI789
END:VEVENT
BEGIN:VEVENT
SUMMARY:[L2] dave
DTSTART;VALUE=DATE:20261209
DTEND;VALUE=DATE:20261210
DTSTAMP:20261201T120000Z
UID:oncall-OQ5RH1K2WYZ3M-20261209-UJKL012
END:VEVENT
END:VCALENDAR
";

    #[test]
    fn parse_reads_a_grafana_oncall_export() {
        let (from, to) = all_of_2026();
        let shifts = parse(&crlf(GRAFANA_ONCALL), from, to).expect("parses");
        let expected = [
            ImportedShift { names: vec!["alice".into()], start: utc(2026, 12, 7, 8, 0), end: utc(2026, 12, 7, 20, 0) },
            ImportedShift { names: vec!["bob".into()], start: utc(2026, 12, 7, 20, 0), end: utc(2026, 12, 8, 8, 0) },
            ImportedShift { names: vec!["dave".into()], start: utc(2026, 12, 9, 0, 0), end: utc(2026, 12, 10, 0, 0) },
        ];
        assert_eq!(shifts, expected);
    }

    #[test]
    fn parse_skips_cancelled_events_and_events_outside_the_window() {
        let ics = calendar_of(&[
            "UID:c1\nSUMMARY:alice\nSTATUS:CANCELLED\nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z",
            "UID:c2\nSUMMARY:bob\nSTATUS:cancelled\nDTSTART:20261207T090000Z",
            "UID:c3\nSUMMARY:carol\nDTSTART:20261201T090000Z\nDTEND:20261207T090000Z",
            "UID:c4\nSUMMARY:dave\nDTSTART:20261208T090000Z\nDTEND:20261209T090000Z",
        ]);
        let shifts = parse(&ics, utc(2026, 12, 7, 9, 0), utc(2026, 12, 8, 9, 0)).expect("parses");
        assert_eq!(shifts, []);
    }

    #[test]
    fn parse_reads_all_day_floating_and_duration_times() {
        let ics = calendar_of(&[
            "UID:t1\nSUMMARY:alice\nDTSTART;VALUE=DATE:20261207",
            "UID:t2\nSUMMARY:bob\nDTSTART:20261208T090000\nDTEND:20261208T170000",
            "UID:t3\nSUMMARY:carol\nDTSTART:20261209T090000Z\nDURATION:PT8H",
            "UID:t4\nSUMMARY:dave\nDTSTART;TZID=\"europe/madrid\":20261210T090000\nDURATION:P1W",
        ]);
        let (from, to) = all_of_2026();
        let times: Vec<_> = parse(&ics, from, to).expect("parses").iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            times,
            [
                (utc(2026, 12, 7, 0, 0), utc(2026, 12, 8, 0, 0)),
                (utc(2026, 12, 8, 9, 0), utc(2026, 12, 8, 17, 0)),
                (utc(2026, 12, 9, 9, 0), utc(2026, 12, 9, 17, 0)),
                (utc(2026, 12, 10, 8, 0), utc(2026, 12, 17, 8, 0)),
            ]
        );
    }

    #[test]
    fn parse_reads_times_skipped_or_repeated_by_daylight_saving() {
        let ics = calendar_of(&[
            "UID:gap\nSUMMARY:alice\nDTSTART;TZID=Europe/Madrid:20260329T023000\nDTEND;TZID=Europe/Madrid:20260329T090000",
            "UID:twice\nSUMMARY:bob\nDTSTART;TZID=Europe/Madrid:20261025T023000\nDTEND;TZID=Europe/Madrid:20261025T090000",
        ]);
        let (from, to) = all_of_2026();
        let times: Vec<_> = parse(&ics, from, to).expect("parses").iter().map(|s| (s.start, s.end)).collect();
        assert_eq!(
            times,
            [(utc(2026, 3, 29, 1, 30), utc(2026, 3, 29, 7, 0)), (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 8, 0))]
        );
    }

    #[test]
    fn parse_collects_names_from_attendees_and_organizer() {
        let ics = calendar_of(&[concat!(
            "UID:n1\nSUMMARY:[L1] [EU] grace (Primary)\nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z\n",
            "ATTENDEE;CN=\"Hopper, Grace\";ROLE=REQ-PARTICIPANT:MAILTO:grace.hopper@example.com\n",
            "ATTENDEE:mailto:GRACE@example.com\n",
            "ORGANIZER;CN=Ops Bot:mailto:ops@example.com"
        )]);
        let (from, to) = all_of_2026();
        let shifts = parse(&ics, from, to).expect("parses");
        assert_eq!(
            shifts[0].names,
            [
                "grace",
                "Hopper, Grace",
                "grace.hopper@example.com",
                "grace.hopper",
                "GRACE@example.com",
                "Ops Bot",
                "ops@example.com",
                "ops"
            ]
        );
    }

    #[test]
    fn parse_keeps_at_most_16_names() {
        let attendees: String =
            (0..10_000).map(|n| format!("ATTENDEE;CN=Person {n}:mailto:p{n}@example.com\n")).collect();
        let ics =
            calendar_of(&[&format!("UID:m1\nSUMMARY:alice\nDTSTART:20261207T090000Z\nDURATION:PT1H\n{attendees}")]);
        let (from, to) = all_of_2026();
        let shifts = parse(&ics, from, to).expect("parses");
        assert_eq!(shifts[0].names.len(), 16);
        assert_eq!(shifts[0].names[..4], ["alice", "Person 0", "p0@example.com", "p0"]);
    }

    #[test]
    fn parse_refuses_an_html_page() {
        let page = "\u{feff}\n<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body></body></html>\n";
        assert_eq!(error_of(page), "expected an iCalendar file (BEGIN:VCALENDAR), got \"<!DOCTYPE html>\"");
        assert_eq!(error_of(""), "expected an iCalendar file (BEGIN:VCALENDAR), got \"\"");
    }

    #[test]
    fn parse_refuses_more_than_5000_events() {
        let body = "SUMMARY:alice\nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z";
        let ics = calendar_of(&vec![body; 6_000]);
        let (from, to) = all_of_2026();
        assert_eq!(parse(&ics, from, to), Err(ImportError::TooManyEvents { found: 6_000, max: 5_000 }));
        assert_eq!(error_of(&ics), "expected at most 5000 events, got 6000");
    }

    #[test]
    fn parse_takes_5000_events() {
        let body = "SUMMARY:alice\nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z";
        let (from, to) = all_of_2026();
        assert_eq!(parse(&calendar_of(&vec![body; 5_000]), from, to).map(|shifts| shifts.len()), Ok(5_000));
    }

    #[test]
    fn parse_names_the_event_that_has_no_start_by_line_and_uid() {
        let ics = "\r\n\r\nBEGIN:VCALENDAR\r\nX-WR-CALNAME:A long\r\n  name\r\nBEGIN:VEVENT\r\nUID:no-start\r\n\
                   SUMMARY:alice\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        assert_eq!(error_of(ics), "expected a DTSTART in the VEVENT at line 6 (UID \"no-start\")");
    }

    #[test]
    fn parse_refuses_an_event_that_does_not_end_after_it_starts() {
        let ics = calendar_of(&["UID:e1\nSUMMARY:alice\nDTSTART:20261207T090000Z\nDTEND:20261207T090000Z"]);
        assert_eq!(
            error_of(&ics),
            "expected DTEND after DTSTART in the VEVENT at line 3 (UID \"e1\"), \
             got 2026-12-07 09:00:00 UTC to 2026-12-07 09:00:00 UTC"
        );
        let ics = calendar_of(&["SUMMARY:alice\nDTSTART:20261207T090000Z"]);
        assert_eq!(error_of(&ics), "expected a DTEND or DURATION in the VEVENT at line 3 (event 1 of the file)");
    }

    #[test]
    fn parse_refuses_an_event_without_a_name() {
        let ics = calendar_of(&["UID:x9\nSUMMARY: \nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z"]);
        assert_eq!(
            error_of(&ics),
            "expected a person's name in the VEVENT at line 3 (UID \"x9\") (SUMMARY, ATTENDEE or ORGANIZER), got none"
        );
    }

    #[test]
    fn parse_refuses_recurring_events() {
        let ics = calendar_of(&[
            "UID:r1\nSUMMARY:alice\nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z\nRRULE:FREQ=WEEKLY;BYDAY=MO",
        ]);
        assert_eq!(
            error_of(&ics),
            "expected one VEVENT per shift, but the VEVENT at line 3 (UID \"r1\") repeats with RRULE, \
             which is not supported"
        );
    }

    #[test]
    fn parse_refuses_a_windows_time_zone() {
        let ics = calendar_of(&[
            "UID:w1\nSUMMARY:alice\nDTSTART;TZID=W. Europe Standard Time:20261207T090000\nDTEND:20261207T170000Z",
        ]);
        assert_eq!(
            error_of(&ics),
            "expected an IANA time zone such as Europe/Madrid in the VEVENT at line 3 (UID \"w1\"), \
             got TZID=\"W. Europe Standard Time\""
        );
    }

    #[test]
    fn parse_refuses_bad_times_and_durations() {
        let ics = calendar_of(&["UID:b1\nSUMMARY:alice\nDTSTART:tomorrow\nDTEND:20261207T170000Z"]);
        assert_eq!(
            error_of(&ics),
            "expected DTSTART in the VEVENT at line 3 (UID \"b1\") to be a date (20261207) or date-time \
             (20261207T090000Z), got \"tomorrow\""
        );
        let ics = calendar_of(&["UID:b2\nSUMMARY:alice\nDTSTART:20261207T090000Z\nDURATION:-PT1H"]);
        assert_eq!(
            error_of(&ics),
            "expected DURATION in the VEVENT at line 3 (UID \"b2\") to be a positive duration such as PT8H, \
             got \"-PT1H\""
        );
    }

    #[test]
    fn parse_reports_broken_structure_by_line() {
        let garbage = "BEGIN:VCALENDAR\nVERSION:2.0\n folded on\nfoo bar\nEND:VCALENDAR\n";
        assert_eq!(error_of(garbage), "expected an iCalendar content line (NAME:value) at line 4, got \"foo bar\"");
        let unclosed = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:alice\nEND:VCALENDAR\n";
        assert_eq!(error_of(unclosed), "expected END:VEVENT at line 4, got \"END:VCALENDAR\"");
        let cut_short = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:alice\n";
        assert_eq!(error_of(cut_short), "expected END:VEVENT, but the file ends before it");
        let trailing = "BEGIN:VCALENDAR\nVERSION:2.0\nEND:VCALENDAR\n<html>\n";
        assert_eq!(error_of(trailing), "expected nothing after END:VCALENDAR at line 4, got \"<html>\"");
    }

    #[test]
    fn parse_refuses_deep_nesting_without_overflowing_the_stack() {
        let ics = format!("BEGIN:VCALENDAR\n{}", "BEGIN:X\n".repeat(100_000));
        assert_eq!(error_of(&ics), "expected components nested at most 8 deep, got deeper nesting at line 9");
    }

    #[test]
    fn parse_bounds_the_parser_recursion_whatever_it_misreads() {
        // A parameter without ":" makes the crate's parser read on past the line end and miss the
        // END line; a CRLF after LF-only lines does the same for values. Neither may overflow the
        // stack.
        let swallowed_end = "BEGIN:VALARM\nX-A;B=C\nEND:VALARM\n";
        let ics =
            format!("BEGIN:VCALENDAR\nBEGIN:VEVENT\n{}END:VEVENT\nEND:VCALENDAR\n", swallowed_end.repeat(100_000));
        assert_eq!(
            error_of(&ics),
            "expected at most 16 components (such as VALARM) inside the VEVENT at line 2, got more"
        );
        let ics = format!("BEGIN:VCALENDAR\n{}END:VCALENDAR\n", swallowed_end.repeat(100_000));
        let (from, to) = all_of_2026();
        assert_eq!(parse(&ics, from, to), Ok(Vec::new()));
        let body = "UID:s1\nSUMMARY:alice\nDTSTART:20261207T090000Z\nDTEND:20261207T170000Z\n";
        let ics =
            format!("BEGIN:VCALENDAR\nBEGIN:VEVENT\n{body}{}END:VEVENT\nEND:VCALENDAR\n", swallowed_end.repeat(16));
        assert!(parse(&ics, from, to).is_err());
        let crlf_late = "BEGIN:X-PART\nX-V:v\nEND:X-PART\r\n";
        let ics = format!("BEGIN:VCALENDAR\r\n{}END:VCALENDAR\r\n", crlf_late.repeat(100_000));
        assert_eq!(parse(&ics, from, to), Ok(Vec::new()));
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_random_text(text in ".{0,300}") {
            let (from, to) = all_of_2026();
            let _ = parse(&text, from, to);
            let _ = parse(&format!("BEGIN:VCALENDAR\r\n{text}"), from, to);
        }

        #[test]
        fn parse_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let (from, to) = all_of_2026();
            let _ = parse(&String::from_utf8_lossy(&bytes), from, to);
        }

        #[test]
        fn parse_never_panics_on_calendar_like_lines(lines in proptest::collection::vec(
            "(BEGIN|END|DTSTART|DTEND|DURATION|SUMMARY|ATTENDEE|ORGANIZER|STATUS|RRULE|UID| )\
             (;TZID=[A-Za-z/_ ]{0,12}|;VALUE=DATE|;CN=[a-z ,\"]{0,6})?[:;]?\
             (VEVENT|VCALENDAR|CANCELLED|mailto:[a-z@.]{0,8}|[0-9]{8}(T[0-9]{6}Z?)?|P[0-9DTHMSW]{0,5}|.{0,12})",
            0..24,
        )) {
            let (from, to) = all_of_2026();
            let ics = format!("BEGIN:VCALENDAR\r\n{}\r\nEND:VCALENDAR\r\n", lines.join("\r\n"));
            let _ = parse(&ics, from, to);
        }

        #[test]
        fn rendered_text_reads_back_unchanged(summary in "(?s:.{0,200})", description in "(?s:.{0,200})") {
            let shift = FeedEvent { summary: summary.clone(), description: description.clone(), ..two_shifts().remove(0) };
            let out = render("Feed", &[shift], utc(2026, 12, 1, 12, 0));
            prop_assert!(out.split("\r\n").all(|line| line.len() <= 75));
            let calendar: Calendar = out.parse().map_err(TestCaseError::fail)?;
            let event = calendar.events().next().ok_or_else(|| TestCaseError::fail("no event"))?;
            let (summary, description) = (clean_text(&summary), clean_text(&description));
            prop_assert_eq!(event.get_summary(), Some(summary.as_str()));
            prop_assert_eq!(event.get_description(), Some(description.as_str()));
        }
    }
}
