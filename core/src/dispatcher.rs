//! The dispatcher: from one inbound message to the actions that answer it.
//!
//! For each message it finds the room's team, parses the command against its declaration,
//! checks that the plugin is enabled and the sender allowed, runs the plugin on the team's
//! snapshot, and applies the plugin's writes together with the claim of the event and the
//! snapshot's revision in one atomic store step. When the team changed in between (another
//! replica, another command), the command runs again on a fresh snapshot; when the event was
//! claimed already (another replica, a platform retry) nothing is sent.
//!
//! The dispatcher keeps each team's latest snapshot. Using it is safe because the store refuses
//! writes decided on a stale revision, and it saves a round trip on almost every command.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Clock;
use crate::command::{CommandLine, CommandSpec, Permission, Resolve};
use crate::ids::TeamId;
use crate::ids::{Person, Transport};
use crate::message::{Action, Envelope, Inbound, Message};
use crate::plugin::{Context, Invocation, Lookup, Outcome, Place, Plugin, PluginError, Registry, Settings};
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
    /// The incident kept changing under the command.
    #[error("gave up after {0} attempts: the incident kept changing concurrently")]
    Contended(u32),
}

/// Turns inbound messages into the actions that answer them.
pub struct Dispatcher {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    teams: Teams,
    registry: Registry,
    options: DispatchOptions,
    settings: HashMap<(String, &'static str), Settings>,
    snapshots: Mutex<HashMap<TeamId, Arc<TeamSnapshot>>>,
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
            let user = crate::ids::UserRef::new(self.transport, self.transport.user_id_from_mention(mention)?);
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

/// A command that passed every check before its plugin runs.
struct Accepted<'a> {
    plugin: &'a Arc<dyn Plugin>,
    invocation: Invocation,
}

impl Dispatcher {
    /// A dispatcher over `store`, with every team's plugin settings resolved once.
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        teams: Teams,
        registry: Registry,
        options: DispatchOptions,
    ) -> Self {
        let mut settings = HashMap::new();
        for team in teams.iter() {
            for plugin in registry.plugins() {
                let configured = team.settings.get(plugin.name());
                let resolved = Settings::resolve(plugin.settings(), configured);
                settings.insert((team.id.to_string(), plugin.name()), resolved);
            }
        }
        Self { store, clock, teams, registry, options, settings, snapshots: Mutex::new(HashMap::new()) }
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
        let team = match place {
            Place::Team { team, .. } => Some(team),
            Place::Unconfigured => None,
        };
        let sender = match team {
            Some(team) => team.person(&inbound.sender, inbound.sender_name.as_deref()),
            None => {
                Person::new(inbound.sender.clone(), inbound.sender_name.clone().unwrap_or(inbound.sender.id.clone()))
            }
        };
        let claim =
            Claim { transport: inbound.transport(), event_id: inbound.event_id.clone(), ttl: self.options.claim_ttl };
        let cause = format!("{}:{}", claim.transport, claim.event_id);
        let actions = match self.accept(&line, place, &sender, inbound) {
            Ok(accepted) => self.run(accepted, place, sender, inbound, &claim, &cause).await?,
            Err(None) => return Ok(Vec::new()),
            Err(Some(refusal)) => self.claim_and(team, &claim, vec![reply_to(inbound, refusal)]).await?,
        };
        Ok(Envelope::number(&cause, actions))
    }

    /// Checks a command line before its plugin runs. `Err(Some(text))` is a refusal to send;
    /// `Err(None)` means the line is silently ignored.
    fn accept<'a>(
        &'a self,
        line: &CommandLine,
        place: Place<'_>,
        sender: &Person,
        inbound: &Inbound,
    ) -> Result<Accepted<'a>, Option<String>> {
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
        let team = match place {
            Place::Team { team, .. } => team,
            Place::Unconfigured if spec.permission == Permission::Anyone => {
                return self.parse(plugin, spec, rest, None, inbound.transport());
            }
            Place::Unconfigured => {
                return Err(Some(format!(
                    "this room is not configured for any team, so only {prefix}help works here; \
                     an admin can add it to a team's admin_rooms or public_rooms in the config"
                )));
            }
        };
        if !team.enables_by_default(plugin.name()) {
            return Err(Some(format!("plugin {} is disabled for team {}", plugin.name(), team.id)));
        }
        if !permits(spec.permission, team, sender) {
            return Err(Some(format!(
                "only {} may run {prefix}{}; you are not on team {}'s roster{}",
                spec.permission.describe(),
                spec.name(),
                team.id,
                if spec.permission == Permission::TeamAdmins { " as an admin" } else { "" },
            )));
        }
        self.parse(plugin, spec, rest, Some(team), inbound.transport())
    }

    fn parse<'a>(
        &'a self,
        plugin: &'a Arc<dyn Plugin>,
        spec: &'static CommandSpec,
        rest: &[crate::command::Token],
        team: Option<&Team>,
        transport: Transport,
    ) -> Result<Accepted<'a>, Option<String>> {
        let resolver = RoomResolver { team, transport };
        let args = spec.parse(rest, &resolver).map_err(|err| Some(self.usage_error(&err.to_string(), spec)))?;
        Ok(Accepted { plugin, invocation: Invocation { spec, args } })
    }

    fn usage_error(&self, error: &str, spec: &CommandSpec) -> String {
        format!("error: {error}; usage: {}", spec.usage(&self.options.prefix))
    }

    /// Runs the plugin and applies its outcome, retrying on concurrent changes.
    async fn run(
        &self,
        accepted: Accepted<'_>,
        place: Place<'_>,
        sender: Person,
        inbound: &Inbound,
        claim: &Claim,
        cause: &str,
    ) -> Result<Vec<Action>, DispatchError> {
        let team = match place {
            Place::Team { team, .. } => Some(team),
            Place::Unconfigured => None,
        };
        let team_id = team.map(|t| &t.id);
        let default_settings = Settings::default();
        let settings = team
            .and_then(|t| self.settings.get(&(t.id.to_string(), accepted.plugin.name())))
            .unwrap_or(&default_settings);
        let may_run = |spec: &CommandSpec| self.may_run(place, &sender, spec);
        let mut snapshot = match self.remembered(team_id) {
            Some(snapshot) => snapshot,
            None => self.read_snapshot(team_id).await?,
        };
        for _ in 0..self.options.max_attempts {
            let ctx = Context {
                cause,
                now: self.clock.now(),
                sender: sender.clone(),
                room: &inbound.room,
                thread: inbound.thread.as_deref(),
                place,
                snapshot: &snapshot,
                store: self.store.as_ref(),
                settings,
                registry: &self.registry,
                prefix: &self.options.prefix,
                may_run: &may_run,
            };
            let outcome = match accepted.plugin.run(&ctx, &accepted.invocation).await {
                Ok(outcome) => outcome,
                Err(PluginError::Usage(error)) => {
                    Outcome::act(ctx.reply(Message::text(self.usage_error(&error, accepted.invocation.spec))))
                }
                Err(PluginError::Refused(reason)) => Outcome::act(ctx.reply(Message::text(reason))),
                Err(PluginError::Store(err)) => return Err(err.into()),
            };
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
        let snapshot = self.store.snapshot(team).await.inspect_err(|_| self.forget(team))?;
        let snapshot = Arc::new(snapshot);
        if let Some(team) = team {
            self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).insert(team.clone(), snapshot.clone());
        }
        Ok(snapshot)
    }

    /// Claims the event with no writes, then returns `actions` (or none for a duplicate).
    async fn claim_and(
        &self,
        team: Option<&Team>,
        claim: &Claim,
        actions: Vec<Action>,
    ) -> Result<Vec<Action>, DispatchError> {
        match self.store.apply(team.map(|t| &t.id), Guard::claim(claim), &[]).await {
            Ok(_) => Ok(actions),
            Err(ApplyError::Duplicate) => Ok(Vec::new()),
            Err(ApplyError::Conflict(_) | ApplyError::Stale) => Ok(actions),
            Err(ApplyError::Store(err)) => Err(err.into()),
        }
    }

    /// Whether `sender` may run `spec` in a room with this place (for help listings).
    pub fn may_run(&self, place: Place<'_>, sender: &Person, spec: &CommandSpec) -> bool {
        let Some((plugin, _)) = self.registry.commands().find(|(_, s)| std::ptr::eq(*s, spec)) else {
            return false;
        };
        match place {
            Place::Unconfigured => spec.permission == Permission::Anyone,
            Place::Team { team, .. } => {
                team.enables_by_default(plugin.name()) && permits(spec.permission, team, sender)
            }
        }
    }
}

/// Whether `sender` passes `permission` in one of `team`'s rooms. The IC check needs the
/// incident, so plugins make it; here it counts as a member check.
fn permits(permission: Permission, team: &Team, sender: &Person) -> bool {
    match permission {
        Permission::Anyone | Permission::TeamRooms => true,
        Permission::TeamMembers | Permission::IncidentCoordinator => team.is_member(&sender.user),
        Permission::TeamAdmins => team.is_admin(&sender.user),
    }
}

fn reply_to(inbound: &Inbound, text: String) -> Action {
    Action::Send { room: inbound.room.clone(), message: Message::text(text), thread: inbound.thread.clone() }
}
