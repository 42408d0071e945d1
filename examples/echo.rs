//! The smallest plugin: `!echo <text>` says the text back.
//!
//! Try it: `cargo run --example echo`, then type `!echo hello`.

use std::sync::Arc;

use firebell_core::async_trait;
use firebell_core::declare::{Command, PluginInfo};
use firebell_core::message::Message;
use firebell_core::plugin::{Context, Invocation, Outcome, Plugin, PluginError};

/// Says things back.
#[derive(PluginInfo)]
#[plugin(name = "echo", commands = Echo)]
struct EchoPlugin;

/// Says the text back.
#[derive(Command)]
#[command(word = "echo", permission = TeamRooms)]
struct Echo {
    #[arg(text)]
    text: String,
}

#[async_trait]
impl Plugin for EchoPlugin {
    async fn run(&self, ctx: &Context<'_>, command: &Invocation) -> Result<Outcome, PluginError> {
        let Echo { text } = command.parse()?;
        Ok(Outcome::act(ctx.reply(Message::text(format!("{} said: {text}", ctx.sender)))))
    }
}

#[tokio::main]
async fn main() {
    firebell_testkit::Harness::builder().plugin(Arc::new(EchoPlugin)).build().chat().await;
}

#[cfg(test)]
mod tests {
    use firebell_testkit::{Harness, WMCS_ADMIN, text};

    use super::*;

    #[tokio::test]
    async fn says_the_text_back_and_explains_a_missing_one() {
        let bot = Harness::builder().plugin(Arc::new(EchoPlugin)).build();
        assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!echo all green").await), "bob said: all green");
        assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!echo").await), "error: missing <text>; usage: !echo <text>");
        let elsewhere = text(&bot.say("bob", "#random", "!echo hi").await);
        assert!(elsewhere.starts_with("this room is not configured for any team"), "{elsewhere}");
    }
}
