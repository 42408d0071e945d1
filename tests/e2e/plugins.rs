//! Plugins per team: admins switch them on and off and change their settings in chat; everyone
//! else is refused with who may; the choices are shared by replicas and survive restarts.

use std::sync::Arc;

use firebell_core::message::Action;
use firebell_store_redis::RedisStore;
use firebell_testkit::{Harness, RedisServer, SRE_ADMIN, WMCS_ADMIN, WMCS_PUBLIC, text};

use crate::console::firebell;

fn bot() -> Harness {
    standard(Harness::builder()).build()
}

fn standard(mut builder: firebell_testkit::HarnessBuilder) -> firebell_testkit::HarnessBuilder {
    builder = builder.plugins_of(&firebell::standard_plugins());
    builder
}

#[tokio::test]
async fn a_plugin_disabled_for_one_team_still_works_for_another() {
    let bot = bot();
    assert_eq!(text(&bot.say("alice", WMCS_ADMIN, "!plugins disable sal").await), "Plugin sal disabled for team wmcs.");
    assert_eq!(
        text(&bot.say("carol", WMCS_ADMIN, "!log admin restarted nova").await),
        "plugin sal is disabled for team wmcs; a team admin can turn it on with !plugins enable sal"
    );
    assert_eq!(
        text(&bot.say("frank", SRE_ADMIN, "!log admin restarted nova").await),
        "Logged in the server admin log for admin."
    );
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins disable sal").await),
        "Plugin sal is already disabled for team wmcs."
    );
    assert_eq!(text(&bot.say("alice", WMCS_ADMIN, "!plugins enable sal").await), "Plugin sal enabled for team wmcs.");
    assert_eq!(
        text(&bot.say("carol", WMCS_ADMIN, "!log admin restarted nova").await),
        "Logged in the server admin log for admin."
    );
}

#[tokio::test]
async fn only_admins_administer_and_a_refusal_changes_nothing() {
    let bot = bot();
    let refused = text(&bot.say("bob", WMCS_ADMIN, "!plugins disable sal").await);
    assert_eq!(refused, "only team admins may run !plugins disable (team wmcs: alice)");
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!log admin still here").await),
        "Logged in the server admin log for admin."
    );
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins audit").await),
        "No admin actions recorded for team wmcs yet."
    );
    let refused = text(&bot.say("erin", WMCS_ADMIN, "!plugins disable sal").await);
    assert!(refused.starts_with("only team admins may run"), "an admin of another team is no admin here: {refused}");
    let mut public_moderator = bot.message("visitor", WMCS_PUBLIC, "!plugins disable sal");
    public_moderator.sender_is_platform_admin = true;
    let refused = text(&bot.send(public_moderator).await);
    assert!(refused.starts_with("only team admins may run"), "a public room's moderator is no team admin: {refused}");
    let mut platform_admin = bot.message("bob", WMCS_ADMIN, "!plugins disable sal");
    platform_admin.sender_is_platform_admin = true;
    assert_eq!(
        text(&bot.send(platform_admin).await),
        "Plugin sal disabled for team wmcs.",
        "room admins are team admins"
    );
    let refused = text(&bot.say("alice", WMCS_ADMIN, "!plugins disable admin").await);
    assert_eq!(refused, "the admin plugin cannot be disabled");
    let unknown = text(&bot.say("alice", WMCS_ADMIN, "!plugins enable pager").await);
    assert_eq!(
        unknown,
        "error: unknown plugin \"pager\"; expected one of admin, incident, oncall, paging, sal, status, statuspage; usage: !plugins enable <name>"
    );
}

#[tokio::test]
async fn help_shows_each_person_what_they_may_run() {
    let bot = bot();
    let admin = text(&bot.say("alice", WMCS_ADMIN, "!help").await);
    let member = text(&bot.say("bob", WMCS_ADMIN, "!help").await);
    assert!(admin.contains("- !plugins disable <name>: Disables a plugin for this team."), "{admin}");
    assert!(!member.contains("!plugins"), "{member}");
    assert!(member.contains("- !log <project> <message>") && member.contains("- !ic [ID]"), "{member}");
    let visitor = text(&bot.say("visitor", WMCS_ADMIN, "!help").await);
    assert!(!visitor.contains("- !ic [ID]") && visitor.contains("- !incident declare"), "{visitor}");
    bot.say("alice", WMCS_ADMIN, "!plugins disable sal").await;
    let member = text(&bot.say("bob", WMCS_ADMIN, "!help").await);
    assert!(!member.contains("!log"), "disabled plugins leave help: {member}");
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!help plugins enable").await),
        "!plugins enable <name>\n  Enables a plugin for this team. Who: team admins. Plugin: admin. You cannot run it here."
    );
}

#[tokio::test]
async fn settings_change_in_chat_win_until_reset_and_are_audited() {
    let bot = bot();
    let settings = text(&bot.say("alice", WMCS_ADMIN, "!plugins config incident").await);
    assert!(
        settings.starts_with(
            "Settings of incident for team wmcs:\n- handoff_offer_ttl = 10m (default): How long an IC handoff offer waits to be accepted.\n\
             - reminder_interval = 30m (default): "
        ),
        "{settings}"
    );
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins config incident handoff_offer_ttl soon").await),
        "error: incident handoff_offer_ttl: expected a duration from 1s to 1day (like 30m or 1h), got \"soon\"; usage: !plugins config <name> [key] [value]"
    );
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins config incident offer_ttl 5m").await),
        "error: incident has no setting \"offer_ttl\"; expected one of handoff_offer_ttl, reminder_interval, followup_after, handoff_after, snooze_max, incident_rooms; usage: !plugins config <name> [key] [value]"
    );
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins config incident handoff_offer_ttl 5m").await),
        "Plugin incident setting handoff_offer_ttl is now 5m for team wmcs (was 10m)."
    );
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    let offer = text(&bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await);
    assert!(offer.contains("within 5m"), "{offer}");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins reset incident").await),
        "Plugin incident follows the config file again for team wmcs: enabled."
    );
    let offer = text(&bot.say("alice", WMCS_ADMIN, "!ic handoff @carol").await);
    assert!(offer.contains("within 10m"), "{offer}");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!plugins audit").await),
        "Latest admin actions of team wmcs (UTC):\n\
         - 2026-11-21 03:00 alice: config incident handoff_offer_ttl (10m → 5m)\n\
         - 2026-11-21 03:00 alice: reset incident (handoff_offer_ttl=5m → config file)"
    );
}

#[tokio::test]
async fn a_replica_with_a_remembered_snapshot_sees_the_change_at_once() {
    let server = RedisServer::start();
    let replica = || async {
        let store = RedisStore::connect(&server.url(), "plugins").await.expect("redis reachable");
        standard(Harness::builder().store(Arc::new(store))).build()
    };
    let (a, b) = (replica().await, replica().await);
    assert_eq!(
        text(&b.say("carol", WMCS_ADMIN, "!log admin first").await),
        "Logged in the server admin log for admin."
    );
    a.say("alice", WMCS_ADMIN, "!plugins disable sal").await;
    let refused = b.act("carol", WMCS_ADMIN, "!log admin second").await;
    assert!(
        matches!(&refused[..], [Action::Ephemeral { message, .. }] if message.to_plain().starts_with("plugin sal is disabled")),
        "{refused:?}"
    );
}

#[test]
fn the_choice_survives_a_restart_and_is_seen_by_another_process() {
    let server = RedisServer::start();
    let first = firebell(Some(&server.url()), "!plugins disable sal\n");
    assert_eq!(first, "[#wikimedia-cloud-admin] firebell: Plugin sal disabled for team wmcs.\n");
    let second = firebell(Some(&server.url()), "carol: !log admin restarted nova\n!plugins\n");
    let lines: Vec<&str> = second.lines().collect();
    assert_eq!(
        lines[0],
        "[#wikimedia-cloud-admin] firebell: plugin sal is disabled for team wmcs; a team admin can turn it on with !plugins enable sal"
    );
    assert!(lines.contains(&"[#wikimedia-cloud-admin] firebell: - sal: disabled (set in chat). The server admin log: record every action taken on production systems."), "{second}");
    assert!(lines.contains(&"[#wikimedia-cloud-admin] firebell: - admin: enabled (always). Help, and switching plugins on and off per team."), "{second}");
}
