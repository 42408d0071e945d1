//! Help generated from the command declarations.

use std::sync::Arc;

use firebell_plugin_admin::AdminPlugin;
use firebell_testkit::{Harness, WMCS_ADMIN, text};

fn bot() -> Harness {
    Harness::builder().trusted_plugin(Arc::new(AdminPlugin)).build()
}

#[tokio::test]
async fn help_lists_commands_and_explains_one() {
    let bot = bot();
    let overview = text(&bot.say("bob", WMCS_ADMIN, "!help").await);
    assert_eq!(
        overview,
        "Commands you can run here (team WMCS):\n\
         - !help [command]: Lists the commands you can run here, or explains one.\n\
         !help <command> explains one command."
    );
    let one = text(&bot.say("bob", WMCS_ADMIN, "!help !help").await);
    assert_eq!(
        one,
        "!help [command]\n  Lists the commands you can run here, or explains one. Who: anyone. Plugin: admin."
    );
    let missing = text(&bot.say("bob", WMCS_ADMIN, "!help frobnicate").await);
    assert_eq!(missing, "no command !frobnicate; !help lists them all");
}

#[tokio::test]
async fn rooms_without_a_team_only_answer_help() {
    let bot = bot();
    let lines = text(&bot.say("someone", "#random", "!help").await);
    assert!(lines.starts_with("This room is not configured for any team, so only help works here."), "{lines}");
}
