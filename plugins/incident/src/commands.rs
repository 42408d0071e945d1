//! One function per command: read the target, apply a rule of the incident model, and
//! turn the result into writes and messages.

use firebell_core::clock::after;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Outcome, PluginError};
use firebell_core::team::Team;

use crate::declared::IncidentSettings;
use crate::declared::{
    Accept, Declare, Decline, Doing, Done, Followup, Handoff, Ic, Note, Report, Resolve, Show, Snooze, Task, Update,
};
use crate::format;
use crate::held::{self, Draft};
use crate::model::{Declaration, Incident, Refusal, TimelineEntry, public_topic};
use crate::records::{self, SEQUENCE, open_incidents};
use crate::report::{STATUS_DOC_TIMELINE, render_status_doc};
use crate::rooms;
use crate::target::{any_target, open_target};
use crate::timers::{self, Timer};

/// The most severe and the least severe `--sev`.
const SEVERITIES: std::ops::RangeInclusive<u8> = 1..=5;

fn refused(incident: &Incident, refusal: Refusal) -> PluginError {
    PluginError::Refused(format!("{}: {refusal}", incident.key()))
}

/// One change to an incident: the writes plus a reply.
fn changed(ctx: &Context<'_>, incident: Incident, entries: Vec<TimelineEntry>, reply: Message) -> Outcome {
    Outcome { writes: records::change(&ctx.state, &incident, &entries), actions: vec![ctx.reply(reply)] }
}

fn severity(given: Option<&str>) -> Result<Option<u8>, PluginError> {
    let Some(given) = given else { return Ok(None) };
    let expected = || PluginError::Usage(format!("--sev expects a number from 1 (worst) to 5, got {given:?}"));
    let level: u8 = given.parse().map_err(|_| expected())?;
    if SEVERITIES.contains(&level) { Ok(Some(level)) } else { Err(expected()) }
}

fn set_public_topics(team: &Team, topic: &str) -> impl Iterator<Item = Action> {
    team.public_rooms.iter().map(move |room| Action::SetTopic { room: room.clone(), topic: topic.to_owned() })
}

/// Posts `message` in the team's admin rooms other than the one the command came from.
fn announce_elsewhere(ctx: &Context<'_>, team: &Team, message: &Message) -> Vec<Action> {
    team.admin_rooms
        .iter()
        .filter(|room| *room != ctx.room)
        .map(|room| Action::Send { room: room.clone(), message: message.clone(), thread: None })
        .collect()
}

pub(crate) async fn declare(ctx: &Context<'_>, team: &Team, args: Declare) -> Result<Outcome, PluginError> {
    let security = args.security;
    if security && ctx.is_public_room() {
        return Err(PluginError::Refused(
            "security incidents are declared in the team's admin room, never in a public room".into(),
        ));
    }
    let draft = Draft {
        severity: severity(args.sev.as_deref())?,
        title: args.title,
        user_facing: args.user_facing,
        security,
        by: ctx.sender.clone(),
        room: ctx.room.clone(),
        thread: ctx.thread.map(str::to_owned),
    };
    if team.is_member(&ctx.sender.user) {
        declare_draft(ctx, team, draft, Vec::new()).await
    } else {
        held::hold(ctx, team, draft).await
    }
}

/// Declares `draft`, with `extra` timeline entries (a confirmation). Its declarer becomes IC
/// when they are on the team.
pub(crate) async fn declare_draft(
    ctx: &Context<'_>,
    team: &Team,
    draft: Draft,
    extra: Vec<TimelineEntry>,
) -> Result<Outcome, PluginError> {
    let number = ctx.state.next_number(SEQUENCE, ctx.cause).await?;
    let (incident, mut timeline) = Incident::declare(Declaration {
        team: team.id.clone(),
        team_name: team.name.clone(),
        number,
        declarer_becomes_ic: team.is_member(&draft.by.user),
        title: draft.title,
        severity: draft.severity,
        user_facing: draft.user_facing,
        security: draft.security,
        by: draft.by,
        room: draft.room,
        at: ctx.now,
    });
    timeline.extend(extra);
    let message = Message::text(declared_text(&incident, ctx.prefix));
    let mut outcome = Outcome::act(ctx.reply(message.clone()));
    outcome.actions.extend(announce_elsewhere(ctx, team, &message));
    if incident.user_facing && incident.is_public() {
        let open = open_incidents(&ctx.state).await?;
        let topic = public_topic(team, open.iter().chain([&incident]));
        outcome.actions.extend(set_public_topics(team, &topic));
    }
    outcome.writes.extend(timers::on_declare(&ctx.state, &incident, ctx.settings, ctx.now));
    outcome.actions.extend(rooms::create(ctx, team, &incident));
    outcome.writes.extend(records::change(&ctx.state, &incident, &timeline));
    Ok(outcome)
}

fn declared_text(incident: &Incident, prefix: &str) -> String {
    let mut traits = Vec::new();
    if let Some(level) = incident.severity {
        traits.push(format!("sev {level}"));
    }
    if incident.user_facing {
        traits.push("user-facing".to_owned());
    }
    if incident.security {
        traits.push("security: never shown in public".to_owned());
    }
    let traits = if traits.is_empty() { String::new() } else { format!(" ({})", traits.join(", ")) };
    let ic = match incident.ic() {
        Some(ic) => format!("{ic} is the IC."),
        None => format!("No IC yet: a team member takes the role with {prefix}ic."),
    };
    format!(
        "{} declared: \"{}\"{traits}. {ic} Keep the status doc current with {prefix}incident update <text>.",
        incident.key(),
        incident.doc_title
    )
}

pub(crate) async fn claim_or_show_ic(ctx: &Context<'_>, args: Ic) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "ic").await?;
    let key = incident.key();
    match incident.ic() {
        Some(ic) if ic.user == ctx.sender.user => {
            Ok(Outcome::act(ctx.reply(Message::text(format!("You are the IC of {key}.")))))
        }
        Some(ic) => Ok(Outcome::act(ctx.reply(Message::text(format!("{ic} is the IC of {key}."))))),
        None => {
            let entry = incident.claim_ic(&ctx.sender, ctx.now).map_err(|r| refused(&incident, r))?;
            let reply = Message::text(format!("{} is now the IC of {key}.", ctx.sender));
            let timer = timers::on_new_ic(&ctx.state, &incident, ctx.settings, ctx.now);
            let invites = rooms::invite(&incident, &ctx.sender);
            let mut outcome = changed(ctx, incident, vec![entry], reply).write(timer);
            outcome.actions.extend(invites);
            Ok(outcome)
        }
    }
}

pub(crate) async fn offer_handoff(ctx: &Context<'_>, args: Handoff) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let mut incident = open_target(ctx, args.id, "ic handoff").await?;
    let to = args.user;
    if !team.is_member(&to.user) {
        return Err(PluginError::Refused(format!("{to} is not on team {}'s roster, so cannot be IC", team.name)));
    }
    let ttl = ctx.settings.read::<IncidentSettings>().handoff_offer_ttl;
    let entry = incident.offer_handoff(&ctx.sender, &to, ctx.now, ttl).map_err(|r| refused(&incident, r))?;
    let key = incident.key();
    let reply = Message::default()
        .mention(&to)
        .and(format!(
            ": {} offers you the IC role for {key}. Reply {p}ic accept or {p}ic decline within {}; until then {} stays IC.",
            ctx.sender,
            format::span(ttl),
            ctx.sender,
            p = ctx.prefix,
        ))
        .button("Accept IC role", format!("{}ic accept {key}", ctx.prefix))
        .button("Decline", format!("{}ic decline {key}", ctx.prefix));
    let expiry = Timer::OfferExpiry.at(&ctx.state, &incident, after(ctx.now, ttl));
    Ok(changed(ctx, incident, vec![entry], reply).write(expiry))
}

pub(crate) async fn accept_handoff(ctx: &Context<'_>, args: Accept) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "ic accept").await?;
    let (entry, previous) = incident.accept_handoff(&ctx.sender, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = Message::text(format!("{} is now the IC of {}, taking over from ", ctx.sender, incident.key()))
        .mention(&previous)
        .and(".");
    let cancel = Timer::OfferExpiry.cancel(&ctx.state, &incident);
    let handoff = timers::on_new_ic(&ctx.state, &incident, ctx.settings, ctx.now);
    let invites = rooms::invite(&incident, &ctx.sender);
    let mut outcome = changed(ctx, incident, vec![entry], reply).write(cancel).write(handoff);
    outcome.actions.extend(invites);
    Ok(outcome)
}

pub(crate) async fn decline_handoff(ctx: &Context<'_>, args: Decline) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "ic decline").await?;
    let (entry, from) = incident.decline_handoff(&ctx.sender, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = Message::default().mention(&from).and(format!(
        ": {} declined the IC role for {}; you are still the IC.",
        ctx.sender,
        incident.key()
    ));
    Ok(changed(ctx, incident, vec![entry], reply))
}

pub(crate) async fn update(ctx: &Context<'_>, args: Update) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "incident update").await?;
    let entry = incident.update_status(&ctx.sender, &args.text, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = Message::text(format!("{} status doc updated.", incident.key()));
    let restart =
        incident.is_ic(&ctx.sender).then(|| timers::on_ic_update(&ctx.state, &incident, ctx.settings, ctx.now));
    let outcome = changed(ctx, incident, vec![entry], reply);
    Ok(match restart {
        Some(timer) => outcome.write(timer),
        None => outcome,
    })
}

pub(crate) async fn snooze(ctx: &Context<'_>, args: Snooze) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "incident snooze").await?;
    let span = args.span;
    let longest = ctx.settings.read::<IncidentSettings>().snooze_max;
    if span.is_zero() || span > longest {
        let most = format::span(longest);
        return Err(PluginError::Usage(format!("snooze for a duration up to {most}, like 1h or 30m")));
    }
    let until = after(ctx.now, span);
    let entry = incident.snooze(&ctx.sender, until, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = Message::text(format!(
        "Reminders for {} snoozed for {}, until {} UTC.",
        incident.key(),
        format::span(span),
        format::time(until)
    ));
    let timer = Timer::Reminder.at(&ctx.state, &incident, until);
    Ok(changed(ctx, incident, vec![entry], reply).write(timer))
}

pub(crate) async fn doing(ctx: &Context<'_>, args: Doing) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "incident doing").await?;
    let text = &args.text;
    let entry = incident.set_doing(&ctx.sender, text, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = Message::text(format!("{}: noted, {} is doing: {text}", incident.key(), ctx.sender));
    Ok(changed(ctx, incident, vec![entry], reply))
}

pub(crate) async fn task(ctx: &Context<'_>, args: Task) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "incident task").await?;
    let text = &args.text;
    let assignee = args.user.as_ref();
    let (number, entry) = incident.add_task(&ctx.sender, text, assignee, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = match assignee {
        Some(person) => {
            Message::text(format!("{} task {number} for ", incident.key())).mention(person).and(format!(": {text}"))
        }
        None => Message::text(format!("{} task {number}: {text}", incident.key())),
    };
    Ok(changed(ctx, incident, vec![entry], reply))
}

pub(crate) async fn done(ctx: &Context<'_>, args: Done) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "incident done").await?;
    let number = args.task;
    let no_such = || PluginError::Refused(format!("{}: there is no task {number}", incident.key()));
    let number = u32::try_from(number).map_err(|_| no_such())?;
    let entry = incident.complete_task(&ctx.sender, number, ctx.now).map_err(|r| refused(&incident, r))?;
    let reply = Message::text(format!("{} task {number} done.", incident.key()));
    Ok(changed(ctx, incident, vec![entry], reply))
}

pub(crate) async fn note(ctx: &Context<'_>, args: Note) -> Result<Outcome, PluginError> {
    let incident = any_target(ctx, args.id, "incident note").await?;
    let entry = incident.note(&ctx.sender, &args.text, ctx.now);
    let reply = Message::text(format!("{}: note added to the timeline.", incident.key()));
    // A note changes the timeline only, so it never conflicts with changes to the incident.
    Ok(Outcome::act(ctx.reply(reply)).write(records::add_to_timeline(ctx.reads, incident.number, &entry)))
}

pub(crate) async fn followup(ctx: &Context<'_>, args: Followup) -> Result<Outcome, PluginError> {
    let mut incident = any_target(ctx, args.id, "incident followup").await?;
    let ticket = args.ticket.as_deref();
    let entry = incident.add_followup(&ctx.sender, &args.text, ticket, ctx.now);
    let reply = match ticket {
        Some(ticket) => format!("{} follow-up recorded, tracked in {ticket}.", incident.key()),
        None => format!(
            "{} follow-up recorded. It has no ticket yet: file one and record it with {}incident followup <text> T123.",
            incident.key(),
            ctx.prefix
        ),
    };
    Ok(changed(ctx, incident, vec![entry], Message::text(reply)))
}

pub(crate) async fn show(ctx: &Context<'_>, args: Show) -> Result<Outcome, PluginError> {
    let incident = any_target(ctx, args.id, "incident show").await?;
    // Only what the doc shows, and one more to tell whether there is more.
    let latest = records::latest_timeline(&ctx.state, incident.number, STATUS_DOC_TIMELINE + 1).await?;
    let mut doc = render_status_doc(&incident, &latest, ctx.now);
    if let Some(link) = crate::page::link_line(ctx, &incident) {
        doc.push('\n');
        doc.push_str(&link);
    }
    Ok(Outcome::act(ctx.reply(Message::text(doc))))
}

pub(crate) async fn list(ctx: &Context<'_>, team: &Team) -> Result<Outcome, PluginError> {
    let visible = |i: &&Incident| i.is_public() || !ctx.is_public_room();
    let open_now = open_incidents(&ctx.state).await?;
    let open: Vec<&Incident> = open_now.iter().filter(visible).collect();
    let recent: Vec<Incident> = ctx.state.recent(20).await?;
    let resolved: Vec<&Incident> = recent.iter().filter(|i| !i.is_open()).filter(visible).take(5).collect();
    let mut lines = Vec::new();
    if open.is_empty() {
        lines.push(format!("Team {} has no open incident.", team.name));
    } else {
        lines.push(format!("Open incidents of team {}:", team.name));
        lines.extend(open.iter().map(|i| list_line(i, ctx)));
    }
    if !resolved.is_empty() {
        lines.push("Recently resolved:".to_owned());
        lines.extend(resolved.iter().map(|i| list_line(i, ctx)));
    }
    Ok(Outcome::act(ctx.reply(Message::text(lines.join("\n")))))
}

fn list_line(incident: &Incident, ctx: &Context<'_>) -> String {
    let state = match &incident.resolution {
        Some(resolution) => format!("resolved after {}", format::duration(incident.declared_at, resolution.at)),
        None => {
            let ic = incident.ic().map_or("no IC".to_owned(), |ic| format!("IC {ic}"));
            format!("{ic}, open for {}", format::duration(incident.declared_at, ctx.now))
        }
    };
    format!("- {} {} ({state})", incident.key(), incident.doc_title)
}

pub(crate) async fn resolve(ctx: &Context<'_>, team: &Team, args: Resolve) -> Result<Outcome, PluginError> {
    let mut incident = open_target(ctx, args.id, "incident resolve").await?;
    let was_ic = incident.is_ic(&ctx.sender);
    let summary = args.summary.as_deref();
    let entry = incident.resolve(&ctx.sender, summary, ctx.now).map_err(|r| refused(&incident, r))?;
    let report = records::report(&ctx.state, &incident, std::slice::from_ref(&entry)).await?;

    let key = incident.key();
    let took = format::duration(incident.declared_at, ctx.now);
    let mut text = format!("{key} resolved by {} after {took}.", ctx.sender);
    if was_ic {
        text.push_str(" You are no longer the IC. Good job!");
    }
    for warning in resolve_warnings(&incident, ctx.prefix) {
        text.push_str("\nWarning: ");
        text.push_str(&warning);
    }
    text.push_str(&format!("\nThe report draft follows; {}incident report {key} shows it again.", ctx.prefix));
    let notice = Message::text(format!("{key} \"{}\" is resolved (after {took}).", incident.title));

    let mut outcome = Outcome::act(ctx.reply(Message::text(text))).and(ctx.reply(Message::text(report)));
    outcome.actions.extend(announce_elsewhere(ctx, team, &notice));
    if incident.user_facing && incident.is_public() {
        let open = open_incidents(&ctx.state).await?;
        let topic = public_topic(team, open.iter().filter(|i| i.number != incident.number));
        for room in &team.public_rooms {
            if room != ctx.room {
                outcome.actions.push(Action::Send { room: room.clone(), message: notice.clone(), thread: None });
            }
        }
        outcome.actions.extend(set_public_topics(team, &topic));
    }
    outcome.writes.extend(timers::on_resolve(&ctx.state, &incident));
    outcome.writes.extend(rooms::release(ctx, &incident));
    outcome.writes.extend(records::change(&ctx.state, &incident, &[entry]));
    Ok(outcome)
}

/// What resolving leaves untracked: open tasks and follow-ups without a ticket.
fn resolve_warnings(incident: &Incident, prefix: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    let open_tasks: Vec<String> = incident.open_tasks().map(|t| format!("{}. {}", t.number, t.text)).collect();
    if !open_tasks.is_empty() {
        warnings.push(format!(
            "{} task(s) still open ({}); record what remains with {prefix}incident followup <text> T123.",
            open_tasks.len(),
            open_tasks.join("; ")
        ));
    }
    let untracked: Vec<&str> = incident.untracked_followups().map(|f| f.text.as_str()).collect();
    if !untracked.is_empty() {
        warnings.push(format!(
            "{} follow-up(s) have no ticket ({}); file them and add the ticket id.",
            untracked.len(),
            untracked.join("; ")
        ));
    }
    warnings
}

pub(crate) async fn report(ctx: &Context<'_>, args: Report) -> Result<Outcome, PluginError> {
    let incident = any_target(ctx, args.id, "incident report").await?;
    let report = records::report(&ctx.state, &incident, &[]).await?;
    Ok(Outcome::act(ctx.reply(Message::text(report))))
}
