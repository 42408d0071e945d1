//! The page's data, gathered once per request and written out as HTML, Atom, and Statuspage's
//! `/api/v2/summary.json` and `/api/v2/status.json`. A security incident is left out here,
//! before anything is written, unless it was disclosed.

use chrono::{DateTime, Duration, Utc};
use firebell_plugin_incident::Incident;
use serde::Serialize;

use crate::model::{Component, ComponentState, PublicIncident, PublicState, PublicUpdate};

/// How far back the history goes.
pub const HISTORY_DAYS: i64 = 90;

/// One component on the page.
#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    /// Its id: its name, lower case.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its position, from 1.
    pub position: usize,
    /// Its state.
    pub state: ComponentState,
    /// Statuspage's name of the state.
    pub status: &'static str,
    /// How people read it.
    pub label: &'static str,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
}

/// One public update on the page.
#[derive(Debug, Clone, Serialize)]
pub struct UpdateView {
    /// Its id: `wmcs-3-2`.
    pub id: String,
    /// Statuspage's name of the state it announced.
    pub status: &'static str,
    /// How people read it.
    pub label: &'static str,
    /// The text.
    pub body: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// One user-facing incident on the page.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    /// Its id: `wmcs-3`.
    pub id: String,
    /// `WMCS-3`.
    pub key: String,
    /// Its title.
    pub name: String,
    /// Statuspage's name of its state.
    pub status: &'static str,
    /// How people read it.
    pub label: &'static str,
    /// `none`, `minor`, `major` or `critical`, from its severity.
    pub impact: &'static str,
    /// When it was declared.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When it went to monitoring.
    pub monitoring_at: Option<DateTime<Utc>>,
    /// Its public updates, newest first.
    pub updates: Vec<UpdateView>,
}

/// Everything one request shows.
#[derive(Debug, Clone, Serialize)]
pub struct View {
    /// The team's id.
    pub team: String,
    /// The page's name (`WMCS status`).
    pub name: String,
    /// Where the page is.
    pub url: String,
    /// When anything on it last changed.
    pub updated_at: DateTime<Utc>,
    /// The components, in configured order.
    pub components: Vec<ComponentView>,
    /// Open incidents, newest first.
    pub open: Vec<IncidentView>,
    /// Resolved ones of the last 90 days, newest first.
    pub history: Vec<IncidentView>,
    /// `none`, `minor`, `major` or `critical`.
    pub indicator: &'static str,
    /// `All Systems Operational`…
    pub description: &'static str,
}

/// What the page is made from.
pub struct Sources<'a> {
    /// The team's id and name.
    pub team: (&'a str, &'a str),
    /// The page's URL.
    pub url: String,
    /// The configured components, in order, with their stored state if any.
    pub components: Vec<(String, Option<Component>)>,
    /// Incidents, open and recent, with their public side.
    pub incidents: Vec<(Incident, Option<PublicIncident>)>,
    /// Now.
    pub now: DateTime<Utc>,
}

fn impact(severity: Option<u8>) -> &'static str {
    match severity {
        Some(1) => "critical",
        Some(2) => "major",
        _ => "minor",
    }
}

/// Whether an incident may be shown publicly: user-facing, and not a security one unless it was
/// disclosed.
pub fn is_public(incident: &Incident, public: Option<&PublicIncident>) -> bool {
    incident.user_facing && (!incident.security || public.is_some_and(|p| p.disclosed_at.is_some()))
}

fn update_view(id: &str, update: &PublicUpdate) -> UpdateView {
    UpdateView {
        id: format!("{id}-{}", update.number),
        status: update.state.word(),
        label: update.state.label(),
        body: update.text.clone(),
        at: update.at,
    }
}

fn incident_view(team: &str, incident: &Incident, public: Option<&PublicIncident>) -> IncidentView {
    let id = format!("{team}-{}", incident.number);
    let updates: Vec<&PublicUpdate> = public.map(|p| p.updates.iter().collect()).unwrap_or_default();
    let resolved_at = incident.resolution.as_ref().map(|r| r.at);
    let mut views: Vec<UpdateView> = updates.iter().map(|u| update_view(&id, u)).collect();
    if let Some(at) = resolved_at {
        let closing = PublicUpdate {
            number: views.len() as u32 + 1,
            state: PublicState::Resolved,
            text: "This incident has been resolved.".to_owned(),
            at,
        };
        views.push(update_view(&id, &closing));
    }
    if views.is_empty() {
        let opening = PublicUpdate {
            number: 1,
            state: PublicState::Investigating,
            text: "We are investigating this issue.".to_owned(),
            at: incident.declared_at,
        };
        views.push(update_view(&id, &opening));
    }
    let status = if resolved_at.is_some() {
        PublicState::Resolved
    } else {
        updates.last().map_or(PublicState::Investigating, |u| u.state)
    };
    let monitoring_at = updates.iter().find(|u| u.state == PublicState::Monitoring).map(|u| u.at);
    let updated_at = views.iter().map(|v| v.at).max().unwrap_or(incident.declared_at);
    views.reverse();
    IncidentView {
        id,
        key: incident.key(),
        name: incident.title.clone(),
        status: status.word(),
        label: status.label(),
        impact: impact(incident.severity),
        created_at: incident.declared_at,
        updated_at,
        resolved_at,
        monitoring_at,
        updates: views,
    }
}

/// The page, from its sources.
pub fn gather(sources: Sources<'_>) -> View {
    let (team, team_name) = sources.team;
    let since = sources.now - Duration::days(HISTORY_DAYS);
    let mut open = Vec::new();
    let mut history = Vec::new();
    for (incident, public) in &sources.incidents {
        if !is_public(incident, public.as_ref()) {
            continue;
        }
        let view = incident_view(team, incident, public.as_ref());
        match view.resolved_at {
            None => open.push(view),
            Some(at) if at >= since => history.push(view),
            Some(_) => {}
        }
    }
    open.sort_by_key(|incident| std::cmp::Reverse(incident.created_at));
    history.sort_by_key(|incident| std::cmp::Reverse(incident.resolved_at));
    let components: Vec<ComponentView> = sources
        .components
        .iter()
        .enumerate()
        .map(|(n, (name, stored))| {
            let state = stored.as_ref().map_or(ComponentState::Operational, |c| c.state);
            ComponentView {
                id: name.to_lowercase(),
                name: name.clone(),
                position: n + 1,
                state,
                status: state.api_name(),
                label: state.label(),
                updated_at: stored.as_ref().map(|c| c.changed_at),
            }
        })
        .collect();
    let (indicator, description) = overall(&components, &open);
    let updated_at = open
        .iter()
        .chain(&history)
        .map(|i| i.updated_at)
        .chain(components.iter().filter_map(|c| c.updated_at))
        .max()
        .unwrap_or(sources.now);
    View {
        team: team.to_owned(),
        name: format!("{team_name} status"),
        url: sources.url,
        updated_at,
        components,
        open,
        history,
        indicator,
        description,
    }
}

/// The page's overall status, as Statuspage sums it up.
fn overall(components: &[ComponentView], open: &[IncidentView]) -> (&'static str, &'static str) {
    let worst_component = components.iter().map(|c| c.state).max().unwrap_or(ComponentState::Operational);
    let worst_incident = open.iter().map(|i| i.impact).max_by_key(|impact| match *impact {
        "critical" => 3,
        "major" => 2,
        "minor" => 1,
        _ => 0,
    });
    let level = match (worst_component, worst_incident) {
        (ComponentState::MajorOutage, _) | (_, Some("critical")) => 3,
        (ComponentState::PartialOutage, _) | (_, Some("major")) => 2,
        (ComponentState::DegradedPerformance, _) | (_, Some(_)) => 1,
        _ => 0,
    };
    match level {
        3 => ("critical", "Major System Outage"),
        2 => ("major", "Partial System Outage"),
        1 => ("minor", "Minor Service Outage"),
        _ if worst_component == ComponentState::UnderMaintenance => ("maintenance", "Service Under Maintenance"),
        _ => ("none", "All Systems Operational"),
    }
}

/// Statuspage's `page` object.
fn page_json(view: &View) -> serde_json::Value {
    serde_json::json!({
        "id": view.team,
        "name": view.name,
        "url": view.url,
        "time_zone": "Etc/UTC",
        "updated_at": view.updated_at.to_rfc3339(),
    })
}

fn status_json(view: &View) -> serde_json::Value {
    serde_json::json!({ "indicator": view.indicator, "description": view.description })
}

/// `/api/v2/status.json`.
pub fn status(view: &View) -> String {
    serde_json::json!({ "page": page_json(view), "status": status_json(view) }).to_string()
}

fn incident_json(view: &View, incident: &IncidentView) -> serde_json::Value {
    let updates: Vec<serde_json::Value> = incident
        .updates
        .iter()
        .map(|update| {
            serde_json::json!({
                "id": update.id,
                "status": update.status,
                "body": update.body,
                "incident_id": incident.id,
                "created_at": update.at.to_rfc3339(),
                "updated_at": update.at.to_rfc3339(),
                "display_at": update.at.to_rfc3339(),
                "affected_components": null,
                "deliver_notifications": true,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    serde_json::json!({
        "id": incident.id,
        "name": incident.name,
        "status": incident.status,
        "created_at": incident.created_at.to_rfc3339(),
        "updated_at": incident.updated_at.to_rfc3339(),
        "monitoring_at": incident.monitoring_at.map(|at| at.to_rfc3339()),
        "resolved_at": incident.resolved_at.map(|at| at.to_rfc3339()),
        "impact": incident.impact,
        "shortlink": format!("{}#{}", view.url, incident.id),
        "started_at": incident.created_at.to_rfc3339(),
        "page_id": view.team,
        "incident_updates": updates,
        "components": [],
    })
}

/// `/api/v2/summary.json`: the page, its components, its open incidents and its status.
pub fn summary(view: &View) -> String {
    let components: Vec<serde_json::Value> = view
        .components
        .iter()
        .map(|component| {
            let at = component.updated_at.unwrap_or(view.updated_at).to_rfc3339();
            serde_json::json!({
                "id": component.id,
                "name": component.name,
                "status": component.status,
                "created_at": at,
                "updated_at": at,
                "position": component.position,
                "description": null,
                "showcase": true,
                "start_date": null,
                "group_id": null,
                "page_id": view.team,
                "group": false,
                "only_show_if_degraded": false,
            })
        })
        .collect();
    let incidents: Vec<serde_json::Value> = view.open.iter().map(|i| incident_json(view, i)).collect();
    serde_json::json!({
        "page": page_json(view),
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": [],
        "status": status_json(view),
    })
    .to_string()
}

/// `/api/v2/incidents.json`: the open and the recent incidents.
pub fn incidents(view: &View) -> String {
    let incidents: Vec<serde_json::Value> =
        view.open.iter().chain(&view.history).map(|i| incident_json(view, i)).collect();
    serde_json::json!({ "page": page_json(view), "incidents": incidents }).to_string()
}

const HTML: &str = include_str!("../templates/status.html");
const ATOM: &str = include_str!("../templates/history.atom");

fn render(name: &str, template: &str, view: &View) -> String {
    let mut templates = minijinja::Environment::new();
    templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    templates.add_filter("utc", |at: String| {
        DateTime::parse_from_rfc3339(&at).map_or(at.clone(), |at| at.to_utc().format("%Y-%m-%d %H:%M UTC").to_string())
    });
    let rendered = templates.template_from_named_str(name, template).and_then(|template| {
        template.render(minijinja::context! { page => minijinja::Value::from(minijinja::value::Serde(view)) })
    });
    rendered.unwrap_or_else(|err| format!("the page could not be made: {err}"))
}

/// The HTML page.
pub fn html(view: &View) -> String {
    render("status.html", HTML, view)
}

/// The Atom feed of public updates.
pub fn atom(view: &View) -> String {
    render("history.atom", ATOM, view)
}
