//! The oncall plugin through the harness: say things as users in rooms, read the bot's lines,
//! move the clock, fetch the calendar feeds.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use firebell_core::clock::Clock;
use firebell_core::team::{SettingValue, Team};
use firebell_plugin_oncall::OncallPlugin;
use firebell_plugin_oncall::schedule::{Override, Schedule};
use firebell_testkit::{Harness, SRE_ADMIN, WEB_URL, WMCS_ADMIN, sample_teams, text};
use serde_json::json;

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

const NO_SCHEDULE: &str = "(No on-call schedule: admins set one with !oncall layer.)";

#[tokio::test]
async fn without_a_schedule_the_people_at_work_are_on_call() {
    let bot = Harness::builder().plugin(Arc::new(OncallPlugin)).build();
    bot.clock().set(at("2026-11-23T08:30:00Z")); // a Monday
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!oncall").await),
        format!(
            "On call now for team WMCS (9:00-17:00 local time, weekdays):\n\
             - alice: 09:30 Mon in Europe/Madrid\n\
             - carol: 09:30 Mon in Europe/Madrid\n\
             - dave: 14:00 Mon in Asia/Kolkata\n\
             Off hours: bob (03:30 Mon in America/New_York)\n{NO_SCHEDULE}"
        )
    );
}

#[tokio::test]
async fn without_a_schedule_at_the_weekend_it_says_who_comes_on_next() {
    let bot = Harness::builder().plugin(Arc::new(OncallPlugin)).build(); // starts Saturday 03:00 UTC
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!oncall").await),
        format!(
            "Nobody on team WMCS is inside working hours (9:00-17:00 local time, weekdays) now.\n\
             Next: dave at 09:00 Mon in Asia/Kolkata (in 48h 30m).\n{NO_SCHEDULE}"
        )
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

/// Two layers in Madrid time: a weekly primary rotation alice → bob → carol from Monday 16
/// November, handed over at 09:00, and dave on weekdays 09:00-17:00 Kolkata time over it.
fn two_layers() -> serde_json::Value {
    json!({
        "timezone": "Europe/Madrid",
        "layers": [
            { "name": "primary", "rotation": "weekly", "handoff": "09:00", "start": "2026-11-16",
              "participants": ["alice", "bob", "carol"] },
            { "name": "daytime", "rotation": "weekly", "handoff": "09:00", "start": "2026-11-16",
              "participants": ["dave"], "only": ["weekdays 09:00-17:00 Asia/Kolkata"] },
        ]
    })
}

fn teams_with(schedule: serde_json::Value) -> Vec<Team> {
    let mut teams = sample_teams();
    teams[0].config.insert("oncall".into(), schedule);
    teams
}

fn scheduled_bot() -> Harness {
    Harness::builder().teams(teams_with(two_layers())).plugin(Arc::new(OncallPlugin)).build()
}

/// Moves the clock to `to`, running what falls due, and keeps the direct messages printed.
async fn advance_to(bot: &Harness, to: &str, direct: &mut Vec<String>) {
    let by = (at(to) - bot.clock().now()).to_std().expect("forward");
    direct.extend(bot.advance(by).await.into_iter().filter(|line| line.starts_with("[@")));
}

async fn on_call(bot: &Harness) -> String {
    let shown = text(&bot.say("bob", WMCS_ADMIN, "!oncall").await);
    shown.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_week_of_two_layers_with_an_override_and_a_swap_names_the_right_person_and_tells_each_shift_once() {
    let bot = scheduled_bot();
    let mut direct = Vec::new();
    direct.extend(bot.start().await);
    let mut checks = Vec::new();
    checks.push(on_call(&bot).await); // Saturday 03:00 UTC
    for instant in ["2026-11-23T05:00:00Z", "2026-11-23T12:00:00Z"] {
        advance_to(&bot, instant, &mut direct).await;
        checks.push(on_call(&bot).await);
    }
    let made = text(&bot.say("alice", WMCS_ADMIN, "!oncall override @carol until 18:00").await);
    assert_eq!(
        made,
        "O1: carol is on call from Mon 23 Nov 13:00 to Mon 23 Nov 18:00 (Europe/Madrid), over bob. Undo: !oncall unoverride O1"
    );
    for instant in ["2026-11-23T14:00:00Z", "2026-11-23T17:30:00Z"] {
        advance_to(&bot, instant, &mut direct).await;
        checks.push(on_call(&bot).await);
    }
    let offered = text(&bot.say("bob", WMCS_ADMIN, "!oncall swap 2026-11-25 @alice").await);
    assert_eq!(
        offered,
        "@alice: bob offers you their on-call shift from Wed 25 Nov 12:30 to Thu 26 Nov 04:30 (Europe/Madrid). \
         Reply !oncall accept S1 or !oncall decline S1."
    );
    assert_eq!(text(&bot.say("carol", WMCS_ADMIN, "!oncall accept").await), "no shift is offered to you");
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!oncall accept").await),
        "S1 accepted: alice is on call from Wed 25 Nov 12:30 to Thu 26 Nov 04:30 (Europe/Madrid) instead of @bob (override O2)."
    );
    for instant in ["2026-11-25T20:00:00Z", "2026-11-26T04:00:00Z", "2026-11-28T12:00:00Z", "2026-11-30T12:00:00Z"] {
        advance_to(&bot, instant, &mut direct).await;
        checks.push(on_call(&bot).await);
    }
    let refused = text(&bot.say("bob", WMCS_ADMIN, "!oncall override @dave 2h").await);
    assert_eq!(
        refused,
        "only team admins, or the person on call then, may put someone else on call; carol is on call then"
    );
    checks.push(on_call(&bot).await);
    let expected = [
        "alice (primary)",
        "dave (daytime)",
        "bob (primary)",
        "carol (override)",
        "bob (primary)",
        "alice (override)",
        "dave (daytime)",
        "bob (primary)",
        "carol (primary)",
        "carol (primary)",
    ];
    assert_eq!(checks.len(), 10);
    for (check, person) in checks.iter().zip(expected) {
        assert!(check.starts_with(&format!("On call for WMCS now: {person}, until")), "{check} should name {person}");
    }

    // Each shift start was told once, to its person, in order.
    let mut stored = two_layers();
    stored["layers"][1]["restrictions"] = stored["layers"][1]["only"].take();
    let schedule: Schedule = serde_json::from_value(stored).expect("a schedule");
    let overrides = [
        Override { person: "carol".into(), start: at("2026-11-23T12:00:00Z"), end: at("2026-11-23T17:00:00Z") },
        Override { person: "alice".into(), start: at("2026-11-25T11:30:00Z"), end: at("2026-11-26T03:30:00Z") },
    ];
    let mut starts: Vec<String> = Vec::new();
    for shift in schedule.shifts(&overrides, at("2026-11-21T03:00:00Z"), at("2026-11-30T12:00:00Z")) {
        if shift.start > at("2026-11-21T03:00:00Z") && starts.last() != Some(&shift.person) {
            starts.push(shift.person.clone());
        }
    }
    let told: Vec<String> = direct
        .iter()
        .filter(|line| line.contains("You are on call for WMCS now"))
        .map(|line| line.trim_start_matches("[@").split(']').next().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(told, starts, "{direct:#?}");
    let mut unique = direct.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), direct.len(), "no notice twice: {direct:#?}");
    assert!(
        direct.iter().any(|line| line.starts_with("[@alice] firebell: Reminder: you are on call for WMCS from Wed 25 Nov 12:30")),
        "the day before the swapped shift: {direct:#?}"
    );
    assert!(
        direct
            .iter()
            .any(|line| line.starts_with("[@bob] firebell: Your on-call shift for WMCS is over: carol takes over")),
        "the outgoing person is told who takes over: {direct:#?}"
    );
}

#[tokio::test]
async fn admins_edit_the_schedule_in_chat_and_bad_input_changes_nothing() {
    let bot = Harness::builder().plugin(Arc::new(OncallPlugin)).build();
    let refusals = [
        ("bob", "!oncall layer primary weekly 09:00 alice,bob", "only team admins"),
        ("alice", "!oncall layer primary fortnightly 09:00 alice,bob", "expected a rotation"),
        ("alice", "!oncall layer primary weekly 9am alice,bob", "expected a time of day like 09:00"),
        ("alice", "!oncall layer primary weekly 09:00 alice,mallory", "\"mallory\" is not on the roster"),
        ("alice", "!oncall layer primary weekly 09:00 alice --only \"someday 08:00-17:00\"", "expected"),
        ("alice", "!oncall layer primary weekly 09:00 alice --from yesterday", "expected --from a date"),
        ("alice", "!oncall timezone Mars/Olympus", "expected an IANA timezone"),
        ("alice", "!oncall unlayer primary", "there is no layer \"primary\""),
        ("alice", "!oncall schedule", "team WMCS has no on-call schedule"),
        ("alice", "!oncall schedule 200d", "expected a span from 1m to 90d"),
    ];
    for (who, line, expected) in refusals {
        let answer = text(&bot.say(who, WMCS_ADMIN, line).await);
        assert!(answer.contains(expected), "{line}: {answer}");
        assert_eq!(answer.lines().count(), 1, "{line}: one line: {answer}");
    }
    assert!(text(&bot.say("alice", WMCS_ADMIN, "!oncall layers").await).contains("no on-call schedule"));
    let set =
        text(&bot.say("alice", WMCS_ADMIN, "!oncall layer primary daily 09:00 alice,bob --from 2026-11-20").await);
    assert_eq!(
        set,
        "Layer primary: daily at 09:00 from 2026-11-20, alice → bob (Europe/Madrid). By the layers alone, alice is on call now."
    );
    let set = text(
        &bot.say(
            "alice",
            WMCS_ADMIN,
            "!oncall layer day weekly 09:00 dave --from 2026-11-16 --only \"weekdays 09:00-17:00 Asia/Kolkata\"",
        )
        .await,
    );
    assert!(
        set.starts_with("Layer day: weekly at 09:00 from 2026-11-16, dave; only weekdays 09:00-17:00 Asia/Kolkata"),
        "{set}"
    );
    let layers = text(&bot.say("carol", WMCS_ADMIN, "!oncall layers").await);
    assert_eq!(
        layers,
        "Schedule of WMCS in Europe/Madrid (set in chat by alice on 2026-11-21); a later layer wins:\n\
         1. primary: daily at 09:00 from 2026-11-20, alice → bob\n\
         2. day: weekly at 09:00 from 2026-11-16, dave; only weekdays 09:00-17:00 Asia/Kolkata"
    );
    let week = text(&bot.say("carol", WMCS_ADMIN, "!oncall schedule 2d").await);
    assert_eq!(
        week,
        "On call for WMCS from now to Mon 23 Nov 04:00 (Europe/Madrid):\n\
         Sat 21 Nov 04:00 to Sat 21 Nov 09:00: alice (primary)\n\
         Sat 21 Nov 09:00 to Sun 22 Nov 09:00: bob (primary)\n\
         Sun 22 Nov 09:00 to Mon 23 Nov 04:00: alice (primary)"
    );
    assert_eq!(text(&bot.say("alice", WMCS_ADMIN, "!oncall unlayer primary").await), "Layer primary removed.");
    let gaps = text(&bot.say("carol", WMCS_ADMIN, "!oncall gaps 3d").await);
    assert!(
        gaps.starts_with("Nobody is on call for WMCS (Europe/Madrid):\nSat 21 Nov 04:00 to Mon 23 Nov 04:30"),
        "{gaps}"
    );
    let moved = text(&bot.say("alice", WMCS_ADMIN, "!oncall timezone Asia/Kolkata").await);
    assert!(moved.contains("now in Asia/Kolkata"), "{moved}");
}

#[tokio::test]
async fn admins_are_warned_of_a_gap_within_48_hours_once() {
    let schedule = json!({
        "timezone": "Europe/Madrid",
        "layers": [{ "name": "weekdays", "rotation": "daily", "handoff": "09:00", "start": "2026-11-16",
                     "participants": ["alice", "carol"], "only": ["weekdays 09:00-17:00"] }]
    });
    let bot = Harness::builder().teams(teams_with(schedule)).plugin(Arc::new(OncallPlugin)).build();
    bot.start().await;
    let lines = bot.advance(Duration::from_secs(60)).await;
    let warnings: Vec<&String> = lines.iter().filter(|line| line.contains("Nobody is on call for WMCS")).collect();
    assert_eq!(warnings.len(), 1, "{lines:#?}");
    assert!(
        warnings[0].contains("from Sat 21 Nov 04:01 to Mon 23 Nov 09:00")
            || warnings[0].contains("to Mon 23 Nov 09:00"),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("Admins: @alice"), "{}", warnings[0]);
    let later = bot.advance(Duration::from_secs(6 * 3600)).await;
    assert!(!later.iter().any(|line| line.contains("Nobody is on call for WMCS from Sat")), "once: {later:#?}");
}

#[tokio::test]
async fn the_calendar_feed_needs_a_valid_token_and_keeps_its_uids() {
    let bot = scheduled_bot();
    assert_eq!(
        text(&bot.say("visitor", WMCS_ADMIN, "!oncall ical").await),
        "only team members may run !oncall ical; you are not on team wmcs's roster"
    );
    let lines = bot.say("bob", WMCS_ADMIN, "!oncall ical").await;
    assert!(lines.iter().any(|l| l.contains("I sent you your calendar links in a direct message.")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("[@bob] firebell: Your on-call calendars for WMCS")), "{lines:#?}");
    let direct = lines.join("\n");
    let all_start = direct.find(&format!("{WEB_URL}/oncall/wmcs.ics?token=")).expect("the team feed link");
    let link = direct[all_start..].split_whitespace().next().unwrap().to_owned();
    let token = link.rsplit('=').next().unwrap().to_owned();
    let path = link.trim_start_matches(WEB_URL);
    let feed = bot.get(path).await;
    assert_eq!(feed.status, 200);
    assert_eq!(feed.content_type, "text/calendar; charset=utf-8");
    let body = String::from_utf8(feed.body.clone()).unwrap();
    assert!(body.contains("BEGIN:VEVENT") && body.contains("SUMMARY:On call: alice (WMCS)"), "{body}");
    let uids = |body: &str| body.lines().filter(|l| l.starts_with("UID:")).map(str::to_owned).collect::<Vec<_>>();
    bot.clock().set(bot.clock().now() + chrono::Duration::minutes(10));
    let again = String::from_utf8(bot.get(path).await.body).unwrap();
    assert_eq!(uids(&body), uids(&again), "stable UIDs");
    let own = String::from_utf8(bot.get(&format!("/oncall/wmcs/bob.ics?token={token}")).await.body).unwrap();
    assert!(own.contains("SUMMARY:On call: bob (WMCS)") && !own.contains("alice (WMCS)"), "{own}");
    for wrong in [
        format!("/oncall/wmcs.ics?token={}", "0".repeat(40)),
        "/oncall/wmcs.ics".to_owned(),
        format!("/oncall/sre.ics?token={token}"),
        format!("/oncall/wmcs/mallory.ics?token={token}"),
        format!("/oncall/nope.ics?token={token}"),
    ] {
        let answer = bot.get(&wrong).await;
        assert_eq!((answer.status, answer.body.as_slice()), (404, b"not found\n".as_slice()), "{wrong}");
    }
    assert!(
        text(&bot.say("bob", WMCS_ADMIN, "!oncall ical").await)
            .starts_with("You have a calendar link since 2026-11-21")
    );
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!oncall ical revoke").await),
        "Your calendar link is revoked: it no longer works."
    );
    assert_eq!(bot.get(path).await.status, 404, "revoked");
}

/// A stand-in for an adapter's files service: gives `export` for any source.
struct Files {
    export: String,
    asked: std::sync::Mutex<Vec<String>>,
}

#[firebell_core::async_trait]
impl firebell_core::adapter::Service for Files {
    fn name(&self) -> &str {
        "files:console"
    }

    async fn call(&self, _: &str, request: &str) -> Result<String, firebell_core::adapter::AdapterError> {
        let request: firebell_core::adapter::FetchRequest = serde_json::from_str(request).unwrap();
        self.asked.lock().unwrap().push(request.url);
        let fetched = firebell_core::adapter::Fetched::Body { text: self.export.clone() };
        Ok(serde_json::to_string(&fetched).unwrap())
    }
}

#[tokio::test]
async fn an_export_uploaded_with_the_command_is_read_through_its_platforms_files_service() {
    let export = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART:20261121T090000Z\r\n\
                  DTEND:20261122T090000Z\r\nSUMMARY:On Call - Carol Jones - Primary\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let files = Arc::new(Files { export: export.into(), asked: Default::default() });
    let bot = Harness::builder().plugin(Arc::new(OncallPlugin)).service(files.clone()).build();
    assert_eq!(
        text(&bot.say("alice", WMCS_ADMIN, "!oncall import").await),
        "error: expected the export's https:// (or webcal://) URL, or its .ics file uploaded with this command as the caption; \
         usage: !oncall import [url] [--names NAMES]"
    );
    let mut upload = bot.message("alice", WMCS_ADMIN, "!oncall import");
    upload.attachments.push(firebell_core::message::Attachment {
        name: "rota.ics".into(),
        size: Some(export.len() as u64),
        source: "console:/uploads/rota.ics".into(),
    });
    let lines = text(&bot.send(upload).await);
    assert_eq!(
        lines,
        "Reading rota.ics; I will say what it holds.\n\
         Imported 1 shifts of the next 90 days as overrides (carol); chat overrides still win over them. !oncall schedule shows the result."
    );
    assert_eq!(*files.asked.lock().unwrap(), ["console:/uploads/rota.ics"]);
    let now = text(&bot.say("bob", WMCS_ADMIN, "!oncall").await);
    assert!(now.contains("Next: carol (override), Sat 21 Nov 04:00 to Sun 22 Nov 04:00."), "{now}");
}
