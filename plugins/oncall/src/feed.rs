//! Calendar feeds: `/oncall/<team>.ics` (everyone's shifts) and `/oncall/<team>/<name>.ics`
//! (one person's), each behind a per-person secret token (`?token=…`) that `!oncall ical` gives
//! in a direct message. Only the token's SHA-256 is kept; a wrong or revoked token gets the same
//! 404 as an unknown team.

use chrono::{DateTime, Duration, Utc};
use firebell_core::plugin::{PluginError, TeamContext, WebRequest, WebResponse};
use sha2::{Digest, Sha256};

use crate::ical::{FeedEvent, render};
use crate::rota::{FEED_TOKENS, FeedToken, Rota};
use crate::schedule::{Shift, Source};

/// How far ahead a feed shows shifts.
pub(crate) const AHEAD: Duration = Duration::days(90);

/// How far back a feed still shows shifts.
const BEHIND: Duration = Duration::days(7);

/// A new secret token: 20 random bytes from the operating system, in hex.
pub(crate) fn new_token() -> Result<String, PluginError> {
    let mut bytes = [0u8; 20];
    getrandom::fill(&mut bytes)
        .map_err(|err| PluginError::Retry { reason: format!("no randomness for a token: {err}"), after: None })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The hash a token is kept and looked up by.
pub(crate) fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// The feed links of `token`, for `person` of the team `team_id`.
pub(crate) fn links(web_url: &str, team_id: &str, person: &str, token: &str) -> (String, String) {
    (
        format!("{web_url}/oncall/{team_id}.ics?token={token}"),
        format!("{web_url}/oncall/{team_id}/{}.ics?token={token}", person.to_lowercase()),
    )
}

/// Answers a feed request: the team's or one person's shifts, for a valid token.
pub(crate) async fn serve(ctx: &TeamContext<'_>, request: &WebRequest) -> Result<WebResponse, PluginError> {
    let person = match request.rest.as_str() {
        ".ics" => None,
        rest => match rest.strip_prefix('/').and_then(|rest| rest.strip_suffix(".ics")) {
            Some(name) => match ctx.team.member_named(name) {
                Some(member) => Some(member.name.clone()),
                None => return Ok(WebResponse::not_found()),
            },
            None => return Ok(WebResponse::not_found()),
        },
    };
    let Some(token) = request.query("token").filter(|token| (16..=128).contains(&token.len())) else {
        return Ok(WebResponse::not_found());
    };
    let Some(owner) = ctx.state.find_one(&FEED_TOKENS, &hash(token)).await? else {
        return Ok(WebResponse::not_found());
    };
    if ctx.team.member_named(&owner.person).is_none() {
        return Ok(WebResponse::not_found());
    }
    let shifts = match Rota::read(&ctx.state, ctx.team).await? {
        Some(rota) => feed_shifts(&rota, ctx.now),
        None => Vec::new(),
    };
    let events: Vec<FeedEvent> = shifts
        .iter()
        .filter(|shift| person.as_ref().is_none_or(|name| name.eq_ignore_ascii_case(&shift.person)))
        .map(|shift| event(ctx.team.id.as_str(), &ctx.team.name, shift))
        .collect();
    let name = match &person {
        Some(name) => format!("{name}: on call for {}", ctx.team.name),
        None => format!("{} on call", ctx.team.name),
    };
    Ok(WebResponse::ok("text/calendar; charset=utf-8", render(&name, &events, ctx.now))
        .header("Cache-Control", "private, max-age=300"))
}

/// The shifts a feed shows, from a week ago to 90 days ahead, each with its true start (a shift
/// cut by the start of the computed window would change its start, and so its UID, each time).
fn feed_shifts(rota: &Rota, now: DateTime<Utc>) -> Vec<Shift> {
    let from = now - BEHIND - Duration::days(30);
    rota.schedule
        .shifts(&rota.overrides(), from, now + AHEAD)
        .into_iter()
        .filter(|shift| shift.start > from && shift.end > now - BEHIND)
        .collect()
}

/// One shift as a calendar event, with a UID that stays the same while the shift does.
fn event(team_id: &str, team_name: &str, shift: &Shift) -> FeedEvent {
    let from = match &shift.source {
        Source::Layer(layer) => format!("layer {layer}"),
        Source::Override => "override".to_owned(),
    };
    FeedEvent {
        uid: format!("{team_id}-{}-{}@firebell", shift.person.to_lowercase(), shift.start.timestamp()),
        summary: format!("On call: {} ({team_name})", shift.person),
        description: format!("{} is on call for {team_name} ({from}).", shift.person),
        start: shift.start,
        end: shift.end,
    }
}

/// A feed token record for `person`.
pub(crate) fn record(person: &str, token: &str, now: DateTime<Utc>) -> FeedToken {
    FeedToken { person: person.to_owned(), hash: hash(token), made: now }
}
