//! Incident rooms: with the team setting `incident_rooms`, a declared incident gets its own room
//! (named after the status doc, the declarer and the IC invited), linked from the admin rooms.
//! Commands in that room are about that incident.

use firebell_core::command::incident_number;
use firebell_core::ids::Person;
use firebell_core::message::{Action, Message, Notify, RoomCreated, RoomSpec};
use firebell_core::plugin::{Context, Event, Outcome, PluginError, TeamContext, framework_state};
use firebell_core::state::Change;
use firebell_core::state::RoomOwner;
use firebell_core::team::Team;

use crate::declared::IncidentSettings;
use crate::model::{EntryKind, Incident, TimelineEntry};
use crate::records::{self, NAMESPACE};

/// The room to create for a newly declared incident, if the team wants one.
pub(crate) fn create(ctx: &Context<'_>, team: &Team, incident: &Incident) -> Option<Action> {
    if !ctx.settings.read::<IncidentSettings>().incident_rooms {
        return None;
    }
    let mut invite = vec![incident.declared_by.user.clone()];
    if let Some(ic) = incident.ic().filter(|ic| ic.user != incident.declared_by.user) {
        invite.push(ic.user.clone());
    }
    let spec = RoomSpec {
        key: incident.key().to_lowercase(),
        name: incident.doc_title.clone(),
        topic: format!("{}: {}. Status doc: {}incident show", incident.key(), incident.title, ctx.prefix),
        invite,
        private: true,
        notify: Some(Notify::new(&team.id, "incident")),
    };
    Some(Action::CreateRoom { like: ctx.room.clone(), spec })
}

/// Invites a new IC to the incident's rooms on their transport.
pub(crate) fn invite(incident: &Incident, ic: &Person) -> Vec<Action> {
    incident
        .rooms
        .iter()
        .filter(|room| room.transport == ic.user.transport)
        .map(|room| Action::Invite { room: room.clone(), user: ic.user.clone() })
        .collect()
}

/// The room exists: the incident keeps it, the admin rooms get the link, the room a welcome.
pub(crate) async fn created(ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
    let created: RoomCreated = serde_json::from_str(&event.data)
        .map_err(|err| PluginError::Refused(format!("unreadable room event: {err}")))?;
    let number = incident_number(&created.key, Some(&ctx.team.incident_prefix()), false);
    let Some(number) = number else { return Ok(Outcome::default()) };
    let Some(mut incident) = records::incident(&ctx.state, number).await?.filter(Incident::is_open) else {
        return Ok(Outcome::default());
    };
    if incident.rooms.contains(&created.room) {
        return Ok(Outcome::default());
    }
    let link = &created.link;
    incident.rooms.push(created.room.clone());
    let entry = TimelineEntry { at: ctx.now, by: None, kind: EntryKind::Note, text: format!("incident room: {link}") };
    let key = incident.key();
    let announce = Message::text(format!("{key} has its own room: ")).room(&created.room);
    let mut actions: Vec<Action> = ctx
        .team
        .admin_rooms
        .iter()
        .map(|room| Action::Send { room: room.clone(), message: announce.clone(), thread: None })
        .collect();
    let welcome = format!(
        "This room is for {key} \"{}\". Commands here are about {key}; the status doc: {}incident show",
        incident.title, ctx.prefix
    );
    let owner = RoomOwner { room: created.room.clone(), plugin: NAMESPACE.into(), subject: number.to_string() };
    actions.push(Action::Send { room: created.room, message: Message::text(welcome), thread: None });
    let mut writes = records::change(&ctx.state, &incident, &[entry]);
    writes.push(framework_state(ctx.reads).put(&owner));
    Ok(Outcome { writes, actions })
}

/// The incident is resolved: its rooms are no longer about it.
pub(crate) fn release(ctx: &Context<'_>, incident: &Incident) -> Vec<Change> {
    let framework = framework_state(ctx.reads);
    incident.rooms.iter().map(|room| framework.remove::<RoomOwner>(&room.to_string())).collect()
}
