//! Hardening: what a careless admin or a hostile person can type changes nothing it should not,
//! gets one clear line back, and never panics a replica.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use firebell_core::ids::RoomRef;
use firebell_core::plugin::{Plugin, SettingKind, SettingSpec};
use firebell_core::settings::show_duration;
use firebell_core::state::{Choices, FRAMEWORK, PluginChoice, encode};
use firebell_core::store::{Guard, Write};
use firebell_plugin_paging::alertmanager::{Receiver, ReceiverOptions};
use firebell_testkit::{Harness, WMCS_ADMIN, sample_teams, text};

/// Longer than any timer's longest setting.
const WEEK: Duration = Duration::from_secs(8 * 86_400);

/// A harness with every standard plugin.
fn bot() -> Harness {
    let mut builder = Harness::builder();
    builder = builder.plugins_of(&firebell::standard_plugins());
    builder.build()
}

fn plugins() -> Vec<Arc<dyn Plugin>> {
    firebell::standard_plugins().plugins().to_vec()
}

/// The least and the most a setting takes, as typed in chat.
fn bounds(spec: &SettingSpec) -> [String; 2] {
    match spec.kind {
        SettingKind::Duration { min, max } => [show_duration(min), show_duration(max)],
        SettingKind::Integer { min, max } => [min.to_string(), max.to_string()],
        SettingKind::Bool => ["false".into(), "true".into()],
        SettingKind::Word { max_chars } => ["p".into(), "p".repeat(max_chars)],
        SettingKind::Member => ["\"\"".into(), "dave".into()],
        SettingKind::Parsed { .. } if spec.key == "escalation" => {
            ["\"\"".into(), "\"1s oncall, 2s timezone, 3s admins, 4s dave, 1day everyone\"".into()]
        }
        SettingKind::Parsed { .. } => unreachable!("a parsed setting this test does not know: {}", spec.key),
    }
}

/// Declares, hands over, snoozes, pages and waits `long`: everything the settings steer.
async fn exercise(bot: &Harness, round: usize, long: Duration) {
    let declared = text(&bot.say("alice", WMCS_ADMIN, &format!("!incident declare Round {round} --user-facing")).await);
    assert!(declared.contains("declared"), "{declared}");
    bot.say("alice", WMCS_ADMIN, "!ic handoff @bob").await;
    bot.say("alice", WMCS_ADMIN, "!incident snooze 1m").await;
    bot.say("alice", WMCS_ADMIN, "!oncall").await;
    let receiver = Receiver::new(bot.bot().clone(), ReceiverOptions::open("team", Some(RoomRef::console(WMCS_ADMIN))));
    let alert = format!(
        r#"{{"version":"4","status":"firing","receiver":"firebell","alerts":[{{"status":"firing",
        "labels":{{"alertname":"Round{round}","team":"wmcs","severity":"page"}},"annotations":{{}},
        "startsAt":"2026-11-21T03:00:00Z","fingerprint":"round{round}"}}]}}"#
    );
    receiver.receive(alert.as_bytes()).await.expect("the alert is taken");
    bot.advance(Duration::from_secs(60)).await;
    bot.advance(long).await;
    let resolved = text(&bot.say("bob", WMCS_ADMIN, "!incident resolve done").await);
    assert!(!resolved.is_empty());
}

#[tokio::test]
async fn every_setting_refuses_zero_negative_and_huge_values() {
    let bot = bot();
    let team = &sample_teams()[0];
    let silly = ["0", "-1", "0s", "-5m", "1ms", "300000y", "99999999999999999999", "\"\"", "bobb", "a b"];
    for plugin in plugins() {
        for spec in plugin.settings() {
            for value in silly {
                let command = format!("!plugins config {} {} {value}", plugin.name(), spec.key);
                let reply = text(&bot.say("alice", WMCS_ADMIN, &command).await);
                let fits = spec.kind.check(value.trim_matches('"'), Some(team)).is_ok();
                let expected = if fits { "Plugin " } else { "error: " };
                assert!(reply.starts_with(expected) && !reply.contains('\n'), "{command}: {reply}");
            }
        }
    }
    exercise(&bot, 1, WEEK).await;
}

#[tokio::test]
async fn every_setting_at_its_bounds_runs_the_whole_workflow() {
    for end in 0..2 {
        let bot = bot();
        for plugin in plugins() {
            for spec in plugin.settings() {
                let value = &bounds(spec)[end];
                let command = format!("!plugins config {} {} {value}", plugin.name(), spec.key);
                let reply = text(&bot.say("alice", WMCS_ADMIN, &command).await);
                assert!(reply.starts_with("Plugin "), "{command}: {reply}");
            }
        }
        let long = if end == 0 { Duration::from_secs(120) } else { WEEK };
        exercise(&bot, end, long).await;
    }
}

#[tokio::test]
async fn stored_settings_out_of_bounds_are_clamped_not_trusted() {
    let bot = bot();
    let team = &sample_teams()[0].id;
    let mut choices = Choices::default();
    for plugin in plugins() {
        let settings: BTreeMap<String, String> =
            plugin.settings().iter().map(|spec| (spec.key.to_owned(), "300000y".to_owned())).collect();
        choices = choices.with(PluginChoice { plugin: plugin.name().to_owned(), enabled: None, settings });
    }
    let write = Write::Put { namespace: FRAMEWORK.into(), record: encode(&choices) };
    bot.store().apply(Some(team), Guard::NONE, &[write]).await.expect("kept as an older version would have");
    exercise(&bot, 2, WEEK).await;
    let zero: BTreeMap<String, String> = [("reminder_interval", "0s")].map(|(k, v)| (k.into(), v.into())).into();
    let choice = PluginChoice { plugin: "incident".into(), enabled: None, settings: zero };
    let write = Write::Put { namespace: FRAMEWORK.into(), record: encode(&Choices::default().with(choice)) };
    bot.store().apply(Some(team), Guard::NONE, &[write]).await.expect("kept");
    bot.say("alice", WMCS_ADMIN, "!incident declare Reminder flood").await;
    let reminders = bot.advance(Duration::from_secs(10)).await;
    let count = reminders.iter().filter(|line| line.contains("Reminder")).count();
    assert!((5..=10).contains(&count), "0s is clamped to 1s, not every tick: {count} reminders in 10s");
}

/// Whether the server closed `stream` (or never served it): a read ends, and nothing but maybe
/// an error answer comes before the end.
async fn closed(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn slow_and_greedy_clients_cannot_hold_the_http_server() {
    use tokio::io::AsyncWriteExt;
    let limits = firebell::http::Limits {
        header_timeout: Duration::from_millis(800),
        body_timeout: Duration::from_millis(800),
        connections: 8,
    };
    let routes = axum::Router::new().route("/health", axum::routing::get(|| async { "ok\n" }));
    let port = firebell_testkit::free_port();
    let address: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    firebell::http::serve(address, routes, limits, stopped).await.expect("listening");
    let mut slow = Vec::new();
    for _ in 0..6 {
        let mut stream = tokio::net::TcpStream::connect(address).await.expect("connected");
        stream.write_all(b"GET /health HTTP/1.1\r\nHost: firebell\r\nX-Slow: ").await.expect("half a request");
        slow.push(stream);
    }
    let mut greedy = Vec::new();
    for _ in 0..6 {
        greedy.push(tokio::net::TcpStream::connect(address).await.expect("connected"));
    }
    let mut turned_away = 0;
    for stream in &mut greedy {
        if closed(stream, Duration::from_millis(300)).await {
            turned_away += 1;
        }
    }
    assert!(turned_away >= 4, "connections past the limit are closed at once: {turned_away} of 6");
    for stream in &mut slow {
        assert!(closed(stream, Duration::from_secs(3)).await, "a client that never finishes its headers is dropped");
    }
    let answer = reqwest::get(format!("http://{address}/health")).await.expect("answered once the slow ones are gone");
    assert_eq!(answer.text().await.unwrap(), "ok\n");
}

mod properties {
    //! Whatever people type, in any room, the whole bot answers without panicking, and an error
    //! is one line. `FIREBELL_FUZZ_CASES` sets the number of cases.

    use proptest::prelude::*;

    use super::bot;
    use firebell_testkit::{SRE_ADMIN, WMCS_ADMIN, WMCS_PUBLIC};

    fn cases() -> u32 {
        std::env::var("FIREBELL_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(1000)
    }

    fn word() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("WMCS-1".to_owned()),
            Just("WMCS-1O".to_owned()),
            Just("--security".to_owned()),
            Just("—user-facing".to_owned()),
            Just("--sev".to_owned()),
            Just("@bob".to_owned()),
            Just("@visitor".to_owned()),
            Just("P1".to_owned()),
            Just("D1".to_owned()),
            Just("0s".to_owned()),
            Just("300000y".to_owned()),
            Just("99999999999999999999".to_owned()),
            Just("clear".to_owned()),
            Just("\"".to_owned()),
            "[a-z]{1,8}",
            "\\PC{0,10}",
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        let command = prop_oneof![
            Just("!incident declare"),
            Just("!incident update"),
            Just("!incident resolve"),
            Just("!incident task"),
            Just("!incident done"),
            Just("!incident snooze"),
            Just("!incident confirm"),
            Just("!incident show"),
            Just("!ic"),
            Just("!ic handoff"),
            Just("!ic accept"),
            Just("!ack"),
            Just("!page"),
            Just("!page team"),
            Just("!log"),
            Just("!status"),
            Just("!plugins config incident reminder_interval"),
            Just("!plugins config paging oncall"),
            Just("!help"),
            Just("!"),
        ];
        (command, proptest::collection::vec(word(), 0..6))
            .prop_map(|(command, words)| format!("{command} {}", words.join(" ")))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn any_line_from_anyone_anywhere_is_answered_without_panic(
            lines in proptest::collection::vec((line(), 0..4usize, 0..3usize), 1..6),
        ) {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
            let bot = bot();
            for (line, sender, room) in lines {
                let sender = ["alice", "bob", "visitor", "erin"][sender];
                let room = [WMCS_ADMIN, WMCS_PUBLIC, SRE_ADMIN][room];
                let answer = runtime.block_on(bot.say(sender, room, &line));
                for said in answer.iter().filter(|said| said.contains("] firebell: error:")) {
                    prop_assert!(said.chars().count() < 1000, "{said}");
                }
            }
        }
    }
}
