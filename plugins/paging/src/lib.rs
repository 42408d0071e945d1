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
pub mod policy;
pub mod push;
mod results;

use firebell_core::async_trait;
use firebell_core::declare::{Command, Commands, PluginInfo, Settings as DeriveSettings};
use firebell_core::ids::Person;
use firebell_core::job::Job;
use firebell_core::message::Action;
use firebell_core::plugin::{Context, Event, Invocation, Outcome, Plugin, PluginError, Settings, TeamContext};
use firebell_core::team::Team;
use firebell_plugin_oncall::Coverage;

pub use page::{Alert, AlertStatus, Page, PageState, unacknowledged_pages};

use std::time::Duration;

/// The plugin's name.
pub(crate) const PLUGIN: &str = "paging";

/// The name of the silence service (see [`alertmanager::Silences`]).
pub const SILENCE_SERVICE: &str = "alertmanager";

/// Pages from Alertmanager, acknowledgement, escalation by timezone, false alarms.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(name = "paging", commands = PagingCommand, settings = PagingSettings, records = [Page])]
pub struct PagingPlugin {
    silences: bool,
}

impl PagingPlugin {
    /// A paging plugin; with `silences`, `!ack` also silences the alert in Alertmanager (the
    /// bot must have the [`alertmanager::AlertmanagerClient`] service).
    pub fn new(silences: bool) -> Self {
        Self { silences }
    }
}

/// Acknowledges a page: the one firing, or the one named (P12).
#[derive(Command)]
#[command(word = "ack", permission = TeamMembers)]
struct Ack {
    #[arg(word)]
    page: Option<String>,
}

/// Brings someone in: mentions them here and messages them.
#[derive(Command)]
#[command(word = "page", permission = TeamMembers)]
struct PageSomeone {
    #[arg(user)]
    user: Person,
    #[arg(text)]
    text: Option<String>,
}

/// Escalates to another team: posts in its admin rooms, mentioning who is on call.
#[derive(Command)]
#[command(word = "page", sub = "team", permission = TeamMembers)]
struct PageTeam {
    #[arg(word)]
    team: String,
    #[arg(text)]
    text: Option<String>,
}

/// Closes a page as a false alarm and notes to adjust monitoring.
#[derive(Command)]
#[command(word = "page", sub = "falsealarm", permission = TeamMembers)]
struct FalseAlarm {
    #[arg(word)]
    page: Option<String>,
}

/// Lists the open pages.
#[derive(Command)]
#[command(word = "page", sub = "list", permission = TeamRooms)]
struct ListPages {}

#[derive(Commands)]
enum PagingCommand {
    Ack(Ack),
    PageSomeone(PageSomeone),
    PageTeam(PageTeam),
    FalseAlarm(FalseAlarm),
    ListPages(ListPages),
}

/// A team's paging, as its admins set it.
#[derive(DeriveSettings)]
pub(crate) struct PagingSettings {
    /// The alert severity label value that pages; other alerts are ignored.
    #[setting(default = "page", word, max_chars = 64)]
    pub(crate) page_severity: String,
    /// Without an on-call schedule: the roster name of who is on call; empty for the first roster member.
    #[setting(default = "", member)]
    pub(crate) oncall: String,
    /// Who an unacknowledged page reaches next, and when: "10m timezone, 30m everyone" (timezone, everyone, admins, oncall or a roster name); empty for the two steps below.
    #[setting(
        default = "",
        expected = "steps like \"10m timezone, 30m everyone\" (a wait from 1s to 1day, then timezone, everyone, admins, oncall or a roster name; waits growing), or empty"
    )]
    pub(crate) escalation: policy::Policy,
    /// How long a page waits before everyone in the on-call person's timezone is paged (without an escalation policy).
    #[setting(default = "10m", min = "1s", max = "1day")]
    pub(crate) escalate_timezone_after: Duration,
    /// How long a page waits before everyone on the team is paged (without an escalation policy).
    #[setting(default = "30m", min = "1s", max = "1day")]
    pub(crate) escalate_all_after: Duration,
    /// How often an acknowledged page's alert is looked up in Alertmanager, so that the page resolves when the alert does (the silence hides the resolved notification).
    #[setting(default = "1m", min = "1s", max = "1h")]
    pub(crate) check_every: Duration,
    /// After a silenced page resolves, how long its alert is watched for a new firing, which Alertmanager reports only after its repeat_interval (4h by default); 0s to not watch.
    #[setting(default = "4h", min = "0s", max = "1day")]
    pub(crate) watch_resolved_for: Duration,
    /// How long the Alertmanager silence made by !ack lasts.
    #[setting(default = "2h", min = "1m", max = "7days")]
    pub(crate) silence_for: Duration,
}

/// Who is on call for `team` at `at`: whoever the team's on-call schedule names (see
/// `firebell_plugin_oncall`); without a schedule, the member named by the `oncall` setting, else
/// the first. With a schedule that has nobody now, nobody: the page says so and escalates.
pub(crate) async fn oncall(
    state: &firebell_core::state::State<'_>,
    team: &Team,
    settings: &Settings,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<Person>, firebell_core::store::StoreError> {
    let member = match firebell_plugin_oncall::coverage(state, team, at).await? {
        Coverage::Person { name, .. } => team.member_named(&name),
        Coverage::Nobody { .. } => None,
        Coverage::NoSchedule => {
            let named = settings.read::<PagingSettings>().oncall;
            team.member_named(&named).or(team.members.first())
        }
    };
    Ok(member.and_then(|member| Some(Person::new(member.ids.first()?.clone(), member.name.clone()))))
}

/// Reaches `person` directly: a direct message on each of their accounts, and a push where the
/// roster gives them a push URL. Says how, for the page's message.
pub(crate) fn reach(team: &Team, person: &Person, page: u64, title: &str, text: &str) -> (Vec<Action>, String) {
    let Some(member) = team.member(&person.user) else { return (Vec::new(), String::new()) };
    let message = firebell_core::message::Message::text(text.to_owned());
    let mut actions: Vec<Action> =
        member.ids.iter().map(|user| Action::DirectMessage { user: user.clone(), message: message.clone() }).collect();
    let mut transports: Vec<&str> = member.ids.iter().map(|id| id.transport.as_str()).collect();
    transports.dedup();
    let mut how = format!("direct message ({})", transports.join(", "));
    if let Some(push) = push::Push::to(member, page, title.to_owned(), text.to_owned()) {
        how.push_str(&format!(", push ({})", push.host()));
        actions.push(push.call(&team.id));
    }
    (actions, how)
}

#[async_trait]
impl Plugin for PagingPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let team = ctx.require_team()?;
        match command.parse()? {
            PagingCommand::Ack(Ack { page }) => commands::ack(ctx, page.as_deref(), self.silences).await,
            PagingCommand::PageSomeone(PageSomeone { user, text }) => {
                Ok(commands::page_someone(ctx, &user, text.as_deref()))
            }
            PagingCommand::PageTeam(PageTeam { team: other, text }) => {
                commands::page_team(ctx, team, &other, text.as_deref()).await
            }
            PagingCommand::FalseAlarm(FalseAlarm { page }) => commands::false_alarm(ctx, page.as_deref()).await,
            PagingCommand::ListPages(ListPages {}) => commands::list(ctx, team).await,
        }
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        escalation::run(ctx, job).await
    }

    async fn on_event(&self, ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
        match event.kind.as_str() {
            "alert" => {
                let alert: Alert = serde_json::from_str(&event.data)
                    .map_err(|err| PluginError::Refused(format!("unreadable alert event: {err}")))?;
                escalation::on_alert(ctx, alert, self.silences).await
            }
            "call-result" => results::on_result(ctx, event).await,
            other => Err(PluginError::Refused(format!("the paging plugin takes no {other} events"))),
        }
    }
}
