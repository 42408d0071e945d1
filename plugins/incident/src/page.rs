//! The live status doc of one incident on the web, at `/incidents/<ID>`: the IC, the state, who
//! is doing what, tasks and follow-ups, the whole timeline in UTC, and the report draft. It is
//! not public: a request needs a signed, expiring link, which `!incident show` gives team
//! members in the team's own rooms, or to come through a trusted reverse proxy that names a
//! team member (`[http] trusted_user_header`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_core::plugin::{Context, PluginError, TeamContext, WebRequest, WebResponse};
use serde::Serialize;

use crate::model::Incident;
use crate::records::{incident, timeline_of};
use crate::report::{render_report, render_status_doc};

/// How long a link from `!incident show` works.
pub(crate) const LINK_VALID_FOR: Duration = Duration::from_secs(24 * 3600);

const PAGE: &str = include_str!("../templates/incident.html");

/// A timeline entry as the page shows it.
#[derive(Serialize)]
struct Entry {
    at: String,
    time: String,
    by: String,
    text: String,
}

/// The page's path for `incident`.
pub(crate) fn path(incident: &Incident) -> String {
    format!("/incidents/{}", incident.key())
}

/// The line `!incident show` adds for a team member in the team's own rooms, when the bot
/// makes links.
pub(crate) fn link_line(ctx: &Context<'_>, incident: &Incident) -> Option<String> {
    let member = ctx.team().is_some_and(|team| team.is_member(&ctx.sender.user) && !team.members.is_empty());
    if !member || ctx.is_public_room() {
        return None;
    }
    let link = ctx.links.signed(&path(incident), ctx.now, LINK_VALID_FOR)?;
    Some(format!("Live page (for the team, works 24h): {link}"))
}

/// Answers `/incidents/<ID>` for a valid link.
pub(crate) async fn serve(ctx: &TeamContext<'_>, request: &WebRequest) -> Result<WebResponse, PluginError> {
    let Some(number) = request.rest.strip_prefix('-').and_then(|n| n.parse::<u64>().ok()) else {
        return Ok(WebResponse::not_found());
    };
    let member = request.user.as_deref().is_some_and(|user| is_member(ctx.team, user));
    if !member && !ctx.links.verify(request, ctx.now) {
        return Ok(WebResponse::text(
            403,
            "this page needs a valid link: ask !incident show in the team's room for a fresh one\n",
        ));
    }
    let Some(incident) = incident(&ctx.state, number).await? else { return Ok(WebResponse::not_found()) };
    let entries = timeline_of(ctx.reads, number).await?;
    let html = render(&incident, &entries, ctx.now);
    Ok(WebResponse::ok("text/html; charset=utf-8", html)
        .header("Cache-Control", "private, no-store")
        .header("X-Robots-Tag", "noindex"))
}

/// Whether `user`, as a trusted proxy names them, is on `team`'s roster: by name, or by an
/// account written `transport:id`.
fn is_member(team: &firebell_core::team::Team, user: &str) -> bool {
    team.member_named(user).is_some() || team.members.iter().any(|m| m.ids.iter().any(|id| id.to_string() == user))
}

fn render(incident: &Incident, entries: &[crate::model::TimelineEntry], now: DateTime<Utc>) -> String {
    let timeline: Vec<Entry> = entries
        .iter()
        .map(|entry| Entry {
            at: entry.at.to_rfc3339(),
            time: entry.at.format("%Y-%m-%d %H:%M:%S").to_string(),
            by: entry.by.as_ref().map(ToString::to_string).unwrap_or_default(),
            text: entry.text.clone(),
        })
        .collect();
    let state = match &incident.resolution {
        Some(resolution) => format!("Resolved {} UTC", resolution.at.format("%Y-%m-%d %H:%M")),
        None => format!("Open since {} UTC", incident.declared_at.format("%Y-%m-%d %H:%M")),
    };
    let mut templates = minijinja::Environment::new();
    templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    let context = minijinja::context! {
        key => incident.key(),
        title => incident.title.clone(),
        state => state,
        security => incident.security,
        doc => render_status_doc(incident, entries, now),
        timeline => minijinja::Value::from(minijinja::value::Serde(timeline)),
        report => render_report(incident, entries),
        now => now.format("%Y-%m-%d %H:%M:%S").to_string(),
    };
    templates
        .template_from_named_str("incident.html", PAGE)
        .and_then(|template| template.render(context))
        .unwrap_or_else(|err| format!("the page could not be made: {err}"))
}
