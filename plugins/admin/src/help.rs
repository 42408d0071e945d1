//! `!help`: generated from the command declarations, filtered to what the sender may run here.

use firebell_core::command::CommandSpec;
use firebell_core::message::Message;
use firebell_core::plugin::{Context, Outcome, Place, PluginError};

/// Answers `!help` (no topic) or `!help <command>`.
pub(crate) fn run(ctx: &Context<'_>, topic: Option<&str>) -> Result<Outcome, PluginError> {
    let text = match topic {
        Some(topic) => explain(ctx, topic)?,
        None => overview(ctx),
    };
    Ok(Outcome::act(ctx.reply(Message::text(text))))
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
    let matching: Vec<(&'static str, &CommandSpec)> = ctx
        .registry
        .commands()
        .filter(|(_, spec)| spec.name() == topic || spec.word == topic)
        .map(|(plugin, spec)| (plugin.name(), spec))
        .collect();
    if matching.is_empty() {
        return Err(PluginError::Refused(format!(
            "no command {}{topic}; {}help lists them all",
            ctx.prefix, ctx.prefix
        )));
    }
    let lines: Vec<String> = matching
        .iter()
        .map(|(plugin, spec)| {
            let usable = if (ctx.may_run)(spec) { "" } else { " You cannot run it here." };
            let mut text = format!(
                "{}\n  {} Who: {}. Plugin: {plugin}.{usable}",
                spec.usage(ctx.prefix),
                spec.summary,
                spec.permission.describe()
            );
            for param in spec.params.iter().filter(|param| !param.doc.is_empty()) {
                text.push_str(&format!("\n  {}: {}", param.usage().trim_matches(['<', '>', '[', ']']), param.doc));
            }
            text
        })
        .collect();
    Ok(lines.join("\n"))
}
