//! `!status <text>` sets the topic of the team's public rooms, as the WMCS process asks for a
//! user-facing incident (`!status ongoing incident …`); `!status clear` restores the usual topic.

use firebell_core::async_trait;
use firebell_core::command::{CommandSpec, Param, Permission};
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};

/// The status plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusPlugin;

static COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "status",
    sub: None,
    params: &[Param::text("text").required()],
    summary: "Sets the public rooms' topic; `clear` restores the usual one.",
    permission: Permission::TeamMembers,
}];

#[async_trait]
impl Plugin for StatusPlugin {
    fn name(&self) -> &'static str {
        "status"
    }

    fn description(&self) -> &'static str {
        "Tell users what is going on through the public rooms' topic."
    }

    fn commands(&self) -> &'static [CommandSpec] {
        COMMANDS
    }

    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let team = ctx.require_team()?;
        if team.public_rooms.is_empty() {
            return Err(PluginError::Refused(format!(
                "team {} has no public rooms configured (public_rooms)",
                team.name
            )));
        }
        let text = command.args.text("text").unwrap_or_default();
        let topic = if text.eq_ignore_ascii_case("clear") { team.public_topic.clone() } else { text.to_owned() };
        let rooms: Vec<String> = team.public_rooms.iter().map(|r| r.id.clone()).collect();
        let mut outcome = Outcome::default();
        for room in &team.public_rooms {
            outcome = outcome.and(Action::SetTopic { room: room.clone(), topic: topic.clone() });
        }
        let done = if topic.is_empty() { "cleared".to_owned() } else { "set".to_owned() };
        Ok(outcome.and(ctx.reply(Message::text(format!("Topic of {} {done}.", rooms.join(", "))))))
    }
}
