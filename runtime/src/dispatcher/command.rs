//! Chat commands: finding the declaration, checking it against the team's choices (plugin
//! enabled, sender allowed), parsing the arguments, and running the plugin.

use std::sync::Arc;

use firebell_core::command::{CommandLine, CommandSpec, Permission, Resolve, Token, shown};
use firebell_core::ids::{Person, Transport};
use firebell_core::message::{Inbound, Mention};
use firebell_core::plugin::{
    Context, Invocation, Lookup, Outcome, Place, Plugin, PluginError, Settings, framework_state, is_enabled,
};
use firebell_core::state::{Choices, Reads, RoomOwner, State};
use firebell_core::team::{RoomRole, Team};

use super::{DispatchError, Dispatcher, reply_to, team_of};

/// Who sent a command, and what the platform says about them.
#[derive(Debug, Clone)]
pub(super) struct Sender {
    pub(super) person: Person,
    pub(super) platform_admin: bool,
}

/// A command word that names a command of some plugin, in a room where it may be looked at.
pub(super) struct Found<'a, 't> {
    pub(super) plugin: &'a Arc<dyn Plugin>,
    spec: &'static CommandSpec,
    rest: &'t [Token],
}

/// Resolves mentions (roster names, and what the adapter read as mentions) and incident ids in
/// the room's context.
struct RoomResolver<'a> {
    team: Option<&'a Team>,
    transport: Transport,
    mentions: &'a [Mention],
}

impl Resolve for RoomResolver<'_> {
    fn person(&self, mention: &str) -> Option<Person> {
        let by_name = self.team.and_then(|team| {
            let member = team.member_named(mention.strip_prefix('@')?)?;
            let user = member.ids.iter().find(|id| id.transport == self.transport).or(member.ids.first())?;
            Some(Person::new(user.clone(), member.name.clone()))
        });
        by_name.or_else(|| {
            let found = self.mentions.iter().find(|m| m.token == mention)?;
            let named = found.name.as_deref();
            Some(match self.team {
                Some(team) => team.person(&found.user, named),
                None => Person::new(found.user.clone(), named.unwrap_or(&found.user.id)),
            })
        })
    }

    fn incident_prefix(&self) -> Option<String> {
        self.team.map(Team::incident_prefix)
    }
}

impl Dispatcher {
    /// Finds the command a line names. `Err(Some(text))` is a refusal to send; `Err(None)`
    /// means the line is silently ignored.
    pub(super) fn find<'a, 't>(
        &'a self,
        line: &'t CommandLine,
        place: &Place<'_>,
    ) -> Result<Found<'a, 't>, Option<String>> {
        let prefix = &self.options.prefix;
        let (plugin, spec, rest) = match self.registry.find(&line.word, &line.tokens) {
            Lookup::Found { plugin, spec, rest } => (plugin, spec, rest),
            Lookup::UnknownSub { subs } => {
                let given = line.tokens.first().map_or(String::new(), |t| format!(" {:?}", shown(&t.text)));
                let choices = subs.iter().map(|s| format!("{prefix}{} {s}", line.word)).collect::<Vec<_>>();
                return Err(Some(format!("error: unknown subcommand{given}; expected one of: {}", choices.join(", "))));
            }
            Lookup::Unknown if self.options.answer_unknown_commands => {
                return Err(Some(format!("error: unknown command {prefix}{}; see {prefix}help", shown(&line.word))));
            }
            Lookup::Unknown => return Err(None),
        };
        if matches!(place, Place::Unconfigured) && spec.permission != Permission::Anyone {
            return Err(Some(format!(
                "this room is not configured for any team, so only {prefix}help works here; \
                 an admin can add it to a team's admin_rooms or public_rooms in the config"
            )));
        }
        Ok(Found { plugin, spec, rest })
    }

    /// Checks a found command against the team's choices and parses its arguments; the error
    /// is the refusal to send.
    fn check(
        &self,
        found: &Found<'_, '_>,
        place: &Place<'_>,
        sender: &Sender,
        choices: &Choices,
        inbound: &Inbound,
    ) -> Result<Invocation, String> {
        let prefix = &self.options.prefix;
        let team = team_of(place);
        if let Some(team) = team {
            if !is_enabled(found.plugin.as_ref(), team, choices) {
                return Err(format!(
                    "plugin {} is disabled for team {}; a team admin can turn it on with {prefix}plugins enable {}",
                    found.plugin.name(),
                    team.id,
                    found.plugin.name()
                ));
            }
            if !permits(found.spec.permission, team, sender) {
                return Err(denial(found.spec, team, prefix));
            }
        }
        let resolver = RoomResolver { team, transport: inbound.transport(), mentions: &inbound.mentions };
        let args =
            found.spec.parse(found.rest, &resolver).map_err(|err| self.usage_error(&err.to_string(), found.spec))?;
        Ok(Invocation { spec: found.spec, args })
    }

    fn usage_error(&self, error: &str, spec: &CommandSpec) -> String {
        format!("error: {error}; usage: {}", spec.usage(&self.options.prefix))
    }

    /// What a command decides, reading through `reads`: its plugin's outcome, or a refusal to
    /// send.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn decide_command(
        &self,
        found: &Found<'_, '_>,
        place: &Place<'_>,
        sender: &Sender,
        inbound: &Inbound,
        cause: &str,
        reads: &Reads<'_>,
        choices: &Choices,
    ) -> Result<Outcome, DispatchError> {
        if let Place::Team { role: RoomRole::Subject(owner), .. } = place {
            // The room's owner is part of what the command is decided on.
            framework_state(reads).get::<RoomOwner>(&owner.room.to_string()).await?;
        }
        let invocation = match self.check(found, place, sender, choices, inbound) {
            Ok(invocation) => invocation,
            Err(refusal) => return Ok(Outcome::act(reply_to(inbound, refusal))),
        };
        let settings = match team_of(place) {
            Some(team) => Settings::of(found.plugin.as_ref(), team, choices),
            None => Settings::default(),
        };
        let may_run = |spec: &CommandSpec| self.may_run(place, sender, choices, spec);
        let ctx = Context {
            cause,
            now: self.clock.now(),
            sender: sender.person.clone(),
            room: &inbound.room,
            thread: inbound.thread.as_deref(),
            attachments: &inbound.attachments,
            place: place.clone(),
            state: State::new(reads, found.plugin.name()),
            reads,
            choices,
            settings: &settings,
            registry: &self.registry,
            teams: &self.teams,
            prefix: &self.options.prefix,
            web_url: &self.options.web_url,
            links: &self.links,
            sender_is_admin: team_of(place).is_some_and(|team| permits(Permission::TeamAdmins, team, sender)),
            may_run: &may_run,
        };
        match found.plugin.run(&ctx, &invocation).await {
            Ok(outcome) => Ok(outcome),
            Err(PluginError::Usage(error)) => {
                Ok(Outcome::act(reply_to(inbound, self.usage_error(&error, invocation.spec))))
            }
            Err(PluginError::Refused(reason)) => Ok(Outcome::act(reply_to(inbound, reason))),
            Err(PluginError::Retry { reason, .. }) => {
                Ok(Outcome::act(reply_to(inbound, format!("{reason}; nothing was changed: try again in a moment"))))
            }
            Err(PluginError::Store(err)) => Err(err.into()),
        }
    }

    /// Whether `sender` may run `spec` here: its plugin is enabled and its permission passes.
    fn may_run(&self, place: &Place<'_>, sender: &Sender, choices: &Choices, spec: &CommandSpec) -> bool {
        let Some((plugin, _)) = self.registry.commands().find(|(_, s)| s.word == spec.word && s.sub == spec.sub) else {
            return false;
        };
        match place {
            Place::Unconfigured => spec.permission == Permission::Anyone,
            Place::Team { team, .. } => {
                is_enabled(plugin.as_ref(), team, choices) && permits(spec.permission, team, sender)
            }
        }
    }
}

/// Whether `sender` passes `permission` in one of `team`'s rooms. Whether someone is the IC
/// depends on the incident, so plugins check that; here it counts as a member check.
fn permits(permission: Permission, team: &Team, sender: &Sender) -> bool {
    let admin = sender.platform_admin || team.is_admin(&sender.person.user);
    match permission {
        Permission::Anyone | Permission::TeamRooms => true,
        Permission::TeamMembers | Permission::IncidentCoordinator => admin || team.is_member(&sender.person.user),
        Permission::TeamAdmins => admin,
    }
}

/// The refusal for a sender who may not run `spec`: who may, and who that is.
fn denial(spec: &CommandSpec, team: &Team, prefix: &str) -> String {
    let command = format!("{prefix}{}", spec.name());
    match spec.permission {
        Permission::TeamAdmins => {
            let admins: Vec<&str> = team.members.iter().filter(|m| m.admin).map(|m| m.name.as_str()).collect();
            let ask =
                if admins.is_empty() { String::new() } else { format!(" (team {}: {})", team.id, admins.join(", ")) };
            format!("only team admins may run {command}{ask}")
        }
        permission => {
            format!("only {} may run {command}; you are not on team {}'s roster", permission.describe(), team.id)
        }
    }
}
