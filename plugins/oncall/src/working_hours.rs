//! Without a schedule, `!oncall` shows who on the roster is inside working hours now, by each
//! person's own timezone; when nobody is, who comes on next.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use firebell_core::team::{Member, Team};

use crate::OncallSettings;

/// The team's working hours, from the plugin's settings.
#[derive(Debug, Clone, Copy)]
struct Hours {
    start: u32,
    end: u32,
    weekends: bool,
}

impl Hours {
    fn from(settings: &OncallSettings) -> Self {
        let end = settings.workday_end.max(settings.workday_start + 1);
        Self { start: settings.workday_start, end, weekends: settings.weekends }
    }

    fn is_working_day(self, day: Weekday) -> bool {
        self.weekends || !matches!(day, Weekday::Sat | Weekday::Sun)
    }

    /// Whether `member` is inside working hours at `now`.
    fn covers(self, member: &Member, now: DateTime<Utc>) -> bool {
        let local = now.with_timezone(&member.timezone);
        self.is_working_day(local.weekday()) && (self.start..self.end).contains(&local.hour_of_day())
    }

    /// When `member`'s next working day starts, after `now`.
    fn next_start(self, member: &Member, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&member.timezone).date_naive();
        let opening = NaiveTime::from_hms_opt(self.start, 0, 0)?;
        (0..8)
            .map(|days| local + Duration::days(days))
            .filter(|day| self.is_working_day(day.weekday()))
            .filter_map(|day| member.timezone.from_local_datetime(&day.and_time(opening)).earliest())
            .map(|start| start.with_timezone(&Utc))
            .find(|start| *start > now)
    }

    fn describe(self) -> String {
        let days = if self.weekends { "every day" } else { "weekdays" };
        format!("{}:00-{}:00 local time, {days}", self.start, self.end)
    }
}

/// The hour of a local time, as a small extension for readability.
trait HourOfDay {
    fn hour_of_day(&self) -> u32;
}

impl<T: chrono::Timelike> HourOfDay for T {
    fn hour_of_day(&self) -> u32 {
        self.hour()
    }
}

fn local_clock(member: &Member, at: DateTime<Utc>) -> String {
    format!("{} in {}", at.with_timezone(&member.timezone).format("%H:%M %a"), member.timezone)
}

fn wait(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let minutes = (to - from).num_minutes();
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// What `!oncall` says without a schedule.
pub(crate) fn lines(team: &Team, settings: &OncallSettings, now: DateTime<Utc>) -> Vec<String> {
    let hours = Hours::from(settings);
    let (on, off): (Vec<&Member>, Vec<&Member>) = team.members.iter().partition(|m| hours.covers(m, now));
    let mut lines = Vec::new();
    if on.is_empty() {
        lines.push(format!("Nobody on team {} is inside working hours ({}) now.", team.name, hours.describe()));
        let next = off.iter().filter_map(|m| Some((hours.next_start(m, now)?, *m))).min_by_key(|(at, _)| *at);
        if let Some((at, member)) = next {
            lines.push(format!("Next: {} at {} (in {}).", member.name, local_clock(member, at), wait(now, at)));
        }
    } else {
        lines.push(format!("On call now for team {} ({}):", team.name, hours.describe()));
        lines.extend(on.iter().map(|m| format!("- {}: {}", m.name, local_clock(m, now))));
        if !off.is_empty() {
            let rest: Vec<String> = off.iter().map(|m| format!("{} ({})", m.name, local_clock(m, now))).collect();
            lines.push(format!("Off hours: {}", rest.join(", ")));
        }
    }
    lines
}
