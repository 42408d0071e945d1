//! The plugin trait, the registry of plugins, and what a plugin sees when it runs.
//!
//! A plugin declares its commands ([`CommandSpec`]) and settings ([`SettingSpec`]); the
//! dispatcher parses and checks each command against its declaration before the plugin runs, so
//! a plugin only ever sees well-formed arguments from someone allowed to run it. The plugin reads
//! state from its [`Context`], decides, and returns an [`Outcome`]: the writes to apply atomically
//! and the actions to perform once they are applied. It never sends anything itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::command::{Args, CommandSpec, Token};
use crate::ids::{Person, RoomRef};
use crate::incident::Incident;
use crate::message::{Action, Message};
use crate::store::{Store, StoreError, TeamSnapshot, Write};
use crate::team::{RoomRole, SettingValue, Team};

/// The type of a plugin setting's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKind {
    /// A duration such as `30m` or `1h 30m`.
    Duration,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Bool,
    /// Any text.
    Text,
}

impl SettingKind {
    /// Checks `value`; the error says what was expected.
    pub fn check(self, value: &str) -> Result<(), String> {
        let ok = match self {
            SettingKind::Duration => humantime::parse_duration(value).is_ok(),
            SettingKind::Integer => value.parse::<i64>().is_ok(),
            SettingKind::Bool => value == "true" || value == "false",
            SettingKind::Text => true,
        };
        if ok { Ok(()) } else { Err(format!("expected {}, got {value:?}", self.describe())) }
    }

    /// What a value looks like, for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            SettingKind::Duration => "a duration like 30m or 1h",
            SettingKind::Integer => "a whole number",
            SettingKind::Bool => "true or false",
            SettingKind::Text => "text",
        }
    }
}

/// The declaration of one per-team plugin setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    /// The key, as written in the config (`handoff_offer_ttl`).
    pub key: &'static str,
    /// The value's type.
    pub kind: SettingKind,
    /// The default value, as text.
    pub default: &'static str,
    /// One sentence saying what it changes.
    pub description: &'static str,
}

/// A plugin's effective settings for one team: declared defaults, overridden by the config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    values: BTreeMap<&'static str, String>,
}

impl Settings {
    /// The effective settings from the declarations and the team's configured values. Values
    /// that do not fit their declaration are ignored here (the config loader refuses them).
    pub fn resolve(specs: &'static [SettingSpec], configured: Option<&BTreeMap<String, SettingValue>>) -> Self {
        let values = specs
            .iter()
            .map(|spec| {
                let value = configured
                    .and_then(|values| values.get(spec.key))
                    .map(SettingValue::to_string)
                    .filter(|value| spec.kind.check(value).is_ok())
                    .unwrap_or_else(|| spec.default.to_owned());
                (spec.key, value)
            })
            .collect();
        Self { values }
    }

    /// A setting as text.
    pub fn text(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or_default()
    }

    /// A duration setting (zero when undeclared).
    pub fn duration(&self, key: &str) -> Duration {
        humantime::parse_duration(self.text(key)).unwrap_or_default()
    }

    /// A whole-number setting (zero when undeclared).
    pub fn integer(&self, key: &str) -> i64 {
        self.text(key).parse().unwrap_or_default()
    }

    /// A boolean setting (false when undeclared).
    pub fn flag(&self, key: &str) -> bool {
        self.text(key) == "true"
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
#[derive(Debug, Clone, Copy)]
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
    /// The room's team, if any.
    pub place: Place<'a>,
    /// The team's open incidents, read just before the plugin runs.
    pub snapshot: &'a TeamSnapshot,
    /// The store, for reads beyond the snapshot. Writes go in the [`Outcome`].
    pub store: &'a dyn Store,
    /// The plugin's settings for this team.
    pub settings: &'a Settings,
    /// Every plugin and command, for help.
    pub registry: &'a Registry,
    /// The command prefix (`!`).
    pub prefix: &'a str,
    /// Whether the sender may run a command; used by help to list only what applies.
    pub may_run: &'a (dyn Fn(&CommandSpec) -> bool + Send + Sync),
}

impl Context<'_> {
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

    /// The open incidents that may be shown in this room.
    pub fn visible_open_incidents(&self) -> impl Iterator<Item = &Incident> {
        let public = self.is_public_room();
        self.snapshot.open.iter().filter(move |incident| !public || incident.is_public())
    }

    /// A reply in the room (and thread) the command came from.
    pub fn reply(&self, message: Message) -> Action {
        Action::Send { room: self.room.clone(), message, thread: self.thread.map(str::to_owned) }
    }
}

/// What a plugin decided: writes to apply atomically, then actions to perform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// State changes, applied all together or not at all.
    pub writes: Vec<Write>,
    /// What to do on the chat platforms once the writes are applied.
    pub actions: Vec<Action>,
}

impl Outcome {
    /// An outcome with one action and no writes.
    pub fn act(action: Action) -> Self {
        Self { writes: Vec::new(), actions: vec![action] }
    }

    /// Adds a write.
    pub fn write(mut self, write: Write) -> Self {
        self.writes.push(write);
        self
    }

    /// Adds an action.
    pub fn and(mut self, action: Action) -> Self {
        self.actions.push(action);
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
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A set of commands for Firebell, switched on and off per team.
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
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

    /// Runs one command.
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError>;
}

/// The error for two plugins claiming the same command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("command {command:?} is declared by both {first} and {second}")]
pub struct DuplicateCommand {
    /// The command's name.
    pub command: String,
    /// The plugin registered first.
    pub first: &'static str,
    /// The plugin registered second.
    pub second: &'static str,
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

/// Every plugin the bot has, in registration order.
#[derive(Clone, Default)]
pub struct Registry {
    plugins: Vec<Arc<dyn Plugin>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a plugin; refuses it when one of its commands is taken.
    pub fn register(&mut self, plugin: Arc<dyn Plugin>) -> Result<(), DuplicateCommand> {
        for spec in plugin.commands() {
            if let Some((owner, _)) = self.commands().find(|(_, s)| s.word == spec.word && s.sub == spec.sub) {
                return Err(DuplicateCommand { command: spec.name(), first: owner.name(), second: plugin.name() });
            }
        }
        self.plugins.push(plugin);
        Ok(())
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

    #[async_trait]
    impl Plugin for Fake {
        fn name(&self) -> &'static str {
            self.0
        }
        fn description(&self) -> &'static str {
            "fake"
        }
        fn commands(&self) -> &'static [CommandSpec] {
            self.1
        }
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
    fn two_plugins_cannot_share_a_command() {
        let mut registry = registry();
        let err = registry.register(Arc::new(Fake("copy", &IC))).unwrap_err();
        assert_eq!(err.first, "ic");
        assert_eq!(err.second, "copy");
    }

    #[test]
    fn settings_fall_back_to_declared_defaults() {
        static SPECS: [SettingSpec; 2] = [
            SettingSpec { key: "ttl", kind: SettingKind::Duration, default: "10m", description: "x" },
            SettingSpec { key: "loud", kind: SettingKind::Bool, default: "false", description: "x" },
        ];
        let configured = BTreeMap::from([("loud".to_owned(), SettingValue::Bool(true))]);
        let settings = Settings::resolve(&SPECS, Some(&configured));
        assert_eq!(settings.duration("ttl"), Duration::from_secs(600));
        assert!(settings.flag("loud"));
        assert_eq!(
            SettingKind::Duration.check("soon").unwrap_err(),
            "expected a duration like 30m or 1h, got \"soon\""
        );
    }
}
