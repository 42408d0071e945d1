//! The dispatcher: from one inbound message to the actions that answer it.
//!
//! For each message it finds the room's team and the command's declaration, then, on the team's
//! snapshot, checks that the plugin is enabled for the team and the sender allowed, parses the
//! arguments, runs the plugin, and applies the plugin's writes together with the claim of the
//! event and the snapshot's revision in one atomic store step. When the team changed in between
//! (another replica, another command), the command runs again on a fresh snapshot; when the
//! event was claimed already (another replica, a platform retry) nothing is sent.
//!
//! The dispatcher keeps each team's latest snapshot. Using it is safe because the store refuses
//! writes decided on a stale revision, and it saves a round trip on almost every command.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::command::{CommandLine, CommandSpec, Permission, Resolve, Token};
use crate::ids::{Person, TeamId, Transport, UserRef};
use crate::message::{Action, Envelope, Inbound, Message};
use crate::plugin::{Context, Invocation, Lookup, Outcome, Place, Plugin, PluginError, Registry, Settings, is_enabled};
use crate::store::{ApplyError, Claim, Guard, Store, StoreError, TeamSnapshot};
use crate::team::{Team, Teams};

/// How the dispatcher behaves.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// The command prefix in messages (`!`).
    pub prefix: String,
    /// How long an event's claim is remembered.
    pub claim_ttl: Duration,
    /// Whether an unknown `!word` gets an answer (off when other bots share the rooms).
    pub answer_unknown_commands: bool,
    /// How many times a command is retried on concurrent changes before giving up.
    pub max_attempts: u32,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            prefix: "!".into(),
            claim_ttl: Duration::from_secs(24 * 3600),
            answer_unknown_commands: true,
            max_attempts: 8,
        }
    }
}

/// Why a message could not be handled. The sender should be told to try again.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// The store failed; nothing was applied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The team's state kept changing under the command.
    #[error("gave up after {0} attempts: the team's state kept changing concurrently")]
    Contended(u32),
}

/// Turns inbound messages into the actions that answer them.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    teams: Teams,
    registry: Registry,
    options: DispatchOptions,
    snapshots: Mutex<HashMap<TeamId, Arc<TeamSnapshot>>>,
}

/// Who sent a command, and what the platform says about them.
#[derive(Debug, Clone)]
struct Sender {
    person: Person,
    platform_admin: bool,
}

/// A command word that names a command of some plugin, in a room where it may be looked at.
struct Found<'a, 't> {
    plugin: &'a Arc<dyn Plugin>,
    spec: &'static CommandSpec,
    rest: &'t [Token],
}

/// Resolves mentions and incident ids in the room's context.
struct RoomResolver<'a> {
    team: Option<&'a Team>,
    transport: Transport,
}

impl Resolve for RoomResolver<'_> {
    fn person(&self, mention: &str) -> Option<Person> {
        let by_name = self.team.and_then(|team| {
            let member = team.member_named(mention.strip_prefix('@')?)?;
            let user = member.ids.iter().find(|id| id.transport == self.transport).or(member.ids.first())?;
            Some(Person::new(user.clone(), member.name.clone()))
        });
        by_name.or_else(|| {
            let user = UserRef::new(self.transport, self.transport.user_id_from_mention(mention)?);
            Some(match self.team {
                Some(team) => team.person(&user, None),
                None => Person::new(user.clone(), user.id.clone()),
            })
        })
    }

    fn incident_prefix(&self) -> Option<String> {
        self.team.map(Team::incident_prefix)
    }
}

fn team_of(place: Place<'_>) -> Option<&Team> {
    match place {
        Place::Team { team, .. } => Some(team),
        Place::Unconfigured => None,
    }
}

impl Dispatcher {
    /// A dispatcher over `store`.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        teams: Teams,
        registry: Registry,
        options: DispatchOptions,
    ) -> Self {
        Self { store, clock, teams, registry, options, snapshots: Mutex::new(HashMap::new()) }
    }

    /// The store this dispatcher writes to.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The teams.
    pub fn teams(&self) -> &Teams {
        &self.teams
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The options.
    pub fn options(&self) -> &DispatchOptions {
        &self.options
    }

    /// Handles one message and returns the actions to perform, each with a stable id derived
    /// from the event. Messages that are not commands, and events handled before, give none.
    pub async fn dispatch(&self, inbound: &Inbound) -> Result<Vec<Envelope>, DispatchError> {
        let Some(line) = CommandLine::parse(&inbound.text, &self.options.prefix) else {
            return Ok(Vec::new());
        };
        let place = match self.teams.for_room(&inbound.room) {
            Some((team, role)) => Place::Team { team, role },
            None => Place::Unconfigured,
        };
        let fallback_name = inbound.sender_name.as_deref();
        let person = match team_of(place) {
            Some(team) => team.person(&inbound.sender, fallback_name),
            None => Person::new(inbound.sender.clone(), fallback_name.unwrap_or(&inbound.sender.id)),
        };
        let sender = Sender { person, platform_admin: inbound.sender_is_platform_admin };
        let claim =
            Claim { transport: inbound.transport(), event_id: inbound.event_id.clone(), ttl: self.options.claim_ttl };
        let cause = format!("{}:{}", claim.transport, claim.event_id);
        let actions = match self.find(&line, place) {
            Ok(found) => self.run(found, place, &sender, inbound, &claim, &cause).await?,
            Err(None) => return Ok(Vec::new()),
            Err(Some(refusal)) => self.claim_and(team_of(place), &claim, vec![reply_to(inbound, refusal)]).await?,
        };
        Ok(Envelope::number(&cause, actions))
    }

    /// Finds the command a line names. `Err(Some(text))` is a refusal to send; `Err(None)`
    /// means the line is silently ignored.
    fn find<'a, 't>(&'a self, line: &'t CommandLine, place: Place<'_>) -> Result<Found<'a, 't>, Option<String>> {
        let prefix = &self.options.prefix;
        let (plugin, spec, rest) = match self.registry.find(&line.word, &line.tokens) {
            Lookup::Found { plugin, spec, rest } => (plugin, spec, rest),
            Lookup::UnknownSub { subs } => {
                let given = line.tokens.first().map_or(String::new(), |t| format!(" {:?}", t.text));
                let choices = subs.iter().map(|s| format!("{prefix}{} {s}", line.word)).collect::<Vec<_>>();
                return Err(Some(format!("error: unknown subcommand{given}; expected one of: {}", choices.join(", "))));
            }
            Lookup::Unknown if self.options.answer_unknown_commands => {
                return Err(Some(format!("error: unknown command {prefix}{}; see {prefix}help", line.word)));
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

    /// Checks a found command against the team's snapshot and parses its arguments; the error
    /// is the refusal to send.
    fn check(
        &self,
        found: &Found<'_, '_>,
        place: Place<'_>,
        sender: &Sender,
        snapshot: &TeamSnapshot,
        transport: Transport,
    ) -> Result<Invocation, String> {
        let prefix = &self.options.prefix;
        let team = team_of(place);
        if let Some(team) = team {
            if !is_enabled(found.plugin.as_ref(), team, snapshot) {
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
        let resolver = RoomResolver { team, transport };
        let args =
            found.spec.parse(found.rest, &resolver).map_err(|err| self.usage_error(&err.to_string(), found.spec))?;
        Ok(Invocation { spec: found.spec, args })
    }

    fn usage_error(&self, error: &str, spec: &CommandSpec) -> String {
        format!("error: {error}; usage: {}", spec.usage(&self.options.prefix))
    }

    /// Checks and runs the command on the team's snapshot and applies its outcome, again on a
    /// fresh snapshot when the team changed meanwhile.
    async fn run(
        &self,
        found: Found<'_, '_>,
        place: Place<'_>,
        sender: &Sender,
        inbound: &Inbound,
        claim: &Claim,
        cause: &str,
    ) -> Result<Vec<Action>, DispatchError> {
        let team = team_of(place);
        let team_id = team.map(|t| &t.id);
        let mut snapshot = match self.remembered(team_id) {
            Some(snapshot) => snapshot,
            None => self.read_snapshot(team_id).await?,
        };
        for _ in 0..self.options.max_attempts {
            let outcome = self.outcome(&found, place, sender, inbound, cause, &snapshot).await?;
            let guard = Guard::claim(claim).at(&snapshot.revision);
            match self.store.apply(team_id, guard, &outcome.writes).await {
                Ok(revision) => {
                    self.remember(team_id, snapshot.after(&outcome.writes, revision));
                    return Ok(outcome.actions);
                }
                Err(ApplyError::Duplicate) => return Ok(Vec::new()),
                Err(err @ (ApplyError::Conflict(_) | ApplyError::Stale)) => {
                    tracing::debug!(event = %inbound.event_id, reason = %err, "state moved on, running the command again");
                    snapshot = self.read_snapshot(team_id).await?;
                }
                Err(ApplyError::Store(err)) => {
                    self.forget(team_id);
                    return Err(err.into());
                }
            }
        }
        Err(DispatchError::Contended(self.options.max_attempts))
    }

    /// What the command decides on `snapshot`: its plugin's outcome, or a refusal to send.
    async fn outcome(
        &self,
        found: &Found<'_, '_>,
        place: Place<'_>,
        sender: &Sender,
        inbound: &Inbound,
        cause: &str,
        snapshot: &TeamSnapshot,
    ) -> Result<Outcome, DispatchError> {
        let invocation = match self.check(found, place, sender, snapshot, inbound.transport()) {
            Ok(invocation) => invocation,
            Err(refusal) => return Ok(Outcome::act(reply_to(inbound, refusal))),
        };
        let settings = match team_of(place) {
            Some(team) => Settings::of(found.plugin.as_ref(), team, snapshot),
            None => Settings::default(),
        };
        let may_run = |spec: &CommandSpec| self.may_run(place, sender, snapshot, spec);
        let ctx = Context {
            cause,
            now: self.clock.now(),
            sender: sender.person.clone(),
            room: &inbound.room,
            thread: inbound.thread.as_deref(),
            place,
            snapshot,
            store: self.store.as_ref(),
            settings: &settings,
            registry: &self.registry,
            teams: &self.teams,
            prefix: &self.options.prefix,
            sender_is_admin: team_of(place).is_some_and(|team| permits(Permission::TeamAdmins, team, sender)),
            may_run: &may_run,
        };
        match found.plugin.run(&ctx, &invocation).await {
            Ok(outcome) => Ok(outcome),
            Err(PluginError::Usage(error)) => {
                Ok(Outcome::act(ctx.reply(Message::text(self.usage_error(&error, invocation.spec)))))
            }
            Err(PluginError::Refused(reason)) => Ok(Outcome::act(ctx.reply(Message::text(reason)))),
            Err(PluginError::Store(err)) => Err(err.into()),
        }
    }

    /// Whether `sender` may run `spec` here: its plugin is enabled and its permission passes.
    fn may_run(&self, place: Place<'_>, sender: &Sender, snapshot: &TeamSnapshot, spec: &CommandSpec) -> bool {
        let Some((plugin, _)) = self.registry.commands().find(|(_, s)| std::ptr::eq(*s, spec)) else {
            return false;
        };
        match place {
            Place::Unconfigured => spec.permission == Permission::Anyone,
            Place::Team { team, .. } => {
                is_enabled(plugin.as_ref(), team, snapshot) && permits(spec.permission, team, sender)
            }
        }
    }

    /// Claims the event with no writes, then returns `actions` (or none for a duplicate).
    async fn claim_and(
        &self,
        team: Option<&Team>,
        claim: &Claim,
        actions: Vec<Action>,
    ) -> Result<Vec<Action>, DispatchError> {
        match self.store.apply(team.map(|t| &t.id), Guard::claim(claim), &[]).await {
            Ok(_) | Err(ApplyError::Conflict(_) | ApplyError::Stale) => Ok(actions),
            Err(ApplyError::Duplicate) => Ok(Vec::new()),
            Err(ApplyError::Store(err)) => Err(err.into()),
        }
    }

    /// The team's snapshot as this dispatcher last saw it.
    fn remembered(&self, team: Option<&TeamId>) -> Option<Arc<TeamSnapshot>> {
        let Some(team) = team else { return Some(Arc::default()) };
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).get(team).cloned()
    }

    fn remember(&self, team: Option<&TeamId>, snapshot: TeamSnapshot) {
        if let Some(team) = team {
            self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).insert(team.clone(), Arc::new(snapshot));
        }
    }

    fn forget(&self, team: Option<&TeamId>) {
        if let Some(team) = team {
            self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).remove(team);
        }
    }

    /// Reads the team's snapshot from the store and remembers it.
    async fn read_snapshot(&self, team: Option<&TeamId>) -> Result<Arc<TeamSnapshot>, DispatchError> {
        let snapshot = Arc::new(self.store.snapshot(team).await.inspect_err(|_| self.forget(team))?);
        if let Some(team) = team {
            self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).insert(team.clone(), snapshot.clone());
        }
        Ok(snapshot)
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

fn reply_to(inbound: &Inbound, text: String) -> Action {
    Action::Send { room: inbound.room.clone(), message: Message::text(text), thread: inbound.thread.clone() }
}
