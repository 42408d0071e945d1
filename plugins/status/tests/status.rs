//! `!status`, through the real dispatcher and console adapter.

use std::sync::Arc;

use firebell_plugin_incident::IncidentPlugin;
use firebell_plugin_status::StatusPlugin;
use firebell_testkit::{Harness, SRE_ADMIN, WMCS_ADMIN, WMCS_PUBLIC};

fn bot() -> Harness {
    Harness::builder().plugin(Arc::new(StatusPlugin)).build()
}

#[tokio::test]
async fn status_sets_and_clears_the_public_topic() {
    let bot = bot();
    let lines = bot.say("alice", WMCS_ADMIN, "!status ongoing incident: Toolforge webservices down").await;
    assert_eq!(
        lines,
        [
            format!("[{WMCS_PUBLIC}] topic: ongoing incident: Toolforge webservices down"),
            format!("[{WMCS_ADMIN}] firebell: Topic of {WMCS_PUBLIC} set."),
        ]
    );
    let lines = bot.say("bob", WMCS_PUBLIC, "!status clear").await;
    assert_eq!(
        lines,
        [
            format!("[{WMCS_PUBLIC}] topic: Wikimedia Cloud Services | status: all systems normal"),
            format!("[{WMCS_PUBLIC}] firebell: Topic of {WMCS_PUBLIC} set."),
        ]
    );
}

#[tokio::test]
async fn clearing_during_a_user_facing_incident_keeps_its_topic_unless_forced() {
    let bot = Harness::builder().plugin(Arc::new(StatusPlugin)).plugin(Arc::new(IncidentPlugin)).build();
    bot.say("alice", WMCS_ADMIN, "!incident declare Toolforge down --user-facing").await;
    let lines = bot.say("alice", WMCS_ADMIN, "!status clear").await;
    assert_eq!(
        lines,
        [
            format!("[{WMCS_PUBLIC}] topic: Ongoing incident: Toolforge down"),
            format!(
                "[{WMCS_ADMIN}] firebell: Topic of {WMCS_PUBLIC} set to the open incidents' topic; !status clear --force for the usual one."
            ),
        ],
        "users are not told all is well while it is not"
    );
    let lines = bot.say("alice", WMCS_ADMIN, "!status clear --force").await;
    assert_eq!(lines[0], format!("[{WMCS_PUBLIC}] topic: Wikimedia Cloud Services | status: all systems normal"));
}

#[tokio::test]
async fn only_members_set_the_status_and_only_where_there_is_a_public_room() {
    let bot = bot();
    let lines = bot.say("visitor", WMCS_PUBLIC, "!status all good").await;
    assert_eq!(
        lines,
        [format!("[{WMCS_PUBLIC}] firebell: only team members may run !status; you are not on team wmcs's roster")]
    );
    let lines = bot.say("erin", SRE_ADMIN, "!status all good").await;
    assert_eq!(lines, [format!("[{SRE_ADMIN}] firebell: team SRE has no public rooms configured (public_rooms)")]);
    let lines = bot.say("alice", WMCS_ADMIN, "!status").await;
    assert_eq!(lines, [format!("[{WMCS_ADMIN}] firebell: error: missing <text>; usage: !status <text> [--force]")]);
}
