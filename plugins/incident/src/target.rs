//! Which incident a command is about.
//!
//! A command may name its incident (`WMCS-3`). When it does not, it is about the one open
//! incident of the room's team; with several open, the sender is asked to name one. Security
//! incidents do not exist as far as a public room is concerned.

use firebell_core::plugin::{Context, PluginError};

use crate::model::{Incident, incident_key};
use crate::records::{self, open_incidents};

fn refused(text: String) -> PluginError {
    PluginError::Refused(text)
}

fn no_such(ctx: &Context<'_>, number: u64) -> PluginError {
    let key = ctx.team().map_or(number.to_string(), |team| incident_key(&team.id, number));
    refused(format!("there is no incident {key}"))
}

fn several(ctx: &Context<'_>, command: &str, open: &[&Incident]) -> PluginError {
    let keys: Vec<String> = open.iter().map(|i| i.key()).collect();
    let example = keys.last().cloned().unwrap_or_default();
    refused(format!(
        "there are several open incidents ({}); name one, e.g. {}{command} {example} …",
        keys.join(", "),
        ctx.prefix
    ))
}

/// Loads incident `number` if this room may see it.
async fn visible(ctx: &Context<'_>, number: u64) -> Result<Incident, PluginError> {
    match records::incident(&ctx.state, number).await? {
        Some(incident) if incident.is_public() || !ctx.is_public_room() => Ok(incident),
        _ => Err(no_such(ctx, number)),
    }
}

/// The incident named, else the one whose room this is.
fn chosen(ctx: &Context<'_>, named: Option<u64>) -> Option<u64> {
    named.or_else(|| ctx.room_subject()?.parse().ok())
}

/// The open incidents this room may see.
async fn visible_open(ctx: &Context<'_>) -> Result<Vec<Incident>, PluginError> {
    let public = ctx.is_public_room();
    Ok(open_incidents(&ctx.state).await?.into_iter().filter(|incident| !public || incident.is_public()).collect())
}

/// The open incident the command is about. A named incident is read alone, so that commands
/// about two incidents never depend on each other.
pub(crate) async fn open_target(ctx: &Context<'_>, named: Option<u64>, command: &str) -> Result<Incident, PluginError> {
    if let Some(number) = chosen(ctx, named) {
        let incident = visible(ctx, number).await?;
        if !incident.is_open() {
            return Err(refused(format!("{} is already resolved", incident.key())));
        }
        return Ok(incident);
    }
    let visible = visible_open(ctx).await?;
    let open: Vec<&Incident> = visible.iter().collect();
    match open.as_slice() {
        [only] => Ok((*only).clone()),
        [] => {
            let team = ctx.require_team()?;
            Err(refused(format!(
                "team {} has no open incident; declare one with {}incident declare <title>",
                team.name, ctx.prefix
            )))
        }
        _ => Err(several(ctx, command, &open)),
    }
}

/// The incident to show or report on: the one named, else the only open one, else the latest.
pub(crate) async fn any_target(ctx: &Context<'_>, named: Option<u64>, command: &str) -> Result<Incident, PluginError> {
    if let Some(number) = chosen(ctx, named) {
        return visible(ctx, number).await;
    }
    let visible = visible_open(ctx).await?;
    let open: Vec<&Incident> = visible.iter().collect();
    match open.as_slice() {
        [only] => Ok((*only).clone()),
        [] => {
            let team = ctx.require_team()?;
            let recent: Vec<Incident> = ctx.state.recent(20).await?;
            let latest = recent.into_iter().find(|i| i.is_public() || !ctx.is_public_room());
            latest.ok_or_else(|| refused(format!("team {} has no incidents yet", team.name)))
        }
        _ => Err(several(ctx, command, &open)),
    }
}
