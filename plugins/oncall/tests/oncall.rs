//! A plugin test with the harness: say things as users in rooms, read the bot's lines, move the
//! clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use firebell_core::team::SettingValue;
use firebell_plugin_oncall::OncallPlugin;
use firebell_testkit::{Harness, SRE_ADMIN, WMCS_ADMIN, sample_teams, text};

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

#[tokio::test]
async fn on_a_weekday_morning_the_people_at_work_are_on_call() {
    let bot = Harness::builder().plugin(Arc::new(OncallPlugin)).build();
    bot.clock().set(at("2026-11-23T08:30:00Z")); // a Monday
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!oncall").await),
        "On call now for team WMCS (9:00-17:00 local time, weekdays):\n\
         - alice: 09:30 Mon in Europe/Madrid\n\
         - carol: 09:30 Mon in Europe/Madrid\n\
         - dave: 14:00 Mon in Asia/Kolkata\n\
         Off hours: bob (03:30 Mon in America/New_York)"
    );
}

#[tokio::test]
async fn at_the_weekend_it_says_who_comes_on_next() {
    let bot = Harness::builder().plugin(Arc::new(OncallPlugin)).build(); // starts Saturday 03:00 UTC
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!oncall").await),
        "Nobody on team WMCS is inside working hours (9:00-17:00 local time, weekdays) now.\n\
         Next: dave at 09:00 Mon in Asia/Kolkata (in 48h 30m)."
    );
    let sre = text(&bot.say("erin", SRE_ADMIN, "!oncall").await);
    assert!(sre.starts_with("Nobody on team SRE"), "{sre}");
}

#[tokio::test]
async fn each_team_sets_its_own_hours() {
    let mut teams = sample_teams();
    let hours = [("weekends", SettingValue::Bool(true)), ("workday_start", SettingValue::Integer(0))];
    teams[0].settings.insert("oncall".into(), hours.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
    let bot = Harness::builder().teams(teams).plugin(Arc::new(OncallPlugin)).build();
    let wmcs = text(&bot.say("bob", WMCS_ADMIN, "!oncall").await);
    assert!(wmcs.starts_with("On call now for team WMCS (0:00-17:00 local time, every day):"), "{wmcs}");
    assert!(wmcs.contains("- alice: 04:00 Sat in Europe/Madrid"), "{wmcs}");
    let sre = text(&bot.say("erin", SRE_ADMIN, "!oncall").await);
    assert!(sre.starts_with("Nobody on team SRE"), "the other team keeps the defaults: {sre}");
}
