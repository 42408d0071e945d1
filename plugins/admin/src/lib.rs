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
use firebell_core::command::{CommandSpec, Param, Permission};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};

/// The admin plugin. It cannot be disabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminPlugin;

const fn admin_command(sub: Option<&'static str>, params: &'static [Param], summary: &'static str) -> CommandSpec {
    CommandSpec { word: "plugins", sub, params, summary, permission: Permission::TeamAdmins }
}

static COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        word: "help",
        sub: None,
        params: &[Param::text("command")],
        summary: "Lists the commands you can run here, or explains one.",
        permission: Permission::Anyone,
    },
    admin_command(None, &[], "Lists the plugins and whether they are enabled for this team."),
    admin_command(Some("enable"), &[Param::word("name").required()], "Enables a plugin for this team."),
    admin_command(Some("disable"), &[Param::word("name").required()], "Disables a plugin for this team."),
    admin_command(
        Some("config"),
        &[Param::word("name").required(), Param::word("key"), Param::text("value")],
        "Shows a plugin's settings for this team, or changes one.",
    ),
    admin_command(
        Some("reset"),
        &[Param::word("name").required()],
        "Drops the changes made in chat; the config file applies again.",
    ),
    admin_command(Some("audit"), &[], "Shows the latest admin actions of this team."),
];

#[async_trait]
impl Plugin for AdminPlugin {
    fn name(&self) -> &'static str {
        "admin"
    }

    fn description(&self) -> &'static str {
        "Help, and switching plugins on and off per team."
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn can_be_disabled(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let args = &command.args;
        let name = || args.text("name").unwrap_or_default();
        match command.name().as_str() {
            "help" => Ok(help::run(ctx, args.text("command"))?),
            "plugins" => plugins::list(ctx),
            "plugins enable" => plugins::switch(ctx, name(), true),
            "plugins disable" => plugins::switch(ctx, name(), false),
            "plugins config" => plugins::config(ctx, name(), args.text("key"), args.text("value")),
            "plugins reset" => plugins::reset(ctx, name()),
            "plugins audit" => plugins::show_audit(ctx).await,
            other => Err(PluginError::Refused(format!("the admin plugin has no command {other}"))),
        }
    }
}
