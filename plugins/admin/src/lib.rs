//! Help, generated from the command declarations: `!help` lists what the sender may run in this
//! room, `!help <command>` shows its usage, what it does and who may run it.

use firebell_core::async_trait;
use firebell_core::command::{CommandSpec, Param, Permission};
use firebell_core::message::Message;
use firebell_core::plugin::{Context, Invocation, Outcome, Place, Plugin, PluginError};

/// The admin plugin: help, and (per team) plugin administration. It cannot be disabled.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminPlugin;

static COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "help",
    sub: None,
    params: &[Param::text("command")],
    summary: "Lists the commands you can run here, or explains one.",
    permission: Permission::Anyone,
}];

#[async_trait]
impl Plugin for AdminPlugin {
    fn name(&self) -> &'static str {
        "admin"
    }

    fn description(&self) -> &'static str {
        "Help and plugin administration."
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    fn can_be_disabled(&self) -> bool {
        false
    }

    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let text = match command.args.text("command") {
            Some(topic) => explain(ctx, topic)?,
            None => overview(ctx),
        };
        Ok(Outcome::act(ctx.reply(Message::text(text))))
    }
}

fn overview(ctx: &Context<'_>) -> String {
    let mut lines = Vec::new();
    match ctx.place {
        Place::Team { team, .. } => lines.push(format!("Commands you can run here (team {}):", team.name)),
        Place::Unconfigured => lines.push(
            "This room is not configured for any team, so only help works here. \
             An admin can add it to a team's admin_rooms or public_rooms in the config."
                .to_owned(),
        ),
    }
    for (_, spec) in ctx.registry.commands().filter(|(_, spec)| (ctx.may_run)(spec)) {
        lines.push(format!("- {}: {}", spec.usage(ctx.prefix), spec.summary));
    }
    lines.push(format!("{}help <command> explains one command.", ctx.prefix));
    lines.join("\n")
}

fn explain(ctx: &Context<'_>, topic: &str) -> Result<String, PluginError> {
    let topic = topic.trim_start_matches(ctx.prefix).to_lowercase();
    let matching: Vec<&CommandSpec> = ctx
        .registry
        .commands()
        .map(|(_, spec)| spec)
        .filter(|spec| spec.name() == topic || spec.word == topic)
        .collect();
    if matching.is_empty() {
        return Err(PluginError::Refused(format!(
            "no command {}{topic}; {}help lists them all",
            ctx.prefix, ctx.prefix
        )));
    }
    let lines: Vec<String> = matching
        .iter()
        .map(|spec| format!("{}\n  {} Who: {}.", spec.usage(ctx.prefix), spec.summary, spec.permission.describe()))
        .collect();
    Ok(lines.join("\n"))
}
