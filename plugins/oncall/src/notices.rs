//! Shift notices: a direct message when a shift starts and the day before, the outgoing person
//! told who takes over, and the team admins warned when nobody will be on call. One job per
//! team (`oncall:team:notify`) gives every notice due since the last run, and comes back for the
//! next; the team's [`Progress`] record makes each notice go out once, whoever runs the job.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use firebell_core::declare::JobData;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Outcome, PluginError, TeamContext};
use firebell_core::team::Team;
use serde::{Deserialize, Serialize};

use crate::rota::{Progress, Rota, TEAM};
use crate::schedule::Shift;
use crate::when::{length, local};

/// The notices job: it carries nothing, the schedule says what is due.
#[derive(Debug, Serialize, Deserialize, JobData)]
#[job(kind = "notify")]
pub(crate) struct Notify;

/// When notices go out, from the plugin's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// Whether shift starts and handovers are told; also gates the day-before reminder.
    pub(crate) shifts: bool,
    /// How long before a shift its person is reminded; zero for never.
    pub(crate) remind_before: Duration,
    /// How far ahead the admins are warned of a gap; zero for never.
    pub(crate) warn_within: Duration,
}

/// Something to tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Notice {
    /// `shift` starts now.
    Starts(Shift),
    /// `shift` starts in `remind_before`.
    Soon(Shift),
    /// `outgoing`'s shift ended; `next` takes over (nobody when `None`, until the next shift).
    Handover { outgoing: Shift, next: Option<Shift>, gap_until: Option<DateTime<Utc>> },
    /// Nobody covers this interval, which starts within the warning time.
    Gap { from: DateTime<Utc>, to: DateTime<Utc> },
}

/// How late a notice may still go out (the bot was down when it was due).
const STALE: Duration = Duration::hours(6);

/// How far back and ahead shifts are computed around a run.
const LOOK_AROUND: Duration = Duration::days(3);

/// The notices due in `(after, now]`, from `shifts` (merged, sorted) and `gaps`, but gaps
/// already `warned` about; and when the next one is due (at most a day ahead).
pub(crate) fn due(
    shifts: &[Shift],
    gaps: &[(DateTime<Utc>, DateTime<Utc>)],
    warned: &[DateTime<Utc>],
    (after, now): (DateTime<Utc>, DateTime<Utc>),
    timing: Timing,
) -> (Vec<Notice>, DateTime<Utc>) {
    let inside = |at: DateTime<Utc>| after < at && at <= now;
    let mut notices = Vec::new();
    let mut upcoming = vec![now + Duration::days(1)];
    for (n, shift) in shifts.iter().enumerate() {
        let before = n.checked_sub(1).map(|p| &shifts[p]).filter(|p| p.end == shift.start);
        let after_it = shifts.get(n + 1).filter(|next| next.start == shift.end);
        if timing.shifts {
            if before.is_none_or(|p| p.person != shift.person) {
                inside(shift.start).then(|| notices.push(Notice::Starts(shift.clone())));
                upcoming.push(shift.start);
                if timing.remind_before > Duration::zero() {
                    let soon = shift.start - timing.remind_before;
                    inside(soon).then(|| notices.push(Notice::Soon(shift.clone())));
                    upcoming.push(soon);
                }
            }
            if after_it.is_none_or(|next| next.person != shift.person) && inside(shift.end) {
                let gap_until = gaps.iter().find(|(from, _)| *from == shift.end).map(|(_, to)| *to);
                notices.push(Notice::Handover { outgoing: shift.clone(), next: after_it.cloned(), gap_until });
            }
            upcoming.push(shift.end);
        }
    }
    if timing.warn_within > Duration::zero() {
        for (from, to) in gaps.iter().filter(|(from, to)| *to > now && !warned.contains(from)) {
            if *from <= now + timing.warn_within {
                notices.push(Notice::Gap { from: *from, to: *to });
            } else {
                upcoming.push(*from - timing.warn_within);
            }
        }
    }
    let next = upcoming.into_iter().filter(|at| *at > now).min().unwrap_or(now + Duration::days(1));
    (notices, next)
}

/// The notices job's run: gives what is due since the last run and schedules the next.
pub(crate) async fn run(ctx: &TeamContext<'_>, timing: Timing) -> Result<Outcome, PluginError> {
    let progress =
        ctx.state.get::<Progress>(TEAM).await?.unwrap_or(Progress { id: TEAM.into(), ..Progress::default() });
    let Some(rota) = Rota::read(&ctx.state, ctx.team).await? else {
        return Ok(Outcome::default().write(ctx.state.remove::<Progress>(TEAM)));
    };
    // After a long outage, notices older than STALE are left out: they would mislead.
    let after = progress.done_until.unwrap_or(ctx.now).min(ctx.now).max(ctx.now - STALE);
    let overrides = rota.overrides();
    let from = after - LOOK_AROUND;
    let to = ctx.now + LOOK_AROUND + timing.warn_within;
    let shifts = rota.schedule.shifts(&overrides, from, to);
    let gaps: Vec<_> = rota.schedule.gaps(&overrides, ctx.now, to).into_iter().filter(|(_, end)| *end < to).collect();
    let (notices, next) = due(&shifts, &gaps, &progress.warned, (after, ctx.now), timing);
    let tz = rota.schedule.timezone;
    let mut actions = Vec::new();
    let mut warned: Vec<DateTime<Utc>> =
        progress.warned.into_iter().filter(|start| *start > ctx.now - LOOK_AROUND).collect();
    for notice in &notices {
        if let Notice::Gap { from, .. } = notice {
            warned.push(*from);
        }
        actions.extend(tell(ctx, notice, tz));
    }
    let progress = Progress { id: TEAM.into(), done_until: Some(ctx.now), warned };
    Ok(Outcome::default().writes([ctx.state.put(&progress), ctx.schedule(TEAM, next, &Notify)]).and_all(actions))
}

/// A direct message to `name` on the roster (their first account).
fn direct(team: &Team, name: &str, message: Message) -> Option<Action> {
    let member = team.member_named(name)?;
    Some(Action::DirectMessage { user: member.ids.first()?.clone(), message })
}

/// The person's own timezone, else the schedule's.
fn zone_of(team: &Team, name: &str, tz: Tz) -> Tz {
    team.member_named(name).map_or(tz, |member| member.timezone)
}

fn tell(ctx: &TeamContext<'_>, notice: &Notice, tz: Tz) -> Vec<Action> {
    let team = ctx.team;
    let show = |shift: &Shift| {
        let zone = zone_of(team, &shift.person, tz);
        format!(
            "{} to {} ({zone}, {})",
            local(shift.start, zone),
            local(shift.end, zone),
            length(shift.start, shift.end)
        )
    };
    match notice {
        Notice::Starts(shift) => {
            let text = format!("You are on call for {} now: {}.", team.name, show(shift));
            direct(team, &shift.person, Message::text(text)).into_iter().collect()
        }
        Notice::Soon(shift) => {
            let text = format!("Reminder: you are on call for {} from {}.", team.name, show(shift));
            direct(team, &shift.person, Message::text(text)).into_iter().collect()
        }
        Notice::Handover { outgoing, next, gap_until } => {
            let zone = zone_of(team, &outgoing.person, tz);
            let text = match (next, gap_until) {
                (Some(next), _) => format!(
                    "Your on-call shift for {} is over: {} takes over until {} ({zone}).",
                    team.name,
                    next.person,
                    local(next.end, zone)
                ),
                (None, Some(until)) => format!(
                    "Your on-call shift for {} is over. Nobody takes over until {} ({zone}).",
                    team.name,
                    local(*until, zone)
                ),
                (None, None) => format!("Your on-call shift for {} is over. Nobody takes over.", team.name),
            };
            direct(team, &outgoing.person, Message::text(text)).into_iter().collect()
        }
        Notice::Gap { from, to } => {
            let mut text = Message::text(format!(
                "Nobody is on call for {} from {} to {} ({tz}, {}). Cover it: {}oncall override @someone from <time> until <time>.",
                team.name,
                local(*from, tz),
                local(*to, tz),
                length(*from, *to),
                ctx.prefix
            ));
            let admins: Vec<_> = team
                .members
                .iter()
                .filter(|m| m.admin)
                .filter_map(|m| Some(firebell_core::ids::Person::new(m.ids.first()?.clone(), m.name.clone())))
                .collect();
            if !admins.is_empty() {
                text = text.and(" Admins:");
                for admin in &admins {
                    text = text.and(" ").mention(admin);
                }
            }
            ctx.tell_admin_rooms(&text)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Source;

    fn at(hour: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + Duration::hours(hour)
    }

    fn shift(person: &str, start: i64, end: i64) -> Shift {
        Shift { person: person.into(), start: at(start), end: at(end), source: Source::Layer("primary".into()) }
    }

    const TIMING: Timing =
        Timing { shifts: true, remind_before: Duration::hours(24), warn_within: Duration::hours(48) };

    #[test]
    fn each_notice_is_due_once_in_its_window() {
        let shifts = [shift("alice", 0, 100), shift("bob", 100, 200), shift("carol", 260, 300)];
        let gaps = [(at(200), at(260))];
        let (notices, next) = due(&shifts, &gaps, &[], (at(99), at(100)), TIMING);
        assert_eq!(
            notices,
            vec![
                Notice::Handover { outgoing: shifts[0].clone(), next: Some(shifts[1].clone()), gap_until: None },
                Notice::Starts(shifts[1].clone()),
            ]
        );
        assert_eq!(next, at(124), "the next is a day later at most");
        let (notices, _) = due(&shifts, &gaps, &[], (at(100), at(160)), TIMING);
        assert_eq!(notices, vec![Notice::Gap { from: at(200), to: at(260) }], "within 48h");
        let (notices, _) = due(&shifts, &gaps, &[at(200)], (at(160), at(200)), TIMING);
        assert!(matches!(&notices[..], [Notice::Handover { next: None, gap_until: Some(_), .. }]), "{notices:?}");
        let (notices, _) = due(&shifts, &gaps, &[at(200)], (at(235), at(236)), TIMING);
        assert_eq!(notices, vec![Notice::Soon(shifts[2].clone())]);
    }

    #[test]
    fn a_shift_continued_by_the_same_person_is_not_a_handover() {
        let shifts = [shift("alice", 0, 100), shift("alice", 100, 200)];
        let (notices, _) = due(&shifts, &[], &[], (at(50), at(150)), TIMING);
        assert!(notices.is_empty(), "{notices:?}");
    }
}
