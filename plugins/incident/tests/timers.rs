//! The workflow's timed rules: reminders, snoozes, follow-ups, handoff suggestions, offer expiry.

use std::sync::Arc;
use std::time::Duration;

use firebell_core::ids::TeamId;
use firebell_core::team::SettingValue;
use firebell_plugin_incident::IncidentPlugin;
use firebell_testkit::{Harness, WMCS_ADMIN, sample_teams};

fn bot() -> Harness {
    Harness::builder().plugin(Arc::new(IncidentPlugin)).build()
}

fn admin(text: &str) -> String {
    format!("[{WMCS_ADMIN}] firebell: {text}")
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

fn reminder(n: u32, ic: &str) -> String {
    admin(&format!(
        "Reminder {n} for WMCS-1 (@{ic}, IC): update the status doc with !incident update <text> and send an update \
         to the announcement list. To postpone: !incident snooze 1h"
    ))
}

#[tokio::test]
async fn the_ic_is_reminded_every_30_minutes_and_an_ic_update_restarts_the_clock() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    assert!(bot.advance(minutes(29)).await.is_empty());
    assert_eq!(bot.advance(minutes(1)).await, [reminder(1, "alice")]);
    assert_eq!(bot.advance(minutes(30)).await, [reminder(2, "alice")]);
    bot.advance(minutes(20)).await;
    bot.say("bob", WMCS_ADMIN, "!incident update not the IC").await;
    assert_eq!(bot.advance(minutes(10)).await, [reminder(3, "alice")], "only the IC's update restarts the clock");
    bot.advance(minutes(20)).await;
    bot.say("alice", WMCS_ADMIN, "!incident update OSDs back").await;
    assert!(bot.advance(minutes(29)).await.is_empty(), "the IC's update restarted the clock");
    assert_eq!(bot.advance(minutes(1)).await, [reminder(4, "alice")]);
}

#[tokio::test]
async fn snoozed_reminders_wait_and_only_the_ic_snoozes() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    assert_eq!(
        bot.say("bob", WMCS_ADMIN, "!incident snooze 1h").await,
        [admin("WMCS-1: only the IC may do this; the IC is alice")]
    );
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!incident snooze 2d").await,
        [admin("error: snooze for a duration up to 1d, like 1h or 30m; usage: !incident snooze [ID] <for>")]
    );
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!incident snooze soon").await,
        [admin("error: expected <for>, got \"soon\"; usage: !incident snooze [ID] <for>")]
    );
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!incident snooze 90m").await,
        [admin("Reminders for WMCS-1 snoozed for 1h 30m, until 04:30 UTC.")]
    );
    bot.advance(minutes(60)).await;
    bot.say("alice", WMCS_ADMIN, "!incident update still snoozing").await;
    assert!(bot.advance(minutes(29)).await.is_empty(), "no reminder while snoozed, even after an update");
    assert_eq!(bot.advance(minutes(1)).await, [reminder(1, "alice")], "the snooze ended at 04:30");
    assert_eq!(bot.advance(minutes(30)).await, [reminder(2, "alice")]);
}

#[tokio::test]
async fn a_long_incident_asks_for_a_follow_up_and_a_long_ic_term_for_a_handoff() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.say("alice", WMCS_ADMIN, "!incident snooze 24h").await;
    assert_eq!(
        bot.advance(minutes(180)).await,
        [admin(
            "@alice: WMCS-1 is still unresolved after 3h: send a follow-up with more information to the announcement list."
        )]
    );
    assert_eq!(
        bot.advance(minutes(60)).await,
        [admin("@alice: you have been the IC of WMCS-1 for 4h. Consider handing over: !ic handoff @someone")]
    );
    bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await;
    bot.say("bob", WMCS_ADMIN, "!ic accept").await;
    let later = bot.advance(minutes(3 * 60 + 59)).await;
    assert!(
        later.iter().all(|line| !line.contains("Consider handing over")),
        "a new term counts from its start: {later:?}"
    );
    let handoff = bot.advance(minutes(1)).await;
    assert_eq!(
        handoff,
        [admin("@bob: you have been the IC of WMCS-1 for 4h. Consider handing over: !ic handoff @someone")]
    );
}

#[tokio::test]
async fn an_accepted_offer_does_not_expire_and_resolving_stops_every_timer() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await;
    bot.say("bob", WMCS_ADMIN, "!ic accept").await;
    let team = TeamId::new("wmcs").unwrap();
    let jobs: Vec<String> = bot.store().scheduled_jobs(&team).await.unwrap().into_iter().map(|j| j.id).collect();
    assert_eq!(jobs, ["incident:1:remind", "incident:1:followup", "incident:1:handoff"]);
    bot.say("bob", WMCS_ADMIN, "!incident resolve").await;
    assert!(bot.store().scheduled_jobs(&team).await.unwrap().is_empty(), "resolving cancels every timer");
    assert!(bot.advance(minutes(24 * 60)).await.is_empty());
}

#[tokio::test]
async fn without_an_ic_the_room_is_reminded_that_someone_should_take_the_role() {
    let bot = bot();
    bot.say("visitor", WMCS_ADMIN, "!incident declare Tools slow").await;
    bot.say("bob", WMCS_ADMIN, "!incident confirm").await;
    assert_eq!(
        bot.advance(minutes(30)).await,
        [admin("Reminder 1 for WMCS-1: there is no IC yet; a team member takes the role with !ic")]
    );
}

#[tokio::test]
async fn each_team_sets_its_own_intervals() {
    let mut teams = sample_teams();
    let settings = [("reminder_interval", "5m"), ("followup_after", "1h")];
    teams[0].settings.insert(
        "incident".into(),
        settings.iter().map(|(k, v)| ((*k).to_owned(), SettingValue::Text((*v).to_owned()))).collect(),
    );
    let bot = Harness::builder().teams(teams).plugin(Arc::new(IncidentPlugin)).build();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    assert_eq!(bot.advance(minutes(5)).await, [reminder(1, "alice")]);
    let hour = bot.advance(minutes(55)).await;
    assert_eq!(hour.len(), 12, "11 more reminders and the follow-up in the hour: {hour:?}");
    assert_eq!(hour.iter().filter(|line| line.contains("still unresolved after 1h")).count(), 1, "{hour:?}");
}
