//! The incident workflow of the WMCS incident response process, as a Firebell plugin.
//!
//! Anyone may declare an incident; the declarer becomes incident coordinator (IC) when they are
//! on the team. The IC keeps the living status doc (`!incident update`, `doing`, `task`, `note`,
//! `followup`), hands the role over only when the other side accepts, and resolves the incident,
//! which produces the report draft. User-facing incidents show on the public rooms' topic;
//! security incidents never show in public.

mod commands;
mod format;
mod held;
mod report;
mod rooms;
mod target;
mod timers;

use firebell_core::async_trait;
use firebell_core::command::{CommandSpec, Param, Permission};
use firebell_core::job::Job;
use std::time::Duration;

use firebell_core::plugin::{
    Context, Event, Invocation, Outcome, Plugin, PluginError, SettingKind, SettingSpec, TeamContext,
};
use firebell_core::settings::{DAY, MINUTE};

pub use report::render_report;

/// The incident plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct IncidentPlugin;

const fn command(
    word: &'static str,
    sub: Option<&'static str>,
    params: &'static [Param],
    summary: &'static str,
    permission: Permission,
) -> CommandSpec {
    CommandSpec { word, sub, params, summary, permission }
}

static COMMANDS: &[CommandSpec] = &[
    command(
        "incident",
        Some("declare"),
        &[
            Param::text("title").required(),
            Param::flag("user-facing"),
            Param::flag("security"),
            Param::option("sev", "N"),
        ],
        "Declares an incident; you become IC if you are on the team and there is none.",
        Permission::TeamRooms,
    ),
    command(
        "incident",
        Some("confirm"),
        &[Param::word("declaration")],
        "Declares an incident someone off the roster asked for (D3).",
        Permission::TeamMembers,
    ),
    command(
        "incident",
        Some("reject"),
        &[Param::word("declaration"), Param::text("reason")],
        "Turns down an incident someone off the roster asked for (D3).",
        Permission::TeamMembers,
    ),
    command(
        "ic",
        None,
        &[Param::incident()],
        "Makes you the IC if there is none; else says who is.",
        Permission::TeamMembers,
    ),
    command(
        "ic",
        Some("handoff"),
        &[Param::incident(), Param::user("user").required()],
        "Offers the IC role to someone; you stay IC until they accept.",
        Permission::IncidentCoordinator,
    ),
    command("ic", Some("accept"), &[Param::incident()], "Accepts the IC role offered to you.", Permission::TeamMembers),
    command(
        "ic",
        Some("decline"),
        &[Param::incident()],
        "Declines the IC role offered to you.",
        Permission::TeamMembers,
    ),
    command(
        "incident",
        Some("update"),
        &[Param::incident(), Param::text("text").required()],
        "Writes the current status in the status doc.",
        Permission::TeamMembers,
    ),
    command(
        "incident",
        Some("snooze"),
        &[Param::incident(), Param::duration("for").required()],
        "Postpones the status reminders, e.g. for 1h.",
        Permission::IncidentCoordinator,
    ),
    command(
        "incident",
        Some("doing"),
        &[Param::incident(), Param::text("text").required()],
        "Tells everyone what you are working on.",
        Permission::TeamMembers,
    ),
    command(
        "incident",
        Some("task"),
        &[Param::incident(), Param::text("text").required(), Param::user("user")],
        "Adds a task, assigned to someone if you mention them.",
        Permission::TeamMembers,
    ),
    command(
        "incident",
        Some("done"),
        &[Param::incident(), Param::number("task").required()],
        "Marks a task done.",
        Permission::TeamMembers,
    ),
    command(
        "incident",
        Some("note"),
        &[Param::incident(), Param::text("text").required()],
        "Adds a note to the timeline.",
        Permission::TeamRooms,
    ),
    command(
        "incident",
        Some("followup"),
        &[Param::incident(), Param::text("text").required(), Param::ticket("ticket")],
        "Records work to do after the incident, with its ticket.",
        Permission::TeamMembers,
    ),
    command("incident", Some("show"), &[Param::incident()], "Shows the status doc.", Permission::TeamRooms),
    command("incident", Some("list"), &[], "Lists open and recently resolved incidents.", Permission::TeamRooms),
    command(
        "incident",
        Some("resolve"),
        &[Param::incident(), Param::text("summary")],
        "Resolves the incident and drafts its report.",
        Permission::IncidentCoordinator,
    ),
    command(
        "incident",
        Some("report"),
        &[Param::incident()],
        "Drafts the incident report in markdown.",
        Permission::TeamRooms,
    ),
];

const fn duration(
    key: &'static str,
    default: &'static str,
    bounds: (Duration, Duration),
    description: &'static str,
) -> SettingSpec {
    SettingSpec { key, kind: SettingKind::duration(bounds.0, bounds.1), default, description }
}

const SECOND: Duration = Duration::from_secs(1);

static SETTINGS: &[SettingSpec] = &[
    duration("handoff_offer_ttl", "10m", (SECOND, DAY), "How long an IC handoff offer waits to be accepted."),
    duration(
        "reminder_interval",
        "30m",
        (SECOND, DAY),
        "How often the IC is reminded to update the status doc and the announcement list.",
    ),
    duration(
        "followup_after",
        "3h",
        (SECOND, Duration::from_secs(7 * 86_400)),
        "How long unresolved before the IC is reminded to send a follow-up.",
    ),
    duration(
        "handoff_after",
        "4h",
        (SECOND, Duration::from_secs(7 * 86_400)),
        "How long as IC before a handoff is suggested.",
    ),
    duration(
        "snooze_max",
        "24h",
        (MINUTE, Duration::from_secs(7 * 86_400)),
        "The longest the IC may snooze reminders.",
    ),
    SettingSpec {
        key: "incident_rooms",
        kind: SettingKind::Bool,
        default: "false",
        description: "Whether each declared incident gets its own room, with the declarer and the IC invited.",
    },
];

#[async_trait]
impl Plugin for IncidentPlugin {
    fn name(&self) -> &'static str {
        "incident"
    }

    fn description(&self) -> &'static str {
        "Declare incidents, coordinate them, keep the status doc, resolve and report."
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn settings(&self) -> &'static [SettingSpec] {
        SETTINGS
    }

    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let team = ctx.require_team()?;
        let args = &command.args;
        match command.name().as_str() {
            "incident declare" => commands::declare(ctx, team, args).await,
            "incident confirm" => held::confirm(ctx, team, args).await,
            "incident reject" => held::reject(ctx, args),
            "ic" => commands::claim_or_show_ic(ctx, args).await,
            "ic handoff" => commands::offer_handoff(ctx, args).await,
            "ic accept" => commands::accept_handoff(ctx, args).await,
            "ic decline" => commands::decline_handoff(ctx, args).await,
            "incident update" => commands::update(ctx, args).await,
            "incident snooze" => commands::snooze(ctx, args).await,
            "incident doing" => commands::doing(ctx, args).await,
            "incident task" => commands::task(ctx, args).await,
            "incident done" => commands::done(ctx, args).await,
            "incident note" => commands::note(ctx, args).await,
            "incident followup" => commands::followup(ctx, args).await,
            "incident show" => commands::show(ctx, args).await,
            "incident list" => commands::list(ctx, team).await,
            "incident resolve" => commands::resolve(ctx, team, args).await,
            "incident report" => commands::report(ctx, args).await,
            other => Err(PluginError::Refused(format!("the incident plugin has no command {other}"))),
        }
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        if let Some(number) = job.id.strip_prefix("held:").and_then(|n| n.parse().ok()) {
            return Ok(held::lapse(ctx, number));
        }
        timers::run(ctx, job)
    }

    async fn on_event(&self, ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
        match event.kind.as_str() {
            "room-created" => rooms::created(ctx, event),
            other => Err(PluginError::Refused(format!("the incident plugin takes no {other} events"))),
        }
    }
}
