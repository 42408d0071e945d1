//! Help and per-team plugin administration.
//!
//! `!help` lists what the sender may run in this room and `!help <command>` explains one, both
//! generated from the command declarations. Team admins switch plugins on and off for their team
//! and change their settings with `!plugins …`; what they choose is kept in the store (shared by
//! every replica, surviving restarts) and wins over the config file until `!plugins reset`. Every
//! change is written to the team's audit stream, read back with `!plugins audit`.

mod help;
mod plugins;

use firebell_core::async_trait;
use firebell_core::declare::{Command, Commands, PluginInfo};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};

/// Help, and switching plugins on and off per team.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(name = "admin", commands = AdminCommand, always_on)]
pub struct AdminPlugin;

/// Lists the commands you can run here, or explains one.
#[derive(Command)]
#[command(word = "help", permission = Anyone)]
struct Help {
    #[arg(text)]
    command: Option<String>,
}

/// Lists the plugins and whether they are enabled for this team.
#[derive(Command)]
#[command(word = "plugins", permission = TeamAdmins)]
struct List {}

/// Enables a plugin for this team.
#[derive(Command)]
#[command(word = "plugins", sub = "enable", permission = TeamAdmins)]
struct Enable {
    #[arg(word)]
    name: String,
}

/// Disables a plugin for this team.
#[derive(Command)]
#[command(word = "plugins", sub = "disable", permission = TeamAdmins)]
struct Disable {
    #[arg(word)]
    name: String,
}

/// Shows a plugin's settings for this team, or changes one.
#[derive(Command)]
#[command(word = "plugins", sub = "config", permission = TeamAdmins)]
struct Config {
    #[arg(word)]
    name: String,
    #[arg(word)]
    key: Option<String>,
    #[arg(text)]
    value: Option<String>,
}

/// Drops the changes made in chat; the config file applies again.
#[derive(Command)]
#[command(word = "plugins", sub = "reset", permission = TeamAdmins)]
struct Reset {
    #[arg(word)]
    name: String,
}

/// Drops for good the jobs of a disabled plugin that wait for it to be enabled again.
#[derive(Command)]
#[command(word = "plugins", sub = "drop-jobs", permission = TeamAdmins)]
struct DropJobs {
    #[arg(word)]
    name: String,
}

/// Shows the latest admin actions of this team.
#[derive(Command)]
#[command(word = "plugins", sub = "audit", permission = TeamAdmins)]
struct Audit {}

#[derive(Commands)]
enum AdminCommand {
    Help(Help),
    List(List),
    Enable(Enable),
    Disable(Disable),
    Config(Config),
    Reset(Reset),
    DropJobs(DropJobs),
    Audit(Audit),
}

#[async_trait]
impl Plugin for AdminPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        match command.parse()? {
            AdminCommand::Help(Help { command }) => help::run(ctx, command.as_deref()),
            AdminCommand::List(List {}) => plugins::list(ctx),
            AdminCommand::Enable(Enable { name }) => plugins::switch(ctx, &name, true).await,
            AdminCommand::Disable(Disable { name }) => plugins::switch(ctx, &name, false).await,
            AdminCommand::Config(Config { name, key, value }) => {
                plugins::config(ctx, &name, key.as_deref(), value.as_deref())
            }
            AdminCommand::Reset(Reset { name }) => plugins::reset(ctx, &name),
            AdminCommand::DropJobs(DropJobs { name }) => plugins::drop_jobs(ctx, &name).await,
            AdminCommand::Audit(Audit {}) => plugins::show_audit(ctx).await,
        }
    }
}
