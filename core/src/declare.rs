//! Typed declarations: a plugin declares each command as a struct of its arguments and its
//! settings as a struct of typed fields with bounds, once, with the derive macros of
//! `firebell-macros` re-exported here. The declarations give parsing, usage lines, `!help`, the
//! permission check, Slack's manifest and the config and chat checks of settings; `run` gets the
//! typed struct.
//!
//! ```
//! use firebell_core::declare::{Command, Commands};
//!
//! /// Says the text back.
//! #[derive(Command)]
//! #[command(word = "echo", permission = TeamRooms)]
//! struct Echo {
//!     /// What to say.
//!     #[arg(text)]
//!     text: String,
//! }
//!
//! /// Every command of the plugin.
//! #[derive(Commands)]
//! enum EchoCommand {
//!     Echo(Echo),
//! }
//!
//! use firebell_core::declare::{Command as _, CommandSet as _};
//! assert_eq!(Echo::SPEC.usage("!"), "!echo <text>");
//! assert_eq!(EchoCommand::SPECS.len(), 1);
//! ```

pub use firebell_macros::{Choice, Command, Commands, JobData, PluginInfo, Record, Settings};

pub use crate::job::JobData;
pub use crate::state::Record;

pub use crate::command::{Args, CommandSpec, Param, Permission};
use crate::plugin::{Invocation, PluginError};

/// One command, declared by `#[derive(Command)]` on the struct of its arguments.
pub trait Command: Sized {
    /// The declaration: word, subcommand, parameters, summary (the struct's doc comment),
    /// permission.
    const SPEC: CommandSpec;

    /// The typed arguments, from the parsed ones (which fit the declaration already).
    fn from_args(args: &Args) -> Result<Self, PluginError>;
}

/// Every command of a plugin, declared by `#[derive(Commands)]` on an enum of command structs.
pub trait CommandSet: Sized {
    /// The declarations, for [`Plugin::commands`](crate::plugin::Plugin::commands).
    const SPECS: &'static [CommandSpec];

    /// The command an invocation is, with its typed arguments.
    fn from_invocation(invocation: &Invocation) -> Result<Self, PluginError>;
}

/// Whether `spec` declares the command `C`.
pub fn matches<C: Command>(spec: &CommandSpec) -> bool {
    spec.word == C::SPEC.word && spec.sub == C::SPEC.sub
}

/// A fixed list of words an argument may be (`#[arg(choice)]`), declared by `#[derive(Choice)]`
/// on an enum without fields.
pub trait Choice: Sized + 'static {
    /// Every word, lowercase, in the order of the variants.
    const CHOICES: &'static [&'static str];

    /// The variant `word` names, in any case.
    fn from_choice(word: &str) -> Option<Self>;

    /// The word of this variant.
    fn as_choice(&self) -> &'static str;
}

/// The error for an argument its type does not read (`FromStr`, or a number too large for
/// its type): says which argument, what was wrong and what was typed.
pub fn bad_argument(param: &str, given: &str, err: impl std::fmt::Display) -> PluginError {
    PluginError::Usage(format!("{param}: {err} (got {:?})", crate::command::shown(given)))
}

/// The error for a required argument the parser let through missing (it does not).
pub fn missing(param: &str) -> PluginError {
    PluginError::Usage(format!("missing {param}"))
}

impl Invocation {
    /// The invocation as the plugin's typed command.
    pub fn parse<C: CommandSet>(&self) -> Result<C, PluginError> {
        C::from_invocation(self)
    }
}
