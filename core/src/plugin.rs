//! The plugin trait, the registry of plugins, and what a plugin sees when it runs.
//!
//! A plugin declares its commands ([`CommandSpec`]) and settings ([`SettingSpec`]); the
//! dispatcher parses and checks each command against its declaration before the plugin runs, so
//! a plugin only ever sees well-formed arguments from someone allowed to run it. The plugin reads
//! its state through its [`Context`], decides, and returns an [`Outcome`]: the writes to apply
//! atomically and the actions to perform once they are applied. It never sends anything itself.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::command::{Args, CommandSpec, Token};
use crate::ids::{Person, RoomRef};
use crate::job::{Job, JobData};
use crate::message::{Action, Message};
use crate::state::{Change, Choices, FRAMEWORK, Reads, Record, RoomOwner, State};
use crate::store::{StoreError, Write};
use crate::team::{RoomRole, Team, Teams};

pub use crate::settings::{SettingKind, SettingSource, SettingSpec, Settings};

impl Settings {
    /// The effective settings of `plugin` for `team`, given the choices made in chat.
    pub fn of(plugin: &dyn Plugin, team: &Team, choices: &Choices) -> Self {
        let chosen = choices.get(plugin.name()).map(|choice| &choice.settings);
        Self::resolve(plugin.settings(), Some(team), team.settings.get(plugin.name()), chosen)
    }
}

/// A parsed command, ready for its plugin.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The declaration it matched.
    pub spec: &'static CommandSpec,
    /// The arguments.
    pub args: Args,
}

impl Invocation {
    /// The command's name: `incident declare`.
    pub fn name(&self) -> String {
        self.spec.name()
    }
}

/// Where a command was given.
#[derive(Debug, Clone)]
pub enum Place<'a> {
    /// In one of a team's rooms.
    Team {
        /// The team.
        team: &'a Team,
        /// What the room is for.
        role: RoomRole,
    },
    /// In a room that belongs to no team.
    Unconfigured,
}

/// Everything a plugin may look at while it runs one command.
pub struct Context<'a> {
    /// The command's cause: `transport:event id`, stable across retries and replicas.
    pub cause: &'a str,
    /// The time of the command, from the bot's clock.
    pub now: DateTime<Utc>,
    /// Who sent it.
    pub sender: Person,
    /// Where.
    pub room: &'a RoomRef,
    /// The thread it was sent in, if any.
    pub thread: Option<&'a str>,
    /// The files that came with the command (an upload captioned with it).
    pub attachments: &'a [crate::message::Attachment],
    /// The room's team, if any.
    pub place: Place<'a>,
    /// The plugin's own state for the room's team.
    pub state: State<'a>,
    /// Every read of this command (for other namespaces: see [`Context::state_of`]).
    pub reads: &'a Reads<'a>,
    /// The plugin choices the team's admins made in chat.
    pub choices: &'a Choices,
    /// The plugin's settings for this team.
    pub settings: &'a Settings,
    /// Every plugin and command, for help.
    pub registry: &'a Registry,
    /// Every team, for commands that reach across teams.
    pub teams: &'a Teams,
    /// Whether the sender administers the room's team (roster admin or platform admin).
    pub sender_is_admin: bool,
    /// The command prefix (`!`).
    pub prefix: &'a str,
    /// The public base URL of the bot's HTTP server, without a trailing `/`, for links to the
    /// pages plugins serve; empty when the operator set none (`[http] public_url`).
    pub web_url: &'a str,
    /// Makes and checks signed links to pages that are not public.
    pub links: &'a WebLinks,
    /// Whether the sender may run a command; used by help to list only what applies.
    pub may_run: &'a (dyn Fn(&CommandSpec) -> bool + Send + Sync),
}

impl<'a> Context<'a> {
    /// The room's team, if it has one.
    pub fn team(&self) -> Option<&Team> {
        match self.place {
            Place::Team { team, .. } => Some(team),
            Place::Unconfigured => None,
        }
    }

    /// The room's team; a refusal when the room has none.
    pub fn require_team(&self) -> Result<&Team, PluginError> {
        self.team().ok_or_else(|| PluginError::Refused("this room belongs to no team".into()))
    }

    /// Whether this is a public room, where security incidents must never show.
    pub fn is_public_room(&self) -> bool {
        matches!(self.place, Place::Team { role: RoomRole::Public, .. })
    }

    /// What this room is about, if a plugin made it for one subject (an incident's room).
    pub fn room_subject(&self) -> Option<&str> {
        match &self.place {
            Place::Team { role: RoomRole::Subject(owner), .. } => Some(&owner.subject),
            _ => None,
        }
    }

    /// Another namespace of the team's state (another plugin's, through that plugin's API).
    pub fn state_of(&self, namespace: &'a str) -> State<'a> {
        State::new(self.reads, namespace)
    }

    /// A reply in the room (and thread) the command came from.
    pub fn reply(&self, message: Message) -> Action {
        Action::Send { room: self.room.clone(), message, thread: self.thread.map(str::to_owned) }
    }

    /// The change that schedules the plugin's job of kind `J` about `subject` (see
    /// [`State::schedule`]).
    pub fn schedule<J: JobData>(&self, subject: &str, due: DateTime<Utc>, data: &J) -> Change {
        self.state.schedule(subject, due, data)
    }

    /// The change that cancels the plugin's job of kind `J` about `subject`.
    pub fn cancel<J: JobData>(&self, subject: &str) -> Change {
        self.state.cancel::<J>(subject)
    }
}

/// What a plugin sees when it runs a job or handles an event: its team and the team's state, but
/// no sender and no room.
pub struct TeamContext<'a> {
    /// What is being done: `job:<id>:<token>` or the event's id; stable across retries.
    pub cause: &'a str,
    /// The time, from the bot's clock.
    pub now: DateTime<Utc>,
    /// The team.
    pub team: &'a Team,
    /// The plugin's own state for the team.
    pub state: State<'a>,
    /// Every read of this run (for other namespaces: see [`TeamContext::state_of`]).
    pub reads: &'a Reads<'a>,
    /// The plugin's settings for this team.
    pub settings: &'a Settings,
    /// Every team.
    pub teams: &'a Teams,
    /// The command prefix (`!`), for messages that suggest commands.
    pub prefix: &'a str,
    /// The public base URL of the bot's HTTP server, without a trailing `/`, for links to the
    /// pages plugins serve; empty when the operator set none (`[http] public_url`).
    pub web_url: &'a str,
    /// Makes and checks signed links to pages that are not public.
    pub links: &'a WebLinks,
}

impl<'a> TeamContext<'a> {
    /// Another namespace of the team's state.
    pub fn state_of(&self, namespace: &'a str) -> State<'a> {
        State::new(self.reads, namespace)
    }

    /// `message` posted in each of the team's admin rooms.
    pub fn tell_admin_rooms(&self, message: &Message) -> Vec<Action> {
        let post = |room: &RoomRef| Action::Send { room: room.clone(), message: message.clone(), thread: None };
        self.team.admin_rooms.iter().map(post).collect()
    }

    /// The change that schedules the plugin's job of kind `J` about `subject` (see
    /// [`State::schedule`]).
    pub fn schedule<J: JobData>(&self, subject: &str, due: DateTime<Utc>, data: &J) -> Change {
        self.state.schedule(subject, due, data)
    }

    /// The change that cancels the plugin's job of kind `J` about `subject`.
    pub fn cancel<J: JobData>(&self, subject: &str) -> Change {
        self.state.cancel::<J>(subject)
    }
}

/// The framework's own records of the team (plugin choices, room owners).
pub fn framework_state<'a>(reads: &'a Reads<'a>) -> State<'a> {
    State::new(reads, FRAMEWORK)
}

/// Something that happened outside the chat (an alert from Alertmanager), for one plugin of one
/// team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// A stable id: the same happening always has the same id, so that a retried delivery is
    /// handled once.
    pub id: String,
    /// The team it is for.
    pub team: crate::ids::TeamId,
    /// The plugin that handles it.
    pub plugin: String,
    /// What kind of event it is, for the plugin (`alert`).
    pub kind: String,
    /// The event's data, usually JSON.
    pub data: String,
}

/// What a plugin decided: changes to apply atomically, then actions to perform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// State changes, applied all together or not at all.
    pub writes: Vec<Change>,
    /// What to do on the chat platforms once the writes are applied.
    pub actions: Vec<Action>,
}

impl Outcome {
    /// An outcome with one action and no writes.
    pub fn act(action: Action) -> Self {
        Self { writes: Vec::new(), actions: vec![action] }
    }

    /// Adds a change.
    pub fn write(mut self, change: Change) -> Self {
        self.writes.push(change);
        self
    }

    /// Adds changes.
    pub fn writes(mut self, changes: impl IntoIterator<Item = Change>) -> Self {
        self.writes.extend(changes);
        self
    }

    /// Adds an action.
    pub fn and(mut self, action: Action) -> Self {
        self.actions.push(action);
        self
    }

    /// Adds actions.
    pub fn and_all(mut self, actions: impl IntoIterator<Item = Action>) -> Self {
        self.actions.extend(actions);
        self
    }
}

/// Why a plugin did not produce an outcome.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The arguments do not make sense; the reply adds the command's usage.
    #[error("{0}")]
    Usage(String),
    /// The command is understood but refused (not allowed now, nothing to act on).
    #[error("{0}")]
    Refused(String),
    /// It cannot be done now, but can later (an outside service is away): a job is run again
    /// after a growing pause (counted in `firebell_jobs_retried_total`), a command's sender is
    /// told to try again. Nothing was applied.
    #[error("{reason}")]
    Retry {
        /// Why, for the log and the sender.
        reason: String,
        /// How long to wait at least; `None` for the framework's backoff.
        after: Option<std::time::Duration>,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::job::JobDataError> for PluginError {
    /// A job whose data does not read as its kind is refused (and dropped): a plugin's bug, or
    /// data written by an incompatible version.
    fn from(err: crate::job::JobDataError) -> Self {
        PluginError::Refused(err.to_string())
    }
}

/// Whether `plugin` is enabled for `team`: what the team's admins chose in chat, else the config
/// file. Plugins that cannot be disabled always are.
pub fn is_enabled(plugin: &dyn Plugin, team: &Team, choices: &Choices) -> bool {
    if !plugin.can_be_disabled() {
        return true;
    }
    let chosen = choices.get(plugin.name()).and_then(|choice| choice.enabled);
    chosen.unwrap_or_else(|| team.enables_by_default(plugin.name()))
}

/// What a plugin is: its name, what it is for, its commands and settings. Usually derived:
/// `#[derive(PluginInfo)] #[plugin(name = "echo", commands = EchoCommand)]` on the plugin's
/// type, whose doc comment is its description (see [`crate::declare`]).
pub trait PluginInfo {
    /// The plugin's name, as used in `!plugins enable <name>` and the config.
    fn name(&self) -> &'static str;

    /// One sentence saying what the plugin is for.
    fn description(&self) -> &'static str;

    /// The commands it handles. Each (word, sub) pair must be unique across plugins.
    fn commands(&self) -> &'static [CommandSpec];

    /// The per-team settings it reads.
    fn settings(&self) -> &'static [SettingSpec] {
        &[]
    }

    /// Whether a team admin may switch it off.
    fn can_be_disabled(&self) -> bool {
        true
    }

    /// The kinds of records it keeps, for `firebell migrate` (declared with
    /// `#[plugin(records = [Window, Drill])]`).
    fn records(&self) -> &'static [crate::state::RecordType] {
        &[]
    }

    /// The streams of its namespace (by name prefix, `timeline:`) that other plugins may append
    /// to and trim, through the functions this plugin's crate exports. Everything else of its
    /// namespace only the plugin itself may change.
    fn shared_streams(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A set of commands for Firebell, switched on and off per team.
///
/// The contract: declare commands and settings (see [`PluginInfo`] and [`crate::declare`]); in
/// [`Plugin::run`], read from the [`Context`] (the plugin's state, the clock, the settings),
/// decide, and return an [`Outcome`]. Never write to the store
/// or send anything directly: the dispatcher applies the outcome's writes atomically (running
/// the command again on fresh state if what it read changed meanwhile, so `run` must be free of
/// side effects) and then performs its actions. Return [`PluginError::Usage`] for arguments
/// that make no sense (the usage line is added) and [`PluginError::Refused`] for a well-formed
/// command that cannot be done now.
///
/// Small examples live in `examples/`; `plugins/oncall` and `plugins/status` are real ones.
///
/// ```
/// use firebell_core::async_trait;
/// use firebell_core::declare::{Command, PluginInfo};
/// use firebell_core::message::Message;
/// use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};
///
/// /// Says things back.
/// #[derive(PluginInfo)]
/// #[plugin(name = "echo", commands = Echo)]
/// struct EchoPlugin;
///
/// /// Says the text back.
/// #[derive(Command)]
/// #[command(word = "echo", permission = TeamRooms)]
/// struct Echo {
///     #[arg(text)]
///     text: String,
/// }
///
/// #[async_trait]
/// impl Plugin for EchoPlugin {
///     async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
///         let Echo { text } = command.parse()?;
///         Ok(Outcome::act(ctx.reply(Message::text(text))))
///     }
/// }
/// ```
#[async_trait]
pub trait Plugin: PluginInfo + Send + Sync + 'static {
    /// Runs one command.
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError>;

    /// Runs one of the plugin's jobs, when it is due. Like `run`, it only decides: the
    /// scheduler applies the writes (which may schedule the next job) and sends the actions,
    /// once, even if a replica dies on the way.
    async fn run_job(&self, ctx: &TeamContext<'_>, job: &Job) -> Result<Outcome, PluginError> {
        let _ = (ctx, job);
        Ok(Outcome::default())
    }

    /// Handles an event addressed to this plugin: from outside the chat (an alert), or telling
    /// how one of its actions went (a room created, a service's answer), or, for a plugin that
    /// [hears the start](Plugin::hears_start), an event of kind [`STARTED`].
    async fn on_event(&self, ctx: &TeamContext<'_>, event: &Event) -> Result<Outcome, PluginError> {
        let _ = (ctx, event);
        Ok(Outcome::default())
    }

    /// Whether each replica, when it starts, sends this plugin an event of kind [`STARTED`] for
    /// every team it is enabled for (to schedule timed work that follows the configuration, such
    /// as an on-call schedule's notices). Replicas start at any time, so handling it twice must
    /// change nothing the first did not.
    fn hears_start(&self) -> bool {
        false
    }

    /// Checks the plugin's `[teams.config.<name>]` table of `team` when the bot starts; the
    /// error is one line saying what was expected. Plugins that take no table refuse one.
    fn check_config(&self, team: &Team, config: &serde_json::Value) -> Result<(), String> {
        let _ = (team, config);
        Err("this plugin takes no configuration table".to_owned())
    }

    /// The HTTP path prefixes the plugin serves `GET` requests under (`"/oncall/"`). The segment
    /// after a prefix, up to the next `/` or `.`, names the team: `/oncall/wmcs.ics`.
    fn web_paths(&self) -> &'static [&'static str] {
        &[]
    }

    /// The web path prefix whose team page is also served at `/` (and its sub-paths, such as
    /// `/api/v2/summary.json`) when the bot serves one team: the status page.
    fn web_root(&self) -> Option<&'static str> {
        None
    }

    /// Answers a `GET` request under one of its [`web_paths`](Plugin::web_paths), for a team it
    /// is enabled for. It reads, and changes nothing.
    async fn serve(&self, ctx: &TeamContext<'_>, request: &WebRequest) -> Result<WebResponse, PluginError> {
        let _ = (ctx, request);
        Ok(WebResponse::not_found())
    }
}

/// The kind of the event a starting replica sends each plugin that [hears the
/// start](Plugin::hears_start), once per team.
pub const STARTED: &str = "started";

/// A `GET` request for a plugin's web path.
#[derive(Debug, Clone, Default)]
pub struct WebRequest {
    /// The whole path: `/oncall/wmcs/alice.ics`.
    pub path: String,
    /// What follows the team's segment: `/alice.ics`, `.ics`, or empty.
    pub rest: String,
    /// The query's pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Who a trusted reverse proxy says is asking (`[http] trusted_user_header`): a roster name
    /// or an account (`matrix:@alice:example.org`); `None` without such a proxy.
    pub user: Option<String>,
}

impl WebRequest {
    /// The first value of the query parameter `name`.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

/// A plugin's answer to a [`WebRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type`.
    pub content_type: String,
    /// More headers (`Cache-Control`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl WebResponse {
    /// A 200 answer of `content_type`.
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self { status: 200, content_type: content_type.to_owned(), headers: Vec::new(), body: body.into() }
    }

    /// A 404 that reveals nothing: the same for an unknown team, a disabled plugin, a wrong token.
    pub fn not_found() -> Self {
        Self::text(404, "not found\n")
    }

    /// A plain-text answer with `status`.
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, ..Self::ok("text/plain; charset=utf-8", body) }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// Why a plugin cannot join a registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Two plugins declare the same command.
    #[error("command {command:?} is declared by both {first} and {second}")]
    DuplicateCommand {
        /// The command's name.
        command: String,
        /// The plugin registered first.
        first: &'static str,
        /// The plugin registered second.
        second: &'static str,
    },
    /// A plugin of that name is registered already.
    #[error("two plugins are called {0}")]
    DuplicateName(&'static str),
    /// A setting's declared default does not fit its own declaration.
    #[error("plugin {plugin}: the default of setting {key} does not fit: {reason}")]
    BadDefault {
        /// The plugin.
        plugin: &'static str,
        /// The setting.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The name belongs to the bot itself (see [`DELIVERY_WATCHDOG`](crate::job::DELIVERY_WATCHDOG)
    /// and [`FRAMEWORK`]).
    #[error("the plugin name {0} is reserved for the bot")]
    ReservedName(&'static str),
}

/// What a command word leads to.
pub enum Lookup<'r, 't> {
    /// A command; `rest` are the words after its name.
    Found {
        /// The plugin handling it.
        plugin: &'r Arc<dyn Plugin>,
        /// Its declaration.
        spec: &'static CommandSpec,
        /// The words after the command name.
        rest: &'t [Token],
    },
    /// The word has subcommands and none of them was given.
    UnknownSub {
        /// The subcommands there are.
        subs: Vec<&'static str>,
    },
    /// No plugin has this word.
    Unknown,
}

/// One slash command as a platform (Slack) registers it: one per command word, with every
/// subcommand in its usage hint. Generated from the declarations, like parsing and help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlashCommand {
    /// The command with its slash: `/incident`.
    pub command: String,
    /// What it is for.
    pub description: String,
    /// The arguments it takes: `declare <title> [--user-facing] … | update [ID] <text> | …`.
    pub usage_hint: String,
}

/// Why a plugin's change was refused: it reaches outside the plugin's namespace (see
/// [`Registry::permits`]). A plugin's bug, not its user's: nothing of its outcome is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin {plugin} may not {what}")]
pub struct NamespaceError {
    /// The plugin that decided the change.
    pub plugin: String,
    /// What it tried: `write record sal/entry/"3"`, `cancel job incident:3:remind`.
    pub what: String,
}

/// Every plugin the bot has, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: Vec<Arc<dyn Plugin>>,
    /// The plugins that administer the bot itself (`admin`): they may change the framework's
    /// records (a team's plugin choices) and cancel any plugin's jobs.
    trusted: Vec<&'static str>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin; refuses it when its name or one of its commands is taken.
    pub fn register(&mut self, plugin: Arc<dyn Plugin>) -> Result<(), RegisterError> {
        let name = plugin.name();
        if name == crate::job::DELIVERY_WATCHDOG || name == FRAMEWORK {
            return Err(RegisterError::ReservedName(name));
        }
        if self.plugin(name).is_some() {
            return Err(RegisterError::DuplicateName(name));
        }
        for spec in plugin.settings() {
            if let SettingKind::Member = spec.kind {
                continue;
            }
            spec.kind.check(spec.default, None).map_err(|reason| RegisterError::BadDefault {
                plugin: name,
                key: spec.key,
                reason,
            })?;
        }
        for spec in plugin.commands() {
            if let Some((owner, _)) = self.commands().find(|(_, s)| s.word == spec.word && s.sub == spec.sub) {
                return Err(RegisterError::DuplicateCommand {
                    command: spec.name(),
                    first: owner.name(),
                    second: name,
                });
            }
        }
        self.plugins.push(plugin);
        Ok(())
    }

    /// Adds a plugin that administers the bot itself (see [`Registry::permits`]): only the
    /// binary's own `admin` plugin should be.
    pub fn register_trusted(&mut self, plugin: Arc<dyn Plugin>) -> Result<(), RegisterError> {
        let name = plugin.name();
        self.register(plugin)?;
        self.trusted.push(name);
        Ok(())
    }

    /// Whether `plugin` may make `change`. A plugin changes its own namespace (records,
    /// streams) and its own jobs (ids starting with its name and `:`); in another plugin's
    /// namespace it may only append to and trim the streams that plugin shares
    /// ([`PluginInfo::shared_streams`]), through that plugin crate's functions; in the
    /// framework's, only the rooms it made ([`RoomOwner`] records naming it, and their removal). A trusted plugin (`admin`) may also
    /// change the framework's records and cancel any job.
    pub fn permits(&self, plugin: &str, change: &Change) -> Result<(), NamespaceError> {
        let trusted = self.trusted.contains(&plugin);
        let own_job = |id: &str| id.strip_prefix(plugin).is_some_and(|rest| rest.starts_with(':'));
        let refuse = |what: String| Err(NamespaceError { plugin: plugin.to_owned(), what });
        match change.write() {
            Write::Put { namespace, .. } | Write::Remove { namespace, .. } if namespace == plugin => Ok(()),
            Write::Put { namespace, record } if namespace == FRAMEWORK => {
                let own_room = record.kind == RoomOwner::KIND
                    && serde_json::from_str::<RoomOwner>(&record.data).is_ok_and(|owner| owner.plugin == plugin);
                if own_room || trusted {
                    Ok(())
                } else {
                    refuse(format!("write record {namespace}/{}/{:?}", record.kind, record.id))
                }
            }
            Write::Put { namespace, record } => {
                refuse(format!("write record {namespace}/{}/{:?}", record.kind, record.id))
            }
            // A room's ownership ends with its subject (a resolved incident's room).
            Write::Remove { namespace, kind, .. } if namespace == FRAMEWORK && kind == RoomOwner::KIND => Ok(()),
            Write::Remove { namespace, kind, id } => refuse(format!("remove record {namespace}/{kind}/{id:?}")),
            Write::Append { namespace, stream, .. } | Write::Trim { namespace, stream, .. } => {
                let shared = self
                    .plugin(namespace)
                    .is_some_and(|owner| owner.shared_streams().iter().any(|prefix| stream.starts_with(prefix)));
                if namespace == plugin || shared || (trusted && namespace == FRAMEWORK) {
                    Ok(())
                } else {
                    refuse(format!("write to stream {namespace}/{stream}"))
                }
            }
            Write::Schedule(job) if job.plugin == plugin && own_job(&job.id) => Ok(()),
            Write::Schedule(job) => refuse(format!("schedule job {} of plugin {}", job.id, job.plugin)),
            Write::Cancel(id) if own_job(id) || trusted => Ok(()),
            Write::Cancel(id) => refuse(format!("cancel job {id}")),
            other => refuse(format!("make the framework's own write {other:?}")),
        }
    }

    /// Whether the plugin called `name` was registered as trusted.
    pub fn is_trusted(&self, name: &str) -> bool {
        self.trusted.contains(&name)
    }

    /// Every plugin.
    pub fn plugins(&self) -> &[Arc<dyn Plugin>] {
        &self.plugins
    }

    /// The plugin called `name`.
    pub fn plugin(&self, name: &str) -> Option<&Arc<dyn Plugin>> {
        self.plugins.iter().find(|p| p.name() == name)
    }

    /// Every command with its plugin.
    pub fn commands(&self) -> impl Iterator<Item = (&Arc<dyn Plugin>, &'static CommandSpec)> {
        self.plugins.iter().flat_map(|plugin| plugin.commands().iter().map(move |spec| (plugin, spec)))
    }

    /// One slash command per command word, for platforms that register them (Slack's manifest).
    pub fn slash_commands(&self) -> Vec<SlashCommand> {
        let mut words: Vec<(&'static str, &Arc<dyn Plugin>)> = Vec::new();
        for (plugin, spec) in self.commands() {
            if !words.iter().any(|(word, _)| *word == spec.word) {
                words.push((spec.word, plugin));
            }
        }
        words
            .into_iter()
            .map(|(word, plugin)| {
                let specs: Vec<&CommandSpec> = self.commands().map(|(_, s)| s).filter(|s| s.word == word).collect();
                let bare = specs.iter().find(|s| s.sub.is_none());
                let description = bare.map_or(plugin.description(), |s| s.summary).to_owned();
                let hints: Vec<String> = specs
                    .iter()
                    .map(|s| s.usage("").trim_start_matches(word).trim().to_owned())
                    .filter(|hint| !hint.is_empty())
                    .collect();
                SlashCommand { command: format!("/{word}"), description, usage_hint: hints.join(" | ") }
            })
            .collect()
    }

    /// Finds the command for `word` followed by `tokens`: a subcommand when the first token
    /// names one, else the bare word.
    pub fn find<'r, 't>(&'r self, word: &str, tokens: &'t [Token]) -> Lookup<'r, 't> {
        let sub = tokens.first().filter(|t| !t.quoted).map(|t| t.text.to_lowercase());
        let mut bare = None;
        let mut subs = Vec::new();
        for (plugin, spec) in self.commands().filter(|(_, spec)| spec.word == word) {
            match spec.sub {
                Some(name) if sub.as_deref() == Some(name) => {
                    return Lookup::Found { plugin, spec, rest: &tokens[1..] };
                }
                Some(name) => subs.push(name),
                None => bare = Some((plugin, spec)),
            }
        }
        match bare {
            Some((plugin, spec)) if tokens.is_empty() || subs.is_empty() || !spec.params.is_empty() => {
                Lookup::Found { plugin, spec, rest: tokens }
            }
            _ if !subs.is_empty() => Lookup::UnknownSub { subs },
            _ => Lookup::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{Param, Permission, tokenize};

    struct Fake(&'static str, &'static [CommandSpec]);

    impl PluginInfo for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn description(&self) -> &'static str {
            "fake"
        }
        fn commands(&self) -> &'static [CommandSpec] {
            self.1
        }
    }

    #[async_trait]
    impl Plugin for Fake {
        async fn run(&self, _: &Context<'_>, _: &Invocation) -> Result<Outcome, PluginError> {
            Ok(Outcome::default())
        }
    }

    const fn spec(word: &'static str, sub: Option<&'static str>, params: &'static [Param]) -> CommandSpec {
        CommandSpec { word, sub, params, summary: "x", permission: Permission::Anyone }
    }

    static IC: [CommandSpec; 2] = [spec("ic", None, &[]), spec("ic", Some("accept"), &[])];
    static PAGE: [CommandSpec; 2] =
        [spec("page", None, &[Param::user("user").required()]), spec("page", Some("falsealarm"), &[])];

    fn registry() -> Registry {
        let mut registry = Registry::new();
        registry.register(Arc::new(Fake("ic", &IC))).unwrap();
        registry.register(Arc::new(Fake("page", &PAGE))).unwrap();
        registry
    }

    fn found(registry: &Registry, word: &str, line: &str) -> Option<String> {
        match registry.find(word, &tokenize(line)) {
            Lookup::Found { spec, .. } => Some(spec.name()),
            Lookup::UnknownSub { subs } => Some(format!("subs: {}", subs.join(","))),
            Lookup::Unknown => None,
        }
    }

    #[test]
    fn subcommands_win_over_the_bare_word() {
        let registry = registry();
        assert_eq!(found(&registry, "ic", "").as_deref(), Some("ic"));
        assert_eq!(found(&registry, "ic", "Accept").as_deref(), Some("ic accept"));
        assert_eq!(found(&registry, "ic", "grab").as_deref(), Some("subs: accept"));
        assert_eq!(found(&registry, "page", "@bob wake up").as_deref(), Some("page"));
        assert_eq!(found(&registry, "page", "falsealarm").as_deref(), Some("page falsealarm"));
        assert_eq!(found(&registry, "nope", ""), None);
    }

    #[test]
    fn slash_commands_come_from_the_declarations() {
        let slash = registry().slash_commands();
        assert_eq!(
            slash,
            [
                SlashCommand { command: "/ic".into(), description: "x".into(), usage_hint: "accept".into() },
                SlashCommand {
                    command: "/page".into(),
                    description: "x".into(),
                    usage_hint: "@user | falsealarm".into()
                },
            ]
        );
    }

    #[test]
    fn two_plugins_cannot_share_a_command() {
        let mut registry = registry();
        let err = registry.register(Arc::new(Fake("copy", &IC))).unwrap_err();
        assert_eq!(err, RegisterError::DuplicateCommand { command: "ic".into(), first: "ic", second: "copy" });
        let err = registry.register(Arc::new(Fake("ic", &[]))).unwrap_err();
        assert_eq!(err.to_string(), "two plugins are called ic");
        let err = registry.register(Arc::new(Fake(crate::job::DELIVERY_WATCHDOG, &[]))).unwrap_err();
        assert_eq!(err, RegisterError::ReservedName("firebell.delivery"));
    }
}

/// Signed, expiring links to pages that are not public (an incident's live status doc): made
/// and checked with a key only the replicas hold (`[http] link_secret`), without a store read.
/// Without a key or a public URL, no link is made and every link is refused.
#[derive(Clone, Default)]
pub struct WebLinks {
    base: String,
    key: Option<Vec<u8>>,
}

impl std::fmt::Debug for WebLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebLinks").field("base", &self.base).field("key", &self.key.as_ref().map(|_| "…")).finish()
    }
}

impl WebLinks {
    /// Links under `base` (the public URL), signed with `key`.
    pub fn new(base: &str, key: Option<&[u8]>) -> Self {
        Self { base: base.trim_end_matches('/').to_owned(), key: key.filter(|key| !key.is_empty()).map(<[u8]>::to_vec) }
    }

    fn mac(&self, path: &str, expires: i64) -> Option<hmac::Hmac<sha2::Sha256>> {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.key.as_deref()?).ok()?;
        mac.update(path.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        Some(mac)
    }

    /// A link to `path` that works until `now + valid_for`; `None` without a key or a public URL.
    pub fn signed(&self, path: &str, now: DateTime<Utc>, valid_for: std::time::Duration) -> Option<String> {
        use hmac::Mac;
        if self.base.is_empty() {
            return None;
        }
        let expires = now.timestamp().saturating_add(i64::try_from(valid_for.as_secs()).unwrap_or(i64::MAX / 2));
        let signature = self.mac(path, expires)?.finalize().into_bytes();
        let hex: String = signature.iter().map(|b| format!("{b:02x}")).collect();
        Some(format!("{}{path}?expires={expires}&sig={hex}", self.base))
    }

    /// Whether `request` carries a valid, unexpired signature of its path.
    pub fn verify(&self, request: &WebRequest, now: DateTime<Utc>) -> bool {
        use hmac::Mac;
        let (Some(expires), Some(signature)) = (request.query("expires"), request.query("sig")) else { return false };
        let Ok(expires) = expires.parse::<i64>() else { return false };
        let bytes: Option<Vec<u8>> = (0..signature.len())
            .step_by(2)
            .map(|i| signature.get(i..i + 2).and_then(|pair| u8::from_str_radix(pair, 16).ok()))
            .collect();
        match (bytes, self.mac(&request.path, expires)) {
            (Some(bytes), Some(mac)) => expires > now.timestamp() && mac.verify_slice(&bytes).is_ok(),
            _ => false,
        }
    }
}
