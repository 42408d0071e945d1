//! `!ack`, `!page @user`, `!page team`, `!page falsealarm`, `!page list`.

use firebell_core::command::shown;
use firebell_core::ids::Person;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Outcome, PluginError, Settings, framework_state, is_enabled};
use firebell_core::state::{Choices, Reads, State};
use firebell_core::team::Team;
use firebell_plugin_sal::{LogEntry, log_entry};

use crate::PLUGIN;
use crate::calls::Request;
use crate::escalation::{follow, stop, to_admin_rooms};
use crate::page::{Page, PageRefusal, PageState, open_page, open_pages, page_number, store};

fn refused(text: String) -> PluginError {
    PluginError::Refused(text)
}

/// The open page a command is about: the one named, else the only one that `fits`.
async fn target(
    ctx: &Context<'_>,
    named: Option<&str>,
    fits: fn(&Page) -> bool,
    command: &str,
) -> Result<Page, PluginError> {
    if let Some(named) = named {
        let number =
            page_number(named).ok_or_else(|| PluginError::Usage(format!("expected a page like P12, got {named:?}")))?;
        return open_page(&ctx.state, number).await?.ok_or_else(|| refused(format!("no open page P{number}")));
    }
    let pages = open_pages(&ctx.state).await?;
    let fitting: Vec<Page> = pages.iter().filter(|page| fits(page)).cloned().collect();
    match fitting.as_slice() {
        [only] => Ok(only.clone()),
        [] if pages.is_empty() => Err(refused("there is no open page".into())),
        [] => Err(refused(format!("no page is waiting; open: {}", keys(&pages)))),
        many => Err(refused(format!(
            "several pages are open ({}); name one, e.g. {}{command} {}",
            keys(many),
            ctx.prefix,
            many.last().map(Page::key).unwrap_or_default()
        ))),
    }
}

fn keys(pages: &[Page]) -> String {
    pages.iter().map(Page::key).collect::<Vec<_>>().join(", ")
}

pub(crate) async fn ack(ctx: &Context<'_>, named: Option<&str>, silences: bool) -> Result<Outcome, PluginError> {
    let team = ctx.require_team()?;
    let mut page = target(ctx, named, Page::is_firing, "ack").await?;
    page.ack(&ctx.sender, ctx.now).map_err(|refusal| match refusal {
        PageRefusal::AlreadyAcked(by, at) => {
            refused(format!("{} was acknowledged by {by} at {} UTC", page.key(), at.format("%H:%M")))
        }
        PageRefusal::Closed => refused(format!("{} is closed", page.key())),
    })?;
    let text = format!("{} paged: {} ({} acknowledged)", ctx.sender, page.alert.summary, page.key());
    let mut outcome = Outcome::act(ctx.reply(Message::text(text)));
    if silences {
        let silence = Request::silence(&mut page, ctx.sender.clone(), ctx.now, ctx.settings, (ctx.room, ctx.thread));
        outcome = outcome.and(silence.call(&team.id)).write(follow(&ctx.state, &page, ctx.settings, ctx.now));
    }
    outcome.writes.extend(stop(&ctx.state, &page));
    Ok(outcome.write(store(&ctx.state, &page)))
}

pub(crate) async fn false_alarm(ctx: &Context<'_>, named: Option<&str>) -> Result<Outcome, PluginError> {
    let mut page = target(ctx, named, Page::is_open, "page falsealarm").await?;
    page.false_alarm(&ctx.sender, ctx.now).map_err(|_| refused(format!("{} is closed", page.key())))?;
    let note = format!("false alarm {} ({}): adjust monitoring", page.key(), page.alert.alertname);
    let log = LogEntry { at: ctx.now, by: ctx.sender.clone(), project: "alerts".into(), message: note.clone() };
    let reply = format!(
        "{} closed as a false alarm by {}. Noted in the alerts admin log: adjust monitoring for {}.",
        page.key(),
        ctx.sender,
        page.alert.alertname
    );
    let mut outcome =
        Outcome { writes: log_entry(ctx.reads, &log).into(), actions: vec![ctx.reply(Message::text(reply))] };
    outcome.writes.extend(stop(&ctx.state, &page));
    Ok(outcome.write(store(&ctx.state, &page)))
}

pub(crate) fn page_someone(ctx: &Context<'_>, who: &Person, text: Option<&str>) -> Outcome {
    let why = text.unwrap_or("please join");
    let here = Message::default().mention(who).and(format!(": {} pages you: {why}", ctx.sender));
    let direct = Message::text(format!("{} pages you from ", ctx.sender)).room(ctx.room).and(format!(": {why}"));
    Outcome::act(ctx.reply(here)).and(Action::DirectMessage { user: who.user.clone(), message: direct })
}

pub(crate) async fn page_team(
    ctx: &Context<'_>,
    team: &Team,
    other: &str,
    text: Option<&str>,
) -> Result<Outcome, PluginError> {
    let Some(other_team) = ctx.teams.get(&other.to_lowercase()).filter(|t| t.id != team.id) else {
        let known: Vec<String> = ctx.teams.iter().filter(|t| t.id != team.id).map(|t| t.id.to_string()).collect();
        let expected = match known.is_empty() {
            true => format!("team {} is the only team configured, so there is no other team to page", team.id),
            false => format!("expected one of {}", known.join(", ")),
        };
        return Err(PluginError::Usage(format!("unknown team {:?}; {expected}", shown(other))));
    };
    if other_team.admin_rooms.is_empty() {
        return Err(refused(format!("team {} has no admin room to page", other_team.name)));
    }
    let paging = ctx.registry.plugin(PLUGIN).ok_or_else(|| refused("the paging plugin is not installed".into()))?;
    // The other team's choices, read afresh: its state is not part of this command's guard.
    let theirs = Reads::new(ctx.reads.store(), Some(&other_team.id), None);
    let choices = Choices::read(&framework_state(&theirs)).await?;
    if !is_enabled(paging.as_ref(), other_team, &choices) {
        return Err(refused(format!(
            "team {} has paging turned off, so it cannot be paged through Firebell; reach them in their rooms",
            other_team.name
        )));
    }
    let settings = Settings::of(paging.as_ref(), other_team, &choices);
    let why = text.unwrap_or("please join");
    let mut message =
        Message::text(format!("PAGE from team {} ({}): {why}. Reply in ", team.name, ctx.sender)).room(ctx.room);
    let their_rota = State::new(&theirs, firebell_plugin_oncall::PLUGIN);
    let mut direct = Vec::new();
    if let Some(oncall) = crate::oncall(&their_rota, other_team, &settings, ctx.now).await? {
        let text = format!("Team {} pages team {} ({}): {why}.", team.name, other_team.name, ctx.sender);
        let (actions, how) = crate::reach(other_team, &oncall, 0, &format!("Page from team {}", team.name), &text);
        message = message.and(" — ").mention(&oncall).and(format!(" is on call (reached by {how})."));
        direct = actions;
    }
    let mut outcome = Outcome::act(ctx.reply(Message::text(format!("Paged team {}.", other_team.name))));
    outcome.actions.extend(to_admin_rooms(other_team, &message));
    outcome.actions.extend(direct);
    Ok(outcome)
}

pub(crate) async fn list(ctx: &Context<'_>, team: &Team) -> Result<Outcome, PluginError> {
    let pages = open_pages(&ctx.state).await?;
    if pages.is_empty() {
        return Ok(Outcome::act(ctx.reply(Message::text(format!("Team {} has no open page.", team.name)))));
    }
    let mut lines = vec![format!("Open pages of team {}:", team.name)];
    for page in &pages {
        let state = match &page.state {
            PageState::Acked { by, at } => format!("ACKED by {by} at {} UTC", at.format("%H:%M")),
            _ => "FIRING".to_owned(),
        };
        let oncall = page.oncall.as_ref().map(|p| format!(", on call {p}")).unwrap_or_default();
        lines.push(format!(
            "- {} [{state}] {} (opened {} UTC{oncall})",
            page.key(),
            page.alert.summary,
            page.opened_at.format("%H:%M")
        ));
    }
    Ok(Outcome::act(ctx.reply(Message::text(lines.join("\n")))))
}
