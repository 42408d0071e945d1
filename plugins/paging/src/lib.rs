//! Paging, as in the WMCS process: a firing Prometheus Alertmanager alert with the paging
//! severity opens a page in the team's admin room, mentioning who is on call. Not acknowledged in
//! 10 minutes, it mentions everyone in the on-call person's timezone; in 30 minutes, everyone on
//! the team. `!ack` acknowledges it ("alice paged: …") and silences the alert in Alertmanager;
//! `!page falsealarm` closes it and notes to adjust monitoring; a resolved alert resolves it.
//! `!page @user` and `!page team <team>` bring in more responders.
//!
//! [`alertmanager`] holds the webhook receiver (an HTTP endpoint for Alertmanager's version 4
//! payload) and the silence client.

pub mod alertmanager;
pub mod calls;
mod commands;
mod escalation;
mod page;
mod results;

use firebell_core::async_trait;
use firebell_core::command::{CommandSpec, Param, Permission};
use firebell_core::ids::Person;
use firebell_core::job::Job;
use firebell_core::plugin::{
    Context, Event, Invocation, Outcome, Plugin, PluginError, SettingKind, SettingSpec, Settings, TeamContext,
};
use firebell_core::team::Team;

pub use page::{Alert, AlertStatus, Page, PageState};

use std::time::Duration;

use firebell_core::settings::{DAY, HOUR, MINUTE};

/// The plugin's name.
pub(crate) const PLUGIN: &str = "paging";

/// The name of the silence service (see [`alertmanager::Silences`]).
pub const SILENCE_SERVICE: &str = "alertmanager";

/// The paging plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct PagingPlugin {
    silences: bool,
}

impl PagingPlugin {
    /// A paging plugin; with `silences`, `!ack` also silences the alert in Alertmanager (the
    /// bot must have the [`alertmanager::Silences`] service).
    pub fn new(silences: bool) -> Self {
        Self { silences }
    }
}

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
        "ack",
        None,
        &[Param::word("page")],
        "Acknowledges a page: the one firing, or the one named (P12).",
        Permission::TeamMembers,
    ),
    command(
        "page",
        None,
        &[Param::user("user").required(), Param::text("text")],
        "Brings someone in: mentions them here and messages them.",
        Permission::TeamMembers,
    ),
    command(
        "page",
        Some("team"),
        &[Param::word("team").required(), Param::text("text")],
        "Escalates to another team: posts in its admin rooms, mentioning who is on call.",
        Permission::TeamMembers,
    ),
    command(
        "page",
        Some("falsealarm"),
        &[Param::word("page")],
        "Closes a page as a false alarm and notes to adjust monitoring.",
        Permission::TeamMembers,
    ),
    command("page", Some("list"), &[], "Lists the open pages.", Permission::TeamRooms),
];

static SETTINGS: &[SettingSpec] = &[
    SettingSpec {
        key: "page_severity",
        kind: SettingKind::Word { max_chars: 64 },
        default: "page",
        description: "The alert severity label value that pages; other alerts are ignored.",
    },
    SettingSpec {
        key: "oncall",
        kind: SettingKind::Member,
        default: "",
        description: "The roster name of who is on call; empty for the first roster member.",
    },
    SettingSpec {
        key: "escalate_timezone_after",
        kind: SettingKind::duration(SECOND, DAY),
        default: "10m",
        description: "How long a page waits before everyone in the on-call person's timezone is paged.",
    },
    SettingSpec {
        key: "escalate_all_after",
        kind: SettingKind::duration(SECOND, DAY),
        default: "30m",
        description: "How long a page waits before everyone on the team is paged.",
    },
    SettingSpec {
        key: "check_every",
        kind: SettingKind::duration(SECOND, HOUR),
        default: "1m",
        description: "How often an acknowledged page's alert is looked up in Alertmanager, so that the page resolves \
                      when the alert does (the silence hides the resolved notification).",
    },
    SettingSpec {
        key: "watch_resolved_for",
        kind: SettingKind::duration(Duration::ZERO, DAY),
        default: "4h",
        description: "After a silenced page resolves, how long its alert is watched for a new firing, which \
                      Alertmanager reports only after its repeat_interval (4h by default); 0s to not watch.",
    },
    SettingSpec {
        key: "silence_for",
        kind: SettingKind::duration(MINUTE, Duration::from_secs(7 * 86_400)),
        default: "2h",
        description: "How long the Alertmanager silence made by !ack lasts.",
    },
];

const SECOND: Duration = Duration::from_secs(1);

/// Who is on call for `team`: the member named by the `oncall` setting, else the first.
pub(crate) fn oncall(team: &Team, settings: &Settings) -> Option<Person> {
    let named = settings.text("oncall");
    let member = team.member_named(named).or(team.members.first())?;
    let user = member.ids.first()?;
    Some(Person::new(user.clone(), member.name.clone()))
}

#[async_trait]
impl Plugin for PagingPlugin {
    fn name(&self) -> &'static str {
        PLUGIN
    }

    fn description(&self) -> &'static str {
        "Pages from Alertmanager, acknowledgement, escalation by timezone, false alarms."
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
            "ack" => commands::ack(ctx, args.text("page"), self.silences),
            "page" => Ok(commands::page_someone(ctx, args.user("user"), args.text("text"))),
            "page team" => {
                commands::page_team(ctx, team, args.text("team").unwrap_or_default(), args.text("text")).await
            }
            "page falsealarm" => commands::false_alarm(ctx, args.text("page")),
            "page list" => Ok(commands::list(ctx, team)),
            other => Err(PluginError::Refused(format!("the paging plugin has no command {other}"))),
        }
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        escalation::run(ctx, job)
    }

    async fn on_event(&self, ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
        match event.kind.as_str() {
            "alert" => {
                let alert: Alert = serde_json::from_str(&event.data)
                    .map_err(|err| PluginError::Refused(format!("unreadable alert event: {err}")))?;
                escalation::on_alert(ctx, alert).await
            }
            "call-result" => results::on_result(ctx, event).await,
            other => Err(PluginError::Refused(format!("the paging plugin takes no {other} events"))),
        }
    }
}
