//! The workflow's timed rules, as jobs.
//!
//! Every open incident has up to four jobs, scheduled in the same atomic step as the change that
//! calls for them: the status reminder to its IC (every `reminder_interval`, restarted by the
//! IC's `!incident update`, postponed by `!incident snooze`), the follow-up reminder (every
//! `followup_after` while unresolved), the handoff suggestion (`handoff_after` into an IC's
//! term), and the expiry of a pending handoff offer. Resolving cancels them all.

use chrono::{DateTime, Utc};
use firebell_core::clock::after;
use firebell_core::ids::{Person, RoomRef};
use firebell_core::job::Job;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Outcome, PluginError, Settings, TeamContext};
use firebell_core::state::{Change, State};
use firebell_core::team::Team;

use crate::declared::IncidentSettings;
use crate::format;
use crate::model::Incident;
use crate::records;

/// The kinds of timed work an incident has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Update the status doc and the announcement list.
    Reminder,
    /// Still unresolved: follow up with more information.
    Followup,
    /// Long enough as IC: consider handing over.
    Handoff,
    /// The pending handoff offer lapses.
    OfferExpiry,
}

impl Timer {
    const ALL: [Timer; 4] = [Timer::Reminder, Timer::Followup, Timer::Handoff, Timer::OfferExpiry];

    fn name(self) -> &'static str {
        match self {
            Timer::Reminder => "remind",
            Timer::Followup => "followup",
            Timer::Handoff => "handoff",
            Timer::OfferExpiry => "offer",
        }
    }

    /// Schedules this timer of `incident` for `due`, replacing the one before (job
    /// `incident:<number>:<timer>`).
    pub(crate) fn at(self, state: &State<'_>, incident: &Incident, due: DateTime<Utc>) -> Change {
        state.schedule_named(self.name(), &incident.number.to_string(), due, &())
    }

    /// Cancels this timer of `incident`.
    pub(crate) fn cancel(self, state: &State<'_>, incident: &Incident) -> Change {
        state.cancel_named(self.name(), &incident.number.to_string())
    }

    /// Reads a job back into the incident number and the timer.
    fn of(job: &Job) -> Option<(u64, Timer)> {
        let timer = Timer::ALL.into_iter().find(|t| t.name() == job.kind())?;
        Some((job.about().parse().ok()?, timer))
    }
}

/// The team's timer settings, typed.
fn timing(settings: &Settings) -> IncidentSettings {
    settings.read()
}

/// The timers a newly declared incident starts with.
pub(crate) fn on_declare(
    state: &State<'_>,
    incident: &Incident,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Vec<Change> {
    let mut writes = vec![
        Timer::Reminder.at(state, incident, after(now, timing(settings).reminder_interval)),
        Timer::Followup.at(state, incident, after(now, timing(settings).followup_after)),
    ];
    if incident.ic().is_some() {
        writes.push(Timer::Handoff.at(state, incident, after(now, timing(settings).handoff_after)));
    }
    writes
}

/// A new IC term starts: the handoff suggestion counts from now.
pub(crate) fn on_new_ic(state: &State<'_>, incident: &Incident, settings: &Settings, now: DateTime<Utc>) -> Change {
    Timer::Handoff.at(state, incident, after(now, timing(settings).handoff_after))
}

/// The IC updated the doc: the reminder clock starts again (a snooze still holds).
pub(crate) fn on_ic_update(state: &State<'_>, incident: &Incident, settings: &Settings, now: DateTime<Utc>) -> Change {
    let next = after(now, timing(settings).reminder_interval);
    Timer::Reminder.at(state, incident, incident.snoozed_until.map_or(next, |until| until.max(next)))
}

/// The incident is over: no more timers.
pub(crate) fn on_resolve(state: &State<'_>, incident: &Incident) -> Vec<Change> {
    Timer::ALL.into_iter().map(|timer| timer.cancel(state, incident)).collect()
}

/// The rooms where `person` is reminded: the team's admin rooms on their transport, else all.
fn rooms_for(team: &Team, person: Option<&Person>) -> Vec<RoomRef> {
    let theirs: Vec<RoomRef> = team
        .admin_rooms
        .iter()
        .filter(|room| person.is_some_and(|p| p.user.transport == room.transport))
        .cloned()
        .collect();
    if theirs.is_empty() { team.admin_rooms.clone() } else { theirs }
}

fn post(team: &Team, person: Option<&Person>, message: Message) -> Vec<Action> {
    rooms_for(team, person)
        .into_iter()
        .map(|room| Action::Send { room, message: message.clone(), thread: None })
        .collect()
}

fn outcome(writes: Vec<Change>, actions: Vec<Action>) -> Outcome {
    Outcome { writes, actions }
}

/// Runs one of the incident plugin's jobs.
pub(crate) async fn run(ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
    let Some((number, timer)) = Timer::of(job) else {
        return Err(PluginError::Refused(format!("unknown incident job {:?}", job.id)));
    };
    let Some(mut incident) = records::incident(&ctx.state, number).await?.filter(Incident::is_open) else {
        return Ok(Outcome::default());
    };
    Ok(match timer {
        Timer::Reminder => remind(ctx, &mut incident),
        Timer::Followup => follow_up(ctx, &incident),
        Timer::Handoff => suggest_handoff(ctx, &incident),
        Timer::OfferExpiry => expire_offer(ctx, &mut incident),
    })
}

fn remind(ctx: &TeamContext<'_>, incident: &mut Incident) -> Outcome {
    if let Some(until) = incident.snoozed_until.filter(|_| incident.is_snoozed(ctx.now)) {
        return outcome(vec![Timer::Reminder.at(&ctx.state, incident, until)], Vec::new());
    }
    let count = incident.count_reminder(ctx.now);
    let key = incident.key();
    let p = ctx.prefix;
    let message = match incident.ic() {
        Some(ic) => Message::text(format!("Reminder {count} for {key} (")).mention(ic).and(format!(
            ", IC): update the status doc with {p}incident update <text> and send an update to the \
                 announcement list. To postpone: {p}incident snooze 1h"
        )),
        None => Message::text(format!(
            "Reminder {count} for {key}: there is no IC yet; a team member takes the role with {p}ic"
        )),
    };
    let actions = post(ctx.team, incident.ic(), message);
    let next = Timer::Reminder.at(&ctx.state, incident, after(ctx.now, timing(ctx.settings).reminder_interval));
    let update = ctx.state.put(incident);
    outcome(vec![update, next], actions)
}

fn follow_up(ctx: &TeamContext<'_>, incident: &Incident) -> Outcome {
    let open_for = format::duration(incident.declared_at, ctx.now);
    let text = format!(
        "{} is still unresolved after {open_for}: send a follow-up with more information to the announcement list.",
        incident.key()
    );
    let message = match incident.ic() {
        Some(ic) => Message::default().mention(ic).and(format!(": {text}")),
        None => Message::text(text),
    };
    let next = Timer::Followup.at(&ctx.state, incident, after(ctx.now, timing(ctx.settings).followup_after));
    outcome(vec![next], post(ctx.team, incident.ic(), message))
}

fn suggest_handoff(ctx: &TeamContext<'_>, incident: &Incident) -> Outcome {
    let (Some(ic), Some(since)) = (incident.ic(), incident.ic_since()) else {
        return Outcome::default();
    };
    let message = Message::default().mention(ic).and(format!(
        ": you have been the IC of {} for {}. Consider handing over: {}ic handoff @someone",
        incident.key(),
        format::duration(since, ctx.now),
        ctx.prefix
    ));
    let next = Timer::Handoff.at(&ctx.state, incident, after(ctx.now, timing(ctx.settings).handoff_after));
    outcome(vec![next], post(ctx.team, Some(ic), message))
}

fn expire_offer(ctx: &TeamContext<'_>, incident: &mut Incident) -> Outcome {
    let Some((offer, entry)) = incident.expire_offer(ctx.now) else {
        return Outcome::default();
    };
    let message = Message::default().mention(&offer.from).and(format!(
        ": your IC handoff offer to {} for {} expired; you are still the IC.",
        offer.to,
        incident.key()
    ));
    let actions = post(ctx.team, Some(&offer.from), message);
    outcome(records::change(&ctx.state, incident, &[entry]), actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_read_back() {
        let job = |id: &str| Job::new(id, "incident", DateTime::<Utc>::UNIX_EPOCH, "");
        assert_eq!(Timer::of(&job("incident:12:remind")), Some((12, Timer::Reminder)));
        assert_eq!(Timer::of(&job("incident:3:offer")), Some((3, Timer::OfferExpiry)));
        assert_eq!(Timer::of(&job("incident:x:remind")), None);
        assert_eq!(Timer::of(&job("incident:3:nudge")), None);
        assert_eq!(Timer::of(&job("incident:3:x:remind")), None);
    }
}
