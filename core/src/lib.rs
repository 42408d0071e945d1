//! Firebell's transport-neutral core.
//!
//! The core holds the incident workflow's rules and knows no chat platform. Data flows one way:
//! an adapter hands an [`Inbound`](message::Inbound) message to the [`Bot`](bot::Bot); the
//! [`Dispatcher`](dispatcher::Dispatcher) finds the team, parses the command, runs its
//! [`Plugin`](plugin::Plugin), applies the plugin's writes atomically through the
//! [`Store`](store::Store), and returns [`Action`](message::Action)s that the adapters perform.

pub mod adapter;
pub mod clock;
pub mod command;
pub mod declare;
pub mod ids;
pub mod job;
pub mod message;
pub mod plugin;
pub mod settings;
pub mod state;
pub mod store;
pub mod team;

pub use async_trait::async_trait;

/// What almost every plugin uses, in one import: `use firebell_core::prelude::*;`.
pub mod prelude {
    pub use crate::async_trait;
    pub use crate::clock::after;
    pub use crate::declare::{Choice, Command, Commands, JobData, PluginInfo, Record, Settings};
    pub use crate::ids::{Person, RoomRef};
    pub use crate::job::Job;
    pub use crate::message::{Action, Message};
    pub use crate::plugin::{
        Context, Event, Invocation, Outcome, Plugin, PluginError, STARTED, TeamContext, WebRequest, WebResponse,
    };
    pub use crate::state::{Change, Index, State};
}
pub use chrono;
pub use chrono_tz;
pub use serde_json;
