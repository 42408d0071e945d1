//! Declarations by people who are not on the team's roster are held until a team member
//! confirms them (`!incident confirm D3`) or rejects them, so that no visitor can put text on
//! the public topic or fill the admin rooms with reminders. A visitor may have a few waiting at
//! once and make a few an hour; a held declaration lapses after a day.

use chrono::{DateTime, Utc};
use firebell_core::clock::after;
use firebell_core::ids::{Person, RoomRef};
use firebell_core::job::{Job, JobData};
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Outcome, PluginError, TeamContext};
use firebell_core::settings::DAY;
use firebell_core::state::{Change, Index, Record, State};
use firebell_core::team::Team;
use serde::{Deserialize, Serialize};

use crate::commands::declare_draft;
use crate::declared::{Confirm, Reject};
use crate::model::{EntryKind, TimelineEntry};

/// The index of declarations still waiting.
/// Held declarations waiting for a member, under one empty key.
const WAITING: Index<Held, str> = Index::new("waiting");
/// The sequence their numbers come from.
const SEQUENCE: &str = "held";
/// The most declarations one visitor may have waiting at once.
const MOST_WAITING: usize = 3;
/// The most declarations one visitor may make in an hour.
const MOST_PER_HOUR: usize = 5;

/// What an incident declaration says, before it is declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Draft {
    pub(crate) title: String,
    pub(crate) severity: Option<u8>,
    pub(crate) user_facing: bool,
    pub(crate) security: bool,
    pub(crate) by: Person,
    pub(crate) room: RoomRef,
    pub(crate) thread: Option<String>,
}

/// A declaration waiting for a team member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Held {
    number: u64,
    draft: Draft,
    at: DateTime<Utc>,
    #[serde(default)]
    closed: bool,
}

impl Record for Held {
    const KIND: &'static str = "held";

    fn id(&self) -> String {
        self.number.to_string()
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        if self.closed { Vec::new() } else { vec![WAITING.entry("")] }
    }
}

/// The declarations waiting, by number.
async fn waiting(state: &State<'_>) -> Result<Vec<Held>, PluginError> {
    let mut waiting: Vec<Held> = state.find_by(&WAITING, "").await?;
    waiting.sort_by_key(|held| held.number);
    Ok(waiting)
}

impl Held {
    fn key(&self) -> String {
        format!("D{}", self.number)
    }

    fn close(mut self, state: &State<'_>) -> Change {
        self.closed = true;
        state.put(&self)
    }

    fn expiry_job(&self, state: &State<'_>, now: DateTime<Utc>) -> Change {
        state.schedule(&self.key(), after(now, DAY), &Lapse)
    }

    fn cancel_expiry(&self, state: &State<'_>) -> Change {
        state.cancel::<Lapse>(&self.key())
    }
}

/// The job that lapses a held declaration nobody confirmed in a day: `incident:D3:lapse`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Lapse;

impl JobData for Lapse {
    const KIND: &'static str = "lapse";
}

/// The number of the held declaration a lapse job is about, also for a job scheduled by an
/// earlier version (`held:3`).
pub(crate) fn lapsing(job: &Job) -> Option<u64> {
    if job.is::<Lapse>() {
        return job.about().strip_prefix('D')?.parse().ok();
    }
    job.id.strip_prefix("held:")?.parse().ok()
}

fn refused(text: String) -> PluginError {
    PluginError::Refused(text)
}

fn traits(draft: &Draft) -> String {
    let mut traits = Vec::new();
    if draft.user_facing {
        traits.push("user-facing");
    }
    if draft.security {
        traits.push("security");
    }
    if traits.is_empty() { String::new() } else { format!(" ({})", traits.join(", ")) }
}

/// A visitor's declaration: kept, the team asked to confirm it, the visitor told.
pub(crate) async fn hold(ctx: &Context<'_>, team: &Team, draft: Draft) -> Result<Outcome, PluginError> {
    let theirs = |held: &Held| held.draft.by.user == draft.by.user;
    let waiting = waiting(&ctx.state).await?.iter().filter(|held| theirs(held)).count();
    if waiting >= MOST_WAITING {
        return Err(refused(format!(
            "you have {waiting} declarations waiting for a member of team {} already; they will look at them",
            team.name
        )));
    }
    let hour_ago = ctx.now - chrono::Duration::hours(1);
    let recent: Vec<Held> = ctx.state.recent(50).await?;
    let lately = recent.iter().filter(|h| theirs(h) && h.at > hour_ago).count();
    if lately >= MOST_PER_HOUR {
        return Err(refused(format!(
            "you made {lately} declarations in the last hour; ask team {} directly",
            team.name
        )));
    }
    let number = ctx.state.next_number(SEQUENCE, ctx.cause).await?;
    let held = Held { number, draft, at: ctx.now, closed: false };
    let key = held.key();
    let asked = Message::text(format!(
        "{} asks to declare an incident: \"{}\"{}. ",
        held.draft.by,
        held.draft.title,
        traits(&held.draft)
    ))
    .and(format!(
        "A team member confirms with {p}incident confirm {key} or rejects with {p}incident reject {key}.",
        p = ctx.prefix
    ));
    let told = format!(
        "Your declaration {key} \"{}\" waits for a member of team {} to confirm it; they have been asked.",
        held.draft.title, team.name
    );
    let mut outcome = Outcome::act(ctx.reply(Message::text(told)));
    outcome.actions.extend(team.admin_rooms.iter().map(|room| Action::Send {
        room: room.clone(),
        message: asked.clone(),
        thread: None,
    }));
    let expiry = held.expiry_job(&ctx.state, ctx.now);
    Ok(outcome.write(ctx.state.put(&held)).write(expiry))
}

/// The held declaration a command names (`D3`), else the only one waiting.
async fn target(ctx: &Context<'_>, named: Option<&str>, command: &str) -> Result<Held, PluginError> {
    let waiting = waiting(&ctx.state).await?;
    if let Some(named) = named {
        let number = named.strip_prefix(['D', 'd']).and_then(|n| n.parse::<u64>().ok()).ok_or_else(|| {
            PluginError::Usage(format!(
                "expected a held declaration like D3, got {:?}",
                firebell_core::command::shown(named)
            ))
        })?;
        return waiting
            .into_iter()
            .find(|h| h.number == number)
            .ok_or_else(|| refused(format!("no declaration D{number} is waiting")));
    }
    match waiting.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(refused("no declaration is waiting for confirmation".into())),
        many => {
            let keys: Vec<String> = many.iter().map(Held::key).collect();
            Err(refused(format!(
                "several declarations are waiting ({}); name one, e.g. {}{command} {}",
                keys.join(", "),
                ctx.prefix,
                keys.last().cloned().unwrap_or_default()
            )))
        }
    }
}

/// `!incident confirm [D3]`: a member declares a visitor's incident.
pub(crate) async fn confirm(ctx: &Context<'_>, team: &Team, args: Confirm) -> Result<Outcome, PluginError> {
    let held = target(ctx, args.declaration.as_deref(), "incident confirm").await?;
    let text = format!("{} confirmed the declaration by {}", ctx.sender, held.draft.by);
    let entry = TimelineEntry::new(ctx.now, &ctx.sender, EntryKind::Declared, text);
    let mut outcome = declare_draft(ctx, team, held.draft.clone(), vec![entry]).await?;
    if held.draft.room != *ctx.room {
        let told = Message::default().mention(&held.draft.by).and(format!(
            ": your declaration {} was confirmed by {}.",
            held.key(),
            ctx.sender
        ));
        outcome.actions.push(Action::Send {
            room: held.draft.room.clone(),
            message: told,
            thread: held.draft.thread.clone(),
        });
    }
    let cancel = held.cancel_expiry(&ctx.state);
    Ok(outcome.write(held.close(&ctx.state)).write(cancel))
}

/// `!incident reject [D3] [reason]`: a member turns a visitor's declaration down.
pub(crate) async fn reject(ctx: &Context<'_>, args: Reject) -> Result<Outcome, PluginError> {
    let held = target(ctx, args.declaration.as_deref(), "incident reject").await?;
    let why = args.reason.map(|reason| format!(": {reason}")).unwrap_or_default();
    let key = held.key();
    let told = Message::default()
        .mention(&held.draft.by)
        .and(format!(": your declaration {key} \"{}\" was not confirmed by {}{why}.", held.draft.title, ctx.sender));
    let reply = Message::text(format!("{key} rejected."));
    let tell = Action::Send { room: held.draft.room.clone(), message: told, thread: held.draft.thread.clone() };
    let cancel = held.cancel_expiry(&ctx.state);
    let held = held.close(&ctx.state);
    Ok(Outcome::act(ctx.reply(reply)).and(tell).write(held).write(cancel))
}

/// A held declaration nobody confirmed in a day lapses.
pub(crate) async fn lapse(ctx: &TeamContext<'_>, number: u64) -> Result<Outcome, PluginError> {
    let held: Option<Held> = ctx.state.get(&number.to_string()).await?;
    let Some(held) = held.filter(|held| !held.closed) else { return Ok(Outcome::default()) };
    tracing::info!(team = %ctx.team.id, declaration = %held.key(), "a held declaration lapsed unconfirmed");
    Ok(Outcome::default().write(held.close(&ctx.state)))
}
