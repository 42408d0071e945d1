//! The public status page, served by the bot's own HTTP server at `/status/<team>`: the team's
//! components and their state, its open user-facing incidents with their public updates, and 90
//! days of history, in the Atlassian Statuspage model. It is HTML readable without JavaScript,
//! an Atom feed (`/status/<team>/history.atom`), and Statuspage's public JSON API
//! (`/status/<team>/api/v2/summary.json`, `status.json`, `incidents.json`), so existing widgets
//! work unchanged.
//!
//! Chat drives it: `!component <name> <state>`, `!incident status [ID] <state> <text>` drafts a
//! public update that `!incident status send` publishes, and a user-facing declare appears at
//! once. A `--security` incident never appears anywhere public until `!incident disclose` after
//! it is resolved.

pub mod model;
pub mod page;

use firebell_core::async_trait;
use firebell_core::declare::{Choice, Command, Commands, PluginInfo};
use firebell_core::message::Message;
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError, TeamContext, WebRequest, WebResponse};
use firebell_core::state::State;
use firebell_core::team::Team;
use firebell_plugin_incident::{Incident, NAMESPACE as INCIDENTS};
use serde::Deserialize;

use crate::model::{Component, ComponentState, PublicIncident, PublicState, PublicUpdate};

/// The plugin's name.
pub const PLUGIN: &str = "statuspage";

/// The most recent incidents the history looks through.
const RECENT_INCIDENTS: usize = 200;

/// The public status page: components, user-facing incidents and their public updates.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(name = "statuspage", commands = StatuspageCommand, records = [Component, PublicIncident])]
pub struct StatuspagePlugin;

/// Sets a component's state on the public status page.
#[derive(Command)]
#[command(word = "component", permission = TeamMembers)]
struct SetComponent {
    /// The component, as configured.
    #[arg(word)]
    name: String,
    /// operational, degraded, partial, major or maintenance.
    #[arg(word)]
    state: ComponentState,
}

/// A public incident state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Choice)]
enum Phase {
    /// Looking for the cause.
    Investigating,
    /// The cause is known.
    Identified,
    /// A fix is in; watching.
    Monitoring,
    /// Publishes the drafted update.
    Send,
}

/// Drafts a public update of a user-facing incident (investigating, identified, monitoring); `send` publishes it.
#[derive(Command)]
#[command(word = "incident", sub = "status", permission = TeamMembers)]
struct Status {
    #[arg(incident)]
    id: Option<u64>,
    /// investigating, identified, monitoring, or send.
    #[arg(choice)]
    phase: Phase,
    /// What users read.
    #[arg(text)]
    text: Option<String>,
}

/// Shows a resolved security incident on the public page from now on.
#[derive(Command)]
#[command(word = "incident", sub = "disclose", permission = TeamMembers)]
struct Disclose {
    #[arg(incident)]
    id: Option<u64>,
}

#[derive(Commands)]
enum StatuspageCommand {
    SetComponent(SetComponent),
    Status(Status),
    Disclose(Disclose),
}

/// `[teams.config.statuspage]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageConfig {
    /// The components, in the order shown.
    #[serde(default)]
    components: Vec<String>,
}

impl PageConfig {
    fn of(team: &Team) -> Self {
        team.config_of::<PageConfig>(PLUGIN).ok().flatten().unwrap_or_default()
    }

    fn check(&self) -> Result<(), String> {
        for (n, name) in self.components.iter().enumerate() {
            if name.trim().is_empty() || name.len() > 64 || name.contains(char::is_whitespace) {
                return Err(format!(
                    "components[{n}]: expected a one-word name of at most 64 characters, got {name:?}"
                ));
            }
            if self.components[..n].iter().any(|other| other.eq_ignore_ascii_case(name)) {
                return Err(format!("components[{n}]: {name:?} is listed twice"));
            }
        }
        if self.components.len() > 100 {
            return Err("components: expected at most 100".to_owned());
        }
        Ok(())
    }
}

/// The incident a command names, or the team's only open one.
async fn incident(ctx: &Context<'_>, id: Option<u64>) -> Result<Incident, PluginError> {
    let incidents = State::new(ctx.reads, INCIDENTS);
    if let Some(number) = id {
        return incidents
            .get::<Incident>(&number.to_string())
            .await?
            .ok_or_else(|| PluginError::Refused(format!("there is no incident {number}")));
    }
    let open = firebell_plugin_incident::open_incidents_of(ctx.reads).await?;
    match open.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(PluginError::Refused("there is no open incident; name one, like WMCS-3".to_owned())),
        _ => Err(PluginError::Usage("several incidents are open; name one, like WMCS-3".to_owned())),
    }
}

fn page_url(ctx_web_url: &str, team: &Team) -> String {
    format!("{ctx_web_url}/status/{}", team.id)
}

async fn public_of(state: &State<'_>, incident: &Incident) -> Result<PublicIncident, PluginError> {
    Ok(state.get::<PublicIncident>(&incident.key()).await?.unwrap_or(PublicIncident {
        key: incident.key(),
        updates: Vec::new(),
        disclosed_at: None,
        draft: None,
    }))
}

async fn set_component(
    ctx: &Context<'_>,
    team: &Team,
    name: &str,
    state: ComponentState,
) -> Result<Outcome, PluginError> {
    let config = PageConfig::of(team);
    let Some(name) = config.components.iter().find(|c| c.eq_ignore_ascii_case(name)) else {
        let known =
            if config.components.is_empty() { "none are configured".to_owned() } else { config.components.join(", ") };
        return Err(PluginError::Usage(format!("expected a component of the status page ({known}), got {name:?}")));
    };
    let component = Component { name: name.clone(), state, changed_at: ctx.now };
    let text = format!("{name} is now {} on {}", state.label().to_lowercase(), page_url(ctx.web_url, team));
    Ok(Outcome::act(ctx.reply(Message::text(text))).write(ctx.state.put(&component)))
}

async fn status(ctx: &Context<'_>, team: &Team, args: Status) -> Result<Outcome, PluginError> {
    let incident = incident(ctx, args.id).await?;
    let key = incident.key();
    if !incident.user_facing {
        return Err(PluginError::Refused(format!("{key} is not user-facing, so it has no public page entry")));
    }
    let mut public = public_of(&ctx.state, &incident).await?;
    if incident.security && public.disclosed_at.is_none() {
        return Err(PluginError::Refused(format!(
            "{key} is a security incident: nothing about it goes public until {}incident disclose after it is resolved",
            ctx.prefix
        )));
    }
    if !incident.is_open() {
        return Err(PluginError::Refused(format!("{key} is resolved; its page entry says so")));
    }
    let state = match args.phase {
        Phase::Investigating => PublicState::Investigating,
        Phase::Identified => PublicState::Identified,
        Phase::Monitoring => PublicState::Monitoring,
        Phase::Send => return send(ctx, team, public).await,
    };
    let text = args.text.filter(|text| !text.trim().is_empty()).ok_or_else(|| {
        PluginError::Usage("expected the public text after the state, like: monitoring A fix is rolling out".to_owned())
    })?;
    let number = public.updates.len() as u32 + 1;
    public.draft = Some(PublicUpdate { number, state, text: text.trim().to_owned(), at: ctx.now });
    let shown = format!(
        "Draft public update of {key} ({}): \"{}\". Users will read it on {}. Publish it: {}incident status send",
        state.word(),
        text.trim(),
        page_url(ctx.web_url, team),
        ctx.prefix
    );
    Ok(Outcome::act(ctx.reply(Message::text(shown))).write(ctx.state.put(&public)))
}

async fn send(ctx: &Context<'_>, team: &Team, mut public: PublicIncident) -> Result<Outcome, PluginError> {
    let Some(mut update) = public.draft.take() else {
        return Err(PluginError::Refused(format!(
            "{} has no drafted public update; draft one with {}incident status <state> <text>",
            public.key, ctx.prefix
        )));
    };
    update.at = ctx.now;
    let text = format!(
        "Published on {}#{}: {} — {}",
        page_url(ctx.web_url, team),
        public.key.to_lowercase(),
        update.state.label(),
        update.text
    );
    public.updates.push(update);
    Ok(Outcome::act(ctx.reply(Message::text(text))).write(ctx.state.put(&public)))
}

async fn disclose(ctx: &Context<'_>, team: &Team, id: Option<u64>) -> Result<Outcome, PluginError> {
    let incident = incident(ctx, id).await?;
    let key = incident.key();
    if !incident.security {
        return Err(PluginError::Refused(format!("{key} is not a security incident; it is public if user-facing")));
    }
    if incident.is_open() {
        return Err(PluginError::Refused(format!(
            "{key} is still open: disclose a security incident once it is resolved"
        )));
    }
    let mut public = public_of(&ctx.state, &incident).await?;
    if public.disclosed_at.is_some() {
        return Err(PluginError::Refused(format!("{key} was disclosed already")));
    }
    public.disclosed_at = Some(ctx.now);
    let where_ = if incident.user_facing {
        format!("it now shows on {}", page_url(ctx.web_url, team))
    } else {
        "it was not user-facing, so the public page still leaves it out".to_owned()
    };
    Ok(Outcome::act(ctx.reply(Message::text(format!("{key} disclosed: {where_}.")))).write(ctx.state.put(&public)))
}

/// The page's view, read afresh.
async fn view(ctx: &TeamContext<'_>) -> Result<page::View, PluginError> {
    let config = PageConfig::of(ctx.team);
    let ids: Vec<String> = config.components.iter().map(|name| name.to_lowercase()).collect();
    let stored: Vec<Option<Component>> = {
        let found: Vec<Component> = ctx.state.get_many(&ids).await?;
        ids.iter().map(|id| found.iter().find(|c| c.name.to_lowercase() == *id).cloned()).collect()
    };
    let components = config.components.iter().cloned().zip(stored).collect();
    let incidents_state = State::new(ctx.reads, INCIDENTS);
    let mut incidents: Vec<Incident> = firebell_plugin_incident::open_incidents_of(ctx.reads).await?;
    for recent in incidents_state.recent::<Incident>(RECENT_INCIDENTS).await? {
        if !incidents.iter().any(|i| i.number == recent.number) {
            incidents.push(recent);
        }
    }
    incidents.retain(|incident| incident.user_facing);
    let keys: Vec<String> = incidents.iter().map(Incident::key).collect();
    let publics: Vec<PublicIncident> = ctx.state.get_many(&keys).await?;
    let incidents = incidents
        .into_iter()
        .map(|incident| {
            let public = publics.iter().find(|p| p.key == incident.key()).cloned();
            (incident, public)
        })
        .collect();
    Ok(page::gather(page::Sources {
        team: (ctx.team.id.as_str(), &ctx.team.name),
        url: page_url(ctx.web_url, ctx.team),
        components,
        incidents,
        now: ctx.now,
    }))
}

#[async_trait]
impl Plugin for StatuspagePlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let team = ctx.require_team()?;
        match command.parse()? {
            StatuspageCommand::SetComponent(SetComponent { name, state }) => {
                set_component(ctx, team, &name, state).await
            }
            StatuspageCommand::Status(args) => status(ctx, team, args).await,
            StatuspageCommand::Disclose(Disclose { id }) => disclose(ctx, team, id).await,
        }
    }

    fn check_config(&self, _team: &Team, config: &serde_json::Value) -> Result<(), String> {
        let parsed: PageConfig = serde_json::from_value(config.clone()).map_err(|err| err.to_string())?;
        parsed.check()
    }

    fn web_paths(&self) -> &'static [&'static str] {
        &["/status/"]
    }

    fn web_root(&self) -> Option<&'static str> {
        Some("/status/")
    }

    async fn serve(&self, ctx: &TeamContext<'_>, request: &WebRequest) -> Result<WebResponse, PluginError> {
        let (kind, write): (&str, fn(&page::View) -> String) = match request.rest.as_str() {
            "" | "/" => ("text/html; charset=utf-8", page::html),
            "/history.atom" => ("application/atom+xml; charset=utf-8", page::atom),
            "/api/v2/summary.json" => ("application/json", page::summary),
            "/api/v2/status.json" => ("application/json", page::status),
            "/api/v2/incidents.json" => ("application/json", page::incidents),
            _ => return Ok(WebResponse::not_found()),
        };
        let view = view(ctx).await?;
        Ok(WebResponse::ok(kind, write(&view))
            .header("Cache-Control", "public, max-age=10")
            .header("Access-Control-Allow-Origin", "*"))
    }
}
