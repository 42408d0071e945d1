//! Teams: who owns which rooms, who is on the roster, who administers the team.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::ids::{Person, RoomRef, TeamId, UserRef};

/// A configured value of a plugin setting, as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    /// A string such as `"30m"`.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// `true` or `false`.
    Bool(bool),
}

impl fmt::Display for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Text(text) => f.write_str(text),
            SettingValue::Integer(n) => write!(f, "{n}"),
            SettingValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn timezone<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    name.parse().map_err(|_| {
        serde::de::Error::custom(format!("expected an IANA timezone like \"Europe/Madrid\", got {name:?}"))
    })
}

/// One person on a team's roster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    /// The name the team knows them by; also accepted as `@name` in commands.
    pub name: String,
    /// Their IANA timezone, used to page the right people at the right hour.
    #[serde(deserialize_with = "timezone")]
    pub timezone: Tz,
    /// Their accounts, one per transport, written `transport:id`.
    pub ids: Vec<UserRef>,
    /// Whether they administer the team (enable plugins, change settings).
    #[serde(default)]
    pub admin: bool,
    /// Where pages are pushed to their phone, besides direct messages (ntfy, Gotify, or any
    /// webhook taking the same JSON).
    #[serde(default)]
    pub push: Option<Push>,
}

/// A person's push endpoint: an HTTP URL taking a JSON notification, as ntfy's and Gotify's
/// publishing endpoints do.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Push {
    /// The URL posted to: `https://ntfy.example.org/` (with `topic`), or
    /// `https://gotify.example.org/message?token=…`.
    pub url: String,
    /// The ntfy topic, sent in the body; Gotify ignores it.
    #[serde(default)]
    pub topic: Option<String>,
}

impl Member {
    /// Whether `user` is one of this member's accounts.
    pub fn has(&self, user: &UserRef) -> bool {
        self.ids.contains(user)
    }
}

/// A team: its rooms, roster and per-team plugin choices, as configured.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// The stable id (`wmcs`); incident ids are written with it in capitals (`WMCS-3`).
    pub id: TeamId,
    /// The name shown in status doc titles: `2024-04-15 [WMCS] Something went wrong`.
    pub name: String,
    /// Rooms where the team works: pages, incidents and commands land here.
    #[serde(default)]
    pub admin_rooms: Vec<RoomRef>,
    /// Public rooms whose topic shows user-facing incidents (never security ones).
    #[serde(default)]
    pub public_rooms: Vec<RoomRef>,
    /// The public rooms' usual topic, restored when no incident is shown.
    #[serde(default)]
    pub public_topic: String,
    /// The roster. When empty, everyone in the team's rooms counts as a member.
    #[serde(default)]
    pub members: Vec<Member>,
    /// The plugins enabled for this team by default; all of them when not set.
    #[serde(default)]
    pub plugins: Option<Vec<String>>,
    /// Per-plugin settings: `[teams.settings.<plugin>] key = value`.
    #[serde(default)]
    pub settings: BTreeMap<String, BTreeMap<String, SettingValue>>,
    /// Per-plugin structured configuration (an on-call schedule's layers): `[teams.config.<plugin>]`,
    /// read by the plugin with [`Team::config_of`] and checked at start by
    /// [`Plugin::check_config`](crate::plugin::Plugin::check_config).
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// What a room is for, within its team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomRole {
    /// A room where the team works; incident details may be shown here.
    Admin,
    /// A public room; security incidents are never shown here.
    Public,
    /// A room a plugin made for one subject (an incident's own room): commands here are about
    /// it.
    Subject(crate::state::RoomOwner),
}

impl Team {
    /// The prefix of this team's incident ids: the id in capitals.
    pub fn incident_prefix(&self) -> String {
        self.id.as_str().to_uppercase()
    }

    /// The roster entry of `user`, if they are on it.
    pub fn member(&self, user: &UserRef) -> Option<&Member> {
        self.members.iter().find(|member| member.has(user))
    }

    /// Whether `user` counts as a team member (on the roster, or the roster is empty).
    pub fn is_member(&self, user: &UserRef) -> bool {
        self.members.is_empty() || self.member(user).is_some()
    }

    /// Whether `user` administers this team.
    pub fn is_admin(&self, user: &UserRef) -> bool {
        self.member(user).is_some_and(|member| member.admin)
    }

    /// The roster member called `name` (case-insensitive).
    pub fn member_named(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|member| member.name.eq_ignore_ascii_case(name))
    }

    /// `user` as a person: with the roster name when known, else `fallback`, else the id.
    pub fn person(&self, user: &UserRef, fallback: Option<&str>) -> Person {
        let name = self
            .member(user)
            .map(|member| member.name.clone())
            .or_else(|| fallback.map(str::to_owned))
            .unwrap_or_else(|| user.id.clone());
        Person::new(user.clone(), name)
    }

    /// The plugin `name`'s structured configuration for this team, read as a `T`; `None` when
    /// there is none. The error says which key was wrong and what was expected.
    pub fn config_of<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let Some(value) = self.config.get(name) else { return Ok(None) };
        serde_path_to_error::deserialize(value).map(Some).map_err(|err| {
            let path = err.path().to_string();
            let at = if path == "." { String::new() } else { format!("{path}: ") };
            format!("{at}{}", err.into_inner())
        })
    }

    /// Whether the plugin `name` is enabled by this team's configuration.
    pub fn enables_by_default(&self, name: &str) -> bool {
        self.plugins.as_ref().is_none_or(|enabled| enabled.iter().any(|p| p == name))
    }
}

/// Why a set of teams cannot be used: where in the configuration (a key path such as
/// `teams[0].members[1].ids`) and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TeamsError {
    /// The key path of the offending value.
    pub key: String,
    /// What is wrong, and what was expected.
    pub message: String,
}

impl TeamsError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self { key: key.into(), message: message.into() }
    }
}

/// The most characters of a team id (it is part of every store key and incident id).
const TEAM_ID_CHARS: usize = 32;

/// Checks one team on its own: a name, an admin room, and a roster where every member has a
/// usable name and accounts that belong to nobody else.
fn check_team(index: usize, team: &Team) -> Result<(), TeamsError> {
    let key = |rest: &str| format!("teams[{index}]{rest}");
    if team.id.as_str().len() > TEAM_ID_CHARS {
        return Err(TeamsError::new(key(".id"), format!("expected a team id of at most {TEAM_ID_CHARS} characters")));
    }
    if team.name.trim().is_empty() || team.name.contains('\n') {
        return Err(TeamsError::new(key(".name"), "expected a one-line team name, like \"WMCS\""));
    }
    if team.admin_rooms.is_empty() {
        return Err(TeamsError::new(
            key(".admin_rooms"),
            "expected at least one admin room, where the team works: admin_rooms = [\"matrix:!id:example.org\"]",
        ));
    }
    for (number, member) in team.members.iter().enumerate() {
        let at = |rest: &str| key(&format!(".members[{number}]{rest}"));
        let name = &member.name;
        if name.is_empty() || name.starts_with('@') || name.contains(char::is_whitespace) {
            return Err(TeamsError::new(
                at(".name"),
                format!("expected a name of one word, without @, like \"alice\", got {name:?}"),
            ));
        }
        if let Some(first) = team.members[..number].iter().position(|other| other.name.eq_ignore_ascii_case(name)) {
            return Err(TeamsError::new(
                at(".name"),
                format!("the name {name:?} is taken by teams[{index}].members[{first}]; names must be unique"),
            ));
        }
        if member.ids.is_empty() {
            return Err(TeamsError::new(
                at(".ids"),
                "expected at least one account, like ids = [\"matrix:@alice:example.org\"]",
            ));
        }
        for (id_number, user) in member.ids.iter().enumerate() {
            let earlier = team.members[..number].iter().position(|other| other.has(user));
            let repeated = member.ids[..id_number].contains(user);
            if let Some(first) = earlier {
                return Err(TeamsError::new(
                    at(&format!(".ids[{id_number}]")),
                    format!(
                        "account {user} also belongs to teams[{index}].members[{first}]; each account is one person"
                    ),
                ));
            }
            if repeated {
                return Err(TeamsError::new(
                    at(&format!(".ids[{id_number}]")),
                    format!("account {user} is listed twice"),
                ));
            }
        }
    }
    Ok(())
}

/// Every configured team, with a lookup from room to team.
#[derive(Debug, Clone, Default)]
pub struct Teams {
    teams: Vec<Arc<Team>>,
    by_room: HashMap<RoomRef, (usize, RoomRole)>,
}

impl Teams {
    /// Checks each team (a name, an admin room, a usable roster), that ids and rooms are unique,
    /// and builds the lookup.
    pub fn new(teams: Vec<Team>) -> Result<Self, TeamsError> {
        let mut by_room = HashMap::new();
        for (index, team) in teams.iter().enumerate() {
            check_team(index, team)?;
            if let Some(first) = teams[..index].iter().position(|other| other.id == team.id) {
                return Err(TeamsError::new(
                    format!("teams[{index}].id"),
                    format!("team id {:?} is used by teams[{first}] already; ids must be unique", team.id.as_str()),
                ));
            }
            let rooms = team
                .admin_rooms
                .iter()
                .enumerate()
                .map(|(n, room)| (format!("admin_rooms[{n}]"), room, RoomRole::Admin))
                .chain(
                    team.public_rooms
                        .iter()
                        .enumerate()
                        .map(|(n, room)| (format!("public_rooms[{n}]"), room, RoomRole::Public)),
                );
            for (key, room, role) in rooms {
                if let Some((first, _)) = by_room.insert(room.clone(), (index, role)) {
                    return Err(TeamsError::new(
                        format!("teams[{index}].{key}"),
                        format!(
                            "room {room} is listed already by team {}; a room belongs to one team, once",
                            teams[first].id
                        ),
                    ));
                }
            }
        }
        Ok(Self { teams: teams.into_iter().map(Arc::new).collect(), by_room })
    }

    /// The team owning `room`, and what the room is for.
    pub fn for_room(&self, room: &RoomRef) -> Option<(&Arc<Team>, RoomRole)> {
        self.by_room.get(room).map(|(index, role)| (&self.teams[*index], role.clone()))
    }

    /// The team with id `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Team>> {
        self.teams.iter().find(|team| team.id.as_str() == id)
    }

    /// Every team, in config order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Team>> {
        self.teams.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn team(id: &str, admin_room: &str) -> Team {
        Team {
            id: TeamId::new(id).unwrap(),
            name: id.to_uppercase(),
            admin_rooms: vec![RoomRef::console(admin_room)],
            public_rooms: vec![],
            public_topic: String::new(),
            members: vec![Member {
                name: "Alice".into(),
                timezone: chrono_tz::Europe::Madrid,
                ids: vec![UserRef::console("alice")],
                admin: true,
                push: None,
            }],
            plugins: Some(vec!["incident".into()]),
            settings: BTreeMap::new(),
            config: BTreeMap::new(),
        }
    }

    #[test]
    fn rooms_lead_to_their_team() {
        let teams = Teams::new(vec![team("wmcs", "#a"), team("sre", "#b")]).unwrap();
        let (found, role) = teams.for_room(&RoomRef::console("#b")).unwrap();
        assert_eq!(found.id.as_str(), "sre");
        assert_eq!(role, RoomRole::Admin);
        assert!(teams.for_room(&RoomRef::console("#c")).is_none());
    }

    #[test]
    fn a_room_cannot_belong_to_two_teams() {
        let err = Teams::new(vec![team("wmcs", "#a"), team("sre", "#a")]).unwrap_err();
        assert_eq!(err.key, "teams[1].admin_rooms[0]");
        let err = Teams::new(vec![team("wmcs", "#a"), team("wmcs", "#b")]).unwrap_err();
        assert_eq!(err.key, "teams[1].id");
    }

    #[test]
    fn rosters_must_be_usable() {
        let mut broken = team("wmcs", "#a");
        broken.admin_rooms.clear();
        assert_eq!(Teams::new(vec![broken]).unwrap_err().key, "teams[0].admin_rooms");
        let mut broken = team("wmcs", "#a");
        broken.members[0].ids.clear();
        assert_eq!(Teams::new(vec![broken]).unwrap_err().key, "teams[0].members[0].ids");
        let mut broken = team("wmcs", "#a");
        broken.members.push(Member { name: "ALICE".into(), ..broken.members[0].clone() });
        assert_eq!(Teams::new(vec![broken]).unwrap_err().key, "teams[0].members[1].name");
        let mut broken = team("wmcs", "#a");
        broken.members.push(Member { name: "bob".into(), ..broken.members[0].clone() });
        let err = Teams::new(vec![broken]).unwrap_err();
        assert_eq!(err.key, "teams[0].members[1].ids[0]");
        assert!(err.message.contains("also belongs to teams[0].members[0]"), "{err}");
    }

    #[test]
    fn roster_decides_names_membership_and_admins() {
        let team = team("wmcs", "#a");
        let alice = UserRef::console("alice");
        let mallory = UserRef::console("mallory");
        assert_eq!(team.person(&alice, Some("al")).name, "Alice");
        assert_eq!(team.person(&mallory, None).name, "mallory");
        assert!(team.is_admin(&alice) && !team.is_admin(&mallory));
        assert!(team.is_member(&alice) && !team.is_member(&mallory));
        assert_eq!(team.member_named("alice").unwrap().name, "Alice");
        assert!(team.enables_by_default("incident") && !team.enables_by_default("sal"));
        assert_eq!(team.incident_prefix(), "WMCS");
    }
}
