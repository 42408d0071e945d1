//! The incident workflow, driven through the real dispatcher and console adapter.

use std::sync::Arc;
use std::time::Duration;

use firebell_plugin_incident::IncidentPlugin;
use firebell_testkit::{Harness, WMCS_ADMIN, WMCS_PUBLIC, body, text};

fn bot() -> Harness {
    Harness::builder().plugin(Arc::new(IncidentPlugin)).build()
}

fn admin(text: &str) -> String {
    format!("[{WMCS_ADMIN}] firebell: {text}")
}

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

#[tokio::test]
async fn a_member_declares_becomes_ic_and_the_public_topic_shows_it() {
    let bot = bot();
    let lines = bot.say("alice", WMCS_ADMIN, "!incident declare Ceph cluster down --user-facing --sev 2").await;
    assert_eq!(
        lines,
        [
            admin(
                "WMCS-1 declared: \"2026-11-21 [WMCS] Ceph cluster down\" (sev 2, user-facing). alice is the IC. \
                 Keep the status doc current with !incident update <text>."
            ),
            format!("[{WMCS_PUBLIC}] topic: Ongoing incident: Ceph cluster down"),
        ]
    );
    assert_eq!(bot.say("bob", WMCS_ADMIN, "!ic").await, [admin("alice is the IC of WMCS-1.")]);
    assert_eq!(bot.say("alice", WMCS_ADMIN, "!ic").await, [admin("You are the IC of WMCS-1.")]);
}

#[tokio::test]
async fn a_visitors_declaration_waits_for_a_member_and_only_a_member_becomes_ic() {
    let bot = bot();
    let lines =
        bot.say("visitor", WMCS_PUBLIC, "!incident declare Reset your password at evil.example --user-facing").await;
    assert_eq!(
        lines,
        [
            format!(
                "[{WMCS_PUBLIC}] firebell: Your declaration D1 \"Reset your password at evil.example\" waits for a member of team WMCS to confirm it; they have been asked."
            ),
            admin(
                "visitor asks to declare an incident: \"Reset your password at evil.example\" (user-facing). A team member confirms with !incident confirm D1 or rejects with !incident reject D1."
            ),
        ],
        "nothing reaches the public topic"
    );
    assert_eq!(
        bot.say("bob", WMCS_ADMIN, "!incident reject D1 phishing").await,
        [
            admin("D1 rejected."),
            format!(
                "[{WMCS_PUBLIC}] firebell: @visitor: your declaration D1 \"Reset your password at evil.example\" was not confirmed by bob: phishing."
            )
        ]
    );
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!incident list").await), "Team WMCS has no open incident.");
    bot.say("visitor", WMCS_PUBLIC, "!incident declare Tools are slow --user-facing").await;
    let lines = bot.say("carol", WMCS_ADMIN, "!incident confirm").await;
    assert!(
        lines[0].contains("WMCS-1 declared") && lines[0].contains("No IC yet: a team member takes the role with !ic."),
        "{lines:?}"
    );
    assert!(lines.contains(&format!("[{WMCS_PUBLIC}] topic: Ongoing incident: Tools are slow")), "{lines:?}");
    let refused = bot.say("visitor", WMCS_PUBLIC, "!ic").await;
    assert_eq!(
        refused,
        [format!("[{WMCS_PUBLIC}] firebell: only team members may run !ic; you are not on team wmcs's roster")]
    );
    assert_eq!(bot.say("carol", WMCS_ADMIN, "!ic").await, [admin("carol is now the IC of WMCS-1.")]);
    assert_eq!(bot.say("dave", WMCS_ADMIN, "!ic").await, [admin("carol is the IC of WMCS-1.")]);
}

#[tokio::test]
async fn a_handoff_needs_both_sides() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    let refused = bot.say("bob", WMCS_ADMIN, "!ic handoff @carol").await;
    assert_eq!(refused, [admin("WMCS-1: only the IC may do this; the IC is alice")]);
    let offer = bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await;
    assert_eq!(
        offer,
        [admin(
            "@bob: alice offers you the IC role for WMCS-1. Reply !ic accept or !ic decline within 10m; until then alice stays IC."
        )]
    );
    assert_eq!(bot.say("carol", WMCS_ADMIN, "!ic").await, [admin("alice is the IC of WMCS-1.")], "the old IC stays IC");
    assert_eq!(
        bot.say("carol", WMCS_ADMIN, "!ic accept").await,
        [admin("WMCS-1: the pending handoff is for bob, not you")]
    );
    assert_eq!(
        bot.say("bob", WMCS_ADMIN, "!ic accept").await,
        [admin("bob is now the IC of WMCS-1, taking over from @alice.")]
    );
    assert_eq!(bot.say("carol", WMCS_ADMIN, "!ic").await, [admin("bob is the IC of WMCS-1.")]);
    assert_eq!(bot.say("bob", WMCS_ADMIN, "!ic accept").await, [admin("WMCS-1: there is no pending IC handoff")]);
}

#[tokio::test]
async fn a_declined_or_lapsed_offer_leaves_the_ic_in_place() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await;
    let declined = bot.say("bob", WMCS_ADMIN, "!ic decline").await;
    assert_eq!(declined, [admin("@alice: bob declined the IC role for WMCS-1; you are still the IC.")]);
    bot.say("alice", WMCS_ADMIN, "!ic handoff @carol").await;
    let lapsed = bot.advance(minutes(11)).await;
    assert_eq!(lapsed, [admin("@alice: your IC handoff offer to carol for WMCS-1 expired; you are still the IC.")]);
    let late = bot.say("carol", WMCS_ADMIN, "!ic accept").await;
    assert_eq!(late, [admin("WMCS-1: there is no pending IC handoff")]);
    assert_eq!(bot.say("dave", WMCS_ADMIN, "!ic").await, [admin("alice is the IC of WMCS-1.")]);
}

#[tokio::test]
async fn handoff_targets_must_be_on_the_roster() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    let lines = bot.say("alice", WMCS_ADMIN, "!ic handoff @visitor").await;
    assert_eq!(lines, [admin("visitor is not on team WMCS's roster, so cannot be IC")]);
    let lines = bot.say("alice", WMCS_ADMIN, "!ic handoff @alice").await;
    assert_eq!(lines, [admin("WMCS-1: you cannot hand the IC role to yourself")]);
}

#[tokio::test]
async fn security_incidents_never_show_in_public() {
    let bot = bot();
    let refused = bot.say("alice", WMCS_PUBLIC, "!incident declare Leaked keys --security").await;
    assert_eq!(
        refused,
        [format!(
            "[{WMCS_PUBLIC}] firebell: security incidents are declared in the team's admin room, never in a public room"
        )]
    );
    let lines = bot.say("alice", WMCS_ADMIN, "!incident declare Leaked keys --security --user-facing").await;
    assert_eq!(lines.len(), 1, "no topic change: {lines:?}");
    assert!(lines[0].contains("security: never shown in public"));
    let listed = bot.say("visitor", WMCS_PUBLIC, "!incident list").await;
    assert_eq!(listed, [format!("[{WMCS_PUBLIC}] firebell: Team WMCS has no open incident.")]);
    let shown = bot.say("visitor", WMCS_PUBLIC, "!incident show WMCS-1").await;
    assert_eq!(shown, [format!("[{WMCS_PUBLIC}] firebell: there is no incident WMCS-1")]);
    let report = bot.say("visitor", WMCS_PUBLIC, "!incident report").await;
    assert_eq!(report, [format!("[{WMCS_PUBLIC}] firebell: team WMCS has no incidents yet")]);
    let resolved = bot.say("alice", WMCS_ADMIN, "!incident resolve contained").await;
    let public = format!("[{WMCS_PUBLIC}]");
    assert!(resolved.iter().all(|line| !line.starts_with(&public)), "nothing public on resolve: {resolved:?}");
}

#[tokio::test]
async fn with_several_open_incidents_commands_name_one() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.say("bob", WMCS_ADMIN, "!incident declare ToolsDB read-only").await;
    let lines = bot.say("bob", WMCS_ADMIN, "!incident update failing over").await;
    assert_eq!(
        lines,
        [admin("there are several open incidents (WMCS-1, WMCS-2); name one, e.g. !incident update WMCS-2 …")]
    );
    assert_eq!(
        bot.say("bob", WMCS_ADMIN, "!incident update wmcs-2 failing over").await,
        [admin("WMCS-2 status doc updated.")]
    );
    let doc = bot.say("bob", WMCS_ADMIN, "!incident show WMCS-2").await.join("\n");
    assert!(doc.contains("Status (03:00 UTC, bob): failing over"), "{doc}");
    let other = bot.say("bob", WMCS_ADMIN, "!incident show 1").await.join("\n");
    assert!(other.contains("Status: no update yet"), "{other}");
    assert_eq!(bot.say("bob", WMCS_ADMIN, "!incident show WMCS-7").await, [admin("there is no incident WMCS-7")]);
}

#[tokio::test]
async fn bad_input_gets_one_line_with_usage_and_changes_nothing() {
    let bot = bot();
    let cases = [
        (
            "!incident declare",
            "error: missing <title>; usage: !incident declare <title> [--user-facing] [--security] [--sev N]",
        ),
        (
            "!incident declare Ceph --sev 9",
            "error: --sev expects a number from 1 (worst) to 5, got \"9\"; usage: !incident declare <title> [--user-facing] [--security] [--sev N]",
        ),
        (
            "!incident declare Ceph --urgent",
            "error: unknown option --urgent (expected --user-facing, --security, --sev N); usage: !incident declare <title> [--user-facing] [--security] [--sev N]",
        ),
        ("!ic handoff bob", "error: expected @user, got \"bob\"; usage: !ic handoff [ID] @user"),
        (
            "!incident show later",
            "error: expected an incident id like WMCS-3, got \"later\"; usage: !incident show [ID]",
        ),
        ("!incident update text", "team WMCS has no open incident; declare one with !incident declare <title>"),
    ];
    for (command, answer) in cases {
        assert_eq!(bot.say("alice", WMCS_ADMIN, command).await, [admin(answer)], "{command}");
    }
    assert_eq!(bot.say("alice", WMCS_ADMIN, "!incident list").await, [admin("Team WMCS has no open incident.")]);
    let team = firebell_core::ids::TeamId::new("wmcs").unwrap();
    assert!(bot.store().recent(&team, "incident", "incident", 10).await.unwrap().is_empty(), "nothing stored");
}

#[tokio::test]
async fn the_status_doc_tracks_who_does_what() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.advance(minutes(5)).await;
    bot.say("alice", WMCS_ADMIN, "!incident update OSDs flapping").await;
    assert_eq!(
        bot.say("carol", WMCS_ADMIN, "!incident doing restarting osd.12").await,
        [admin("WMCS-1: noted, carol is doing: restarting osd.12")]
    );
    bot.say("carol", WMCS_ADMIN, "!incident doing checking the journal disk").await;
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!incident task check the switch @dave").await,
        [admin("WMCS-1 task 1 for @dave: check the switch")]
    );
    bot.say("alice", WMCS_ADMIN, "!incident task call the vendor").await;
    assert_eq!(bot.say("dave", WMCS_ADMIN, "!incident done 1").await, [admin("WMCS-1 task 1 done.")]);
    assert_eq!(bot.say("dave", WMCS_ADMIN, "!incident done 1").await, [admin("WMCS-1: task 1 is already done")]);
    assert_eq!(bot.say("dave", WMCS_ADMIN, "!incident done 9").await, [admin("WMCS-1: there is no task 9")]);
    bot.say("bob", WMCS_ADMIN, "!incident note vendor ticket 4711 opened").await;
    bot.advance(minutes(10)).await;
    let doc = bot.say("bob", WMCS_ADMIN, "!incident show").await;
    let expected = [
        "WMCS-1 · 2026-11-21 [WMCS] Ceph down",
        "State: open · declared 2026-11-21 03:00 UTC by alice",
        "IC: alice (since 03:00 UTC)",
        "Status (03:05 UTC, alice): OSDs flapping",
        "Open for 15m",
        "Doing:",
        "- carol: checking the journal disk (since 03:05 UTC)",
        "Tasks:",
        "- [x] 1. check the switch (dave)",
        "- [ ] 2. call the vendor",
        "Timeline (UTC):",
    ];
    let doc: Vec<&str> = doc.iter().map(|line| body(line)).collect();
    assert_eq!(&doc[..expected.len()], expected);
    assert_eq!(doc.last().copied(), Some("- 03:05 bob: vendor ticket 4711 opened"));
}

#[tokio::test]
async fn resolving_checks_follow_ups_restores_the_topic_and_drafts_the_report() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down --user-facing --sev 1").await;
    bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await;
    bot.advance(minutes(2)).await;
    bot.say("bob", WMCS_ADMIN, "!ic accept").await;
    bot.say("bob", WMCS_ADMIN, "!incident task replace disk").await;
    bot.say("bob", WMCS_ADMIN, "!incident followup tune the alert T12345").await;
    bot.say("bob", WMCS_ADMIN, "!incident followup add a dashboard").await;
    assert_eq!(
        bot.say("alice", WMCS_ADMIN, "!incident resolve").await,
        [admin("WMCS-1: only the IC may do this; the IC is bob")]
    );
    bot.advance(Duration::from_secs(2 * 3600 + 8 * 60)).await;
    let lines = bot.say("bob", WMCS_ADMIN, "!incident resolve journal disk failed").await;
    assert_eq!(lines[0], admin("WMCS-1 resolved by bob after 2h 10m. You are no longer the IC. Good job!"));
    assert!(lines[1].contains("Warning: 1 task(s) still open (1. replace disk)"), "{lines:?}");
    assert!(lines[2].contains("Warning: 1 follow-up(s) have no ticket (add a dashboard)"), "{lines:?}");
    assert!(lines.contains(&admin("# Incident report (draft): 2026-11-21 [WMCS] Ceph down")));
    assert!(lines.contains(&format!("[{WMCS_PUBLIC}] firebell: WMCS-1 \"Ceph down\" is resolved (after 2h 10m).")));
    assert_eq!(
        lines.last().unwrap(),
        &format!("[{WMCS_PUBLIC}] topic: Wikimedia Cloud Services | status: all systems normal")
    );
    assert_eq!(
        bot.say("bob", WMCS_ADMIN, "!incident resolve").await[0],
        admin("team WMCS has no open incident; declare one with !incident declare <title>")
    );
    assert_eq!(bot.say("bob", WMCS_ADMIN, "!incident resolve WMCS-1").await, [admin("WMCS-1 is already resolved")]);
    let later = bot.say("bob", WMCS_ADMIN, "!incident followup WMCS-1 add a dashboard T777").await;
    assert_eq!(later, [admin("WMCS-1 follow-up recorded, tracked in T777.")], "follow-ups may come after resolution");

    let report = text(&bot.say("carol", WMCS_ADMIN, "!incident report WMCS-1").await);
    for expected in [
        "## Summary\n\njournal disk failed",
        "- Incident: WMCS-1 · resolved · sev 1 · user-facing",
        "- Declared: 2026-11-21 03:00 UTC by alice",
        "- Resolved: 2026-11-21 05:10 UTC by bob (duration 2h 10m)",
        "## Incident coordinators\n\n- alice: 2026-11-21 03:00 UTC – 2026-11-21 03:02 UTC\n- bob: 2026-11-21 03:02 UTC – 2026-11-21 05:10 UTC",
        "- 2026-11-21 03:00 alice: offered the IC role to bob",
        "- 2026-11-21 03:02 bob: accepted the IC role from alice and became the IC",
        "- 2026-11-21 05:10 bob: resolved the incident: journal disk failed",
        "## Admin log\n\n- no admin log entries during the incident",
        "## Follow-ups\n\n- [ ] tune the alert (T12345)\n- [ ] add a dashboard (not tracked yet: needs a ticket)\n- [ ] add a dashboard (T777)",
    ] {
        assert!(report.contains(expected), "report lacks {expected:?}:\n{report}");
    }
}

#[tokio::test]
async fn the_list_shows_open_and_recently_resolved_incidents() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    bot.say("alice", WMCS_ADMIN, "!incident resolve").await;
    bot.say("visitor", WMCS_PUBLIC, "!incident declare Toolforge 502s --user-facing").await;
    bot.say("carol", WMCS_ADMIN, "!incident confirm D1").await;
    bot.advance(minutes(30)).await;
    let lines = bot.say("bob", WMCS_ADMIN, "!incident list").await;
    assert_eq!(
        lines,
        [
            admin("Open incidents of team WMCS:"),
            admin("- WMCS-2 2026-11-21 [WMCS] Toolforge 502s (no IC, open for 30m)"),
            admin("Recently resolved:"),
            admin("- WMCS-1 2026-11-21 [WMCS] Ceph down (resolved after <1m)"),
        ]
    );
}

#[tokio::test]
async fn with_incident_rooms_each_incident_gets_a_room_where_commands_are_about_it() {
    let mut teams = firebell_testkit::sample_teams();
    let on = firebell_core::team::SettingValue::Bool(true);
    teams[0].settings.insert("incident".into(), [("incident_rooms".to_owned(), on)].into());
    let bot = Harness::builder().teams(teams).plugin(Arc::new(IncidentPlugin)).build();
    bot.say("visitor", WMCS_ADMIN, "!incident declare Ceph down").await;
    let lines = bot.say("carol", WMCS_ADMIN, "!incident confirm").await;
    assert_eq!(
        &lines[1..],
        [
            "[#wmcs-1] created: 2026-11-21 [WMCS] Ceph down (invited: @visitor)".to_owned(),
            admin("WMCS-1 has its own room: #wmcs-1"),
            "[#wmcs-1] firebell: This room is for WMCS-1 \"Ceph down\". Commands here are about WMCS-1; the status doc: !incident show".to_owned(),
        ]
    );
    let lines = bot.say("alice", WMCS_ADMIN, "!incident declare ToolsDB down").await;
    assert!(
        lines
            .iter()
            .any(|line| line.starts_with("[#wmcs-2] created: 2026-11-21 [WMCS] ToolsDB down (invited: @alice)")),
        "{lines:?}"
    );
    assert_eq!(
        bot.say("bob", "#wmcs-1", "!ic").await,
        ["[#wmcs-1] firebell: bob is now the IC of WMCS-1.".to_owned(), "[#wmcs-1] invite: @bob".to_owned()],
        "in its room, a command is about its incident though two are open; the new IC is invited"
    );
    assert!(bot.say("bob", WMCS_ADMIN, "!ic").await[0].contains("several open incidents"));
    let doc = text(&bot.say("carol", "#wmcs-2", "!incident show").await);
    assert!(doc.starts_with("WMCS-2 · 2026-11-21 [WMCS] ToolsDB down"), "{doc}");
    bot.say("bob", "#wmcs-1", "!incident resolve").await;
    assert!(
        text(&bot.say("bob", "#wmcs-1", "!ic").await).starts_with("this room is not configured"),
        "a resolved incident's room is no team room"
    );
}

#[tokio::test]
async fn visitors_cannot_flood_the_team_with_declarations() {
    let bot = bot();
    for n in 1..=3 {
        let lines = bot.say("visitor", WMCS_PUBLIC, &format!("!incident declare spam {n}")).await;
        assert!(lines[0].contains(&format!("Your declaration D{n}")), "{lines:?}");
    }
    assert_eq!(
        text(&bot.say("visitor", WMCS_PUBLIC, "!incident declare spam 4").await),
        "you have 3 declarations waiting for a member of team WMCS already; they will look at them"
    );
    assert!(text(&bot.say("mallory", WMCS_PUBLIC, "!incident declare other").await).contains("D4"), "per person");
    for n in 1..=3 {
        bot.say("bob", WMCS_ADMIN, &format!("!incident reject D{n}")).await;
    }
    bot.say("visitor", WMCS_PUBLIC, "!incident declare spam 5").await;
    bot.say("visitor", WMCS_PUBLIC, "!incident declare spam 6").await;
    assert_eq!(
        text(&bot.say("visitor", WMCS_PUBLIC, "!incident declare spam 7").await),
        "you made 5 declarations in the last hour; ask team WMCS directly"
    );
    let lapsed = bot.advance(minutes(24 * 60 + 1)).await;
    assert!(lapsed.iter().all(|line| !line.contains("Reminder")), "held declarations start no timers: {lapsed:?}");
    assert!(text(&bot.say("visitor", WMCS_PUBLIC, "!incident declare later").await).contains("D7"), "a new day");
    assert_eq!(text(&bot.say("bob", WMCS_ADMIN, "!incident confirm D5").await), "no declaration D5 is waiting");
}

#[tokio::test]
async fn misread_ids_are_errors_never_text_or_another_incident() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    let cases = [
        (
            "!incident resolve WMCS-99999999999999999999 fixed",
            "error: expected an incident id like WMCS-3, got \"WMCS-99999999999999999999\"; usage: !incident resolve [ID] [summary]",
        ),
        (
            "!incident resolve WMCS-1O fixed",
            "error: expected an incident id like WMCS-3, got \"WMCS-1O\"; usage: !incident resolve [ID] [summary]",
        ),
        ("!incident update WMCS-7 all good", "there is no incident WMCS-7"),
        ("!incident done 4294967296", "WMCS-1: there is no task 4294967296"),
        (
            "!incident done 99999999999999999999999",
            "error: expected <task>, got \"99999999999999999999999\"; usage: !incident done [ID] <task>",
        ),
    ];
    for (command, answer) in cases {
        assert_eq!(text(&bot.say("alice", WMCS_ADMIN, command).await), answer, "{command}");
    }
    let doc = text(&bot.say("alice", WMCS_ADMIN, "!incident show").await);
    assert!(!doc.contains("Resolved"), "WMCS-1 stays open: {doc}");
}

#[tokio::test]
async fn long_dashes_before_a_known_option_are_read_as_two_dashes() {
    let bot = bot();
    let declared = text(&bot.say("alice", WMCS_ADMIN, "!incident declare NFS slow —user-facing –sev 2").await);
    assert!(declared.contains("\"2026-11-21 [WMCS] NFS slow\" (sev 2, user-facing)"), "{declared}");
    let noted = text(&bot.say("alice", WMCS_ADMIN, "!incident note a pause —then more").await);
    assert_eq!(noted, "WMCS-1: note added to the timeline.", "a dash before no option is text");
}

#[tokio::test]
async fn huge_commands_are_refused_and_echoes_are_cut() {
    let bot = bot();
    let huge = format!("!incident declare {}", "\"a ".repeat(90_000));
    let refused = text(&bot.say("alice", WMCS_ADMIN, &huge).await);
    assert_eq!(refused, "error: this command is 270018 characters long; the longest Firebell reads is 4000");
    let long_word = "x".repeat(3000);
    let echoed = text(&bot.say("alice", WMCS_ADMIN, &format!("!incident show {long_word}")).await);
    assert!(
        echoed.chars().count() < 320 && echoed.contains("…"),
        "the echo is cut: {} characters",
        echoed.chars().count()
    );
}

#[tokio::test]
async fn a_long_timeline_is_reported_whole_and_in_order_though_read_in_pages() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    let notes = 1234;
    for n in 1..=notes {
        bot.say("alice", WMCS_ADMIN, &format!("!incident note observation {n}")).await;
    }
    let lines = bot.say("alice", WMCS_ADMIN, "!incident resolve disk failed").await;
    let report = text(&lines);
    let observations: Vec<u32> = report
        .lines()
        .filter_map(|line| line.split("alice: observation ").nth(1))
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(observations, (1..=notes).collect::<Vec<_>>(), "every entry once, oldest first");
    let timeline = report.split("## Timeline (UTC)").nth(1).expect("a timeline");
    assert!(timeline.contains("alice: declared \"Ceph down\""), "{timeline:.300}");
    let last_entry = timeline.split("\n\n## Admin log").next().expect("the timeline section").lines().last();
    assert!(
        last_entry.is_some_and(|line| line.ends_with("alice: resolved the incident: disk failed")),
        "{last_entry:?}"
    );
    let again = text(&bot.say("bob", WMCS_ADMIN, "!incident report WMCS-1").await);
    assert!(again.contains(&report[report.find("# Incident report").expect("the report")..]), "the same report again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_incidents_is_never_decided_again_while_others_write_to_them() {
    let bot = Arc::new(bot());
    for n in 1..=16 {
        bot.say("alice", WMCS_ADMIN, &format!("!incident declare Outage {n}")).await;
    }
    let mut tasks = tokio::task::JoinSet::new();
    for n in 1..=16u32 {
        let bot = bot.clone();
        tasks.spawn(async move {
            for round in 0..60 {
                bot.say("bob", WMCS_ADMIN, &format!("!incident doing WMCS-{n} step {round}")).await;
            }
        });
    }
    for _ in 0..4 {
        let bot = bot.clone();
        tasks.spawn(async move {
            for _ in 0..120 {
                let listed = text(&bot.say("carol", WMCS_ADMIN, "!incident list").await);
                assert!(listed.contains("WMCS-16"), "{listed}");
            }
        });
    }
    tasks.join_all().await;
    let redecided = bot.bot().dispatcher().redecisions();
    assert_eq!(redecided, 0, "no listing (and no writer on its own incident) was decided again");
}

/// Puts `data` as incident `number`'s record, as a broken or newer writer would have left it.
async fn overwrite(bot: &Harness, number: u64, schema: u32, data: &str) {
    use firebell_core::store::{Guard, IndexEntry, StoredRecord, Write};
    let team = firebell_core::ids::TeamId::new("wmcs").expect("team");
    let record = StoredRecord {
        kind: "incident".into(),
        id: number.to_string(),
        version: 0,
        schema,
        data: data.into(),
        indexes: vec![IndexEntry::new("open", "")],
    };
    let put = Write::Put { namespace: "incident".into(), record };
    bot.store().apply(Some(&team), Guard::NONE, &[put]).await.expect("written");
    bot.bot().dispatcher().cache().forget_team(&team);
}

#[tokio::test]
async fn a_corrupt_record_gets_one_clear_line_an_audit_entry_and_leaves_the_others_readable() {
    let bot = Harness::builder()
        .trusted_plugin(Arc::new(firebell_plugin_admin::AdminPlugin))
        .plugin(Arc::new(IncidentPlugin))
        .build();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph is slow").await;
    bot.say("alice", WMCS_ADMIN, "!incident declare DNS is down").await;
    overwrite(&bot, 1, 1, "{\"number\": \"not a number\"").await;
    let started = std::time::Instant::now();
    let told = text(&bot.say("bob", WMCS_ADMIN, "!incident show WMCS-1").await);
    assert!(told.starts_with("error: stored data is unreadable: incident \"1\": "), "{told}");
    assert!(told.ends_with("; nothing was changed, and the team's admins find this in !plugins audit"), "{told}");
    assert!(started.elapsed() < Duration::from_secs(1), "told at once, not retried as if the store were away");
    let listed = text(&bot.say("bob", WMCS_ADMIN, "!incident list").await);
    assert!(listed.contains("WMCS-2") && !listed.contains("WMCS-1"), "the listing skips it: {listed}");
    assert!(text(&bot.say("bob", WMCS_ADMIN, "!incident show WMCS-2").await).contains("DNS is down"));
    let audit = text(&bot.say("alice", WMCS_ADMIN, "!plugins audit").await);
    assert!(audit.contains("bob: unreadable data of plugin incident (incident \"1\": "), "{audit}");
    assert_eq!(audit.matches("unreadable").count(), 1, "once: {audit}");
}

#[tokio::test]
async fn a_record_of_a_newer_version_is_refused_clearly_and_its_timers_wait() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph is slow").await;
    overwrite(&bot, 1, 99, "{\"shape\": \"of the future\"}").await;
    let told = text(&bot.say("bob", WMCS_ADMIN, "!incident show WMCS-1").await);
    assert_eq!(
        told,
        "error: incident \"1\" was written by a newer Firebell (schema 99; this replica reads up to 1); nothing was \
         changed: try again in a moment, when a newer replica answers"
    );
    assert!(bot.advance(minutes(90)).await.is_empty(), "its reminders wait for a newer replica");
    let waiting = bot.store().scheduled_jobs(&firebell_core::ids::TeamId::new("wmcs").unwrap()).await.unwrap();
    assert!(waiting.iter().any(|job| job.id == "incident:1:remind"), "{waiting:?}");
}

#[tokio::test]
async fn the_ic_resolves_and_while_there_is_none_any_member_does() {
    let bot = bot();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph down").await;
    assert_eq!(
        text(&bot.say("bob", WMCS_ADMIN, "!incident resolve").await),
        "WMCS-1: only the IC may do this; the IC is alice",
        "a member may not while there is an IC"
    );
    bot.say("visitor", WMCS_PUBLIC, "!incident declare Tools are slow").await;
    bot.say("carol", WMCS_ADMIN, "!incident confirm").await;
    let resolved = text(&bot.say("dave", WMCS_ADMIN, "!incident resolve WMCS-2 fine again").await);
    assert!(resolved.starts_with("WMCS-2 resolved by dave"), "a member resolves an incident with no IC: {resolved}");
    assert_eq!(
        text(&bot.say("visitor", WMCS_PUBLIC, "!incident resolve WMCS-1").await),
        "only the incident coordinator may run !incident resolve; you are not on team wmcs's roster"
    );
    let with_help = Harness::builder()
        .trusted_plugin(Arc::new(firebell_plugin_admin::AdminPlugin))
        .plugin(Arc::new(IncidentPlugin))
        .build();
    let help = text(&with_help.say("bob", WMCS_ADMIN, "!help incident resolve").await);
    assert!(help.contains("its IC, or any team member while it has none"), "{help}");
}

#[tokio::test]
async fn the_live_incident_page_needs_a_signed_link_and_shows_the_status_doc() {
    let bot = Harness::builder()
        .link_secret("a-link-secret-of-at-least-32-characters")
        .plugin(Arc::new(IncidentPlugin))
        .build();
    bot.say("alice", WMCS_ADMIN, "!incident declare Ceph <slow> & stuck --security").await;
    bot.say("alice", WMCS_ADMIN, "!incident doing draining osd.12").await;
    let shown = text(&bot.say("bob", WMCS_ADMIN, "!incident show").await);
    let line = shown.lines().last().unwrap();
    let link = line.strip_prefix("Live page (for the team, works 24h): ").unwrap_or_else(|| panic!("{shown}"));
    let path = link.strip_prefix(firebell_testkit::WEB_URL).unwrap();
    assert!(path.starts_with("/incidents/WMCS-1?expires="), "{path}");
    let page = bot.get(path).await;
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("<title>WMCS-1: Ceph &lt;slow&gt; &amp; stuck</title>"), "escaped: {html}");
    assert!(html.contains("draining osd.12") && html.contains("security incident: for the team only"));
    let doc_start = shown.lines().next().unwrap();
    assert!(
        html.contains(
            &doc_start.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
        ),
        "the same doc as !incident show"
    );
    let (plain, _) = path.split_once('?').unwrap();
    for refused in [plain.to_owned(), format!("{plain}?expires=9999999999&sig=00"), path.replace("WMCS-1", "WMCS-2")] {
        assert_eq!(bot.get(&refused).await.status, 403, "{refused}");
    }
    bot.clock().set(firebell_core::clock::Clock::now(bot.clock()) + chrono::Duration::hours(25));
    assert_eq!(bot.get(path).await.status, 403, "expired");
    assert_eq!(bot.get_as(plain, Some("bob")).await.status, 200, "a team member through the trusted proxy");
    assert_eq!(bot.get_as(plain, Some("console:carol")).await.status, 200, "by account too");
    assert_eq!(bot.get_as(plain, Some("mallory")).await.status, 403, "not on the roster");
    let visitor = text(&bot.say("visitor", WMCS_ADMIN, "!incident show").await);
    assert!(!visitor.contains("Live page"), "only team members get a link");
}
