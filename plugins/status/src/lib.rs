//! `!status <text>` sets the topic of the team's public rooms, as the WMCS process asks for a
//! user-facing incident; `!status clear` puts back what the topic should say now: the open
//! user-facing incidents, or with none the usual topic (`--force` for the usual one anyway).

use firebell_core::declare::{Command, PluginInfo};
use firebell_core::incident::public_topic;
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};

/// Tell users what is going on through the public rooms' topic.
#[derive(Debug, Clone, Copy, Default, PluginInfo)]
#[plugin(name = "status", commands = Status)]
pub struct StatusPlugin;

/// Sets the public rooms' topic; `clear` puts back the open incidents' or the usual one (--force: the usual).
#[derive(Command)]
#[command(word = "status", permission = TeamMembers)]
struct Status {
    #[arg(text)]
    text: String,
    #[arg(flag)]
    force: bool,
}

#[firebell_core::async_trait]
impl Plugin for StatusPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let (Status { text, force }, team) = (command.parse()?, ctx.require_team()?);
        if team.public_rooms.is_empty() {
            return Err(PluginError::Refused(format!(
                "team {} has no public rooms configured (public_rooms)",
                team.name
            )));
        }
        let clear = text.eq_ignore_ascii_case("clear");
        let topic = if !clear {
            text
        } else if force {
            team.public_topic.clone()
        } else {
            public_topic(team, ctx.snapshot.open.iter())
        };
        let rooms = team.public_rooms.iter().enumerate().fold(Message::text("Topic of "), |done, (index, room)| {
            if index == 0 { done.room(room) } else { done.and(", ").room(room) }
        });
        let done = rooms.and(match (clear && topic != team.public_topic, topic.is_empty()) {
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
