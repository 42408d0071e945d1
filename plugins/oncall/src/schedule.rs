//! On-call schedules: rotation layers, follow-the-sun windows and overrides, computed into the final
//! list of who is on call when.
//!
//! Everything here is pure (no clock, no I/O). A [`Schedule`] is a stack of [`Layer`]s in one
//! timezone; later layers win where they cover, and [`Override`]s win over all of them. The
//! computation works on interval edges (turn boundaries, window boundaries, override ends), never
//! minute by minute, and clamps absurd inputs instead of overflowing: every instant it looks at lies
//! between the years 1900 and 9000, and one computation spans at most [`MAX_SPAN_DAYS`].

use std::fmt;
use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The longest interval one computation covers: a longer request is cut at its start plus this many days.
pub const MAX_SPAN_DAYS: i64 = 1000;

const MAX_LAYERS: usize = 10;
const MAX_PARTICIPANTS: usize = 100;
const MAX_RESTRICTIONS: usize = 14;
const MAX_NAME_CHARS: usize = 32;
const MAX_HOURS: u32 = 168;
const MAX_DAYS: u32 = 366;
const FIRST_YEAR: i32 = 1900;
const LAST_YEAR: i32 = 8999;
/// How far [`Schedule::on_call_at`] and [`Schedule::next_after`] look, each way.
const LOOK_DAYS: i64 = 400;
/// The longest excerpt of user input quoted back in an error.
const EXCERPT_CHARS: usize = 60;

/// A team's on-call schedule: rotation layers in one timezone. Later layers win where they cover;
/// overrides win over all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// The timezone of the layers' handoffs and of restrictions that name none.
    pub timezone: Tz,
    /// The layers, lowest priority first.
    pub layers: Vec<Layer>,
}

/// One rotation layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The layer's one-word name.
    pub name: String,
    /// Roster names in rotation order (a name may repeat).
    pub participants: Vec<String>,
    /// How long one turn lasts.
    pub rotation: Rotation,
    /// The wall-clock time of each handoff in the schedule's timezone, serialized as "HH:MM".
    #[serde(with = "clock_serde")]
    pub handoff: NaiveTime,
    /// The date the first turn (participant 0) starts, at `handoff` local time.
    pub start: NaiveDate,
    /// The windows the layer covers; when empty, it covers all of each turn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<Restriction>,
}

/// How long one turn lasts; written "daily", "weekly", "2w", "3d" or "12h".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Rotation {
    /// Turns of this many hours of absolute time.
    Hours(u32),
    /// Turns of this many calendar days, handing off at the same wall-clock time.
    Days(u32),
}

/// A set of days of the week, written "weekdays", "weekends", "daily", "mon", "mon-fri" or "mon,wed,fri".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DaySet(u8);

/// A window of the week when a layer covers, for follow-the-sun, written like
/// "weekdays 08:00-17:00 Europe/Madrid" (serialized as that string).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Restriction {
    /// The days on which a window starts.
    pub days: DaySet,
    /// The wall-clock time a window starts.
    pub from: NaiveTime,
    /// The wall-clock time a window ends; at or before `from` it ends the next day (00:00 reads "24:00").
    pub to: NaiveTime,
    /// The timezone of the window's times; `None` is the schedule's.
    pub timezone: Option<Tz>,
}

/// A person covering an interval, over every layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// Who covers.
    pub person: String,
    /// When the cover starts.
    pub start: DateTime<Utc>,
    /// When the cover ends (exclusive).
    pub end: DateTime<Utc>,
}

/// Where a shift comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// The layer of this name.
    Layer(String),
    /// An override.
    Override,
}

/// One person on call for an interval of the final schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// Who is on call.
    pub person: String,
    /// When the shift starts.
    pub start: DateTime<Utc>,
    /// When the shift ends (exclusive).
    pub end: DateTime<Utc>,
    /// The layer or override the shift comes from.
    pub source: Source,
}

/// Why a schedule cannot be used; one line saying what was expected and where. Layer names, people
/// and restrictions in it are shortened for quoting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// There are more than 10 layers (this many).
    #[error("expected at most 10 layers, got {0}")]
    TooManyLayers(usize),
    /// A layer's name is not one short word.
    #[error("layer {0:?}: expected a one-word name (letters, digits, - or _) of at most 32 characters")]
    LayerName(String),
    /// A layer's name is used by an earlier layer too, ignoring case.
    #[error("layer {0:?}: expected a unique name, but an earlier layer has it too")]
    DuplicateLayer(String),
    /// A layer's rotation is out of bounds.
    #[error("layer {0:?}: expected a rotation of 1 to 168 hours or 1 to 366 days, got {1}")]
    Rotation(String, Rotation),
    /// A layer's start date is absurd.
    #[error("layer {0:?}: expected a start date between 1900-01-01 and 8999-12-31, got {1}")]
    StartDate(String, NaiveDate),
    /// A layer has no participants, or more than 100 (this many).
    #[error("layer {0:?}: expected 1 to 100 participants, got {1}")]
    Participants(String, usize),
    /// A layer's participant is not on the team's roster.
    #[error("layer {0:?}: expected participants from the team's roster, got {1:?}")]
    NotMember(String, String),
    /// A layer has more than 14 restrictions (this many).
    #[error("layer {0:?}: expected at most 14 restrictions, got {1}")]
    TooManyRestrictions(String, usize),
    /// A layer's restriction covers no time.
    #[error("layer {0:?}: expected a window with days and different start and end times, got \"{1}\"")]
    EmptyRestriction(String, String),
}

/// Why a rotation, a set of days or a restriction could not be read; one line saying what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a rotation at all.
    #[error("expected a rotation like daily, weekly, 3d or 12h, got {0:?}")]
    Rotation(String),
    /// A rotation out of bounds.
    #[error("expected a rotation of 1 to 168 hours or 1 to 366 days, got {0:?}")]
    RotationRange(String),
    /// Not a window: the words are missing or too many.
    #[error("expected a window like \"weekdays 08:00-17:00\" or \"mon-fri 22:00-06:00 Asia/Kolkata\", got {0:?}")]
    Window(String),
    /// Not a set of days.
    #[error("expected days like weekdays, weekends, daily, mon, mon-fri or mon,wed,fri, got {0:?}")]
    Days(String),
    /// Not a pair of times.
    #[error("expected times like 08:00-17:00 or 22:00-06:00 (24:00 for the end of a day), got {0:?}")]
    Times(String),
    /// Not a timezone.
    #[error("expected an IANA timezone like Europe/Madrid or Asia/Kolkata, got {0:?}")]
    Timezone(String),
    /// A window that starts and ends at the same time, other than a whole day.
    #[error("expected a window with different start and end times (00:00-24:00 for a whole day), got {0:?}")]
    EmptyWindow(String),
    /// Not a time of day.
    #[error("expected a time like 09:00, got {0:?}")]
    Clock(String),
}

// ---------------------------------------------------------------------------------------------
// The schedule
// ---------------------------------------------------------------------------------------------

impl Schedule {
    /// Checks the schedule: at most 10 layers with unique one-word names (ignoring case, at most 32
    /// characters), each with a rotation in bounds, a sane start date, 1 to 100 participants who all
    /// satisfy `is_member`, and at most 14 restrictions that each cover some time. An empty
    /// schedule is allowed; it covers nothing.
    pub fn check(&self, is_member: impl Fn(&str) -> bool) -> Result<(), ScheduleError> {
        if self.layers.len() > MAX_LAYERS {
            return Err(ScheduleError::TooManyLayers(self.layers.len()));
        }
        let mut seen: Vec<String> = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            layer.check(&is_member)?;
            let key = layer.name.to_lowercase();
            if seen.contains(&key) {
                return Err(ScheduleError::DuplicateLayer(excerpt(&layer.name)));
            }
            seen.push(key);
        }
        Ok(())
    }

    /// The final schedule between `from` and `to`: sorted, non-overlapping shifts clipped to
    /// `[from, to)`, where later layers win over earlier ones and overrides over all (a later
    /// override over an earlier one). Adjacent pieces of one person from one source are merged;
    /// times nobody covers are absent.
    pub fn shifts(&self, overrides: &[Override], from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Shift> {
        let Some(span) = bounds(from, to) else { return Vec::new() };
        self.pieces(overrides, span).iter().map(|piece| self.shift(piece)).collect()
    }

    /// Who is on call at `at`, with the whole merged shift, looking up to 400 days back and ahead
    /// for its edges (a shift longer than that is cut there).
    pub fn on_call_at(&self, overrides: &[Override], at: DateTime<Utc>) -> Option<Shift> {
        let limit = TimeDelta::try_days(LOOK_DAYS)?;
        let (mut back, mut ahead) = (TimeDelta::try_days(8)?, TimeDelta::try_days(8)?);
        loop {
            let from = at.checked_sub_signed(back).unwrap_or_else(earliest);
            let span = bounds(from, at.checked_add_signed(ahead).unwrap_or_else(latest))?;
            let pieces = self.pieces(overrides, span);
            let piece = containing(&pieces, at)?;
            let grow_back = piece.start == span.0 && back < limit && span.0 > earliest();
            let grow_ahead = piece.end == span.1 && ahead < limit && span.1 < latest();
            if !grow_back && !grow_ahead {
                return Some(self.shift(&piece));
            }
            if grow_back {
                back = back.checked_mul(2).unwrap_or(limit).min(limit);
            }
            if grow_ahead {
                ahead = ahead.checked_mul(2).unwrap_or(limit).min(limit);
            }
        }
    }

    /// The first shift that starts after `at` (the next person on call, maybe the same one after a
    /// gap), looking at most `within` ahead (and never more than 400 days), with its whole extent.
    pub fn next_after(&self, overrides: &[Override], at: DateTime<Utc>, within: TimeDelta) -> Option<Shift> {
        let within = within.min(TimeDelta::try_days(LOOK_DAYS)?);
        let span = bounds(at, at.checked_add_signed(within).unwrap_or_else(latest))?;
        let pieces = self.pieces(overrides, span);
        let next = pieces.iter().find(|piece| piece.start > span.0)?;
        Some(self.on_call_at(overrides, next.start).unwrap_or_else(|| self.shift(next)))
    }

    /// The intervals between `from` and `to` that nobody covers, sorted and clipped.
    pub fn gaps(
        &self,
        overrides: &[Override],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let Some(span) = bounds(from, to) else { return Vec::new() };
        let mut gaps = Vec::new();
        let mut cursor = span.0;
        for piece in self.pieces(overrides, span) {
            if piece.start > cursor {
                gaps.push((cursor, piece.start));
            }
            cursor = piece.end;
        }
        if cursor < span.1 {
            gaps.push((cursor, span.1));
        }
        gaps
    }

    /// The final pieces within `span`: layers painted in order, then the overrides, then merged.
    fn pieces<'a>(&'a self, overrides: &'a [Override], span: Span) -> Vec<Piece<'a>> {
        let layered = self
            .layers
            .iter()
            .enumerate()
            .fold(Vec::new(), |base, (index, layer)| overlay(base, layer.pieces(index, self.timezone, span)));
        let covers = overrides.iter().filter_map(|o| o.piece(span)).fold(Vec::new(), |base, p| overlay(base, vec![p]));
        merge_adjacent(overlay(layered, covers))
    }

    fn shift(&self, piece: &Piece<'_>) -> Shift {
        let source = match piece.origin {
            Origin::Layer(index) => Source::Layer(self.layers.get(index).map(|l| l.name.clone()).unwrap_or_default()),
            Origin::Override => Source::Override,
        };
        Shift { person: piece.person.to_owned(), start: piece.start, end: piece.end, source }
    }
}

impl Layer {
    fn check(&self, is_member: &impl Fn(&str) -> bool) -> Result<(), ScheduleError> {
        let layer = || excerpt(&self.name);
        if !is_word(&self.name) {
            return Err(ScheduleError::LayerName(layer()));
        }
        if !self.rotation.in_bounds() {
            return Err(ScheduleError::Rotation(layer(), self.rotation));
        }
        if !(FIRST_YEAR..=LAST_YEAR).contains(&self.start.year()) {
            return Err(ScheduleError::StartDate(layer(), self.start));
        }
        let count = self.participants.len();
        if count == 0 || count > MAX_PARTICIPANTS {
            return Err(ScheduleError::Participants(layer(), count));
        }
        if let Some(person) = self.participants.iter().find(|p| !is_member(p)) {
            return Err(ScheduleError::NotMember(layer(), excerpt(person)));
        }
        if self.restrictions.len() > MAX_RESTRICTIONS {
            return Err(ScheduleError::TooManyRestrictions(layer(), self.restrictions.len()));
        }
        match self.restrictions.iter().find(|r| r.is_empty()) {
            Some(r) => Err(ScheduleError::EmptyRestriction(layer(), r.to_string())),
            None => Ok(()),
        }
    }

    /// What this layer covers within `span`: its turns, cut to its windows if it has any.
    fn pieces(&self, index: usize, tz: Tz, span: Span) -> Vec<Piece<'_>> {
        let origin = Origin::Layer(index);
        let turns = self.turns(tz, span);
        if self.restrictions.is_empty() {
            return turns.into_iter().map(|((start, end), person)| Piece { start, end, person, origin }).collect();
        }
        let mut windows = Vec::new();
        for restriction in &self.restrictions {
            restriction.windows(tz, span, &mut windows);
        }
        intersect(&turns, &union(windows), origin)
    }

    /// The turns overlapping `span`, clipped to it, each with its participant.
    fn turns(&self, tz: Tz, span: Span) -> Vec<(Span, &str)> {
        let mut turns = Vec::new();
        let Some(clock) = TurnClock::new(self, tz) else { return turns };
        let mut k = clock.first_turn_near(span.0);
        let Some(mut start) = clock.start_of(k) else { return turns };
        while start < span.1 {
            let Some(end) = k.checked_add(1).and_then(|next| clock.start_of(next)) else { break };
            let who = usize::try_from(k).ok().and_then(|k| self.participants.get(k % self.participants.len()));
            if let Some(who) = who.filter(|_| end > start && end > span.0) {
                turns.push(((start.max(span.0), end.min(span.1)), who.as_str()));
            }
            (start, k) = (end, k + 1);
        }
        turns
    }
}

/// Where a layer's turns start.
struct TurnClock {
    tz: Tz,
    start: NaiveDate,
    handoff: NaiveTime,
    rotation: Rotation,
    anchor: DateTime<Utc>,
}

impl TurnClock {
    /// The clock of `layer`, or `None` when the layer can have no turn.
    fn new(layer: &Layer, tz: Tz) -> Option<Self> {
        let length = match layer.rotation {
            Rotation::Hours(n) | Rotation::Days(n) => n,
        };
        if length == 0 || layer.participants.is_empty() {
            return None;
        }
        let anchor = resolve(tz, layer.start.and_time(layer.handoff))?;
        Some(Self { tz, start: layer.start, handoff: layer.handoff, rotation: layer.rotation, anchor })
    }

    /// When turn `k` starts.
    fn start_of(&self, k: i64) -> Option<DateTime<Utc>> {
        match self.rotation {
            Rotation::Days(n) => {
                let days = TimeDelta::try_days(k.checked_mul(i64::from(n))?)?;
                resolve(self.tz, self.start.checked_add_signed(days)?.and_time(self.handoff))
            }
            Rotation::Hours(n) => {
                let seconds = k.checked_mul(i64::from(n) * 3600)?;
                self.anchor.checked_add_signed(TimeDelta::try_seconds(seconds)?)
            }
        }
    }

    /// A turn that starts at or before `at` (or the first turn), close to it.
    fn first_turn_near(&self, at: DateTime<Utc>) -> i64 {
        let k = match self.rotation {
            Rotation::Days(n) => {
                (at.with_timezone(&self.tz).date_naive() - self.start).num_days() / i64::from(n.max(1))
            }
            Rotation::Hours(n) => (at - self.anchor).num_seconds() / (i64::from(n.max(1)) * 3600),
        };
        k.saturating_sub(1).max(0)
    }
}

impl Override {
    fn piece(&self, span: Span) -> Option<Piece<'_>> {
        let (start, end) = (self.start.max(span.0), self.end.min(span.1));
        (start < end).then_some(Piece { start, end, person: &self.person, origin: Origin::Override })
    }
}

// ---------------------------------------------------------------------------------------------
// Intervals
// ---------------------------------------------------------------------------------------------

/// A half-open interval `[start, end)`.
type Span = (DateTime<Utc>, DateTime<Utc>);

/// Someone covering an interval, during the computation.
#[derive(Debug, Clone, Copy)]
struct Piece<'a> {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    person: &'a str,
    origin: Origin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    Layer(usize),
    Override,
}

fn earliest() -> DateTime<Utc> {
    year_start(FIRST_YEAR).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn latest() -> DateTime<Utc> {
    year_start(LAST_YEAR + 1).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn year_start(year: i32) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(year, 1, 1).map(|date| date.and_time(NaiveTime::MIN).and_utc())
}

/// `[from, to)` clamped to the years this module handles and to [`MAX_SPAN_DAYS`]; `None` if empty.
fn bounds(from: DateTime<Utc>, to: DateTime<Utc>) -> Option<Span> {
    let from = from.max(earliest());
    let cap = TimeDelta::try_days(MAX_SPAN_DAYS).and_then(|span| from.checked_add_signed(span));
    let to = to.min(latest()).min(cap.unwrap_or(to));
    (from < to).then_some((from, to))
}

/// The instant of a wall-clock time: in a gap, the first instant after it; when ambiguous, the earlier.
fn resolve(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.to_utc()),
        LocalResult::Ambiguous(a, b) => Some(a.to_utc().min(b.to_utc())),
        LocalResult::None => after_gap(tz, local),
    }
}

/// The first instant whose local time is past `local`, a time the clocks skipped: the jump itself.
fn after_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    let guess = local.and_utc().timestamp();
    // Offsets lie within ±30 hours, so local(lo) <= local < local(hi); bisect to the jump.
    let (mut lo, mut hi) = (guess.checked_sub(30 * 3600)?, guess.checked_add(30 * 3600)?);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let past = DateTime::from_timestamp(mid, 0)?.with_timezone(&tz).naive_local() > local;
        *(if past { &mut hi } else { &mut lo }) = mid;
    }
    DateTime::from_timestamp(hi, 0)
}

/// The sorted union of `spans`.
fn union(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort_unstable();
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        match out.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => out.push((start, end)),
        }
    }
    out
}

/// The parts of `turns` inside `windows` (sorted, disjoint).
fn intersect<'a>(turns: &[(Span, &'a str)], windows: &[Span], origin: Origin) -> Vec<Piece<'a>> {
    let mut pieces = Vec::new();
    let mut first = 0;
    for &((start, end), person) in turns {
        while windows.get(first).is_some_and(|w| w.1 <= start) {
            first += 1;
        }
        for window in windows.iter().skip(first).take_while(|w| w.0 < end) {
            pieces.push(Piece { start: start.max(window.0), end: end.min(window.1), person, origin });
        }
    }
    pieces
}

/// The parts of `base` outside `holes` (both sorted, disjoint).
fn subtract<'a>(base: Vec<Piece<'a>>, holes: &[Span]) -> Vec<Piece<'a>> {
    let mut out = Vec::with_capacity(base.len());
    let mut first = 0;
    for piece in base {
        while holes.get(first).is_some_and(|h| h.1 <= piece.start) {
            first += 1;
        }
        let mut cursor = piece.start;
        for hole in holes.iter().skip(first).take_while(|h| h.0 < piece.end) {
            if hole.0 > cursor {
                out.push(Piece { start: cursor, end: hole.0, ..piece });
            }
            cursor = cursor.max(hole.1);
        }
        if cursor < piece.end {
            out.push(Piece { start: cursor, ..piece });
        }
    }
    out
}

/// `top` painted over `base` (both sorted, disjoint); the result is sorted and disjoint too.
fn overlay<'a>(base: Vec<Piece<'a>>, top: Vec<Piece<'a>>) -> Vec<Piece<'a>> {
    if top.is_empty() {
        return base;
    }
    let holes: Vec<Span> = top.iter().map(|p| (p.start, p.end)).collect();
    let mut out = subtract(base, &holes);
    out.extend(top);
    out.sort_by_key(|p| p.start);
    out
}

/// `pieces` with touching pieces of one person from one source joined.
fn merge_adjacent(pieces: Vec<Piece<'_>>) -> Vec<Piece<'_>> {
    let mut out: Vec<Piece<'_>> = Vec::with_capacity(pieces.len());
    for piece in pieces {
        match out.last_mut() {
            Some(last) if last.end == piece.start && last.person == piece.person && last.origin == piece.origin => {
                last.end = piece.end;
            }
            _ => out.push(piece),
        }
    }
    out
}

/// The piece of `pieces` (sorted, disjoint) that contains `at`.
fn containing<'a>(pieces: &[Piece<'a>], at: DateTime<Utc>) -> Option<Piece<'a>> {
    let index = pieces.partition_point(|p| p.end <= at);
    pieces.get(index).filter(|p| p.start <= at).copied()
}

// ---------------------------------------------------------------------------------------------
// Rotations, days and restrictions in text
// ---------------------------------------------------------------------------------------------

impl Rotation {
    fn in_bounds(self) -> bool {
        match self {
            Rotation::Hours(n) => (1..=MAX_HOURS).contains(&n),
            Rotation::Days(n) => (1..=MAX_DAYS).contains(&n),
        }
    }
}

impl FromStr for Rotation {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let lower = text.trim().to_ascii_lowercase();
        let rotation = match lower.as_str() {
            "daily" => Rotation::Days(1),
            "weekly" => Rotation::Days(7),
            other => count_and_unit(other).ok_or_else(|| ParseError::Rotation(excerpt(text)))?,
        };
        if rotation.in_bounds() { Ok(rotation) } else { Err(ParseError::RotationRange(excerpt(text))) }
    }
}

/// A rotation written as a number and a unit ("3d", "2 weeks", "12h"); huge numbers saturate.
fn count_and_unit(text: &str) -> Option<Rotation> {
    let digits = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return None;
    }
    let n: u32 = number.parse().unwrap_or(u32::MAX);
    match unit.trim_start() {
        "h" | "hour" | "hours" => Some(Rotation::Hours(n)),
        "d" | "day" | "days" => Some(Rotation::Days(n)),
        "w" | "week" | "weeks" => Some(Rotation::Days(n.saturating_mul(7))),
        _ => None,
    }
}

impl fmt::Display for Rotation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rotation::Days(1) => f.write_str("daily"),
            Rotation::Days(7) => f.write_str("weekly"),
            Rotation::Days(n) => write!(f, "{n}d"),
            Rotation::Hours(n) => write!(f, "{n}h"),
        }
    }
}

const WEEK: [Weekday; 7] =
    [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri, Weekday::Sat, Weekday::Sun];

impl DaySet {
    /// No day; shown as "none", which parsing refuses.
    pub const EMPTY: DaySet = DaySet(0);
    /// Every day of the week.
    pub const ALL: DaySet = DaySet(0b111_1111);
    /// Monday to Friday.
    pub const WEEKDAYS: DaySet = DaySet(0b001_1111);
    /// Saturday and Sunday.
    pub const WEEKENDS: DaySet = DaySet(0b110_0000);

    /// The set of `days`.
    pub fn from_days(days: impl IntoIterator<Item = Weekday>) -> Self {
        days.into_iter().fold(Self::EMPTY, Self::with)
    }

    /// This set and `day`.
    pub fn with(self, day: Weekday) -> Self {
        DaySet(self.0 | bit(day))
    }

    /// Whether `day` is in the set.
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & bit(day) != 0
    }

    /// Whether the set has no day.
    pub fn is_empty(self) -> bool {
        self.0 & Self::ALL.0 == 0
    }

    /// The days in the set, Monday first.
    pub fn days(self) -> impl Iterator<Item = Weekday> {
        WEEK.into_iter().filter(move |day| self.contains(*day))
    }
}

fn bit(day: Weekday) -> u8 {
    1 << day.num_days_from_monday()
}

impl FromStr for DaySet {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let lower = text.trim().to_ascii_lowercase();
        let set = match lower.as_str() {
            "daily" | "everyday" => Some(Self::ALL),
            "weekdays" | "weekday" => Some(Self::WEEKDAYS),
            "weekends" | "weekend" => Some(Self::WEEKENDS),
            list => list.split(',').try_fold(Self::EMPTY, |set, item| Some(DaySet(set.0 | day_item(item.trim())?.0))),
        };
        set.ok_or_else(|| ParseError::Days(excerpt(text)))
    }
}

/// One day ("mon", "monday") or a range of days ("mon-fri", "fri-mon" wrapping over the weekend).
fn day_item(item: &str) -> Option<DaySet> {
    let Some((first, last)) = item.split_once('-') else { return day_named(item).map(|day| DaySet(bit(day))) };
    let (mut day, last) = (day_named(first.trim())?, day_named(last.trim())?);
    let mut set = DaySet(bit(day));
    while day != last {
        day = day.succ();
        set = set.with(day);
    }
    Some(set)
}

fn day_named(name: &str) -> Option<Weekday> {
    const NAMES: [&[&str]; 7] = [
        &["mon", "monday"],
        &["tue", "tues", "tuesday"],
        &["wed", "weds", "wednesday"],
        &["thu", "thur", "thurs", "thursday"],
        &["fri", "friday"],
        &["sat", "saturday"],
        &["sun", "sunday"],
    ];
    WEEK.into_iter().zip(NAMES).find(|(_, names)| names.contains(&name)).map(|(day, _)| day)
}

impl fmt::Display for DaySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DaySet(self.0 & Self::ALL.0) {
            Self::ALL => return f.write_str("daily"),
            Self::WEEKDAYS => return f.write_str("weekdays"),
            Self::WEEKENDS => return f.write_str("weekends"),
            Self::EMPTY => return f.write_str("none"),
            _ => {}
        }
        let mut items = Vec::new();
        let mut i = 0;
        while i < WEEK.len() {
            let run = WEEK[i..].iter().take_while(|day| self.contains(**day)).count();
            match run {
                0 => {}
                1 | 2 => items.extend(WEEK[i..i + run].iter().map(|day| short_name(*day).to_owned())),
                _ => items.push(format!("{}-{}", short_name(WEEK[i]), short_name(WEEK[i + run - 1]))),
            }
            i += run.max(1);
        }
        f.write_str(&items.join(","))
    }
}

fn short_name(day: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize % 7]
}

impl Restriction {
    /// Whether the restriction covers no time: no day, or a start equal to its end other than 00:00-24:00.
    pub fn is_empty(&self) -> bool {
        self.days.is_empty() || (self.from == self.to && self.from != NaiveTime::MIN)
    }

    /// Adds the restriction's windows overlapping `span`, clipped to it, to `out`.
    fn windows(&self, schedule_tz: Tz, span: Span, out: &mut Vec<Span>) {
        if self.is_empty() {
            return;
        }
        let tz = self.timezone.unwrap_or(schedule_tz);
        let Some(mut day) = span.0.with_timezone(&tz).date_naive().pred_opt() else { return };
        let last = span.1.with_timezone(&tz).date_naive();
        while day <= last {
            if let Some((start, end)) = self.window_on(tz, day) {
                let (start, end) = (start.max(span.0), end.min(span.1));
                if start < end {
                    out.push((start, end));
                }
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }

    /// The window that starts on `day`, if it is one of the restriction's days.
    fn window_on(&self, tz: Tz, day: NaiveDate) -> Option<Span> {
        if !self.days.contains(day.weekday()) {
            return None;
        }
        let end_day = if self.to <= self.from { day.succ_opt()? } else { day };
        let (start, end) = (resolve(tz, day.and_time(self.from))?, resolve(tz, end_day.and_time(self.to))?);
        (start < end).then_some((start, end))
    }
}

impl FromStr for Restriction {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, ParseError> {
        let words = words(text);
        let (days, times, timezone) = match words.as_slice() {
            [days, times] => (days, times, None),
            [days, times, timezone] => (days, times, Some(parse_timezone(timezone)?)),
            _ => return Err(ParseError::Window(excerpt(text))),
        };
        let (from, to) = parse_times(times).ok_or_else(|| ParseError::Times(excerpt(times)))?;
        let restriction = Restriction { days: days.parse()?, from, to, timezone };
        if restriction.is_empty() { Err(ParseError::EmptyWindow(excerpt(text))) } else { Ok(restriction) }
    }
}

/// The words of `text`, with words around a dash joined: "mon - fri 08:00 -17:00" has two.
fn words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match words.last_mut() {
            Some(last) if last.ends_with('-') || word.starts_with('-') => last.push_str(word),
            _ => words.push(word.to_owned()),
        }
    }
    words
}

/// "HH:MM-HH:MM", where the end may be "24:00" (read as 00:00, the end of the day).
fn parse_times(text: &str) -> Option<(NaiveTime, NaiveTime)> {
    let (from, to) = text.split_once('-')?;
    let to = if to == "24:00" { NaiveTime::MIN } else { parse_clock(to)? };
    Some((parse_clock(from)?, to))
}

/// "H:MM" or "HH:MM", 00:00 to 23:59.
fn parse_clock(text: &str) -> Option<NaiveTime> {
    let (hours, minutes) = text.split_once(':')?;
    let digits = |s: &str, widths: &[usize]| widths.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(hours, &[1, 2]) || !digits(minutes, &[2]) {
        return None;
    }
    NaiveTime::from_hms_opt(hours.parse().ok()?, minutes.parse().ok()?, 0)
}

fn parse_timezone(name: &str) -> Result<Tz, ParseError> {
    name.parse::<Tz>()
        .ok()
        .or_else(|| chrono_tz::TZ_VARIANTS.iter().copied().find(|tz| tz.name().eq_ignore_ascii_case(name)))
        .ok_or_else(|| ParseError::Timezone(excerpt(name)))
}

/// A wall-clock time shown as "HH:MM", or "24:00" for the end of a day.
struct Clock(NaiveTime, bool);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clock(time, true) if *time == NaiveTime::MIN => f.write_str("24:00"),
            Clock(time, _) => write!(f, "{:02}:{:02}", time.hour(), time.minute()),
        }
    }
}

impl fmt::Display for Restriction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}-{}", self.days, Clock(self.from, false), Clock(self.to, true))?;
        match self.timezone {
            Some(tz) => write!(f, " {}", tz.name()),
            None => Ok(()),
        }
    }
}

/// Serde through the text forms, so stored schedules read like what users type.
macro_rules! serde_as_text {
    ($($name:ty),*) => {$(
        impl TryFrom<String> for $name {
            type Error = ParseError;

            fn try_from(text: String) -> Result<Self, ParseError> {
                text.parse()
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.to_string()
            }
        }
    )*};
}

serde_as_text!(Rotation, DaySet, Restriction);

/// Serde for a handoff time as "HH:MM".
mod clock_serde {
    use chrono::NaiveTime;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    use super::{Clock, ParseError, excerpt, parse_clock};

    pub(super) fn serialize<S: Serializer>(time: &NaiveTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&Clock(*time, false))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_clock(&text).ok_or_else(|| D::Error::custom(ParseError::Clock(excerpt(&text))))
    }
}

/// Whether `name` is one word of letters, digits, `-` or `_`, of at most 32 characters.
fn is_word(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
}

/// `text` trimmed and cut short for quoting in a one-line error.
fn excerpt(text: &str) -> String {
    let text = text.trim();
    if text.chars().count() <= EXCERPT_CHARS {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(EXCERPT_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use chrono::Weekday::{Fri, Mon, Sat, Sun};
    use chrono_tz::Tz::{America__Los_Angeles as LosAngeles, Asia__Kolkata as Kolkata, Europe__Madrid as Madrid, UTC};
    use proptest::prelude::*;
    use proptest::test_runner::Config;

    use super::*;

    /// An instant written "YYYY-MM-DD HH:MM" in `tz`'s wall-clock time.
    fn at(tz: Tz, text: &str) -> DateTime<Utc> {
        let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M").expect("a test time");
        resolve(tz, naive).expect("a valid local time")
    }

    /// An instant written "YYYY-MM-DD HH:MM" in UTC.
    fn utc(text: &str) -> DateTime<Utc> {
        at(UTC, text)
    }

    fn clock(text: &str) -> NaiveTime {
        parse_clock(text).expect("a test time of day")
    }

    /// A layer written "name people rotation handoff start | restriction | …", people comma-separated.
    fn layer(spec: &str) -> Layer {
        let mut parts = spec.split(" | ");
        let words: Vec<&str> = parts.next().unwrap_or_default().split_whitespace().collect();
        let [name, people, rotation, handoff, start] = words[..] else { panic!("a bad test layer {spec:?}") };
        Layer {
            name: name.into(),
            participants: people.split(',').map(String::from).collect(),
            rotation: rotation.parse().expect("a test rotation"),
            handoff: clock(handoff),
            start: start.parse().expect("a test date"),
            restrictions: parts.map(|r| r.parse().expect("a test restriction")).collect(),
        }
    }

    fn schedule(timezone: Tz, layers: &[&str]) -> Schedule {
        Schedule { timezone, layers: layers.iter().map(|spec| layer(spec)).collect() }
    }

    /// A shift from the layer named `source`, or from an override when `source` is empty.
    fn shift(person: &str, start: DateTime<Utc>, end: DateTime<Utc>, source: &str) -> Shift {
        let source = if source.is_empty() { Source::Override } else { Source::Layer(source.into()) };
        Shift { person: person.into(), start, end, source }
    }

    fn cover(person: &str, start: &str, end: &str) -> Override {
        Override { person: person.into(), start: utc(start), end: utc(end) }
    }

    /// The lengths in hours of the first `n` turns of a two-person rotation handing off at 09:00.
    fn turn_hours(tz: Tz, rotation: &str, start: &str, n: usize) -> Vec<i64> {
        let from = at(tz, &format!("{start} 09:00"));
        let shifts = schedule(tz, &[&format!("l ana,ben {rotation} 09:00 {start}")]).shifts(
            &[],
            from,
            from + TimeDelta::days(60),
        );
        shifts.iter().take(n).map(|s| (s.end - s.start).num_hours()).collect()
    }

    #[test]
    fn daily_handoff_stays_at_local_time_across_dst() {
        let cases = [
            (Madrid, "2026-03-27", [24, 23, 24, 24]),
            (Madrid, "2026-10-23", [24, 25, 24, 24]),
            (LosAngeles, "2026-03-06", [24, 23, 24, 24]),
            (LosAngeles, "2026-10-30", [24, 25, 24, 24]),
            (Kolkata, "2026-03-27", [24, 24, 24, 24]),
        ];
        for (tz, start, lengths) in cases {
            assert_eq!(turn_hours(tz, "daily", start, 4), lengths, "{tz} from {start}");
            let from = at(tz, &format!("{start} 09:00"));
            let shifts =
                schedule(tz, &[&format!("l ana,ben daily 09:00 {start}")]).shifts(&[], from, from + TimeDelta::days(5));
            assert!(shifts.iter().all(|s| s.start.with_timezone(&tz).time() == clock("09:00")), "{tz}: {shifts:?}");
        }
    }

    #[test]
    fn weekly_turn_across_dst_is_167_or_169_hours() {
        assert_eq!(turn_hours(Madrid, "weekly", "2026-03-23", 2), [167, 168]);
        assert_eq!(turn_hours(Madrid, "weekly", "2026-10-19", 2), [169, 168]);
        assert_eq!(turn_hours(LosAngeles, "weekly", "2026-03-02", 2), [167, 168]);
        assert_eq!(turn_hours(LosAngeles, "weekly", "2026-10-26", 2), [169, 168]);
        assert_eq!(turn_hours(Kolkata, "weekly", "2026-03-23", 2), [168, 168]);
    }

    #[test]
    fn hours_rotation_keeps_fixed_length_across_dst() {
        for (tz, start) in
            [(Madrid, "2026-03-28"), (Madrid, "2026-10-24"), (LosAngeles, "2026-03-07"), (Kolkata, "2026-03-28")]
        {
            assert_eq!(turn_hours(tz, "12h", start, 6), [12; 6], "{tz} from {start}");
        }
        assert_eq!(turn_hours(LosAngeles, "5h", "2026-10-31", 8), [5; 8]);
    }

    #[test]
    fn handoff_in_a_dst_gap_starts_after_it_and_an_ambiguous_one_takes_the_earlier() {
        let schedule = schedule(Madrid, &["l ana,ben daily 02:30 2026-03-01"]);
        let starts =
            |from, to| schedule.shifts(&[], utc(from), utc(to)).iter().skip(1).map(|s| s.start).collect::<Vec<_>>();
        assert_eq!(starts("2026-03-28 12:00", "2026-03-30 12:00"), [utc("2026-03-29 01:00"), utc("2026-03-30 00:30")]);
        assert_eq!(starts("2026-10-24 12:00", "2026-10-26 12:00"), [utc("2026-10-25 00:30"), utc("2026-10-26 01:30")]);
    }

    #[test]
    fn later_layer_wins_inside_its_weekday_window() {
        let layers =
            ["primary ana,ben weekly 09:00 2026-01-05", "office cho daily 00:00 2026-01-05 | weekdays 08:00-17:00"];
        let local = |text| at(Madrid, text);
        let (from, to) = (local("2026-01-09 00:00"), local("2026-01-12 00:00"));
        let expected = [
            shift("ana", from, local("2026-01-09 08:00"), "primary"),
            shift("cho", local("2026-01-09 08:00"), local("2026-01-09 17:00"), "office"),
            shift("ana", local("2026-01-09 17:00"), to, "primary"),
        ];
        assert_eq!(schedule(Madrid, &layers).shifts(&[], from, to), expected);
    }

    #[test]
    fn follow_the_sun_layers_leave_a_gap_between() {
        let emea = "emea ana daily 00:00 2026-01-01 | daily 08:00-20:00 Europe/Madrid";
        let schedule = schedule(UTC, &[emea, "apac dev daily 00:00 2026-01-01 | daily 08:00-20:00 Asia/Kolkata"]);
        let (from, to) = (utc("2026-01-14 00:00"), utc("2026-01-15 00:00"));
        let expected = [
            shift("dev", utc("2026-01-14 02:30"), utc("2026-01-14 14:30"), "apac"),
            shift("ana", utc("2026-01-14 14:30"), utc("2026-01-14 19:00"), "emea"),
        ];
        assert_eq!(schedule.shifts(&[], from, to), expected);
        assert_eq!(schedule.gaps(&[], from, to), [(from, expected[0].start), (expected[1].end, to)]);
        // In summer Madrid is at UTC+2, so the European window ends an hour earlier in UTC.
        let (from, to) = (utc("2026-07-14 00:00"), utc("2026-07-15 00:00"));
        assert_eq!(schedule.gaps(&[], from, to), [(from, utc("2026-07-14 02:30")), (utc("2026-07-14 18:00"), to)]);
    }

    fn daily_pair() -> Schedule {
        schedule(Madrid, &["primary ana,ben daily 09:00 2026-02-01"])
    }

    #[test]
    fn override_covers_exactly_its_interval() {
        let covers = [cover("cho", "2026-02-03 12:00", "2026-02-03 15:30")];
        let (from, to) = (utc("2026-02-03 00:00"), utc("2026-02-04 00:00"));
        let expected = [
            shift("ben", from, utc("2026-02-03 08:00"), "primary"),
            shift("ana", utc("2026-02-03 08:00"), covers[0].start, "primary"),
            shift("cho", covers[0].start, covers[0].end, ""),
            shift("ana", covers[0].end, to, "primary"),
        ];
        assert_eq!(daily_pair().shifts(&covers, from, to), expected);
        assert_eq!(daily_pair().on_call_at(&covers, utc("2026-02-03 13:00")).as_ref(), Some(&expected[2]));
    }

    #[test]
    fn later_override_wins_over_earlier() {
        let covers = [
            cover("cho", "2026-02-03 12:00", "2026-02-03 16:00"),
            cover("dev", "2026-02-03 14:00", "2026-02-03 18:00"),
        ];
        let expected = [
            shift("cho", utc("2026-02-03 12:00"), utc("2026-02-03 14:00"), ""),
            shift("dev", utc("2026-02-03 14:00"), utc("2026-02-03 18:00"), ""),
            shift("ana", utc("2026-02-03 18:00"), utc("2026-02-03 20:00"), "primary"),
        ];
        assert_eq!(daily_pair().shifts(&covers, utc("2026-02-03 12:00"), utc("2026-02-03 20:00")), expected);
    }

    fn office_hours() -> Schedule {
        schedule(Madrid, &["office ana weekly 00:00 2026-01-05 | mon-fri 09:00-17:00"])
    }

    #[test]
    fn gaps_of_a_restricted_layer_are_outside_its_windows() {
        let local = |text| at(Madrid, text);
        let expected = [
            (local("2026-01-05 00:00"), local("2026-01-05 09:00")),
            (local("2026-01-05 17:00"), local("2026-01-06 09:00")),
            (local("2026-01-06 17:00"), local("2026-01-07 00:00")),
        ];
        assert_eq!(office_hours().gaps(&[], local("2026-01-05 00:00"), local("2026-01-07 00:00")), expected);
        let weekend = (local("2026-01-09 17:00"), local("2026-01-12 09:00"));
        assert_eq!(office_hours().gaps(&[], weekend.0, weekend.1), [weekend]);
    }

    #[test]
    fn empty_schedule_is_one_gap() {
        let schedule = schedule(UTC, &[]);
        let (from, to) = (utc("2026-01-01 00:00"), utc("2026-02-01 00:00"));
        assert_eq!(schedule.gaps(&[], from, to), [(from, to)]);
        assert_eq!(schedule.gaps(&[], to, from), []);
        assert_eq!(schedule.shifts(&[], from, to), []);
        assert_eq!(schedule.on_call_at(&[], from), None);
        assert_eq!(schedule.next_after(&[], from, TimeDelta::days(30)), None);
    }

    #[test]
    fn window_crossing_midnight_ends_the_next_day_and_keeps_wall_clock_across_dst() {
        let nights = schedule(Madrid, &["nights ana weekly 00:00 2026-01-05 | fri 22:00-06:00 | sun 20:00-24:00"]);
        let local = |text| at(Madrid, text);
        let spans: Vec<Span> = nights
            .shifts(&[], local("2026-03-27 00:00"), local("2026-03-30 00:00"))
            .iter()
            .map(|s| (s.start, s.end))
            .collect();
        assert_eq!(
            spans,
            [
                (local("2026-03-27 22:00"), local("2026-03-28 06:00")),
                (local("2026-03-29 20:00"), local("2026-03-30 00:00"))
            ]
        );
        let us = schedule(UTC, &["us ben daily 00:00 2026-03-01 | daily 08:00-17:00 America/Los_Angeles"]);
        for s in us.shifts(&[], utc("2026-03-06 12:00"), utc("2026-03-11 12:00")) {
            assert_eq!(
                (s.start.with_timezone(&LosAngeles).hour(), s.end.with_timezone(&LosAngeles).hour()),
                (8, 17),
                "{s:?}"
            );
        }
    }

    #[test]
    fn on_call_at_returns_the_whole_merged_shift() {
        let weekly = schedule(Madrid, &["p ana,ben weekly 09:00 2026-01-05"]);
        let expected = shift("ana", utc("2026-01-05 08:00"), utc("2026-01-12 08:00"), "p");
        assert_eq!(weekly.on_call_at(&[], utc("2026-01-08 12:00")), Some(expected));
        assert_eq!(weekly.on_call_at(&[], utc("2026-01-05 07:59")), None, "before the first turn");
        let solo = schedule(Madrid, &["p ana daily 09:00 2026-01-05"]).on_call_at(&[], utc("2026-03-01 00:00"));
        let solo = solo.expect("ana is on call");
        assert_eq!(solo.start, utc("2026-01-05 08:00"));
        assert!(solo.end >= utc("2026-03-01 00:00") + TimeDelta::days(399), "cut only at the look-ahead limit");
        let wednesday = office_hours().on_call_at(&[], at(Madrid, "2026-01-07 10:00")).expect("ana is on call");
        assert_eq!((wednesday.start, wednesday.end), (at(Madrid, "2026-01-07 09:00"), at(Madrid, "2026-01-07 17:00")));
    }

    #[test]
    fn next_after_finds_the_next_shift() {
        let covers = [cover("cho", "2026-02-03 12:00", "2026-02-03 15:30")];
        let next = |at| daily_pair().next_after(&covers, utc(at), TimeDelta::days(2));
        assert_eq!(next("2026-02-03 10:00"), Some(shift("cho", covers[0].start, covers[0].end, "")));
        assert_eq!(next("2026-02-03 13:00"), Some(shift("ana", covers[0].end, utc("2026-02-04 08:00"), "primary")));
        let evening = at(Madrid, "2026-01-05 18:00");
        let next = office_hours().next_after(&[], evening, TimeDelta::days(2)).expect("a next shift");
        assert_eq!((next.person.as_str(), next.start), ("ana", at(Madrid, "2026-01-06 09:00")));
        assert_eq!(office_hours().next_after(&[], evening, TimeDelta::hours(10)), None, "not within 10 hours");
        assert_eq!(office_hours().next_after(&[], evening, TimeDelta::hours(-10)), None);
    }

    #[test]
    fn absurd_inputs_do_not_panic() {
        let mut layers = Vec::new();
        for start in [
            NaiveDate::MAX,
            NaiveDate::MIN,
            "1000-01-01".parse().expect("a date"),
            "9999-12-31".parse().expect("a date"),
        ] {
            for rotation in [
                Rotation::Days(0),
                Rotation::Hours(0),
                Rotation::Days(u32::MAX),
                Rotation::Hours(u32::MAX),
                Rotation::Hours(1),
            ] {
                let mut l = layer("l ana daily 02:30 2026-01-01 | daily 02:30-03:00");
                (l.start, l.rotation, l.restrictions[0].to) = (start, rotation, clock("02:30"));
                layers.push(l);
            }
        }
        layers.push(Layer { participants: Vec::new(), ..layer("none ana daily 09:00 2026-01-01") });
        let schedule = Schedule { timezone: Madrid, layers };
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        let covers = [
            Override { person: "x".into(), start: max, end: min },
            Override { person: "y".into(), start: min, end: max },
        ];
        for (from, to) in [(min, max), (max, min), (min, min), (max, max)] {
            let _ =
                (schedule.shifts(&covers, from, to), schedule.gaps(&[], from, to), schedule.on_call_at(&covers, from));
            let _ = (schedule.next_after(&[], from, TimeDelta::MAX), schedule.next_after(&covers, to, TimeDelta::MIN));
        }
        assert_eq!(schedule.shifts(&[], utc("2026-01-02 00:00"), utc("2026-01-01 00:00")), []);
        let long = schedule.gaps(&[], min, max);
        assert!(
            long.last().is_some_and(|gap| gap.1 - gap.0 <= TimeDelta::days(MAX_SPAN_DAYS)),
            "a computation is capped"
        );
    }

    #[test]
    fn check_accepts_a_valid_schedule_and_an_empty_one() {
        let roster = |name: &str| ["ana", "ben", "cho"].contains(&name);
        let office = "office-hours cho daily 00:00 2026-01-05 | weekdays 08:00-17:00 | sat 00:00-24:00";
        assert_eq!(schedule(Madrid, &["primary ana,ben,ana weekly 09:00 2026-01-05", office]).check(roster), Ok(()));
        assert_eq!(schedule(Madrid, &[]).check(roster), Ok(()));
    }

    /// The one-line refusal of the check of a valid one-layer schedule changed by `edit`.
    fn refusal(edit: impl Fn(&mut Schedule)) -> String {
        let mut schedule = schedule(Madrid, &["primary ana,ben weekly 09:00 2026-01-05"]);
        edit(&mut schedule);
        let message = schedule.check(|name| ["ana", "ben"].contains(&name)).expect_err("a refusal").to_string();
        assert_eq!(message.lines().count(), 1, "{message:?}");
        message
    }

    #[test]
    fn check_refuses_each_problem_in_one_line() {
        let primary = "layer \"primary\": expected";
        let word = "expected a one-word name (letters, digits, - or _) of at most 32 characters";
        assert_eq!(refusal(|s| s.layers[0].name = "two words".into()), format!("layer \"two words\": {word}"));
        assert!(refusal(|s| s.layers[0].name = "x".repeat(33)).ends_with(word));
        let twice = |s: &mut Schedule| s.layers.push(layer("PRIMARY ana daily 09:00 2026-01-05"));
        assert_eq!(refusal(twice), "layer \"PRIMARY\": expected a unique name, but an earlier layer has it too");
        let rotation = refusal(|s| s.layers[0].rotation = Rotation::Hours(0));
        assert_eq!(rotation, format!("{primary} a rotation of 1 to 168 hours or 1 to 366 days, got 0h"));
        let start = refusal(|s| s.layers[0].start = NaiveDate::MAX);
        assert!(start.starts_with(&format!("{primary} a start date between 1900-01-01 and 8999-12-31, got +262")));
        assert_eq!(refusal(|s| s.layers[0].participants.clear()), format!("{primary} 1 to 100 participants, got 0"));
        assert!(refusal(|s| s.layers[0].participants = vec!["ana".into(); 101]).ends_with("got 101"));
        let stranger = refusal(|s| s.layers[0].participants.push("zed\nnew line".into()));
        assert_eq!(stranger, format!("{primary} participants from the team's roster, got \"zed\\nnew line\""));
        let many = refusal(|s| s.layers[0].restrictions = vec!["daily 08:00-17:00".parse().expect("valid"); 15]);
        assert_eq!(many, format!("{primary} at most 14 restrictions, got 15"));
        let window = Restriction { days: DaySet::WEEKDAYS, from: clock("08:00"), to: clock("08:00"), timezone: None };
        let empty = refusal(|s| s.layers[0].restrictions = vec![window.clone()]);
        assert_eq!(
            empty,
            format!("{primary} a window with days and different start and end times, got \"weekdays 08:00-08:00\"")
        );
        let no_days = Restriction { days: DaySet::EMPTY, from: NaiveTime::MIN, to: NaiveTime::MIN, timezone: None };
        assert!(refusal(|s| s.layers[0].restrictions = vec![no_days.clone()]).ends_with("got \"none 00:00-24:00\""));
        let eleven =
            |s: &mut Schedule| s.layers = (0..11).map(|i| layer(&format!("l{i} ana daily 09:00 2026-01-05"))).collect();
        assert_eq!(refusal(eleven), "expected at most 10 layers, got 11");
    }

    #[test]
    fn rotation_parses_every_form() {
        let days = [
            ("daily", 1),
            ("Weekly", 7),
            ("2w", 14),
            ("2weeks", 14),
            ("1 week", 7),
            ("3d", 3),
            ("3days", 3),
            ("1day", 1),
        ];
        for (text, n) in days.into_iter().chain([("366d", 366), ("52w", 364)]) {
            assert_eq!(text.parse(), Ok(Rotation::Days(n)), "{text}");
        }
        for (text, n) in [("12h", 12), ("12hours", 12), (" 1 hour ", 1), ("168h", 168)] {
            assert_eq!(text.parse(), Ok(Rotation::Hours(n)), "{text}");
        }
        let shown =
            [Rotation::Days(1), Rotation::Days(7), Rotation::Days(14), Rotation::Hours(12)].map(|r| r.to_string());
        assert_eq!(shown, ["daily", "weekly", "14d", "12h"]);
    }

    #[test]
    fn rotation_refusals_say_what_was_expected() {
        let refuse = |text: &str| text.parse::<Rotation>().expect_err("a refusal").to_string();
        for text in ["fortnightly", "12", "d", "-3d", "3 fortnights", ""] {
            assert_eq!(refuse(text), format!("expected a rotation like daily, weekly, 3d or 12h, got {text:?}"));
        }
        for text in ["0d", "0h", "169h", "367d", "53w", "99999999999999d"] {
            assert_eq!(refuse(text), format!("expected a rotation of 1 to 168 hours or 1 to 366 days, got {text:?}"));
        }
    }

    #[test]
    fn restriction_parses_every_form() {
        let cases = [
            ("weekdays 08:00-17:00", "weekdays 08:00-17:00"),
            ("Weekends 8:00-17:00 europe/madrid", "weekends 08:00-17:00 Europe/Madrid"),
            ("daily 08:00-17:00", "daily 08:00-17:00"),
            ("everyday 00:00-24:00 UTC", "daily 00:00-24:00 UTC"),
            ("Monday 08:00-24:00", "mon 08:00-24:00"),
            ("mon-fri 22:00-06:00 Asia/Kolkata", "weekdays 22:00-06:00 Asia/Kolkata"),
            ("mon - wed 08:00 - 17:00", "mon-wed 08:00-17:00"),
            ("fri-mon 08:00-17:00", "mon,fri-sun 08:00-17:00"),
            ("sat-sun 08:00-17:00", "weekends 08:00-17:00"),
            ("mon,wed,FRIDAY 08:00-17:00", "mon,wed,fri 08:00-17:00"),
            ("tues,thurs 17:00-08:00", "tue,thu 17:00-08:00"),
        ];
        for (text, shown) in cases {
            let parsed: Restriction = text.parse().unwrap_or_else(|err| panic!("{text}: {err}"));
            assert_eq!(parsed.to_string(), shown);
            assert_eq!(shown.parse(), Ok(parsed));
        }
        let night =
            Restriction { days: DaySet::WEEKDAYS, from: clock("22:00"), to: clock("06:00"), timezone: Some(Kolkata) };
        assert_eq!("mon-fri 22:00-06:00 Asia/Kolkata".parse(), Ok(night));
        let whole: Restriction = "fri-mon 00:00-24:00".parse().expect("a whole-day window");
        assert_eq!(
            (whole.days.days().collect(), whole.from, whole.to),
            (vec![Mon, Fri, Sat, Sun], NaiveTime::MIN, NaiveTime::MIN)
        );
    }

    #[test]
    fn restriction_refusals_say_what_was_expected() {
        let refuse = |text: &str| text.parse::<Restriction>().expect_err("a refusal").to_string();
        let window = "expected a window like \"weekdays 08:00-17:00\" or \"mon-fri 22:00-06:00 Asia/Kolkata\", got";
        for text in ["weekdays", "", "mon 08:00-17:00 UTC extra"] {
            assert_eq!(refuse(text), format!("{window} {text:?}"));
        }
        let days = "expected days like weekdays, weekends, daily, mon, mon-fri or mon,wed,fri, got";
        for text in ["funday", "mon,,tue", "mon-tue-wed", "mon-xyz"] {
            assert_eq!(refuse(&format!("{text} 08:00-17:00")), format!("{days} {text:?}"));
        }
        let times = "expected times like 08:00-17:00 or 22:00-06:00 (24:00 for the end of a day), got";
        for text in ["8am-5pm", "08:00", "24:00-08:00", "08:60-17:00", "08:00-25:00", "0800-1700", "+8:00-17:00"] {
            assert_eq!(refuse(&format!("mon {text}")), format!("{times} {text:?}"));
        }
        let zone = "expected an IANA timezone like Europe/Madrid or Asia/Kolkata, got \"Mars/Olympus\"";
        assert_eq!(refuse("mon 08:00-17:00 Mars/Olympus"), zone);
        let empty = "expected a window with different start and end times (00:00-24:00 for a whole day), got";
        assert_eq!(refuse("mon 08:00-08:00"), format!("{empty} \"mon 08:00-08:00\""));
        assert!(
            refuse(&format!("{} 08:00-17:00", "x".repeat(500))).chars().count() < 200,
            "long input is quoted short"
        );
    }

    #[test]
    fn serde_uses_readable_strings() {
        let schedule = schedule(Madrid, &["office ana 2w 09:30 2026-01-05 | weekdays 08:00-17:00 Asia/Kolkata"]);
        let json = serde_json::to_value(&schedule).expect("serializable");
        let expected = serde_json::json!({"timezone": "Europe/Madrid", "layers": [{
            "name": "office", "participants": ["ana"], "rotation": "14d", "handoff": "09:30", "start": "2026-01-05",
            "restrictions": ["weekdays 08:00-17:00 Asia/Kolkata"],
        }]});
        assert_eq!(json, expected);
        assert_eq!(serde_json::from_value::<Schedule>(json).expect("deserializable"), schedule);
        let mut bad = expected.clone();
        bad["layers"][0]["handoff"] = "9am".into();
        let err = serde_json::from_value::<Schedule>(bad).expect_err("a bad handoff").to_string();
        assert!(err.contains("expected a time like 09:00, got \"9am\""), "{err}");
    }

    #[test]
    fn ten_hourly_layers_with_restrictions_over_ninety_days_are_fast() {
        let spec = "ana,ben,cho,dev 1h 00:30 2026-01-01 | weekdays 08:00-17:00 | weekends 10:00-14:00 Asia/Kolkata";
        let layers: Vec<String> =
            (0..10).map(|i| format!("l{i} {spec} | fri 22:00-06:00 America/Los_Angeles")).collect();
        let schedule = schedule(Madrid, &layers.iter().map(String::as_str).collect::<Vec<_>>());
        let covers = [cover("eve", "2026-02-01 00:00", "2026-02-03 00:00")];
        let started = std::time::Instant::now();
        let shifts = schedule.shifts(&covers, utc("2026-01-15 00:00"), utc("2026-04-15 00:00"));
        let elapsed = started.elapsed();
        assert!(shifts.len() > 500);
        // The target is well under 50 ms in a debug build (about 10 ms here); the bound allows a busy machine.
        assert!(elapsed < std::time::Duration::from_millis(500), "took {elapsed:?}");
    }

    // -----------------------------------------------------------------------------------------
    // Properties
    // -----------------------------------------------------------------------------------------

    const PEOPLE: [&str; 5] = ["ana", "ben", "cho", "dev", "eve"];

    /// A random schedule with overrides and a window to compute it over.
    #[derive(Debug, Clone)]
    struct Case {
        schedule: Schedule,
        overrides: Vec<Override>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    }

    fn config() -> Config {
        Config { cases: 64, failure_persistence: None, ..Config::default() }
    }

    fn any_tz() -> impl Strategy<Value = Tz> {
        prop::sample::select(vec![Madrid, LosAngeles, Kolkata, UTC])
    }

    fn any_time() -> impl Strategy<Value = NaiveTime> {
        (0u32..24, prop::sample::select(vec![0u32, 15, 30, 45]))
            .prop_map(|(h, m)| NaiveTime::MIN + TimeDelta::minutes(i64::from(h * 60 + m)))
    }

    fn any_rotation(max_hours: u32, max_days: u32) -> impl Strategy<Value = Rotation> {
        prop_oneof![(1..=max_hours).prop_map(Rotation::Hours), (1..=max_days).prop_map(Rotation::Days)]
    }

    fn any_restriction() -> impl Strategy<Value = Restriction> {
        (1u8..=127, any_time(), any_time(), prop::option::of(any_tz())).prop_map(|(days, from, to, timezone)| {
            let (from, to) = if from == to { (NaiveTime::MIN, NaiveTime::MIN) } else { (from, to) };
            Restriction { days: DaySet(days), from, to, timezone }
        })
    }

    fn any_layer() -> impl Strategy<Value = Layer> {
        let people = prop::collection::vec(prop::sample::select(PEOPLE.to_vec()), 1..=4);
        let restrictions = prop::collection::vec(any_restriction(), 0..=2);
        (people, any_rotation(48, 14), any_time(), 0i64..200, restrictions).prop_map(
            |(people, rotation, handoff, start, restrictions)| Layer {
                name: String::new(),
                participants: people.into_iter().map(String::from).collect(),
                rotation,
                handoff,
                start: NaiveDate::from_ymd_opt(2025, 10, 1).expect("a date") + TimeDelta::days(start),
                restrictions,
            },
        )
    }

    fn any_case() -> impl Strategy<Value = Case> {
        let layers = prop::collection::vec(any_layer(), 1..=3);
        let covers = prop::collection::vec(
            (prop::sample::select(PEOPLE.to_vec()), -5 * 1440i64..20 * 1440, 1i64..5 * 1440),
            0..=3,
        );
        (any_tz(), layers, 0i64..300 * 1440, 60i64..20 * 1440, covers).prop_map(
            |(timezone, mut layers, offset, length, covers)| {
                for (i, layer) in layers.iter_mut().enumerate() {
                    layer.name = format!("l{i}");
                }
                let from = utc("2026-01-01 00:00") + TimeDelta::minutes(offset);
                let at = |minutes: i64| from + TimeDelta::minutes(minutes);
                let overrides = covers
                    .into_iter()
                    .map(|(who, start, length)| Override {
                        person: who.into(),
                        start: at(start),
                        end: at(start + length),
                    })
                    .collect();
                Case { schedule: Schedule { timezone, layers }, overrides, from, to: at(length) }
            },
        )
    }

    /// `span` without the union of `holes`.
    fn without(span: Span, holes: Vec<Span>) -> Vec<Span> {
        let mut rest = Vec::new();
        let mut cursor = span.0;
        for (start, end) in union(holes) {
            if start > cursor && cursor < span.1 {
                rest.push((cursor, start.min(span.1)));
            }
            cursor = cursor.max(end);
        }
        if cursor < span.1 {
            rest.push((cursor, span.1));
        }
        rest
    }

    proptest! {
        #![proptest_config(config())]

        #[test]
        fn shifts_are_sorted_and_never_overlap(case in any_case()) {
            let shifts = case.schedule.shifts(&case.overrides, case.from, case.to);
            for s in &shifts {
                prop_assert!(case.from <= s.start && s.start < s.end && s.end <= case.to, "{s:?}");
            }
            for pair in shifts.windows(2) {
                prop_assert!(pair[0].end <= pair[1].start, "{pair:?}");
                let touching_same = pair[0].end == pair[1].start && pair[0].person == pair[1].person && pair[0].source == pair[1].source;
                prop_assert!(!touching_same, "not merged: {pair:?}");
            }
        }

        #[test]
        fn the_last_override_covering_an_instant_wins_it(case in any_case()) {
            let shifts = case.schedule.shifts(&case.overrides, case.from, case.to);
            for (i, cover) in case.overrides.iter().enumerate() {
                let later = case.overrides[i + 1..].iter().map(|o| (o.start, o.end)).collect();
                for (start, end) in without((cover.start.max(case.from), cover.end.min(case.to)), later) {
                    let covered = shifts.iter().any(|s| s.person == cover.person && s.source == Source::Override && s.start <= start && end <= s.end);
                    prop_assert!(covered, "{cover:?} at {start}..{end} in {shifts:?}");
                }
            }
        }

        #[test]
        fn shifts_and_gaps_tile_the_window(case in any_case()) {
            let shifts = case.schedule.shifts(&case.overrides, case.from, case.to);
            let gaps = case.schedule.gaps(&case.overrides, case.from, case.to);
            let mut all: Vec<Span> = shifts.iter().map(|s| (s.start, s.end)).chain(gaps.iter().copied()).collect();
            all.sort();
            let mut cursor = case.from;
            for (start, end) in all {
                prop_assert_eq!(start, cursor);
                prop_assert!(start < end);
                cursor = end;
            }
            prop_assert_eq!(cursor, case.to);
            prop_assert!(gaps.windows(2).all(|pair| pair[0].1 < pair[1].0), "gaps are merged");
        }

        #[test]
        fn on_call_at_agrees_with_shifts(case in any_case(), points in prop::collection::vec(0u32..1000, 3)) {
            let shifts = case.schedule.shifts(&case.overrides, case.from, case.to);
            for point in points {
                let at = case.from + (case.to - case.from) * i32::try_from(point).unwrap_or(0) / 1000;
                let inside = shifts.iter().find(|s| s.start <= at && at < s.end);
                let whole = case.schedule.on_call_at(&case.overrides, at);
                match (inside, whole) {
                    (None, None) => {}
                    (Some(s), Some(w)) => {
                        prop_assert_eq!((&s.person, &s.source), (&w.person, &w.source));
                        prop_assert!(w.start <= s.start && s.end <= w.end, "{w:?} should hold {s:?}");
                        prop_assert!(s.start == case.from || w.start == s.start, "{w:?} vs {s:?}");
                        prop_assert!(s.end == case.to || w.end == s.end, "{w:?} vs {s:?}");
                    }
                    (s, w) => prop_assert!(false, "at {at}: shifts say {s:?}, on_call_at says {w:?}"),
                }
            }
        }

        #[test]
        fn rotation_and_restriction_round_trip_through_text(rotation in any_rotation(MAX_HOURS, MAX_DAYS), restriction in any_restriction()) {
            prop_assert_eq!(rotation.to_string().parse::<Rotation>(), Ok(rotation));
            prop_assert_eq!(restriction.to_string().parse::<Restriction>(), Ok(restriction.clone()));
            prop_assert_eq!(restriction.days.to_string().parse::<DaySet>(), Ok(restriction.days));
        }

        #[test]
        fn parsing_never_panics_and_errors_are_one_line(text in ".*", shaped in "[a-zA-Z0-9:,/ _-]{0,40}") {
            for text in [text, shaped] {
                let errors = [
                    text.parse::<Rotation>().err(),
                    text.parse::<Restriction>().err(),
                    text.parse::<DaySet>().err(),
                ];
                for error in errors.into_iter().flatten() {
                    prop_assert_eq!(error.to_string().lines().count(), 1, "{:?}", error);
                }
            }
        }

        #[test]
        fn schedules_round_trip_through_json(case in any_case()) {
            let json = serde_json::to_string(&case.schedule).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let back: Schedule = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, case.schedule);
        }
    }
}
