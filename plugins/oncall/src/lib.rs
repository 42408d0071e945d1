//! On-call schedules: layered rotations with a wall-clock handoff that stays put across DST,
//! follow-the-sun restrictions, overrides and swaps in chat, shift notices, gap warnings,
//! calendar feeds, and imports of PagerDuty or Grafana OnCall exports.
//!
//! - [`schedule`] computes the final schedule, a pure function of the layers and overrides.
//! - [`rota`](crate) keeps the schedule set in chat (else the one in `[teams.config.oncall]`),
//!   the overrides, swap requests, the notices' progress and the feed tokens.
//! - [`coverage`] tells other plugins (paging) who is on call at an instant.
//!
//! Without a schedule, `!oncall` shows who on the roster is inside working hours, by each
//! person's own timezone.

mod chat;
mod feed;
pub mod ical;
pub mod import;
mod notices;
#[cfg(test)]
mod properties;
mod rota;
pub mod schedule;
mod when;
mod working_hours;

use chrono::{DateTime, Utc};
use firebell_core::async_trait;
use firebell_core::declare::{Choice, Command, Commands, PluginInfo, Settings};
use firebell_core::ids::Person;
use firebell_core::job::Job;
use firebell_core::plugin::{
    Context, Event, Invocation, Outcome, Plugin, PluginError, STARTED, TeamContext, WebRequest, WebResponse,
};
use firebell_core::state::State;
use firebell_core::store::StoreError;
use firebell_core::team::Team;

use std::time::Duration;

/// The plugin's name, and its namespace.
pub const PLUGIN: &str = "oncall";

/// On-call schedules: rotations, overrides and swaps, shift notices, calendar feeds.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(
    name = "oncall",
    commands = OncallCommand,
    settings = OncallSettings,
    records = [rota::StoredSchedule, rota::OverrideRecord, rota::SwapRecord, rota::Progress, rota::FeedToken]
)]
pub struct OncallPlugin;

/// Shows who is on call now and next, in your local time.
#[derive(Command)]
#[command(word = "oncall", permission = TeamRooms)]
struct Now;

/// Shows the shifts to come, 7 days unless told (at most 90).
#[derive(Command)]
#[command(word = "oncall", sub = "schedule", permission = TeamRooms)]
struct ShowSchedule {
    /// How far ahead, like 14d.
    #[arg(duration)]
    span: Option<Duration>,
}

/// Shows the times nobody is on call, 14 days unless told (at most 90).
#[derive(Command)]
#[command(word = "oncall", sub = "gaps", permission = TeamRooms)]
struct Gaps {
    /// How far ahead, like 30d.
    #[arg(duration)]
    span: Option<Duration>,
}

/// Puts someone on call over the schedule: for 2h, until 18:00, or from <time> until <time>.
#[derive(Command)]
#[command(word = "oncall", sub = "override", permission = TeamMembers)]
struct Override {
    /// Who covers.
    user: Person,
    /// How long: 2h, until 18:00, until tomorrow 09:00, from 2026-12-24 09:00 until 2026-12-26 09:00.
    #[arg(text)]
    when: String,
}

/// Lists the overrides now and to come.
#[derive(Command)]
#[command(word = "oncall", sub = "overrides", permission = TeamRooms)]
struct Overrides;

/// Removes an override (O3): its maker, its person, or a team admin.
#[derive(Command)]
#[command(word = "oncall", sub = "unoverride", permission = TeamMembers)]
struct Unoverride {
    /// The override, like O3.
    #[arg(word)]
    id: String,
}

/// Offers one of your shifts (now, next, or the one on a date like 2026-12-24) to someone, who accepts it.
#[derive(Command)]
#[command(word = "oncall", sub = "swap", permission = TeamMembers)]
struct Swap {
    /// Which shift: now, next, or a date like 2026-12-24.
    #[arg(word)]
    shift: String,
    /// Who takes it.
    user: Person,
}

/// Accepts a shift offered to you (S2, or the only one).
#[derive(Command)]
#[command(word = "oncall", sub = "accept", permission = TeamMembers)]
struct Accept {
    /// The swap, like S2.
    #[arg(word)]
    id: Option<String>,
}

/// Turns down a shift offered to you (S2, or the only one).
#[derive(Command)]
#[command(word = "oncall", sub = "decline", permission = TeamMembers)]
struct Decline {
    /// The swap, like S2.
    #[arg(word)]
    id: Option<String>,
}

/// Sets a rotation layer: name, rotation (daily, weekly, 3d, 12h), handoff time, people in order.
#[derive(Command)]
#[command(word = "oncall", sub = "layer", permission = TeamAdmins)]
struct SetLayer {
    /// The layer's name, one word; a later layer wins where both cover.
    #[arg(word)]
    name: String,
    /// daily, weekly, 3d, 12h…
    #[arg(word)]
    rotation: String,
    /// The handoff time in the schedule's timezone, like 09:00.
    #[arg(word)]
    handoff: String,
    /// The people in turn, by roster name, comma-separated: alice,bob,carol.
    #[arg(word)]
    people: String,
    /// The date the first person's turn starts (default: today).
    #[arg(option = "DATE")]
    from: Option<String>,
    /// When the layer covers, like "weekdays 08:00-17:00" (several: separated by ;).
    #[arg(option = "WINDOWS")]
    only: Option<String>,
}

/// Removes a rotation layer.
#[derive(Command)]
#[command(word = "oncall", sub = "unlayer", permission = TeamAdmins)]
struct Unlayer {
    /// The layer's name.
    #[arg(word)]
    name: String,
}

/// Lists the schedule's layers and its timezone.
#[derive(Command)]
#[command(word = "oncall", sub = "layers", permission = TeamRooms)]
struct Layers;

/// Sets the schedule's timezone (handoffs and windows keep their wall-clock times).
#[derive(Command)]
#[command(word = "oncall", sub = "timezone", permission = TeamAdmins)]
struct SetTimezone {
    /// An IANA timezone, like Europe/Madrid.
    #[arg(word)]
    timezone: String,
}

/// Turns a PagerDuty or Grafana OnCall calendar export (its iCal URL, or the file uploaded with this command) into overrides.
#[derive(Command)]
#[command(word = "oncall", sub = "import", permission = TeamAdmins)]
struct Import {
    /// The export's https:// or webcal:// URL; without it, the .ics file uploaded with the command as its caption.
    #[arg(word)]
    url: Option<String>,
    /// How the export names people who are on the roster under another name: "Alice Smith=alice; Bob=bob".
    #[arg(option = "NAMES")]
    names: Option<String>,
}

/// What to do with your calendar link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Choice)]
enum IcalAction {
    /// Make a new link (the old one stops working).
    New,
    /// End your link.
    Revoke,
}

/// Sends you your on-call calendar links in a direct message.
#[derive(Command)]
#[command(word = "oncall", sub = "ical", permission = TeamMembers)]
struct Ical {
    /// new, or revoke.
    #[arg(choice)]
    action: Option<IcalAction>,
}

#[derive(Commands)]
enum OncallCommand {
    Now(Now),
    ShowSchedule(ShowSchedule),
    Gaps(Gaps),
    Override(Override),
    Overrides(Overrides),
    Unoverride(Unoverride),
    Swap(Swap),
    Accept(Accept),
    Decline(Decline),
    SetLayer(SetLayer),
    Unlayer(Unlayer),
    Layers(Layers),
    SetTimezone(SetTimezone),
    Import(Import),
    Ical(Ical),
}

/// A team's on-call notices and, without a schedule, its working hours.
#[derive(Settings)]
struct OncallSettings {
    /// Whether people get a direct message when their shift starts, and the outgoing person is told who takes over.
    #[setting(default = true)]
    shift_notices: bool,
    /// How long before a shift its person is reminded by direct message; 0s for never.
    #[setting(default = "1day", min = "0s", max = "7days")]
    remind_before: Duration,
    /// How far ahead the team admins are warned that nobody will be on call; 0s for never.
    #[setting(default = "48h", min = "0s", max = "14days")]
    warn_gaps_within: Duration,
    /// Without a schedule: the local hour (0-23) a working day starts.
    #[setting(default = 9, min = 0, max = 23)]
    workday_start: u32,
    /// Without a schedule: the local hour (1-24) a working day ends.
    #[setting(default = 17, min = 1, max = 24)]
    workday_end: u32,
    /// Without a schedule: whether Saturdays and Sundays are working days.
    #[setting(default = false)]
    weekends: bool,
}

impl OncallSettings {
    fn timing(&self) -> notices::Timing {
        let duration = |d: Duration| chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero());
        notices::Timing {
            shifts: self.shift_notices,
            remind_before: if self.shift_notices { duration(self.remind_before) } else { chrono::Duration::zero() },
            warn_within: duration(self.warn_gaps_within),
        }
    }
}

/// Who is on call for a team at an instant, by its schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The team has no schedule (nor override): someone else decides (paging's `oncall`).
    NoSchedule,
    /// The schedule has nobody now; `next` comes on at that time, if anyone within 90 days.
    Nobody {
        /// The next person on call (roster name) and when they start.
        next: Option<(String, DateTime<Utc>)>,
    },
    /// This roster member is on call until `until`.
    Person {
        /// Their roster name.
        name: String,
        /// When their shift ends.
        until: DateTime<Utc>,
    },
}

/// Who is on call for `team` at `at`, reading the oncall plugin's state (`state` is the oncall
/// namespace: `ctx.state_of(firebell_plugin_oncall::PLUGIN)`).
pub async fn coverage(state: &State<'_>, team: &Team, at: DateTime<Utc>) -> Result<Coverage, StoreError> {
    let Some(rota) = rota::Rota::read(state, team).await? else { return Ok(Coverage::NoSchedule) };
    let overrides = rota.overrides();
    if let Some(shift) = rota.schedule.on_call_at(&overrides, at) {
        return Ok(Coverage::Person { name: shift.person, until: shift.end });
    }
    let next = rota.schedule.next_after(&overrides, at, feed::AHEAD).map(|shift| (shift.person, shift.start));
    Ok(Coverage::Nobody { next })
}

#[async_trait]
impl Plugin for OncallPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let team = ctx.require_team()?;
        match command.parse()? {
            OncallCommand::Now(Now) => chat::now(ctx, team).await,
            OncallCommand::ShowSchedule(ShowSchedule { span }) => chat::show_schedule(ctx, team, span).await,
            OncallCommand::Gaps(Gaps { span }) => chat::gaps(ctx, team, span).await,
            OncallCommand::Override(Override { user, when }) => chat::add_override(ctx, team, &user, &when).await,
            OncallCommand::Overrides(Overrides) => chat::list_overrides(ctx, team).await,
            OncallCommand::Unoverride(Unoverride { id }) => chat::remove_override(ctx, team, &id).await,
            OncallCommand::Swap(Swap { shift, user }) => chat::swap(ctx, team, &shift, &user).await,
            OncallCommand::Accept(Accept { id }) => chat::answer_swap(ctx, team, id.as_deref(), true).await,
            OncallCommand::Decline(Decline { id }) => chat::answer_swap(ctx, team, id.as_deref(), false).await,
            OncallCommand::SetLayer(layer) => chat::set_layer(ctx, team, layer).await,
            OncallCommand::Unlayer(Unlayer { name }) => chat::remove_layer(ctx, team, &name).await,
            OncallCommand::Layers(Layers) => chat::layers(ctx, team).await,
            OncallCommand::SetTimezone(SetTimezone { timezone }) => chat::set_timezone(ctx, team, &timezone).await,
            OncallCommand::Import(Import { url, names }) => import::start(ctx, url.as_deref(), names.as_deref()),
            OncallCommand::Ical(Ical { action }) => chat::ical(ctx, team, action).await,
        }
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        match job.data::<notices::Notify>()? {
            Some(notices::Notify) => notices::run(ctx, ctx.settings.read::<OncallSettings>().timing()).await,
            None => Err(PluginError::Refused(format!("unknown oncall job {:?}", job.id))),
        }
    }

    async fn on_event(&self, ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
        match event.kind.as_str() {
            // Notices follow the configured schedule from the start, with nobody typing.
            STARTED if rota::Rota::read(&ctx.state, ctx.team).await?.is_some() => {
                Ok(Outcome::default().write(ctx.schedule(rota::TEAM, ctx.now, &notices::Notify)))
            }
            STARTED => Ok(Outcome::default()),
            "call-result" => import::finish(ctx, event).await,
            other => Err(PluginError::Refused(format!("the oncall plugin takes no {other} events"))),
        }
    }

    fn hears_start(&self) -> bool {
        true
    }

    fn check_config(&self, team: &Team, config: &serde_json::Value) -> Result<(), String> {
        let parsed: Option<rota::ScheduleConfig> = team.config_of(PLUGIN)?;
        let _ = config;
        parsed.map_or(Ok(()), |parsed| parsed.schedule(team).map(drop))
    }

    fn web_paths(&self) -> &'static [&'static str] {
        &["/oncall/"]
    }

    async fn serve(&self, ctx: &TeamContext<'_>, request: &WebRequest) -> Result<WebResponse, PluginError> {
        feed::serve(ctx, request).await
    }
}
