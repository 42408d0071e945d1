//! Alerts opening and resolving pages, and the escalation of pages nobody acknowledges.

use chrono::{DateTime, Offset, TimeZone, Utc};
use firebell_core::clock::after;
use firebell_core::ids::Person;
use firebell_core::job::Job;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Outcome, PluginError, Settings, TeamContext};
use firebell_core::state::{Change, State};
use firebell_core::team::{Member, Team};

use serde::{Deserialize, Serialize};

use crate::calls::Request;
use crate::page::{Alert, AlertStatus, Page, PageState, open_page, page_of_alert, store};
use crate::policy::{self, Who};
use crate::{PLUGIN, PagingSettings};

/// The timed work of a page: the two escalation steps of a page nobody acknowledges, and the
/// follow-up of an acknowledged page's alert in Alertmanager (whose silence hides the resolved
/// notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Everyone in the on-call person's timezone.
    Timezone,
    /// Everyone on the team.
    Everyone,
    /// Asks Alertmanager whether the acknowledged page's alert still fires.
    Follow,
    /// Asks Alertmanager whether a resolved page's alert fires again.
    Watch,
}

/// What a [`Step::Watch`] job watches, and until when.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watch {
    fingerprint: String,
    alertname: String,
    until: DateTime<Utc>,
}

impl Step {
    const ALL: [Step; 4] = [Step::Timezone, Step::Everyone, Step::Follow, Step::Watch];

    fn name(self) -> &'static str {
        match self {
            Step::Timezone => "timezone",
            Step::Everyone => "everyone",
            Step::Follow => "follow",
            Step::Watch => "watch",
        }
    }

    /// How long after its start the step comes.
    fn wait(self, settings: &Settings) -> std::time::Duration {
        let settings: PagingSettings = settings.read();
        match self {
            Step::Timezone => settings.escalate_timezone_after,
            Step::Everyone => settings.escalate_all_after,
            Step::Follow | Step::Watch => settings.check_every,
        }
    }

    /// Cancels this step of page `number`.
    fn cancel(self, state: &State<'_>, number: u64) -> Change {
        state.cancel_named(self.name(), &number.to_string())
    }

    /// Schedules this step of `page` its setting's time after `from` (job
    /// `paging:<number>:<step>`).
    fn at(self, state: &State<'_>, page: &Page, settings: &Settings, from: DateTime<Utc>) -> Change {
        self.with(state, page.number, settings, from, &())
    }

    /// Schedules this step of page `number` its setting's time after `from`, with `data`.
    fn with<D: Serialize>(
        self,
        state: &State<'_>,
        number: u64,
        settings: &Settings,
        from: DateTime<Utc>,
        data: &D,
    ) -> Change {
        state.schedule_named(self.name(), &number.to_string(), after(from, self.wait(settings)), data)
    }

    /// Reads a job back into the page number and the step, also a job scheduled by an earlier
    /// version (`page:3:timezone`).
    fn of(job: &Job) -> Option<(u64, Step)> {
        let step = Step::ALL.into_iter().find(|s| s.name() == job.kind())?;
        let number = job.about();
        let number = if job.id.starts_with(PLUGIN) { number } else { number.strip_prefix("page:")? };
        Some((number.parse().ok()?, step))
    }
}

/// The team's escalation steps: its `escalation` policy, else the two steps of the
/// `escalate_timezone_after` and `escalate_all_after` settings.
fn policy(settings: &Settings) -> Vec<policy::Step> {
    let settings: PagingSettings = settings.read();
    if !settings.escalation.0.is_empty() {
        return settings.escalation.0;
    }
    vec![
        policy::Step { after: settings.escalate_timezone_after, who: Who::Timezone },
        policy::Step { after: settings.escalate_all_after, who: Who::Everyone },
    ]
}

/// The kind of the job of a policy's step `index`: `step0`, `step1`…
fn step_kind(index: usize) -> String {
    format!("step{index}")
}

/// The escalation jobs of a newly opened page, one per step of the policy (job
/// `paging:<number>:step<i>`, carrying the step, so that a policy changed meanwhile does not
/// change a page's escalation).
fn schedule(state: &State<'_>, page: &Page, settings: &Settings) -> Vec<Change> {
    let subject = page.number.to_string();
    policy(settings)
        .iter()
        .enumerate()
        .map(|(index, step)| state.schedule_named(&step_kind(index), &subject, after(page.opened_at, step.after), step))
        .collect()
}

/// Cancels the escalation of `page` (it was acknowledged or closed), also the two steps an
/// earlier version scheduled.
pub(crate) fn stop(state: &State<'_>, page: &Page) -> Vec<Change> {
    let subject = page.number.to_string();
    let legacy = [Step::Timezone, Step::Everyone].into_iter().map(|step| step.cancel(state, page.number));
    legacy.chain((0..policy::MOST_STEPS).map(|index| state.cancel_named(&step_kind(index), &subject))).collect()
}

/// Starts following an acknowledged page's alert in Alertmanager, from `now`.
pub(crate) fn follow(state: &State<'_>, page: &Page, settings: &Settings, now: DateTime<Utc>) -> Change {
    Step::Follow.at(state, page, settings, now)
}

/// Posts `message` in every admin room of `team`.
pub(crate) fn to_admin_rooms(team: &Team, message: &Message) -> Vec<Action> {
    team.admin_rooms
        .iter()
        .map(|room| Action::Send { room: room.clone(), message: message.clone(), thread: None })
        .collect()
}

fn labels_line(alert: &Alert) -> String {
    alert.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// A firing alert opens a page (unless its page is open already); a resolved one resolves it.
pub(crate) async fn on_alert(ctx: &TeamContext<'_>, alert: Alert, silences: bool) -> Result<Outcome, PluginError> {
    let existing = page_of_alert(&ctx.state, &alert.fingerprint).await?;
    match (alert.status, existing) {
        (AlertStatus::Firing, Some(page)) if silences && page.wants_silence() => Ok(silence_again(ctx, page)),
        (AlertStatus::Firing, Some(page)) => {
            tracing::debug!(page = %page.key(), "alert fired again while its page is open");
            Ok(Outcome::default())
        }
        (AlertStatus::Firing, None) => open_new_page(ctx, alert).await,
        (AlertStatus::Resolved, Some(page)) => Ok(resolve_page(ctx, page, "")),
        (AlertStatus::Resolved, None) => Ok(Outcome::default()),
    }
}

/// An acknowledged page's alert fires and has no silence (Alertmanager was away when it was
/// acknowledged, and lost its alerts when it restarted): the silence is made now, once.
pub(crate) fn silence_again(ctx: &TeamContext<'_>, mut page: Page) -> Outcome {
    let PageState::Acked { by, .. } = page.state.clone() else { return Outcome::default() };
    let Some(room) = ctx.team.admin_rooms.first() else { return Outcome::default() };
    tracing::info!(page = %page.key(), "an acknowledged page's alert fires without a silence; silencing it");
    let silence = Request::silence(&mut page, by, ctx.now, ctx.settings, (room, None));
    Outcome::act(silence.call(&ctx.team.id)).write(store(&ctx.state, &page))
}

async fn open_new_page(ctx: &TeamContext<'_>, alert: Alert) -> Result<Outcome, PluginError> {
    let wanted = ctx.settings.read::<PagingSettings>().page_severity;
    if alert.severity() != Some(wanted.as_str()) {
        tracing::debug!(alert = %alert.alertname, severity = ?alert.severity(), "not a paging alert");
        return Ok(Outcome::default());
    }
    let number = ctx.state.next_number("page", ctx.cause).await?;
    let oncall = crate::oncall(&ctx.state_of(firebell_plugin_oncall::PLUGIN), ctx.team, ctx.settings, ctx.now).await?;
    let page = Page::open(number, alert, oncall, ctx.now);
    let key = page.key();
    let mut message = Message::text(format!("PAGE {key} [FIRING] {} — ", page.alert.summary));
    let mut direct = Vec::new();
    message = match &page.oncall {
        Some(person) => {
            let (actions, how) = reached(ctx, &page, person);
            direct = actions;
            message.mention(person).and(format!(" is on call (reached by {how})."))
        }
        None if ctx.team.members.is_empty() => message.and("nobody is on the roster."),
        None => message.and("nobody is on call by the schedule; the team is paged as the escalation goes."),
    };
    let message = message
        .and(format!(" Reply {}ack {key}\n{}", ctx.prefix, labels_line(&page.alert)))
        .button("Ack", format!("{}ack {key}", ctx.prefix));
    let mut writes = schedule(&ctx.state, &page, ctx.settings);
    writes.push(store(&ctx.state, &page));
    let mut actions = to_admin_rooms(ctx.team, &message);
    actions.extend(direct);
    Ok(Outcome { writes, actions })
}

/// The direct messages and push that reach `person` for `page`, and how, in words.
fn reached(ctx: &TeamContext<'_>, page: &Page, person: &Person) -> (Vec<Action>, String) {
    let title = format!("{} {} [{}]", page.key(), page.alert.summary, ctx.team.name);
    let text = format!(
        "You are paged for {}: {} {}. Reply {}ack {} in the team's room.",
        ctx.team.name,
        page.key(),
        page.alert.summary,
        ctx.prefix,
        page.key()
    );
    crate::reach(ctx.team, person, page.number, &title, &text)
}

/// `page`'s alert is over: the page resolves, its jobs stop, and the silence its acknowledgement
/// made is lifted so that a new firing of the alert pages again.
pub(crate) fn resolve_page(ctx: &TeamContext<'_>, mut page: Page, how: &str) -> Outcome {
    page.resolve(ctx.now);
    let took = format_wait(page.opened_at, ctx.now);
    let message = Message::text(format!("{} [RESOLVED] {} (after {took}{how})", page.key(), page.alert.summary));
    let mut writes = stop(&ctx.state, &page);
    writes.push(Step::Follow.cancel(&ctx.state, page.number));
    let mut actions = to_admin_rooms(ctx.team, &message);
    if let Some(silence) = page.silence.take() {
        actions.push(Request::Expire { page: page.number, silence }.call(&ctx.team.id));
        let until = after(ctx.now, ctx.settings.read::<PagingSettings>().watch_resolved_for);
        let watch =
            Watch { fingerprint: page.alert.fingerprint.clone(), alertname: page.alert.alertname.clone(), until };
        writes.push(Step::Watch.with(&ctx.state, page.number, ctx.settings, ctx.now, &watch));
    }
    writes.push(store(&ctx.state, &page));
    Outcome { writes, actions }
}

/// `45s`, `12m`, `1h 5m`.
pub(crate) fn format_wait(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let seconds = (to - from).num_seconds().max(0);
    if seconds < 60 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m}m"),
    }
}

/// Runs a step of a page: an escalation of a page still firing, or the follow-up of an
/// acknowledged one (which asks Alertmanager, and comes again).
pub(crate) async fn run(ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
    if job.kind().strip_prefix("step").is_some_and(|index| index.parse::<usize>().is_ok()) {
        let step: policy::Step = serde_json::from_str(&job.data)
            .map_err(|err| PluginError::Refused(format!("unreadable escalation step {:?}: {err}", job.id)))?;
        let number =
            job.about().parse().map_err(|_| PluginError::Refused(format!("unknown paging job {:?}", job.id)))?;
        return escalate(ctx, number, &step.who).await;
    }
    let Some((number, step)) = Step::of(job) else {
        return Err(PluginError::Refused(format!("unknown paging job {:?}", job.id)));
    };
    if step == Step::Watch {
        return Ok(watch(ctx, number, job));
    }
    let Some(page) = open_page(&ctx.state, number).await? else {
        return Ok(Outcome::default());
    };
    if step == Step::Follow {
        let check = Request::Check {
            page: page.number,
            fingerprint: page.alert.fingerprint.clone(),
            alertname: page.alert.alertname.clone(),
        };
        return Ok(Outcome::act(check.call(&ctx.team.id)).write(follow(&ctx.state, &page, ctx.settings, ctx.now)));
    }
    let who = if step == Step::Timezone { Who::Timezone } else { Who::Everyone };
    escalate(ctx, number, &who).await
}

/// A step of the escalation of page `number`, if it still waits for someone: mentions `who`
/// in the admin rooms and reaches each of them directly.
async fn escalate(ctx: &TeamContext<'_>, number: u64, who: &Who) -> Result<Outcome, PluginError> {
    let Some(page) = open_page(&ctx.state, number).await? else {
        return Ok(Outcome::default());
    };
    if !page.is_firing() {
        return Ok(Outcome::default());
    }
    let waited = format_wait(page.opened_at, ctx.now);
    let team = ctx.team;
    let (who, paged) = match who {
        Who::Timezone => same_timezone(team, page.oncall.as_ref(), ctx.now),
        Who::Everyone => (format!("everyone on team {}", team.name), everyone(team)),
        Who::Admins => {
            let admins = team.members.iter().filter(|m| m.admin).filter_map(person).collect();
            (format!("the admins of team {}", team.name), admins)
        }
        Who::Oncall => match &page.oncall {
            Some(oncall) => (format!("{oncall} again"), vec![oncall.clone()]),
            None => (format!("everyone on team {}", team.name), everyone(team)),
        },
        Who::Member(name) => match team.member_named(name).and_then(person) {
            Some(member) => (member.name.clone(), vec![member]),
            None => (format!("everyone on team {} ({name} is not on the roster)", team.name), everyone(team)),
        },
    };
    let mut message = Message::text(format!("{} is not acknowledged after {waited}. Paging {who}:", page.key()));
    if paged.is_empty() {
        message = message.and(" nobody else shares that timezone; the whole team is paged next.");
    }
    for person in &paged {
        message = message.and(" ").mention(person);
    }
    let message = message.and(format!(" Reply {}ack {}", ctx.prefix, page.key()));
    let mut actions = to_admin_rooms(ctx.team, &message);
    for person in &paged {
        actions.extend(reached(ctx, &page, person).0);
    }
    Ok(Outcome { writes: Vec::new(), actions })
}

/// Asks again whether a resolved page's alert fires, until the watch is over.
fn watch(ctx: &TeamContext<'_>, number: u64, job: &Job) -> Outcome {
    let Ok(watch) = serde_json::from_str::<Watch>(&job.data) else {
        tracing::warn!(job = %job.id, "unreadable watch; dropped");
        return Outcome::default();
    };
    if ctx.now >= watch.until {
        return Outcome::default();
    }
    let check =
        Request::Check { page: number, fingerprint: watch.fingerprint.clone(), alertname: watch.alertname.clone() };
    let next = Step::Watch.with(&ctx.state, number, ctx.settings, ctx.now, &watch);
    Outcome::act(check.call(&ctx.team.id)).write(next)
}

/// A resolved page's alert fires again: a new page, unless one is open for it already.
pub(crate) async fn fired_again(ctx: &TeamContext<'_>, number: u64, alert: Alert) -> Result<Outcome, PluginError> {
    // Only a replica that silences alerts checks them: silences are on.
    let mut outcome = on_alert(ctx, alert, true).await?;
    outcome.writes.push(Step::Watch.cancel(&ctx.state, number));
    Ok(outcome)
}

fn person(member: &Member) -> Option<Person> {
    Some(Person::new(member.ids.first()?.clone(), member.name.clone()))
}

fn everyone(team: &Team) -> Vec<Person> {
    team.members.iter().filter_map(person).collect()
}

/// Everyone whose clock shows the same UTC offset as the on-call person's now, but them.
fn same_timezone(team: &Team, oncall: Option<&Person>, now: DateTime<Utc>) -> (String, Vec<Person>) {
    let Some(oncall) = oncall else { return (format!("everyone on team {}", team.name), everyone(team)) };
    let offset = |member: &Member| member.timezone.offset_from_utc_datetime(&now.naive_utc()).fix();
    let Some(theirs) = team.member(&oncall.user).map(offset) else {
        return (format!("everyone on team {}", team.name), everyone(team));
    };
    let peers = team
        .members
        .iter()
        .filter(|member| !member.has(&oncall.user) && offset(member) == theirs)
        .filter_map(person)
        .collect();
    (format!("everyone in {oncall}'s timezone (UTC{theirs})"), peers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_job_ids_read_back() {
        let parse = |id: &str| Step::of(&Job::new(id, PLUGIN, DateTime::<Utc>::UNIX_EPOCH, ""));
        assert_eq!(parse("paging:12:timezone"), Some((12, Step::Timezone)));
        assert_eq!(parse("paging:3:everyone"), Some((3, Step::Everyone)));
        assert_eq!(parse("paging:4:follow"), Some((4, Step::Follow)));
        assert_eq!(parse("paging:4:watch"), Some((4, Step::Watch)));
        assert_eq!(parse("page:4:watch"), Some((4, Step::Watch)), "scheduled by an earlier version");
        assert_eq!(parse("paging:x:everyone"), None);
        assert_eq!(parse("paging:3:nudge"), None);
    }
}
