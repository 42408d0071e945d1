//! The incident workflow of the WMCS incident response process, as a Firebell plugin.
//!
//! Anyone may declare an incident; the declarer becomes incident coordinator (IC) when they are
//! on the team. The IC keeps the living status doc (`!incident update`, `doing`, `task`, `note`,
//! `followup`), hands the role over only when the other side accepts, and resolves the incident,
//! which produces the report draft. User-facing incidents show on the public rooms' topic;
//! security incidents never show in public.

mod commands;
mod declared;
mod format;
mod held;
mod model;
mod page;
mod records;
mod report;
mod rooms;
mod target;
mod timers;

use firebell_core::async_trait;
use firebell_core::declare::PluginInfo;
use firebell_core::job::Job;
use firebell_core::plugin::{Context, Event, Invocation, Outcome, Plugin, PluginError, TeamContext};

use declared::{IncidentCommand, IncidentSettings};

pub use model::*;
pub use records::{NAMESPACE, add_to_timeline, open_incidents, open_incidents_of, timeline_of};
pub use report::render_report;

/// Declare incidents, coordinate them, keep the status doc, resolve and report.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(
    name = "incident",
    commands = IncidentCommand,
    settings = IncidentSettings,
    records = [Incident, held::Held],
    shared_streams = ["timeline:"]
)]
pub struct IncidentPlugin;

#[async_trait]
impl Plugin for IncidentPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        use IncidentCommand as C;
        let team = ctx.require_team()?;
        match command.parse()? {
            C::Declare(args) => commands::declare(ctx, team, args).await,
            C::Confirm(args) => held::confirm(ctx, team, args).await,
            C::Reject(args) => held::reject(ctx, args).await,
            C::Ic(args) => commands::claim_or_show_ic(ctx, args).await,
            C::Handoff(args) => commands::offer_handoff(ctx, args).await,
            C::Accept(args) => commands::accept_handoff(ctx, args).await,
            C::Decline(args) => commands::decline_handoff(ctx, args).await,
            C::Update(args) => commands::update(ctx, args).await,
            C::Snooze(args) => commands::snooze(ctx, args).await,
            C::Doing(args) => commands::doing(ctx, args).await,
            C::Task(args) => commands::task(ctx, args).await,
            C::Done(args) => commands::done(ctx, args).await,
            C::Note(args) => commands::note(ctx, args).await,
            C::Followup(args) => commands::followup(ctx, args).await,
            C::Show(args) => commands::show(ctx, args).await,
            C::List(_) => commands::list(ctx, team).await,
            C::Resolve(args) => commands::resolve(ctx, team, args).await,
            C::Report(args) => commands::report(ctx, args).await,
        }
    }

    fn web_paths(&self) -> &'static [&'static str] {
        &["/incidents/"]
    }

    async fn serve(
        &self,
        ctx: &TeamContext<'_>,
        request: &firebell_core::plugin::WebRequest,
    ) -> Result<firebell_core::plugin::WebResponse, PluginError> {
        page::serve(ctx, request).await
    }

    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        if let Some(number) = held::lapsing(job) {
            return held::lapse(ctx, number).await;
        }
        timers::run(ctx, job).await
    }

    async fn on_event(&self, ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
        match event.kind.as_str() {
            "room-created" => rooms::created(ctx, event).await,
            other => Err(PluginError::Refused(format!("the incident plugin takes no {other} events"))),
        }
    }
}
