//! `!status <text>` sets the public rooms' topic; `!status clear` puts back what it should say
//! now: the open user-facing incidents, else the usual topic (`--force`: the usual one anyway).

use firebell_core::declare::{Command, PluginInfo};
use firebell_core::message::{Action, Message};
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};
use firebell_plugin_incident::{open_incidents_of, public_topic};

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
        let topic = match (clear, force) {
            (false, _) => text,
            (true, true) => team.public_topic.clone(),
            (true, false) => public_topic(team, open_incidents_of(ctx.reads).await?.iter()),
        };
        let done = Message::text("Topic of ").rooms(&team.public_rooms).and(match (clear, topic.as_str()) {
            (true, topic) if topic != team.public_topic => {
                format!(" set to the open incidents' topic; {}status clear --force for the usual one.", ctx.prefix)
            }
            (_, "") => " cleared.".to_owned(),
            _ => " set.".to_owned(),
        });
        let topics = team.public_rooms.iter().map(|room| Action::SetTopic { room: room.clone(), topic: topic.clone() });
        Ok(Outcome { writes: Vec::new(), actions: topics.chain([ctx.reply(done)]).collect() })
    }
}
