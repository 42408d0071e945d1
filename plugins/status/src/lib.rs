//! `!status <text>` sets the topic of the team's public rooms, as the WMCS process asks for a
//! user-facing incident (`!status ongoing incident …`); `!status clear` puts back what the
//! topic should say now: the open user-facing incidents, or with none the usual topic
//! (`--force` for the usual topic even with incidents open).

use firebell_core::async_trait;
use firebell_core::command::{CommandSpec, Param, Permission};
use firebell_core::incident::public_topic;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};

/// The status plugin.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusPlugin;

static COMMANDS: &[CommandSpec] = &[CommandSpec {
    word: "status",
    sub: None,
    params: &[Param::text("text").required(), Param::flag("force")],
    summary: "Sets the public rooms' topic; `clear` puts back the open incidents' or the usual one (--force: the usual).",
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
        let clear = text.eq_ignore_ascii_case("clear");
        let topic = match (clear, command.args.flag("force")) {
            (true, true) => team.public_topic.clone(),
            (true, false) => public_topic(team, ctx.snapshot.open.iter()),
            (false, _) => text.to_owned(),
        };
        let kept = clear && topic != team.public_topic;
        let mut done = Message::text("Topic of ");
        for (index, room) in team.public_rooms.iter().enumerate() {
            done = if index == 0 { done.room(room) } else { done.and(", ").room(room) };
        }
        done = done.and(match (kept, topic.is_empty()) {
            (true, _) => {
                format!(" set to the open incidents' topic; {}status clear --force for the usual one.", ctx.prefix)
            }
            (false, true) => " cleared.".to_owned(),
            (false, false) => " set.".to_owned(),
        });
        let topics = team.public_rooms.iter().map(|room| Action::SetTopic { room: room.clone(), topic: topic.clone() });
        Ok(Outcome { writes: Vec::new(), actions: topics.chain([ctx.reply(done)]).collect() })
    }
}
