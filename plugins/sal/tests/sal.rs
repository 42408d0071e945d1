//! The server admin log, through the real dispatcher and console adapter.

use std::sync::Arc;
use std::time::Duration;

use firebell_plugin_sal::SalPlugin;
use firebell_testkit::{Harness, SRE_ADMIN, WMCS_ADMIN, WMCS_PUBLIC, text};

fn bot() -> Harness {
    Harness::builder().plugin(Arc::new(SalPlugin)).build()
}

#[tokio::test]
async fn entries_are_logged_per_team_and_project_and_read_back() {
    let bot = bot();
    let lines = bot.say("carol", WMCS_ADMIN, "!log admin restarted nova-api on cloudcontrol1005").await;
    assert_eq!(lines, [format!("[{WMCS_ADMIN}] firebell: Logged in the server admin log for admin.")]);
    bot.advance(Duration::from_secs(300)).await;
    bot.say("visitor", WMCS_PUBLIC, "!log tools.stashbot restarted the webservice").await;
    bot.say("dave", WMCS_ADMIN, "!log admin   \"depooled cloudvirt1031\"").await;
    let admin = text(&bot.say("bob", WMCS_ADMIN, "!sal admin").await);
    assert_eq!(
        admin,
        "Latest server admin log entries for admin (UTC):\n\
         - 2026-11-21 03:00 carol: restarted nova-api on cloudcontrol1005\n\
         - 2026-11-21 03:05 dave: depooled cloudvirt1031"
    );
    let tools = text(&bot.say("bob", WMCS_ADMIN, "!sal tools.stashbot").await);
    assert!(tools.ends_with("03:05 visitor: restarted the webservice"), "{tools}");
    let other_team = text(&bot.say("erin", SRE_ADMIN, "!sal admin").await);
    assert_eq!(other_team, "The server admin log for admin is empty; add to it with !log admin <message>.");
}

#[tokio::test]
async fn a_log_line_needs_a_project_and_a_message() {
    let bot = bot();
    let lines = bot.say("carol", WMCS_ADMIN, "!log admin").await;
    assert_eq!(lines, [format!("[{WMCS_ADMIN}] firebell: error: missing <message>; usage: !log <project> <message>")]);
    let empty = text(&bot.say("carol", WMCS_ADMIN, "!sal admin").await);
    assert!(empty.starts_with("The server admin log for admin is empty"), "{empty}");
}
